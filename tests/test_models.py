import pytest
import torch

from mlsteer.errors import LayerOutOfRangeError, UnknownModelError
from mlsteer.models import load_model
from mlsteer.models.tiny import tiny_hf_model

from .tolerances import FORWARD, assert_close_scaled


def test_tiny_model_shape_and_hooks(tiny_model):
    assert tiny_model.n_layers == 4
    assert tiny_model.d_model == 64
    for layer in range(tiny_model.n_layers):
        assert tiny_model.hook_name(layer) in tiny_model.bridge.hook_dict
    assert tiny_model.adds_bos


def test_bridge_logits_equal_hf_logits(tiny_model, reference_hf):
    encoded = tiny_model.tokenizer(
        ["a cat", "el gato se sienta"], return_tensors="pt", padding=True
    )
    with torch.inference_mode():
        bridge_logits = tiny_model.bridge(
            encoded["input_ids"], attention_mask=encoded["attention_mask"]
        )
        hf_logits = reference_hf[tiny_model.name](**encoded).logits
    real = encoded["attention_mask"].bool()
    assert_close_scaled(
        bridge_logits[real], hf_logits[real], ulps=FORWARD
    )  # other kernels, same weights


@pytest.mark.parametrize("layer", [-1, 4, 100, 1.5, True])
@pytest.mark.usefixtures("without_shape_checks")  # checks mlsteer's own error
def test_layer_out_of_range_names_valid_range(tiny_gemma, layer):
    with pytest.raises(LayerOutOfRangeError, match="from 0 to 3"):
        tiny_gemma.hook_name(layer)


def test_unknown_model_lists_choices():
    with pytest.raises(UnknownModelError, match="gemma-3-270m.*tiny-gemma3.*Hub id"):
        load_model("gemma-4-huge")


def test_fingerprint_is_stable_and_model_specific():
    assert load_model("tiny-llama").fingerprint == load_model("tiny-llama", seed=1).fingerprint
    assert load_model("tiny-llama").fingerprint != load_model("tiny-gemma3").fingerprint


def test_local_folder_loads_through_the_hub_code_path(tiny_gemma, tmp_path):
    """A saved HF folder goes through AutoModel/AutoTokenizer, as a Hub id would."""
    tiny_hf_model("tiny-gemma3").save_pretrained(tmp_path)  # the bridge wraps its own copy in place
    tiny_gemma.tokenizer.save_pretrained(tmp_path)
    reloaded = load_model(str(tmp_path))
    ids = tiny_gemma.tokenizer(["the cat"], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        # the same weights reloaded from disk: the same forward up to summation order
        assert_close_scaled(reloaded.bridge(ids), tiny_gemma.bridge(ids), ulps=FORWARD)
    assert reloaded.fingerprint.startswith(str(tmp_path))
