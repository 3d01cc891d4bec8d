"""PCA of paired differences (as repeng and steering-vectors do): the top principal direction."""

from __future__ import annotations

import torch

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
    LearnerSpec("pca", "top principal direction of the paired differences; closed form")
)
def learn_pca(
    source: Acts,
    goal: Acts,
    *,
    layer: int,
    model_fingerprint: str,
    train_hash: str = "",
    heldout: tuple[HeldoutActs, HeldoutActs] | None = None,
    seed: int = 0,
) -> LearnResult:
    """First right singular vector of the uncentred differences ``goal - source``.

    Uncentred, because centring would subtract the shared shift, which is the signal. The sign
    is fixed so the vector points toward the goal language (positive mean projection), and the
    length is the mean projection, so it is on the scale of the mean difference.
    """
    check_paired(source, goal)
    deltas = goal.float() - source.float()
    _, singular, right = torch.linalg.svd(deltas, full_matrices=False)
    direction = right[0]
    projection = float((deltas @ direction).mean())
    if projection < 0:
        direction, projection = -direction, -projection
    explained = float(singular[0] ** 2 / (singular**2).sum())
    vector = SteeringVector(
        vector=direction * projection,
        layer=layer,
        method="pca",
        model_fingerprint=model_fingerprint,
        resid_norm=mean_norm(source),
        train_hash=train_hash,
        info={"n_pairs": len(source), "explained_variance": explained},
    )
    return LearnResult(
        vector,
        Diagnostics(**heldout_cosines(heldout, vector), extra={"explained_variance": explained}),
    )
