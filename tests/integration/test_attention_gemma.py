"""The embedded Gemma under SDPA (the default), eager attention, and bf16 weights."""

import pytest
import torch

from mlsteer.models import load_model

from ..tolerances import FORWARD, assert_close_scaled

pytestmark = pytest.mark.integration

SENTENCES = [
    "The capital of France is Paris, and the capital of Kenya is Nairobi.",
    "Hola, ¿cómo estás?",
    "我喜欢喝茶。",
]


@pytest.fixture(scope="module")
def encoded(gemma):
    return gemma.tokenizer(SENTENCES, return_tensors="pt", padding=True)


def _logits(model, encoded):
    with torch.inference_mode():
        return model.bridge(encoded["input_ids"], attention_mask=encoded["attention_mask"])


def test_sdpa_and_eager_give_the_same_logits(gemma, encoded):
    eager = load_model("gemma-3-270m", attn_implementation="eager")
    assert gemma.attn_implementation == "sdpa"
    real = encoded["attention_mask"].bool()
    # the same products summed by two attention kernels: a whole-forward bound of the logits' scale
    assert_close_scaled(_logits(gemma, encoded)[real], _logits(eager, encoded)[real], ulps=FORWARD)


def test_bf16_weights_cast_on_load_keep_the_top_token(gemma, encoded):
    bf16 = load_model("gemma-3-270m", dtype="bfloat16")
    assert (
        bf16.dtype == torch.bfloat16 and bf16.fingerprint == gemma.fingerprint
    )  # fp32 vectors apply to both
    real = encoded["attention_mask"].bool()
    fp32, half = _logits(gemma, encoded)[real], _logits(bf16, encoded)[real].float()
    agree = (fp32.argmax(-1) == half.argmax(-1)).float().mean()
    assert agree >= 0.8  # bf16 rounding flips only near-ties among the top tokens
