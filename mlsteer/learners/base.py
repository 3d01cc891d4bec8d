"""What every learner returns, and the diagnostics they share (pure tensor functions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from jaxtyping import Float
from torch import Tensor

from mlsteer.errors import EmptyInputError, MlsteerError
from mlsteer.steering.vector import Steering

Acts = Float[Tensor, "pair d_model"]
# held-out pairs are a different set: their own pair axis
HeldoutActs = Float[Tensor, "heldout d_model"]


@dataclass(frozen=True)
class Diagnostics:
    """How learning went: the loss per optimiser step (empty for closed forms) and the mean
    cosine between steered source activations and goal activations on held-out pairs."""

    losses: tuple[float, ...] = ()
    heldout_cosine_before: float | None = None
    heldout_cosine_after: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LearnResult:
    steering: Steering
    diagnostics: Diagnostics


@runtime_checkable
class Learner(Protocol):
    """``source`` activations (target language: what gets steered) and aligned ``goal``
    activations (English, or a pivot language) at one layer in; a learned steering out."""

    def __call__(
        self,
        source: Acts,
        goal: Acts,
        *,
        layer: int,
        model_fingerprint: str,
        train_hash: str = "",
        heldout: tuple[HeldoutActs, HeldoutActs] | None = None,
        seed: int = 0,
    ) -> LearnResult: ...


def check_paired(source: Tensor, goal: Tensor) -> None:
    """Raise unless ``source`` and ``goal`` are equally many finite ``[n, d_model]`` rows."""
    if source.ndim != 2 or goal.ndim != 2:
        raise MlsteerError(
            f"expected [n, d_model] activations at one layer; got {tuple(source.shape)} and "
            f"{tuple(goal.shape)} (select a layer with ActivationSet.at_layer)"
        )
    if len(source) == 0 or len(goal) == 0:
        raise EmptyInputError("no activations to learn from; pass at least one pair")
    if source.shape != goal.shape:
        raise MlsteerError(
            f"{len(source)} source activations of width {source.shape[1]} vs {len(goal)} goal "
            f"activations of width {goal.shape[1]}; pairs must be aligned one to one"
        )
    if not (torch.isfinite(source).all() and torch.isfinite(goal).all()):
        raise MlsteerError("activations contain NaN/inf; re-cache them (check the model's dtype)")


def mean_norm(acts: Acts) -> float:
    """Mean L2 norm of the rows: the scale 'relative' alpha is measured against."""
    return float(acts.float().norm(dim=-1).mean())


def alignment_cosine(
    source: Acts, goal: Acts, steering: Steering | None = None, alpha: float = 1.0
) -> float:
    """Mean cosine between (steered) source rows and their goal rows."""
    source = source.float()
    if steering is not None:
        source = steering.apply(source.unsqueeze(1), torch.ones(len(source), 1), alpha)[:, 0]
    return float(torch.cosine_similarity(source, goal.float(), dim=-1).mean())


def heldout_cosines(
    heldout: tuple[HeldoutActs, HeldoutActs] | None, steering: Steering
) -> dict[str, float | None]:
    """Before/after cosines on held-out pairs (``None`` when there are none)."""
    if heldout is None:
        return {"heldout_cosine_before": None, "heldout_cosine_after": None}
    check_paired(*heldout)
    return {
        "heldout_cosine_before": alignment_cosine(*heldout),
        "heldout_cosine_after": alignment_cosine(*heldout, steering=steering),
    }
