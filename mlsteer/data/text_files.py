"""Reading the user's own text files (corpora, task files): UTF-8, with errors naming file and line."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mlsteer.errors import MlsteerError


def read_utf8(path: str | os.PathLike, what: str = "file") -> str:
    """The text of ``path`` (a UTF-8 byte-order mark is dropped); a missing file or a byte that is
    not UTF-8 raises naming the file (and the line of the bad byte)."""
    path = Path(path)
    if not path.is_file():
        raise MlsteerError(f"no {what} {path}; check the path")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise MlsteerError(
            f"{path}:{line}: byte {data[error.start]:#04x} is not UTF-8; save the file as UTF-8"
        ) from None


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) for each non-blank line; only ``\\n`` ends a line (``\\r`` is dropped)."""
    return [
        (number, line.rstrip("\r"))
        for number, line in enumerate(text.split("\n"), start=1)
        if line.strip()
    ]


def read_json_objects(path: str | os.PathLike, what: str = "file") -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON Lines file of objects."""
    rows = []
    for number, line in numbered_lines(read_utf8(path, what)):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise MlsteerError(
                f"{path}:{number}: not JSON ({error.msg} at column {error.colno}); write one JSON object per line"
            ) from None
        if not isinstance(row, dict):
            raise MlsteerError(
                f"{path}:{number}: expected a JSON object {{...}}, got {type(row).__name__}"
            )
        rows.append((number, row))
    return rows
