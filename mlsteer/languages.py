"""The one table of languages mlsteer knows: codes, names, scripts, families, resource tiers.

Resource tiers (high: de es fr it pt ru zh ja; medium: ar el hi id th tr vi; low: bn sw te) are a
common grouping by each language's share of web pre-training text (CommonCrawl statistics);
it is the project's convention for averaging results, not a grouping taken from the paper.
English is its own tier (``pivot``). Corpus-specific codes (Tatoeba's ISO 639-3, MSVAMP's
file names) live here too, so readers never carry their own copies.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlsteer.errors import MlsteerError


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1, used everywhere in mlsteer's API
    name: str
    script: str  # Unicode script of most of its text
    family: str
    tier: str  # pivot, high, medium, low, other
    iso3: str  # ISO 639-3 as used by Tatoeba / LASER file names


_ROWS = [
    ("en", "English", "Latin", "Indo-European/Germanic", "pivot", "eng"),
    ("de", "German", "Latin", "Indo-European/Germanic", "high", "deu"),
    ("es", "Spanish", "Latin", "Indo-European/Romance", "high", "spa"),
    ("fr", "French", "Latin", "Indo-European/Romance", "high", "fra"),
    ("it", "Italian", "Latin", "Indo-European/Romance", "high", "ita"),
    ("pt", "Portuguese", "Latin", "Indo-European/Romance", "high", "por"),
    ("ru", "Russian", "Cyrillic", "Indo-European/Slavic", "high", "rus"),
    ("zh", "Chinese", "Han", "Sino-Tibetan", "high", "cmn"),
    ("ja", "Japanese", "Japanese", "Japonic", "high", "jpn"),
    ("ar", "Arabic", "Arabic", "Afro-Asiatic/Semitic", "medium", "ara"),
    ("el", "Greek", "Greek", "Indo-European/Hellenic", "medium", "ell"),
    ("hi", "Hindi", "Devanagari", "Indo-European/Indo-Aryan", "medium", "hin"),
    ("id", "Indonesian", "Latin", "Austronesian", "medium", "ind"),
    ("th", "Thai", "Thai", "Kra-Dai", "medium", "tha"),
    ("tr", "Turkish", "Latin", "Turkic", "medium", "tur"),
    ("vi", "Vietnamese", "Latin", "Austroasiatic", "medium", "vie"),
    ("bn", "Bengali", "Bengali", "Indo-European/Indo-Aryan", "low", "ben"),
    ("sw", "Swahili", "Latin", "Niger-Congo/Bantu", "low", "swh"),
    ("te", "Telugu", "Telugu", "Dravidian", "low", "tel"),
    ("et", "Estonian", "Latin", "Uralic", "other", "est"),
    ("ht", "Haitian Creole", "Latin", "French Creole", "other", "hat"),
    ("qu", "Quechua", "Latin", "Quechuan", "other", "que"),
    ("ta", "Tamil", "Tamil", "Dravidian", "other", "tam"),
]
LANGUAGES: dict[str, Language] = {row[0]: Language(*row) for row in _ROWS}
TIERS: dict[str, tuple[str, ...]] = {
    tier: tuple(code for code, lang in LANGUAGES.items() if lang.tier == tier)
    for tier in ("high", "medium", "low")
}


def get_language(code: str) -> Language:
    """The :class:`Language` for an ISO 639-1 code; raises listing the known codes."""
    try:
        return LANGUAGES[code]
    except KeyError:
        raise MlsteerError(
            f"unknown language code {code!r}; use an ISO 639-1 code, one of: {', '.join(LANGUAGES)}"
        ) from None


def check_languages(
    codes: list[str] | tuple[str, ...], available: list[str] | tuple[str, ...], where: str
) -> list[str]:
    """Validate ``codes`` against what ``where`` (a corpus or task) has; raise naming both."""
    for code in codes:
        get_language(code)
        if code not in available:
            raise MlsteerError(
                f"{where} has no {code!r} ({get_language(code).name}); it has: {', '.join(sorted(available))}"
            )
    return list(codes)
