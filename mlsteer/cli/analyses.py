"""Commands that look inside the model: ``similarity``, ``lens``, ``wendler``, ``pca``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mlsteer.cli import checks
from mlsteer.cli.errors import console
from mlsteer.cli.models import context, load
from mlsteer.cli.options import (
    AlphaOption,
    DataSpec,
    LangsOption,
    ModelSpec,
    SeedOption,
    SftOption,
    VectorsOption,
    corpus_option,
    out_option,
    pairs_option,
)

if TYPE_CHECKING:
    from mlsteer.models import SteerableModel


def similarity(
    langs: list[str] = LangsOption,
    out: Path = out_option("Folder for similarity.json and similarity.html."),
    corpus: str | None = corpus_option(),
    n_pairs: int = pairs_option(100, "Sentence pairs per language."),
    center: bool = typer.Option(
        False, help="Subtract the shared mean per layer before the cosine."
    ),
    *,
    data: DataSpec,
    model: ModelSpec,
) -> None:
    """Similarity of each language's activations to English per layer (the paper's Figure 2)."""
    codes = checks.languages(langs)
    corpus = checks.corpus(corpus, codes, data)

    from mlsteer.pipeline.analyses import run_similarity

    path = run_similarity(
        context(model, data, out, corpus=corpus, n_pairs=n_pairs), codes, center=center
    )
    console.print(f"wrote {path}")


def lens(
    langs: list[str] = LangsOption,
    out: Path = out_option("Folder for lens_{lang}.json and .html."),
    vectors: list[str] = VectorsOption,
    alpha: float = AlphaOption,
    sft_models: list[str] = SftOption,
    corpus: str | None = corpus_option(),
    n_texts: int = typer.Option(20, "--texts", min=1, help="Sentences per language."),
    k: int = typer.Option(10, min=1, help="Top-k tokens per layer."),
    detector: str = typer.Option(
        "lingua", help="Token language detector for Latin/Han tokens: lingua or langdetect."
    ),
    *,
    data: DataSpec,
    model: ModelSpec,
) -> None:
    """Which language each layer thinks in: logit-lens language distribution, base vs steered vs SFT."""
    from mlsteer.errors import check_choice

    codes = checks.languages(langs)
    check_choice("--detector", detector, ("lingua", "langdetect"))
    files, folders = checks.vectors(vectors, codes), checks.sft_models(sft_models)
    corpus = checks.corpus(corpus, codes, data)

    from mlsteer.pipeline.analyses import run_lens

    loaded, sft = _with_sft(model, folders)
    paths = run_lens(
        context(loaded, data, out, corpus=corpus, n_pairs=n_texts),
        codes,
        vectors=files,
        k=k,
        alpha=alpha,
        sft=sft,
        detector=detector,
    )
    console.print("wrote " + ", ".join(str(p) for p in paths))


def wendler(
    langs: list[str] = typer.Option(
        ..., "--langs", help="Target languages of the word-translation prompts."
    ),
    out: Path = out_option("Folder for wendler_{lang}.json and figures."),
    vectors: list[str] = VectorsOption,
    sft_models: list[str] = SftOption,
    alpha: float = AlphaOption,
    source: str = typer.Option(
        "fr", help="Source language of the prompts (de when the target is fr)."
    ),
    shots: int = typer.Option(4, min=0, help="Solved translations before each query."),
    seed: int = SeedOption,
    *,
    model: ModelSpec,
) -> None:
    """Latent English (Wendler et al. 2024): lens mass on the English vs the target answer per layer."""

    codes = checks.languages(langs)
    checks.languages([source], "--source")
    files, folders = checks.vectors(vectors, codes), checks.sft_models(sft_models)

    from mlsteer.pipeline.wendler import run_wendler

    loaded, sft = _with_sft(model, folders)
    paths = run_wendler(
        context(loaded, DataSpec(seed=seed), out),
        codes,
        vectors=files,
        alpha=alpha,
        source_lang=source,
        n_shots=shots,
        sft=sft,
    )
    console.print("wrote " + ", ".join(str(p) for p in paths))


def pca(
    langs: list[str] = LangsOption,
    out: Path = out_option("Folder for pca.json and the figure."),
    layer: int = typer.Option(
        ..., "--layer", min=0, help="Layer whose pooled activations are projected."
    ),
    task: str = typer.Option("xcopa", "--task", help="Task whose prompts are the evaluation side."),
    corpus: str | None = corpus_option(),
    n_texts: int = typer.Option(100, "--texts", min=1, help="Texts per side and language."),
    n_old: int | None = typer.Option(None, "-n", min=1, hidden=True),  # the old spelling of --texts
    *,
    data: DataSpec,
    model: ModelSpec,
) -> None:
    """Training corpus vs evaluation prompts in a 2-D PCA of activations (the paper's Figure 8)."""

    codes = checks.languages(langs)
    [task_obj] = checks.tasks([task])
    checks.task_data(task_obj, codes, data)
    corpus = checks.corpus(corpus, codes, data)

    from mlsteer.pipeline.distribution import run_train_test_pca

    texts = context(model, data, out, corpus=corpus, n_pairs=n_old or n_texts)
    path = run_train_test_pca(texts, codes, layer=layer, task=task)
    console.print(f"wrote {path}")


def _with_sft(model: ModelSpec, folders: dict[str, str]) -> tuple[SteerableModel, dict]:
    """The model, and per language the fine-tuned model in ``folders`` (``--sft LANG=FOLDER``)."""
    return load(model), {lang: load(model, name=folder) for lang, folder in folders.items()}
