"""Okapi multilingual MMLU (Lai et al. 2023, ChatGPT-translated MMLU): four options A-D.

Prompt as lm-evaluation-harness's ``m_mmlu`` (``lm_eval/tasks/okapi/mmlu_multilingual/_default_yaml``):
``question.strip()``, then ``A. option`` ... ``D. option`` lines and ``Answer:`` (English in
every language, as the harness has no per-language word), continuations `` A`` .. `` D``.

Splits: the Okapi TEST split is not in the data folder (its files are too large for the source
copy), so ``test_split`` is ``val`` (``m_mmlu_okapi/{lang}_val.json``) and few-shot examples come
from ``dev`` (``{lang}_dev.json``). Numbers are therefore not comparable with papers that report
the test split. Ids are the rows' own ``id`` (``subject/split/n``). No English file exists
(the original MMLU is English), so examples carry no ``english``.
"""

from __future__ import annotations

from pathlib import Path

from mlsteer.evaluation.tasks.base import (
    LETTERS,
    Example,
    Query,
    Task,
    check_keys,
    lettered_query,
    malformed,
    read_json_list,
)
from mlsteer.evaluation.tasks.registry import register_task

OPTIONS = ("option_a", "option_b", "option_c", "option_d")
# Bump when what the model sees (render, answer_text) or how its answer is read (extract, is_correct)
# changes: stored rows of the old version are then refused on a rerun, not mixed with new ones.
PROMPT_VERSION = "1"


@register_task
class MMMLU(Task):
    name = "m_mmlu"
    kind = "choice"
    languages = ("ar", "bn", "de", "es", "fr", "hi", "id", "it", "pt", "ru", "te", "vi", "zh")
    test_split = "val"
    fewshot_split = "dev"
    translatable = ("question", *OPTIONS)
    description = "multitask knowledge (MMLU)"
    answer_format = "Answer: <A, B, C or D>"
    prompt_version = PROMPT_VERSION

    def read(self, folder: Path, lang: str, split: str) -> list[Example]:
        path = folder / "m_mmlu_okapi" / f"{lang}_{split}.json"
        examples, seen = [], {}
        for number, (line, row) in enumerate(read_json_list(path)):
            where = f"{line} (row {number})"
            row = check_keys(path, where, row, ("instruction", *OPTIONS, "answer", "id"))
            if row["id"] in seen:
                raise malformed(
                    path,
                    where,
                    f"id {row['id']!r} repeats row {seen[row['id']]}; every item needs its own id",
                )
            seen[row["id"]] = number
            if row["answer"] not in ("A", "B", "C", "D"):
                raise malformed(path, where, f"answer must be A, B, C or D, got {row['answer']!r}")
            fields = {"question": row["instruction"], **{key: row[key] for key in OPTIONS}}
            examples.append(Example(row["id"], lang, fields, LETTERS.index(row["answer"])))
        return examples

    def render(self, example: Example) -> Query:
        return lettered_query(
            example.fields["question"].strip(), [example.fields[key] for key in OPTIONS]
        )

    def answer_text(self, example: Example) -> str:
        return f" {LETTERS[int(example.gold)]}"
