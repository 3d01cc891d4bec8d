"""Model access: load a model behind a TransformerLens 4 bridge, with what steering checks."""

from mlsteer.models.loading import BUILTIN_MODELS, PAPER_MODELS, load_model, offline_models
from mlsteer.models.wrapper import SteerableModel

__all__ = ["BUILTIN_MODELS", "PAPER_MODELS", "SteerableModel", "load_model", "offline_models"]
