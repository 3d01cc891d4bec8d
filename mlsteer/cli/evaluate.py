"""Commands that evaluate: ``eval``, ``table``, ``sweep``, ``transfer``, ``pivot``."""

from __future__ import annotations

from pathlib import Path

import typer

from mlsteer.cli import checks
from mlsteer.cli.errors import console
from mlsteer.cli.models import context, load
from mlsteer.cli.options import (
    DataSpec,
    LangsOption,
    LearnerOption,
    LimitOption,
    ModelSpec,
    TasksOption,
    TrainPairsOption,
    VectorsOption,
    corpus_option,
    out_option,
    parse_floats,
    parse_layers,
)
from mlsteer.errors import MlsteerError


def evaluate_command(
    tasks: list[str] = TasksOption,
    langs: list[str] = typer.Option(
        ...,
        "--langs",
        help="Codes for every task (sw,zh), or per task (xnli=sw,zh,es); repeatable.",
    ),
    methods: list[str] = typer.Option(
        ["basic"],
        "--method",
        help="Repeatable: basic, fewshot[:k], xlt, self_translate, translate_test[:oracle|nllb], steered:FILE@ALPHA, sft:FOLDER.",
    ),
    out: Path = out_option("Run folder (results.sqlite; a rerun resumes)."),
    limit: int | None = LimitOption,
    controls: bool = typer.Option(
        True, help="Add negated and random controls to each steered method."
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Recompute methods whose settings changed since the stored rows (else refused).",
    ),
    batch_size: int = typer.Option(
        8, "--batch-size", min=1, help="Items per batch (a batch is written as one transaction)."
    ),
    max_new_tokens: int = typer.Option(128, min=1, help="Generation tasks: tokens per answer."),
    *,
    data: DataSpec,
    model: ModelSpec,
) -> None:
    """Evaluate methods on tasks for several languages; rows are stored as they are produced.

    Data-parallel: torchrun --nproc-per-node N -m mlsteer eval ... (each rank takes every N-th batch)."""
    task_objs = checks.tasks(tasks)  # the torch-free checks first: a typo fails in a second
    plan = {task.name: checks.langs_per_task(langs, task.name) for task in task_objs}
    for task in task_objs:
        checks.task_data(task, plan[task.name], data)
    method_objs = checks.methods(methods, plan, controls=controls)

    from mlsteer import distributed
    from mlsteer.evaluation.runner import evaluate
    from mlsteer.evaluation.table import build_tables

    try:
        loaded = load(model, data_parallel=True)
        for task in task_objs:
            store = evaluate(
                loaded,
                task,
                plan[task.name],
                method_objs,
                out,
                limit=limit,
                data_dir=data.data_dir,
                seed=data.seed,
                batch_size=batch_size,
                max_new_tokens=max_new_tokens,
                overwrite=overwrite,
            )
        main = distributed.is_main()
    finally:
        distributed.finish()
    if main:  # one table, from rank 0
        for result in build_tables(store):
            if result.task in plan and result.model == loaded.name:
                console.print(result.markdown() + "\n", soft_wrap=True)


def table(
    run_dir: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="A run folder written by mlsteer eval."
    ),
) -> None:
    """Print the paper-style tables of a run and export table.md / .csv / .json."""
    from mlsteer.evaluation.store import ResultStore
    from mlsteer.evaluation.table import build_tables, export_tables
    from mlsteer.layout import results_file

    if not results_file(run_dir).is_file():
        raise MlsteerError(
            f"{run_dir} has no results.sqlite; run mlsteer eval --out {run_dir} first"
        )
    store = ResultStore(run_dir)
    try:
        tables = build_tables(store)
    finally:
        store.close()
    for t in tables:
        console.print(t.markdown() + "\n", soft_wrap=True)
    paths = export_tables(tables, run_dir)
    console.print("wrote " + ", ".join(str(p) for p in paths))


def sweep(
    tasks: list[str] = TasksOption,
    langs: list[str] = LangsOption,
    out: Path = out_option("Run folder (vectors, validation/ and test/ stores, sweep_TASK.*)."),
    layers: str = typer.Option("all", "--layers", "-l", help="e.g. all, 2-16:2 or 4,6,8."),
    alphas: str = typer.Option("1", "--alphas", help="Comma-separated multipliers, e.g. 0.5,1,2."),
    learner: str = LearnerOption,
    corpus: str | None = corpus_option(),
    n_pairs: int = TrainPairsOption,
    limit: int | None = LimitOption,
    test_grid: bool = typer.Option(
        True, help="Also evaluate every cell on test (for the figure only; the choice ignores it)."
    ),
    *,
    data: DataSpec,
    model: ModelSpec,
) -> None:
    """Layer sensitivity: choose layer and alpha on validation, report on test with controls."""

    codes, task_objs, alpha_list = (
        checks.languages(langs),
        checks.tasks(tasks),
        parse_floats(alphas),
    )
    for task in task_objs:
        checks.task_data(task, codes, data)
    corpus = checks.corpus(corpus, codes, data)
    parse_layers(layers, 1)  # the spelling, before the model says how many layers there are

    _check_learner(learner)  # imports torch: after the torch-free checks

    from mlsteer.layout import SweepLayout
    from mlsteer.pipeline.sweep import run_sweep, sweep_markdown

    run = context(model, data, out, corpus=corpus, n_pairs=n_pairs, limit=limit)
    layer_list = parse_layers(layers, run.model.n_layers)
    for task in task_objs:
        results = run_sweep(
            run,
            task.name,
            codes,
            layers=layer_list,
            alphas=alpha_list,
            learner=learner,
            test_grid=test_grid,
        )
        console.print(sweep_markdown(results, task.name, run.model.name, learner), soft_wrap=True)
        console.print(f"wrote {SweepLayout(out).figure(task.name)}")


def transfer(
    tasks: list[str] = TasksOption,
    langs: list[str] = typer.Option(
        ..., "--langs", help="Languages to apply every vector to, e.g. sw,zh,es,en."
    ),
    out: Path = out_option("Folder for results.sqlite and transfer_TASK.*."),
    sweep_dir: Path | None = typer.Option(
        None,
        "--from-sweep",
        exists=True,
        file_okay=False,
        help="Use each language's choice from this sweep folder.",
    ),
    sweep_task: str | None = typer.Option(
        None,
        "--sweep-task",
        help="Task the sweep chose on (default each --task), e.g. xcopa choices applied to xnli en.",
    ),
    vectors: list[str] = VectorsOption,
    layer: int | None = typer.Option(None, "--layer", min=0, help="Layer for --vector files."),
    alpha: float = typer.Option(1.0, "--alpha", help="Multiplier for --vector files."),
    limit: int | None = LimitOption,
    *,
    data: DataSpec,
    model: ModelSpec,
) -> None:
    """Cross-language transfer: each language's vector on every target language (Figure 3, Table 4)."""

    targets, task_objs = checks.languages(langs), checks.tasks(tasks)
    for task in task_objs:
        checks.task_data(task, targets, data)

    from mlsteer.layout import AnalysisLayout
    from mlsteer.pipeline.sweep import VectorChoice, load_choices
    from mlsteer.pipeline.transfer import run_transfer

    if sweep_dir is not None:
        choices = {
            task.name: load_choices(sweep_dir, sweep_task or task.name) for task in task_objs
        }
    elif vectors and layer is not None:
        files = checks.vectors(vectors, targets)
        choices = {
            task.name: {
                lang: VectorChoice(Path(path), layer, alpha) for lang, path in files.items()
            }
            for task in task_objs
        }
    else:
        raise MlsteerError(
            "name the vectors: --from-sweep RUN_DIR, or --vector LANG=FILE ... with --layer"
        )
    run = context(model, data, out, limit=limit)
    for task in task_objs:
        matrix = run_transfer(run, task.name, choices[task.name], targets)
        console.print(matrix.markdown(), soft_wrap=True)
        console.print(f"wrote {AnalysisLayout(out).transfer(task.name).with_suffix('.html')}")


def pivot(
    tasks: list[str] = TasksOption,
    langs: list[str] = typer.Option(..., "--langs", help="Languages whose items are evaluated."),
    out: Path = out_option("Folder for vectors/, results.sqlite and pivot_TASK.*."),
    layer: int = typer.Option(..., "--layer", min=0, help="Layer to learn and steer at."),
    pivots: str = typer.Option("en,es,fr,de", "--pivots", help="Goal languages of the vectors."),
    alpha: float = typer.Option(1.0, "--alpha", help="Multiplier of the vectors."),
    learner: str = LearnerOption,
    corpus: str | None = corpus_option(
        "msvamp with a data folder, else builtin. Pivots need pairs with each goal "
        "language: msvamp, builtin, or your file with their columns."
    ),
    n_pairs: int = TrainPairsOption,
    limit: int | None = LimitOption,
    *,
    data: DataSpec,
    model: ModelSpec,
) -> None:
    """Pivot languages: vectors toward es/fr/de instead of English (the paper's Table 3)."""

    codes, goals, task_objs = (
        checks.languages(langs),
        checks.languages(pivots, "--pivots"),
        checks.tasks(tasks),
    )
    for task in task_objs:
        checks.task_data(task, codes, data)
    corpus = checks.corpus(corpus, codes, data, goals=goals, preferred="msvamp")
    _check_learner(learner)

    from mlsteer.layout import AnalysisLayout
    from mlsteer.pipeline.transfer import run_pivot

    run = context(model, data, out, corpus=corpus, n_pairs=n_pairs, limit=limit)
    for task in task_objs:
        matrix = run_pivot(run, task.name, codes, goals, layer=layer, alpha=alpha, learner=learner)
        console.print(matrix.markdown("vector"), soft_wrap=True)
        console.print(f"wrote {AnalysisLayout(out).pivot(task.name).with_suffix('.html')}")


def _check_learner(learner: str) -> None:
    from mlsteer.errors import check_choice
    from mlsteer.learners import learners

    check_choice("--learner", learner, tuple(learners()))
