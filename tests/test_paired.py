"""Paired statistics: the smallest detectable effect and the share of a ceiling's gain recovered."""

import math

import pytest
import torch

from mlsteer.analysis.paired import compare, detectable_effect, gap_recovered
from mlsteer.errors import MlsteerError


def _paired(
    baseline: torch.Tensor, flip: float, right: float, generator: torch.Generator
) -> torch.Tensor:
    """A method that keeps each baseline answer, except a ``flip`` share of items redrawn as
    right with probability ``right``: paired with the baseline like a steered run."""
    redraw = torch.rand(baseline.shape, generator=generator) < flip
    return torch.where(redraw, torch.rand(baseline.shape, generator=generator) < right, baseline)


def test_detectable_effect_is_found_with_the_stated_power():
    """Plant a true difference equal to the detectable effect: about 80% of runs must show it
    beyond 1.96 SE, and a planted zero about 5%."""
    generator = torch.Generator().manual_seed(0)
    n, flip, trials = 400, 0.2, 1000
    expected_se = math.sqrt(
        flip * 0.5 / n
    )  # var(d) = P(redrawn answer differs) = flip * 1/2 at p = 1/2
    effect = detectable_effect(expected_se)
    found = {0.0: 0, effect: 0}
    for planted in found:
        for _ in range(trials):
            baseline = torch.rand(n, generator=generator) < 0.5
            c = compare(_paired(baseline, flip, 0.5 + planted / flip, generator), baseline)
            found[planted] += abs(c.delta) > 1.959964 * c.delta_stderr
    assert 0.75 < found[effect] / trials < 0.85, found
    assert found[0.0] / trials < 0.08, found
    assert detectable_effect(0.01) == pytest.approx(0.0280158, rel=1e-5)
    with pytest.raises(MlsteerError, match="between 0 and 1"):
        detectable_effect(0.01, power=1.0)


def test_gap_recovered_is_the_ratio_of_paired_gains_with_a_bootstrap_sized_error():
    generator = torch.Generator().manual_seed(1)
    n = 600
    baseline = torch.rand(n, generator=generator) < 0.4
    ceiling = _paired(baseline, 0.5, 0.8, generator)  # gains ~20 points
    steered = torch.where(
        torch.rand(n, generator=generator) < 0.5, ceiling, baseline
    )  # about half of that
    result = gap_recovered(steered, baseline, ceiling)
    exact = compare(steered, baseline).delta / compare(ceiling, baseline).delta
    assert result.fraction == pytest.approx(exact, rel=1e-6) and 0.3 < result.fraction < 0.7
    boot = []
    for _ in range(400):
        index = torch.randint(n, (n,), generator=generator)
        b, c, s = baseline[index], ceiling[index], steered[index]
        boot.append(((s.float() - b.float()).mean() / (c.float() - b.float()).mean()).item())
    assert result.stderr == pytest.approx(torch.tensor(boot).std().item(), rel=0.25)
    # a ceiling that gains nothing leaves no gap to recover
    nothing = gap_recovered(steered, baseline, baseline)
    assert math.isnan(nothing.fraction) and str(nothing).startswith("no gap")
