"""MSE alignment (paper eq. 5, Algorithm 2): the v minimising MSE(source + v, goal).

The minimiser has a closed form, the mean of ``goal - source``; the iterative form is the
paper's optimiser loop, kept so its settings can be studied. The paper's Appendix C settings
(lr 1e-8, 3-12 epochs) barely move v from zero under AdamW: each step moves a coordinate by
about lr, so 1,000 pairs x 12 epochs move it by ~1e-4 while residual coordinates are O(1-100).
They are offered as the ``PAPER_MSE`` preset; the default converges (see the tests).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from tqdm.auto import tqdm

from mlsteer.errors import check_choice
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


@dataclass(frozen=True)
class MSEConfig:
    """AdamW settings of the iterative form. ``lr=None`` picks ``lr_scale`` times the largest
    coordinate of the mean of ``goal - source``: Adam moves every coordinate by about lr per
    step, so lr must let the largest one (Gemma has outlier dimensions in the hundreds) be
    reached; the learning rate then decays to zero on a cosine so the last steps settle."""

    lr: float | None = None
    lr_scale: float = 0.02
    epochs: int = 100
    batch_size: int = 64
    weight_decay: float = 0.0


PAPER_MSE = MSEConfig(lr=1e-8, epochs=12, batch_size=1, weight_decay=0.01)


@register_learner(
    LearnerSpec(
        "mse",
        "the v minimising MSE(source + v, goal); closed form or AdamW (solver)",
        presets={"paper": asdict(PAPER_MSE)},
    )
)
def learn_mse(
    source: Acts,
    goal: Acts,
    *,
    layer: int,
    model_fingerprint: str,
    train_hash: str = "",
    heldout: tuple[HeldoutActs, HeldoutActs] | None = None,
    seed: int = 0,
    solver: Literal["closed", "iterative"] = "closed",
    config: MSEConfig = MSEConfig(),
    progress: bool = False,
) -> LearnResult:
    """``v = argmin_v mean_i |source_i + v - goal_i|² / d`` (closed form or AdamW)."""
    check_paired(source, goal)
    check_choice("solver", solver, ("closed", "iterative"))
    source, goal = source.float(), goal.float()
    losses: list[float] = []
    if solver == "closed":
        vector = (goal - source).mean(0)
    else:
        vector, losses = _adamw_mse(source, goal, config, seed, progress)
    steering = SteeringVector(
        vector=vector,
        layer=layer,
        method="mse",
        model_fingerprint=model_fingerprint,
        resid_norm=mean_norm(source),
        train_hash=train_hash,
        info={
            "n_pairs": len(source),
            "solver": solver,
            **({"config": vars(config)} if solver == "iterative" else {}),
        },
    )
    final = float(((source + steering.vector - goal) ** 2).mean())
    return LearnResult(
        steering,
        Diagnostics(
            tuple(losses), **heldout_cosines(heldout, steering), extra={"final_mse": final}
        ),
    )


def _adamw_mse(
    source: Acts, goal: Acts, config: MSEConfig, seed: int, progress: bool
) -> tuple[torch.Tensor, list[float]]:
    generator = torch.Generator().manual_seed(seed)
    lr = (
        config.lr
        if config.lr is not None
        else config.lr_scale * float((goal - source).mean(0).abs().max())
    )
    vector = torch.zeros(source.shape[1], requires_grad=True)
    optimiser = torch.optim.AdamW([vector], lr=lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(source) / config.batch_size)
    total = config.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * step / total))
    )
    losses = []
    for _ in tqdm(range(config.epochs), desc="mse", disable=not progress, leave=False):
        order = torch.randperm(len(source), generator=generator)
        for start in range(0, len(source), config.batch_size):
            rows = order[start : start + config.batch_size]
            loss = ((source[rows] + vector - goal[rows]) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
    return vector.detach(), losses
