"""Train/test distribution (the paper's Figure 8): mean-pooled activations at one layer of the
steering corpus and of a task's rendered prompts, per language, in a shared 2-D PCA; writes
``pca.json`` and the figure ``pca``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from mlsteer.activations import cache_activations
from mlsteer.analysis.distribution import Projection, pca_2d
from mlsteer.data.corpora import load_pairs
from mlsteer.data.user_corpus import corpus_label
from mlsteer.errors import EmptyInputError
from mlsteer.evaluation.tasks import get_task
from mlsteer.io import write_text_atomic
from mlsteer.languages import check_languages
from mlsteer.layout import AnalysisLayout
from mlsteer.pipeline.context import RunContext
from mlsteer.plots.distribution import distribution_figure
from mlsteer.plots.io import save_figure


def run_train_test_pca(
    context: RunContext, langs: Sequence[str], *, layer: int, task: str = "xcopa"
) -> Path:
    """Per language: ``n = context.n_pairs`` seeded ``context.corpus`` target-language sentences
    (what vectors train on) vs ``n`` seeded ``task`` prompts (what they are evaluated on),
    mean-pooled at ``layer`` and projected by :func:`pca_2d`. Returns the figure's HTML path."""
    model, corpus, data_dir = context.model, context.corpus, context.data_dir
    n, seed, progress = context.n_pairs, context.seed, context.progress
    if not langs:
        raise EmptyInputError("no languages; pass at least one language code")
    model.check_layer(layer)
    benchmark = get_task(task)
    check_languages(
        list(langs), benchmark.languages, benchmark.name
    )  # before any language is computed
    task, label = benchmark.name, corpus_label(corpus)  # short names for the figure, not paths
    train_name, eval_name = f"{label} (train)", f"{task} (eval)"
    projections: dict[str, Projection] = {}
    for lang in langs:
        train = list(load_pairs(corpus, lang, data_dir, n=n, seed=seed).target)
        examples = benchmark.load(lang, data_dir=data_dir, limit=n, seed=seed)
        prompts = [benchmark.render(example).context for example in examples]
        if not prompts:
            raise EmptyInputError(f"{task} has no {lang} examples; check the data folder")
        acts = cache_activations(
            model, train + prompts, [layer], pooling="mean", progress=progress
        )[:, 0]
        projections[lang] = pca_2d({train_name: acts[: len(train)], eval_name: acts[len(train) :]})
    data_file = AnalysisLayout(context.out).pca()
    data_file.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "layer": layer,
        "task": task,
        "corpus": corpus,
        "n": n,
        "seed": seed,
        "langs": {lang: projection.to_dict() for lang, projection in projections.items()},
    }
    write_text_atomic(data_file, json.dumps(data, indent=1))
    title = f"{label} sentences vs {task} prompts at layer {layer} (PCA of mean-pooled resid_post)"
    return save_figure(distribution_figure(projections, title), data_file.parent, data_file.stem)
