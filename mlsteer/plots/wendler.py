"""Figure: Wendler et al.'s latent-English curves, the lens probability of the English and the
target-language answer per layer with standard-error bands, one panel per condition (base,
steered, SFT)."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mlsteer.analysis.wendler import WendlerResult
from mlsteer.errors import EmptyInputError
from mlsteer.languages import LANGUAGES

_COLOURS = {"en": "#1f77b4", "target": "#d62728"}
_BANDS = {"en": "rgba(31,119,180,0.2)", "target": "rgba(214,39,40,0.2)"}


def wendler_figure(
    conditions: Mapping[str, WendlerResult], target_lang: str, title: str = ""
) -> go.Figure:
    """Per condition, p(English answer) and p(target answer) per layer, mean +- one SE."""
    if not conditions:
        raise EmptyInputError("no conditions to plot; pass at least one WendlerResult")
    names = list(conditions)
    figure = make_subplots(rows=1, cols=len(names), shared_yaxes=True, subplot_titles=names)
    target_name = LANGUAGES[target_lang].name if target_lang in LANGUAGES else target_lang
    for col, name in enumerate(names, start=1):
        result = conditions[name]
        layers = list(result.layers)
        for key, label, mean, se in (
            ("en", "English", result.english_mean, result.english_se),
            ("target", target_name, result.target_mean, result.target_se),
        ):
            upper, lower = (mean + se).tolist(), (mean - se).clamp_min(0).tolist()
            figure.add_trace(
                go.Scatter(
                    x=layers + layers[::-1],
                    y=upper + lower[::-1],
                    fill="toself",
                    fillcolor=_BANDS[key],
                    line={"width": 0},
                    hoverinfo="skip",
                    legendgroup=label,
                    showlegend=False,
                ),
                row=1,
                col=col,
            )
            figure.add_trace(
                go.Scatter(
                    x=layers,
                    y=mean.tolist(),
                    mode="lines+markers",
                    name=label,
                    line={"color": _COLOURS[key]},
                    legendgroup=label,
                    showlegend=col == 1,
                    hovertemplate=f"{label}, layer %{{x}}: %{{y:.3f}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    figure.update_layout(
        title=title
        or f"Logit lens on translation into {target_name}: probability of the answer's language",
        yaxis_title="lens probability of the answer's prefixes",
        legend_title="answer",
    )
    figure.update_xaxes(title_text="layer")
    return figure
