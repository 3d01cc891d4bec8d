"""mlsteer: steering vectors that make LLMs better in non-English languages.

A vector learned from paired English / target-language text is added to the residual stream
at one layer (``blocks.{L}.hook_resid_post`` of a TransformerLens 4 bridge), with no fine-tuning.
"""

from mlsteer.activations import ActivationSet, cache_activations, load_activations, save_activations
from mlsteer.errors import MlsteerError
from mlsteer.models import SteerableModel, load_model
from mlsteer.steering import SteeringVector, generate, steer

__version__ = "0.1.0"

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
