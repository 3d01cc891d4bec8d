"""Which language a token can be, from its Unicode script alone (the logit lens's first rule).

Non-Latin scripts name a language (or a short list) without any model: Thai letters are Thai,
kana are Japanese, Hangul Korean. Latin, and Han without kana, stay ambiguous and are left to
a language detector. Tokens with no letters (digits, punctuation, whitespace, byte pieces)
belong to no language.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

# Script (first word of the Unicode character name) -> the project languages it points to.
SCRIPT_LANGUAGES: dict[str, tuple[str, ...]] = {
    "THAI": ("th",),
    "HIRAGANA": ("ja",),
    "KATAKANA": ("ja",),
    "HANGUL": ("ko",),
    "CJK": ("zh", "ja"),
    "BENGALI": ("bn",),
    "TELUGU": ("te",),
    "TAMIL": ("ta",),
    "DEVANAGARI": ("hi",),
    "ARABIC": ("ar",),
    "GREEK": ("el",),
    "CYRILLIC": ("ru",),
    "LATIN": ("en", "de", "es", "fr", "it", "pt", "id", "tr", "vi", "sw", "et", "ht", "qu"),
}


def char_script(char: str) -> str | None:
    """The script of one letter (``LATIN``, ``THAI``, ``CJK``...), ``None`` for non-letters."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    script = name.split(" ")[0] if name else None
    return script if script in SCRIPT_LANGUAGES else "OTHER"


def dominant_script(text: str) -> str | None:
    """The most frequent script among ``text``'s letters; kana anywhere makes Han Japanese."""
    scripts = Counter(s for s in (char_script(c) for c in text) if s is not None)
    if not scripts:
        return None
    if scripts.get("HIRAGANA") or scripts.get("KATAKANA"):
        return "HIRAGANA"
    return scripts.most_common(1)[0][0]


def script_languages(text: str) -> tuple[str, ...]:
    """Languages ``text`` can belong to by script: one for unambiguous scripts, several for
    Latin and Han, none for text without letters."""
    script = dominant_script(text)
    return SCRIPT_LANGUAGES.get(script, ()) if script else ()
