"""Activations: tokenise, run the model up to a layer, pool resid_post, save with metadata."""

from mlsteer.activations.collect import cache_activations, check_layers
from mlsteer.activations.pooling import POOLINGS, pool
from mlsteer.activations.store import (
    ActivationMeta,
    ActivationSet,
    load_activations,
    save_activations,
)
from mlsteer.activations.tokenize import TokenBatch, check_texts, encode_batch

__all__ = [
    "POOLINGS",
    "ActivationMeta",
    "ActivationSet",
    "TokenBatch",
    "cache_activations",
    "check_layers",
    "check_texts",
    "encode_batch",
    "load_activations",
    "pool",
    "save_activations",
]
