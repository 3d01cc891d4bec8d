"""Mean difference (CAA, Panickssery et al. 2024): the vector between the two means."""

from __future__ import annotations

from mlsteer.learners.base import (
    Acts,
    Diagnostics,
    HeldoutActs,
    LearnResult,
    check_paired,
    heldout_cosines,
    mean_norm,
)
from mlsteer.learners.registry import LearnerSpec, register_learner
from mlsteer.steering.vector import SteeringVector


@register_learner(
    LearnerSpec("meandiff", "mean difference of goal and source activations (CAA); closed form")
)
def learn_mean_difference(
    source: Acts,
    goal: Acts,
    *,
    layer: int,
    model_fingerprint: str,
    train_hash: str = "",
    heldout: tuple[HeldoutActs, HeldoutActs] | None = None,
    seed: int = 0,
    info: dict | None = None,
) -> LearnResult:
    """``v = mean(goal) - mean(source)``: adding v moves the source mean onto the goal mean."""
    check_paired(source, goal)
    vector = SteeringVector(
        vector=goal.float().mean(0) - source.float().mean(0),
        layer=layer,
        method="meandiff",
        model_fingerprint=model_fingerprint,
        resid_norm=mean_norm(source),
        train_hash=train_hash,
        info={"n_pairs": len(source), **(info or {})},
    )
    return LearnResult(vector, Diagnostics(**heldout_cosines(heldout, vector)))
