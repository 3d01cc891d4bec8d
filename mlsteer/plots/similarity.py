"""Figures for :mod:`mlsteer.analysis.similarity`: a languages x layers heatmap of similarity
to English with the cells at or above the threshold marked, and a language distance matrix."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from jaxtyping import Float
from torch import Tensor

from mlsteer.analysis.similarity import SimilarityResult
from mlsteer.errors import MlsteerError


def similarity_heatmap(result: SimilarityResult) -> go.Figure:
    """Heatmap (trace 0) of ``result.values``, colour scale fixed to [min(0, data), 1] so
    figures from different models compare; trace 1 marks the cells >= threshold."""
    values = result.values.float()
    # categorical axis: equal-width cells even for sparse layers (0, 4, 8, ...)
    layers = [str(layer) for layer in result.layers]
    heatmap = go.Heatmap(
        z=values.tolist(),
        x=layers,
        y=list(result.langs),
        zmin=min(0.0, float(values.min())),
        zmax=1.0,
        colorscale="Viridis",
        colorbar={"title": "cosine"},
        hovertemplate="%{y}, layer %{x}: %{z:.3f}<extra></extra>",
    )
    above = (values >= result.threshold).nonzero().tolist()
    marks = go.Scatter(
        x=[layers[col] for _, col in above],
        y=[result.langs[row] for row, _ in above],
        mode="markers",
        marker={"symbol": "circle-open", "color": "white", "size": 9},
        name=f">= {result.threshold:g}",
        hoverinfo="skip",
    )
    fig = go.Figure([heatmap, marks])
    fig.update_layout(
        title=f"Similarity to English per layer (circles: >= {result.threshold:g})",
        xaxis={"title": "layer", "type": "category"},
        yaxis={"title": "language", "type": "category", "autorange": "reversed"},
        showlegend=True,
    )
    return fig


def distance_matrix_figure(langs: Sequence[str], matrix: Float[Tensor, "lang lang"]) -> go.Figure:
    """Language x language heatmap of :func:`language_distance_matrix` (1 - cosine), colour
    scale fixed to [0, max(1, data)]."""
    if tuple(matrix.shape) != (len(langs), len(langs)):
        raise MlsteerError(
            f"matrix of shape {tuple(matrix.shape)} for {len(langs)} languages; expected square"
        )
    fig = go.Figure(
        go.Heatmap(
            z=matrix.float().tolist(),
            x=list(langs),
            y=list(langs),
            zmin=0.0,
            zmax=max(1.0, float(matrix.max())),
            colorscale="Viridis",
            colorbar={"title": "1 - cosine"},
            hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title="Distance between languages' mean activations",
        xaxis={"title": "language", "type": "category"},
        yaxis={"title": "language", "type": "category", "autorange": "reversed"},
    )
    return fig
