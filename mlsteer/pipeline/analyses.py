"""Analysis jobs behind ``mlsteer similarity`` and ``mlsteer lens``: cache, analyse, write the
data (JSON) and the figure (self-contained HTML, plotly bundled, works offline) to a folder."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from mlsteer.activations import cache_activations
from mlsteer.activations.lens import logit_lens_topk
from mlsteer.analysis.lens_languages import language_distribution, script_restricted_detector
from mlsteer.analysis.similarity import language_distance_matrix, similarity_by_language
from mlsteer.data.corpora import load_pairs
from mlsteer.io import write_text_atomic
from mlsteer.langid import DEFAULT_TOKEN_DETECTOR
from mlsteer.models.wrapper import SteerableModel
from mlsteer.pipeline.conditions import conditions
from mlsteer.plots.io import save_figure
from mlsteer.plots.lens import language_distribution_figure
from mlsteer.plots.similarity import distance_matrix_figure, similarity_heatmap


def run_similarity(
    model: SteerableModel,
    langs: Sequence[str],
    out: str | os.PathLike,
    data_dir=None,
    n_pairs: int = 100,
    seed: int = 0,
    center: bool = False,
    progress: bool = True,
    corpus: str = "tatoeba",
) -> Path:
    """Figure 2: per language and layer, mean cosine of ``corpus`` sentences to their English."""
    layers = list(range(model.n_layers))
    pairs = {}
    for lang in langs:
        texts = load_pairs(corpus, lang, data_dir, n=n_pairs, seed=seed)
        acts = cache_activations(
            model, list(texts.target + texts.english), layers, pooling="mean", progress=progress
        )
        pairs[lang] = (acts[: len(texts)], acts[len(texts) :])
    result = similarity_by_language(pairs, layers, center=center)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = "similarity_centered" if center else "similarity"
    write_text_atomic(out / f"{name}.json", json.dumps(result.to_dict(), indent=1))
    # distances between languages' mean activations at a middle layer, English included; the mean
    # over languages is removed first, else the shared component makes every pair look alike
    middle = layers[len(layers) // 2]
    means = {"en": torch.cat([english for _, english in pairs.values()])[:, middle].mean(0)}
    means |= {lang: target[:, middle].mean(0) for lang, (target, _) in pairs.items()}
    shared = torch.stack(list(means.values())).mean(0)
    names, matrix = language_distance_matrix({lang: mean - shared for lang, mean in means.items()})
    write_text_atomic(
        out / f"distances_L{middle}.json",
        json.dumps({"layer": middle, "langs": names, "distance": matrix.tolist()}, indent=1),
    )
    save_figure(distance_matrix_figure(names, matrix), out, f"{name}_distances_L{middle}")
    return save_figure(similarity_heatmap(result), out, name)


def run_lens(
    model: SteerableModel,
    langs: Sequence[str],
    out: str | os.PathLike,
    vectors: Mapping[str, str] | None = None,
    data_dir=None,
    n_texts: int = 20,
    k: int = 10,
    alpha: float = 1.0,
    seed: int = 0,
    progress: bool = True,
    sft: Mapping[str, SteerableModel] | None = None,
    detector: str = DEFAULT_TOKEN_DETECTOR,
    corpus: str = "tatoeba",
) -> list[Path]:
    """Figures 5/6: the lens's language distribution per layer for each language's ``corpus``
    sentences, base, steered (where ``vectors[lang]`` names a file) and fine-tuned (where
    ``sft[lang]`` is a model made by ``mlsteer sft``): the design's SFT-vs-steering figure.
    Latin and Han tokens are placed by ``detector`` among their script's languages."""
    detect = script_restricted_detector(detector)
    layers = list(range(model.n_layers))
    out = Path(out)
    paths = []
    for lang in langs:
        texts = list(load_pairs(corpus, lang, data_dir, n=n_texts, seed=seed).target)
        shown = ["en", lang]
        results = {}
        for name, runner, active in conditions(model, lang, vectors, alpha, sft):
            with active:
                results[name] = language_distribution(
                    logit_lens_topk(runner, texts, layers, k, progress=progress), shown, detect
                )
        data = {name: values.tolist() for name, values in results.items()}
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(
            out / f"lens_{lang}.json",
            json.dumps(
                {
                    "layers": layers,
                    "langs": shown + ["other"],
                    "k": k,
                    "detector": detector,
                    "conditions": data,
                },
                indent=1,
            ),
        )
        title = f"Logit lens on {len(texts)} {lang} sentences (top-{k} tokens at the last position)"
        paths.append(
            save_figure(
                language_distribution_figure(results, layers, shown, title), out, f"lens_{lang}"
            )
        )
    return paths
