"""Language identification of generated text (langdetect, seeded so results repeat)."""

from __future__ import annotations

from langdetect import DetectorFactory, detect
from langdetect.lang_detect_exception import LangDetectException

DetectorFactory.seed = 0  # langdetect samples internally; a fixed seed makes it deterministic


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text`` by langdetect, or ``"unknown"`` when it finds no features."""
    try:
        return detect(text)
    except LangDetectException:  # empty text, digits or punctuation only
        return "unknown"
