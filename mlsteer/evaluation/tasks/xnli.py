"""XNLI (Conneau et al. 2018): premise + "right?" prompt, three continuations (entailment, neutral, contradiction).

Prompt as lm-evaluation-harness's ``xnli`` (``lm_eval/tasks/xnli/utils.py``, per-language words
copied from there into :data:`WORDS`): context ``premise + ", " + QUESTION_WORD + "?"``, then
``" " + LABEL_WORD + ", " + hypothesis`` for entailment/neutral/contradiction (labels 0/1/2). The
harness (v0.3) scored the whole sentence ``premise, right? Yes, hypothesis`` per label; the three
sentences share the premise prefix, so with summed log-likelihood only the continuation differs
and this split ranks the options identically. The space goes with the continuation (the
harness's ``target_delimiter``), as in XCOPA, so BPE tokenizers see `` Yes`` as one word.

Splits: ``test`` is ``xnli/test/{lang}.test.jsonl`` (integer labels); for el, ru and th it is
``{lang}.test.derived.jsonl``, RECONSTRUCTED: XTREME's unlabelled test text with the labels
copied by row from English (see the data README). ``validation`` (few-shot) is XTREME's dev set
``xnli/dev_xtreme/dev-{lang}.tsv`` (labels as words). Ids are ``{split}-{row}`` (row from 0).
XNLI is parallel row by row, so every non-English example carries its English row in ``english``.
"""

from __future__ import annotations

from pathlib import Path

from mlsteer.evaluation.tasks.base import (
    Example,
    Query,
    Task,
    check_keys,
    malformed,
    read_jsonl,
    read_tsv,
)
from mlsteer.evaluation.tasks.registry import register_task

# (question word, entailment, neutral, contradiction): lm-evaluation-harness lm_eval/tasks/xnli/utils.py.
WORDS = {
    "ar": ("صحيح", "نعم", "لذا", "رقم"),
    "de": ("richtig", "Ja", "Auch", "Nein"),
    "el": ("σωστός", "Ναί", "Έτσι", "όχι"),
    "en": ("right", "Yes", "Also", "No"),
    "es": ("correcto", "Sí", "Asi que", "No"),
    "fr": ("correct", "Oui", "Aussi", "Non"),
    "hi": ("सही", "हाँ", "इसलिए", "नहीं"),
    "ru": ("правильно", "Да", "Так", "Нет"),
    "sw": ("sahihi", "Ndiyo", "Hivyo", "Hapana"),
    "th": ("ถูกต้อง", "ใช่", "ดังนั้น", "ไม่"),
    "tr": ("doğru", "Evet", "Böylece", "Hayır"),
    "vi": ("đúng", "Vâng", "Vì vậy", "Không"),
    "zh": ("正确", "是的", "所以", "不是的"),
}
LABELS = ("entailment", "neutral", "contradiction")  # index = label
DERIVED_TEST = ("el", "ru", "th")  # test files rebuilt from unlabelled text + English labels
# Bump when what the model sees (render, answer_text) or how its answer is read (extract, is_correct)
# changes: stored rows of the old version are then refused on a rerun, not mixed with new ones.
PROMPT_VERSION = "1"


@register_task
class XNLI(Task):
    name = "xnli"
    kind = "choice"
    languages = tuple(WORDS)
    test_split = "test"
    fewshot_split = "validation"
    hub_id = "facebook/xnli"
    translatable = ("premise", "hypothesis")
    parallel = True
    description = "natural language inference"
    answer_format = "Answer: <entailment, neutral or contradiction>"
    prompt_version = PROMPT_VERSION

    def read(self, folder: Path, lang: str, split: str) -> list[Example]:
        if split == "validation":
            rows = _read_dev(folder / "xnli" / "dev_xtreme" / f"dev-{lang}.tsv")
        else:
            name = f"{lang}.test.derived.jsonl" if lang in DERIVED_TEST else f"{lang}.test.jsonl"
            rows = _read_test(folder / "xnli" / "test" / name)
        return [_example(split, number, lang, row) for number, row in enumerate(rows)]

    def read_hub(self, lang: str, split: str) -> list[Example]:  # pragma: no cover - needs the Hub
        from datasets import load_dataset

        rows = [
            (r["premise"], r["hypothesis"], int(r["label"]))
            for r in load_dataset(self.hub_id, lang, split=split)
        ]
        return [_example(split, number, lang, row) for number, row in enumerate(rows)]

    def render(self, example: Example) -> Query:
        question, *label_words = WORDS[example.lang]
        context = f"{example.fields['premise']}, {question}?"
        return Query(
            context, tuple(f" {word}, {example.fields['hypothesis']}" for word in label_words)
        )

    def answer_text(self, example: Example) -> str:
        return self.render(example).continuations[int(example.gold)]


def _example(split: str, number: int, lang: str, row: tuple[str, str, int]) -> Example:
    premise, hypothesis, label = row
    return Example(f"{split}-{number}", lang, {"premise": premise, "hypothesis": hypothesis}, label)


def _read_test(path: Path) -> list[tuple[str, str, int]]:
    rows = []
    for line, row in read_jsonl(path):
        row = check_keys(path, line, row, ("premise", "hypothesis", "label"))
        if row["label"] not in (0, 1, 2):
            raise malformed(path, line, f"label must be 0, 1 or 2, got {row['label']!r}")
        rows.append((row["premise"], row["hypothesis"], row["label"]))
    return rows


def _read_dev(path: Path) -> list[tuple[str, str, int]]:
    rows = []
    for line, (premise, hypothesis, label) in read_tsv(path, 3):
        if label not in LABELS:
            raise malformed(path, line, f"label must be one of {', '.join(LABELS)}, got {label!r}")
        rows.append((premise, hypothesis, LABELS.index(label)))
    return rows
