"""``mlsteer transfer`` and ``mlsteer pivot``: matrices of paired accuracy deltas.

- Transfer (Figure 3; English impact, Table 4, is its ``en`` column): each source language's
  chosen vector (from a sweep, or a file/layer/alpha given) applied to every target language's
  test items, compared with that target's unsteered run.
- Pivot (Table 3): vectors that steer toward es/fr/de (or en) instead of English, learned from
  pairs joined on their English side, applied to the source language's own items.

Rows are stored as they are produced (``results.sqlite`` in the output folder; reruns resume).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from mlsteer.analysis.transfer import DeltaMatrix, delta_matrix
from mlsteer.evaluation.methods import Basic, Method
from mlsteer.evaluation.runner import evaluate
from mlsteer.evaluation.tasks import Task, get_task
from mlsteer.io import write_text_atomic
from mlsteer.layout import AnalysisLayout
from mlsteer.pipeline.context import RunContext
from mlsteer.pipeline.sweep import VectorChoice, correctness, learn_layers, steered_methods
from mlsteer.plots.io import save_figure
from mlsteer.plots.transfer import delta_heatmap


def run_transfer(
    context: RunContext,
    task_name: str,
    vectors: Mapping[str, VectorChoice],
    targets: Sequence[str],
) -> DeltaMatrix:
    """``vectors[source]`` applied to each of ``targets`` (include ``en`` for the English
    impact); rows and the matrix go to ``context.out``."""
    model, task = context.model, get_task(task_name)
    for target in targets:  # unknown / missing language: fail before any run
        task.load(target, data_dir=context.data_dir, limit=1)
    steered = {}
    for target in targets:
        methods = {
            source: steered_methods(choice, f"from_{source}")["vector"]
            for source, choice in vectors.items()
        }
        runs = _correctness(context, task, target, methods)
        steered.update(
            {(source, target): runs[source] for source in vectors}
            | {("basic", target): runs["basic"]}
        )
    basic = {target: steered.pop(("basic", target)) for target in targets}
    matrix = delta_matrix(steered, basic)
    _write(
        matrix,
        AnalysisLayout(context.out).transfer(task.name),
        f"Cross-language transfer on {task.name} ({model.name})",
        "vector from",
        "applied to",
    )
    return matrix


def run_pivot(
    context: RunContext,
    task_name: str,
    langs: Sequence[str],
    pivots: Sequence[str],
    *,
    layer: int,
    alpha: float = 1.0,
    learner: str = "mse",
    options: Mapping[str, Any] | None = None,
) -> DeltaMatrix:
    """For each language, vectors toward each pivot (``en`` included for reference) at
    ``layer``, learned from ``context``'s corpus (pairs joined on their English side)."""
    task, folder = get_task(task_name), AnalysisLayout(context.out)
    for lang in langs:
        task.load(lang, data_dir=context.data_dir, limit=1)
    steered, basic = {}, {}
    for lang in langs:
        methods = {}
        for pivot in pivots:
            if pivot == lang:
                continue
            path = learn_layers(
                context, lang, [layer], learner, folder.vectors, options=options, goal=pivot
            )
            methods[pivot] = steered_methods(VectorChoice(path, layer, alpha), path.stem)["vector"]
        runs = _correctness(context, task, lang, methods)
        basic[lang] = runs.pop("basic")
        steered.update({(f"toward {pivot}", lang): correct for pivot, correct in runs.items()})
    matrix = delta_matrix(steered, basic)
    _write(
        matrix,
        folder.pivot(task.name),
        f"Pivot languages on {task.name} ({context.model.name}, {learner}, layer {layer}, "
        f"alpha {alpha:g})",
        "vector",
        "language",
    )
    return matrix


def _correctness(
    context: RunContext, task: Task, lang: str, methods: Mapping[str, Method]
) -> dict[str, Tensor]:
    """Evaluate ``methods`` and ``basic`` on ``lang`` (resuming ``context.out``'s rows) and
    return their per-item correctness on the same items."""
    store = evaluate(
        context.model,
        task,
        [lang],
        [Basic(), *methods.values()],
        context.out,
        **context.evaluation(),
    )
    return correctness(store, context.model, task, lang, methods)


def _write(matrix: DeltaMatrix, path: Path, title: str, row_title: str, column_title: str) -> None:
    write_text_atomic(path, json.dumps(matrix.to_dict(), indent=1))
    write_text_atomic(path.with_suffix(".md"), f"**{title}**\n\n{matrix.markdown(row_title)}\n")
    save_figure(delta_heatmap(matrix, title, row_title, column_title), path.parent, path.stem)
