"""Wendler et al. (2024, "Do Llamas work in English?"): is English the latent language?

Few-shot word translation between two non-English languages (``Français: "fleur" - 中文: "``),
read with the logit lens at the last position: per layer, the probability mass on tokens that
start the English answer word versus tokens that start the target-language answer word. A
hump of English mass in the middle layers while neither prompt nor answer is English is the
paper's evidence for an English-centred latent space.

Pure functions: words and vocabularies in, prompts, token ids and :class:`WendlerResult` out;
the masses come from :func:`mlsteer.activations.lens.logit_lens_mass`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from mlsteer.analysis.lens_languages import clean_token
from mlsteer.errors import EmptyInputError, MlsteerError

# Each language's name in itself, as the prompt writes it (the word list's 19 languages + English).
NATIVE_NAMES = {
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "de": "Deutsch",
    "it": "Italiano",
    "pt": "Português",
    "id": "Bahasa Indonesia",
    "tr": "Türkçe",
    "vi": "Tiếng Việt",
    "sw": "Kiswahili",
    "zh": "中文",
    "ja": "日本語",
    "ru": "Русский",
    "th": "ไทย",
    "bn": "বাংলা",
    "te": "తెలుగు",
    "ar": "العربية",
    "hi": "हिन्दी",
    "el": "Ελληνικά",
}

VocabIndex = Mapping[str, Sequence[int]]  # cleaned token text -> ids


def vocab_index(vocab: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Token id lists keyed by the token's text with space markers stripped (``▁fleur`` and
    ``fleur`` share a key); built once per vocabulary so each word lookup is O(len(word))."""
    index: dict[str, list[int]] = defaultdict(list)
    for token_id, token in enumerate(vocab):
        text = clean_token(token) if token else ""
        if text:
            index[text].append(token_id)
    return {text: tuple(ids) for text, ids in index.items()}


def prefix_token_ids(vocab: Sequence[str] | VocabIndex, word: str) -> list[int]:
    """Sorted ids of the tokens that are a non-empty prefix of ``word`` or of its lowercase form,
    with or without a leading space marker. ``vocab`` is the token list (id order) or, to look
    up many words, its :func:`vocab_index`."""
    index = vocab if isinstance(vocab, Mapping) else vocab_index(vocab)
    ids: set[int] = set()
    for form in {word.strip(), word.strip().lower()}:
        for end in range(1, len(form) + 1):
            ids.update(index.get(form[:end].strip(), ()))
    return sorted(ids)


def answer_token_sets(
    vocab: Sequence[str] | VocabIndex, english: str, target: str
) -> tuple[list[int], list[int]]:
    """(English ids, target ids): :func:`prefix_token_ids` of each word, minus the tokens that
    start both (``fl`` for flower/flor): mass on those says nothing about which language the
    layer is in, so it counts for neither. Either list may come back empty (identical words,
    or one a prefix of the other); such items can't be measured and callers drop them."""
    english_ids, target_ids = (
        set(prefix_token_ids(vocab, english)),
        set(prefix_token_ids(vocab, target)),
    )
    shared = english_ids & target_ids
    return sorted(english_ids - shared), sorted(target_ids - shared)


@dataclass(frozen=True)
class TranslationPrompt:
    """One query: the few-shot prompt text and the answers it is scored against."""

    text: str
    english: str  # the latent answer
    target: str  # the expected answer
    source: str  # the word being translated


def build_translation_prompts(
    words: Sequence[Mapping[str, str]],
    source_lang: str,
    target_lang: str,
    n_shots: int = 4,
    seed: int = 0,
) -> list[TranslationPrompt]:
    """Wendler's translation prompts, one per usable word row (``{lang: word}`` with ``en``).

    ``n_shots`` lines ``Français: "livre" - 中文: "书"`` drawn (seeded) from the other rows, then
    the query ``Français: "fleur" - 中文: "``. Rows missing a word are skipped; rows whose
    English and target words are the same string (ignoring case, e.g. "taxi") are excluded as
    queries because English and target mass could not be told apart (they may still be shots).
    """
    for lang in (source_lang, target_lang):
        if lang not in NATIVE_NAMES:
            raise MlsteerError(
                f"no prompt name for language {lang!r}; use one of: {', '.join(NATIVE_NAMES)}"
            )
    if "en" in (source_lang, target_lang) or source_lang == target_lang:
        raise MlsteerError(
            f"source {source_lang!r} and target {target_lang!r} must be two different non-English "
            "languages (English must stay latent); pick another source language"
        )
    if n_shots < 0:
        raise MlsteerError(f"n_shots is {n_shots}; use 0 or more")
    rows = [
        row
        for row in words
        if all((row.get(lang) or "").strip() for lang in ("en", source_lang, target_lang))
    ]
    if len(rows) < n_shots + 1:
        raise EmptyInputError(
            f"{len(rows)} word rows have en, {source_lang} and {target_lang}; {n_shots} shots need at "
            f"least {n_shots + 1}: add words or lower n_shots"
        )
    src, tgt = NATIVE_NAMES[source_lang], NATIVE_NAMES[target_lang]

    def line(row: Mapping[str, str]) -> str:
        return f'{src}: "{row[source_lang].strip()}" - {tgt}: "{row[target_lang].strip()}"'

    rng = random.Random(seed)
    prompts = []
    for i, row in enumerate(rows):
        english, target = row["en"].strip(), row[target_lang].strip()
        if english.lower() == target.lower():
            continue
        shots = rng.sample([other for j, other in enumerate(rows) if j != i], n_shots)
        query = f'{src}: "{row[source_lang].strip()}" - {tgt}: "'
        text = "\n".join([*map(line, shots), query])
        prompts.append(TranslationPrompt(text, english, target, row[source_lang].strip()))
    if not prompts:
        raise EmptyInputError(
            f"every {target_lang} word equals its English word; no prompt can be measured"
        )
    return prompts


@dataclass(frozen=True)
class WendlerResult:
    """Mean and standard error over prompts of the lens mass on English and target answers."""

    layers: tuple[int, ...]
    n_prompts: int
    english_mean: Float[Tensor, " layer"]
    english_se: Float[Tensor, " layer"]
    target_mean: Float[Tensor, " layer"]
    target_se: Float[Tensor, " layer"]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (lists and floats)."""
        return {
            "layers": list(self.layers),
            "n_prompts": self.n_prompts,
            "english_mean": self.english_mean.tolist(),
            "english_se": self.english_se.tolist(),
            "target_mean": self.target_mean.tolist(),
            "target_se": self.target_se.tolist(),
        }


def answer_mass(
    mass: Float[Tensor, "prompt layer 2"], layers: Sequence[int] | None = None
) -> WendlerResult:
    """Per layer, mean and standard error (sample std / sqrt(n); 0 for one prompt) of
    ``mass[..., 0]`` (English) and ``mass[..., 1]`` (target); ``layers`` label the layer axis
    (default 0, 1, ...)."""
    if mass.ndim != 3 or mass.shape[-1] != 2:
        raise MlsteerError(
            f"mass of shape {tuple(mass.shape)}; expected [prompt, layer, 2] (English, target), "
            "as logit_lens_mass returns for two token sets per prompt"
        )
    if mass.shape[0] == 0 or mass.shape[1] == 0:
        raise EmptyInputError("mass has no prompts or no layers; pass at least one of each")
    if not torch.isfinite(mass).all():
        raise MlsteerError("mass contains NaN/inf; recompute it (check the model's dtype)")
    layers = tuple(range(mass.shape[1])) if layers is None else tuple(layers)
    if len(layers) != mass.shape[1]:
        raise MlsteerError(
            f"{len(layers)} layer labels for {mass.shape[1]} layers in mass; pass one per layer"
        )
    n = mass.shape[0]
    values = mass.double()
    mean = values.mean(0)
    se = values.std(0, correction=1) / n**0.5 if n > 1 else torch.zeros_like(mean)
    return WendlerResult(
        layers, n, mean[:, 0].float(), se[:, 0].float(), mean[:, 1].float(), se[:, 1].float()
    )
