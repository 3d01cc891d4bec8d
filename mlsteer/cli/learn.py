"""Commands that make or show steering: ``learn``, ``sft``, ``cache``, ``generate``, ``demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from mlsteer.cli import checks
from mlsteer.cli.errors import console
from mlsteer.cli.models import load, one_process
from mlsteer.cli.options import (
    LEARNER_HELP,
    BatchSizeOption,
    DataSpec,
    LangsOption,
    ModelSpec,
    corpus_option,
    pairs_option,
    parse_layers,
)
from mlsteer.errors import MlsteerError
from mlsteer.layout import VECTOR_SUFFIX, language_file


def learn(
    method: str = typer.Option(..., "--method", help=LEARNER_HELP),
    layers: str = typer.Option(
        ...,
        "--layers",
        help="A layer (6), a list (4,6,8), a range (2-5) or 'all' (closed-form learners).",
    ),
    langs: list[str] = LangsOption,
    goal: str = typer.Option(
        "en", "--goal", help="Language the vectors steer toward (en; a pivot such as es for X->es)."
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Vector file (.safetensors); with several languages a folder of {lang}.safetensors.",
    ),
    corpus: str | None = corpus_option(),
    n_pairs: int = pairs_option(1000, "Pairs sampled from the corpus (the paper: 1000)."),
    heldout: float = typer.Option(
        0.1, min=0.0, max=0.9, help="Fraction of pairs held out for the diagnostics."
    ),
    pooling: str = typer.Option("mean", help="Pooling of sentence activations: mean or last."),
    solver: str = typer.Option("closed", help="mse: closed (exact) or iterative (AdamW)."),
    paper_settings: bool = typer.Option(
        False,
        "--paper-settings",
        help="The learner's paper preset (mse iterative: lr 1e-8, which barely moves v).",
    ),
    lr: float | None = typer.Option(None, help="bipo / iterative mse learning rate."),
    epochs: int | None = typer.Option(None, min=1, help="bipo / iterative mse epochs."),
    ridge: float = typer.Option(
        0.1, min=0.0, help="lstsq ridge strength (0 = plain least squares)."
    ),
    *,
    data: DataSpec,
    model: ModelSpec,
) -> None:
    """Learn a steering vector (or map) per language from a parallel corpus: LANG -> goal (English)."""
    from mlsteer.errors import check_choice

    codes = checks.languages(langs)  # the torch-free checks first: a typo fails in a second
    goal = checks.languages([goal], "--goal")[0]
    if goal in codes:
        raise MlsteerError(
            f"--goal {goal} is also in --langs; a vector steers a language toward another one"
        )
    corpus = checks.corpus(corpus, codes, data, goals=[goal])
    paths = _outputs(out, codes)
    parse_layers(layers, 1)  # the spelling, before the model says how many layers there are

    from mlsteer.activations.pooling import POOLINGS
    from mlsteer.learners import learners
    from mlsteer.pipeline.learn import learn_from_corpus, save_results

    check_choice("--method", method, tuple(learners()))
    check_choice("--pooling", pooling, POOLINGS)
    flags = {"solver": solver, "lr": lr, "epochs": epochs, "ridge": ridge}
    options = learners()[method].keywords(
        {k: v for k, v in flags.items() if v is not None}, "paper" if paper_settings else None
    )
    from mlsteer.io import check_writable

    for path in paths.values():  # a read-only or impossible output fails now, not after training
        check_writable(path)
    loaded = load(model)
    for lang, path in paths.items():
        results = learn_from_corpus(
            loaded,
            method,
            parse_layers(layers, loaded.n_layers),
            lang,
            corpus=corpus,
            data_dir=data.data_dir,
            n_pairs=n_pairs,
            heldout_fraction=heldout,
            seed=data.seed,
            pooling=pooling,
            options=options,
            goal=goal,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        _show(results, save_results(path, results), lang, goal)


def _outputs(out: Path, langs: list[str]) -> dict[str, Path]:
    """One language and a ``.safetensors`` path: that file; else ``out/{lang}.safetensors``."""
    if len(langs) == 1 and out.suffix == VECTOR_SUFFIX:
        return {langs[0]: out}
    if out.suffix == VECTOR_SUFFIX or out.is_file():
        raise MlsteerError(
            f"--out {out}: several languages need a folder (they are written as {{lang}}{VECTOR_SUFFIX})"
        )
    return {lang: language_file(out, lang) for lang in langs}


def _show(results: list, path: Path, lang: str, goal: str) -> None:
    from rich.table import Table

    table = Table(
        "layer", "method", "norm", "held-out cos before", "after", title=f"{lang} -> {goal}"
    )

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.4f}"

    for result in results:
        d = result.diagnostics
        norm = f"{result.steering.norm:.2f}" if hasattr(result.steering, "norm") else "map"
        table.add_row(
            str(result.steering.layer),
            result.steering.method,
            norm,
            fmt(d.heldout_cosine_before),
            fmt(d.heldout_cosine_after),
        )
    console.print(table)
    console.print(f"wrote {len(results)} entr{'y' if len(results) == 1 else 'ies'} to {path}")


def sft(
    langs: list[str] = LangsOption,
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Folder for the fine-tuned model (with several languages: one per language inside).",
    ),
    corpus: str | None = corpus_option(),
    n_pairs: int = pairs_option(1000),
    steps: int = typer.Option(
        60, min=1, help="Optimiser steps (the CPU budget; see mlsteer.training.sft)."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Pairs per step."),
    lr: float = typer.Option(2e-5, help="AdamW learning rate."),
    *,
    data: DataSpec,
    model: ModelSpec,
) -> None:
    """Fine-tune the model on LANG-English pairs (the SFT baseline); evaluate it with sft:FOLDER."""
    from mlsteer.data.corpora import load_pairs
    from mlsteer.models.loading import load_hf
    from mlsteer.training.sft import SFTConfig, finetune

    codes = checks.languages(langs)
    corpus = checks.corpus(corpus, codes, data)
    model.check()
    one_process()
    for lang in codes:
        pairs = load_pairs(corpus, lang, data.data_dir, n=n_pairs, seed=data.seed)
        hf_model, tokenizer, _, _ = load_hf(
            model.name, device=model.device, dtype=model.dtype, seed=data.seed
        )
        config = SFTConfig(steps=steps, batch_size=batch_size, lr=lr, seed=data.seed)
        path = finetune(hf_model, tokenizer, pairs, out if len(codes) == 1 else out / lang, config)
        console.print(f"wrote the fine-tuned model to {path}; evaluate it with --method sft:{path}")


def cache(
    texts_file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        help="UTF-8 file, one text per line (blank lines skipped).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Activation file to write (.safetensors)."),
    layers: str = typer.Option("all", "--layers", "-l", help="e.g. 6, 4,6,8, 2-5 or all."),
    pooling: str = typer.Option("mean", help="last or mean (BOS left out)."),
    batch_size: int = BatchSizeOption,
    *,
    model: ModelSpec,
) -> None:
    """Cache pooled resid_post activations of the texts in a file."""
    from mlsteer.activations import (
        POOLINGS,
        ActivationMeta,
        ActivationSet,
        cache_activations,
        save_activations,
    )
    from mlsteer.errors import EmptyInputError, check_choice
    from mlsteer.hashing import hash_texts

    check_choice("--pooling", pooling, POOLINGS)
    texts = [line for line in texts_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise EmptyInputError(f"{texts_file} has no non-blank lines; put one text per line")
    parse_layers(layers, 1)
    loaded = load(model)
    layer_list = parse_layers(layers, loaded.n_layers)
    acts = cache_activations(loaded, texts, layer_list, pooling=pooling, batch_size=batch_size)
    meta = ActivationMeta(
        loaded.fingerprint, tuple(layer_list), pooling, False, hash_texts(texts), len(texts)
    )
    save_activations(out, ActivationSet(acts, meta))
    console.print(f"wrote {tuple(acts.shape)} activations to {out}")


def generate(
    prompt: str = typer.Argument(..., help="Prompt to continue."),
    vector: str | None = typer.Option(
        None,
        "--vector",
        "-v",
        help="Steering file: FILE, or LANG=FILE / LANG=FOLDER (a folder of {lang}.safetensors).",
    ),
    alpha: float = typer.Option(1.0, "--alpha", help="Multiplier of the vector."),
    scale: str = typer.Option(
        "absolute", help="absolute, or relative to the layer's residual norm."
    ),
    positions: str = typer.Option("all", help="all, prompt or generated."),
    max_new_tokens: int = typer.Option(40, min=1, help="Tokens to generate."),
    allow_other_model: bool = typer.Option(False, help="Apply a vector learned on another model."),
    *,
    model: ModelSpec,
) -> None:
    """Print the unsteered and steered continuations of PROMPT side by side."""
    from rich.table import Table

    from mlsteer.errors import check_choice
    from mlsteer.steering import generate as run_generate
    from mlsteer.steering import load_steering, steer
    from mlsteer.steering.hooks import POSITIONS, SCALES

    check_choice("--scale", scale, SCALES)
    check_choice("--positions", positions, POSITIONS)
    steering = None
    if vector is not None:
        lang, _, source = vector.rpartition("=") if "=" in vector else ("", "", vector)
        steering = load_steering(checks.vector_file(source, lang or None))
    loaded = load(model)
    table = Table("unsteered", show_lines=True)
    rows = [run_generate(loaded, [prompt], max_new_tokens).texts[0]]
    if steering is not None:
        layers = ",".join(str(item.layer) for item in steering)
        table.add_column(f"steered ({steering[0].method}, layer {layers}, alpha {alpha})")
        with steer(
            loaded,
            steering,
            alpha,
            positions=positions,
            scale=scale,
            allow_other_model=allow_other_model,
        ):
            rows.append(run_generate(loaded, [prompt], max_new_tokens).texts[0])
    table.add_row(*rows)
    console.print(f"[bold]{prompt}[/bold]")
    console.print(table)


def demo(
    langs: list[str] = typer.Option(
        ["es"], "--langs", help="Target languages of the built-in pairs (comma-separated)."
    ),
    layer: int = typer.Option(6, "--layer", min=0, help="Layer to learn and steer at."),
    alpha: float = typer.Option(1.0, "--alpha", help="Multiplier of the vector."),
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Folder for the vectors."),
    *,
    model: ModelSpec,
) -> None:
    """Learn an English->LANG mean-difference vector from built-in pairs and show its effect."""
    from mlsteer.data import builtin_pairs
    from mlsteer.demo import run_demo

    codes = checks.languages(langs)
    for lang in codes:
        builtin_pairs(lang)  # a language without built-in pairs fails before the model loads
    model.check()
    one_process()
    for lang in codes:
        run_demo(model.name, lang, layer, alpha, out, model.device, console, dtype=model.dtype)
