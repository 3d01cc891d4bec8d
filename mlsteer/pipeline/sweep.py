"""``mlsteer sweep``: learn a vector per layer, evaluate steering at every (layer, alpha) on the
task's validation split, choose there, and report the choice on the test split next to its
negated and random controls (the paper's Figure 7, chosen honestly).

Everything lands in the run folder as it is produced and a rerun resumes:
``vectors/{lang}_{learner}.safetensors`` (one entry per layer), ``validation/results.sqlite``,
``test/results.sqlite``, then ``sweep_{task}.json``, ``sweep_{task}.md`` and the figure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Bool
from torch import Tensor

from mlsteer import distributed
from mlsteer.activations.collect import check_layers
from mlsteer.analysis.paired import align
from mlsteer.analysis.sweep import (
    ALL_LAYERS,
    CONTROLS,
    LanguageSweep,
    choose_cell,
    layer_name,
    summarise_sweep,
)
from mlsteer.errors import MlsteerError
from mlsteer.evaluation.methods import Basic, Method, Steered
from mlsteer.evaluation.runner import evaluate
from mlsteer.evaluation.store import ResultStore
from mlsteer.evaluation.tasks import get_task
from mlsteer.evaluation.tasks.base import Task
from mlsteer.io import check_writable, write_text_atomic
from mlsteer.learners import get_learner_entry
from mlsteer.models.wrapper import SteerableModel
from mlsteer.pipeline.learn import learn_from_corpus, save_results
from mlsteer.plots.io import save_figure
from mlsteer.plots.sweep import sweep_figure
from mlsteer.steering import load_steering, save_steering


@dataclass(frozen=True)
class VectorChoice:
    """Which entry of which vector file to apply (``ALL_LAYERS``: all of them), and how strongly."""

    path: Path
    layer: int
    alpha: float


@dataclass(frozen=True)
class Application:
    """How a learner's vectors are applied: at which positions, alpha absolute or a fraction of
    the layer's residual norm (``relative``), at one layer or at every learned layer at once."""

    positions: str = "all"
    scale: str = "absolute"
    all_layers: bool = False


def learn_layers(
    model: SteerableModel,
    lang: str,
    layers: Sequence[int],
    learner: str,
    folder: Path,
    corpus: str,
    data_dir,
    n_pairs: int | None,
    seed: int,
    options: Mapping[str, Any] | None = None,
    goal: str = "en",
    progress: bool = True,
    label: str | None = None,
) -> Path:
    """``folder/{lang}_{label}.safetensors`` (label: the learner's name unless given) with one
    entry per layer; reused when it holds them all."""
    label = label or learner
    name = f"{lang}_{label}" if goal == "en" else f"{lang}_to_{goal}_{label}"
    path = folder / f"{name}.safetensors"
    if path.is_file() and set(layers) <= {item.layer for item in load_steering(path)}:
        return path
    one_pass = get_learner_entry(learner).spec.one_pass  # else one training run per layer
    per_call = [list(layers)] if one_pass else [[layer] for layer in layers]
    results = []
    for chunk in per_call:
        results += learn_from_corpus(
            model,
            learner,
            chunk,
            lang,
            corpus=corpus,
            data_dir=data_dir,
            n_pairs=n_pairs,
            seed=seed,
            options=dict(options or {}),
            progress=progress,
            goal=goal,
        )
    return save_results(path, results)


def steered_methods(
    choice: VectorChoice,
    label: str,
    controls: Sequence[str] = ("vector",),
    application: Application = Application(),
) -> dict[str, Method]:
    """The vector at one (layer, alpha) and any of its controls, by control name."""
    layer = None if choice.layer == ALL_LAYERS else choice.layer
    return {
        c: Steered(
            str(choice.path),
            choice.alpha,
            "" if c == "vector" else c,
            layer=layer,
            label=label,
            positions=application.positions,
            scale=application.scale,
        )
        for c in controls
    }


def correctness(
    store: ResultStore, model: SteerableModel, task: Task, lang: str, methods: Mapping[Any, Method]
):
    """Per-item correctness of ``methods`` (keys kept) and ``basic``, aligned on the same items."""
    runs = {
        key: store.correctness(model.name, task.name, lang, m.name) for key, m in methods.items()
    }
    runs["basic"] = store.correctness(model.name, task.name, lang, Basic.name)
    _, aligned = align(runs, require="basic")
    return aligned


def run_sweep(
    model: SteerableModel,
    task_name: str,
    langs: Sequence[str],
    out: str | os.PathLike,
    layers: Sequence[int],
    alphas: Sequence[float] = (1.0,),
    learner: str = "mse",
    corpus: str = "tatoeba",
    n_pairs: int | None = 200,
    limit: int | None = None,
    data_dir=None,
    seed: int = 0,
    test_grid: bool = True,
    batch_size: int = 8,
    options: Mapping[str, Any] | None = None,
    progress: bool = True,
    vectors_dir: str | os.PathLike | None = None,
    test: bool = True,
    *,
    label: str | None = None,
    application: Application = Application(),
) -> list[LanguageSweep]:
    """Sweep ``layers`` x ``alphas`` for each language; returns (and writes) one result per language.
    Vectors go to ``vectors_dir`` (default ``out/vectors``), where existing ones are reused.
    ``test=False`` stops after the validation choice (``mlsteer run`` scores the test split in its
    own evaluation step, with the baselines). ``label`` names the learner's files and methods (two
    configurations of one learner need two labels); ``application.all_layers`` sweeps alpha only,
    steering at every one of ``layers`` at once."""
    task, layers, out = get_task(task_name), check_layers(model, layers), Path(out)
    label = label or learner
    swept = [ALL_LAYERS] if application.all_layers else layers
    vectors_dir = Path(vectors_dir) if vectors_dir is not None else out / "vectors"
    for folder in (
        out,
        vectors_dir,
    ):  # a bad output fails now, not after the first language's training
        check_writable(folder, folder=True)
    common = dict(
        limit=limit, data_dir=data_dir, seed=seed, batch_size=batch_size, progress=progress
    )
    sweeps = []
    for lang in langs:
        task.load(
            lang, split=task.fewshot_split, data_dir=data_dir, limit=1
        )  # bad language/files: fail before learning
        with (
            distributed.main_first()
        ):  # under torchrun: rank 0 learns and saves, the others reuse the file
            path = learn_layers(
                model,
                lang,
                layers,
                learner,
                vectors_dir,
                corpus,
                data_dir,
                n_pairs,
                seed,
                options,
                progress=progress,
                label=label,
            )
        grid = {
            (layer, alpha): steered_methods(
                VectorChoice(path, layer, alpha), path.stem, application=application
            )["vector"]
            for layer in swept
            for alpha in alphas
        }
        store = evaluate(
            model,
            task,
            [lang],
            [Basic(), *grid.values()],
            out / "validation",
            split=task.fewshot_split,
            **common,
        )
        validation = correctness(store, model, task, lang, grid)
        layer, alpha = choose_cell(_grid(validation, swept, alphas), swept, alphas)
        if test:
            at_choice = steered_methods(
                VectorChoice(path, layer, alpha), path.stem, CONTROLS, application
            )
            test_methods = {**(grid if test_grid else {}), **at_choice}
            store = evaluate(
                model, task, [lang], [Basic(), *test_methods.values()], out / "test", **common
            )
            on_test = correctness(store, model, task, lang, test_methods)
        else:
            on_test = {}
        sweeps.append(
            summarise_sweep(
                lang,
                swept,
                alphas,
                _grid(validation, swept, alphas),
                validation["basic"],
                {c: on_test[c] for c in CONTROLS if c in on_test},
                on_test.get("basic"),
                _grid(on_test, swept, alphas) if test and test_grid else None,
            )
        )
        if distributed.is_main():
            _write(
                sweeps, out, task.name, model.name, label, vectors_dir
            )  # after every language: a killed run keeps the finished ones
        distributed.barrier()
    return sweeps


def _grid(
    runs: Mapping[Any, Tensor], layers: Sequence[int], alphas: Sequence[float]
) -> Bool[Tensor, "layer alpha item"]:
    return torch.stack(
        [torch.stack([runs[(layer, alpha)] for alpha in alphas]) for layer in layers]
    )


def sweep_markdown(sweeps: Sequence[LanguageSweep], task: str, model: str, learner: str) -> str:
    lines = [
        f"**{task}** on {model}, {learner} vectors: layer and alpha chosen on validation, reported on test "
        "(accuracy %, Δ vs unsteered ± paired SE)",
        "",
        "| lang | layer | alpha | validation (basic) | test basic | vector | negated | random |",
        "|---" * 8 + "|",
    ]
    for s in sweeps:
        layer, alpha = s.chosen
        val = s.validation[s.layers.index(layer), s.alphas.index(alpha)]
        test = f"{100 * s.basic_test:.1f}" if s.basic_test is not None else "–"
        lines.append(
            f"| {s.lang} | {layer_name(layer)} | {alpha:g} | {100 * float(val):.1f} ({100 * s.basic_validation:.1f}) | "
            f"{test} | "
            + " | ".join(str(s.test[c]) if c in s.test else "–" for c in CONTROLS)
            + " |"
        )
    return "\n".join(lines)


def _write(
    sweeps: Sequence[LanguageSweep],
    out: Path,
    task: str,
    model: str,
    learner: str,
    vectors_dir: Path,
) -> None:
    name = f"sweep_{task}"
    vectors = os.path.relpath(vectors_dir, out)
    write_text_atomic(
        out / f"{name}.json",
        json.dumps(
            {
                "task": task,
                "model": model,
                "learner": learner,
                "vectors": vectors,
                "languages": [s.to_dict() for s in sweeps],
            },
            indent=1,
        ),
    )
    write_text_atomic(out / f"{name}.md", sweep_markdown(sweeps, task, model, learner) + "\n")
    save_figure(
        sweep_figure(
            sweeps, f"Layer sensitivity on {task} ({learner} vectors; star: chosen on validation)"
        ),
        out,
        name,
    )


def load_choices(sweep_dir: str | os.PathLike, task: str) -> dict[str, VectorChoice]:
    """Each language's chosen (vector file, layer, alpha) from a finished sweep of ``task`` (a name or a task file)."""
    sweep_dir, task = Path(sweep_dir), get_task(task).name
    path = sweep_dir / f"sweep_{task}.json"
    if not path.is_file():
        raise MlsteerError(
            f"{sweep_dir} has no sweep_{task}.json; run mlsteer sweep --task {task} --out {sweep_dir} first"
        )
    data = json.loads(path.read_text())
    vectors = sweep_dir / data.get("vectors", "vectors")
    return {
        s["lang"]: VectorChoice(
            vectors / f"{s['lang']}_{data['learner']}.safetensors",
            s["chosen"]["layer"],
            s["chosen"]["alpha"],
        )
        for s in data["languages"]
    }


def export_choices(
    choices: Mapping[str, VectorChoice], folder: str | os.PathLike, scale: str = "absolute"
) -> Path:
    """``folder/{lang}.safetensors``: each language's chosen entry (every entry for
    ``ALL_LAYERS``) at its chosen strength, so the folder is a language-to-vector map that
    ``steered:FOLDER@1`` applies as chosen (``scale`` is how the sweep's alphas were meant)."""
    folder = Path(folder)
    for lang, choice in choices.items():
        entries = [
            entry
            for entry in load_steering(choice.path)
            if choice.layer in (ALL_LAYERS, entry.layer)
        ]
        save_steering(
            folder / f"{lang}.safetensors",
            [entry.at_strength(choice.alpha, scale == "relative") for entry in entries],
        )
    return folder
