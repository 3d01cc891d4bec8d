"""How close each language's representations are to English, per layer (the paper's Figure 2),
and a language-by-language distance matrix. Pure tensor functions; activations come from
:func:`mlsteer.activations.collect.cache_activations` (``[text, layer, d_model]``).

Dimension glossary: ``pair`` aligned (target sentence, English sentence) pairs, ``layer`` the
cached layers, ``d`` d_model, ``lang`` languages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from mlsteer.errors import EmptyInputError, MlsteerError

PAPER_THRESHOLD = 0.5  # Figure 2's dashed line: high-resource languages above, mid/low below


def _check_finite(name: str, tensor: Tensor) -> None:
    if not torch.isfinite(tensor).all():
        raise MlsteerError(
            f"{name} contains NaN/inf; re-cache the activations (check the model's dtype)"
        )


def similarity_to_english(
    target: Float[Tensor, "pair layer d"],
    english: Float[Tensor, "pair layer d"],
    center: bool = False,
) -> Float[Tensor, " layer"]:
    """Mean over pairs of cosine(target_i, english_i), per layer.

    ``center=True`` first subtracts, per layer, the mean over all rows of both sets. Why:
    Gemma's residual stream (like most LLMs') has a large component shared by every token, so
    raw cosines sit near 1 for any two sentences and hide the differences between languages;
    centering removes that shared direction before comparing.
    """
    if target.ndim != 3 or english.ndim != 3:
        raise MlsteerError(
            f"expected [pair, layer, d_model] activations; got {tuple(target.shape)} and "
            f"{tuple(english.shape)} (cache_activations returns this shape)"
        )
    if target.shape != english.shape:
        raise MlsteerError(
            f"target activations {tuple(target.shape)} vs English {tuple(english.shape)}; "
            "pairs must be aligned one to one at the same layers"
        )
    if target.shape[0] == 0 or target.shape[1] == 0:
        raise EmptyInputError("no activations to compare; pass at least one pair and one layer")
    _check_finite("target activations", target)
    _check_finite("English activations", english)
    # float64 inside: float32 rounding leaves identical rows at 0.9999999; back to float32 it is 1
    target, english = target.double(), english.double()
    if center:
        # per-layer mean over the 2 * pair rows of both sets: [1, layer, d]
        shared = torch.cat([target, english]).mean(dim=0, keepdim=True)
        target, english = target - shared, english - shared
    return torch.cosine_similarity(target, english, dim=-1).mean(dim=0).float()


@dataclass(frozen=True)
class SimilarityResult:
    """Similarity to English for each language (rows) at each layer (columns)."""

    langs: tuple[str, ...]
    layers: tuple[int, ...]
    values: Float[Tensor, "lang layer"]
    threshold: float = PAPER_THRESHOLD

    def __post_init__(self) -> None:
        expected = (len(self.langs), len(self.layers))
        if tuple(self.values.shape) != expected:
            raise MlsteerError(
                f"values of shape {tuple(self.values.shape)} for {expected[0]} languages x "
                f"{expected[1]} layers; expected {expected}"
            )

    def first_layer_above(self, lang: str) -> int | None:
        """The first layer where ``lang``'s similarity is >= threshold; ``None`` if it never is."""
        if lang not in self.langs:
            raise MlsteerError(
                f"no language {lang!r} in this result; it has: {', '.join(self.langs)}"
            )
        row = self.values[self.langs.index(lang)]
        for layer, value in zip(self.layers, row.tolist()):
            if value >= self.threshold:
                return layer
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (lists and floats)."""
        return {
            "langs": list(self.langs),
            "layers": list(self.layers),
            "values": self.values.tolist(),
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimilarityResult:
        missing = [key for key in ("langs", "layers", "values") if key not in data]
        if missing:
            raise MlsteerError(
                f"similarity result is missing {', '.join(missing)}; was it written by to_dict?"
            )
        langs, layers = tuple(data["langs"]), tuple(int(layer) for layer in data["layers"])
        values = torch.tensor(data["values"], dtype=torch.float32)
        if values.numel() == len(langs) * len(layers):  # [] for no languages reads as shape (0,)
            values = values.reshape(len(langs), len(layers))
        return cls(
            langs=langs,
            layers=layers,
            values=values,
            threshold=float(data.get("threshold", PAPER_THRESHOLD)),
        )


def similarity_by_language(
    pairs: Mapping[str, tuple[Float[Tensor, "pair layer d"], Float[Tensor, "pair layer d"]]],
    layers: Sequence[int],
    center: bool = False,
    threshold: float = PAPER_THRESHOLD,
) -> SimilarityResult:
    """:func:`similarity_to_english` for each language's (target, English) activations, as one
    result; ``layers`` are the model layer indices of the cached layer axis."""
    if not pairs:
        raise EmptyInputError(
            "no languages to compare; pass at least one (target, English) pair set"
        )
    rows = []
    for lang, (target, english) in pairs.items():
        if target.ndim == 3 and target.shape[1] != len(layers):
            raise MlsteerError(
                f"{lang}: {target.shape[1]} cached layers but {len(layers)} layer indices given"
            )
        rows.append(similarity_to_english(target, english, center=center))
    return SimilarityResult(tuple(pairs), tuple(layers), torch.stack(rows), threshold)


def language_distance_matrix(
    means: Mapping[str, Float[Tensor, " d"]],
) -> tuple[tuple[str, ...], Float[Tensor, "lang lang"]]:
    """1 - cosine between every two languages' mean activations at one layer."""
    if not means:
        raise EmptyInputError("no languages given; pass at least one mean activation")
    langs = tuple(means)
    stacked = torch.stack([means[lang].float() for lang in langs])
    if stacked.ndim != 2:
        raise MlsteerError(
            "expected one [d_model] mean per language; "
            f"got rows of shape {tuple(stacked.shape[1:])}"
        )
    _check_finite("mean activations", stacked)
    norms = stacked.norm(dim=-1, keepdim=True)
    if (norms == 0).any():
        zero = [lang for lang, norm in zip(langs, norms.flatten().tolist()) if norm == 0]
        raise MlsteerError(
            f"mean activation of {', '.join(zero)} is all zeros; cosine is undefined"
        )
    unit = stacked / norms
    cosine = unit @ unit.T
    # symmetrise and pin the diagonal: matmul rounding leaves 1e-7 noise there
    distance = 1 - (cosine + cosine.T) / 2
    distance.fill_diagonal_(0.0)
    return langs, distance
