"""Options shared by several commands, and small parsers for them."""

from __future__ import annotations

from typing import Any

import typer

from mlsteer.models.embedded_gemma import EMBEDDED_NAME

ModelOption = typer.Option(EMBEDDED_NAME, "--model", "-m", help="Built-in name, local HF folder or Hub id.")
DeviceOption = typer.Option("cpu", "--device", help="cpu (default), cuda, cuda:N or auto (the GPU if there is one).")
DtypeOption = typer.Option("float32", "--dtype", help="Weights dtype: float32 (default), bfloat16 or float16.")
LangOption = typer.Option(..., "--lang", help="Target language (ISO 639-1), e.g. sw.")


def corpus_option(default: str = "tatoeba", note: str = "") -> Any:
    """The ``--corpus`` option of every command that reads pairs (``default`` and a note differ)."""
    return typer.Option(default, "--corpus", help="tatoeba, msvamp, builtin, or your own: a TSV file with a header "
                        "(en<TAB>sw), a JSONL file ({\"en\": ..., \"sw\": ...}), EN_FILE,LANG_FILE (line-aligned) "
                        "or hf:ID[:CONFIG]." + note)


CorpusOption = corpus_option()
DataDirOption = typer.Option(None, "--data-dir", help="Benchmark folder (else $MLSTEER_DATA, else the Hub).")
PairsOption = typer.Option(1000, "--pairs", "-n", help="Pairs sampled from the corpus (the paper: 1000).")
SeedOption = typer.Option(0, "--seed", help="Seed for sampling, splitting and training.")
ChoiceTaskOption = typer.Option(..., "--task", help="A multiple-choice task: cloze (built-in), xcopa, xnli, m_mmlu, m3exam, or a task file (.jsonl, .yaml).")
LimitOption = typer.Option(None, "--limit", help="Items per language (and split), a seeded sample.")
LearnerOption = typer.Option("mse", "--learner", help="mse, meandiff, pca or bipo (bipo: one training run per layer).")
TrainPairsOption = typer.Option(200, "--pairs", "-n", help="Training pairs per vector.")


def parse_layers(spec: str, n_layers: int) -> list[int]:
    """``"6"``, ``"4,6,8"``, ``"2-5"``, ``"0-17:2"`` (every second) or ``"all"`` -> layer indices."""
    if spec.strip() == "all":
        return list(range(n_layers))
    layers: list[int] = []
    for part in spec.split(","):
        part, _, step = part.strip().partition(":")
        try:
            if "-" in part[1:]:
                low, high = part.split("-", 1)
                layers.extend(range(int(low), int(high) + 1, int(step or 1)))
            else:
                layers.append(int(part))
        except ValueError:
            raise typer.BadParameter(f"cannot read layers {spec!r}; write e.g. 6, 4,6,8, 2-5, 0-17:2 or all") from None
    return layers


def parse_codes(spec: str) -> list[str]:
    """``"sw, zh,es"`` -> ``["sw", "zh", "es"]``."""
    return [code.strip() for code in spec.split(",") if code.strip()]


def parse_floats(spec: str) -> list[float]:
    """``"0.5,1,2"`` -> ``[0.5, 1.0, 2.0]``."""
    try:
        return [float(value) for value in parse_codes(spec)]
    except ValueError:
        raise typer.BadParameter(f"cannot read numbers {spec!r}; write e.g. 0.5,1,2") from None


def parse_assignments(items: list[str], option: str) -> dict[str, str]:
    """Repeated ``LANG=VALUE`` options -> ``{lang: value}``."""
    pairs = {}
    for item in items:
        lang, sep, value = item.partition("=")
        if not sep or not lang.strip() or not value.strip():
            raise typer.BadParameter(f"{option} {item!r}: write LANG=VALUE, e.g. {option} sw=runs/sw.safetensors")
        pairs[lang.strip()] = value.strip()
    return pairs
