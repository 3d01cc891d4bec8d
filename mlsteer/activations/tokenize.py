"""Turn a list of texts into one right-padded batch, and say which positions pooling may use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from mlsteer.errors import EmptyInputError
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


def encode_batch(model: SteerableModel, texts: Sequence[str]) -> TokenBatch:
    """Tokenise ``texts`` (BOS prepended as the model's tokenizer does) into one padded batch."""
    texts = check_texts(texts)
    encoded = model.tokenizer(
        texts, return_tensors="pt", padding=True, padding_side="right", add_special_tokens=True
    )
    input_ids = encoded["input_ids"].to(model.device)
    bos_id = model.tokenizer.bos_token_id
    starts_with_bos = (
        input_ids[:, 0] == bos_id if bos_id is not None else torch.zeros(len(texts), dtype=torch.bool)
    )
    return TokenBatch(input_ids, encoded["attention_mask"].to(model.device), starts_with_bos)
