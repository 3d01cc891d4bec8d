"""A task from the user's own file: ``mlsteer eval --task mytask.jsonl`` (or ``.yaml``/``.yml``).

Items, one JSON object per line of a ``.jsonl`` file, or a YAML ``items:`` list:

- multiple choice: ``context``, ``options`` (a list of texts), ``answer`` (the right option's
  index, from 0); options are scored as continuations of the context (``choice_format:
  letters`` lists them as ``A. ...`` lines instead and scores the letters);
- generation: ``prompt`` and ``answer`` (a text); the answer is read from the generated text by
  ``answer_regex`` (its first group if it has one; default: the first non-blank line) and
  compared with ``answer`` ignoring case and surrounding spaces;
- optional: ``language`` (ISO 639-1; required unless the YAML header sets one for every item),
  ``split`` (``test``, the default, or the few-shot split: the pool of few-shot shots and the
  split a sweep chooses on), ``id`` (default: file stem and line; ids are unique per language).

A YAML file has task-level fields: ``name`` (default: the file stem), ``kind`` (``choice`` or
``generation``; default: from the first item), ``answer_regex``, ``fewshot_split`` (default: the
one non-test split the items use, else ``dev``), ``language``, ``description`` and
``answer_format`` (for the XLT prompt), ``choice_format``; then ``items:`` and/or ``data_files:``
(JSONL files, relative to the YAML file). Errors name the file, line and field.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from mlsteer.data.text_files import read_json_objects, read_utf8
from mlsteer.errors import MlsteerError
from mlsteer.evaluation.fingerprints import sha256_json
from mlsteer.evaluation.tasks.base import Example, Kind, Query, Task, lettered_query
from mlsteer.evaluation.tasks.cloze import UNSPACED
from mlsteer.languages import get_language

SUFFIXES = (".jsonl", ".yaml", ".yml")
HEADER_FIELDS = (
    "name",
    "kind",
    "description",
    "answer_format",
    "answer_regex",
    "fewshot_split",
    "language",
    "choice_format",
    "items",
    "data_files",
)
KINDS = ("choice", "generation")
CHOICE_FORMATS = ("continuation", "letters")
FIRST_LINE = r"\S[^\n]*"  # the default answer_regex: the first non-blank line
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# Bump when how a task file's items are rendered or read changes (the file's content is hashed in too).
PROMPT_VERSION = "1"


@dataclass(frozen=True)
class Header:
    """The task-level fields of a task file (defaults for a plain JSONL file)."""

    name: str
    kind: str | None = None
    description: str = ""
    answer_format: str = ""
    answer_regex: str = FIRST_LINE
    fewshot_split: str | None = None
    language: str | None = None
    choice_format: str = "continuation"


Raw = list[tuple[str, Any]]  # (where: "file:line", the item as read)


def is_task_file(spec: str) -> bool:
    """Whether ``spec`` names a task file (by its suffix, or because the file exists)."""
    return spec.lower().endswith(SUFFIXES) or Path(spec).is_file()


def resolve_task(spec: str, base: str | os.PathLike | None) -> str:
    """``spec`` joined to ``base`` (a config file's folder) when it is a relative task file path."""
    if (
        base is None
        or Path(spec).is_absolute()
        or not (spec.lower().endswith(SUFFIXES) or (Path(base) / spec).is_file())
    ):
        return spec
    return str(Path(base) / spec)


def load_task_file(spec: str | os.PathLike) -> UserTask:
    """The task a file defines (read once per file version)."""
    path = Path(spec)
    if not path.is_file():
        raise MlsteerError(
            f"no task file {path}; check the path (a task file ends in {', '.join(SUFFIXES)})"
        )
    stat = path.stat()
    return _load(path.resolve(), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _load(path: Path, mtime_ns: int, size: int) -> UserTask:
    header, raw = (
        _read_yaml(path)
        if path.suffix.lower() in (".yaml", ".yml")
        else (Header(_stem_name(path)), _read_jsonl(path))
    )
    if not raw:
        raise MlsteerError(
            f"{path} holds no items; add items (one JSON object per line, or a YAML items: list)"
        )
    return UserTask(path, header, raw)


class UserTask(Task):
    """A :class:`Task` whose items come from a user's file (see the module docstring)."""

    test_split = "test"
    parallel = False

    def __init__(self, path: Path, header: Header, raw: Raw) -> None:
        self.path, self.name = path, header.name
        self.kind: Kind = header.kind or _infer_kind(raw[0])  # type: ignore[assignment]
        self.description = header.description or header.name
        self.choice_format = header.choice_format
        self.answer_format = header.answer_format or (
            "Answer: <the right option>" if self.kind == "choice" else ""
        )
        self.pattern = re.compile(header.answer_regex)
        # the file's content (header and items, wherever the file lies): an edited file is a new prompt
        self.prompt_version = (
            f"{PROMPT_VERSION}:{sha256_json([asdict(header), [item for _, item in raw]])[:16]}"
        )
        self.fewshot_split = header.fewshot_split or _infer_fewshot_split(raw)
        self.items: dict[tuple[str, str], list[Example]] = {}
        seen: dict[tuple[str, str], str] = {}
        for where, item in raw:
            example, split = self._example(where, item, header.language)
            if (example.lang, example.id) in seen:
                raise MlsteerError(
                    f"{where}: id: {example.id!r} repeats the {example.lang} item at {seen[(example.lang, example.id)]}; "
                    "give every item of a language its own id"
                )
            seen[(example.lang, example.id)] = where
            self.items.setdefault((example.lang, split), []).append(example)
        self.languages = tuple(sorted({lang for lang, _ in self.items}))
        most = max(
            (len(e.fields) - 1 for examples in self.items.values() for e in examples), default=0
        )
        self.translatable = (
            ("context", *(f"option{i}" for i in range(most)))
            if self.kind == "choice"
            else ("prompt",)
        )

    def read(self, folder: Path | None, lang: str, split: str) -> list[Example]:
        """The file's items of ``lang`` in ``split``; ``folder`` is not used (the file is the data)."""
        examples = self.items.get((lang, split))
        if not examples:
            raise MlsteerError(
                f"{self.path} has no {lang} items in split {split!r}; add items with "
                f'"language": "{lang}", "split": "{split}"'
                + (" (the few-shot pool)" if split != "test" else "")
            )
        return list(examples)

    def read_hub(self, lang: str, split: str) -> list[Example]:
        """No data folder given: the same file (nothing is downloaded)."""
        return self.read(None, lang, split)

    def render(self, example: Example) -> Query:
        if self.kind == "generation":
            return Query(example.fields["prompt"])
        context, options = example.fields["context"], _options(example)
        if self.choice_format == "letters":
            return lettered_query(context, options)
        space = _space(context, example.lang)
        return Query(context, tuple(space + option for option in options))

    def answer_text(self, example: Example) -> str:
        """The gold continuation (multiple choice) or `` answer`` (generation), for few-shot shots."""
        if self.kind == "choice":
            return self.render(example).continuations[int(example.gold)]
        return _space(example.fields["prompt"], example.lang) + str(example.gold)

    def extract(self, text: str) -> str:
        match = self.pattern.search(text)
        if match is None:
            return ""
        return (match.group(1) if self.pattern.groups else match.group(0)).strip()

    def is_correct(self, prediction: int | str, example: Example) -> bool:
        if self.kind == "choice":
            return prediction == example.gold
        return _normal(str(prediction)) == _normal(str(example.gold))

    def _example(self, where: str, item: Any, language: str | None) -> tuple[Example, str]:
        """One item checked and turned into an :class:`Example`, with its split."""
        if not isinstance(item, dict):
            raise MlsteerError(
                f"{where}: expected an object with {'context, options, answer' if self.kind == 'choice' else 'prompt, answer'}, "
                f"got {type(item).__name__}"
            )
        lang = item.get("language", language)
        if lang is None:
            raise MlsteerError(
                f'{where}: language: missing; add "language": "sw" to the item, or a top-level language: sw to a YAML task file'
            )
        try:
            get_language(lang)
        except MlsteerError as error:
            raise MlsteerError(f"{where}: language: {error}") from None
        split = item.get("split", "test")
        if split not in (self.test_split, self.fewshot_split):
            raise MlsteerError(
                f"{where}: split: {split!r} is neither test nor the few-shot split {self.fewshot_split!r}; "
                "use one of those (or set fewshot_split in a YAML header)"
            )
        item_id = item.get("id", f"{Path(where.rsplit(':', 1)[0]).stem}-{where.rsplit(':', 1)[1]}")
        if (
            not isinstance(item_id, str | int)
            or isinstance(item_id, bool)
            or not str(item_id).strip()
        ):
            raise MlsteerError(f"{where}: id: expected a text or a number, got {item_id!r}")
        if self.kind == "generation":
            if isinstance(item.get("answer"), int | float) and not isinstance(item["answer"], bool):
                item = {**item, "answer": str(item["answer"])}  # a number answer, e.g. 42
            fields, gold = {"prompt": _text(where, item, "prompt")}, _text(where, item, "answer")
        else:
            options = _option_list(where, item)
            fields = {
                "context": _text(where, item, "context"),
                **{f"option{i}": option for i, option in enumerate(options)},
            }
            gold = _answer_index(where, item, len(options))
        return Example(str(item_id), lang, fields, gold), split


def _text(where: str, item: dict, field: str) -> str:
    if field not in item:
        raise MlsteerError(
            f"{where}: {field}: missing; add it (multiple choice: context, options, answer; generation: prompt, answer)"
        )
    value = item[field]
    if not isinstance(value, str) or not value.strip():
        raise MlsteerError(f"{where}: {field}: expected non-empty text, got {value!r}")
    return value


def _option_list(where: str, item: dict) -> list[str]:
    options = item.get("options")
    if options is None:
        raise MlsteerError(
            f"{where}: options: missing; a multiple-choice item needs context, options (a list) and answer (an index)"
        )
    if not isinstance(options, list) or len(options) < 2:
        raise MlsteerError(
            f"{where}: options: expected a list of at least 2 texts, got {options!r}"
        )
    for index, option in enumerate(options):
        if not isinstance(option, str) or not option.strip():
            raise MlsteerError(
                f"{where}: options[{index}]: expected non-empty text, got {option!r}; write the option or delete it"
            )
    return options


def _answer_index(where: str, item: dict, n_options: int) -> int:
    answer = item.get("answer")
    if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < n_options:
        raise MlsteerError(
            f"{where}: answer: expected the right option's index, 0 to {n_options - 1}, got {answer!r}"
        )
    return answer


def _options(example: Example) -> list[str]:
    return [example.fields[f"option{i}"] for i in range(len(example.fields) - 1)]


def _space(context: str, lang: str) -> str:
    """What separates a context from its continuation: nothing after a space or in zh/ja/th."""
    return "" if not context or context[-1].isspace() or lang in UNSPACED else " "


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def _stem_name(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("_.-") or "task"


def _infer_kind(first: tuple[str, Any]) -> str:
    where, item = first
    if isinstance(item, dict) and "options" in item:
        return "choice"
    if isinstance(item, dict) and "prompt" in item:
        return "generation"
    raise MlsteerError(
        f"{where}: neither options (multiple choice) nor prompt (generation); "
        "write context, options, answer or prompt, answer (or set kind in a YAML header)"
    )


def _infer_fewshot_split(raw: Raw) -> str:
    """The one split other than test that the items use (``dev`` when none does)."""
    found: dict[str, str] = {}
    for where, item in raw:
        split = item.get("split", "test") if isinstance(item, dict) else "test"
        if split != "test" and split not in found:
            found[split] = where
    if len(found) > 1:
        (first, _), (second, where) = list(found.items())[:2]
        raise MlsteerError(
            f"{where}: split: {second!r}, but earlier items use {first!r}; a task has one few-shot split "
            "(set fewshot_split in a YAML header, or use one name)"
        )
    return next(iter(found), "dev")


def _read_jsonl(path: Path) -> Raw:
    return [(f"{path}:{number}", row) for number, row in read_json_objects(path, "task file")]


def _read_yaml(path: Path) -> tuple[Header, Raw]:
    """The header and the items (``items:`` then each of ``data_files``) of a YAML task file."""
    text = read_utf8(path, "task file")
    try:
        root, data = yaml.compose(text, Loader=yaml.SafeLoader), yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise MlsteerError(
            f"{path}:{mark.line + 1 if mark else 1}: not valid YAML ({getattr(error, 'problem', None) or error})"
        ) from None
    if not isinstance(data, dict):
        raise MlsteerError(
            f"{path}:1: expected task fields (name, kind, items...), got {type(data).__name__}"
        )
    lines = {key.value: key.start_mark.line + 1 for key, _ in root.value}
    unknown = sorted(set(data) - set(HEADER_FIELDS))
    if unknown:
        raise MlsteerError(
            f"{path}:{lines[unknown[0]]}: {unknown[0]}: unknown field; use: {', '.join(HEADER_FIELDS)}"
        )
    header = _header(
        path, {k: v for k, v in data.items() if k not in ("items", "data_files")}, lines
    )
    raw: Raw = []
    if "items" in data:
        if not isinstance(data["items"], list):
            raise MlsteerError(
                f"{path}:{lines['items']}: items: expected a list of items (- context: ...)"
            )
        nodes = next(value for key, value in root.value if key.value == "items").value
        raw += [
            (f"{path}:{node.start_mark.line + 1}", item) for node, item in zip(nodes, data["items"])
        ]
    files = data.get("data_files", [])
    for name in [files] if isinstance(files, str) else files:
        if not isinstance(name, str):
            raise MlsteerError(
                f"{path}:{lines['data_files']}: data_files: expected JSONL file names, got {name!r}"
            )
        raw += _read_jsonl(path.parent / name)
    return header, raw


def _header(path: Path, fields: dict[str, Any], lines: dict[str, int]) -> Header:
    """The task-level fields, each checked; errors name the file, line and field."""

    def fail(field: str, problem: str) -> MlsteerError:
        return MlsteerError(f"{path}:{lines.get(field, 1)}: {field}: {problem}")

    for field, value in fields.items():
        if not isinstance(value, str):
            raise fail(field, f"expected text, got {value!r}")
    name = fields.get("name", _stem_name(path))
    if not NAME.fullmatch(name):
        raise fail(
            "name",
            f"{name!r} is not a usable name; use letters, digits, _ . - (it names result files)",
        )
    if fields.get("kind", "choice") not in KINDS:
        raise fail("kind", f"{fields['kind']!r}; use one of: {', '.join(KINDS)}")
    if fields.get("choice_format", "continuation") not in CHOICE_FORMATS:
        raise fail(
            "choice_format", f"{fields['choice_format']!r}; use one of: {', '.join(CHOICE_FORMATS)}"
        )
    if fields.get("fewshot_split") == "test":
        raise fail(
            "fewshot_split",
            "'test' is the evaluated split; name the few-shot split otherwise, e.g. dev",
        )
    if "language" in fields:
        try:
            get_language(fields["language"])
        except MlsteerError as error:
            raise fail("language", str(error)) from None
    if "answer_regex" in fields:
        if fields.get("kind") != "generation":
            raise fail(
                "answer_regex",
                "only generation tasks read answers with a regex; add kind: generation or remove it",
            )
        try:
            re.compile(fields["answer_regex"])
        except re.error as error:
            raise fail("answer_regex", f"not a regular expression ({error})") from None
    return Header(**{**fields, "name": name})
