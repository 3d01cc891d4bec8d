"""Everyday concepts and their most common word in each of 19 languages (``builtin/words.tsv``).

Written by the project (Apache-2.0). Uses: labelled words for testing token-level language
identification (:mod:`mlsteer.langid`), and word pairs for the "latent English" measure of
Wendler et al. (2024). Cells are lowercase single words (German nouns too); verbs are in their
dictionary form; Vietnamese, which writes the syllables of one word apart, may have spaces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from types import MappingProxyType

from mlsteer.errors import MlsteerError
from mlsteer.languages import get_language

WORDS_FILE = "words.tsv"
_SPACED = frozenset({"vi"})  # languages whose single words may contain a space


@dataclass(frozen=True)
class ConceptWords:
    """``rows[i][lang]`` is concept ``concepts[i]``'s word in ``lang`` (every lang in ``langs``)."""

    langs: tuple[str, ...]
    concepts: tuple[str, ...]
    rows: tuple[Mapping[str, str], ...]  # read-only

    def __len__(self) -> int:
        return len(self.rows)

    def words(self, lang: str) -> list[str]:
        """Every concept's word in ``lang``, in file order."""
        self._check(lang)
        return [row[lang] for row in self.rows]

    def labelled(self, langs: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """``(word, lang)`` pairs for ``langs`` (default all), without ambiguous words: a string
        found under two or more of *all* the file's languages (``casa``: es, it, pt; ``hand``:
        en, de; ``水``: zh, ja) is dropped everywhere; repeats within one language are kept once."""
        langs = tuple(self.langs if langs is None else langs)
        for lang in langs:
            self._check(lang)
        owners: dict[str, set[str]] = {}
        for row in self.rows:
            for lang, word in row.items():
                owners.setdefault(word, set()).add(lang)
        out: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for lang in langs:
            for row in self.rows:
                word = row[lang]
                if len(owners[word]) == 1 and (word, lang) not in seen:
                    seen.add((word, lang))
                    out.append((word, lang))
        return out

    def _check(self, lang: str) -> None:
        if lang not in self.langs:
            raise MlsteerError(
                f"{WORDS_FILE} has no {lang!r} column; it has: {', '.join(self.langs)}"
            )


def parse_words(text: str, source: str = WORDS_FILE) -> ConceptWords:
    """Parse the wide table: ``#`` comments and blank lines skipped, then a header
    ``concept<TAB>lang...`` and one row per concept with a non-empty word in every column."""
    header: list[str] | None = None
    concepts: list[str] = []
    rows: list[Mapping[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        where = f"{source}:{number}"
        if header is None:
            if cells[0] != "concept" or len(cells) < 3:
                raise MlsteerError(
                    f"{where}: expected a header 'concept<TAB>en<TAB>...', got {line!r}"
                )
            for lang in cells[1:]:
                try:
                    get_language(lang)
                except MlsteerError as err:
                    raise MlsteerError(f"{where}: {err}") from None
            if len(set(cells[1:])) != len(cells) - 1:
                raise MlsteerError(f"{where}: a language column appears twice in the header")
            header = cells
            continue
        if len(cells) != len(header):
            raise MlsteerError(
                f"{where}: expected {len(header)} tab-separated cells, got {len(cells)}"
            )
        for lang, cell in zip(header, cells):
            if not cell or cell != cell.strip():
                raise MlsteerError(
                    f"{where}: empty cell or stray whitespace in column {lang!r}: {cell!r}"
                )
            if " " in cell and lang not in _SPACED:
                raise MlsteerError(f"{where}: {lang} cell {cell!r} has several words; use one word")
            if cell != cell.lower():
                raise MlsteerError(f"{where}: {lang} cell {cell!r} must be lowercase")
        if cells[0] in concepts:
            raise MlsteerError(f"{where}: concept {cells[0]!r} appears twice")
        concepts.append(cells[0])
        rows.append(MappingProxyType(dict(zip(header[1:], cells[1:]))))
    if header is None or not rows:
        raise MlsteerError(
            f"{source}: no header or no rows; expected 'concept<TAB>en...' then one row per concept"
        )
    return ConceptWords(tuple(header[1:]), tuple(concepts), tuple(rows))


@lru_cache(maxsize=1)
def concept_words() -> ConceptWords:
    """The built-in concept table (``mlsteer/data/builtin/words.tsv``)."""
    path = files("mlsteer.data").joinpath("builtin", WORDS_FILE)
    return parse_words(path.read_text(encoding="utf-8"), source=str(path))
