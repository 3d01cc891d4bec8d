"""The user's own parallel corpus: every ``--corpus`` value that is not a built-in name.

Forms (each names its languages with ISO 639-1 codes, so one file can serve several languages
and goal-language pivots):

- ``pairs.tsv`` (any name not ending in ``.jsonl``): a header line of codes, then one sentence
  per column, tab-separated, no quoting (``en<TAB>sw``; more columns, e.g. ``es``, may follow).
- ``pairs.jsonl``: one JSON object per line with a field per code (``{"en": ..., "sw": ...}``).
- ``EN_FILE,TARGET_FILE``: two line-aligned text files, English then the requested language;
  or ``en=FILE,sw=FILE,...`` to name each file's language.
- ``hf:ID[:CONFIG]``: a Hub dataset through ``datasets`` (its ``train`` split, else its first),
  with a column per code or a ``translation`` column of ``{code: text}`` dicts.

Blank lines are skipped; every cell used must hold text. Errors name the file and line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from mlsteer.data.pairs import ParallelPairs
from mlsteer.data.text_files import numbered_lines, read_json_objects, read_utf8
from mlsteer.errors import EmptyInputError, MlsteerError
from mlsteer.languages import LANGUAGES, get_language

HF_PREFIX = "hf:"
FORMS = 'a TSV file with a header (en<TAB>sw), a JSONL file ({"en": ..., "sw": ...}), EN_FILE,TARGET_FILE or hf:ID[:CONFIG]'
Rows = list[tuple[str, Mapping[str, object]]]  # (where: "file:line", record by column name)


def read_user_pairs(spec: str, lang: str, goal: str = "en") -> ParallelPairs:
    """(``goal``, ``lang``) pairs from a corpus spec of one of the forms above."""
    for code in (lang, goal):
        get_language(code)  # an unknown code: an error listing the known ones
    if spec.startswith(HF_PREFIX):
        columns, rows = _hub_rows(spec)
    elif _is_aligned(spec):
        columns, rows = _aligned_rows(_aligned_files(spec, lang))
    elif spec.lower().endswith(".jsonl"):
        rows = [(f"{spec}:{number}", row) for number, row in read_json_objects(spec, "corpus file")]
        columns = list(dict.fromkeys(key for _, row in rows for key in row))
    else:
        columns, rows = _tsv_rows(spec)
    return _pairs(spec, columns, rows, lang, goal)


def corpus_label(spec: str) -> str:
    """A short name for titles and file names: the built-in name, the file's stem, or the Hub id."""
    if spec.startswith(HF_PREFIX):
        label = spec.removeprefix(HF_PREFIX)
    elif _is_aligned(spec):
        label = Path(_aligned_parts(spec)[-1][1]).stem
    else:
        label = Path(spec).stem
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label) or "corpus"


def resolve_corpus(spec: str, base: str | os.PathLike | None) -> str:
    """``spec`` with its relative file paths joined to ``base`` (a config file's folder)."""
    if base is None or spec.startswith(HF_PREFIX) or _bare(spec):
        return spec
    if _is_aligned(spec):
        return ",".join(
            f"{code}={Path(base) / path}" if code else str(Path(base) / path)
            for code, path in _aligned_parts(spec)
        )
    return str(Path(base) / spec)


def check_user_corpus(spec: str, builtin: Sequence[str] = ()) -> None:
    """Fail early on a file that is not there (rows are checked when read); a bare name that is
    no file is taken for a mistyped built-in corpus (``builtin`` lists those)."""
    if spec.startswith(HF_PREFIX):
        _hub_id(spec)
        return
    files = [path for _, path in _aligned_parts(spec)] if _is_aligned(spec) else [spec]
    for path in files:
        if not Path(path).is_file():
            problem = (
                f"unknown corpus {spec!r}; use one of"
                if _bare(path)
                else f"no corpus file {path}; check the path. A corpus is one of"
            )
            raise MlsteerError(f"{problem}: {', '.join(builtin)}, or your own: {FORMS}")


def _bare(path: str) -> bool:
    """A name with no folder and no suffix: a mistyped built-in corpus rather than a file."""
    return not Path(path).suffix and "/" not in path and os.sep not in path and "," not in path


def _is_aligned(spec: str) -> bool:
    return "," in spec and not Path(spec).exists()


def _aligned_parts(spec: str) -> list[tuple[str | None, str]]:
    """``a,b`` -> [(None, a), (None, b)]; ``en=a,sw=b`` -> [(en, a), (sw, b)]; codes checked."""
    parts = [part.strip() for part in spec.split(",")]
    if not any("=" in part for part in parts):
        if len(parts) != 2:
            raise MlsteerError(
                f"corpus {spec!r}: {len(parts)} files; write EN_FILE,TARGET_FILE or en=FILE,sw=FILE,..."
            )
        return [(None, part) for part in parts]
    named = [
        (code.strip(), path.strip()) for code, _, path in (part.partition("=") for part in parts)
    ]
    for (code, path), part in zip(named, parts):
        if code not in LANGUAGES or not path:
            raise MlsteerError(
                f"corpus {spec!r}: cannot read {part!r}; write CODE=FILE for every file, e.g. en=en.txt,sw=sw.txt"
            )
    return named


def _aligned_files(spec: str, lang: str) -> dict[str, str]:
    """Language code -> file; unnamed files are English, then ``lang``."""
    parts = _aligned_parts(spec)
    if parts[0][0] is None:
        return {"en": parts[0][1], lang: parts[1][1]}
    return {code: path for code, path in parts if code is not None}


def _aligned_rows(files: Mapping[str, str]) -> tuple[list[str], Rows]:
    """Rows of line-aligned files; a line blank in some files but not all is an error."""
    lines = {code: read_utf8(path, "corpus file").split("\n") for code, path in files.items()}
    for text in lines.values():
        if text and not text[-1].strip():
            text.pop()  # the newline that ends the last line
    counts = {files[code]: len(text) for code, text in lines.items()}
    if len(set(counts.values())) > 1:
        raise MlsteerError(
            f"line-aligned files differ in length ({', '.join(f'{p}: {n} lines' for p, n in counts.items())}); "
            "line i of each file must translate line i of the others"
        )
    rows: Rows = []
    for index, cells in enumerate(zip(*lines.values())):
        blank = [code for code, cell in zip(lines, cells) if not cell.strip()]
        if blank and len(blank) < len(cells):
            raise MlsteerError(
                f"{files[blank[0]]}:{index + 1}: blank line where the other files have text; "
                "fill it or delete the line in every file"
            )
        if not blank:
            rows.append(
                (
                    f"{files[next(iter(files))]}:{index + 1}",
                    dict(zip(lines, (cell.rstrip("\r") for cell in cells))),
                )
            )
    return list(files), rows


def _tsv_rows(path: str) -> tuple[list[str], Rows]:
    """A header of language codes, then rows with one cell per header column."""
    lines = numbered_lines(read_utf8(path, "corpus file"))
    if not lines:
        raise EmptyInputError(
            f"{path} is empty; write a header line (en<TAB>sw) and one pair per line"
        )
    (first, header), rest = lines[0], lines[1:]
    columns = [cell.strip() for cell in header.split("\t")]
    if not any(column in LANGUAGES for column in columns):
        raise MlsteerError(
            f"{path}:{first}: the header names no language code (got {' | '.join(columns)}); "
            "start the file with a header line such as en<TAB>sw"
        )
    if len(set(columns)) != len(columns):
        raise MlsteerError(
            f"{path}:{first}: the header repeats a column ({' | '.join(columns)}); name each column once"
        )
    rows: Rows = []
    for number, line in rest:
        cells = line.split("\t")
        if len(cells) != len(columns):
            raise MlsteerError(
                f"{path}:{number}: {len(cells)} tab-separated cells but the header has {len(columns)} "
                f"({', '.join(columns)}); write one cell per column, with no tab inside a sentence"
            )
        rows.append((f"{path}:{number}", dict(zip(columns, cells))))
    return columns, rows


def _pairs(source: str, columns: Sequence[str], rows: Rows, lang: str, goal: str) -> ParallelPairs:
    """The (goal, lang) columns as pairs; every cell used must be non-empty text."""
    for code in (goal, lang):
        if code not in columns:
            raise MlsteerError(
                f"{source} has no {code!r} ({get_language(code).name}) column; it has: {', '.join(columns)}; "
                f"add a {code} column or choose one of those languages"
            )
    if not rows:
        raise EmptyInputError(f"{source} has a header but no pairs; add one pair per line")
    goal_side, target_side = [], []
    for where, row in rows:
        goal_side.append(_cell(where, row, goal))
        target_side.append(_cell(where, row, lang))
    return ParallelPairs(lang, tuple(goal_side), tuple(target_side), goal=goal)


def _cell(where: str, row: Mapping[str, object], code: str) -> str:
    value = row.get(code)
    if value is None:
        raise MlsteerError(
            f"{where}: no {code!r} field (it has: {', '.join(row)}); give every row a {code} text"
        )
    if not isinstance(value, str) or not value.strip():
        raise MlsteerError(
            f"{where}: the {code} cell is {'empty' if isinstance(value, str) else type(value).__name__}; "
            "write its text, or delete the row"
        )
    return value.strip()


def _hub_id(spec: str) -> tuple[str, str | None]:
    dataset, _, config = spec.removeprefix(HF_PREFIX).partition(":")
    if not dataset.strip():
        raise MlsteerError(
            f"corpus {spec!r} names no dataset; write hf:ID or hf:ID:CONFIG, e.g. hf:Helsinki-NLP/opus-100:en-sw"
        )
    return dataset.strip(), config.strip() or None


def _hub_rows(spec: str) -> tuple[list[str], Rows]:
    """Rows of a Hub dataset: its columns, or the codes of its ``translation`` dicts."""
    dataset, config = _hub_id(spec)
    try:
        from datasets import load_dataset

        loaded = load_dataset(dataset, config)
    except Exception as error:
        raise MlsteerError(
            f"cannot load {spec} from the Hub ({type(error).__name__}: {error}); "
            "check the id and config and the network, or save the pairs as a TSV file and pass its path"
        ) from None
    split = loaded["train"] if "train" in loaded else loaded[next(iter(loaded))]
    records: Iterable[Mapping] = split
    if "translation" in split.column_names:
        records = (row["translation"] for row in split)
    rows: Rows = [(f"{spec} row {index}", dict(row)) for index, row in enumerate(records)]
    columns = list(dict.fromkeys(key for _, row in rows for key in row))
    return columns, rows
