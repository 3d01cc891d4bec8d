"""Least-squares map (INCLINE, Wang et al. 2024): the affine map from source to goal activations."""

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
from mlsteer.steering.vector import SteeringMap


@register_learner(
    LearnerSpec(
        "lstsq",
        "ridge least-squares affine map from source to goal (INCLINE)",
        output="map",
    )
)
def learn_lstsq(
    source: Acts,
    goal: Acts,
    *,
    layer: int,
    model_fingerprint: str,
    train_hash: str = "",
    heldout: tuple[HeldoutActs, HeldoutActs] | None = None,
    seed: int = 0,
    ridge: float = 0.1,
) -> LearnResult:
    """``W, b = argmin |source W + b - goal|² + λ|W|²`` with ``λ = ridge · mean eigenvalue``.

    INCLINE solves plain least squares on many pairs; with fewer pairs than d_model that is
    underdetermined and memorises the training pairs, so a ridge term (scaled to the data, the
    bias left unpenalised) is on by default. ``ridge=0`` gives the minimum-norm solution.
    """
    check_paired(source, goal)
    x, y = source.double(), goal.double()
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc, yc = x - x_mean, y - y_mean
    gram = xc.T @ xc
    penalty = ridge * float(torch.diagonal(gram).mean())
    eye = torch.eye(gram.shape[0], dtype=gram.dtype)
    if penalty > 0:
        matrix = torch.linalg.solve(gram + penalty * eye, xc.T @ yc)
    else:
        matrix = torch.linalg.lstsq(xc, yc, driver="gelsd").solution
    bias = y_mean - x_mean @ matrix
    steering = SteeringMap(
        matrix=matrix.float(),
        bias=bias.float(),
        layer=layer,
        method="lstsq",
        model_fingerprint=model_fingerprint,
        resid_norm=mean_norm(source),
        train_hash=train_hash,
        info={"n_pairs": len(source), "ridge": ridge},
    )
    return LearnResult(steering, Diagnostics(**heldout_cosines(heldout, steering)))
