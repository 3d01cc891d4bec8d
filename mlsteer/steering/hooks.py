"""`steer`: add alpha·v to the residual stream at one layer, through the bridge's hook point.

Why the bridge hook and not a raw HF forward hook: in transformers 5.x a Gemma 3 decoder layer
returns a plain tensor, and a hook that edits ``output[0]`` steers only batch item 0, silently.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from mlsteer.errors import InvalidVectorError, check_choice
from mlsteer.models.wrapper import DecodingPositions, SteerableModel
from mlsteer.steering.vector import SteeringVector

Positions = Literal["all", "prompt", "generated"]
POSITIONS: tuple[str, ...] = ("all", "prompt", "generated")
Scale = Literal["absolute", "relative"]
SCALES: tuple[str, ...] = ("absolute", "relative")


def steering_delta(vector: SteeringVector, alpha: float, scale: Scale = "absolute") -> Float[Tensor, " d_model"]:
    """What gets added: ``alpha·v`` (absolute), or ``alpha · resid_norm · v/|v|`` (relative),
    i.e. alpha as a fraction of the layer's mean residual norm."""
    check_choice("scale", scale, SCALES)
    if not math.isfinite(alpha):
        raise InvalidVectorError(f"alpha is {alpha}; use a finite number")
    if scale == "absolute":
        return alpha * vector.vector
    if not math.isfinite(vector.resid_norm) or vector.norm == 0:
        raise InvalidVectorError(
            "relative alpha needs the vector's resid_norm and a non-zero vector; this vector "
            f"has resid_norm={vector.resid_norm}, norm={vector.norm}: use scale='absolute'"
        )
    return alpha * vector.resid_norm * vector.vector / vector.norm


def position_mask(
    where: DecodingPositions, batch: int, seq: int, positions: Positions, include_bos: bool, adds_bos: bool
) -> Bool[Tensor, "batch pos"]:
    """Which of the ``seq`` positions in this forward pass get steered."""
    absolute = torch.arange(where.offset, where.offset + seq).expand(batch, seq)
    if positions == "all" or where.prompt_length is None:
        mask = torch.full((batch, seq), positions != "generated")
    elif positions == "prompt":
        mask = absolute < where.prompt_length
    else:
        mask = absolute >= where.prompt_length
    if not include_bos and adds_bos:
        bos = torch.zeros(batch, dtype=torch.long) if where.bos_index is None else where.bos_index.cpu()
        mask = mask & (absolute != bos.unsqueeze(1))
    return mask


@contextmanager
def steer(
    model: SteerableModel,
    vector: SteeringVector,
    alpha: float = 1.0,
    positions: Positions = "all",
    scale: Scale = "absolute",
    include_bos: bool = False,
    allow_other_model: bool = False,
) -> Iterator[SteerableModel]:
    """Within the block, every forward pass of ``model`` adds the vector at its layer.

    Args:
        alpha: multiplier; with ``scale="relative"`` a fraction of the layer's residual norm.
        positions: ``all`` positions; only the ``prompt``; or only ``generated`` tokens (the
            last two matter during :func:`mlsteer.steering.generate`).
        include_bos: also steer the BOS position (off by default: Gemma's BOS residual is huge
            and carries no language, so steering it only adds noise to attention sinks).
        allow_other_model: apply a vector learned on another model of the same width.
    """
    check_choice("positions", positions, POSITIONS)
    vector.check_compatible(model, allow_other_model=allow_other_model)
    delta = steering_delta(vector, alpha, scale).to(model.device)
    adds_bos = model.adds_bos

    def add_vector(resid: Tensor, hook) -> Tensor:
        batch, seq = resid.shape[:2]
        mask = position_mask(model.positions, batch, seq, positions, include_bos, adds_bos)
        return resid + mask.to(resid.device, resid.dtype).unsqueeze(-1) * delta.to(resid.dtype)

    with model.bridge.hooks(fwd_hooks=[(vector.hook_name, add_vector)]):
        yield model
