"""Options shared by several commands, and small parsers for them."""

from __future__ import annotations

import typer

from mlsteer.models.embedded_gemma import EMBEDDED_NAME

ModelOption = typer.Option(EMBEDDED_NAME, "--model", "-m", help="Built-in name, local HF folder or Hub id.")
DeviceOption = typer.Option("cpu", "--device", help="cpu (default) or cuda.")
LangOption = typer.Option(..., "--lang", help="Target language (ISO 639-1), e.g. sw.")
CorpusOption = typer.Option("tatoeba", "--corpus", help="tatoeba, msvamp or builtin.")
DataDirOption = typer.Option(None, "--data-dir", help="Benchmark folder (else $MLSTEER_DATA, else the Hub).")
PairsOption = typer.Option(1000, "--pairs", "-n", help="Pairs sampled from the corpus (the paper: 1000).")
SeedOption = typer.Option(0, "--seed", help="Seed for sampling, splitting and training.")


def parse_layers(spec: str, n_layers: int) -> list[int]:
    """``"6"``, ``"4,6,8"``, ``"2-5"`` or ``"all"`` -> layer indices."""
    if spec.strip() == "all":
        return list(range(n_layers))
    layers: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                low, high = part.split("-", 1)
                layers.extend(range(int(low), int(high) + 1))
            else:
                layers.append(int(part))
        except ValueError:
            raise typer.BadParameter(f"cannot read layers {spec!r}; write e.g. 6, 4,6,8, 2-5 or all") from None
    return layers
