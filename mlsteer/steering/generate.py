"""Batched greedy generation with a KV cache that tells steering hooks which positions are prompt
and which generated; rows that finish leave the batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor
from tqdm.auto import tqdm

from mlsteer.activations.tokenize import check_lengths, check_texts, max_tokens
from mlsteer.errors import MlsteerError
from mlsteer.models.plain import fast_path_available, plain_forward
from mlsteer.models.wrapper import DecodingPositions, SteerableModel
from mlsteer.steering.hooks import decoding_at


@dataclass(frozen=True)
class Generation:
    """Generated continuations (prompt excluded) as text and token ids (``pad`` after a row ends)."""

    texts: list[str]
    tokens: Int[Tensor, "batch new"]


@torch.inference_mode()
def generate(
    model: SteerableModel,
    prompts: Sequence[str],
    max_new_tokens: int = 32,
    use_kv_cache: bool = True,
    stop_at_eos: bool = True,
    stop_strings: Sequence[str] = (),
    progress: bool = False,
) -> Generation:
    """Greedy-decode up to ``max_new_tokens`` for each prompt (left-padded as one batch).

    Any active :func:`steer` applies; this loop keeps ``model.positions`` up to date so a
    ``positions="generated"`` vector steers the same tokens with and without the KV cache.
    Steps run the plain HF model when nothing but :func:`steer` hooks the bridge (see
    :func:`mlsteer.models.plain.fast_path_available`), else the bridge: the same tokens.
    A row stops at EOS or once its new text contains one of ``stop_strings`` (cut off there);
    a stopped row leaves the batch (its cache rows are dropped), so the rest run at full speed.
    """
    prompts = check_texts(prompts, "prompts")
    if not 0 <= max_new_tokens <= max_tokens(model):  # the output buffer is allocated up front
        raise MlsteerError(
            f"max_new_tokens must be from 0 to {max_tokens(model)} ({model.name}'s limit), got {max_new_tokens}"
        )
    tokenizer = model.tokenizer
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    check_lengths(model, encoded["attention_mask"].sum(dim=1).tolist(), what="prompt")
    ids = encoded["input_ids"].to(model.device)
    mask = encoded["attention_mask"].to(model.device)
    # Left padding shifts each row; positions count real tokens only, as HF generate does.
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    prompt_length = ids.shape[1]
    bos_index = (mask == 0).sum(dim=1) if model.adds_bos else None
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    out = torch.full((len(prompts), max_new_tokens), pad_id, dtype=torch.long)
    active = torch.arange(len(prompts))  # batch rows still generating, as indices into ``prompts``
    window = (
        4 * max((len(s) for s in stop_strings), default=0) + 1
    )  # tokens that can hold a stop string
    past, steps = None, 0
    with _stepper(model, use_kv_cache) as forward:
        for step in tqdm(
            range(max_new_tokens), desc="generate", unit="tok", disable=not progress, leave=False
        ):
            cached = use_kv_cache and past is not None
            step_ids, step_positions = (
                (ids[:, -1:], positions[:, -1:]) if cached else (ids, positions)
            )
            where = DecodingPositions(
                offset=ids.shape[1] - step_ids.shape[1],
                prompt_length=prompt_length,
                bos_index=None if bos_index is None else bos_index[active],
            )
            with decoding_at(model, where):
                logits, past = forward(step_ids, mask, step_positions, past)
            # logits may sit on the last layer's device
            next_token = logits.argmax(dim=-1).to(ids.device)
            out[active, step] = next_token.cpu()
            steps = step + 1
            done = torch.zeros(len(active), dtype=torch.bool)
            if stop_at_eos and eos_id is not None:
                done |= (next_token == eos_id).cpu()
            if stop_strings:
                done |= _hit_stop(
                    tokenizer, out[active, max(0, step + 1 - window) : step + 1], stop_strings
                )
            keep = (~done).nonzero()[:, 0]
            if len(keep) == 0:
                break
            if len(keep) < len(active):  # finished rows leave the batch, with their cache rows
                active, index = active[keep], keep.to(ids.device)
                ids, mask, positions, next_token = (
                    ids[index],
                    mask[index],
                    positions[index],
                    next_token[index],
                )
                if past is not None:
                    past.reorder_cache(index)
            ids = torch.cat([ids, next_token[:, None]], dim=1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            positions = torch.cat([positions, positions[:, -1:] + 1], dim=1)
    out = out[:, :steps]  # the columns generated before every row had stopped
    texts = [tokenizer.decode(_until_eos(row, eos_id), skip_special_tokens=True) for row in out]
    return Generation(texts=[_cut(text, stop_strings) for text in texts], tokens=out)


# One decoding step: (ids, attention mask, position ids, KV cache or None) -> (the last
# position's logits [batch, vocab], the KV cache or None).
Step = Callable[[Tensor, Tensor, Tensor, Any], tuple[Tensor, Any]]


@contextmanager
def _stepper(model: SteerableModel, use_kv_cache: bool) -> Iterator[Step]:
    """The forward every step of one :func:`generate` call runs: the plain HF model when
    :func:`fast_path_available` (no bridge wrapping cost per step), else the bridge."""
    if not fast_path_available(model):
        yield partial(_bridge_step, model, use_kv_cache)
        return
    with plain_forward(model) as hf_model:
        yield partial(_plain_step, hf_model, use_kv_cache)


def _bridge_step(
    model: SteerableModel, use_kv_cache: bool, ids: Tensor, mask: Tensor, positions: Tensor, past
) -> tuple[Tensor, Any]:
    if not use_kv_cache:
        return model.bridge(ids, attention_mask=mask, position_ids=positions)[:, -1], None
    logits, past = model.bridge(
        ids,
        attention_mask=mask,
        position_ids=positions,
        past_key_values=past,
        use_cache=True,
        return_type="logits_and_cache",
    )
    return logits[:, -1], past


def _plain_step(
    hf_model, use_kv_cache: bool, ids: Tensor, mask: Tensor, positions: Tensor, past
) -> tuple[Tensor, Any]:
    """The HF forward, unembedding the last position only (as HF ``generate`` does)."""
    output = hf_model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        past_key_values=past,
        use_cache=use_kv_cache,
        logits_to_keep=1,
    )
    return output.logits[:, -1], output.past_key_values if use_kv_cache else None


def _hit_stop(tokenizer, tails: Tensor, stop_strings: Sequence[str]) -> Tensor:
    """Rows whose newest tokens (``tails``: enough of them to hold any stop string, since a
    character spans at most 4 byte-level tokens) contain a stop string."""
    return torch.tensor(
        [
            any(s in tokenizer.decode(row, skip_special_tokens=True) for s in stop_strings)
            for row in tails
        ],
        dtype=torch.bool,
    )


def _cut(text: str, stop_strings: Sequence[str]) -> str:
    """``text`` up to the first stop string."""
    cut = min((text.index(s) for s in stop_strings if s in text), default=len(text))
    return text[:cut]


def _until_eos(row: Tensor, eos_id: int | None) -> list[int]:
    tokens = row.tolist()
    return tokens[: tokens.index(eos_id)] if eos_id is not None and eos_id in tokens else tokens
