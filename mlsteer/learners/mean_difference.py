"""Mean difference (CAA): the vector from the mean of one set of activations to another's."""

from __future__ import annotations

from jaxtyping import Float
from torch import Tensor

from mlsteer.errors import EmptyInputError, MlsteerError
from mlsteer.steering.vector import SteeringVector


def check_paired(away: Tensor, toward: Tensor) -> None:
    """Raise unless ``away`` and ``toward`` are equally many ``[n, d_model]`` rows."""
    if away.ndim != 2 or toward.ndim != 2:
        raise MlsteerError(
            f"expected [n, d_model] activations at one layer; got {tuple(away.shape)} and "
            f"{tuple(toward.shape)} (select a layer with ActivationSet.at_layer)"
        )
    if len(away) == 0:
        raise EmptyInputError("no activations to learn from; pass at least one pair")
    if away.shape != toward.shape:
        raise MlsteerError(
            f"{len(away)} 'away' activations of width {away.shape[1]} vs {len(toward)} 'toward' "
            f"of width {toward.shape[1]}; pairs must be aligned one to one with equal widths"
        )


def mean_difference(
    away: Float[Tensor, "pair d_model"],
    toward: Float[Tensor, "pair d_model"],
    *,
    layer: int,
    model_fingerprint: str,
    train_hash: str = "",
    info: dict | None = None,
) -> SteeringVector:
    """``mean(toward) - mean(away)``: adding it moves ``away`` activations onto ``toward``'s mean.

    For the paper's direction (target language -> English) pass target as ``away`` and
    English as ``toward``.
    """
    check_paired(away, toward)
    vector = toward.float().mean(0) - away.float().mean(0)
    resid_norm = float(away.float().norm(dim=1).mean())
    return SteeringVector(
        vector=vector,
        layer=layer,
        method="meandiff",
        model_fingerprint=model_fingerprint,
        resid_norm=resid_norm,
        train_hash=train_hash,
        info={"n_pairs": len(away), **(info or {})},
    )
