"""The one-screen summary of a run: each task's languages x methods, steered methods as a paired
difference from ``basic`` on the same items, and the layer and alpha each vector was chosen at."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlsteer.analysis.paired import align, compare
from mlsteer.evaluation.store import ResultStore
from mlsteer.pipeline.sweep import VectorChoice


def summary_markdown(
    store: ResultStore, model: str, plan: Mapping[str, Sequence[str]], methods: Mapping[str, Sequence[str]],
    choices: Mapping[str, Mapping[str, VectorChoice]], sweep_task: str, shared: Mapping[str, set[str]] | None = None,
) -> str:
    """``plan``: task -> languages; ``methods``: task -> method names as stored; ``choices``:
    learner -> language -> the chosen (file, layer, alpha); ``shared``: learner -> languages that
    got the choice shared across languages (the sweep task lacks them)."""
    parts = []
    for task, langs in plan.items():
        names = list(methods[task])
        lines = [f"**{task}** (accuracy %; others: Δ vs basic ± paired SE)", "",
                 "| lang | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for lang in langs:
            runs = {name: store.correctness(model, task, lang, name) for name in names}
            runs = {name: items for name, items in runs.items() if items}
            if "basic" not in runs:
                continue
            _, aligned = align(runs)
            cells = []
            for name in names:
                if name not in aligned:
                    cells.append("–")
                elif name == "basic":
                    cells.append(f"{100 * aligned[name].float().mean().item():.1f}")
                else:
                    c = compare(aligned[name], aligned["basic"])
                    cells.append(f"{100 * c.accuracy:.1f} ({100 * c.delta:+.1f} ± {100 * c.delta_stderr:.1f})")
            lines.append(f"| {lang} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    if choices:
        learners = list(choices)
        langs = sorted({lang for per in choices.values() for lang in per})
        lines = [f"**Chosen on {sweep_task} validation** (layer, alpha)", "",
                 "| lang | " + " | ".join(learners) + " |", "|---" * (len(learners) + 1) + "|"]
        for lang in langs:
            cells = [f"L{c.layer}, {c.alpha:g}" + (" (shared)" if lang in (shared or {}).get(name, ()) else "")
                     if (c := choices[name].get(lang)) else "–" for name in learners]
            lines.append(f"| {lang} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
