"""Figure: training texts vs evaluation prompts in the PC plane of their activations, one panel
per language (the paper's Figure 8)."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mlsteer.analysis.distribution import Projection
from mlsteer.errors import EmptyInputError
from mlsteer.languages import LANGUAGES

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")


def distribution_figure(projections: Mapping[str, Projection], title: str = "") -> go.Figure:
    """Scatter of every group's PC coordinates per language; the panel title gives the centroid
    separation of the first two groups (in units of their pooled spread) and each axis the share
    of variance it explains."""
    if not projections:
        raise EmptyInputError("no languages to plot; pass at least one Projection")
    langs = list(projections)
    titles = []
    for lang in langs:
        projection = projections[lang]
        name = LANGUAGES[lang].name if lang in LANGUAGES else lang
        if len(projection.groups) >= 2:
            a, b = projection.groups[:2]
            name += f" (separation {projection.distance(a, b):.2f})"
        titles.append(name)
    figure = make_subplots(rows=1, cols=len(langs), subplot_titles=titles)
    seen: set[str] = set()
    for col, lang in enumerate(langs, start=1):
        projection = projections[lang]
        for index, group in enumerate(projection.groups):
            xy = projection.coords[group]
            figure.add_trace(
                go.Scatter(
                    x=xy[:, 0].tolist(),
                    y=xy[:, 1].tolist(),
                    mode="markers",
                    name=group,
                    legendgroup=group,
                    showlegend=group not in seen,
                    marker={"color": _PALETTE[index % len(_PALETTE)], "size": 6, "opacity": 0.7},
                    hovertemplate=f"{group} %{{pointNumber}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
            seen.add(group)
        pc1, pc2 = projection.explained.tolist()
        figure.update_xaxes(title_text=f"PC1 ({pc1:.0%})", row=1, col=col)
        figure.update_yaxes(title_text=f"PC2 ({pc2:.0%})", row=1, col=col)
    figure.update_layout(
        title=title or "Training texts vs evaluation prompts (PCA of pooled activations)",
        legend_title="texts",
    )
    return figure
