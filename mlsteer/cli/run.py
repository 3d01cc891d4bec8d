"""Whole runs and their pages: ``run``, ``report``, ``info``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mlsteer.cli.errors import console, warn
from mlsteer.cli.options import MODEL_HELP, DataDirOption, out_option

if TYPE_CHECKING:
    from mlsteer.learners import LearnerSpec


def run_command(
    config: str = typer.Argument(..., help="A TOML config file, or a built-in one: demo, paper."),
    out: Path | None = out_option("Run folder (default: the config's out).", None),
    data_dir: Path | None = DataDirOption,
    exports: bool = typer.Option(
        True, help="PNG/SVG exports of the figures (needs Chromium for kaleido)."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help=MODEL_HELP + " Default: the config's model."
    ),
    device: str | None = typer.Option(
        None, "--device", help="cpu, cuda, cuda:N or auto (default: the config's device, else cpu)."
    ),
    dtype: str | None = typer.Option(
        None,
        "--dtype",
        help="float32, bfloat16 or float16 (default: the config's dtype, else float32).",
    ),
) -> None:
    """Run an experiment config end to end: sweep, evaluate, analyse, report (resumable).

    Data-parallel: torchrun --nproc-per-node N -m mlsteer run CONFIG (evaluations split across ranks)."""
    from dataclasses import replace

    from rich.markdown import Markdown

    from mlsteer import distributed
    from mlsteer.cli.options import ModelSpec
    from mlsteer.experiment import load_config, run_experiment

    loaded = load_config(config, out)
    if model is not None:
        loaded = replace(loaded, model=model)
    ModelSpec(
        loaded.model, device or loaded.device, dtype or loaded.dtype
    ).check()  # before anything runs
    try:
        result = run_experiment(
            loaded, data_dir, device=device, dtype=dtype, console=console, exports=exports
        )
        main = distributed.is_main()
    finally:
        distributed.finish()
    if not main:  # the summary and report are rank 0's
        return
    console.rule("summary")
    console.print(Markdown(result.summary))
    total = sum(result.seconds.values())
    console.print(
        f"report: {result.report}  ({total / 60:.1f} min; "
        + ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items())
        + ")"
    )


def report(
    run_dir: Path = typer.Argument(
        ...,
        exists=True,
        file_okay=False,
        help="A run folder (mlsteer eval, similarity, lens, sweep, transfer).",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Where to write the page (default RUN_DIR/report.html)."
    ),
    exports: bool = typer.Option(
        True, "--exports/--no-exports", help="Also write RUN_DIR/exports/{figure}.png and .svg."
    ),
) -> None:
    """One offline HTML page of a run: summary.md, result tables and every figure; PNG/SVG exports."""
    from mlsteer.report import build_report

    paths = build_report(run_dir, out, exports=exports)
    for reason in dict.fromkeys(paths.skipped.values()):
        count = sum(1 for r in paths.skipped.values() if r == reason)
        warn(f"{count} export(s) not written: {reason}")
    console.print(
        f"wrote {paths.html} ({len(paths.figures)} figures, {paths.tables} tables)", soft_wrap=True
    )
    if paths.exports:
        console.print(
            f"exported {len(paths.exports)} images to {paths.exports[0].parent}", soft_wrap=True
        )


def info() -> None:
    """Versions, cache folder, data folder and the models usable offline."""
    from importlib.metadata import version

    from rich.table import Table

    from mlsteer.learners import learners
    from mlsteer.models import offline_models
    from mlsteer.paths import cache_dir, data_dir

    table = Table(show_header=False)
    for package in ("mlsteer", "torch", "transformers", "transformer-lens"):
        table.add_row(package, version(package))
    table.add_row("cache dir ($MLSTEER_CACHE)", str(cache_dir()))
    table.add_row("data dir ($MLSTEER_DATA)", str(data_dir() or "not set"))
    for name, state in offline_models().items():
        table.add_row(f"model {name}", state)
    for name, entry in learners().items():
        table.add_row(f"learner {name}", _needs(entry.spec))
    console.print(table)


def _needs(spec: LearnerSpec) -> str:
    """A learner's summary and what it needs, for ``info``."""
    data = "preference triples" if spec.data == "preferences" else "pooled activations"
    layers = "every layer from one pass" if spec.one_pass else "one training run per layer"
    return f"{spec.summary} [{data}; {layers}; yields a {spec.output}]"
