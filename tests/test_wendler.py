"""Wendler et al.'s latent-English measure: prefix tokens, prompts, lens mass, SE, pipeline."""

import json

import pytest
import torch

from mlsteer.activations.lens import lens_vocabulary, logit_lens_mass, logit_lens_topk
from mlsteer.analysis.wendler import (
    answer_mass,
    answer_token_sets,
    build_translation_prompts,
    prefix_token_ids,
    vocab_index,
)
from mlsteer.errors import EmptyInputError, MlsteerError
from mlsteer.pipeline import wendler as pipeline
from mlsteer.pipeline.context import RunContext
from mlsteer.pipeline.wendler import run_wendler, source_for
from mlsteer.steering import SteeringVector, save_steering

from .tolerances import EXACT_OPS, FORWARD, SHORT_SUM, assert_close_scaled

VOCAB = [
    "<pad>",
    "▁fl",
    "fleur",
    "Fl",
    "fle",
    "▁",
    "eur",
    "Ġfleur",
    "flower",
    "f",
    "x",
    "FLEUR",
    "fleurs",
    "Ċ",
    "▁Fleur",
]

WORDS = [  # synthetic rows; of the Chinese words only 阳光 and 在 are tiny-vocabulary tokens
    {"concept": "cat", "en": "cat", "fr": "chat", "es": "gato", "de": "Katze", "zh": "猫"},
    {"concept": "dog", "en": "dog", "fr": "chien", "es": "perro", "de": "Hund", "zh": "狗"},
    {"concept": "sun", "en": "sun", "fr": "soleil", "es": "sol", "de": "Sonne", "zh": "阳光"},
    {"concept": "mat", "en": "mat", "fr": "tapis", "es": "alfombra", "de": "Matte", "zh": "在"},
    {"concept": "taxi", "en": "taxi", "fr": "taxi", "es": "Taxi", "de": "Taxi", "zh": "出租车"},
    {"concept": "bird", "en": "bird", "fr": "oiseau", "es": "pájaro", "de": "Vogel", "zh": ""},
]


def test_prefix_ids_strip_markers_and_accept_both_cases():
    expected = [1, 2, 3, 4, 7, 9, 14]  # ▁fl fleur Fl fle Ġfleur f ▁Fleur
    assert prefix_token_ids(VOCAB, "Fleur") == expected
    assert prefix_token_ids(vocab_index(VOCAB), "Fleur") == expected  # the prebuilt index agrees
    # lowercase word: capitalised tokens are not prefixes of it
    assert prefix_token_ids(VOCAB, "fleur") == [1, 2, 4, 7, 9]
    assert prefix_token_ids(VOCAB, "xylophone") == [10]
    assert prefix_token_ids(VOCAB, "") == []


def test_answer_token_sets_drop_shared_prefixes():
    vocab = ["f", "fl", "flo", "flow", "flower", "flor", "▁flor", "b"]
    english, target = answer_token_sets(vocab, "flower", "flor")
    assert english == [3, 4] and target == [5, 6]
    assert answer_token_sets(vocab, "flo", "flor") == (
        [],
        [5, 6],
    )  # English is a prefix: unmeasurable


def test_lens_vocabulary_decodes_byte_level_tokens(tiny_gemma):
    vocab = lens_vocabulary(tiny_gemma)
    assert len(vocab) == 512
    assert "猫" in vocab or any(token.startswith("猫") for token in vocab)
    assert " the" in vocab and not any("Ġ" in token for token in vocab)


def test_lens_mass_at_the_last_layer_is_the_model_probability(tiny_gemma, texts):
    ids = [tiny_gemma.tokenizer(text, return_tensors="pt")["input_ids"] for text in texts]
    with torch.inference_mode():
        probs = [tiny_gemma.bridge(i)[0, -1].float().softmax(-1) for i in ids]
    top = [int(p.argmax()) for p in probs]
    other = [(t + 7) % 512 for t in top]
    sets = [[[t], [t, o, o], []] for t, o in zip(top, other)]  # the repeated id counts once
    layers = list(range(tiny_gemma.n_layers))
    mass = logit_lens_mass(tiny_gemma, texts, layers, sets, batch_size=2, progress=False)
    assert mass.shape == (len(texts), len(layers), 3)
    for i, p in enumerate(probs):
        # probabilities (scale 1) from the lens path vs the model's own forward: other kernels
        assert_close_scaled(mass[i, -1, 0], p[top[i]], ulps=FORWARD, scale=1.0)
        assert_close_scaled(mass[i, -1, 1], p[top[i]] + p[other[i]], ulps=FORWARD, scale=1.0)
    assert (mass[..., 2] == 0).all()
    # every layer agrees with the top-k lens (the shared batching path), whatever the batch size
    lens = logit_lens_topk(tiny_gemma, texts, layers, k=1, progress=False)
    per_layer = [[[int(lens.token_ids[i, 1, 0])]] for i in range(len(texts))]
    assert_close_scaled(  # the same lens in other batches: other kernel order, probabilities of scale 1
        logit_lens_mass(tiny_gemma, texts, [1], per_layer, batch_size=3, progress=False)[:, 0, 0],
        lens.probs[:, 1, 0],
        ulps=FORWARD,
        scale=1.0,
    )


def test_lens_mass_rejects_bad_token_sets(tiny_gemma, texts):
    with pytest.raises(MlsteerError, match="2 token-set lists for 5 texts"):
        logit_lens_mass(tiny_gemma, texts, [0], [[[1]], [[2]]], progress=False)
    with pytest.raises(MlsteerError, match="different numbers of token sets"):
        logit_lens_mass(tiny_gemma, texts, [0], [[[1]]] * 4 + [[[1], [2]]], progress=False)
    with pytest.raises(MlsteerError, match="token id 512 is outside the model's vocabulary 0..511"):
        logit_lens_mass(tiny_gemma, texts, [0], [[[512]]] * 5, progress=False)


@pytest.mark.usefixtures("without_shape_checks")  # checks mlsteer's own error
def test_answer_mass_mean_and_standard_error():
    mass = torch.tensor(
        [[[0.1, 0.5], [0.2, 0.4]], [[0.3, 0.7], [0.4, 0.2]], [[0.5, 0.3], [0.9, 0.0]]]
    )
    result = answer_mass(mass, layers=[3, 7])
    assert result.layers == (3, 7) and result.n_prompts == 3
    assert_close_scaled(
        result.english_mean, torch.tensor([0.3, 0.5]), ulps=EXACT_OPS
    )  # 3-term means
    assert_close_scaled(result.target_mean, torch.tensor([0.5, 0.2]), ulps=EXACT_OPS)
    # sample std of (0.1, 0.3, 0.5) is 0.2; SE = 0.2 / sqrt(3)
    assert_close_scaled(
        result.english_se[0], torch.tensor(0.2 / 3**0.5), ulps=SHORT_SUM
    )  # std, sqrt
    assert_close_scaled(result.target_se[1], torch.tensor(0.2 / 3**0.5), ulps=SHORT_SUM)
    single = answer_mass(mass[:1])
    assert single.layers == (0, 1) and (single.english_se == 0).all()
    assert json.loads(json.dumps(result.to_dict()))["n_prompts"] == 3
    with pytest.raises(MlsteerError, match=r"expected \[prompt, layer, 2\]"):
        answer_mass(torch.zeros(3, 2, 3))
    with pytest.raises(MlsteerError, match="1 layer labels for 2 layers"):
        answer_mass(mass, layers=[0])


def test_prompts_follow_wendler_and_never_show_the_query():
    prompts = build_translation_prompts(WORDS, "fr", "zh", n_shots=3, seed=1)
    # the bird row has no Chinese word; every other row has a distinct English and target word
    assert [p.english for p in prompts] == ["cat", "dog", "sun", "mat", "taxi"]
    for prompt in prompts:
        *shots, query = prompt.text.split("\n")
        assert len(shots) == 3 and query == f'Français: "{prompt.source}" - 中文: "'
        assert all(
            shot.startswith('Français: "') and '" - 中文: "' in shot and shot.endswith('"')
            for shot in shots
        )
        assert f'Français: "{prompt.source}"' not in shots[0] + shots[1] + shots[2]
    assert (
        prompts[0].text != build_translation_prompts(WORDS, "fr", "zh", n_shots=3, seed=2)[0].text
    )
    # English "taxi" = Spanish "Taxi" (case ignored): not a measurable query
    assert "taxi" not in [
        p.english for p in build_translation_prompts(WORDS, "fr", "es", n_shots=2)
    ]


def test_prompt_builder_errors():
    with pytest.raises(MlsteerError, match="two different non-English languages"):
        build_translation_prompts(WORDS, "fr", "en")
    with pytest.raises(MlsteerError, match="two different non-English languages"):
        build_translation_prompts(WORDS, "fr", "fr")
    with pytest.raises(MlsteerError, match="no prompt name for language 'xx'"):
        build_translation_prompts(WORDS, "fr", "xx")
    with pytest.raises(EmptyInputError, match="5 shots need at least 6"):
        build_translation_prompts(WORDS, "fr", "zh", n_shots=5)
    assert source_for("fr") == "de" and source_for("zh") == "fr" and source_for("de", "de") == "fr"


def test_builtin_word_list_feeds_the_prompt_builder():
    rows = pipeline.concept_word_rows()
    assert len(rows) > 20 and {"en", "fr", "de", "zh"} <= set(rows[0])
    prompts = build_translation_prompts(rows, "fr", "zh")
    assert len(prompts) == len(rows) and prompts[0].text.count("\n") == 4


def test_pipeline_end_to_end(tiny_gemma, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "concept_word_rows", lambda: [dict(row) for row in WORDS])
    vector = SteeringVector(
        torch.randn(64, generator=torch.Generator().manual_seed(0)) * 5,
        1,
        "t",
        tiny_gemma.fingerprint,
    )
    vectors = {"zh": str(save_steering(tmp_path / "zh.safetensors", [vector]))}
    context = RunContext(tiny_gemma, tmp_path / "run", progress=False)
    paths = run_wendler(context, ["zh", "fr"], vectors=vectors, alpha=2.0, n_shots=2)
    assert paths == [tmp_path / "run" / "wendler_zh.html", tmp_path / "run" / "wendler_fr.html"]
    for lang in ("zh", "fr"):
        assert (tmp_path / "run" / "figures" / f"wendler_{lang}.json").is_file()
    zh = json.loads((tmp_path / "run" / "wendler_zh.json").read_text(encoding="utf-8"))
    assert zh["source_lang"] == "fr" and zh["layers"] == [0, 1, 2, 3]
    assert (zh["n_prompts"], zh["n_dropped"]) == (2, 3)  # 猫 狗 出租车 have no token of their own
    assert list(zh["conditions"]) == ["base", "steered (alpha 2)"]
    base, steered = zh["conditions"]["base"], zh["conditions"]["steered (alpha 2)"]
    assert all(0 <= p <= 1 for p in base["english_mean"] + base["target_mean"])
    assert base["english_mean"][0] == steered["english_mean"][0]  # the vector sits after layer 1
    assert base["english_mean"][3] != steered["english_mean"][3]
    fr = json.loads((tmp_path / "run" / "wendler_fr.json").read_text(encoding="utf-8"))
    assert fr["source_lang"] == "de" and list(fr["conditions"]) == ["base"]
    assert fr["example_prompt"].startswith('Deutsch: "')
