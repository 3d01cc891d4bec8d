"""XCOPA (Ponti et al. 2020): premise + cause/effect connector, two choices scored as continuations.

Prompt as lm-evaluation-harness's ``xcopa``: ``premise-without-final-punctuation + " " +
connector`` then ``" " + choice`` with the choice's first letter lower-cased. Two departures,
both deliberate:

- the harness strips the premise's last character whatever it is; in Thai (no final period)
  that eats a real letter, so only trailing punctuation is stripped here;
- the ``question`` field (cause/effect, which picks the connector) disagrees with the other
  parallel languages on many rows (test: th 250/500, tr 51, sw 37, id and it 4; val: th and tr
  52/100). The files are parallel row by row (same ``idx``), so the majority over all the
  language files present in the folder decides; the file's own value is kept in
  ``fields["question_in_file"]``. With fewer than three files present the own value is used.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path

from mlsteer.evaluation.tasks.base import Example, Query, Task, malformed, require_file
from mlsteer.evaluation.tasks.registry import register_task

# (cause, effect) connectors per language, as the harness's xcopa task; English for translate-test.
CONNECTORS = {
    "en": ("because", "therefore"),
    "et": ("sest", "seetõttu"),
    "ht": ("poukisa", "donk sa"),
    "id": ("karena", "maka"),
    "it": ("perché", "quindi"),
    "qu": ("imataq", "chaymi"),
    "sw": ("kwa sababu", "kwa hiyo"),
    "ta": ("காரணமாக", "எனவே"),
    "th": ("เพราะ", "ดังนั้น"),
    "tr": ("çünkü", "bu yüzden"),
    "vi": ("bởi vì", "vì vậy"),
    "zh": ("因为", "所以"),
}
FILE_LANGUAGES = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")
# Bump when what the model sees (render, answer_text) or how its answer is read (extract, is_correct)
# changes: stored rows of the old version are then refused on a rerun, not mixed with new ones.
PROMPT_VERSION = "1"


def strip_final_punctuation(text: str) -> str:
    """Drop trailing punctuation (any Unicode P* category) and spaces; letters stay."""
    text = text.rstrip()
    while text and unicodedata.category(text[-1]).startswith("P"):
        text = text[:-1].rstrip()
    return text


def lowercase_first(text: str) -> str:
    return text[:1].lower() + text[1:]


@register_task
class XCOPA(Task):
    name = "xcopa"
    kind = "choice"
    languages = ("id", "it", "sw", "th", "tr", "vi", "zh", "et", "ht", "qu", "ta")
    test_split = "test"
    fewshot_split = "val"
    hub_id = "cambridgeltl/xcopa"
    translatable = ("premise", "choice1", "choice2")
    description = "commonsense causal reasoning"
    answer_format = "Answer: <the more plausible alternative>"
    prompt_version = PROMPT_VERSION

    def read(self, folder: Path, lang: str, split: str) -> list[Example]:
        rows = _read_rows(folder, lang, split)
        majority = _majority_questions(folder, split, len(rows))
        examples = []
        for number, row in enumerate(rows):
            question = majority[number] if majority else row["question"]
            fields = {
                "premise": row["premise"],
                "choice1": row["choice1"],
                "choice2": row["choice2"],
                "question": question,
                "question_in_file": row["question"],
            }
            examples.append(Example(f"{split}-{row['idx']}", lang, fields, int(row["label"])))
        return examples

    def read_hub(self, lang: str, split: str) -> list[Example]:  # pragma: no cover - needs the Hub
        from datasets import load_dataset

        rows = load_dataset(self.hub_id, lang, split="validation" if split == "val" else split)
        return [
            Example(
                f"{split}-{r['idx']}",
                lang,
                {k: r[k] for k in ("premise", "choice1", "choice2", "question")},
                int(r["label"]),
            )
            for r in rows
        ]

    def render(self, example: Example) -> Query:
        cause, effect = CONNECTORS[example.lang]
        connector = cause if example.fields["question"] == "cause" else effect
        context = f"{strip_final_punctuation(example.fields['premise'])} {connector}"
        choices = tuple(" " + lowercase_first(example.fields[k]) for k in ("choice1", "choice2"))
        return Query(context, choices)

    def answer_text(self, example: Example) -> str:
        return self.render(example).continuations[int(example.gold)]


def _read_rows(folder: Path, lang: str, split: str) -> list[dict]:
    path = require_file(folder / "xcopa" / lang / f"{split}.{lang}.jsonl")
    rows, seen = [], {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            missing = {"premise", "choice1", "choice2", "question", "label", "idx"} - set(row)
        except json.JSONDecodeError as error:
            raise malformed(path, number, f"not JSON ({error.msg})") from None
        if missing:
            raise malformed(path, number, f"missing {', '.join(sorted(missing))}")
        if row["question"] not in ("cause", "effect") or row["label"] not in (0, 1):
            raise malformed(
                path,
                number,
                f"question must be cause/effect and label 0/1, got {row['question']!r}/{row['label']!r}",
            )
        if str(row["idx"]) in seen:
            raise malformed(
                path,
                number,
                f"idx {row['idx']!r} repeats line {seen[str(row['idx'])]} (item id "
                f"{split}-{row['idx']}); every item needs its own idx",
            )
        seen[str(row["idx"])] = number
        rows.append(row)
    return rows


def _majority_questions(folder: Path, split: str, n_rows: int) -> list[str] | None:
    """Per row, the cause/effect value most language files agree on (None: too few files)."""
    columns = []
    for lang in FILE_LANGUAGES:
        path = folder / "xcopa" / lang / f"{split}.{lang}.jsonl"
        if path.is_file():
            rows = _read_rows(folder, lang, split)
            if len(rows) == n_rows:
                columns.append([row["question"] for row in rows])
    if len(columns) < 3:
        return None
    return [Counter(column[i] for column in columns).most_common(1)[0][0] for i in range(n_rows)]
