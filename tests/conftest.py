"""Shared fixtures: tiny random models (fast) and the embedded Gemma (integration, cached)."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach the Hub

from mlsteer.models import SteerableModel, load_model
from mlsteer.models.tiny import TINY_MODELS, tiny_hf_model

TEXTS = [
    "The cat sits on the mat.",
    "El gato se sienta.",
    "猫坐在垫子上，狗在阳光下睡觉。",
    "Paka anakaa kwenye mkeka na mbwa analala juani, na ndege wanaimba.",
    "Hi",
]


@pytest.fixture(scope="session", params=["tiny-gemma3", "tiny-llama"])
def tiny_model(request) -> SteerableModel:
    return load_model(request.param)


@pytest.fixture(scope="session")
def tiny_gemma() -> SteerableModel:
    return load_model("tiny-gemma3")


@pytest.fixture(scope="session")
def gemma() -> SteerableModel:
    """The embedded Gemma 3 270M (converted from the PyPI GGUF on first use, then cached)."""
    return load_model("gemma-3-270m")


@pytest.fixture(scope="session")
def reference_hf():
    """A fresh HF model per tiny name, never wrapped by a bridge (the bridge wraps its own
    model in place, so ``bridge.original_model`` is no independent reference)."""
    return {name: tiny_hf_model(name) for name in TINY_MODELS}


@pytest.fixture
def texts() -> list[str]:
    return list(TEXTS)


def capture_resid(model: SteerableModel, input_ids, attention_mask=None) -> list[torch.Tensor]:
    """resid_post of every layer for one forward pass, as the hooks see it (after any steering)."""
    captured: dict[int, torch.Tensor] = {}

    def make_hook(layer: int):
        def hook(resid, hook):
            captured[layer] = resid.detach().clone()

        return hook

    hooks = [(model.hook_name(layer), make_hook(layer)) for layer in range(model.n_layers)]
    with torch.inference_mode(), model.bridge.hooks(fwd_hooks=hooks):
        model.bridge(input_ids, attention_mask=attention_mask)
    return [captured[layer] for layer in range(model.n_layers)]


@pytest.fixture
def without_shape_checks(monkeypatch):
    """For tests of mlsteer's own errors on wrong shapes or types: users run without the
    jaxtyping/beartype checker that ``make test`` turns on, so this is what they see."""
    import jaxtyping

    monkeypatch.setattr(jaxtyping.config, "jaxtyping_disable", True)
