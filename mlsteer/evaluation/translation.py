"""Translators for translate-test and self-translation, and a file cache in front of any of them.

- ``oracle_english``: the human English version of a parallel item (MGSM, XNLI, MSVAMP, XCOPA's
  sources): the upper bound a perfect translator would give, our stand-in for the paper's
  Google-Translate row. It is not text-level, so the evaluation methods handle it directly.
- :class:`NLLBTranslator`: a transformers translation pipeline (facebook/nllb-200-distilled-600M
  by default; a local folder works too).
- :class:`SelfTranslator`: the evaluated model itself, prompted to translate (Etxaniz et al. 2023).
- :class:`CachedTranslator`: a JSON-lines cache keyed by language and text, written as it goes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from mlsteer.hashing import hash_texts
from mlsteer.languages import get_language
from mlsteer.models.wrapper import SteerableModel

# NLLB's FLORES-200 codes for the project's languages.
NLLB_CODES = {
    "en": "eng_Latn",
    "de": "deu_Latn",
    "es": "spa_Latn",
    "fr": "fra_Latn",
    "it": "ita_Latn",
    "pt": "por_Latn",
    "ru": "rus_Cyrl",
    "zh": "zho_Hans",
    "ja": "jpn_Jpan",
    "ar": "arb_Arab",
    "el": "ell_Grek",
    "hi": "hin_Deva",
    "id": "ind_Latn",
    "th": "tha_Thai",
    "tr": "tur_Latn",
    "vi": "vie_Latn",
    "bn": "ben_Beng",
    "sw": "swh_Latn",
    "te": "tel_Telu",
    "et": "est_Latn",
    "ht": "hat_Latn",
    "qu": "quy_Latn",
    "ta": "tam_Taml",
}


@runtime_checkable
class Translator(Protocol):
    name: str

    def translate(self, texts: Sequence[str], source_lang: str) -> list[str]:
        """English translations of ``texts`` written in ``source_lang``."""


class SelfTranslator:
    """The evaluated model translates its own input (greedy, one line)."""

    name = "self"

    def __init__(
        self, model: SteerableModel, max_new_tokens: int = 96, batch_size: int = 8
    ) -> None:
        self.model, self.max_new_tokens, self.batch_size = model, max_new_tokens, batch_size

    def prompt(self, text: str, source_lang: str) -> str:
        name = get_language(source_lang).name
        return f"Translate the following text from {name} to English.\n{name}: {text.strip()}\nEnglish:"

    def translate(self, texts: Sequence[str], source_lang: str) -> list[str]:
        from mlsteer.steering.generate import generate

        out: list[str] = []
        for start in range(0, len(texts), self.batch_size):
            prompts = [self.prompt(t, source_lang) for t in texts[start : start + self.batch_size]]
            generated = generate(self.model, prompts, self.max_new_tokens, stop_strings=("\n",))
            out.extend(text.strip() for text in generated.texts)
        return out


class NLLBTranslator:
    """NLLB through ``transformers.pipeline("translation")``; ``model_id`` may be a local folder."""

    name = "nllb"

    def __init__(
        self,
        model_id: str = "facebook/nllb-200-distilled-600M",
        device: str = "cpu",
        batch_size: int = 8,
    ) -> None:
        from transformers import pipeline

        self.pipe = pipeline("translation", model=model_id, device=device)
        self.batch_size = batch_size

    def translate(self, texts: Sequence[str], source_lang: str) -> list[str]:
        outputs = self.pipe(
            list(texts),
            src_lang=NLLB_CODES[source_lang],
            tgt_lang=NLLB_CODES["en"],
            batch_size=self.batch_size,
        )
        return [o["translation_text"] for o in outputs]


class CachedTranslator:
    """Looks each text up in ``path`` first; new translations are appended as they come."""

    def __init__(self, inner: Translator, path: str | os.PathLike) -> None:
        self.inner, self.path = inner, Path(path)
        self.name = inner.name
        self.cache: dict[str, str] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    self.cache[row["key"]] = row["english"]

    def _key(self, text: str, source_lang: str) -> str:
        return f"{self.inner.name}:{source_lang}:{hash_texts([text])}"

    def translate(self, texts: Sequence[str], source_lang: str) -> list[str]:
        missing = sorted({t for t in texts if self._key(t, source_lang) not in self.cache})
        if missing:
            translated = self.inner.translate(missing, source_lang)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                for text, english in zip(missing, translated, strict=True):
                    key = self._key(text, source_lang)
                    self.cache[key] = english
                    handle.write(
                        json.dumps(
                            {"key": key, "lang": source_lang, "text": text, "english": english},
                            ensure_ascii=False,
                        )
                        + "\n"
                    )
        return [self.cache[self._key(t, source_lang)] for t in texts]
