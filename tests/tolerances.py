"""Float tolerances relative to the compared values' scale and dtype, for tests that pass on any CPU.

Two float computations of the same quantity that sum in different orders (another BLAS kernel,
another thread count, another CPU: Intel Xeon vs AMD EPYC) differ by a few units in the last
place (ulp) of the *largest* terms they add, not of the result. So a fixed absolute bound such as
1e-4 on logits of magnitude 30 is a bound of ~30 ulps: it passed on Intel and failed on AMD. Every
bound here is ``ulps * eps(dtype) * scale``, where ``scale`` is the magnitude of the values
compared, and each call site says why its ``ulps`` is what it is.
"""

from __future__ import annotations

import torch
from torch import Tensor

# How many ulps of the values' scale a computation may drift, by kind of computation. A real
# bug (a missing norm, a wrong position, a steering vector on the wrong row) moves values by a
# sizeable fraction of their scale, i.e. by ~1e5-1e7 ulps in fp32, far past every bound below.
EXACT_OPS = 8  # a few elementwise ops or one short reduction, same inputs
SHORT_SUM = 64  # reductions over a few hundred terms (means, norms, cosines)
FORWARD = 1024  # a whole transformer forward in another kernel order (observed: <= 40 ulps)
DECOMPOSITION = 1024  # eigen/SVD solvers: iterative, sensitive to row order
TRAINING = 2**16  # iterative optimisers compared with a closed form (tolerance ~1% of scale)


def scaled_atol(expected: Tensor, ulps: float, scale: float | None = None) -> float:
    """``ulps * eps(dtype) * scale``; ``scale`` defaults to ``max |expected|`` (at least 1 ulp of 1.0
    for an all-zero ``expected``, so comparing zeros with zeros still has a bound)."""
    expected = torch.as_tensor(expected)
    dtype = expected.dtype if expected.is_floating_point() else torch.float32
    if scale is None:
        scale = float(expected.detach().abs().max()) if expected.numel() else 1.0
    return ulps * torch.finfo(dtype).eps * (scale or 1.0)


def assert_close_scaled(actual, expected, ulps: float, scale: float | None = None) -> None:
    """``torch.testing.assert_close`` with ``atol = scaled_atol(expected, ulps, scale)`` and
    ``rtol = ulps * eps``: relative to the scale of what is compared, the same on every CPU."""
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    dtype = expected.dtype if expected.is_floating_point() else torch.float32
    atol = scaled_atol(expected, ulps, scale)
    torch.testing.assert_close(
        actual.to(expected.dtype), expected, rtol=ulps * torch.finfo(dtype).eps, atol=atol
    )


def approx_scaled(expected, ulps: float, scale: float | None = None):
    """``pytest.approx`` with the same scaled bound, for plain floats and sequences of them."""
    import pytest

    values = torch.as_tensor(expected, dtype=torch.float32)
    return pytest.approx(
        expected, abs=scaled_atol(values, ulps, scale), rel=ulps * torch.finfo(torch.float32).eps
    )
