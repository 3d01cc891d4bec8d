"""Paper-style tables from the store: methods x languages, averages, tiers, paired deltas.

Accuracy per (method, language) with its binomial standard error sqrt(p(1-p)/n); the average
over languages and over each resource tier (:data:`mlsteer.languages.TIERS`), each over the
languages the method has, with the standard error of a mean of independent accuracies.
Each method's difference from ``basic`` is *paired* and fair: per language on the items both
scored (:func:`mlsteer.analysis.paired.compare`), and an aggregate's difference is the mean of
those per-language differences over the languages both have, never one method's average over
all languages against another's over fewer. Everything is recomputed from the stored rows.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsteer.evaluation.store import ResultStore
from mlsteer.io import write_text_atomic
from mlsteer.languages import TIERS

BASELINE = "basic"
AVERAGE = "avg"


@dataclass(frozen=True)
class Cell:
    """An accuracy (one language, or the mean over ``langs``) and its standard error."""

    accuracy: float
    stderr: float
    n: int
    langs: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{100 * self.accuracy:.1f} ± {_points(self.stderr)}"


@dataclass(frozen=True)
class Delta:
    """A method's paired difference from the baseline on the ``n`` items of ``langs`` both scored."""

    delta: float
    stderr: float  # paired; an aggregate's from its independent per-language differences
    n: int
    langs: tuple[str, ...]

    def __str__(self) -> str:
        return f"{100 * self.delta:+.1f} ± {_points(self.stderr)}"


def _points(value: float) -> str:
    return f"{100 * value:.1f}" if math.isfinite(value) else "n/a"


def cell(correct: int, n: int) -> Cell:
    p = correct / n
    return Cell(p, math.sqrt(p * (1 - p) / n), n)


def mean_cell(cells: list[Cell], langs: tuple[str, ...] = ()) -> Cell | None:
    """Mean of per-language accuracies; its SE from the per-language SEs (independent samples)."""
    if not cells:
        return None
    accuracy = sum(c.accuracy for c in cells) / len(cells)
    return Cell(
        accuracy,
        math.sqrt(sum(c.stderr**2 for c in cells)) / len(cells),
        sum(c.n for c in cells),
        langs,
    )


def mean_delta(deltas: list[Delta]) -> Delta | None:
    """Mean of per-language paired differences (languages are independent samples)."""
    if not deltas:
        return None
    k = len(deltas)
    return Delta(
        sum(d.delta for d in deltas) / k,
        math.sqrt(sum(d.stderr**2 for d in deltas)) / k,
        sum(d.n for d in deltas),
        tuple(lang for d in deltas for lang in d.langs),
    )


def paired_delta(items: dict[str, bool], baseline: dict[str, bool], lang: str) -> Delta | None:
    """The paired difference on the items both scored (``None`` when they share none)."""
    from mlsteer.analysis.paired import align, compare

    if not set(items) & set(baseline):
        return None
    _, aligned = align({"method": items, "baseline": baseline})
    result = compare(aligned["method"], aligned["baseline"])
    return Delta(result.delta, result.delta_stderr, result.n, (lang,))


def label(method: str) -> str:
    """The row label: the method's stored name, the oracle translate-test marked as the ceiling."""
    from mlsteer.experiment.summary import CEILING, short_name

    return short_name(method) if method == CEILING else method


@dataclass(frozen=True)
class ResultTable:
    model: str
    task: str
    langs: list[str]
    methods: list[str]
    cells: dict[str, dict[str, Cell]]  # method -> column (language, "avg", "high"...) -> cell
    # method -> column -> paired Δ vs basic
    deltas: dict[str, dict[str, Delta]] = field(default_factory=dict)
    # language -> items the baseline scored
    baseline_n: dict[str, int] = field(default_factory=dict)

    def aggregates(self) -> list[str]:
        return [AVERAGE] + [tier for tier, codes in TIERS.items() if set(codes) & set(self.langs)]

    def columns(self) -> list[str]:
        return self.langs + self.aggregates()

    def group(self, column: str) -> tuple[str, ...]:
        """The table's languages a column stands for."""
        if column == AVERAGE:
            return tuple(self.langs)
        if column in TIERS:
            return tuple(lang for lang in self.langs if lang in TIERS[column])
        return (column,)

    def delta(self, method: str, column: str) -> float | None:
        found = self.deltas.get(method, {}).get(column)
        return None if found is None else found.delta

    def markdown(self) -> str:
        columns = self.columns()
        lines = [
            f"**{self.task}** on {self.model} (accuracy %, ± binomial SE; (Δ vs {BASELINE} ± paired SE, "
            "on the languages and items both have))",
            "",
            "| method | " + " | ".join(columns) + " |",
            "|---" * (len(columns) + 1) + "|",
        ]
        notes = []
        for method in self.methods:
            parts = []
            for column in columns:
                value, delta = (
                    self.cells[method].get(column),
                    self.deltas.get(method, {}).get(column),
                )
                text = "–" if value is None else str(value)
                if delta is not None:
                    text += f" ({delta})"
                    if column in self.langs and delta.n < self.baseline_n.get(column, 0):
                        text += f" [{delta.n} of {self.baseline_n[column]} items]"
                if (
                    value is not None
                    and column not in self.langs
                    and value.langs != self.group(column)
                ):
                    text += " †"
                parts.append(text)
            lines.append(f"| {label(method)} | " + " | ".join(parts) + " |")
            have = [lang for lang in self.langs if lang in self.cells[method]]
            if len(have) < len(self.langs):
                notes.append(f"{label(method)}: {', '.join(have)}")
        if notes:
            lines += [
                "",
                "† averaged over the languages the method has ("
                + "; ".join(notes)
                + "); its Δ compares those languages only",
            ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Languages and aggregates kept apart; NaN written as ``null``."""

        def entry(method: str, column: str) -> dict[str, Any]:
            value, delta = self.cells[method].get(column), self.deltas.get(method, {}).get(column)
            out: dict[str, Any] = {}
            if value is not None:
                out.update(accuracy=value.accuracy, stderr=_finite(value.stderr), n=value.n)
                if column not in self.langs:
                    out["langs"] = list(value.langs)
            if delta is not None:
                out.update(delta=delta.delta, delta_stderr=_finite(delta.stderr), delta_n=delta.n)
                if column not in self.langs:
                    out["delta_langs"] = list(delta.langs)
            return out

        return {
            "model": self.model,
            "task": self.task,
            "baseline": BASELINE,
            "langs": self.langs,
            "aggregates": {column: list(self.group(column)) for column in self.aggregates()},
            "methods": [
                {
                    "method": method,
                    "label": label(method),
                    "langs": {
                        lang: entry(method, lang)
                        for lang in self.langs
                        if lang in self.cells[method]
                    },
                    "aggregates": {
                        c: entry(method, c) for c in self.aggregates() if c in self.cells[method]
                    },
                }
                for method in self.methods
            ],
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def build_tables(store: ResultStore) -> list[ResultTable]:
    """One table per (model, task) in the store."""
    items: dict[tuple[str, str], dict[str, dict[str, dict[str, bool]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    query = "SELECT model, task, lang, method, item_id, correct FROM results"
    for model, task, lang, method, item, correct in store.connection.execute(query):
        items[(model, task)][method].setdefault(lang, {})[item] = bool(correct)
    return [_table(model, task, by_method) for (model, task), by_method in sorted(items.items())]


def _table(model: str, task: str, by_method: dict[str, dict[str, dict[str, bool]]]) -> ResultTable:
    langs = sorted({lang for per_lang in by_method.values() for lang in per_lang})
    methods = sorted(by_method, key=lambda m: (m != BASELINE, m))
    table = ResultTable(
        model,
        task,
        langs,
        methods,
        {},
        {},
        {lang: len(found) for lang, found in by_method.get(BASELINE, {}).items()},
    )
    baseline = by_method.get(BASELINE, {})
    for method in methods:
        per_lang = by_method[method]
        row = {
            lang: cell(sum(found.values()), len(found)) for lang, found in per_lang.items() if found
        }
        deltas: dict[str, Delta] = {}
        if method != BASELINE:
            for lang in row:
                if (
                    lang in baseline
                    and (delta := paired_delta(per_lang[lang], baseline[lang], lang)) is not None
                ):
                    deltas[lang] = delta
        for column in table.aggregates():
            group = [lang for lang in table.group(column) if lang in row]
            if (value := mean_cell([row[lang] for lang in group], tuple(group))) is not None:
                row[column] = value
            if (
                delta := mean_delta([deltas[lang] for lang in group if lang in deltas])
            ) is not None:
                deltas[column] = delta
        table.cells[method] = row
        if deltas:
            table.deltas[method] = deltas
    return table


def export_tables(tables: list[ResultTable], run_dir: str | Path) -> list[Path]:
    """``table.md``, ``table.csv`` (a row per method, a column per language and per aggregate,
    with its SE, n and paired Δ beside it) and ``table.json`` in ``run_dir``."""
    run_dir = Path(run_dir)
    md = run_dir / "table.md"
    write_text_atomic(md, "\n\n".join(t.markdown() for t in tables) + "\n")
    langs = list(dict.fromkeys(lang for t in tables for lang in t.langs))
    aggregates = list(dict.fromkeys(column for t in tables for column in t.aggregates()))
    header = (
        ["model", "task", "method", "label"]
        + [key for c in langs for key in _csv_keys(c, True)]
        + [key for c in aggregates for key in _csv_keys(c, False)]
    )
    rows = [_csv_row(t, method) for t in tables for method in t.methods]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=header)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(run_dir / "table.csv", text.getvalue())
    write_text_atomic(run_dir / "table.json", json.dumps([t.to_dict() for t in tables], indent=1))
    return [md, run_dir / "table.csv", run_dir / "table.json"]


def _csv_keys(column: str, is_lang: bool) -> list[str]:
    """A column's CSV fields: accuracy (the column's own name), SE, n, paired Δ, its SE and n;
    an aggregate also names the languages each was averaged over."""
    keys = [
        column,
        f"{column}_se",
        f"{column}_n",
        f"{column}_delta",
        f"{column}_delta_se",
        f"{column}_delta_n",
    ]
    return (
        keys if is_lang else keys[:3] + [f"{column}_langs"] + keys[3:] + [f"{column}_delta_langs"]
    )


def _csv_row(table: ResultTable, method: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": table.model,
        "task": table.task,
        "method": method,
        "label": label(method),
    }
    for column in table.columns():
        value, delta = table.cells[method].get(column), table.deltas.get(method, {}).get(column)
        fields = [None] * 6 if value is None else [value.accuracy, _finite(value.stderr), value.n]
        fields = fields[:3] + (
            [None] * 3 if delta is None else [delta.delta, _finite(delta.stderr), delta.n]
        )
        if column not in table.langs:
            fields = (
                fields[:3]
                + [" ".join(value.langs) if value else None]
                + fields[3:]
                + [" ".join(delta.langs) if delta else None]
            )
        row.update(zip(_csv_keys(column, column in table.langs), fields))
    return row
