"""Language identification: of generated text (langdetect, seeded so results repeat), and of
short text such as logit-lens tokens and single words (lingua or langdetect, restricted to a
set of candidate languages).

Token detectors, measured by ``bench/token_langid.py`` on the 704 unambiguous words of the 10
Latin-script languages in ``mlsteer/data/builtin/words.tsv`` (accuracy, time per word once the
models are loaded, range of two runs on 2 busy CPU cores; see BENCHMARKS.md, "Token language ID"):

============  ===================================  ===========================
detector      candidates: all mlsteer languages    candidates: the 10 Latin
============  ===================================  ===========================
lingua        79.5%, 0.06-0.07 ms/word             81.4%, 0.05-0.06 ms/word
langdetect    59.1%, 1.6-2.2 ms/word               62.5%, 1.0-1.4 ms/word
============  ===================================  ===========================

so :data:`DEFAULT_TOKEN_DETECTOR` is ``"lingua"``: better in every one of the 10 languages but
Vietnamese (86% vs 90%), and faster. It runs in high-accuracy mode (low-accuracy mode: 61-64%),
models loaded lazily on first use (2.5-4 s and about 255 MB for the 21 mlsteer languages it knows).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from pathlib import Path

from langdetect import DetectorFactory, detect
from langdetect.lang_detect_exception import LangDetectException

from mlsteer.errors import MlsteerError
from mlsteer.languages import LANGUAGES

DetectorFactory.seed = 0  # langdetect samples internally; a fixed seed makes it deterministic

Detector = Callable[[str], str | None]  # text -> ISO 639-1 code, or None when unsure
TOKEN_DETECTORS = ("lingua", "langdetect")
DEFAULT_TOKEN_DETECTOR = "lingua"  # the more accurate one on words; numbers in the docstring


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text`` by langdetect, or ``"unknown"`` when it finds no features."""
    try:
        return detect(text)
    except LangDetectException:  # empty text, digits or punctuation only
        return "unknown"


def get_detector(
    name: str = DEFAULT_TOKEN_DETECTOR, candidates: Sequence[str] | None = None
) -> Detector:
    """A short-text detector: ``detect(text)`` gives an ISO 639-1 code, or ``None`` when the text
    has no letters or the detector cannot decide.

    ``candidates`` restricts the answer to those codes (the model itself is restricted, so the
    answer is the best candidate, not the best language overall); codes the detector does not
    know (``ht``, ``qu``) are skipped, and a single known candidate is the answer to any text
    with letters. Without ``candidates``, lingua chooses among the mlsteer
    languages it knows and langdetect among all of its 55 languages. Detectors are cached per
    ``(name, candidates)``.
    """
    if name not in TOKEN_DETECTORS:
        raise MlsteerError(
            f"unknown token language detector {name!r}; use one of: {', '.join(TOKEN_DETECTORS)}"
        )
    key = None if candidates is None else _candidate_key(candidates)
    return _lingua(key) if name == "lingua" else _langdetect(key)


def _candidate_key(candidates: Sequence[str]) -> frozenset[str]:
    if isinstance(candidates, str):
        raise MlsteerError(
            f"candidates must be a list of language codes, not the string {candidates!r}"
        )
    codes = frozenset(candidates)
    bad = sorted(
        c for c in codes if not (isinstance(c, str) and len(c) == 2 and c.isalpha() and c.islower())
    )
    if bad:
        raise MlsteerError(
            f"candidates must be ISO 639-1 codes such as 'en'; got {', '.join(map(repr, bad))}"
        )
    if not codes:
        raise MlsteerError("candidates is empty; pass at least one language code, or None for all")
    return codes


def _has_letters(text: str) -> bool:
    return any(char.isalpha() for char in text)


def _none_supported(name: str, codes: frozenset[str], supported: set[str]) -> MlsteerError:
    return MlsteerError(
        f"{name} knows none of the candidates {', '.join(sorted(codes))}; it knows: {', '.join(sorted(supported))}"
    )


def _only(code: str) -> Detector:
    def detect_only(text: str) -> str | None:
        return code if _has_letters(text) else None

    return detect_only


# --------------------------------------------------------------------------- lingua


@cache
def _lingua_languages() -> dict:
    from lingua import Language

    return {language.iso_code_639_1.name.lower(): language for language in Language.all()}


@lru_cache(maxsize=32)
def _lingua(codes: frozenset[str] | None) -> Detector:
    from lingua import LanguageDetectorBuilder

    known = _lingua_languages()
    if codes is None:
        codes = frozenset(c for c in LANGUAGES if c in known)
    chosen = sorted(c for c in codes if c in known)
    if not chosen:
        raise _none_supported("lingua", codes, set(known))
    if len(chosen) == 1:  # lingua answers None with a single language; it is the only answer
        return _only(chosen[0])
    # High-accuracy mode (n-grams up to 5): on single words low-accuracy mode (trigrams only)
    # scores about 18 points lower. Models load lazily, only for languages a text's script allows.
    detector = LanguageDetectorBuilder.from_languages(*(known[c] for c in chosen)).build()

    def detect_lingua(text: str) -> str | None:
        if not _has_letters(text):
            return None
        language = detector.detect_language_of(text)
        return None if language is None else language.iso_code_639_1.name.lower()

    return detect_lingua


# --------------------------------------------------------------------------- langdetect


def _langdetect_code(code: str) -> str:
    return "zh" if code.startswith("zh") else code  # profiles zh-cn and zh-tw


@cache
def _langdetect_profiles() -> dict[str, str]:
    import langdetect

    folder = os.path.join(os.path.dirname(langdetect.__file__), "profiles")
    return {name: os.path.join(folder, name) for name in sorted(os.listdir(folder))}


@lru_cache(maxsize=32)
def _langdetect(codes: frozenset[str] | None) -> Detector:
    if codes is None:

        def detect_all(text: str) -> str | None:
            if not _has_letters(text):
                return None
            try:
                code = detect(text)
            except LangDetectException:
                return None
            return None if code == "unknown" else _langdetect_code(code)

        return detect_all

    profiles = {
        name: path
        for name, path in _langdetect_profiles().items()
        if _langdetect_code(name) in codes
    }
    chosen = {_langdetect_code(name) for name in profiles}
    if not chosen:
        raise _none_supported(
            "langdetect", codes, {_langdetect_code(n) for n in _langdetect_profiles()}
        )
    if len(profiles) < 2:  # langdetect needs two profiles; one candidate is the only answer
        return _only(next(iter(chosen)))
    # A factory holding only the candidates' profiles: restricting the model itself scores far
    # better on words than filtering ``detect_langs`` (which drops languages under p = 0.1).
    factory = DetectorFactory()
    factory.set_seed(0)
    factory.load_json_profile(
        [Path(path).read_text(encoding="utf-8") for path in profiles.values()]
    )

    def detect_restricted(text: str) -> str | None:
        if not _has_letters(text):
            return None
        detector = factory.create()  # seeded: the same text always gets the same answer
        detector.append(text)
        try:
            code = detector.detect()
        except LangDetectException:
            return None
        return None if code == "unknown" else _langdetect_code(code)

    return detect_restricted
