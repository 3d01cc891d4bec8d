"""Token-level data for BiPO: each completion tokenised after its prompt, with resid_post at L.

This is the one place BiPO's data touches the model: layers 0..L run here once per example;
training then runs only the layers above (:class:`mlsteer.models.upper.UpperStack`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from mlsteer.activations.collect import residuals_at
from mlsteer.activations.tokenize import TokenBatch
from mlsteer.data.preferences import PreferenceTriple
from mlsteer.errors import EmptyInputError
from mlsteer.models.wrapper import SteerableModel


@dataclass(frozen=True)
class CompletionTokens:
    """Right-padded ``prompt + completion`` sequences and their resid_post at one layer.

    ``completion_mask`` marks completion tokens (their log-probs are summed); ``steer_mask``
    marks where v is added (every real position but BOS, as :func:`mlsteer.steer` does).
    """

    input_ids: Int[Tensor, "example pos"]
    attention_mask: Int[Tensor, "example pos"]
    completion_mask: Bool[Tensor, "example pos"]
    steer_mask: Bool[Tensor, "example pos"]
    resid: Float[Tensor, "example pos d_model"]

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def to(self, device: torch.device | str) -> CompletionTokens:
        """The same tokens and residuals on ``device`` (BiPO trains where layer L runs)."""
        return CompletionTokens(
            *(
                getattr(self, f).to(device)
                for f in ("input_ids", "attention_mask", "completion_mask", "steer_mask", "resid")
            )
        )

    def rows(self, index: Tensor) -> CompletionTokens:
        """A subset of examples, trimmed to its longest sequence."""
        width = int(self.attention_mask[index].sum(1).max())
        return CompletionTokens(
            self.input_ids[index, :width],
            self.attention_mask[index, :width],
            self.completion_mask[index, :width],
            self.steer_mask[index, :width],
            self.resid[index, :width],
        )


@dataclass(frozen=True)
class PreferenceData:
    chosen: CompletionTokens
    rejected: CompletionTokens
    layer: int

    def __len__(self) -> int:
        return len(self.chosen)

    def to(self, device: torch.device | str) -> PreferenceData:
        return PreferenceData(self.chosen.to(device), self.rejected.to(device), self.layer)


def encode_completions(
    model: SteerableModel,
    prompts: Sequence[str],
    completions: Sequence[str],
    layer: int,
    batch_size: int = 16,
    width: int | None = None,
    progress: bool = True,
) -> CompletionTokens:
    """Tokenise each ``prompt + completion`` and cache its resid_post at ``layer``."""
    if not prompts:
        raise EmptyInputError("no examples; pass at least one preference triple")
    tokenizer = model.tokenizer
    sequences, completion_starts = [], []
    for prompt, completion in zip(prompts, completions, strict=True):
        full = tokenizer(prompt + completion)["input_ids"]
        prompt_ids = tokenizer(prompt)["input_ids"]
        start = _common_prefix(
            prompt_ids, full
        )  # the prompt's tokens, if the merge crossed the boundary
        if start >= len(full):
            raise EmptyInputError(f"completion {completion!r} adds no token after its prompt")
        sequences.append(full)
        completion_starts.append(start)
    width = max(width or 0, max(len(s) for s in sequences))
    n = len(sequences)
    input_ids = torch.full((n, width), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros(n, width, dtype=torch.long)
    completion = torch.zeros(n, width, dtype=torch.bool)
    for row, (ids, start) in enumerate(zip(sequences, completion_starts)):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
        completion[row, start : len(ids)] = True
    starts_with_bos = (
        input_ids[:, 0] == tokenizer.bos_token_id
        if tokenizer.bos_token_id is not None
        else torch.zeros(n, dtype=torch.bool)
    )
    batch = TokenBatch(input_ids, attention, starts_with_bos)
    resid = torch.zeros(n, width, model.d_model)
    for begin in tqdm(
        range(0, n, batch_size), desc=f"resid L{layer}", disable=not progress, leave=False
    ):
        rows = torch.arange(begin, min(begin + batch_size, n))
        sub = TokenBatch(
            input_ids[rows].to(model.device),
            attention[rows].to(model.device),
            starts_with_bos[rows],
        )
        resid[rows] = residuals_at(model, sub, layer).cpu().clone()  # clone: out of inference mode
    return CompletionTokens(
        input_ids, attention, completion, batch.pool_mask(include_bos=False), resid
    )


def encode_preferences(
    model: SteerableModel,
    triples: Sequence[PreferenceTriple],
    layer: int,
    batch_size: int = 16,
    progress: bool = True,
) -> PreferenceData:
    """Chosen and rejected sequences of every triple, padded to one width, with resid at ``layer``."""
    model.check_layer(layer)
    prompts = [t.prompt for t in triples]
    tokenizer = model.tokenizer
    width = (
        max(
            len(tokenizer(t.prompt + c)["input_ids"])
            for t in triples
            for c in (t.chosen, t.rejected)
        )
        if triples
        else 0
    )
    chosen = encode_completions(
        model, prompts, [t.chosen for t in triples], layer, batch_size, width, progress
    )
    rejected = encode_completions(
        model, prompts, [t.rejected for t in triples], layer, batch_size, width, progress
    )
    return PreferenceData(chosen, rejected, layer)


def _common_prefix(a: list[int], b: list[int]) -> int:
    length = 0
    for x, y in zip(a, b):
        if x != y:
            break
        length += 1
    return length
