"""`steer`: apply vectors or maps to the residual stream through the bridge's hook points.

The hooks go on the bridge (``blocks.{L}.hook_resid_post``), so every bridge forward is steered;
they are also recorded on the model, so generation and caching can apply the same hooks on the
plain-HF fast path (:mod:`mlsteer.models.plain`, which handles a Gemma 3 layer in transformers
5.x returning a plain tensor: a hook that edits ``output[0]`` would steer only batch item 0).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch
from jaxtyping import Bool
from torch import Tensor

from mlsteer.errors import EmptyInputError, MlsteerError, check_choice
from mlsteer.models.plain import named_hooks
from mlsteer.models.wrapper import DecodingPositions, SteerableModel
from mlsteer.steering.vector import Applier, Steering

Positions = Literal["all", "prompt", "generated"]
POSITIONS: tuple[str, ...] = ("all", "prompt", "generated")
Scale = Literal["absolute", "relative"]
SCALES: tuple[str, ...] = ("absolute", "relative")


def position_mask(
    where: DecodingPositions,
    batch: int,
    seq: int,
    positions: Positions,
    include_bos: bool,
    adds_bos: bool,
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
        bos = (
            torch.zeros(batch, dtype=torch.long)
            if where.bos_index is None
            else where.bos_index.cpu()
        )
        mask = mask & (absolute != bos.unsqueeze(1))
    return mask


@contextmanager
def decoding_at(model: SteerableModel, where: DecodingPositions) -> Iterator[SteerableModel]:
    """Within the block, steering hooks read positions from ``where`` (a KV-cached or
    left-padded forward: see :class:`DecodingPositions`); restored afterwards, also on errors."""
    before = model.positions
    model.positions = where
    try:
        yield model
    finally:
        model.positions = before


@contextmanager
def steer(
    model: SteerableModel,
    steering: Steering | Sequence[Steering],
    alpha: float = 1.0,
    positions: Positions = "all",
    scale: Scale = "absolute",
    include_bos: bool = False,
    allow_other_model: bool = False,
) -> Iterator[SteerableModel]:
    """Within the block, every forward pass of ``model`` applies ``steering`` at its layer(s).

    Args:
        steering: a :class:`SteeringVector` or :class:`SteeringMap`, or a sequence of them at
            distinct layers (multi-layer steering, as INCLINE applies one map per layer).
        alpha: multiplier; with ``scale="relative"`` a fraction of the layer's residual norm.
        positions: ``all`` positions; only the ``prompt``; or only ``generated`` tokens (the
            last two matter during :func:`mlsteer.steering.generate`).
        include_bos: also steer the BOS position (off by default: Gemma's BOS residual is huge
            and carries no language; steering it only disturbs the attention sink).
        allow_other_model: apply something learned on another model of the same width.
    """
    check_choice("positions", positions, POSITIONS)
    check_choice("scale", scale, SCALES)
    items = [steering] if not isinstance(steering, Sequence) else list(steering)
    if not items:  # steering nothing while results say "steered" would be a silent wrong result
        raise EmptyInputError(
            "nothing to steer with: the list of vectors/maps is empty; pass at least one"
        )
    wrong = [item for item in items if not isinstance(item, Steering)]
    if wrong:  # e.g. a file path: a str is a sequence too
        given = type(steering if isinstance(steering, str) else wrong[0]).__name__
        raise MlsteerError(
            f"steer takes SteeringVector/SteeringMap objects, not {given}; "
            "read a file with mlsteer.steering.load_steering(path) first"
        )
    layers = [item.layer for item in items]
    if len(set(layers)) != len(layers):
        raise MlsteerError(f"two steering entries share a layer ({layers}); give one per layer")
    hooks = []
    for item in items:
        item.check_compatible(model, allow_other_model=allow_other_model)
        # validates alpha (finite, no overflow in the model's dtype) and scale; the delta lives
        # on its own layer's device (device_map splits)
        apply = item.prepare(
            alpha, scale == "relative", model.layer_device(item.layer), model.dtype
        )
        hooks.append(
            (item.layer, _steering_hook(model, apply, positions, include_bos, model.adds_bos))
        )
    with model.bridge.hooks(fwd_hooks=named_hooks(model, hooks)), _recorded(model, hooks):
        yield model


@contextmanager
def _recorded(model: SteerableModel, hooks: list) -> Iterator[None]:
    """Within the block ``model.steering_hooks`` lists ``hooks`` too, so the plain-HF fast path
    applies them and knows them for mlsteer's own (:mod:`mlsteer.models.plain`)."""
    before = model.steering_hooks
    model.steering_hooks = (*before, *hooks)
    try:
        yield
    finally:
        model.steering_hooks = before


def _steering_hook(
    model: SteerableModel, apply: Applier, positions: Positions, include_bos: bool, adds_bos: bool
):
    """The hook for one entry (built per entry, so each closure keeps its own)."""

    def hook(resid: Tensor, hook) -> Tensor:
        batch, seq = resid.shape[:2]
        mask = position_mask(model.positions, batch, seq, positions, include_bos, adds_bos)
        return apply(resid, mask.to(resid.device))

    return hook
