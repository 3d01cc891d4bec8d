"""The report's example generations (``RUN/examples/examples.json``, written by
:mod:`mlsteer.pipeline.examples`): per language and learner, each prompt's continuation
unsteered, steered and under the negated and random controls, side by side. A continuation that
contains the gold answer is marked."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlsteer.layout import RunLayout

CONDITIONS = ("unsteered", "steered", "negated", "random")


def load_examples(run_dir: Path) -> dict[str, Any] | None:
    """The run's example generations, or ``None`` (none written, or unreadable)."""
    try:
        from mlsteer.pipeline.examples import EXAMPLES

        record = json.loads((RunLayout(run_dir).examples / EXAMPLES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    languages = record.get("languages") if isinstance(record, dict) else None
    return record if isinstance(languages, dict) and languages else None


def examples_html(record: dict[str, Any], heading_ids: dict[str, str]) -> str:
    """One table per (language, learner): rows are prompts, columns the conditions.
    ``heading_ids`` maps each language to the id of its ``<h3>``."""
    parts = [
        f"<p>Greedy continuations of {record.get('max_new_tokens', '?')} new tokens at most, "
        "with the chosen vector (its layer and alpha, as evaluated) of the learner named above each "
        "table (<code>mlsteer run</code>: the config's first learner); the controls are "
        "the same vector negated and a random vector of the same norm (seeded as in the "
        'evaluation). <span class="hit">Marked</span>: the continuation contains the gold '
        "answer.</p>"
    ]
    for lang, entry in record["languages"].items():
        parts.append(
            f'<h3 id="{heading_ids[lang]}">{html.escape(lang)} '
            f'<span class="muted">({html.escape(str(entry.get("task", "")))} test items)</span></h3>'
        )
        for learner, steered in entry.get("learners", {}).items():
            layers = ", ".join(f"L{layer}" for layer in steered.get("layers", []))
            parts.append(f"<h4>{html.escape(learner)} at {html.escape(layers)}</h4>")
            parts.append(_table(entry, {**steered, "unsteered": entry.get("unsteered", [])}))
        if not entry.get("learners"):
            parts.append("<p>No steered rows (no chosen vector, or the step was cut short).</p>")
            parts.append(_table(entry, {"unsteered": entry.get("unsteered", [])}))
    return "\n".join(parts)


def _table(entry: dict[str, Any], texts: Mapping[str, Any]) -> str:
    """One row per prompt; ``texts`` holds a list of continuations per condition (and the
    vector's settings under other keys, which are skipped)."""
    conditions = [c for c in CONDITIONS if c in texts]
    head = "".join(f"<th>{c}</th>" for c in ["prompt (gold)", *conditions])
    rows = []
    for i, prompt in enumerate(entry.get("prompts", [])):
        gold = str(prompt.get("gold", ""))
        cells = [
            f"<td>{html.escape(prompt.get('text', ''))}"
            f' <span class="gold">({html.escape(gold)})</span></td>'
        ]
        for condition in conditions:
            text = texts[condition][i] if i < len(texts[condition]) else ""
            hit = bool(gold.strip()) and gold.strip().casefold() in text.casefold()
            attribute = ' class="hit"' if hit else ""
            cells.append(f"<td{attribute}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<div class="table"><table class="generations"><thead><tr>'
        + head
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )
