"""Integration tests on the embedded Gemma 3 270M (converted from the PyPI GGUF once, cached)."""

import pytest
import torch

from mlsteer.activations import cache_activations
from mlsteer.data import builtin_pairs
from mlsteer.demo import DEMO_PROMPTS
from mlsteer.langid import detect_language
from mlsteer.learners import learn_mean_difference
from mlsteer.models.embedded_gemma import load_embedded_hf
from mlsteer.steering import generate, steer

from ..tolerances import FORWARD, assert_close_scaled

pytestmark = pytest.mark.integration

SENTENCES = [
    "The capital of France is Paris.",
    "Hola, ¿cómo estás?",
    "我喜欢喝茶。",
    "Habari ya asubuhi",
]


@pytest.fixture(scope="module")
def hf_gemma():
    model, tokenizer = load_embedded_hf()  # a second, unwrapped copy: the reference
    return model, tokenizer


def test_shape(gemma):
    assert (gemma.n_layers, gemma.d_model) == (18, 640)
    assert gemma.bridge.cfg.d_vocab == 262144


def test_bridge_logits_equal_hf_logits(gemma, hf_gemma):
    model, tokenizer = hf_gemma
    encoded = tokenizer(SENTENCES, return_tensors="pt", padding=True)
    with torch.inference_mode():
        ours = gemma.bridge(encoded["input_ids"], attention_mask=encoded["attention_mask"])
        reference = model(**encoded).logits
    real = encoded["attention_mask"].bool()
    # Bridge and HF run the same weights with different kernels/summation orders: the logits may
    # differ by a few dozen ulps of their own scale (|logit| ~ 30: 1.1e-4 on AMD EPYC, <1e-4 on Intel).
    assert_close_scaled(ours[real], reference[real], ulps=FORWARD)


def test_resid_post_equals_hf_hidden_states(gemma, hf_gemma):
    model, tokenizer = hf_gemma
    layers = list(range(gemma.n_layers - 1))  # HF's last hidden state is after the final norm
    ours = cache_activations(gemma, SENTENCES, layers, pooling="last", progress=False)
    for i, sentence in enumerate(SENTENCES):
        with torch.inference_mode():
            hidden = model(
                **tokenizer(sentence, return_tensors="pt"), output_hidden_states=True
            ).hidden_states
        for layer in layers:
            expected = hidden[layer + 1][0, -1]
            # same forward, other summation order: a few ulps of the residual's scale (~150 here)
            assert_close_scaled(ours[i, layer], expected, ulps=FORWARD)


def test_spanish_minus_english_vector_turns_english_continuations_spanish(gemma):
    pairs = builtin_pairs("es")
    layer = 6
    english = cache_activations(
        gemma, list(pairs.english), [layer], pooling="mean", progress=False
    )[:, 0]
    spanish = cache_activations(gemma, list(pairs.target), [layer], pooling="mean", progress=False)[
        :, 0
    ]
    vector = learn_mean_difference(
        english, spanish, layer=layer, model_fingerprint=gemma.fingerprint
    ).steering
    prompts = list(DEMO_PROMPTS)
    plain = [detect_language(t) for t in generate(gemma, prompts, max_new_tokens=20).texts]
    with steer(gemma, vector, alpha=1.0):
        steered = [detect_language(t) for t in generate(gemma, prompts, max_new_tokens=20).texts]
    assert plain.count("es") == 0, plain
    assert steered.count("es") >= 3, steered
    with steer(gemma, vector.negated(), alpha=1.0):  # the control: pushed away from Spanish
        negated = [detect_language(t) for t in generate(gemma, prompts, max_new_tokens=20).texts]
    assert negated.count("es") == 0, negated
