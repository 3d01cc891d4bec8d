"""How large each chosen vector is against the residual stream it is added to, and whether its
chosen cell beat unsteered on validation: the two checks a reader needs before trusting a
steered row.

``ratio`` is ``|alpha·v| / resid_norm``, with the chosen alpha baked into ``chosen/{learner}/``
and ``resid_norm`` the layer's mean residual norm on the training texts (stored in the vector
file). Below :data:`NEAR_NULL` the vector barely moves the residual, so its rows sit on
unsteered by construction and say nothing about steering (BiPO at the paper's learning rate
lands near 1e-4 on Gemma).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from mlsteer.layout import RunLayout

NEAR_NULL = 0.01  # |alpha·v| below 1% of the residual norm: a near-null vector


@dataclass(frozen=True)
class VectorScale:
    """One entry of a chosen vector file, with its chosen cell's validation scores."""

    learner: str
    lang: str
    layer: int
    alpha: float | None  # the sweep's chosen alpha (None: not in a sweep file)
    norm: float  # |alpha·v|
    resid_norm: float
    validation: float | None  # steered accuracy at the chosen cell
    unsteered: float | None  # unsteered accuracy on the same validation items

    @property
    def ratio(self) -> float:
        return self.norm / self.resid_norm if self.resid_norm > 0 else math.nan

    @property
    def near_null(self) -> bool:
        return math.isfinite(self.ratio) and self.ratio < NEAR_NULL

    @property
    def below_unsteered(self) -> bool:
        return (
            self.validation is not None
            and self.unsteered is not None
            and self.validation < self.unsteered
        )


def chosen_cells(run_dir: Path) -> dict[tuple[str, str], tuple[float, float, float]]:
    """``(learner, lang) -> (alpha, validation accuracy, unsteered accuracy)`` from every
    ``sweep/{learner}/sweep_*.json`` that reads back."""
    cells = {}
    for path in RunLayout(run_dir).sweep_records():
        try:
            for entry in json.loads(path.read_text(encoding="utf-8"))["languages"]:
                layer, alpha = entry["chosen"]["layer"], entry["chosen"]["alpha"]
                grid = entry["validation"]
                value = grid[entry["layers"].index(layer)][entry["alphas"].index(alpha)]
                cells[(path.parent.name, entry["lang"])] = (alpha, value, entry["basic_validation"])
        except (ValueError, KeyError, IndexError, TypeError):  # damaged: its cells show as "–"
            continue
    return cells


def vector_scales(run_dir: str | Path) -> list[VectorScale]:
    """Every entry of every ``chosen/{learner}/{lang}.safetensors`` under ``run_dir``."""
    from mlsteer.steering import load_steering

    run_dir = Path(run_dir)
    cells = chosen_cells(run_dir)
    found = []
    pattern = RunLayout(run_dir).chosen_vector("*", "*").relative_to(run_dir)
    for path in sorted(run_dir.glob(str(pattern))):
        learner, lang = path.parent.name, path.stem
        alpha, validation, unsteered = cells.get((learner, lang), (None, None, None))
        for entry in load_steering(path):
            norm = float(entry.vector.norm()) if hasattr(entry, "vector") else math.nan
            resid = float(getattr(entry, "resid_norm", math.nan))
            found.append(
                VectorScale(learner, lang, entry.layer, alpha, norm, resid, validation, unsteered)
            )
    return found


def scales_markdown(scales: list[VectorScale]) -> str:
    """The table of :func:`vector_scales`, flags in words."""
    lines = [
        "| learner | lang | layer | alpha | \\|alpha·v\\| | residual norm | ratio | validation "
        "(unsteered) | flags |",
        "|---" * 9 + "|",
    ]
    for s in scales:
        flags = [f"near-null (< {NEAR_NULL:g})"] if s.near_null else []
        flags += ["below unsteered on validation"] if s.below_unsteered else []
        chosen = (
            f"{100 * s.validation:.1f} ({100 * s.unsteered:.1f})"
            if s.validation is not None and s.unsteered is not None
            else "– (shared choice)"
        )
        alpha = "–" if s.alpha is None else f"{s.alpha:g}"
        lines.append(
            f"| {s.learner} | {s.lang} | {s.layer} | {alpha} | {s.norm:.3g} | {s.resid_norm:.4g} "
            f"| {s.ratio:.2g} | {chosen} | {'; '.join(f'**{f}**' for f in flags) or 'ok'} |"
        )
    return "\n".join(lines)
