import math

import pytest
import torch

from mlsteer.activations import encode_batch
from mlsteer.errors import (
    IncompatibleVectorError,
    InvalidOptionError,
    InvalidVectorError,
    LayerOutOfRangeError,
)
from mlsteer.models import load_model
from mlsteer.models.wrapper import DecodingPositions
from mlsteer.steering import SteeringVector, generate, position_mask, steer

from .conftest import capture_resid
from .tolerances import EXACT_OPS, FORWARD, SHORT_SUM, assert_close_scaled, scaled_atol


def make_vector(model, layer=2, seed=0, scale=2.0, **kwargs) -> SteeringVector:
    direction = torch.randn(model.d_model, generator=torch.Generator().manual_seed(seed))
    return SteeringVector(
        direction * scale, layer, "test", model.fingerprint, resid_norm=10.0, **kwargs
    )


def test_exact_effect_layers_before_unchanged_layer_l_shifted(tiny_model, texts):
    batch = encode_batch(tiny_model, texts)
    vector = make_vector(tiny_model, layer=2)
    plain = capture_resid(tiny_model, batch.input_ids, batch.attention_mask)
    with steer(tiny_model, vector, alpha=1.5):
        steered = capture_resid(tiny_model, batch.input_ids, batch.attention_mask)
    for layer in range(2):
        assert torch.equal(plain[layer], steered[layer])
    expected = plain[2].clone()
    expected[:, 1:] += 1.5 * vector.vector  # every position of every row but BOS
    assert_close_scaled(steered[2], expected, ulps=EXACT_OPS)  # one addition on identical inputs
    # every batch item is steered downstream, not only item 0 (the raw-HF-hook pitfall)
    for row in range(len(texts)):
        moved = (plain[3][row, 1:] - steered[3][row, 1:]).abs().max()
        assert moved > scaled_atol(plain[3][row, 1:], FORWARD)  # beyond any rounding drift


def test_include_bos_and_relative_scale(tiny_gemma, texts):
    batch = encode_batch(tiny_gemma, texts[:2])
    vector = make_vector(tiny_gemma, layer=1)
    plain = capture_resid(tiny_gemma, batch.input_ids)
    with steer(tiny_gemma, vector, alpha=0.5, scale="relative", include_bos=True):
        steered = capture_resid(tiny_gemma, batch.input_ids)
    added = 0.5 * vector.resid_norm * vector.vector / vector.norm
    assert_close_scaled(
        steered[1], plain[1] + added, ulps=EXACT_OPS
    )  # one addition on identical inputs
    assert math.isclose(
        float(added.norm()), 0.5 * 10.0, rel_tol=EXACT_OPS * torch.finfo(torch.float32).eps
    )


def test_hook_removed_after_block_and_after_exception(tiny_gemma, texts):
    batch = encode_batch(tiny_gemma, texts)
    vector = make_vector(tiny_gemma)
    before = capture_resid(tiny_gemma, batch.input_ids)[3]
    with steer(tiny_gemma, vector):
        pass
    torch.testing.assert_close(
        capture_resid(tiny_gemma, batch.input_ids)[3], before, rtol=0, atol=0
    )
    with pytest.raises(RuntimeError, match="boom"):
        with steer(tiny_gemma, vector, alpha=3.0):
            raise RuntimeError("boom")
    torch.testing.assert_close(
        capture_resid(tiny_gemma, batch.input_ids)[3], before, rtol=0, atol=0
    )
    assert all(
        not hp.has_hooks()
        for hp in tiny_gemma.bridge.hook_dict.values()
        if hasattr(hp, "has_hooks")
    )


@pytest.mark.parametrize("positions", ["all", "prompt", "generated"])
def test_kv_cache_and_no_cache_generate_same_tokens_under_steering(tiny_model, positions):
    vector = make_vector(tiny_model, layer=1, scale=3.0)
    prompts = ["The cat sits", "El gato", "猫坐在垫子上"]
    with steer(tiny_model, vector, positions=positions):
        cached = generate(
            tiny_model, prompts, max_new_tokens=10, use_kv_cache=True, stop_at_eos=False
        )
        uncached = generate(
            tiny_model, prompts, max_new_tokens=10, use_kv_cache=False, stop_at_eos=False
        )
    plain = generate(tiny_model, prompts, max_new_tokens=10, stop_at_eos=False)
    assert torch.equal(cached.tokens, uncached.tokens)
    assert not torch.equal(cached.tokens, plain.tokens)  # the vector does change the output
    assert tiny_model.positions == DecodingPositions()  # generation restores the default


def test_batched_generation_equals_one_prompt_at_a_time(tiny_model):
    prompts = ["The cat sits on the mat", "Hi", "Paka anakaa"]
    batched = generate(tiny_model, prompts, max_new_tokens=8, stop_at_eos=False)
    for row, prompt in enumerate(prompts):
        single = generate(tiny_model, [prompt], max_new_tokens=8, stop_at_eos=False)
        assert torch.equal(batched.tokens[row], single.tokens[0])


def test_position_mask_prompt_generated_and_bos():
    where = DecodingPositions(offset=0, prompt_length=3, bos_index=torch.tensor([0, 1]))
    prompt = position_mask(where, 2, 5, "prompt", include_bos=False, adds_bos=True)
    assert prompt.tolist() == [[False, True, True, False, False], [True, False, True, False, False]]
    generated = position_mask(where, 2, 5, "generated", include_bos=False, adds_bos=True)
    assert generated.tolist() == [[False, False, False, True, True]] * 2
    one_step = DecodingPositions(offset=4, prompt_length=3, bos_index=torch.tensor([0, 1]))
    assert position_mask(one_step, 2, 1, "generated", False, True).tolist() == [[True], [True]]
    assert position_mask(one_step, 2, 1, "prompt", False, True).tolist() == [[False], [False]]


def test_vector_round_trip(tiny_gemma, tmp_path):
    vector = make_vector(tiny_gemma, info={"lang": "sw", "losses": [0.5, 0.25]}, train_hash="abc")
    path = vector.save(tmp_path / "v.safetensors")
    loaded = SteeringVector.load(path)
    assert torch.equal(loaded.vector, vector.vector)
    assert (loaded.layer, loaded.method, loaded.model_fingerprint) == (
        2,
        "test",
        tiny_gemma.fingerprint,
    )
    assert loaded.info == vector.info and loaded.train_hash == "abc" and loaded.resid_norm == 10.0
    assert loaded.hook_name == "blocks.2.hook_resid_post"


def test_controls_keep_norm(tiny_gemma):
    vector = make_vector(tiny_gemma)
    assert torch.equal(vector.negated().vector, -vector.vector)
    random = vector.random_like(seed=3)
    assert math.isclose(
        random.norm, vector.norm, rel_tol=SHORT_SUM * torch.finfo(torch.float32).eps
    )  # a rescaled norm
    assert torch.equal(random.vector, vector.random_like(seed=3).vector)
    assert abs(float(torch.cosine_similarity(random.vector, vector.vector, dim=0))) < 0.5


@pytest.mark.usefixtures("without_shape_checks")  # checks mlsteer's own error
def test_vector_errors(tiny_gemma):
    with pytest.raises(InvalidVectorError, match="1 NaN/inf entries; re-learn"):
        SteeringVector(torch.tensor([1.0, float("nan"), 2.0]), 1, "mse", tiny_gemma.fingerprint)
    with pytest.raises(InvalidVectorError, match="1-D tensor"):
        SteeringVector(torch.ones(2, 64), 1, "mse", tiny_gemma.fingerprint)
    narrow = SteeringVector(torch.ones(32), 1, "mse", tiny_gemma.fingerprint)
    with pytest.raises(IncompatibleVectorError, match="d_model 32 but tiny-gemma3 has d_model 64"):
        with steer(tiny_gemma, narrow):
            pass
    other = SteeringVector(torch.ones(64), 1, "mse", load_model("tiny-llama").fingerprint)
    with pytest.raises(
        IncompatibleVectorError, match="learned on tiny-llama.*allow_other_model=True"
    ):
        with steer(tiny_gemma, other):
            pass
    with steer(tiny_gemma, other, allow_other_model=True):  # the explicit override
        pass
    deep = SteeringVector(torch.ones(64), 7, "mse", tiny_gemma.fingerprint)
    with pytest.raises(LayerOutOfRangeError, match="layer 7 is out of range"):
        with steer(tiny_gemma, deep):
            pass
    with pytest.raises(InvalidOptionError, match="use one of: all, prompt, generated"):
        with steer(tiny_gemma, make_vector(tiny_gemma), positions="middle"):
            pass
    with pytest.raises(InvalidVectorError, match="alpha is inf"):
        with steer(tiny_gemma, make_vector(tiny_gemma), alpha=float("inf")):
            pass


def test_load_rejects_missing_and_foreign_files(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(Exception, match="no vector file"):
        SteeringVector.load(tmp_path / "missing.safetensors")
    save_file({"x": torch.ones(3)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(Exception, match="not an mlsteer vector file"):
        SteeringVector.load(tmp_path / "foreign.safetensors")


def test_map_controls_move_residuals_back_or_as_far_in_a_random_direction():
    from mlsteer.steering import SteeringMap

    generator = torch.Generator().manual_seed(3)
    d = 16
    item = SteeringMap(
        torch.eye(d) + 0.3 * torch.randn(d, d, generator=generator),
        torch.randn(d, generator=generator),
        2,
        "lstsq",
        "m@x",
    )
    resid = torch.randn(2, 5, d, generator=generator) * 4
    mask = torch.ones(2, 5, dtype=torch.bool)
    moved = item.apply(resid, mask, alpha=1.0) - resid
    back = item.negated().apply(resid, mask, alpha=1.0) - resid
    assert_close_scaled(back, -moved, SHORT_SUM)  # d-term matrix products on both sides
    random = item.random_like(0).apply(resid, mask, alpha=1.0) - resid
    assert_close_scaled(
        random.norm(dim=-1), moved.norm(dim=-1), SHORT_SUM
    )  # same distance per token
    cosine = torch.nn.functional.cosine_similarity(
        random.flatten(0, 1), moved.flatten(0, 1), dim=-1
    )
    assert cosine.abs().max() < 0.9  # but another direction
    assert_close_scaled(item.random_like(0).matrix, item.random_like(0).matrix, EXACT_OPS)  # seeded
    assert not torch.allclose(item.random_like(0).matrix, item.random_like(1).matrix)
