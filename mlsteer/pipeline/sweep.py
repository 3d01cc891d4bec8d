"""``mlsteer sweep``: learn a vector per layer, evaluate steering at every (layer, alpha) on the
task's validation split, choose there, and report the choice on the test split next to its
negated and random controls (the paper's Figure 7, chosen honestly).

Everything lands in the sweep folder (:class:`~mlsteer.layout.SweepLayout`) as it is produced
and a rerun resumes: ``vectors/{lang}_{learner}.safetensors`` (one entry per layer), the
``validation`` and ``test`` result stores, then ``sweep_{task}.json`` (a :class:`SweepRecord`),
``sweep_{task}.md`` and the figure.
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
from mlsteer.layout import SweepLayout, language_file, vector_file
from mlsteer.learners import get_learner_entry
from mlsteer.models.wrapper import SteerableModel
from mlsteer.pipeline.context import RunContext
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
    context: RunContext,
    lang: str,
    layers: Sequence[int],
    learner: str,
    folder: Path,
    *,
    options: Mapping[str, Any] | None = None,
    goal: str = "en",
    label: str | None = None,
) -> Path:
    """The vector file ``folder/{lang}_{label}.safetensors`` (label: the learner's name unless
    given; see :func:`~mlsteer.layout.vector_file`) with one entry per layer, learned from
    ``context``'s corpus; reused when it holds them all."""
    path = vector_file(folder, lang, label or learner, goal)
    if path.is_file() and set(layers) <= {item.layer for item in load_steering(path)}:
        return path
    one_pass = get_learner_entry(learner).spec.one_pass  # else one training run per layer
    per_call = [list(layers)] if one_pass else [[layer] for layer in layers]
    results = []
    for chunk in per_call:
        results += learn_from_corpus(
            context.model,
            learner,
            chunk,
            lang,
            corpus=context.corpus,
            data_dir=context.data_dir,
            n_pairs=context.n_pairs,
            seed=context.seed,
            options=dict(options or {}),
            progress=context.progress,
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
    context: RunContext,
    task_name: str,
    langs: Sequence[str],
    *,
    layers: Sequence[int],
    alphas: Sequence[float] = (1.0,),
    learner: str = "mse",
    test_grid: bool = True,
    options: Mapping[str, Any] | None = None,
    vectors_dir: str | os.PathLike | None = None,
    test: bool = True,
    label: str | None = None,
    application: Application = Application(),
) -> list[LanguageSweep]:
    """Sweep ``layers`` x ``alphas`` for each language; returns (and writes to ``context.out``)
    one result per language. Vectors go to ``vectors_dir`` (default ``out/vectors``), where
    existing ones are reused. ``test=False`` stops after the validation choice (``mlsteer run``
    scores the test split in its own evaluation step, with the baselines). ``label`` names the
    learner's files and methods (two configurations of one learner need two labels);
    ``application.all_layers`` sweeps alpha only, steering at every one of ``layers`` at once."""
    model, folder = context.model, SweepLayout(context.out)
    task, layers = get_task(task_name), check_layers(model, layers)
    label = label or learner
    swept = [ALL_LAYERS] if application.all_layers else layers
    vectors_dir = Path(vectors_dir) if vectors_dir is not None else folder.vectors
    for writable in (folder.root, vectors_dir):  # a bad output fails now, not after training
        check_writable(writable, folder=True)
    common = context.evaluation()
    sweeps = []
    for lang in langs:
        # a bad language or missing files: fail before learning
        task.load(lang, split=task.fewshot_split, data_dir=context.data_dir, limit=1)
        with distributed.main_first():  # under torchrun: rank 0 learns, the others reuse the file
            path = learn_layers(
                context, lang, layers, learner, vectors_dir, options=options, label=label
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
            folder.validation,
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
                model, task, [lang], [Basic(), *test_methods.values()], folder.test, **common
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
        if distributed.is_main():  # after every language: a killed run keeps the finished ones
            record = SweepRecord(
                task.name, model.name, label, os.path.relpath(vectors_dir, folder.root), sweeps
            )
            _write(record, folder)
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


@dataclass(frozen=True)
class SweepRecord:
    """What ``sweep_{task}.json`` holds: the sweep's task, model and learner label, its vectors
    folder (relative to the sweep folder) and each language's result."""

    task: str
    model: str
    learner: str
    vectors: str
    languages: Sequence[LanguageSweep]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "model": self.model,
            "learner": self.learner,
            "vectors": self.vectors,
            "languages": [s.to_dict() for s in self.languages],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepRecord:
        return cls(
            data["task"],
            data["model"],
            data["learner"],
            data.get("vectors", "vectors"),  # written before the key existed: the default
            [LanguageSweep.from_dict(s) for s in data["languages"]],
        )

    @classmethod
    def read(cls, path: str | os.PathLike) -> SweepRecord:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def vector_path(self, sweep_dir: str | os.PathLike, lang: str) -> Path:
        """The vector file the sweep learned for ``lang``."""
        return vector_file(Path(sweep_dir) / self.vectors, lang, self.learner)

    def choices(self, sweep_dir: str | os.PathLike) -> dict[str, VectorChoice]:
        """Each language's chosen (vector file, layer, alpha)."""
        return {
            s.lang: VectorChoice(self.vector_path(sweep_dir, s.lang), *s.chosen)
            for s in self.languages
        }


def _write(record: SweepRecord, folder: SweepLayout) -> None:
    task, learner = record.task, record.learner
    write_text_atomic(folder.record(task), json.dumps(record.to_dict(), indent=1))
    write_text_atomic(
        folder.markdown(task),
        sweep_markdown(record.languages, task, record.model, learner) + "\n",
    )
    save_figure(
        sweep_figure(
            record.languages,
            f"Layer sensitivity on {task} ({learner} vectors; star: chosen on validation)",
        ),
        folder.root,
        folder.record(task).stem,
    )


def load_choices(sweep_dir: str | os.PathLike, task: str) -> dict[str, VectorChoice]:
    """Each language's chosen (vector file, layer, alpha) from a finished sweep of ``task`` (a
    name or a task file)."""
    task = get_task(task).name
    path = SweepLayout(Path(sweep_dir)).record(task)
    if not path.is_file():
        raise MlsteerError(
            f"{sweep_dir} has no {path.name}; run mlsteer sweep --task {task} --out {sweep_dir} first"
        )
    return SweepRecord.read(path).choices(sweep_dir)


def export_choices(
    choices: Mapping[str, VectorChoice], folder: str | os.PathLike, scale: str = "absolute"
) -> Path:
    """``folder/{lang}.safetensors``: each language's chosen entry (every entry for
    ``ALL_LAYERS``) at its chosen strength, so the folder is a language-to-vector map that
    ``steered:FOLDER@1`` applies as chosen (``scale`` is how the sweep's alphas were meant)."""
    for lang, choice in choices.items():
        entries = [
            entry
            for entry in load_steering(choice.path)
            if choice.layer in (ALL_LAYERS, entry.layer)
        ]
        save_steering(
            language_file(folder, lang),
            [entry.at_strength(choice.alpha, scale == "relative") for entry in entries],
        )
    return Path(folder)
