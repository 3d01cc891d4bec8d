"""Figure 7: accuracy per steering layer, one panel per language; validation (where the choice
is made) and test lines per alpha, the unsteered baselines dotted, the chosen cell starred.

No empty panels: a language without a finite validation score (not swept) gets none, and a
sweep of a single (layer, alpha) cell, where a panel would hold one star, is drawn as one panel
with the languages side by side (chosen cell against unsteered)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from mlsteer.analysis.sweep import LanguageSweep, layer_name
from mlsteer.errors import EmptyInputError
from mlsteer.plots.lens import PALETTE


def has_data(sweep: LanguageSweep) -> bool:
    """Whether ``sweep`` has any finite validation score to draw."""
    return sweep.validation.numel() > 0 and bool(torch.isfinite(sweep.validation).any())


def sweep_figure(sweeps: Sequence[LanguageSweep], title: str = "") -> go.Figure:
    drawn = [sweep for sweep in sweeps if has_data(sweep)]
    if not drawn:
        raise EmptyInputError("no sweep results to plot; run mlsteer sweep first")
    title = title or "Layer sensitivity: accuracy when steering at each layer"
    if all(len(s.layers) == 1 and len(s.alphas) == 1 for s in drawn):
        return _single_cell_figure(drawn, title)
    figure = make_subplots(
        rows=1, cols=len(drawn), shared_yaxes=True, subplot_titles=[s.lang for s in drawn]
    )
    for col, sweep in enumerate(drawn, start=1):
        layers = list(sweep.layers)
        for j, alpha in enumerate(sweep.alphas):
            colour = PALETTE[j % len(PALETTE)]
            grids = [("validation", sweep.validation, "solid"), ("test", sweep.test_grid, "dash")]
            for split, grid, dash in grids:
                if grid is None:
                    continue
                figure.add_trace(
                    go.Scatter(
                        x=layers,
                        y=(100 * grid[:, j]).tolist(),
                        mode="lines+markers",
                        name=f"{split}, alpha {alpha:g}",
                        line={"color": colour, "dash": dash},
                        legendgroup=f"{split}{alpha}",
                        showlegend=col == 1,
                    ),
                    row=1,
                    col=col,
                )
        for split, value in (("validation", sweep.basic_validation), ("test", sweep.basic_test)):
            if value is None:
                continue
            figure.add_trace(
                go.Scatter(
                    x=[layers[0], layers[-1]],
                    y=[100 * value] * 2,
                    mode="lines",
                    name=f"unsteered ({split})",
                    line={"color": "grey", "dash": "dot" if split == "test" else "longdash"},
                    legendgroup=f"basic{split}",
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
        layer, alpha = sweep.chosen
        figure.add_trace(
            go.Scatter(
                x=[layer],
                y=[100 * _chosen_value(sweep)],
                mode="markers",
                marker={"symbol": "star", "size": 14, "color": "black"},
                name="chosen on validation",
                legendgroup="chosen",
                showlegend=col == 1,
                hovertext=f"layer {layer}, alpha {alpha:g}: test {sweep.test['vector']}"
                if "vector" in sweep.test
                else None,
            ),
            row=1,
            col=col,
        )
    figure.update_layout(title=title, yaxis_title="accuracy (%)")
    figure.update_xaxes(title_text="layer")
    return figure


def _chosen_value(sweep: LanguageSweep) -> float:
    layer, alpha = sweep.chosen
    return float(sweep.validation[list(sweep.layers).index(layer), list(sweep.alphas).index(alpha)])


def _single_cell_figure(sweeps: Sequence[LanguageSweep], title: str) -> go.Figure:
    """One panel, languages on x: the one swept cell (validation, and test where scored)
    against unsteered on the same split."""
    langs = [s.lang for s in sweeps]
    layer, alpha = sweeps[0].chosen
    test = {s.lang: s.test["vector"].accuracy for s in sweeps if "vector" in s.test}
    series = [
        ("steered (validation)", [_chosen_value(s) for s in sweeps], "star", "black"),
        ("unsteered (validation)", [s.basic_validation for s in sweeps], "line-ew-open", "grey"),
        ("steered (test)", [test.get(s.lang, math.nan) for s in sweeps], "diamond", PALETTE[0]),
        ("unsteered (test)", [_or_nan(s.basic_test) for s in sweeps], "line-ew-open", PALETTE[1]),
    ]
    figure = go.Figure(
        [
            go.Scatter(
                x=langs,
                y=[100 * v for v in values],
                mode="markers",
                name=name,
                marker={"symbol": symbol, "size": 14, "color": colour, "line": {"width": 3}},
            )
            for name, values, symbol, colour in series
            if any(math.isfinite(v) for v in values)
        ]
    )
    figure.update_layout(
        title=f"{title}<br><sup>one cell swept: {layer_name(layer)}, alpha {alpha:g}</sup>",
        xaxis={"title": "language", "type": "category"},
        yaxis_title="accuracy (%)",
    )
    return figure


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value
