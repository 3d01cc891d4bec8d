"""Where figures go in a run folder, so ``mlsteer report`` can gather them later.

Every analysis saves its figure twice: ``RUN_DIR/{name}.html`` (self-contained, plotly.js
inlined, opens with no network) and ``RUN_DIR/figures/{name}.json`` (plotly's JSON, which the
report re-renders without the model).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from mlsteer.io import write_text_atomic

FIGURES = "figures"


def save_figure(figure: go.Figure, run_dir: str | os.PathLike, name: str) -> Path:
    """Write ``{name}.html`` and ``figures/{name}.json`` under ``run_dir``; returns the HTML path."""
    run_dir = Path(run_dir)
    (run_dir / FIGURES).mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / FIGURES / f"{name}.json", figure.to_json())
    html = run_dir / f"{name}.html"
    figure.write_html(str(html), include_plotlyjs=True, full_html=True)
    return html


def load_figures(run_dir: str | os.PathLike) -> dict[str, go.Figure]:
    """Every figure saved under ``run_dir`` (searched recursively), by name, sorted. A name
    saved in several sub-folders (``lens/lens_sw``, ``lens_sft/lens_sw``) is prefixed with its
    folder (``lens_sft-lens_sw``) so none hides another."""
    run_dir = Path(run_dir)
    found = sorted(run_dir.rglob(f"{FIGURES}/*.json"))
    stems = Counter(path.stem for path in found)

    def name(path: Path) -> str:
        folder = path.parent.parent.relative_to(run_dir)
        return (
            path.stem
            if stems[path.stem] == 1 or folder == Path(".")
            else "-".join([*folder.parts, path.stem])
        )

    return {name(path): pio.from_json(path.read_text(encoding="utf-8")) for path in found}
