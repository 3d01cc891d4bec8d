"""Analysis jobs behind ``mlsteer similarity`` and ``mlsteer lens``: cache, analyse, write the
data (JSON) and the figure (self-contained HTML, plotly bundled, works offline) to a folder."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlsteer.activations import cache_activations
from mlsteer.activations.lens import logit_lens_topk
from mlsteer.analysis.lens_languages import language_distribution
from mlsteer.analysis.similarity import similarity_by_language
from mlsteer.data.corpora import load_pairs
from mlsteer.langid import detect_language
from mlsteer.models.wrapper import SteerableModel
from mlsteer.plots.lens import language_distribution_figure
from mlsteer.plots.similarity import similarity_heatmap
from mlsteer.steering import load_steering, steer


def write_figure(figure, path: Path) -> Path:
    """HTML with plotly.js inlined, so the file opens with no network."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path


def run_similarity(
    model: SteerableModel, langs: Sequence[str], out: str | os.PathLike, data_dir=None,
    n_pairs: int = 100, seed: int = 0, center: bool = False, progress: bool = True,
) -> Path:
    """Figure 2: per language and layer, mean cosine of Tatoeba sentences to their English."""
    layers = list(range(model.n_layers))
    pairs = {}
    for lang in langs:
        corpus = load_pairs("tatoeba", lang, data_dir, n=n_pairs, seed=seed)
        acts = cache_activations(model, list(corpus.target + corpus.english), layers, pooling="mean", progress=progress)
        pairs[lang] = (acts[: len(corpus)], acts[len(corpus) :])
    result = similarity_by_language(pairs, layers, center=center)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = "similarity_centered" if center else "similarity"
    (out / f"{name}.json").write_text(json.dumps(result.to_dict(), indent=1))
    return write_figure(similarity_heatmap(result), out / f"{name}.html")


def _detector(text: str) -> str | None:
    code = detect_language(text)
    return "zh" if code.startswith("zh") else (None if code == "unknown" else code)


def run_lens(
    model: SteerableModel, langs: Sequence[str], out: str | os.PathLike, vectors: Mapping[str, str] | None = None,
    data_dir=None, n_texts: int = 20, k: int = 10, alpha: float = 1.0, seed: int = 0, progress: bool = True,
) -> list[Path]:
    """Figures 5/6: the lens's language distribution per layer for each language's Tatoeba
    sentences, base and (where ``vectors[lang]`` names a file) steered."""
    layers = list(range(model.n_layers))
    out = Path(out)
    paths = []
    for lang in langs:
        texts = list(load_pairs("tatoeba", lang, data_dir, n=n_texts, seed=seed).target)
        shown = ["en", lang]
        conditions = {"base": language_distribution(logit_lens_topk(model, texts, layers, k, progress=progress), shown, _detector)}
        if vectors and lang in vectors:
            with steer(model, load_steering(vectors[lang]), alpha=alpha):
                lens = logit_lens_topk(model, texts, layers, k, progress=progress)
            conditions[f"steered (alpha {alpha:g})"] = language_distribution(lens, shown, _detector)
        data = {name: values.tolist() for name, values in conditions.items()}
        out.mkdir(parents=True, exist_ok=True)
        (out / f"lens_{lang}.json").write_text(json.dumps({"layers": layers, "langs": shown + ["other"], "k": k, "conditions": data}, indent=1))
        title = f"Logit lens on {len(texts)} {lang} sentences (top-{k} tokens at the last position)"
        paths.append(write_figure(language_distribution_figure(conditions, layers, shown, title), out / f"lens_{lang}.html"))
    return paths
