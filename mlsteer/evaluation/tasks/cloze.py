"""Cloze: mlsteer's own small multilingual sentence-completion benchmark (no data folder needed).

66 items written for mlsteer (``mlsteer/data/builtin/cloze.jsonl``, Apache-2.0), each parallel
across 11 languages, in six categories of 11: capitals, colours of things, arithmetic in words,
opposites, days and months, everyday facts. Each item gives per language a ``prompt``, the
``answer`` that continues it and three ``distractors`` of the same type (other capitals, other
colours...). Options are scored as continuations by log-likelihood, with a leading space in
languages that separate words with spaces (none for zh, ja, th).

- **Options**: answer + distractors in a fixed order shuffled per item, seeded by the item id
  alone (``random.Random("cloze:" + id)``), so every language has the same order and the same
  gold index (oracle translate-test swaps in the English fields and keeps the gold index).
- **Splits**: by position in the file: every 4th item (0-based index % 4 == 3) is ``val``
  (the few-shot pool, 16 items), the rest ``test`` (50 items). Ids are the item ids
  (``capital-03``), the same in every language and split.
- **Data folder**: the file ships with the package, so :meth:`Cloze.read` ignores the folder
  (``--data-dir`` / ``$MLSTEER_DATA`` may point anywhere, or nowhere) and :meth:`Cloze.read_hub`,
  used when none is set, reads the same file: the base class's ``load`` works unchanged.
"""

from __future__ import annotations

import random
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from mlsteer.evaluation.tasks.base import Example, Query, Task, check_keys, malformed, read_jsonl
from mlsteer.evaluation.tasks.registry import register_task

CLOZE_FILE = "cloze.jsonl"
LANGUAGES = ("en", "es", "fr", "de", "zh", "ja", "ru", "sw", "th", "bn", "te")
UNSPACED = frozenset({"zh", "ja", "th"})  # continuations follow the prompt without a space
N_OPTIONS = 4  # the answer and three distractors
VAL_EVERY = 4  # item i is in val when i % VAL_EVERY == VAL_EVERY - 1
# Bump when what the model sees (render, answer_text) or how its answer is read (extract, is_correct)
# changes: stored rows of the old version are then refused on a rerun, not mixed with new ones.
PROMPT_VERSION = "1"


def cloze_path() -> Path:
    """The built-in item file."""
    return Path(str(files("mlsteer.data").joinpath("builtin", CLOZE_FILE)))


def option_order(item_id: str) -> list[int]:
    """The shuffled positions of (answer, distractor 1..3), seeded by the item id only."""
    order = list(range(N_OPTIONS))
    random.Random(f"cloze:{item_id}").shuffle(order)
    return order


@lru_cache(maxsize=1)
def read_items(path: Path | None = None) -> tuple[dict, ...]:
    """Every item of the file, checked: id, category, and for each language a non-empty prompt,
    an answer and three distinct distractors different from it."""
    path = path or cloze_path()
    items, seen = [], set()
    for line, row in read_jsonl(path):
        check_keys(path, line, row, ("id", "category", "text"))
        if row["id"] in seen:
            raise malformed(path, line, f"duplicate id {row['id']!r}")
        seen.add(row["id"])
        text = row["text"]
        missing = [lang for lang in LANGUAGES if not isinstance(text, dict) or lang not in text]
        if missing:
            raise malformed(path, line, f"{row['id']}: no text for {', '.join(missing)}")
        for lang in LANGUAGES:
            entry = check_keys(path, line, text[lang], ("prompt", "answer", "distractors"))
            options = [entry["answer"], *entry["distractors"]]
            well_formed = all(isinstance(o, str) and o.strip() for o in options)
            if not entry["prompt"].strip() or not well_formed or len(set(options)) != N_OPTIONS:
                problem = f"needs a prompt, an answer and {N_OPTIONS - 1} distinct distractors different from it"
                raise malformed(path, line, f"{row['id']} {lang}: {problem}")
        items.append(row)
    return tuple(items)


@register_task
class Cloze(Task):
    name = "cloze"
    kind = "choice"
    languages = LANGUAGES
    test_split = "test"
    fewshot_split = "val"
    parallel = True
    translatable = ("prompt", *(f"option{i}" for i in range(N_OPTIONS)))
    description = "general knowledge sentence completion"
    answer_format = "Answer: <the word that completes the sentence>"
    prompt_version = PROMPT_VERSION

    def read(self, folder: Path, lang: str, split: str) -> list[Example]:
        """The built-in items; ``folder`` is not used (the data ships with mlsteer)."""
        return self.read_builtin(lang, split)

    def read_hub(self, lang: str, split: str) -> list[Example]:
        """No data folder given: the same built-in items (nothing is downloaded)."""
        return self.read_builtin(lang, split)

    def read_builtin(self, lang: str, split: str) -> list[Example]:
        examples = []
        for index, item in enumerate(read_items()):
            if (index % VAL_EVERY == VAL_EVERY - 1) != (split == "val"):
                continue
            entry = item["text"][lang]
            given = [entry["answer"], *entry["distractors"]]
            order = option_order(item["id"])
            fields = {"prompt": entry["prompt"], "category": item["category"]}
            fields.update({f"option{i}": given[j] for i, j in enumerate(order)})
            examples.append(Example(item["id"], lang, fields, order.index(0)))
        return examples

    def render(self, example: Example) -> Query:
        space = "" if example.lang in UNSPACED else " "
        options = tuple(space + example.fields[f"option{i}"] for i in range(N_OPTIONS))
        return Query(example.fields["prompt"], options)

    def answer_text(self, example: Example) -> str:
        """The gold continuation: a few-shot shot reads as the prompt completed by it."""
        return self.render(example).continuations[int(example.gold)]
