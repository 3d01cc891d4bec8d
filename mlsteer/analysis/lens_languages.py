"""Which language each layer "thinks" in: logit-lens top-k tokens attributed to languages.

Pure functions over :class:`mlsteer.activations.lens.LensTopK`. A token's language comes from
its script when that is unambiguous (:mod:`mlsteer.analysis.scripts`), else from a short-text
detector restricted to the languages the script allows; tokens with no letters, or that the
detector cannot place, count as ``other``. Each layer's distribution is the probability mass of
the top-k tokens per language, normalised over the top-k, averaged over texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from mlsteer.activations.lens import LensTopK
from mlsteer.analysis.scripts import script_languages
from mlsteer.langid import DEFAULT_TOKEN_DETECTOR, get_detector

Detector = Callable[[str], str | None]  # text -> ISO 639-1 code, or None when unsure
_MARKERS = ("▁", "Ġ", "Ċ")  # SentencePiece / byte-level BPE space and newline markers


def clean_token(token: str) -> str:
    for marker in _MARKERS:
        token = token.replace(marker, " ")
    return token.strip()


def token_language(token: str, detect: Detector | None = None) -> str | None:
    """The language of one lens token: by script, else by ``detect`` within the script's
    candidates; ``None`` when it has no letters or stays ambiguous."""
    text = clean_token(token)
    candidates = script_languages(text)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates or detect is None:
        return None
    guess = detect(text)
    return guess if guess in candidates else None


def script_restricted_detector(name: str = DEFAULT_TOKEN_DETECTOR) -> Detector:
    """A token detector that only chooses among the languages the token's script allows
    (lingua by default: on single words it beats langdetect, 81% vs 63% on the project's
    labelled word list; ``bench/token_langid.py``)."""

    def detect(text: str) -> str | None:
        candidates = script_languages(text)
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        return get_detector(name, candidates)(text)

    return detect


def language_distribution(
    lens: LensTopK, langs: Sequence[str], detect: Detector | None = None
) -> Float[Tensor, "layer lang"]:
    """Share of top-k probability per layer for each of ``langs`` plus a last ``other`` column."""
    columns = {lang: i for i, lang in enumerate(langs)}
    n_texts, n_layers, _ = lens.probs.shape
    mass = torch.zeros(n_texts, n_layers, len(langs) + 1)
    cache: dict[str, str | None] = {}
    for t in range(n_texts):
        for layer in range(n_layers):
            for token, prob in zip(lens.tokens[t][layer], lens.probs[t, layer].tolist()):
                if token not in cache:
                    cache[token] = token_language(token, detect)
                mass[t, layer, columns.get(cache[token], len(langs))] += prob
    total = mass.sum(-1, keepdim=True).clamp_min(1e-12)
    return (mass / total).mean(0)
