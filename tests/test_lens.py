import torch

from mlsteer.activations.lens import logit_lens_topk
from mlsteer.steering import SteeringVector, steer

from .tolerances import FORWARD, assert_close_scaled, scaled_atol


def test_lens_at_the_last_layer_is_the_model_prediction(tiny_model, texts):
    lens = logit_lens_topk(
        tiny_model, texts, list(range(tiny_model.n_layers)), k=5, batch_size=2, progress=False
    )
    assert lens.token_ids.shape == (len(texts), tiny_model.n_layers, 5)
    for i, text in enumerate(texts):
        ids = tiny_model.tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            probs = tiny_model.bridge(ids)[0, -1].float().softmax(-1)
        top = probs.topk(5)
        assert torch.equal(lens.token_ids[i, -1], top.indices)
        # probabilities (scale 1) from the bridge's lens path vs its own forward: other kernels
        assert_close_scaled(lens.probs[i, -1], top.values, ulps=FORWARD, scale=1.0)
    assert len(lens.tokens[0][0]) == 5 and all(isinstance(t, str) for t in lens.tokens[0][0])


def test_lens_sees_steering(tiny_gemma, texts):
    vector = SteeringVector(
        torch.randn(64, generator=torch.Generator().manual_seed(0)) * 5,
        1,
        "t",
        tiny_gemma.fingerprint,
    )
    base = logit_lens_topk(tiny_gemma, texts, [0, 1, 3], k=3, progress=False)
    with steer(tiny_gemma, vector):
        steered = logit_lens_topk(tiny_gemma, texts, [0, 1, 3], k=3, progress=False)
    assert torch.equal(base.token_ids[:, 0], steered.token_ids[:, 0])  # before the vector: same
    assert (base.probs[:, 2] - steered.probs[:, 2]).abs().max() > scaled_atol(
        base.probs, FORWARD, scale=1.0
    )
