"""Figure 7: accuracy per steering layer, one panel per language; validation (where the choice
is made) and test lines per alpha, the unsteered baselines dotted, the chosen cell starred."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mlsteer.analysis.sweep import LanguageSweep
from mlsteer.errors import EmptyInputError
from mlsteer.plots.lens import PALETTE


def sweep_figure(sweeps: Sequence[LanguageSweep], title: str = "") -> go.Figure:
    if not sweeps:
        raise EmptyInputError("no sweep results to plot; run mlsteer sweep first")
    figure = make_subplots(
        rows=1, cols=len(sweeps), shared_yaxes=True, subplot_titles=[s.lang for s in sweeps]
    )
    for col, sweep in enumerate(sweeps, start=1):
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
        chosen_value = sweep.validation[layers.index(layer), list(sweep.alphas).index(alpha)]
        figure.add_trace(
            go.Scatter(
                x=[layer],
                y=[100 * float(chosen_value)],
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
    figure.update_layout(
        title=title or "Layer sensitivity: accuracy when steering at each layer",
        yaxis_title="accuracy (%)",
    )
    figure.update_xaxes(title_text="layer")
    return figure
