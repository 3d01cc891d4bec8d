"""Figures for :mod:`mlsteer.analysis.similarity`: a languages x layers heatmap of similarity
to English with the cells at or above the threshold marked, and a language distance matrix.

Colour scales span the data, not a fixed [0, 1]: raw cosines of a model's residuals all sit near
1 (a component every language shares), and on a 0-1 scale every cell is the same yellow. Data
with both signs (centred cosines) get a diverging scale centred on 0. Read values off the
colour bar or the hover text: two figures' colours do not compare."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from jaxtyping import Float
from torch import Tensor

from mlsteer.analysis.similarity import SimilarityResult
from mlsteer.errors import MlsteerError


def colour_range(values: Tensor) -> dict:
    """``zmin``/``zmax``/``colorscale`` (and ``zmid``) for a heatmap of ``values``: the data's
    own range on a sequential scale, or centred on 0 on a diverging one when both signs occur."""
    finite = values[torch.isfinite(values)].float()
    low, high = (float(finite.min()), float(finite.max())) if finite.numel() else (0.0, 1.0)
    if low < 0 < high:
        bound = max(-low, high)
        return {"zmin": -bound, "zmax": bound, "zmid": 0.0, "colorscale": "RdBu_r"}
    if low == high:  # one value: a range around it, so the single colour is mid-scale
        low, high = low - 0.5, high + 0.5
    return {"zmin": low, "zmax": high, "colorscale": "Viridis"}


def similarity_heatmap(result: SimilarityResult) -> go.Figure:
    """Heatmap (trace 0) of ``result.values`` on a colour scale spanning the data (see the
    module doc); trace 1 marks the cells >= threshold."""
    values = result.values.float()
    # categorical axis: equal-width cells even for sparse layers (0, 4, 8, ...)
    layers = [str(layer) for layer in result.layers]
    heatmap = go.Heatmap(
        z=values.tolist(),
        x=layers,
        y=list(result.langs),
        colorbar={"title": "cosine"},
        hovertemplate="%{y}, layer %{x}: %{z:.3f}<extra></extra>",
        **colour_range(values),
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
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


def distance_matrix_figure(langs: Sequence[str], matrix: Float[Tensor, "lang lang"]) -> go.Figure:
    """Language x language heatmap of :func:`language_distance_matrix` (1 - cosine), colour
    scale from 0 (the diagonal) to the largest distance."""
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
            zmax=float(matrix.max()) if float(matrix.max()) > 0 else 1.0,
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
