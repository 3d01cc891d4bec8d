"""SDPA (the default) vs eager attention behind the bridge: same logits within fp32 kernel
reordering, SDPA really runs, and attention-pattern hooks ask for eager."""

from __future__ import annotations

import pytest
import torch

from mlsteer.models import load_model
from mlsteer.models.attention import AttentionHookError
from mlsteer.steering import generate
from tests.tolerances import FORWARD, assert_close_scaled

TEXTS = [
    "The cat sits on the mat and the dog sleeps in the sun.",
    "El gato se sienta.",
    "猫坐在垫子上",
]


@pytest.fixture(scope="module")
def eager_models() -> dict:
    return {
        name: load_model(name, attn_implementation="eager")
        for name in ("tiny-gemma3", "tiny-llama")
    }


def _logits(model, texts):
    batch = model.tokenizer(texts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        logits = model.bridge(batch["input_ids"], attention_mask=batch["attention_mask"])
    return logits, batch["attention_mask"].bool()


def test_sdpa_is_the_default_and_matches_eager_logits(tiny_model, eager_models):
    eager = eager_models[tiny_model.name]
    assert tiny_model.attn_implementation == "sdpa" and eager.attn_implementation == "eager"
    sdpa_logits, real = _logits(tiny_model, TEXTS)
    eager_logits, _ = _logits(eager, TEXTS)
    # real positions only (padding rows are masked out everywhere); the two kernels sum the
    # same products in another order: a whole-forward bound (tiny-gemma3 crosses its
    # sliding window of 8 here, so that mask is compared too)
    assert_close_scaled(sdpa_logits[real], eager_logits[real], ulps=FORWARD)


def test_sdpa_path_calls_torch_sdpa_and_eager_does_not(tiny_model, eager_models, monkeypatch):
    calls = []
    original = torch.nn.functional.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counting)
    _logits(tiny_model, TEXTS[:1])
    assert len(calls) == tiny_model.n_layers
    calls.clear()
    _logits(eager_models[tiny_model.name], TEXTS[:1])
    assert calls == []


def test_pattern_hooks_need_eager(tiny_gemma, eager_models):
    seen = []

    def keep(pattern, hook):
        seen.append(pattern.shape)

    ids = tiny_gemma.tokenizer(["the cat"], return_tensors="pt")["input_ids"]
    with pytest.raises(AttentionHookError, match="attn_implementation='eager'"):
        with tiny_gemma.bridge.hooks(fwd_hooks=[("blocks.1.attn.hook_pattern", keep)]):
            tiny_gemma.bridge(ids)
    eager = eager_models["tiny-gemma3"]
    with eager.bridge.hooks(fwd_hooks=[("blocks.1.attn.hook_pattern", keep)]):
        eager.bridge(ids)
    assert seen == [(1, 4, ids.shape[1], ids.shape[1])]  # [batch, head, query, key]
    _logits(tiny_gemma, ["still fine"])  # the hook is gone: SDPA runs again


def test_generation_is_the_same_with_the_kv_cache_under_both(tiny_model, eager_models):
    prompts = ["The cat sits on", "Le chat"]
    sdpa_tokens = generate(tiny_model, prompts, max_new_tokens=6).tokens
    eager_tokens = generate(eager_models[tiny_model.name], prompts, max_new_tokens=6).tokens
    assert torch.equal(sdpa_tokens, eager_tokens)


def test_norm_scale_hooks_still_fire_on_tl_s_path(tiny_gemma):
    """Norms run HF's module alone unless hook_scale / hook_normalized is hooked; then TL's path
    runs and the hook sees the scale, with the same logits to rounding."""
    seen = []

    def keep(scale, hook):
        seen.append(scale.shape)

    plain, real = _logits(tiny_gemma, TEXTS[:1])
    with tiny_gemma.bridge.hooks(fwd_hooks=[("blocks.1.ln1.hook_scale", keep)]):
        hooked, _ = _logits(tiny_gemma, TEXTS[:1])
    assert seen and seen[0][-1] == 1
    assert_close_scaled(hooked[real], plain[real], ulps=FORWARD)
