"""BiPO (paper eq. 7, Algorithm 1; Cao et al. 2024): a vector trained with a DPO loss.

With d drawn from {-1, +1} per batch, v minimises

    E_d[-log σ(d·β·(log π_{dv}(chosen)/π(chosen) - log π_{dv}(rejected)/π(rejected)))]

where π_{dv} is the model with d·v added at layer L (every position but BOS) and π the same
model without it: the reference needs no second model copy, and since v = 0 gives π, the
reference log-probs are computed once before training. Log-probs are summed over completion
tokens. Training runs only the layers above L, from resid_post at L cached once per example.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from mlsteer.activations.preferences import CompletionTokens, PreferenceData
from mlsteer.errors import EmptyInputError
from mlsteer.learners.base import Diagnostics, HeldoutActs, LearnResult, heldout_cosines
from mlsteer.learners.registry import LearnerSpec, register_learner
from mlsteer.steering.vector import SteeringVector

# (input_ids, attention_mask, resid at L, completion_mask) -> summed completion log-prob per row
LogProbFn = Callable[
    [Int[Tensor, "b pos"], Int[Tensor, "b pos"], Float[Tensor, "b pos d"], Bool[Tensor, "b pos"]],
    Float[Tensor, " b"],
]


@dataclass(frozen=True)
class BipoConfig:
    """Defaults are the paper's Appendix C (after Cao et al. 2024): β 0.1, AdamW lr 5e-4,
    weight decay 0.05, batch size 1, cosine schedule with 100 warm-up steps, 1 epoch.

    ``lr_per_resid_rms``: multiply lr by the RMS coordinate of the cached residuals. Adam moves
    each coordinate by about lr per step, so the paper's lr, tuned on 7B models whose residual
    coordinates are O(1), barely moves v on models with large residuals (Gemma 3 270M: ~150
    at layer 6). Off by default, to keep the paper's setting.
    """

    beta: float = 0.1
    lr: float = 5e-4
    weight_decay: float = 0.05
    epochs: int = 1
    batch_size: int = 1
    warmup_steps: int = 100
    lr_per_resid_rms: bool = False


@register_learner(
    LearnerSpec(
        "bipo",
        "a vector trained through the model with a DPO loss (one training run per layer)",
        data="preferences",
        layers="per_layer",
    )
)
def learn_bipo(
    data: PreferenceData,
    logprobs: LogProbFn,
    *,
    model_fingerprint: str,
    config: BipoConfig = BipoConfig(),
    seed: int = 0,
    train_hash: str = "",
    heldout: tuple[HeldoutActs, HeldoutActs] | None = None,
    heldout_triples: PreferenceData | None = None,
    progress: bool = True,
) -> LearnResult:
    """Train v at ``data.layer``; ``logprobs`` runs the layers above it (an ``UpperStack``)."""
    if len(data) == 0:
        raise EmptyInputError("no preference triples to train on")
    generator = torch.Generator().manual_seed(seed)
    both = _stack(data.chosen, data.rejected)
    n = len(data)
    with torch.no_grad():
        reference = _batched_logprobs(logprobs, both, None, 1.0)
    steer_rows = both.resid[both.steer_mask]
    rms = float(steer_rows.pow(2).mean().sqrt())
    lr = config.lr * (rms if config.lr_per_resid_rms else 1.0)
    # v and AdamW's state live where the cached residuals do (the layer's device, see pipeline.learn)
    vector = torch.zeros(both.resid.shape[-1], device=both.resid.device, requires_grad=True)
    optimiser = torch.optim.AdamW([vector], lr=lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total = config.epochs * steps_per_epoch
    warmup = min(config.warmup_steps, total // 2)  # short runs still get a decaying phase
    optimiser_schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: _warmup_cosine(step, warmup, total)
    )
    losses: list[float] = []
    bar = tqdm(total=total, desc=f"bipo L{data.layer}", disable=not progress, leave=False)
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, config.batch_size):
            index = order[start : start + config.batch_size]
            direction = 1.0 if torch.rand(1, generator=generator).item() < 0.5 else -1.0
            rows = torch.cat([index, index + n])
            batch = both.rows(rows)
            policy = logprobs(
                batch.input_ids,
                batch.attention_mask,
                _add(batch, vector, direction),
                batch.completion_mask,
            )
            ratio = policy - reference[rows]
            margin = ratio[: len(index)] - ratio[len(index) :]
            loss = -F.logsigmoid(direction * config.beta * margin).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            optimiser_schedule.step()
            losses.append(loss.item())
            bar.update()
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    bar.close()
    steering = SteeringVector(
        vector=vector.detach(),
        layer=data.layer,
        method="bipo",
        model_fingerprint=model_fingerprint,
        resid_norm=float(steer_rows.norm(dim=-1).mean()),
        train_hash=train_hash,
        info={"n_triples": n, "config": asdict(config), "lr_used": lr},
    )
    extra = {}
    if heldout_triples is not None:
        extra = {
            "heldout_margin": preference_margin(heldout_triples, logprobs, steering.vector),
            "heldout_margin_negated": preference_margin(
                heldout_triples, logprobs, -steering.vector
            ),
        }
    return LearnResult(
        steering, Diagnostics(tuple(losses), **heldout_cosines(heldout, steering), extra=extra)
    )


@torch.no_grad()
def preference_margin(
    data: PreferenceData, logprobs: LogProbFn, vector: Tensor, batch_size: int = 8
) -> float:
    """Mean over triples of ``log π_v(chosen)/π(chosen) - log π_v(rejected)/π(rejected)``:
    positive when adding ``vector`` favours the chosen completions."""
    both = _stack(data.chosen, data.rejected)
    n = len(data)
    steered = _batched_logprobs(logprobs, both, vector, 1.0, batch_size)
    plain = _batched_logprobs(logprobs, both, None, 1.0, batch_size)
    ratio = steered - plain
    return float((ratio[:n] - ratio[n:]).mean())


def _add(batch: CompletionTokens, vector: Tensor | None, direction: float) -> Tensor:
    if vector is None:
        return batch.resid
    return batch.resid + direction * batch.steer_mask.unsqueeze(-1).to(batch.resid.dtype) * vector


def _batched_logprobs(
    logprobs: LogProbFn,
    tokens: CompletionTokens,
    vector: Tensor | None,
    direction: float,
    batch_size: int = 8,
) -> Tensor:
    out = []
    for start in range(0, len(tokens), batch_size):
        batch = tokens.rows(torch.arange(start, min(start + batch_size, len(tokens))))
        out.append(
            logprobs(
                batch.input_ids,
                batch.attention_mask,
                _add(batch, vector, direction),
                batch.completion_mask,
            )
        )
    return torch.cat(out)


def _stack(chosen: CompletionTokens, rejected: CompletionTokens) -> CompletionTokens:
    """Chosen rows then rejected rows (one forward pass scores both)."""
    return CompletionTokens(
        *(
            torch.cat([getattr(chosen, f), getattr(rejected, f)])
            for f in ("input_ids", "attention_mask", "completion_mask", "steer_mask", "resid")
        )
    )


def _warmup_cosine(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
