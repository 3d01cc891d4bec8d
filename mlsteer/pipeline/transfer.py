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
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlsteer.analysis.transfer import DeltaMatrix, delta_matrix
from mlsteer.evaluation.methods import Basic
from mlsteer.evaluation.runner import evaluate
from mlsteer.evaluation.tasks import get_task
from mlsteer.io import write_text_atomic
from mlsteer.models.wrapper import SteerableModel
from mlsteer.pipeline.sweep import VectorChoice, correctness, learn_layers, steered_methods
from mlsteer.plots.io import save_figure
from mlsteer.plots.transfer import delta_heatmap


def run_transfer(
    model: SteerableModel,
    task_name: str,
    vectors: Mapping[str, VectorChoice],
    targets: Sequence[str],
    out: str | os.PathLike,
    limit: int | None = None,
    data_dir=None,
    seed: int = 0,
    batch_size: int = 8,
    progress: bool = True,
) -> DeltaMatrix:
    """``vectors[source]`` applied to each of ``targets`` (include ``en`` for the English impact)."""
    task, out = get_task(task_name), Path(out)
    for target in targets:
        task.load(
            target, data_dir=data_dir, limit=1
        )  # unknown / missing language: fail before any run
    steered = {}
    for target in targets:
        methods = {
            source: steered_methods(choice, f"from_{source}")["vector"]
            for source, choice in vectors.items()
        }
        store = evaluate(
            model,
            task,
            [target],
            [Basic(), *methods.values()],
            out,
            limit=limit,
            data_dir=data_dir,
            seed=seed,
            batch_size=batch_size,
            progress=progress,
        )
        runs = correctness(store, model, task, target, methods)
        steered.update(
            {(source, target): runs[source] for source in vectors}
            | {("basic", target): runs["basic"]}
        )
    basic = {target: steered.pop(("basic", target)) for target in targets}
    matrix = delta_matrix(steered, basic)
    _write(
        matrix,
        out,
        f"transfer_{task.name}",
        f"Cross-language transfer on {task.name} ({model.name})",
        "vector from",
        "applied to",
    )
    return matrix


def run_pivot(
    model: SteerableModel,
    task_name: str,
    langs: Sequence[str],
    pivots: Sequence[str],
    out: str | os.PathLike,
    layer: int,
    alpha: float = 1.0,
    learner: str = "mse",
    corpus: str = "msvamp",
    n_pairs: int | None = 200,
    limit: int | None = None,
    data_dir=None,
    seed: int = 0,
    batch_size: int = 8,
    options: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> DeltaMatrix:
    """For each language, vectors toward each pivot (``en`` included for reference) at ``layer``."""
    task, out = get_task(task_name), Path(out)
    for lang in langs:
        task.load(lang, data_dir=data_dir, limit=1)
    steered, basic = {}, {}
    for lang in langs:
        methods = {}
        for pivot in pivots:
            if pivot == lang:
                continue
            path = learn_layers(
                model,
                lang,
                [layer],
                learner,
                out / "vectors",
                corpus,
                data_dir,
                n_pairs,
                seed,
                options,
                goal=pivot,
                progress=progress,
            )
            methods[pivot] = steered_methods(VectorChoice(path, layer, alpha), path.stem)["vector"]
        store = evaluate(
            model,
            task,
            [lang],
            [Basic(), *methods.values()],
            out,
            limit=limit,
            data_dir=data_dir,
            seed=seed,
            batch_size=batch_size,
            progress=progress,
        )
        runs = correctness(store, model, task, lang, methods)
        basic[lang] = runs.pop("basic")
        steered.update({(f"toward {pivot}", lang): correct for pivot, correct in runs.items()})
    matrix = delta_matrix(steered, basic)
    _write(
        matrix,
        out,
        f"pivot_{task.name}",
        f"Pivot languages on {task.name} ({model.name}, {learner}, layer {layer}, alpha {alpha:g})",
        "vector",
        "language",
    )
    return matrix


def _write(
    matrix: DeltaMatrix, out: Path, name: str, title: str, row_title: str, column_title: str
) -> None:
    write_text_atomic(out / f"{name}.json", json.dumps(matrix.to_dict(), indent=1))
    write_text_atomic(out / f"{name}.md", f"**{title}**\n\n{matrix.markdown(row_title)}\n")
    save_figure(delta_heatmap(matrix, title, row_title, column_title), out, name)
