"""Pool per-token residuals into one vector per text (pure tensor functions)."""

from __future__ import annotations

from typing import Literal

import torch
from einops import einsum
from jaxtyping import Bool, Float
from torch import Tensor

from mlsteer.errors import check_choice

Pooling = Literal["last", "mean"]
POOLINGS: tuple[str, ...] = ("last", "mean")


def pool(
    resid: Float[Tensor, "batch pos d_model"],
    mask: Bool[Tensor, "batch pos"],
    pooling: Pooling,
) -> Float[Tensor, "batch d_model"]:
    """``last``: the residual at each row's last masked position; ``mean``: the masked mean."""
    check_choice("pooling", pooling, POOLINGS)
    counts = mask.sum(dim=1)
    if bool((counts == 0).any()):
        raise ValueError("a row has no position to pool over (a BOS-only text?)")
    if pooling == "mean":
        summed = einsum(resid, mask.to(resid.dtype), "batch pos d, batch pos -> batch d")
        return summed / counts.unsqueeze(1).to(resid.dtype)
    positions = torch.arange(mask.shape[1], device=mask.device)
    last = torch.where(mask, positions, -1).amax(dim=1)  # right padding: last True position
    return resid[torch.arange(resid.shape[0], device=resid.device), last]
