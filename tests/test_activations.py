import pytest
import torch

from mlsteer.activations import (
    ActivationMeta,
    ActivationSet,
    cache_activations,
    load_activations,
    pool,
    save_activations,
)
from mlsteer.errors import EmptyInputError, InvalidOptionError, LayerOutOfRangeError, MlsteerError

from .tolerances import EXACT_OPS, FORWARD, SHORT_SUM, assert_close_scaled


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_batched_equals_one_at_a_time(tiny_model, texts, pooling):
    batched = cache_activations(
        tiny_model, texts, [0, 2, 3], pooling=pooling, batch_size=3, progress=False
    )
    single = torch.cat(
        [
            cache_activations(tiny_model, [t], [0, 2, 3], pooling=pooling, progress=False)
            for t in texts
        ]
    )
    assert batched.shape == (len(texts), 3, 64)
    assert batched.dtype == torch.float32
    assert_close_scaled(batched, single, ulps=FORWARD)  # padded batch vs one text: other kernels


def test_matches_hf_hidden_states(tiny_model, reference_hf, texts):
    """resid_post of layer L is HF's hidden_states[L + 1] (the last one is post-norm in HF)."""
    hf = reference_hf[tiny_model.name]
    layers = list(range(tiny_model.n_layers - 1))
    ours = cache_activations(tiny_model, texts, layers, pooling="mean", progress=False)
    for i, text in enumerate(texts):
        encoded = tiny_model.tokenizer(text, return_tensors="pt")
        with torch.inference_mode():
            hidden = hf(**encoded, output_hidden_states=True).hidden_states
        for column, layer in enumerate(layers):
            expected = hidden[layer + 1][0, 1:].mean(0)  # BOS (position 0) left out
            assert_close_scaled(
                ours[i, column], expected, ulps=FORWARD
            )  # bridge vs plain HF forward


def test_last_pooling_takes_last_real_token_and_bos_option(tiny_gemma, reference_hf):
    texts = ["a b c d e f g", "x"]
    last = cache_activations(tiny_gemma, texts, [1], pooling="last", progress=False)
    with_bos = cache_activations(
        tiny_gemma, texts, [1], pooling="mean", include_bos=True, progress=False
    )
    without = cache_activations(tiny_gemma, texts, [1], pooling="mean", progress=False)
    encoded = tiny_gemma.tokenizer("x", return_tensors="pt")
    with torch.inference_mode():
        hidden = reference_hf["tiny-gemma3"](**encoded, output_hidden_states=True).hidden_states[2][
            0
        ]
    # bridge (in a padded batch) vs plain HF forward: other kernels, same weights
    assert_close_scaled(last[1, 0], hidden[-1], ulps=FORWARD)
    assert_close_scaled(without[1, 0], hidden[1:].mean(0), ulps=FORWARD)
    assert_close_scaled(with_bos[1, 0], hidden.mean(0), ulps=FORWARD)


@pytest.mark.usefixtures("without_shape_checks")  # checks mlsteer's own error
def test_pool_on_known_tensor():
    resid = torch.arange(12, dtype=torch.float32).reshape(1, 4, 3)
    mask = torch.tensor([[False, True, True, False]])
    assert_close_scaled(pool(resid, mask, "last"), resid[:, 2], ulps=EXACT_OPS)  # a copy
    assert_close_scaled(
        pool(resid, mask, "mean"), resid[:, 1:3].mean(1), ulps=SHORT_SUM
    )  # a 2-term mean
    with pytest.raises(InvalidOptionError, match="use one of: last, mean"):
        pool(resid, mask, "max")


def test_forward_stops_after_highest_requested_layer(tiny_gemma, texts):
    """No block above the requested one runs, and neither does the unembedding."""
    fired: list[str] = []

    def spy(name):
        def hook(tensor, hook):
            fired.append(name)

        return hook

    names = [tiny_gemma.hook_name(2), tiny_gemma.hook_name(3), "unembed.hook_out"]
    with tiny_gemma.bridge.hooks(fwd_hooks=[(n, spy(n)) for n in names]):
        cache_activations(tiny_gemma, texts, [0, 1], progress=False)
    assert fired == []
    with tiny_gemma.bridge.hooks(fwd_hooks=[(n, spy(n)) for n in names]):
        cache_activations(tiny_gemma, texts[:1], [2], progress=False)
    assert fired == [names[0]]


@pytest.mark.usefixtures("without_shape_checks")  # checks mlsteer's own error
def test_bad_input_errors(tiny_gemma):
    with pytest.raises(EmptyInputError, match="texts is empty"):
        cache_activations(tiny_gemma, [], [0])
    with pytest.raises(EmptyInputError, match=r"texts\[1\] is '  '"):
        cache_activations(tiny_gemma, ["ok", "  "], [0])
    with pytest.raises(EmptyInputError, match="not one string"):
        cache_activations(tiny_gemma, "just a string", [0])
    with pytest.raises(LayerOutOfRangeError, match="from 0 to 3"):
        cache_activations(tiny_gemma, ["ok"], [1, 9])


def test_save_load_round_trip(tiny_gemma, texts, tmp_path):
    acts = cache_activations(tiny_gemma, texts, [1, 3], progress=False)
    meta = ActivationMeta(tiny_gemma.fingerprint, (1, 3), "last", False, "abc", len(texts))
    path = save_activations(tmp_path / "acts.safetensors", ActivationSet(acts, meta))
    loaded = load_activations(path)
    assert loaded.meta == meta
    assert torch.equal(loaded.acts, acts)
    assert torch.equal(loaded.at_layer(3), acts[:, 1])
    with pytest.raises(MlsteerError, match=r"layer 2 was not cached \(cached layers: \[1, 3\]\)"):
        loaded.at_layer(2)
    assert not list(tmp_path.glob("*.partial"))
