"""Median difference: the coordinate-wise median of ``goal - source`` over pairs, a mean
difference that a few outlier pairs (misaligned translations) cannot drag."""

from __future__ import annotations

from mlsteer.learners import base
from mlsteer.learners.base import Acts, HeldoutActs
from mlsteer.learners.registry import LearnerSpec, register_learner
from mlsteer.steering.vector import SteeringVector


@register_learner(
    LearnerSpec("mediandiff", "coordinate-wise median of goal - source (robust to outliers)")
)
def learn_median_difference(
    source: Acts,
    goal: Acts,
    *,
    layer: int,
    model_fingerprint: str,
    train_hash: str = "",
    heldout: tuple[HeldoutActs, HeldoutActs] | None = None,
    seed: int = 0,
) -> base.LearnResult:
    """``v = median_i(goal_i - source_i)`` per coordinate."""
    base.check_paired(source, goal)
    median = (goal.float() - source.float()).median(dim=0).values
    norm, info = base.mean_norm(source), {"n_pairs": len(source)}
    vector = SteeringVector(median, layer, "mediandiff", model_fingerprint, norm, train_hash, info)
    return base.LearnResult(vector, base.Diagnostics(**base.heldout_cosines(heldout, vector)))
