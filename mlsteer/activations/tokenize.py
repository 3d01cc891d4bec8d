"""Turn a list of texts into one right-padded batch, and say which positions pooling may use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from mlsteer.errors import EmptyInputError, MlsteerError
from mlsteer.models.wrapper import SteerableModel


def check_texts(texts: Sequence[str], what: str = "texts") -> list[str]:
    """Return ``texts`` as a list; raise if it is empty or holds an empty or non-string text."""
    if isinstance(texts, str):
        raise EmptyInputError(f"{what} must be a list of strings, not one string; wrap it: [text]")
    texts = list(texts)
    if not texts:
        raise EmptyInputError(f"{what} is empty; pass at least one non-empty string")
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise EmptyInputError(
                f"{what}[{index}] is {text!r}; every text needs at least one non-space "
                "character (drop or fill the empty ones)"
            )
    return texts


@dataclass(frozen=True)
class TokenBatch:
    """Right-padded token ids. Right padding keeps every real position's activations equal to
    an unpadded run: causal attention never looks right, and position ids start at 0."""

    input_ids: Int[Tensor, "batch pos"]
    attention_mask: Int[Tensor, "batch pos"]
    starts_with_bos: Bool[Tensor, " batch"]

    @property
    def lengths(self) -> Int[Tensor, " batch"]:
        return self.attention_mask.sum(dim=1)

    def pool_mask(self, include_bos: bool = False) -> Bool[Tensor, "batch pos"]:
        """Positions that pooling averages over: real tokens, BOS left out unless asked.

        Why leave BOS out: Gemma's BOS residual norm is orders of magnitude above every other
        token's and would swamp a mean (and a last-token pool of a one-token text).
        """
        mask = self.attention_mask.bool().clone()
        if not include_bos:
            mask[:, 0] &= ~self.starts_with_bos
        return mask


class TextTooLongError(MlsteerError):
    """A text with more tokens than the model has positions."""


def max_tokens(model: SteerableModel) -> int:
    """The most tokens one text may have: the model's position limit. Past it the positions were
    never trained (results are meaningless), and the cost grows with the square of the length: a
    200k-word line would ask for hundreds of GB of attention scores instead of failing."""
    config = model.bridge.original_model.config
    limit = getattr(config, "max_position_embeddings", None) or getattr(
        model.tokenizer, "model_max_length", None
    )
    return int(limit) if limit and limit < 10**9 else 8192  # tokenizers without a limit say ~1e30


def check_lengths(
    model: SteerableModel,
    lengths: Sequence[int],
    indices: Sequence[int] | None = None,
    what: str = "text",
) -> None:
    """Raise naming the first text (``indices[i]``, default ``i``) longer than :func:`max_tokens`."""
    cap = max_tokens(model)
    for position, length in enumerate(lengths):
        if length > cap:
            index = indices[position] if indices is not None else position
            raise TextTooLongError(
                f"{what} {index} has {length} tokens, more than {model.name}'s limit of {cap}; "
                "split it into shorter texts (e.g. sentences) or drop it"
            )


def encode_batch(
    model: SteerableModel, texts: Sequence[str], indices: Sequence[int] | None = None
) -> TokenBatch:
    """Tokenise ``texts`` (BOS prepended as the model's tokenizer does) into one padded batch;
    a text over :func:`max_tokens` raises before any forward pass, naming it (``indices``: the texts'
    places in the caller's list, for the message)."""
    texts = check_texts(texts)
    encoded = model.tokenizer(
        texts, return_tensors="pt", padding=True, padding_side="right", add_special_tokens=True
    )
    check_lengths(
        model, encoded["attention_mask"].sum(dim=1).tolist(), indices
    )  # ids are cheap; forwards are not
    input_ids = encoded["input_ids"].to(model.device)
    bos_id = model.tokenizer.bos_token_id
    starts_with_bos = (
        input_ids[:, 0] == bos_id
        if bos_id is not None
        else torch.zeros(len(texts), dtype=torch.bool)
    )
    return TokenBatch(input_ids, encoded["attention_mask"].to(model.device), starts_with_bos)
