"""Figure: the logit lens's language distribution per layer, one panel per condition
(base, steered, SFT), as in the paper's Figures 5 and 6."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

from mlsteer.languages import LANGUAGES

_OTHER_COLOUR = "#c8c8c8"
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def language_distribution_figure(
    distributions: Mapping[str, Float[Tensor, "layer lang"]],
    layers: Sequence[int],
    langs: Sequence[str],
    title: str = "",
) -> go.Figure:
    """Stacked bars of each language's share of the lens's top-k mass per layer; the last
    column of every distribution is ``other`` (no letters, or undecided)."""
    conditions = list(distributions)
    figure = make_subplots(
        rows=1, cols=len(conditions), shared_yaxes=True, subplot_titles=conditions
    )
    names = [LANGUAGES[code].name if code in LANGUAGES else code for code in langs] + ["other"]
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(langs))] + [_OTHER_COLOUR]
    for col, condition in enumerate(conditions, start=1):
        values = distributions[condition]
        for j, (name, colour) in enumerate(zip(names, colours)):
            figure.add_trace(
                go.Bar(
                    x=list(layers),
                    y=values[:, j].tolist(),
                    name=name,
                    marker_color=colour,
                    legendgroup=name,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
    figure.update_layout(
        barmode="stack",
        title=title or "Logit lens: language of the top tokens per layer",
        yaxis_title="share of top-k probability",
        legend_title="language",
    )
    figure.update_xaxes(title_text="layer")
    return figure
