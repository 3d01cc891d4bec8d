"""The plain-HF fast path (mlsteer.models.plain) against the bridge path, its reference.

The bridge path is forced the way a user would: another TransformerLens hook on the bridge (a
no-op that counts its calls, so the test also sees that the bridge ran).
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager, nullcontext

import pytest
import torch

import mlsteer.models.plain as plain
from mlsteer.activations import cache_activations, encode_batch
from mlsteer.activations.collect import residuals_at
from mlsteer.models import load_model
from mlsteer.models.plain import fast_path_available
from mlsteer.steering import SteeringVector, generate, steer

generate_module = importlib.import_module("mlsteer.steering.generate")  # the package exports
# a function of the same name
PROMPTS = ["The cat sits on the mat and", "Hi", "El gato se sienta", "猫坐在垫子上，狗"]


def make_vector(
    model, layer: int, scale: float = 3.0, seed: int = 0, resid_norm: float = 10.0
) -> SteeringVector:
    direction = torch.randn(model.d_model, generator=torch.Generator().manual_seed(seed))
    return SteeringVector(direction * scale, layer, "test", model.fingerprint, resid_norm)


@contextmanager
def bridge_path(model):
    """Another TL hook is active, so calls take the bridge path; yields its call counts."""
    calls: list[int] = []
    with model.bridge.hooks(fwd_hooks=[("hook_embed", lambda resid, hook: calls.append(1))]):
        yield calls


@pytest.fixture
def fast_calls(monkeypatch) -> list[int]:
    """Counts the fast path's runs (each enters ``unbridged`` once)."""
    calls: list[int] = []
    original = plain.unbridged

    @contextmanager
    def counted(model):
        calls.append(1)
        with original(model) as hf_model:
            yield hf_model

    monkeypatch.setattr(plain, "unbridged", counted)
    return calls


def assert_restored(model) -> None:
    """The bridge's components are back in the HF model and no HF layer keeps a hook."""
    layers = model.bridge.original_model.get_decoder().layers
    assert all(a is b for a, b in zip(layers, model.bridge.blocks, strict=True))
    for view_swap in plain.plain_view(model).swaps:
        parent, name, component, _ = view_swap
        assert parent._modules[name] is component
    assert all(not layer._forward_hooks for layer in model.hf_layers)
    assert fast_path_available(model)


def assert_close_to_scale(actual, expected) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_predicate(tiny_model):
    vector = make_vector(tiny_model, layer=1)
    assert fast_path_available(tiny_model)
    with steer(tiny_model, vector):  # mlsteer's own hook: still fast
        assert fast_path_available(tiny_model)
        with bridge_path(tiny_model):
            assert not fast_path_available(tiny_model)
        extra = [(tiny_model.hook_name(1), lambda resid, hook: None)]  # at steering's own point
        with tiny_model.bridge.hooks(fwd_hooks=extra):
            assert not fast_path_available(tiny_model)
    with tiny_model.bridge.hooks(fwd_hooks=[("blocks.0.mlp.hook_out", lambda r, hook: None)]):
        assert not fast_path_available(tiny_model)
    assert fast_path_available(tiny_model)


def test_bridges_that_compute_otherwise_take_the_bridge():
    """TL re-implements eager attention, and its compatibility mode folds weights: the plain
    HF modules would compute something else."""
    assert not fast_path_available(load_model("tiny-gemma3", attn_implementation="eager"))
    model = load_model("tiny-llama")
    model.bridge.enable_compatibility_mode(disable_warnings=True)
    assert not fast_path_available(model)


@pytest.mark.parametrize("positions", ["all", "generated"])
@pytest.mark.parametrize("use_kv_cache", [True, False])
def test_generation_tokens_equal_bridge(tiny_model, fast_calls, positions, use_kv_cache):
    vector = make_vector(tiny_model, layer=1)
    kwargs = dict(max_new_tokens=10, use_kv_cache=use_kv_cache, stop_at_eos=False)
    with steer(tiny_model, vector, positions=positions):
        fast = generate(tiny_model, PROMPTS, **kwargs)
        assert fast_calls == [1]
        with bridge_path(tiny_model) as bridge_calls:
            reference = generate(tiny_model, PROMPTS, **kwargs)
        assert bridge_calls and fast_calls == [1]
    assert torch.equal(fast.tokens, reference.tokens)
    assert fast.texts == reference.texts
    unsteered = generate(tiny_model, PROMPTS, **kwargs)
    assert not torch.equal(unsteered.tokens, fast.tokens)  # the steering did act
    assert_restored(tiny_model)


def test_generation_with_stops_and_multi_layer_steering_equal_bridge(tiny_model, fast_calls):
    """Rows leave the batch at EOS or a stop string (cache rows dropped) on both paths."""
    vectors = [make_vector(tiny_model, layer=0, seed=1), make_vector(tiny_model, layer=2)]
    with steer(tiny_model, vectors, alpha=0.5):
        full = generate(tiny_model, PROMPTS, max_new_tokens=12, stop_at_eos=False).texts
        stops = sorted({text[3:5] for text in full if len(text) > 5})[:2]  # strings that occur
        fast = generate(tiny_model, PROMPTS, max_new_tokens=12, stop_strings=stops)
        with bridge_path(tiny_model):
            reference = generate(tiny_model, PROMPTS, max_new_tokens=12, stop_strings=stops)
    assert len(fast_calls) == 2
    assert any(len(cut) < len(text) for cut, text in zip(fast.texts, full))  # rows did stop
    assert torch.equal(fast.tokens, reference.tokens)
    assert fast.texts == reference.texts


@pytest.mark.parametrize("steered", [False, True])
def test_cached_activations_equal_bridge(tiny_model, fast_calls, steered):
    top = tiny_model.n_layers - 1  # the last block: the bridge stops at the final norm instead
    vector = make_vector(tiny_model, layer=1)
    for layers, pooling in (([0, 1, 2], "mean"), ([top, 1], "last"), (2, "mean")):
        with steer(tiny_model, vector) if steered else nullcontext():
            fast = cache_activations(tiny_model, PROMPTS, layers, pooling, progress=False)
            with bridge_path(tiny_model) as bridge_calls:
                reference = cache_activations(tiny_model, PROMPTS, layers, pooling, progress=False)
        assert bridge_calls
        assert_close_to_scale(fast, reference)
    unsteered = cache_activations(tiny_model, PROMPTS, 2, "mean", progress=False)
    assert torch.equal(fast, unsteered) != steered  # steering did act on the fast path
    assert len(fast_calls) == 4
    assert_restored(tiny_model)


def test_per_token_residuals_equal_bridge(tiny_gemma, fast_calls):
    batch = encode_batch(tiny_gemma, PROMPTS)
    with steer(tiny_gemma, make_vector(tiny_gemma, layer=2), positions="prompt"):
        fast = residuals_at(tiny_gemma, batch, 2)
        with bridge_path(tiny_gemma):
            reference = residuals_at(tiny_gemma, batch, 2)
    assert fast_calls == [1]
    assert_close_to_scale(fast, reference)


def test_hooks_removed_after_an_exception(tiny_gemma, monkeypatch):
    """An error inside the HF forward (a layer raising) or the decoding loop leaves no hook
    on the HF layers and puts the bridge's components back."""
    reference = cache_activations(tiny_gemma, PROMPTS, [1, 3], progress=False)

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    vector = make_vector(tiny_gemma, layer=1)
    with steer(tiny_gemma, vector):
        with monkeypatch.context() as patch:
            patch.setattr(tiny_gemma.hf_layers[2], "forward", boom)
            with pytest.raises(RuntimeError, match="boom"):
                cache_activations(tiny_gemma, PROMPTS, [1, 3], progress=False)
        assert_restored(tiny_gemma)
        with monkeypatch.context() as patch:
            patch.setattr(generate_module, "_plain_step", boom)
            with pytest.raises(RuntimeError, match="boom"):
                generate(tiny_gemma, PROMPTS, max_new_tokens=3)
        assert_restored(tiny_gemma)
    assert_close_to_scale(cache_activations(tiny_gemma, PROMPTS, [1, 3], progress=False), reference)


@pytest.mark.integration
def test_gemma_generation_fast_equals_bridge(gemma, fast_calls):
    prompts = ["The capital of France is", "Hola, me llamo"]
    vector = make_vector(gemma, layer=6, scale=20.0, resid_norm=500.0)  # norm ~500, as learned
    with steer(gemma, vector):
        fast = generate(gemma, prompts, max_new_tokens=8, stop_at_eos=False)
        with bridge_path(gemma):
            reference = generate(gemma, prompts, max_new_tokens=8, stop_at_eos=False)
    assert fast_calls == [1]
    assert torch.equal(fast.tokens, reference.tokens)
    unsteered = generate(gemma, prompts, max_new_tokens=8, stop_at_eos=False)
    assert not torch.equal(unsteered.tokens, fast.tokens)  # the steering did act
