"""Cross-language transfer (the paper's Figure 3), English impact (Table 4) and pivot languages
(Table 3): one matrix of paired accuracy deltas.

Rows are where a vector comes from (a source language, or a pivot the vector steers toward),
columns the language whose items it is applied to; each cell is the paired difference from
that column's unsteered run on the same items. Partner languages for a transfer study can be
picked from the similarity analysis's distance matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from mlsteer.analysis.paired import Comparison, compare
from mlsteer.errors import MlsteerError


@dataclass(frozen=True)
class DeltaMatrix:
    """``cells[row][column]`` compares steering from ``row`` on ``column`` with ``column``'s basic."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: dict[str, dict[str, Comparison]]
    basic: dict[str, float]  # column -> unsteered accuracy

    def delta(self) -> Float[Tensor, "row column"]:
        return torch.tensor([[self._get(r, c, "delta") for c in self.columns] for r in self.rows])

    def stderr(self) -> Float[Tensor, "row column"]:
        return torch.tensor(
            [[self._get(r, c, "delta_stderr") for c in self.columns] for r in self.rows]
        )

    def _get(self, row: str, column: str, name: str) -> float:
        cell = self.cells.get(row, {}).get(column)
        return float("nan") if cell is None else getattr(cell, name)

    def markdown(
        self, row_title: str = "vector from", unit: str = "Δ accuracy, points ± paired SE"
    ) -> str:
        lines = [
            f"| {row_title} \\ on | " + " | ".join(self.columns) + " |",
            "|---" * (len(self.columns) + 1) + "|",
            "| (basic accuracy) | "
            + " | ".join(f"{100 * self.basic[c]:.1f}" for c in self.columns)
            + " |",
        ]
        for row in self.rows:
            parts = [
                f"{100 * c.delta:+.1f} ± {100 * c.delta_stderr:.1f}"
                if (c := self.cells.get(row, {}).get(col))
                else "–"
                for col in self.columns
            ]
            lines.append(f"| {row} | " + " | ".join(parts) + " |")
        return f"({unit})\n\n" + "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "rows": list(self.rows),
            "columns": list(self.columns),
            "basic": self.basic,
            "cells": {r: {c: vars(v) for c, v in cols.items()} for r, cols in self.cells.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> DeltaMatrix:
        cells = {
            r: {c: Comparison(**v) for c, v in cols.items()} for r, cols in data["cells"].items()
        }
        return cls(tuple(data["rows"]), tuple(data["columns"]), cells, data["basic"])


def delta_matrix(
    steered: Mapping[tuple[str, str], Bool[Tensor, " _item"]],
    basic: Mapping[str, Bool[Tensor, " _item"]],
) -> DeltaMatrix:
    """``steered[(row, column)]`` and ``basic[column]``: per-item correctness on the same items."""
    missing = sorted({column for _, column in steered} - set(basic))
    if missing:
        raise MlsteerError(
            f"no unsteered run for {missing}; every column needs its basic run to compare against"
        )
    rows = tuple(dict.fromkeys(row for row, _ in steered))
    columns = tuple(dict.fromkeys(column for _, column in steered))
    cells: dict[str, dict[str, Comparison]] = {row: {} for row in rows}
    for (row, column), correct in steered.items():
        cells[row][column] = compare(correct, basic[column])
    return DeltaMatrix(rows, columns, cells, {c: basic[c].float().mean().item() for c in columns})


def nearest_partners(
    distances: Float[Tensor, "lang lang"], langs: Sequence[str], lang: str, k: int = 2
) -> list[str]:
    """The ``k`` languages closest to ``lang`` by a distance matrix (e.g. the similarity analysis's
    :func:`~mlsteer.analysis.similarity.language_distance_matrix`), nearest first."""
    if lang not in langs:
        raise MlsteerError(f"{lang!r} is not in the distance matrix; it has: {', '.join(langs)}")
    i = list(langs).index(lang)
    order = [j for j in distances[i].argsort().tolist() if j != i]
    return [langs[j] for j in order[:k]]
