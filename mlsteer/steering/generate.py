"""Greedy generation that tells steering hooks which positions are prompt and which generated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor
from tqdm.auto import tqdm

from mlsteer.activations.tokenize import check_texts
from mlsteer.models.wrapper import DecodingPositions, SteerableModel


@dataclass(frozen=True)
class Generation:
    """Generated continuations (prompt excluded) as text and token ids (``pad`` after EOS)."""

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
    A row stops at EOS or once its text contains one of ``stop_strings`` (cut off there).
    """
    prompts = check_texts(prompts, "prompts")
    tokenizer = model.tokenizer
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    ids = encoded["input_ids"].to(model.device)
    mask = encoded["attention_mask"].to(model.device)
    # Left padding shifts each row; positions count real tokens only, as HF generate does.
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    prompt_length = ids.shape[1]
    bos_index = (mask == 0).sum(dim=1) if model.adds_bos else None
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    finished = torch.zeros(len(prompts), dtype=torch.bool, device=ids.device)
    past = None
    try:
        for _ in tqdm(range(max_new_tokens), desc="generate", disable=not progress, leave=False):
            cached_step = use_kv_cache and past is not None
            step_ids = ids[:, -1:] if cached_step else ids
            step_positions = position_ids[:, -1:] if cached_step else position_ids
            model.positions = DecodingPositions(
                offset=ids.shape[1] - step_ids.shape[1], prompt_length=prompt_length, bos_index=bos_index
            )
            if use_kv_cache:
                logits, past = model.bridge(
                    step_ids,
                    attention_mask=mask,
                    position_ids=step_positions,
                    past_key_values=past,
                    use_cache=True,
                    return_type="logits_and_cache",
                )
            else:
                logits = model.bridge(step_ids, attention_mask=mask, position_ids=step_positions)
            next_token = logits[:, -1].argmax(dim=-1)
            next_token = torch.where(finished, torch.full_like(next_token, pad_id), next_token)
            ids = torch.cat([ids, next_token[:, None]], dim=1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            position_ids = torch.cat([position_ids, position_ids[:, -1:] + 1], dim=1)
            if stop_at_eos and eos_id is not None:
                finished |= next_token == eos_id
            if stop_strings:
                finished |= _hit_stop(tokenizer, ids[:, prompt_length:], stop_strings, finished)
            if bool(finished.all()):
                break
    finally:
        model.positions = DecodingPositions()
    new_tokens = ids[:, prompt_length:]
    texts = [tokenizer.decode(_until_eos(row, eos_id), skip_special_tokens=True) for row in new_tokens]
    return Generation(texts=[_cut(text, stop_strings) for text in texts], tokens=new_tokens.cpu())


def _hit_stop(tokenizer, new_tokens: Tensor, stop_strings: Sequence[str], finished: Tensor) -> Tensor:
    """Rows (not yet finished) whose generated text contains a stop string."""
    hits = torch.zeros_like(finished)
    for row in (~finished).nonzero()[:, 0].tolist():
        text = tokenizer.decode(new_tokens[row], skip_special_tokens=True)
        hits[row] = any(stop in text for stop in stop_strings)
    return hits


def _cut(text: str, stop_strings: Sequence[str]) -> str:
    """``text`` up to the first stop string."""
    cut = min((text.index(s) for s in stop_strings if s in text), default=len(text))
    return text[:cut]


def _until_eos(row: Tensor, eos_id: int | None) -> list[int]:
    tokens = row.tolist()
    return tokens[: tokens.index(eos_id)] if eos_id is not None and eos_id in tokens else tokens
