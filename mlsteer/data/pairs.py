"""Parallel sentence pairs (English, target language) and a reader for tab-separated files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from mlsteer.errors import EmptyInputError, MlsteerError


@dataclass(frozen=True)
class ParallelPairs:
    """Aligned English and target-language texts (``english[i]`` translates ``target[i]``)."""

    lang: str
    english: tuple[str, ...]
    target: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.english) != len(self.target):
            raise MlsteerError(
                f"{len(self.english)} English texts but {len(self.target)} {self.lang} texts; "
                "pairs must be aligned one to one: pass lists of equal length"
            )
        if not self.english:
            raise EmptyInputError(f"no {self.lang}-English pairs; pass at least one pair")

    def __len__(self) -> int:
        return len(self.english)


def read_tsv_pairs(path: str | os.PathLike, lang: str) -> ParallelPairs:
    """Read ``english<TAB>target`` lines; ``#`` lines and blank lines are skipped."""
    english, target = [], []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not all(part.strip() for part in parts):
            raise MlsteerError(f"{path}:{number}: expected 'english<TAB>{lang}', got {line!r}")
        english.append(parts[0].strip())
        target.append(parts[1].strip())
    return ParallelPairs(lang, tuple(english), tuple(target))


def builtin_pairs(lang: str = "es") -> ParallelPairs:
    """Parallel sentences shipped with mlsteer (written by the project, Apache-2.0)."""
    path = files("mlsteer.data").joinpath("builtin", f"en_{lang}_pairs.tsv")
    if not path.is_file():
        available = sorted(p.name[3:5] for p in files("mlsteer.data").joinpath("builtin").iterdir() if p.name.startswith("en_"))
        raise MlsteerError(f"no built-in pairs for {lang!r}; built-in languages: {', '.join(available)}")
    return read_tsv_pairs(Path(str(path)), lang)
