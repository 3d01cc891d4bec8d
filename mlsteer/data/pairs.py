"""Parallel sentence pairs (English, target language) and a reader for tab-separated files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path

from mlsteer.errors import EmptyInputError, MlsteerError


@dataclass(frozen=True)
class ParallelPairs:
    """Aligned English and target-language texts (``english[i]`` translates ``target[i]``).

    For pivot-language vectors (the paper's Table 3) the goal side is another language:
    ``goal`` names it and ``english`` then holds its texts.
    """

    lang: str
    english: tuple[str, ...]
    target: tuple[str, ...]
    goal: str = "en"

    def __post_init__(self) -> None:
        if len(self.english) != len(self.target):
            raise MlsteerError(
                f"{len(self.english)} {'English' if self.goal == 'en' else self.goal} texts but {len(self.target)} {self.lang} texts; "
                "pairs must be aligned one to one: pass lists of equal length"
            )
        if not self.english:
            raise EmptyInputError(f"no {self.lang}-{self.goal} pairs; pass at least one pair")

    def __len__(self) -> int:
        return len(self.english)

    def subset(self, indices: Sequence[int]) -> ParallelPairs:
        """The pairs at ``indices``, in that order."""
        return replace(
            self,
            english=tuple(self.english[i] for i in indices),
            target=tuple(self.target[i] for i in indices),
        )


def join_on_english(source: ParallelPairs, goal: ParallelPairs) -> ParallelPairs:
    """(``source.lang``, ``goal.lang``) pairs from two English-pivoted corpora: sentences whose
    English sides are identical are translations of each other. The goal side lands in
    ``english`` with ``goal`` set (pivot-language vectors)."""
    goal_text = dict(zip(goal.english, goal.target))
    kept = [(goal_text[e], t) for e, t in zip(source.english, source.target) if e in goal_text]
    if not kept:
        raise EmptyInputError(
            f"the {source.lang} and {goal.lang} corpora share no English sentence; use a multi-parallel corpus (msvamp)"
        )
    return ParallelPairs(
        source.lang, tuple(g for g, _ in kept), tuple(t for _, t in kept), goal=goal.lang
    )


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


BUILTIN_LANGS = ("es", "fr", "de", "zh", "ja", "ru", "sw", "th", "bn", "te")


def read_parallel_table(path: str | os.PathLike) -> dict[str, list[str]]:
    """A multi-parallel table: a header of language codes (``en es fr ...``) then one sentence
    per column per line, tab-separated; ``#`` lines and blank lines are skipped."""
    columns: dict[str, list[str]] | None = None
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = [cell.strip() for cell in line.split("\t")]
        if columns is None:
            columns = {code: [] for code in cells}
            continue
        if len(cells) != len(columns) or not all(cells):
            raise MlsteerError(
                f"{path}:{number}: expected {len(columns)} non-empty tab-separated cells ({' '.join(columns)}), got {len(cells)}"
            )
        for code, cell in zip(columns, cells):
            columns[code].append(cell)
    if not columns:
        raise EmptyInputError(f"{path} has no header line of language codes")
    return columns


def builtin_pairs(lang: str = "es") -> ParallelPairs:
    """English-``lang`` pairs from the corpus shipped with mlsteer (``data/builtin/parallel/``:
    220 everyday sentences in English and 10 languages, written by the project, Apache-2.0)."""
    folder = files("mlsteer.data").joinpath("builtin", "parallel")
    english: list[str] = []
    target: list[str] = []
    for part in sorted(p for p in folder.iterdir() if p.name.endswith(".tsv")):
        table = read_parallel_table(Path(str(part)))
        if lang not in table:
            raise MlsteerError(
                f"no built-in pairs for {lang!r}; built-in languages: {', '.join(c for c in table if c != 'en')}"
            )
        english += table["en"]
        target += table[lang]
    return ParallelPairs(lang, tuple(english), tuple(target))
