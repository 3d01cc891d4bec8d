import pytest

from mlsteer.analysis.scripts import char_script, dominant_script, script_languages

from .tolerances import EXACT_OPS, assert_close_scaled


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("▁สวัสดี", ("th",)),
        ("ありがとう", ("ja",)),
        ("東京へ", ("ja",)),  # kana makes Han Japanese
        ("中国", ("zh", "ja")),
        ("নমস্কার", ("bn",)),
        ("నమస్కారం", ("te",)),
        ("привет", ("ru",)),
        ("γεια", ("el",)),
        ("مرحبا", ("ar",)),
        ("नमस्ते", ("hi",)),
        ("▁1234", ()),
        ("...", ()),
    ],
)
def test_script_languages(text, expected):
    assert script_languages(text) == expected


def test_latin_is_ambiguous_and_marks_are_not_letters():
    assert {"en", "es", "sw"} <= set(script_languages("habari"))
    assert char_script("́") is None  # a combining accent is no letter
    assert dominant_script("") is None


def test_language_distribution_on_planted_lens():
    import torch

    from mlsteer.activations.lens import LensTopK
    from mlsteer.analysis.lens_languages import language_distribution, token_language

    # layer 0 thinks in English, layer 1 in Thai, with a digit (no language) mixed in
    tokens = ((("▁the", "▁house", "▁1"), ("▁บ้าน", "▁ของ", "▁1")),)
    probs = torch.tensor([[[0.5, 0.3, 0.2], [0.6, 0.2, 0.2]]])
    lens = LensTopK((3, 9), torch.zeros(1, 2, 3, dtype=torch.long), probs, tokens)
    detect = lambda text: "en" if text in {"the", "house"} else None  # noqa: E731
    dist = language_distribution(lens, ["en", "th"], detect)
    assert_close_scaled(
        dist, torch.tensor([[0.8, 0.0, 0.2], [0.0, 0.8, 0.2]]), ulps=EXACT_OPS
    )  # shares of 1
    assert token_language("▁house", None) is None  # Latin needs a detector
    assert token_language("▁house", lambda t: "ru") is None  # a detector cannot leave the script
