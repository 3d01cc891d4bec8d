"""Logit lens: what each layer's residual stream would predict if it were the last layer.

resid_post at layer L goes through the model's own final norm and unembedding (Gemma's
RMSNorm with its ``1 + weight`` scale, and soft-capping where the config sets it, come from the
HF modules themselves), and the top-k next tokens at each text's last position are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from mlsteer.activations.collect import check_layers, run_to_layer
from mlsteer.activations.tokenize import check_texts, encode_batch
from mlsteer.models.wrapper import SteerableModel


@dataclass(frozen=True)
class LensTopK:
    """Top-k next tokens per text and layer, at each text's last position."""

    layers: tuple[int, ...]
    token_ids: Int[Tensor, "text layer k"]
    probs: Float[Tensor, "text layer k"]
    tokens: tuple[tuple[tuple[str, ...], ...], ...]  # decoded, [text][layer][k]


@torch.inference_mode()
def logit_lens_topk(
    model: SteerableModel, texts: Sequence[str], layers: int | Sequence[int], k: int = 10,
    batch_size: int = 8, progress: bool = True,
) -> LensTopK:
    """Top-``k`` tokens and probabilities of the logit lens at ``layers`` (any active
    :func:`mlsteer.steer` applies, so base and steered lenses come from the same call)."""
    texts = check_texts(texts)
    layers = check_layers(model, layers)
    norm = model.bridge.original_model.get_decoder().norm
    ids_out, probs_out = [], []
    for start in tqdm(range(0, len(texts), batch_size), desc="logit lens", disable=not progress, leave=False):
        batch = encode_batch(model, texts[start : start + batch_size])
        last = batch.lengths - 1
        captured: dict[int, Tensor] = {}

        def keep(layer: int):
            def hook(resid: Tensor, hook) -> None:
                captured[layer] = resid[torch.arange(resid.shape[0]), last.to(resid.device)]

            return hook

        run_to_layer(model, batch, max(layers), [(model.hook_name(layer), keep(layer)) for layer in layers])
        stacked = torch.stack([captured[layer] for layer in layers], dim=1)  # [batch, layer, d_model]
        probs = model.unembed(norm(stacked)).softmax(dim=-1)
        top = probs.topk(k, dim=-1)
        ids_out.append(top.indices.cpu())
        probs_out.append(top.values.cpu())
    token_ids = torch.cat(ids_out)
    decode = model.tokenizer.convert_ids_to_tokens
    tokens = tuple(tuple(tuple(decode(row.tolist())) for row in per_text) for per_text in token_ids)
    return LensTopK(tuple(layers), token_ids, torch.cat(probs_out), tokens)
