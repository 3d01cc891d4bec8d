"""Heatmap of a :class:`~mlsteer.analysis.transfer.DeltaMatrix` (Figure 3, Tables 3 and 4):
accuracy change in points, diverging around zero, each cell annotated with its paired SE."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from mlsteer.analysis.transfer import DeltaMatrix


def delta_heatmap(
    matrix: DeltaMatrix,
    title: str,
    row_title: str = "vector from",
    column_title: str = "applied to",
) -> go.Figure:
    delta, stderr = (100 * matrix.delta()).tolist(), (100 * matrix.stderr()).tolist()
    text = [
        [("" if math.isnan(d) else f"{d:+.1f}<br>±{s:.1f}") for d, s in zip(drow, srow)]
        for drow, srow in zip(delta, stderr)
    ]
    finite = [abs(v) for row in delta for v in row if not math.isnan(v)]
    bound = max(finite + [1.0])
    figure = go.Figure(
        go.Heatmap(
            z=delta,
            x=list(matrix.columns),
            y=list(matrix.rows),
            text=text,
            texttemplate="%{text}",
            zmin=-bound,
            zmax=bound,
            zmid=0,
            colorscale="RdBu",
            colorbar={"title": "Δ acc (pts)"},
            hovertemplate=f"{row_title} %{{y}}, {column_title} %{{x}}: %{{z:+.1f}} points<extra></extra>",
        )
    )
    figure.update_layout(
        title=title,
        xaxis={"title": column_title, "type": "category"},
        yaxis={"title": row_title, "type": "category", "autorange": "reversed"},
    )
    return figure
