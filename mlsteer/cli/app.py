"""Typer app: ``mlsteer run | info | cache | generate | learn | eval | sft | similarity | lens | wendler | pca | sweep | transfer | pivot | table | report | demo``."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mlsteer.cli.options import (
    ChoiceTaskOption,
    LearnerOption,
    LimitOption,
    TrainPairsOption,
    CorpusOption,
    corpus_option,
    DataDirOption,
    DeviceOption,
    DtypeOption,
    LangOption,
    ModelOption,
    PairsOption,
    SeedOption,
    parse_assignments,
    parse_codes,
    parse_floats,
    parse_layers,
)
from mlsteer.errors import MlsteerError

app = typer.Typer(help="Steering vectors for multilingual LLMs.", no_args_is_help=True, add_completion=False)
console = Console()


def _fail(error: Exception) -> None:
    console.print(f"[red]error:[/red] {error}")
    raise typer.Exit(code=2)


def _task_name(spec: str) -> str:
    """The name a task's files carry (a task file's name field or stem, not its path)."""
    from mlsteer.evaluation.tasks import get_task

    return get_task(spec).name


def _one_process() -> None:
    """Refuse to run under torchrun: every rank would write the same files."""
    from mlsteer import distributed

    if distributed.launched():
        raise MlsteerError("this command runs in one process; start it without torchrun "
                           "(data-parallel commands: mlsteer eval, mlsteer run)")


def _load(model_name: str, device: str, dtype: str, data_parallel: bool = False):
    """Load a model for a command. Under torchrun, commands that split their work across
    ranks (``data_parallel``: eval, run) join the process group first and take their GPU;
    the others refuse, since every rank would write the same files."""
    from mlsteer import distributed
    from mlsteer.models import load_model
    from mlsteer.models.devices import resolve_device

    if not data_parallel:
        _one_process()
    resolved = resolve_device(device, distributed.local_rank())
    distributed.init(resolved)
    with distributed.main_first():  # the first load may convert and cache the embedded model
        return load_model(model_name, device=resolved, dtype=dtype)


@app.command()
def info() -> None:
    """Versions, cache folder, data folder and the models usable offline."""
    from mlsteer.models import offline_models
    from mlsteer.paths import cache_dir, data_dir

    table = Table(show_header=False)
    for package in ("mlsteer", "torch", "transformers", "transformer-lens"):
        table.add_row(package, version(package))
    table.add_row("cache dir ($MLSTEER_CACHE)", str(cache_dir()))
    table.add_row("data dir ($MLSTEER_DATA)", str(data_dir() or "not set"))
    for name, state in offline_models().items():
        table.add_row(f"model {name}", state)
    console.print(table)


@app.command()
def cache(
    texts_file: Path = typer.Argument(..., help="UTF-8 file, one text per line (blank lines skipped)."),
    output: Path = typer.Option(..., "--output", "-o", help="Activation file to write (.safetensors)."),
    layers: str = typer.Option("all", "--layers", "-l", help="e.g. 6, 4,6,8, 2-5 or all."),
    pooling: str = typer.Option("mean", help="last or mean (BOS left out)."),
    batch_size: int = typer.Option(16, help="Texts per forward pass."),
    model_name: str = ModelOption,
    device: str = DeviceOption,
    dtype: str = DtypeOption,
) -> None:
    """Cache pooled resid_post activations of the texts in a file."""
    from mlsteer.activations import ActivationMeta, ActivationSet, cache_activations, save_activations
    from mlsteer.hashing import hash_texts

    try:
        texts = [line for line in texts_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        model = _load(model_name, device, dtype)
        layer_list = parse_layers(layers, model.n_layers)
        acts = cache_activations(model, texts, layer_list, pooling=pooling, batch_size=batch_size)
    except (MlsteerError, OSError) as error:
        _fail(error)
    meta = ActivationMeta(model.fingerprint, tuple(layer_list), pooling, False, hash_texts(texts), len(texts))
    save_activations(output, ActivationSet(acts, meta))
    console.print(f"wrote {tuple(acts.shape)} activations to {output}")


@app.command()
def generate(
    prompt: str = typer.Argument(..., help="Prompt to continue."),
    vector: Path | None = typer.Option(None, "--vector", "-v", help="Steering vector file (.safetensors)."),
    alpha: float = typer.Option(1.0, help="Multiplier of the vector."),
    scale: str = typer.Option("absolute", help="absolute, or relative to the layer's residual norm."),
    positions: str = typer.Option("all", help="all, prompt or generated."),
    max_new_tokens: int = typer.Option(40, help="Tokens to generate."),
    allow_other_model: bool = typer.Option(False, help="Apply a vector learned on another model."),
    model_name: str = ModelOption,
    device: str = DeviceOption,
    dtype: str = DtypeOption,
) -> None:
    """Print the unsteered and steered continuations of PROMPT side by side."""
    from mlsteer.steering import load_steering, steer
    from mlsteer.steering import generate as run_generate

    try:
        steering = load_steering(vector) if vector else None
        model = _load(model_name, device, dtype)
        table = Table("unsteered", show_lines=True)
        rows = [run_generate(model, [prompt], max_new_tokens).texts[0]]
        if steering is not None:
            layers = ",".join(str(item.layer) for item in steering)
            table.add_column(f"steered ({steering[0].method}, layer {layers}, alpha {alpha})")
            with steer(model, steering, alpha, positions=positions, scale=scale, allow_other_model=allow_other_model):
                rows.append(run_generate(model, [prompt], max_new_tokens).texts[0])
    except MlsteerError as error:
        _fail(error)
    table.add_row(*rows)
    console.print(f"[bold]{prompt}[/bold]")
    console.print(table)


@app.command()
def learn(
    method: str = typer.Option(..., "--method", help="bipo, mse, meandiff, pca or lstsq."),
    layer: str = typer.Option(..., "--layer", help="A layer, a list (4,6,8) or 'all' (closed-form learners)."),
    lang: str = LangOption,
    output: Path = typer.Option(..., "--output", "-o", help="Vector file to write (.safetensors)."),
    corpus: str = CorpusOption,
    data_dir: Path | None = DataDirOption,
    n_pairs: int = PairsOption,
    heldout: float = typer.Option(0.1, help="Fraction of pairs held out for the diagnostics."),
    seed: int = SeedOption,
    pooling: str = typer.Option("mean", help="Pooling of sentence activations: mean or last."),
    solver: str = typer.Option("closed", help="mse: closed (exact) or iterative (AdamW)."),
    paper_settings: bool = typer.Option(False, "--paper-settings", help="mse iterative: the paper's lr 1e-8 (barely moves v)."),
    lr: float | None = typer.Option(None, help="bipo / iterative mse learning rate."),
    epochs: int | None = typer.Option(None, help="bipo / iterative mse epochs."),
    ridge: float = typer.Option(0.1, help="lstsq ridge strength (0 = plain least squares)."),
    model_name: str = ModelOption,
    device: str = DeviceOption,
    dtype: str = DtypeOption,
) -> None:
    """Learn a steering vector (or map) for LANG from a parallel corpus."""
    from dataclasses import replace

    from mlsteer.learners import PAPER_MSE, BipoConfig, MSEConfig
    from mlsteer.pipeline.learn import learn_from_corpus, save_results

    options: dict = {}
    overrides = {k: v for k, v in {"lr": lr, "epochs": epochs}.items() if v is not None}
    if method == "mse":
        options = {"solver": solver, "config": replace(PAPER_MSE if paper_settings else MSEConfig(), **overrides)}
    elif method == "bipo":
        options = {"config": replace(BipoConfig(), **overrides)}
    elif method == "lstsq":
        options = {"ridge": ridge}
    try:
        model = _load(model_name, device, dtype)
        layers = parse_layers(layer, model.n_layers)
        results = learn_from_corpus(
            model, method, layers, lang, corpus=corpus, data_dir=data_dir, n_pairs=n_pairs,
            heldout_fraction=heldout, seed=seed, pooling=pooling, options=options,
        )
    except MlsteerError as error:
        _fail(error)
    path = save_results(output, results)
    table = Table("layer", "method", "norm", "held-out cos before", "after")
    for result in results:
        d = result.diagnostics
        norm = f"{result.steering.norm:.2f}" if hasattr(result.steering, "norm") else "map"
        fmt = lambda x: "-" if x is None else f"{x:.4f}"  # noqa: E731
        table.add_row(str(result.steering.layer), result.steering.method, norm, fmt(d.heldout_cosine_before), fmt(d.heldout_cosine_after))
    console.print(table)
    console.print(f"wrote {len(results)} entr{'y' if len(results) == 1 else 'ies'} to {path}")


@app.command("eval")
def evaluate_command(
    tasks: list[str] = typer.Option(..., "--task", help="Repeatable: cloze (built-in), xcopa, xnli, mgsm, m_mmlu, m3exam, or a task file (.jsonl, .yaml)."),
    langs: list[str] = typer.Option(..., "--langs", help="Codes for every task (sw,zh), or per task (xnli=sw,zh,es); repeatable."),
    methods: list[str] = typer.Option(["basic"], "--method", help="Repeatable: basic, fewshot[:k], xlt, self_translate, translate_test[:oracle|nllb], steered:FILE@ALPHA."),
    out: Path = typer.Option(..., "--out", help="Run folder (results.sqlite; a rerun resumes)."),
    limit: int | None = LimitOption,
    data_dir: Path | None = DataDirOption,
    seed: int = typer.Option(0, help="Seed for sampling items, shots and random controls."),
    controls: bool = typer.Option(True, help="Add negated and random controls to each steered method."),
    batch_size: int = typer.Option(8, help="Items per batch (a batch is written as one transaction)."),
    max_new_tokens: int = typer.Option(128, help="Generation tasks: tokens per answer."),
    model_name: str = ModelOption,
    device: str = DeviceOption,
    dtype: str = DtypeOption,
) -> None:
    """Evaluate methods on tasks for several languages; rows are stored as they are produced.

    Data-parallel: torchrun --nproc-per-node N -m mlsteer eval ... (each rank takes every N-th batch)."""
    from mlsteer import distributed
    from mlsteer.evaluation.methods import parse_method
    from mlsteer.evaluation.runner import evaluate
    from mlsteer.evaluation.table import build_tables
    from mlsteer.evaluation.tasks import get_task

    try:
        task_objs = [get_task(name) for name in tasks]
        plan = {task.name: parse_langs(langs, task.name) for task in task_objs}
        method_objs = [m for spec in methods for m in parse_method(spec, controls=controls)]
        model = _load(model_name, device, dtype, data_parallel=True)
        for task in task_objs:
            store = evaluate(model, task, plan[task.name], method_objs, out, limit=limit, data_dir=data_dir,
                             seed=seed, batch_size=batch_size, max_new_tokens=max_new_tokens)
        main = distributed.is_main()
    except MlsteerError as error:
        _fail(error)
    finally:
        distributed.finish()
    if main:  # one table, from rank 0
        for result in build_tables(store):
            if result.task in plan and result.model == model.name:
                console.print(result.markdown() + "\n", soft_wrap=True)


def parse_langs(specs: list[str], task: str) -> list[str]:
    """``["sw,zh"]`` or ``["xcopa=sw,it", "xnli=sw"]`` -> the languages for ``task``."""
    chosen: list[str] = []
    for spec in specs:
        name, sep, codes = spec.partition("=")
        if not sep:
            codes, name = spec, task
        if name == task:
            chosen.extend(code.strip() for code in codes.split(",") if code.strip())
    if not chosen:
        raise MlsteerError(f"no languages given for {task}; pass --langs sw,zh or --langs {task}=sw,zh")
    return chosen


@app.command()
def sft(
    lang: str = LangOption,
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the fine-tuned model."),
    corpus: str = CorpusOption,
    data_dir: Path | None = DataDirOption,
    n_pairs: int = PairsOption,
    steps: int = typer.Option(60, help="Optimiser steps (the CPU budget; see mlsteer.training.sft)."),
    batch_size: int = typer.Option(8, help="Pairs per step."),
    lr: float = typer.Option(2e-5, help="AdamW learning rate."),
    seed: int = SeedOption,
    model_name: str = ModelOption,
    device: str = DeviceOption,
    dtype: str = DtypeOption,
) -> None:
    """Fine-tune the model on LANG-English pairs (the SFT baseline); evaluate it with sft:FOLDER."""
    from mlsteer.data.corpora import load_pairs
    from mlsteer.models.loading import load_hf
    from mlsteer.training.sft import SFTConfig, finetune

    try:
        _one_process()
        pairs = load_pairs(corpus, lang, data_dir, n=n_pairs, seed=seed)
        hf_model, tokenizer, _, _ = load_hf(model_name, device=device, dtype=dtype, seed=seed)
        config = SFTConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed)
        path = finetune(hf_model, tokenizer, pairs, output, config)
    except MlsteerError as error:
        _fail(error)
    console.print(f"wrote the fine-tuned model to {path}; evaluate it with --method sft:{path}")


@app.command()
def similarity(
    langs: str = typer.Option(..., "--langs", help="Comma-separated language codes (Tatoeba)."),
    out: Path = typer.Option(..., "--out", help="Folder for similarity.json and similarity.html."),
    corpus: str = CorpusOption,
    data_dir: Path | None = DataDirOption,
    n_pairs: int = typer.Option(100, "--pairs", "-n", help="Sentence pairs per language."),
    center: bool = typer.Option(False, help="Subtract the shared mean per layer before the cosine."),
    seed: int = SeedOption,
    model_name: str = ModelOption,
    device: str = DeviceOption,
    dtype: str = DtypeOption,
) -> None:
    """Similarity of each language's activations to English per layer (the paper's Figure 2)."""
    from mlsteer.pipeline.analyses import run_similarity

    try:
        model = _load(model_name, device, dtype)
        path = run_similarity(model, parse_codes(langs), out, data_dir, n_pairs, seed, center, corpus=corpus)
    except MlsteerError as error:
        _fail(error)
    console.print(f"wrote {path}")


@app.command()
def lens(
    langs: str = typer.Option(..., "--langs", help="Comma-separated language codes (Tatoeba sentences)."),
    out: Path = typer.Option(..., "--out", help="Folder for lens_{lang}.json and .html."),
    vector: list[str] = typer.Option([], "--vector", help="Repeatable LANG=FILE: also show the lens steered by FILE."),
    alpha: float = typer.Option(1.0, help="Multiplier of the vectors."),
    sft_model: list[str] = typer.Option([], "--sft", help="Repeatable LANG=FOLDER: also show a model made by mlsteer sft."),
    corpus: str = CorpusOption,
    data_dir: Path | None = DataDirOption,
    n_texts: int = typer.Option(20, "--texts", help="Sentences per language."),
    k: int = typer.Option(10, help="Top-k tokens per layer."),
    detector: str = typer.Option("lingua", help="Token language detector for Latin/Han tokens: lingua or langdetect."),
    seed: int = SeedOption,
    model_name: str = ModelOption,
    device: str = DeviceOption,
    dtype: str = DtypeOption,
) -> None:
    """Which language each layer thinks in: logit-lens language distribution, base vs steered vs SFT."""
    from mlsteer.pipeline.analyses import run_lens

    vectors = parse_assignments(vector, "--vector")
    try:
        model = _load(model_name, device, dtype)
        sft = {lang: _load(folder, device, dtype) for lang, folder in parse_assignments(sft_model, "--sft").items()}
        paths = run_lens(model, parse_codes(langs), out, vectors, data_dir, n_texts, k, alpha, seed, sft=sft, detector=detector,
                         corpus=corpus)
    except MlsteerError as error:
        _fail(error)
    console.print("wrote " + ", ".join(str(p) for p in paths))


@app.command()
def wendler(
    langs: str = typer.Option(..., "--langs", help="Target languages of the word-translation prompts."),
    out: Path = typer.Option(..., "--out", help="Folder for wendler_{lang}.json and figures."),
    vector: list[str] = typer.Option([], "--vector", help="Repeatable LANG=FILE: also measure steered by FILE."),
    sft_model: list[str] = typer.Option([], "--sft", help="Repeatable LANG=FOLDER: also measure a model made by mlsteer sft."),
    alpha: float = typer.Option(1.0, help="Multiplier of the vectors."),
    source: str = typer.Option("fr", help="Source language of the prompts (de when the target is fr)."),
    shots: int = typer.Option(4, help="Solved translations before each query."),
    seed: int = SeedOption,
    model_name: str = ModelOption,
    device: str = DeviceOption,
    dtype: str = DtypeOption,
) -> None:
    """Latent English (Wendler et al. 2024): lens mass on the English vs the target answer per layer."""
    from mlsteer.pipeline.wendler import run_wendler

    try:
        model = _load(model_name, device, dtype)
        sft = {lang: _load(folder, device, dtype) for lang, folder in parse_assignments(sft_model, "--sft").items()}
        paths = run_wendler(model, parse_codes(langs), out, parse_assignments(vector, "--vector"), alpha, source, shots, seed, sft=sft)
    except MlsteerError as error:
        _fail(error)
    console.print("wrote " + ", ".join(str(p) for p in paths))


@app.command()
def pca(
    langs: str = typer.Option(..., "--langs", help="Comma-separated language codes."),
    out: Path = typer.Option(..., "--out", help="Folder for pca.json and the figure."),
    layer: int = typer.Option(..., "--layer", help="Layer whose pooled activations are projected."),
    task: str = typer.Option("xcopa", "--task", help="Task whose prompts are the evaluation side."),
    corpus: str = CorpusOption,
    n: int = typer.Option(100, "-n", help="Texts per side and language."),
    data_dir: Path | None = DataDirOption,
    seed: int = SeedOption,
    model_name: str = ModelOption,
    device: str = DeviceOption,
    dtype: str = DtypeOption,
) -> None:
    """Training corpus vs evaluation prompts in a 2-D PCA of activations (the paper's Figure 8)."""
    from mlsteer.pipeline.distribution import run_train_test_pca

    try:
        model = _load(model_name, device, dtype)
        path = run_train_test_pca(model, parse_codes(langs), out, layer, task, corpus, data_dir, n, seed)
    except MlsteerError as error:
        _fail(error)
    console.print(f"wrote {path}")


@app.command()
def sweep(
    task: str = ChoiceTaskOption,
    langs: str = typer.Option(..., "--langs", help="Comma-separated language codes."),
    out: Path = typer.Option(..., "--out", help="Run folder (vectors, validation/ and test/ stores, sweep_TASK.*)."),
    layers: str = typer.Option("all", "--layers", "-l", help="e.g. all, 2-16:2 or 4,6,8."),
    alphas: str = typer.Option("1", "--alphas", help="Comma-separated multipliers, e.g. 0.5,1,2."),
    learner: str = LearnerOption,
    corpus: str = CorpusOption,
    n_pairs: int = TrainPairsOption,
    limit: int | None = LimitOption,
    test_grid: bool = typer.Option(True, help="Also evaluate every cell on test (for the figure only; the choice ignores it)."),
    data_dir: Path | None = DataDirOption,
    seed: int = SeedOption,
    model_name: str = ModelOption,
    device: str = DeviceOption,
    dtype: str = DtypeOption,
) -> None:
    """Layer sensitivity: choose layer and alpha on validation, report on test with controls."""
    from mlsteer.pipeline.sweep import run_sweep, sweep_markdown

    try:
        model = _load(model_name, device, dtype)
        results = run_sweep(model, task, parse_codes(langs), out, parse_layers(layers, model.n_layers), parse_floats(alphas),
                            learner, corpus, n_pairs, limit, data_dir, seed, test_grid)
    except MlsteerError as error:
        _fail(error)
    console.print(sweep_markdown(results, _task_name(task), model.name, learner), soft_wrap=True)
    console.print(f"wrote {out / f'sweep_{_task_name(task)}.html'}")


@app.command()
def transfer(
    task: str = ChoiceTaskOption,
    targets: str = typer.Option(..., "--targets", help="Languages to apply every vector to, e.g. sw,zh,es,en."),
    out: Path = typer.Option(..., "--out", help="Folder for results.sqlite and transfer_TASK.*."),
    sweep_dir: Path | None = typer.Option(None, "--from-sweep", help="Use each language's choice from this sweep folder."),
    sweep_task: str | None = typer.Option(None, "--sweep-task", help="Task the sweep chose on (default --task), e.g. xcopa choices applied to xnli en."),
    vector: list[str] = typer.Option([], "--vector", help="Repeatable LANG=FILE (with --layer/--alpha) instead of a sweep."),
    layer: int | None = typer.Option(None, "--layer", help="Layer for --vector files."),
    alpha: float = typer.Option(1.0, help="Multiplier for --vector files."),
    limit: int | None = LimitOption,
    data_dir: Path | None = DataDirOption,
    seed: int = SeedOption,
    model_name: str = ModelOption,
    device: str = DeviceOption,
    dtype: str = DtypeOption,
) -> None:
    """Cross-language transfer: each language's vector on every target language (Figure 3, Table 4)."""
    from mlsteer.pipeline.sweep import VectorChoice, load_choices
    from mlsteer.pipeline.transfer import run_transfer

    try:
        if sweep_dir is not None:
            choices = load_choices(sweep_dir, sweep_task or task)
        elif vector and layer is not None:
            choices = {lang: VectorChoice(Path(path), layer, alpha) for lang, path in parse_assignments(vector, "--vector").items()}
        else:
            raise MlsteerError("name the vectors: --from-sweep RUN_DIR, or --vector LANG=FILE ... with --layer")
        model = _load(model_name, device, dtype)
        matrix = run_transfer(model, task, choices, parse_codes(targets), out, limit, data_dir, seed)
    except MlsteerError as error:
        _fail(error)
    console.print(matrix.markdown(), soft_wrap=True)
    console.print(f"wrote {out / f'transfer_{_task_name(task)}.html'}")


@app.command()
def pivot(
    task: str = ChoiceTaskOption,
    langs: str = typer.Option(..., "--langs", help="Languages whose items are evaluated."),
    out: Path = typer.Option(..., "--out", help="Folder for vectors/, results.sqlite and pivot_TASK.*."),
    layer: int = typer.Option(..., "--layer", help="Layer to learn and steer at."),
    pivots: str = typer.Option("en,es,fr,de", "--pivots", help="Goal languages of the vectors."),
    alpha: float = typer.Option(1.0, help="Multiplier of the vectors."),
    learner: str = LearnerOption,
    corpus: str = corpus_option("msvamp", " Pivots need pairs with each goal language: msvamp, or your file with their columns."),
    n_pairs: int = TrainPairsOption,
    limit: int | None = LimitOption,
    data_dir: Path | None = DataDirOption,
    seed: int = SeedOption,
    model_name: str = ModelOption,
    device: str = DeviceOption,
    dtype: str = DtypeOption,
) -> None:
    """Pivot languages: vectors toward es/fr/de instead of English (the paper's Table 3)."""
    from mlsteer.pipeline.transfer import run_pivot

    try:
        model = _load(model_name, device, dtype)
        matrix = run_pivot(model, task, parse_codes(langs), parse_codes(pivots), out, layer, alpha, learner, corpus,
                           n_pairs, limit, data_dir, seed)
    except MlsteerError as error:
        _fail(error)
    console.print(matrix.markdown("vector"), soft_wrap=True)
    console.print(f"wrote {out / f'pivot_{_task_name(task)}.html'}")


@app.command()
def table(run_dir: Path = typer.Argument(..., help="A run folder written by mlsteer eval.")) -> None:
    """Print the paper-style tables of a run and export table.md / .csv / .json."""
    from mlsteer.evaluation.store import ResultStore
    from mlsteer.evaluation.table import build_tables, export_tables

    if not (run_dir / "results.sqlite").is_file():
        _fail(MlsteerError(f"{run_dir} has no results.sqlite; run mlsteer eval --out {run_dir} first"))
    tables = build_tables(ResultStore(run_dir))
    for t in tables:
        console.print(t.markdown() + "\n", soft_wrap=True)
    paths = export_tables(tables, run_dir)
    console.print("wrote " + ", ".join(str(p) for p in paths))


@app.command("run")
def run_command(
    config: str = typer.Argument(..., help="A TOML config file, or a built-in one: demo, paper."),
    out: Path | None = typer.Option(None, "--out", help="Run folder (default: the config's out)."),
    data_dir: Path | None = DataDirOption,
    exports: bool = typer.Option(True, help="PNG/SVG exports of the figures (needs Chromium for kaleido)."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:N or auto (default: the config's device, else cpu)."),
    dtype: str | None = typer.Option(None, "--dtype", help="float32, bfloat16 or float16 (default: the config's dtype, else float32)."),
) -> None:
    """Run an experiment config end to end: sweep, evaluate, analyse, report (resumable).

    Data-parallel: torchrun --nproc-per-node N -m mlsteer run CONFIG (evaluations split across ranks)."""
    from rich.markdown import Markdown

    from mlsteer import distributed

    from mlsteer.experiment import load_config, run_experiment

    try:
        result = run_experiment(load_config(config, out), data_dir, device=device, dtype=dtype, console=console, exports=exports)
        main = distributed.is_main()
    except MlsteerError as error:
        _fail(error)
    finally:
        distributed.finish()
    if not main:  # the summary and report are rank 0's
        return
    console.rule("summary")
    console.print(Markdown(result.summary))
    total = sum(result.seconds.values())
    console.print(f"report: {result.report}  ({total / 60:.1f} min; " + ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items()) + ")")


@app.command()
def demo(
    lang: str = typer.Option("es", help="Target language of the built-in pairs."),
    layer: int = typer.Option(6, help="Layer to learn and steer at."),
    alpha: float = typer.Option(1.0, help="Multiplier of the vector."),
    output: Path = typer.Option(Path("runs/demo"), "--output", "-o", help="Folder for the vector."),
    model_name: str = ModelOption,
    device: str = DeviceOption,
    dtype: str = DtypeOption,
) -> None:
    """Learn an English->LANG mean-difference vector from built-in pairs and show its effect."""
    from mlsteer.demo import run_demo

    try:
        run_demo(model_name, lang, layer, alpha, output, device, console, dtype=dtype)
    except MlsteerError as error:
        _fail(error)



@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run folder (mlsteer eval, similarity, lens, sweep, transfer)."),
    out: Path | None = typer.Option(None, "--out", help="Where to write the page (default RUN_DIR/report.html)."),
    exports: bool = typer.Option(True, "--exports/--no-exports", help="Also write RUN_DIR/exports/{figure}.png and .svg."),
) -> None:
    """One offline HTML page of a run: summary.md, result tables and every figure; PNG/SVG exports."""
    from mlsteer.report import build_report

    try:
        paths = build_report(run_dir, out, exports=exports)
    except MlsteerError as error:
        _fail(error)
    for reason in dict.fromkeys(paths.skipped.values()):
        count = sum(1 for r in paths.skipped.values() if r == reason)
        console.print(f"[yellow]warning:[/yellow] {count} export(s) not written: {reason}", soft_wrap=True)
    console.print(f"wrote {paths.html} ({len(paths.figures)} figures, {paths.tables} tables)", soft_wrap=True)
    if paths.exports:
        console.print(f"exported {len(paths.exports)} images to {paths.exports[0].parent}", soft_wrap=True)


from mlsteer.cli.harness import CONTEXT as HARNESS_CONTEXT, harness  # noqa: E402  (lm_eval loads only when it runs)

app.command("harness", context_settings=HARNESS_CONTEXT)(harness)
