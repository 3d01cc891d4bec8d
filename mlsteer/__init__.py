"""mlsteer: steering vectors that make LLMs better in non-English languages.

A vector learned from paired English / target-language text is added to the residual stream
at one layer (``blocks.{L}.hook_resid_post`` of a TransformerLens 4 bridge), with no fine-tuning.

The names below load on first use (PEP 562), so ``import mlsteer.cli`` and ``mlsteer --help``
do not pay for importing torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ActivationSet": "mlsteer.activations",
    "cache_activations": "mlsteer.activations",
    "load_activations": "mlsteer.activations",
    "save_activations": "mlsteer.activations",
    "MlsteerError": "mlsteer.errors",
    "SteerableModel": "mlsteer.models",
    "load_model": "mlsteer.models",
    "SteeringVector": "mlsteer.steering",
    "generate": "mlsteer.steering",
    "steer": "mlsteer.steering",
}

if TYPE_CHECKING:
    from mlsteer.activations import (
        ActivationSet,
        cache_activations,
        load_activations,
        save_activations,
    )
    from mlsteer.errors import MlsteerError
    from mlsteer.models import SteerableModel, load_model
    from mlsteer.steering import SteeringVector, generate, steer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlsteer' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "ActivationSet",
    "MlsteerError",
    "SteerableModel",
    "SteeringVector",
    "cache_activations",
    "generate",
    "load_activations",
    "load_model",
    "save_activations",
    "steer",
]
