"""Paper-style tables from the store: methods x languages, averages, deltas, standard errors.

Accuracy per (method, language) with its binomial standard error sqrt(p(1-p)/n); the average
over languages and over each resource tier (:data:`mlsteer.languages.TIERS`) with the standard
error of a mean of independent accuracies; and each method's difference from ``basic``.
Everything is recomputed from the stored rows, never cached.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from mlsteer.evaluation.store import ResultStore
from mlsteer.languages import TIERS


@dataclass(frozen=True)
class Cell:
    accuracy: float
    stderr: float
    n: int

    def __str__(self) -> str:
        return f"{100 * self.accuracy:.1f} ± {100 * self.stderr:.1f}"


def cell(correct: int, n: int) -> Cell:
    p = correct / n
    return Cell(p, math.sqrt(p * (1 - p) / n), n)


def mean_cell(cells: list[Cell]) -> Cell | None:
    """Mean of per-language accuracies; its SE from the per-language SEs (independent samples)."""
    if not cells:
        return None
    accuracy = sum(c.accuracy for c in cells) / len(cells)
    return Cell(accuracy, math.sqrt(sum(c.stderr**2 for c in cells)) / len(cells), sum(c.n for c in cells))


@dataclass(frozen=True)
class ResultTable:
    model: str
    task: str
    langs: list[str]
    methods: list[str]
    cells: dict[str, dict[str, Cell]]  # method -> column (language, "avg", "high"...) -> cell

    def columns(self) -> list[str]:
        extra = ["avg"] + [tier for tier, codes in TIERS.items() if set(codes) & set(self.langs)]
        return self.langs + extra

    def delta(self, method: str, column: str) -> float | None:
        base, this = self.cells.get("basic", {}).get(column), self.cells[method].get(column)
        return None if base is None or this is None else this.accuracy - base.accuracy

    def markdown(self) -> str:
        columns = self.columns()
        lines = [f"**{self.task}** on {self.model} (accuracy %, ± binomial SE; Δ vs basic)", "",
                 "| method | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for method in self.methods:
            parts = []
            for column in columns:
                value = self.cells[method].get(column)
                delta = self.delta(method, column) if method != "basic" else None
                text = "–" if value is None else str(value)
                parts.append(text + (f" ({100 * delta:+.1f})" if delta is not None else ""))
            lines.append(f"| {method} | " + " | ".join(parts) + " |")
        return "\n".join(lines)


def build_tables(store: ResultStore) -> list[ResultTable]:
    """One table per (model, task) in the store."""
    counts: dict[tuple[str, str], dict[str, dict[str, list[int]]]] = defaultdict(lambda: defaultdict(dict))
    for row in store.rows():
        tally = counts[(row.model, row.task)][row.method].setdefault(row.lang, [0, 0])
        tally[0] += int(row.correct)
        tally[1] += 1
    tables = []
    for (model, task), by_method in sorted(counts.items()):
        langs = sorted({lang for per_lang in by_method.values() for lang in per_lang})
        methods = sorted(by_method, key=lambda m: (m != "basic", m))
        cells: dict[str, dict[str, Cell]] = {}
        for method in methods:
            row = {lang: cell(*by_method[method][lang]) for lang in langs if lang in by_method[method]}
            row["avg"] = mean_cell(list(row.values()))
            for tier, codes in TIERS.items():
                tier_cells = [row[c] for c in codes if c in row]
                if tier_cells:
                    row[tier] = mean_cell(tier_cells)
            cells[method] = {k: v for k, v in row.items() if v is not None}
        tables.append(ResultTable(model, task, langs, methods, cells))
    return tables


def export_tables(tables: list[ResultTable], run_dir: str | Path) -> list[Path]:
    """``table.md``, ``table.csv`` and ``table.json`` in ``run_dir``."""
    run_dir = Path(run_dir)
    md = run_dir / "table.md"
    md.write_text("\n\n".join(t.markdown() for t in tables) + "\n", encoding="utf-8")
    rows = []
    for t in tables:
        for method in t.methods:
            for column, value in t.cells[method].items():
                rows.append({"model": t.model, "task": t.task, "method": method, "column": column,
                             **asdict(value), "delta_vs_basic": t.delta(method, column)})
    with (run_dir / "table.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["model"])
        writer.writeheader()
        writer.writerows(rows)
    (run_dir / "table.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return [md, run_dir / "table.csv", run_dir / "table.json"]
