"""Accuracy and paired differences of per-item correctness, with standard errors.

Steered and unsteered runs score the *same* items, so the difference in accuracy has a paired
standard error, std(d_i) / sqrt(n) with d_i = c_i(method) - c_i(basic), usually far smaller
than the two binomial errors combined: that is what says whether a delta is real.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from jaxtyping import Bool
from torch import Tensor

from mlsteer.errors import EmptyInputError, MlsteerError


@dataclass(frozen=True)
class Comparison:
    """A method's accuracy on n items and its paired difference from the baseline."""

    accuracy: float
    stderr: float  # binomial sqrt(p(1-p)/n)
    delta: float  # accuracy - baseline accuracy
    delta_stderr: float  # paired
    n: int

    def __str__(self) -> str:
        return f"{100 * self.accuracy:.1f} ({100 * self.delta:+.1f} ± {100 * self.delta_stderr:.1f})"


def compare(correct: Bool[Tensor, " item"], baseline: Bool[Tensor, " item"]) -> Comparison:
    """Accuracy of ``correct`` and its paired difference from ``baseline`` (same items, same order)."""
    if correct.shape != baseline.shape or correct.ndim != 1:
        raise MlsteerError(f"paired comparison needs two equal 1-D item vectors; got {tuple(correct.shape)} and {tuple(baseline.shape)}")
    n = correct.numel()
    if n == 0:
        raise EmptyInputError("no items to compare; evaluate at least one item")
    p = correct.float().mean().item()
    d = correct.float() - baseline.float()
    delta_se = d.std(unbiased=True).item() / math.sqrt(n) if n > 1 else float("nan")
    return Comparison(p, math.sqrt(p * (1 - p) / n), d.mean().item(), delta_se, n)


def align(
    runs: Mapping[str, Mapping[str, bool]], require: str | None = None
) -> tuple[list[str], dict[str, Bool[Tensor, " item"]]]:
    """Per-item correctness of several runs (``name -> item id -> correct``) on the items they
    all share, in one fixed order, so they can be compared pairwise. ``require`` names a run
    whose items must all be present in the others (else the comparison would silently shrink)."""
    if not runs:
        raise EmptyInputError("no runs to align")
    shared = set.intersection(*(set(items) for items in runs.values()))
    if require is not None:
        missing = {name: len(set(runs[require]) - set(items)) for name, items in runs.items() if set(runs[require]) - set(items)}
        if missing:
            raise MlsteerError(f"runs lack items of {require!r}: {missing}; finish them (rerun to resume) before comparing")
    if not shared:
        raise EmptyInputError(f"the runs {sorted(runs)} share no items")
    ids = sorted(shared)
    return ids, {name: torch.tensor([items[i] for i in ids], dtype=torch.bool) for name, items in runs.items()}
