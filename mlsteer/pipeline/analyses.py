"""Analysis jobs behind ``mlsteer similarity`` and ``mlsteer lens``: cache, analyse, write the
data (JSON) and the figure (self-contained HTML, plotly bundled, works offline) to a folder."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from mlsteer.activations import cache_activations
from mlsteer.activations.lens import logit_lens_topk
from mlsteer.analysis.lens_languages import language_distribution, script_restricted_detector
from mlsteer.analysis.similarity import language_distance_matrix, similarity_by_language
from mlsteer.data.corpora import load_pairs
from mlsteer.data.pairs import ParallelPairs
from mlsteer.io import write_text_atomic
from mlsteer.langid import DEFAULT_TOKEN_DETECTOR
from mlsteer.layout import AnalysisLayout
from mlsteer.models.wrapper import SteerableModel
from mlsteer.pipeline.conditions import conditions
from mlsteer.pipeline.context import RunContext
from mlsteer.plots.io import save_figure
from mlsteer.plots.lens import language_distribution_figure
from mlsteer.plots.similarity import distance_matrix_figure, similarity_heatmap


def run_similarity(context: RunContext, langs: Sequence[str], *, center: bool = False) -> Path:
    """Figure 2: per language and layer, mean cosine of ``context.n_pairs`` sentences of
    ``context.corpus`` to their English; written to ``context.out``."""
    model, folder = context.model, AnalysisLayout(context.out)
    layers = list(range(model.n_layers))
    pairs = {}
    for lang in langs:
        texts = _sample(context, lang)
        acts = cache_activations(
            model,
            list(texts.target + texts.english),
            layers,
            pooling="mean",
            progress=context.progress,
        )
        pairs[lang] = (acts[: len(texts)], acts[len(texts) :])
    result = similarity_by_language(pairs, layers, center=center)
    folder.root.mkdir(parents=True, exist_ok=True)
    data = folder.similarity(center)
    write_text_atomic(data, json.dumps(result.to_dict(), indent=1))
    # distances between languages' mean activations at a middle layer, English included; the mean
    # over languages is removed first, else the shared component makes every pair look alike
    middle = layers[len(layers) // 2]
    means = {"en": torch.cat([english for _, english in pairs.values()])[:, middle].mean(0)}
    means |= {lang: target[:, middle].mean(0) for lang, (target, _) in pairs.items()}
    shared = torch.stack(list(means.values())).mean(0)
    names, matrix = language_distance_matrix({lang: mean - shared for lang, mean in means.items()})
    write_text_atomic(
        folder.distances(middle),
        json.dumps({"layer": middle, "langs": names, "distance": matrix.tolist()}, indent=1),
    )
    save_figure(
        distance_matrix_figure(names, matrix), folder.root, f"{data.stem}_distances_L{middle}"
    )
    return save_figure(similarity_heatmap(result), folder.root, data.stem)


def run_lens(
    context: RunContext,
    langs: Sequence[str],
    *,
    vectors: Mapping[str, str] | None = None,
    k: int = 10,
    alpha: float = 1.0,
    sft: Mapping[str, SteerableModel] | None = None,
    detector: str = DEFAULT_TOKEN_DETECTOR,
) -> list[Path]:
    """Figures 5/6: the lens's language distribution per layer for ``context.n_pairs`` of each
    language's ``context.corpus`` sentences, base, steered (where ``vectors[lang]`` names a
    file) and fine-tuned (where ``sft[lang]`` is a model made by ``mlsteer sft``): the design's
    SFT-vs-steering figure. Latin and Han tokens are placed by ``detector`` among their
    script's languages."""
    model, progress, folder = context.model, context.progress, AnalysisLayout(context.out)
    detect = script_restricted_detector(detector)
    layers = list(range(model.n_layers))
    paths = []
    for lang in langs:
        texts = list(_sample(context, lang).target)
        shown = ["en", lang]
        results = {}
        for name, runner, active in conditions(model, lang, vectors, alpha, sft):
            with active:
                results[name] = language_distribution(
                    logit_lens_topk(runner, texts, layers, k, progress=progress), shown, detect
                )
        data = {name: values.tolist() for name, values in results.items()}
        folder.root.mkdir(parents=True, exist_ok=True)
        data_file = folder.lens(lang)
        write_text_atomic(
            data_file,
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
                language_distribution_figure(results, layers, shown, title),
                folder.root,
                data_file.stem,
            )
        )
    return paths


def _sample(context: RunContext, lang: str) -> ParallelPairs:
    """``context.n_pairs`` seeded pairs of ``lang`` from ``context.corpus``."""
    return load_pairs(context.corpus, lang, context.data_dir, n=context.n_pairs, seed=context.seed)
