"""`cache_activations`: pooled resid_post at chosen layers, without running the layers above."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from mlsteer.activations.pooling import Pooling, pool
from mlsteer.activations.tokenize import TokenBatch, check_texts, encode_batch
from mlsteer.errors import EmptyInputError
from mlsteer.models.plain import (
    LayerHook,
    StopForward,
    fast_path_available,
    named_hooks,
    plain_forward,
    stop_after,
)
from mlsteer.models.wrapper import SteerableModel


def check_layers(model: SteerableModel, layers: int | Sequence[int]) -> list[int]:
    """Layers as a list of valid, distinct indices (in the order given)."""
    layers = [layers] if isinstance(layers, int) else list(layers)
    if not layers:
        raise EmptyInputError("layers is empty; pass at least one layer index")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers {layers} repeat an index; pass each layer once")
    return [model.check_layer(layer) for layer in layers]


@torch.inference_mode()
def cache_activations(
    model: SteerableModel,
    texts: Sequence[str],
    layers: int | Sequence[int],
    pooling: Pooling = "last",
    batch_size: int = 16,
    include_bos: bool = False,
    progress: bool = True,
) -> Float[Tensor, "text layer d_model"]:
    """Pooled ``blocks.{L}.hook_resid_post`` for every text and requested layer, as float32.

    Texts are run longest-first in right-padded batches (so batching changes no number) and
    the forward stops after the highest requested layer (see :func:`run_to_layer`).
    """
    texts = check_texts(texts)
    layers = check_layers(model, layers)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = torch.empty(len(texts), len(layers), model.d_model, dtype=torch.float32)
    batches = range(0, len(texts), batch_size)
    for start in tqdm(batches, desc="activations", disable=not progress, leave=False):
        rows = order[start : start + batch_size]
        batch = encode_batch(model, [texts[i] for i in rows], indices=rows)
        mask = batch.pool_mask(include_bos)
        pooled: dict[int, Tensor] = {}
        hooks = [(layer, _pooling_hook(pooled, layer, mask, pooling)) for layer in layers]
        run_to_layer(model, batch, max(layers), hooks)
        for column, layer in enumerate(layers):
            out[rows, column] = pooled[layer].float().cpu()
    return out


@torch.inference_mode()
def residuals_at(
    model: SteerableModel, batch: TokenBatch, layer: int
) -> Float[Tensor, "batch pos d_model"]:
    """Per-token resid_post at ``layer`` for a token batch (no pooling), float32."""
    captured: dict[str, Tensor] = {}

    def keep(resid: Tensor, hook) -> None:
        captured["resid"] = resid.float()

    run_to_layer(model, batch, model.check_layer(layer), [(layer, keep)])
    return captured["resid"]


def run_to_layer(
    model: SteerableModel, batch: TokenBatch, top: int, hooks: list[LayerHook]
) -> None:
    """One forward pass with ``hooks`` (``(layer, fn(resid, hook))`` pairs, each reading or
    replacing resid_post at its layer) that stops after block ``top``: no block above it and
    no unembedding runs, which is most of the cost on large-vocabulary models.

    Runs the plain HF model when :func:`fast_path_available` (the bridge's fixed wrapping
    cost, BENCHMARKS.md "Peers"), else the bridge; any active :func:`mlsteer.steer` applies.
    """
    if fast_path_available(model):
        _plain_to_layer(model, batch, top, hooks)
    else:
        _bridge_to_layer(model, batch, top, hooks)


def _plain_to_layer(model: SteerableModel, batch: TokenBatch, top: int, hooks: list) -> None:
    """:func:`run_to_layer` on the HF decoder, stopped by a hook after block ``top``."""
    try:
        with plain_forward(model, [*hooks, (top, stop_after)]) as hf_model:
            hf_model.get_decoder()(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False
            )
    except StopForward:
        pass


def _bridge_to_layer(model: SteerableModel, batch: TokenBatch, top: int, hooks: list) -> None:
    """:func:`run_to_layer` through the bridge's hook points (the reference path)."""
    named = named_hooks(model, hooks)
    if top + 1 < model.n_layers:  # stop_at_layer=k makes the bridge stop before block k
        with model.bridge.hooks(fwd_hooks=named):
            model.bridge(
                batch.input_ids, attention_mask=batch.attention_mask, stop_at_layer=top + 1
            )
        return
    # the top layer: the bridge has no stop after the last block, so stop at the final norm
    try:
        with model.bridge.hooks(fwd_hooks=[*named, ("ln_final.hook_out", stop_after)]):
            model.bridge(batch.input_ids, attention_mask=batch.attention_mask)
    except StopForward:
        pass


def _pooling_hook(store: dict[int, Tensor], layer: int, mask: Tensor, pooling: Pooling):
    """A hook that pools this layer's residual into ``store[layer]`` (built per layer so each
    closure keeps its own layer, never the loop's last)."""

    def hook(resid: Tensor, hook) -> None:
        store[layer] = pool(
            resid, mask.to(resid.device), pooling
        )  # device_map: layers sit on several GPUs

    return hook
