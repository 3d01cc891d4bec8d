"""BiPO on a tiny model: the trainer, the upper-stack shortcut, and the preference margin."""

import pytest
import torch

from mlsteer.activations import encode_batch
from mlsteer.activations.collect import residuals_at
from mlsteer.activations.preferences import encode_preferences
from mlsteer.data import builtin_pairs
from mlsteer.data.preferences import PreferenceTriple, triples_from_parallel
from mlsteer.errors import EmptyInputError
from mlsteer.learners import BipoConfig, learn_bipo, preference_margin
from mlsteer.models.upper import UpperStack
from mlsteer.steering import steer

from .tolerances import EXACT_OPS, FORWARD, approx_scaled, assert_close_scaled

LAYER = 1


@pytest.fixture(scope="module")
def split(tiny_gemma):
    triples = triples_from_parallel(builtin_pairs("es"))
    train = encode_preferences(tiny_gemma, triples[:16], LAYER, progress=False)
    heldout = encode_preferences(tiny_gemma, triples[16:32], LAYER, progress=False)
    return train, heldout


def test_upper_stack_matches_the_full_forward(tiny_model):
    """Log-probs from cached resid at L through layers L+1.. equal a full forward's."""
    batch = encode_batch(
        tiny_model, ["The cat sits on the mat", "El gato se sienta en la alfombra"]
    )
    upper = UpperStack(tiny_model, LAYER)
    completion = batch.attention_mask.bool().clone()
    completion[:, :4] = False
    resid = residuals_at(tiny_model, batch, LAYER).clone()
    ours = upper.completion_logprobs(batch.input_ids, batch.attention_mask, resid, completion)
    with torch.inference_mode():
        logprobs = tiny_model.bridge(
            batch.input_ids, attention_mask=batch.attention_mask
        ).log_softmax(-1)
    targets = logprobs[:, :-1].gather(-1, batch.input_ids[:, 1:, None])[..., 0]
    expected = (targets * completion[:, 1:]).sum(1)
    # the upper stack reruns layers L+1..N from cached resid: a forward in another order
    assert_close_scaled(ours, expected, ulps=FORWARD)


def test_upper_stack_with_vector_equals_steered_forward(tiny_gemma):
    """Adding v to the cached resid equals steering the full model with v at that layer."""
    from mlsteer.steering import SteeringVector

    batch = encode_batch(tiny_gemma, ["The cat sits on the mat"])
    vector = torch.randn(64, generator=torch.Generator().manual_seed(0)) * 2
    completion = batch.attention_mask.bool().clone()
    completion[:, :3] = False
    resid = residuals_at(tiny_gemma, batch, LAYER).clone()
    resid_v = resid + batch.pool_mask().unsqueeze(-1) * vector
    ours = UpperStack(tiny_gemma, LAYER).completion_logprobs(
        batch.input_ids, batch.attention_mask, resid_v, completion
    )
    with (
        torch.inference_mode(),
        steer(tiny_gemma, SteeringVector(vector, LAYER, "t", tiny_gemma.fingerprint)),
    ):
        logprobs = tiny_gemma.bridge(batch.input_ids).log_softmax(-1)
    expected = (
        logprobs[:, :-1].gather(-1, batch.input_ids[:, 1:, None])[..., 0] * completion[:, 1:]
    ).sum(1)
    assert_close_scaled(ours, expected, ulps=FORWARD)  # as above, plus one vector addition


def test_bipo_raises_heldout_margin_and_negation_lowers_it(tiny_gemma, split):
    train, heldout = split
    upper = UpperStack(tiny_gemma, LAYER)
    config = BipoConfig(lr=0.05, epochs=3, warmup_steps=5)
    result = learn_bipo(
        train,
        upper.completion_logprobs,
        model_fingerprint=tiny_gemma.fingerprint,
        config=config,
        progress=False,
    )
    vector = result.steering
    assert (
        vector.method == "bipo" and vector.layer == LAYER and len(result.diagnostics.losses) == 48
    )
    assert preference_margin(heldout, upper.completion_logprobs, vector.vector) > 0.1
    assert preference_margin(heldout, upper.completion_logprobs, -vector.vector) < -0.1
    # the same inputs twice: zero up to a few ulps of the completions' log-probs (tens of nats)
    assert preference_margin(heldout, upper.completion_logprobs, torch.zeros(64)) == approx_scaled(
        0.0, EXACT_OPS, scale=100.0
    )


def test_bipo_is_deterministic_under_a_seed(tiny_gemma, split):
    train, _ = split
    upper = UpperStack(tiny_gemma, LAYER)
    config = BipoConfig(lr=0.05, warmup_steps=2)
    runs = [
        learn_bipo(
            train,
            upper.completion_logprobs,
            model_fingerprint="m",
            config=config,
            seed=3,
            progress=False,
        )
        for _ in range(2)
    ]
    assert torch.equal(runs[0].steering.vector, runs[1].steering.vector)


def test_encode_preferences_marks_completion_tokens(tiny_gemma):
    data = encode_preferences(
        tiny_gemma, [PreferenceTriple("Hola\n", "Hello", "Hola")], LAYER, progress=False
    )
    chosen = data.chosen
    ids = chosen.input_ids[0, chosen.completion_mask[0]].tolist()
    assert tiny_gemma.tokenizer.decode(ids) == "Hello"
    assert not chosen.steer_mask[0, 0] and chosen.steer_mask[0, 1]  # BOS is never steered
    assert chosen.resid.shape == (1, chosen.input_ids.shape[1], 64)
    with pytest.raises(EmptyInputError, match="empty chosen"):
        PreferenceTriple("q", " ", "r")
