"""What a task is: examples read from disk (or the Hub) and how to prompt for them.

A task turns its files into :class:`Example` rows and renders them as a :class:`Query`: a
context plus, for multiple choice, one continuation per option (scored by log-likelihood), or
no continuations for generation (decoded greedily, then :meth:`Task.extract` reads the answer).
Per-language details (connectors, labels, templates) are data in each task module.
"""

from __future__ import annotations

import csv
import json
import os
import random
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from mlsteer.errors import MlsteerError
from mlsteer.languages import check_languages
from mlsteer.paths import data_dir as resolve_data_dir

Kind = Literal["choice", "generation"]
LETTERS = "ABCDEFGHIJ"  # option labels of lettered multiple choice


@dataclass(frozen=True)
class Example:
    """One benchmark item.

    Attributes:
        id: stable within the task and language (used by the store to resume).
        lang: ISO 639-1 code.
        fields: the item's text fields (premise, question, options...), as in the files.
        gold: index of the correct option (multiple choice) or the answer string (generation).
        english: the same item in English where the benchmark is parallel (oracle translate-test).
    """

    id: str
    lang: str
    fields: Mapping[str, str]
    gold: int | str
    english: Example | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Query:
    """What the model sees: ``context`` then each of ``continuations`` (empty for generation)."""

    context: str
    continuations: tuple[str, ...] = ()


class Task(ABC):
    """A benchmark. Subclasses set the class attributes and implement the abstract methods."""

    name: str
    kind: Kind
    languages: tuple[str, ...]
    test_split: str = "test"
    fewshot_split: str = "validation"  # where few-shot examples come from (never the test item)
    hub_id: str = ""
    translatable: tuple[str, ...] = ()  # text fields a translator must translate
    parallel: bool = False  # rows line up with the English file's: load() sets Example.english
    description: str = ""  # for the XLT template: "act as an expert for {lang} {description}"
    answer_format: str = ""  # for the XLT template: "tell me the answer in this format ..."
    # Part of every stored row's fingerprint: bump it (each task module's PROMPT_VERSION) when
    # render / answer_text / request_text change what the model sees, so reruns into an old run
    # folder refuse to mix rows of the old and new prompts (mlsteer.evaluation.fingerprints).
    prompt_version: str = "1"

    @abstractmethod
    def read(self, folder: Path, lang: str, split: str) -> list[Example]:
        """Read ``split`` of ``lang`` from the local benchmark folder."""

    def read_hub(self, lang: str, split: str) -> list[Example]:  # pragma: no cover - needs the Hub
        """Read from the Hugging Face Hub (``datasets``) when no local folder is given."""
        raise MlsteerError(f"{self.name} has no Hub loader; pass --data-dir or set $MLSTEER_DATA")

    @abstractmethod
    def render(self, example: Example) -> Query:
        """The zero-shot prompt in the example's language."""

    @abstractmethod
    def answer_text(self, example: Example) -> str:
        """The gold answer as it would follow :meth:`render`'s context (for few-shot shots)."""

    def request_text(self, example: Example) -> str:
        """The request as one block of text (XLT and translation): by default the context."""
        return self.render(example).context

    def extract(self, text: str) -> str:
        """Generation tasks: the answer read from generated text."""
        raise NotImplementedError(f"{self.name} is not a generation task")

    def is_correct(self, prediction: int | str, example: Example) -> bool:
        return prediction == example.gold

    def load(
        self,
        lang: str,
        split: str | None = None,
        data_dir: str | os.PathLike | None = None,
        limit: int | None = None,
        seed: int = 0,
    ) -> list[Example]:
        """Examples of ``lang`` (``limit`` of them, seeded sample, file order kept)."""
        check_languages([lang], self.languages, self.name)
        split = check_split(
            self.name, split or self.test_split, (self.test_split, self.fewshot_split)
        )
        folder = resolve_data_dir(data_dir)

        def read(code: str) -> list[Example]:
            return (
                self.read(folder, code, split) if folder is not None else self.read_hub(code, split)
            )

        examples = read(lang)
        check_unique_ids(
            examples,
            f"{self.name} {lang} {split}" + (f" (in {folder})" if folder is not None else ""),
        )
        if self.parallel and lang != "en":
            examples = _link_english(examples, read("en"), f"{self.name} {lang} {split}")
        if limit is not None and limit < len(examples):
            keep = sorted(random.Random(seed).sample(range(len(examples)), limit))
            examples = [examples[i] for i in keep]
        return examples


def require_file(path: Path) -> Path:
    """``path`` if it exists, else an error naming it and the fix."""
    if not path.is_file():
        raise MlsteerError(
            f"missing data file {path}; point --data-dir / $MLSTEER_DATA at the benchmark folder"
        )
    return path


def malformed(path: Path, line: int | str, problem: str) -> MlsteerError:
    """The error for a bad row: file and line (or, in one JSON object, the key) named."""
    return MlsteerError(f"{path}:{line}: {problem}")


def check_unique_ids(examples: Iterable[Example], where: str) -> None:
    """Every item id once: the store keys rows by id, so a repeated id would lose a row."""
    seen: set[str] = set()
    for example in examples:
        if example.id in seen:
            raise MlsteerError(
                f"{where}: item id {example.id!r} appears twice; every item of a language needs "
                "its own id (fix the data file)"
            )
        seen.add(example.id)


def check_split(task: str, split: str, splits: Sequence[str]) -> str:
    """``split`` if ``task`` has it; else an error listing the ones it has."""
    if split not in splits:
        raise MlsteerError(f"{task} has no split {split!r}; use one of: {', '.join(splits)}")
    return split


def check_keys(path: Path, line: int | str, row: object, keys: Iterable[str]) -> dict:
    """``row`` if it is a JSON object holding every one of ``keys``; else an error naming the missing ones."""
    if not isinstance(row, dict):
        raise malformed(path, line, f"expected a JSON object, got {type(row).__name__}")
    missing = set(keys) - set(row)
    if missing:
        raise malformed(path, line, f"missing {', '.join(sorted(missing))}")
    return row


def read_jsonl(path: Path) -> list[tuple[int, object]]:
    """(line number, value) for each non-blank line of a JSON Lines file."""
    rows = []
    for number, line in enumerate(
        require_file(path).read_text(encoding="utf-8").splitlines(), start=1
    ):
        if line.strip():
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as error:
                raise malformed(path, number, f"not JSON ({error.msg})") from None
    return rows


def read_json_list(path: Path) -> list[tuple[int, object]]:
    """(line number where it starts, value) for each item of a file holding one JSON list.

    Decoded item by item (``raw_decode``) so an error can name the line of a bad row even in a
    pretty-printed file; in a one-line file every row is on line 1 and callers add the row index.
    """
    text = require_file(path).read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    rows: list[tuple[int, object]] = []
    position, line, counted = _skip_space(text, 0), 1, 0
    try:
        if text[position : position + 1] != "[":
            raise malformed(path, 1, "expected a JSON list")
        position = _skip_space(text, position + 1)
        while text[position : position + 1] != "]":
            line, counted = line + text.count("\n", counted, position), position
            value, position = decoder.raw_decode(text, position)
            rows.append((line, value))
            position = _skip_space(text, position)
            if text[position : position + 1] == ",":
                position = _skip_space(text, position + 1)
            elif text[position : position + 1] != "]":
                raise malformed(
                    path,
                    line + text.count("\n", counted, position),
                    "expected ',' or ']' after a row",
                )
    except json.JSONDecodeError as error:
        raise malformed(path, error.lineno, f"not JSON ({error.msg})") from None
    return rows


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def read_tsv(path: Path, n_fields: int) -> list[tuple[int, list[str]]]:
    """(line number, fields) for each row of a header-less, unquoted TSV; every row must have ``n_fields``."""
    rows = []
    with require_file(path).open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for row in reader:
            if not row:  # a blank line
                continue
            if len(row) != n_fields:
                raise malformed(
                    path,
                    reader.line_num,
                    f"expected {n_fields} tab-separated fields, got {len(row)}",
                )
            rows.append((reader.line_num, row))
    return rows


def lettered_query(stem: str, options: Sequence[str]) -> Query:
    """``stem``, then ``A. option`` lines and ``Answer:``; the continuations are `` A``, `` B``, ...

    The layout of lm-evaluation-harness's Okapi ``m_mmlu`` (English "Answer:" in every language).
    """
    letters = LETTERS[: len(options)]
    lines = [stem, *(f"{letter}. {option}" for letter, option in zip(letters, options)), "Answer:"]
    return Query("\n".join(lines), tuple(f" {letter}" for letter in letters))


def _link_english(examples: list[Example], english: list[Example], where: str) -> list[Example]:
    """Each example with ``english`` set to the English example of the same row."""
    if len(english) != len(examples):
        raise MlsteerError(
            f"{where} has {len(examples)} rows but English has {len(english)}; the files must be parallel row by row"
        )
    return [replace(example, english=twin) for example, twin in zip(examples, english)]
