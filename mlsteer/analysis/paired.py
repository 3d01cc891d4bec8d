"""Accuracy and paired differences of per-item correctness, with standard errors.

Steered and unsteered runs score the *same* items, so the difference in accuracy has a paired
standard error, std(d_i) / sqrt(n) with d_i = c_i(method) - c_i(basic), usually far smaller
than the two binomial errors combined: that is what says whether a delta is real.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from statistics import NormalDist

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
        return (
            f"{100 * self.accuracy:.1f} ({100 * self.delta:+.1f} ± {100 * self.delta_stderr:.1f})"
        )


def compare(correct: Bool[Tensor, " item"], baseline: Bool[Tensor, " item"]) -> Comparison:
    """Accuracy of ``correct`` and its paired difference from ``baseline`` (same items, same order)."""
    if correct.shape != baseline.shape or correct.ndim != 1:
        raise MlsteerError(
            f"paired comparison needs two equal 1-D item vectors; got {tuple(correct.shape)} and {tuple(baseline.shape)}"
        )
    n = correct.numel()
    if n == 0:
        raise EmptyInputError("no items to compare; evaluate at least one item")
    p = correct.float().mean().item()
    d = correct.float() - baseline.float()
    delta_se = d.std(unbiased=True).item() / math.sqrt(n) if n > 1 else float("nan")
    return Comparison(p, math.sqrt(p * (1 - p) / n), d.mean().item(), delta_se, n)


def align(
    runs: Mapping[Hashable, Mapping[str, bool]], require: Hashable | None = None
) -> tuple[list[str], dict[Hashable, Bool[Tensor, " item"]]]:
    """Per-item correctness of several runs (``key -> item id -> correct``; a key is a method
    name or a sweep's ``(layer, alpha)``) on the items they
    all share, in one fixed order, so they can be compared pairwise. ``require`` names a run
    whose items must all be present in the others (else the comparison would silently shrink)."""
    if not runs:
        raise EmptyInputError("no runs to align")
    shared = set.intersection(*(set(items) for items in runs.values()))
    if require is not None:
        missing = {
            name: len(set(runs[require]) - set(items))
            for name, items in runs.items()
            if set(runs[require]) - set(items)
        }
        if missing:
            raise MlsteerError(
                f"runs lack items of {require!r}: {missing}; finish them (rerun to resume) before comparing"
            )
    if not shared:
        raise EmptyInputError(f"the runs {sorted(runs)} share no items")
    ids = sorted(shared)
    return ids, {
        name: torch.tensor([items[i] for i in ids], dtype=torch.bool)
        for name, items in runs.items()
    }


def detectable_effect(delta_stderr: float, power: float = 0.8, level: float = 0.05) -> float:
    """The smallest true paired difference a two-sided test at ``level`` finds with probability
    ``power``: (z(1 - level/2) + z(power)) x SE, 2.80 SE at the defaults. What a null result
    rules out: a difference "within 2 SE" is not evidence of no effect larger than this."""
    if not 0 < power < 1 or not 0 < level < 1:
        raise MlsteerError(f"power {power} and level {level} must lie strictly between 0 and 1")
    z = NormalDist().inv_cdf
    return (z(1 - level / 2) + z(power)) * delta_stderr


@dataclass(frozen=True)
class GapRecovered:
    """The share of the ceiling's gain over the baseline that a method recovers, on n shared items."""

    fraction: float  # nan when there is no gap to recover
    stderr: float
    gap: float  # ceiling accuracy - baseline accuracy
    gap_stderr: float
    n: int

    def __str__(self) -> str:
        if math.isnan(self.fraction):
            return f"no gap ({100 * self.gap:+.1f} ± {100 * self.gap_stderr:.1f})"
        return f"{100 * self.fraction:.0f}% ± {100 * self.stderr:.0f}"


def gap_recovered(
    correct: Bool[Tensor, " item"],
    baseline: Bool[Tensor, " item"],
    ceiling: Bool[Tensor, " item"],
) -> GapRecovered:
    """Δ(method) / Δ(ceiling), both paired against ``baseline`` on the same items (e.g. steered
    vs oracle translate-test, over basic): how much of the English-prompt advantage steering
    recovers. Its SE is the delta method's with the two differences' covariance (they share the
    baseline). A ceiling gain within 2 SE of zero leaves nothing to recover: fraction nan."""
    method, top = compare(correct, baseline), compare(ceiling, baseline)
    n = method.n
    if n < 2 or top.delta_stderr == 0 or top.delta <= 2 * top.delta_stderr:
        return GapRecovered(float("nan"), float("nan"), top.delta, top.delta_stderr, n)
    a, b = correct.float() - baseline.float(), ceiling.float() - baseline.float()
    fraction = method.delta / top.delta
    covariance = ((a - a.mean()) * (b - b.mean())).sum().item() / (n - 1) / n
    variance = (
        method.delta_stderr**2 - 2 * fraction * covariance + fraction**2 * top.delta_stderr**2
    )
    return GapRecovered(
        fraction, math.sqrt(max(variance, 0.0)) / abs(top.delta), top.delta, top.delta_stderr, n
    )
