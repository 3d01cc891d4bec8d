"""Run an experiment config step by step: sweep (learn + choose on validation), evaluate
against the baselines, analyses, summary and report.

Every step writes into the run folder as it goes and is skipped, or resumes item by item, when
its outputs are there: a killed run loses at most the batch in flight. A run folder remembers
the config that made it and refuses another one (results must not mix). Steps register
themselves (:mod:`.steps`) and write where :class:`~mlsteer.layout.RunLayout` says.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from mlsteer import distributed
from mlsteer.analysis.sweep import ALL_LAYERS, CONTROLS, layer_name, shared_cell
from mlsteer.errors import MlsteerError
from mlsteer.evaluation.methods import parse_method
from mlsteer.evaluation.runner import evaluate
from mlsteer.evaluation.store import ResultStore
from mlsteer.evaluation.table import build_tables, export_tables
from mlsteer.evaluation.tasks import get_task
from mlsteer.experiment.config import DataConfig, ExperimentConfig, LearnerConfig
from mlsteer.experiment.steps import register_step, wanted_steps
from mlsteer.experiment.summary import summary_markdown
from mlsteer.io import check_writable, corrupt, write_text_atomic
from mlsteer.layout import RunLayout
from mlsteer.learners import get_learner_entry
from mlsteer.models import load_model
from mlsteer.models.devices import resolve_device
from mlsteer.models.wrapper import SteerableModel
from mlsteer.paths import data_dir as resolve_data_dir
from mlsteer.pipeline.context import RunContext
from mlsteer.pipeline.sweep import (
    Application,
    SweepRecord,
    VectorChoice,
    export_choices,
    learn_layers,
    load_choices,
    run_sweep,
    steered_methods,
)


@dataclass
class Run:
    """What the steps share."""

    config: ExperimentConfig
    data: DataConfig
    data_dir: Path | None
    model: SteerableModel
    console: Console
    progress: bool
    choices: dict[str, dict[str, VectorChoice]]  # learner -> language -> choice
    shared: dict[str, set[str]]  # learner -> languages given the shared choice
    plan: dict[str, list[str]]  # task -> languages evaluated
    methods: dict[str, list[str]]  # task -> method names, as stored
    # learner -> how its vectors apply
    applications: dict[str, Application] = field(default_factory=dict)

    @property
    def out(self) -> Path:
        return self.config.out

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.config.out)

    def context(self, out: Path, **changes: Any) -> RunContext:
        """What a pipeline needs to write to ``out``: the run's model, data, seed and progress
        (``changes``: fields that differ, e.g. a learner's own corpus)."""
        return RunContext(
            self.model,
            out,
            corpus=self.data.corpus,
            data_dir=self.data_dir,
            n_pairs=self.data.pairs,
            seed=self.config.seed,
            progress=self.progress,
        ).with_out(out, **changes)


@dataclass(frozen=True)
class RunResult:
    out: Path
    report: Path
    summary: str
    seconds: dict[str, float]


def run_experiment(
    config: ExperimentConfig,
    data_dir: str | os.PathLike | None = None,
    device: str | None = None,
    console: Console | None = None,
    progress: bool = True,
    exports: bool = True,
    dtype: str | None = None,
) -> RunResult:
    """Run every step of ``config``; a rerun skips or resumes what is done.

    ``device`` / ``dtype`` override the config's. Under ``torchrun`` every rank runs this: the
    evaluations are split across ranks, while learning, analyses and the report run on rank 0
    (see :mod:`mlsteer.distributed`); only rank 0's result carries the summary and report.
    """
    config = replace(config, device=device or config.device, dtype=dtype or config.dtype)
    folder = resolve_data_dir(data_dir)
    data = config.resolved(folder is not None)
    resolved = resolve_device(config.device, distributed.local_rank())
    distributed.init(resolved)
    console = (
        console
        if console is not None and distributed.is_main()
        else Console(quiet=not distributed.is_main())
    )
    with distributed.main_first():
        _claim(config, data)
    console.rule(f"[bold]mlsteer run {config.name}[/bold] -> {config.out}")
    console.print(
        f"data: {'benchmark folder ' + str(folder) if folder else 'built-in (no --data-dir / $MLSTEER_DATA)'}; "
        f"corpus {data.corpus}, layers chosen on {data.sweep_task}, tasks {', '.join(data.tasks)}; "
        f"{config.dtype} on {resolved}"
        + (f", {distributed.world_size()} ranks" if distributed.world_size() > 1 else "")
    )
    with distributed.main_first():  # the first load may convert and cache the embedded model
        model = load_model(config.model, device=resolved, dtype=config.dtype)
    run = Run(config, data, folder, model, console, progress, {}, {}, {}, {})
    steps = wanted_steps(config)
    seconds: dict[str, float] = {}
    for index, step in enumerate(steps, start=1):
        console.print(f"[bold cyan][{index}/{len(steps) + 1}] {step.name}[/bold cyan]")
        start = time.perf_counter()
        if step.every_rank or distributed.is_main():
            step.run(run)
        distributed.barrier()
        seconds[step.name] = time.perf_counter() - start
        console.print(f"    {step.name} done in {seconds[step.name]:.0f} s")
    if not distributed.is_main():
        return RunResult(run.out, run.layout.report, "", seconds)
    console.print(f"[bold cyan][{len(steps) + 1}/{len(steps) + 1}] summary and report[/bold cyan]")
    start = time.perf_counter()
    store = ResultStore(run.layout.eval)
    summary = summary_markdown(
        store,
        model.name,
        run.plan,
        run.methods,
        run.choices,
        get_task(data.sweep_task).name,
        run.shared,
    )
    header = f"# {config.name}\n\nModel {model.name}; data {'from ' + str(folder) if folder else 'built-in'}.\n\n"
    write_text_atomic(run.layout.summary, header + summary + "\n")
    from mlsteer.report import build_report

    report = build_report(run.out, exports=exports)
    for _path, reason in list(report.skipped.items())[:1]:
        console.print(f"[yellow]warning:[/yellow] figure exports skipped ({reason})")
    seconds["report"] = time.perf_counter() - start
    return RunResult(run.out, report.html, summary, seconds)


def _defaults(cls) -> dict:
    """The fields of a config dataclass that have defaults, as JSON would hold them."""
    values = {}
    for item in fields(cls):
        if item.default is not MISSING:
            values[item.name] = item.default
        elif item.default_factory is not MISSING:
            values[item.name] = item.default_factory()
    return json.loads(json.dumps(values, default=str))


def _claim(config: ExperimentConfig, data: DataConfig) -> None:
    """Remember the config in the run folder; refuse a folder made by a different one."""
    record = {**config.to_dict(), "data_in_force": asdict(data)}
    record.pop("out")
    record.pop("device")  # where it runs is not what it computes: a run may resume on a GPU
    path = RunLayout(config.out).config
    if path.is_file():
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(before, dict):
                raise ValueError(f"a JSON {type(before).__name__}, not an object")
        except ValueError as error:  # bad JSON or UTF-8: cut off by a killed write or a full disk
            raise corrupt(
                path,
                f"not a run config: {error}",
                "if the folder was made by this same config, delete "
                f"{path.name} and rerun (finished steps are kept); otherwise use another --out",
            ) from None
        for key, default in _defaults(
            ExperimentConfig
        ).items():  # keys added since: their defaults are what ran
            if key in record:
                before.setdefault(key, default)
        defaults = asdict(
            LearnerConfig("?")
        )  # learner fields added since: their defaults are what ran
        before["learners"] = [{**defaults, **entry} for entry in before.get("learners", [])]
        changed = sorted(
            k
            for k in set(before) | set(record)
            if before.get(k) != json.loads(json.dumps(record)).get(k)
        )
        if changed:
            raise MlsteerError(
                f"{config.out} was made by a different config (differs in: {', '.join(changed)}); "
                "use another --out, or delete the folder to start again"
            )
    check_writable(config.out, folder=True)  # before the model loads, not after hours of work
    write_text_atomic(path, json.dumps(record, indent=1))


def _langs_for(task_name: str, wanted: list[str], run: Run, instead: str = "left out") -> list[str]:
    """The languages of ``wanted`` the task has; the others are named with what happens to them."""
    have = set(get_task(task_name).languages)
    chosen = [lang for lang in wanted if lang in have]
    dropped = [lang for lang in wanted if lang not in have]
    if dropped:
        run.console.print(f"    {task_name} has no {', '.join(dropped)}: {instead}")
    return chosen


def _application(learner: LearnerConfig) -> Application:
    return Application(
        positions=learner.positions, scale=learner.scale, all_layers=learner.all_layers
    )


def _learner_options(learner: LearnerConfig) -> dict:
    """The config's flat options as the learner function's keyword arguments."""
    return get_learner_entry(learner.name).keywords(learner.options)


@register_step("sweep", every_rank=True)
def _sweep(run: Run) -> None:
    """Learn per layer and choose (layer, alpha) per language on the sweep task's validation
    split. Languages the sweep task lacks get the choice with the best mean validation accuracy
    over the swept languages (still validation data only), learned at that layer."""
    config, task = run.config, run.data.sweep_task  # a name or a task file
    for learner in config.learners:
        wanted = learner.languages or config.languages
        langs = _langs_for(
            task,
            wanted,
            run,
            instead="they get the choice shared across the swept languages (below)",
        )
        if not langs:
            raise MlsteerError(
                f"{task} has none of the languages {wanted}; choose another sweep_task"
            )
        extra = [lang for lang in wanted if lang not in langs]
        folder = run.layout.sweep(learner.key)
        done = folder.record(get_task(task).name)
        layers, alphas = learner.layers or config.layers, learner.alphas or config.alphas
        options, application = _learner_options(learner), _application(learner)
        context = run.context(
            folder.root,
            corpus=learner.corpus or run.data.corpus,
            n_pairs=learner.pairs or run.data.pairs,
            limit=config.sweep_limit,
        )
        if done.is_file() and {s.lang for s in SweepRecord.read(done).languages} >= set(langs):
            run.console.print(f"    {learner.name}: done earlier ({done})")
        else:
            run_sweep(
                context,
                task,
                langs,
                layers=layers,
                alphas=alphas,
                learner=learner.name,
                test_grid=config.sweep_test_grid,
                test=config.sweep_test_grid,
                options=options,
                vectors_dir=run.layout.vectors,
                label=learner.key,
                application=application,
            )
        choices = load_choices(folder.root, task)
        if extra:
            grids = [s.validation for s in SweepRecord.read(done).languages]
            layer, alpha = shared_cell(grids, layers, alphas)
            run.console.print(
                f"    {learner.key}: {', '.join(extra)} not in {task}; using the shared choice "
                f"{layer_name(layer)}, alpha {alpha:g}"
            )
            for lang in extra:
                with distributed.main_first():  # rank 0 learns and saves; the others reuse the file
                    path = learn_layers(
                        context,
                        lang,
                        layers if layer == ALL_LAYERS else [layer],
                        learner.name,
                        run.layout.vectors,
                        options=options,
                        label=learner.key,
                    )
                choices[lang] = VectorChoice(path, layer, alpha)
        run.choices[learner.key], run.shared[learner.key] = choices, set(extra)
        run.applications[learner.key] = application
        if distributed.is_main():
            export_choices(choices, run.layout.chosen(learner.key), application.scale)
        distributed.barrier()


@register_step("evaluate", every_rank=True)
def _evaluate(run: Run) -> None:
    """Each task's languages under the baselines and every learner that has a vector for them
    (a learner may cover fewer languages: its corpus lacks some); languages no learner covers
    are left out (the sweep task lacks them)."""
    for name in run.data.tasks:
        task = get_task(name)
        langs = _langs_for(name, run.data.task_languages.get(name, run.config.languages), run)
        covering = {
            lang: tuple(k for k, per_lang in run.choices.items() if lang in per_lang)
            for lang in langs
        }
        missing = [lang for lang in langs if not covering[lang]]
        if missing:
            run.console.print(
                f"    {name}: no chosen vector for {', '.join(missing)} (the sweep task lacks them): left out"
            )
        langs = [lang for lang in langs if covering[lang]]
        if not langs:
            continue
        baselines = []
        for spec in run.config.methods:
            if (
                spec.startswith("translate_test")
                and not task.parallel
                and spec in ("translate_test", "translate_test:oracle")
            ):
                run.console.print(
                    f"    {name}: not parallel, so no oracle English: translate_test left out"
                )
                continue
            baselines += parse_method(spec)
        steered = {}
        for (
            learner,
            application,
        ) in run.applications.items():  # chosen strength baked in: alpha 1, absolute
            chosen = VectorChoice(run.layout.chosen(learner), ALL_LAYERS, 1.0)
            steered[learner] = list(
                steered_methods(
                    chosen, learner, CONTROLS, Application(positions=application.positions)
                ).values()
            )
        limit = run.data.task_limits.get(name, run.config.limit)
        for learners in dict.fromkeys(
            covering[lang] for lang in langs
        ):  # languages with the same learners: one call
            group = [lang for lang in langs if covering[lang] == learners]
            store = evaluate(
                run.model,
                task,
                group,
                baselines + [m for k in learners for m in steered[k]],
                run.layout.eval,
                limit=limit,
                data_dir=run.data_dir,
                seed=run.config.seed,
                max_new_tokens=run.config.max_new_tokens,
                progress=run.progress,
            )
        run.plan[task.name] = langs
        run.methods[task.name] = [m.name for m in baselines] + [
            m.name for k in run.applications for m in steered[k]
        ]
        if distributed.is_main():
            export_tables(build_tables(store), run.layout.eval)


@register_step("examples")
def _examples(run: Run) -> None:
    """A few task prompts per language, generated unsteered, steered and under the controls
    with the first learner's chosen vector (the one the analyses use), for the report. One
    learner: each (language, condition) is a generation batch of its own, and on a 2-core CPU
    every learner added ~90 s to the demo."""
    from mlsteer.pipeline.examples import example_prompts, run_examples

    tasks = [run.data.sweep_task, *run.data.tasks]
    first = run.config.learners[0].key
    if first not in run.applications:
        run.console.print(f"    no chosen vectors of {first}: no examples")
        return
    found = {
        lang: example_prompts(tasks, lang, data_dir=run.data_dir, seed=run.config.seed)
        for lang in run.config.languages
    }
    path, ran = run_examples(
        run.model,
        {lang: prompts for lang, prompts in found.items() if prompts is not None},
        {first: run.layout.chosen(first)},
        run.layout.examples,
        seed=run.config.seed,
        positions={first: run.applications[first].positions},
    )
    run.console.print(
        f"    {ran} generation batches run ({path})" if ran else f"    done earlier ({path})"
    )


def _vectors(run: Run, langs: list[str]) -> dict[str, str]:
    """The first learner's chosen vector per language (alpha baked in), for the analyses."""
    first = run.config.learners[0].key
    paths = {lang: run.layout.chosen_vector(first, lang) for lang in langs}
    return {lang: str(path) for lang, path in paths.items() if path.is_file()}


def _skip(run: Run, path: Path) -> bool:
    if path.exists():
        run.console.print(f"    done earlier ({path})")
        return True
    return False


@register_step("similarity", wanted=lambda config: config.similarity)
def _similarity(run: Run) -> None:
    from mlsteer.pipeline.analyses import run_similarity

    out = run.layout.analysis("similarity")
    if not _skip(run, out.similarity()):
        context = run.context(out.root, n_pairs=min(100, run.data.pairs))
        run_similarity(context, run.config.similarity)


@register_step("lens", wanted=lambda config: config.lens)
def _lens(run: Run) -> None:
    from mlsteer.pipeline.analyses import run_lens

    out = run.layout.analysis("lens")
    if not _skip(run, out.lens(run.config.lens[-1])):
        context = run.context(out.root, n_pairs=run.config.analysis_texts)
        run_lens(context, run.config.lens, vectors=_vectors(run, run.config.lens))


@register_step("wendler", wanted=lambda config: config.wendler)
def _wendler(run: Run) -> None:
    from mlsteer.pipeline.wendler import run_wendler

    out = run.layout.analysis("wendler")
    if not _skip(run, out.wendler(run.config.wendler[-1])):
        vectors = _vectors(run, run.config.wendler)
        run_wendler(run.context(out.root), run.config.wendler, vectors=vectors)


@register_step("pca", wanted=lambda config: config.pca_layer is not None)
def _pca(run: Run) -> None:
    from mlsteer.pipeline.distribution import run_train_test_pca

    out = run.layout.analysis("pca")
    langs = _langs_for(run.data.sweep_task, run.config.languages, run)
    if not _skip(run, out.pca()):
        context = run.context(out.root, n_pairs=run.config.analysis_texts)
        run_train_test_pca(context, langs, layer=run.config.pca_layer, task=run.data.sweep_task)


@register_step("transfer", wanted=lambda config: config.transfer)
def _transfer(run: Run) -> None:
    """The first learner's chosen vector of each language on every run language and English
    that the task has: cross-language transfer (Figure 3) and English impact (Table 4)."""
    from mlsteer.pipeline.transfer import run_transfer

    out = run.layout.analysis("transfer")
    vectors = {
        lang: VectorChoice(Path(path), ALL_LAYERS, 1.0)
        for lang, path in _vectors(run, run.config.languages).items()
    }
    for name in run.config.transfer:
        task = get_task(name)
        targets = _langs_for(name, [*run.config.languages, "en"], run)
        if not _skip(run, out.transfer(task.name)):
            limit = run.data.task_limits.get(name, run.config.limit)
            run_transfer(run.context(out.root, limit=limit), name, vectors, targets)
