"""The one-screen summary of a run: each task's languages x methods, steered methods as a paired
difference from ``basic`` on the same items, and the layer and alpha each vector was chosen at."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlsteer.analysis.paired import Comparison, align, compare, gap_recovered
from mlsteer.analysis.sweep import layer_name
from mlsteer.evaluation.store import ResultStore
from mlsteer.pipeline.sweep import VectorChoice


def verdict(c: Comparison) -> str:
    """`` ▲`` / `` ▼`` when the paired difference is beyond two standard errors, else nothing."""
    if c.delta_stderr > 0 and abs(c.delta) > 2 * c.delta_stderr:
        return " ▲" if c.delta > 0 else " ▼"
    return ""


def short_name(method: str) -> str:
    """``steered:mse@1:negated`` -> ``mse@1 negated``; the oracle translate-test is labelled as
    the ceiling it is (human English); other baselines unchanged."""
    if method.startswith("steered:"):
        return method.removeprefix("steered:").replace(":", " ")
    if method == CEILING:
        return "translate_test (oracle English: ceiling)"
    return method


CEILING = "translate_test"  # oracle translate-test: the item's human English, what steering aims at


def is_control(method: str) -> bool:
    return method.endswith((":negated", ":random"))


def plan_from_store(
    store: ResultStore, model: str
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(task -> languages, task -> methods) of what a store holds, ``basic`` first."""
    plan: dict[str, set[str]] = {}
    methods: dict[str, set[str]] = {}
    for task, lang, method in store.connection.execute(
        "SELECT DISTINCT task, lang, method FROM results WHERE model=?", (model,)
    ):
        plan.setdefault(task, set()).add(lang)
        methods.setdefault(task, set()).add(method)
    order = lambda m: (m != "basic", not m.startswith(("fewshot", "translate", "xlt", "self")), m)  # noqa: E731
    return {t: sorted(v) for t, v in plan.items()}, {
        t: sorted(v, key=order) for t, v in methods.items()
    }


def summary_markdown(
    store: ResultStore,
    model: str,
    plan: Mapping[str, Sequence[str]],
    methods: Mapping[str, Sequence[str]],
    choices: Mapping[str, Mapping[str, VectorChoice]],
    sweep_task: str,
    shared: Mapping[str, set[str]] | None = None,
) -> str:
    """``plan``: task -> languages; ``methods``: task -> method names as stored; ``choices``:
    learner -> language -> the chosen (file, layer, alpha); ``shared``: learner -> languages that
    got the choice shared across languages (the sweep task lacks them)."""
    parts = []
    for task, langs in plan.items():
        names = list(methods[task])
        cells: dict[str, dict[str, str]] = {name: {} for name in names}
        deltas: dict[str, list[float]] = {name: [] for name in names}
        recovered: dict[str, dict[str, str]] = {
            n: {} for n in names if n.startswith("steered:") and not is_control(n)
        }
        shown = []
        for lang in langs:
            runs = {name: store.correctness(model, task, lang, name) for name in names}
            runs = {name: items for name, items in runs.items() if items}
            if "basic" not in runs:
                continue
            # a method still running (fewer items than basic) is shown as such, not compared on a subset
            for name in [n for n in runs if not set(runs["basic"]) <= set(runs[n])]:
                cells[name][lang] = f"running ({len(runs.pop(name))} of {len(runs['basic'])})"
            shown.append(lang)
            _, aligned = align(runs)
            for name in aligned:
                if name == "basic":
                    accuracy = aligned[name].float().mean().item()
                    cells[name][lang] = f"{100 * accuracy:.1f}"
                    deltas[name].append(accuracy)
                else:
                    c = compare(aligned[name], aligned["basic"])
                    cells[name][lang] = (
                        f"{100 * c.delta:+.1f} ± {100 * c.delta_stderr:.1f}{verdict(c)}"
                    )
                    deltas[name].append(c.delta)
                    if name in recovered and CEILING in aligned:
                        recovered[name][lang] = str(
                            gap_recovered(aligned[name], aligned["basic"], aligned[CEILING])
                        )
        gap_note = (
            "; share of the ceiling's gain = Δ(steered) / Δ(oracle translate-test) ± SE"
            if any(recovered.values())
            else ""
        )
        lines = [
            f"**{task}**: basic = accuracy %; other rows = Δ vs basic ± paired SE (▲/▼ beyond 2 SE){gap_note}; n = "
            + ", ".join(
                f"{lang} {len(store.correctness(model, task, lang, 'basic'))}" for lang in shown
            ),
            "",
            "| method | " + " | ".join(shown) + " | mean |",
            "|---" * (len(shown) + 2) + "|",
        ]
        for name in names:
            mean = sum(deltas[name]) / len(deltas[name]) if deltas[name] else None
            mean_text = (
                "–"
                if mean is None
                else (f"{100 * mean:.1f}" if name == "basic" else f"{100 * mean:+.1f}")
            )
            lines.append(
                f"| {short_name(name)} | "
                + " | ".join(cells[name].get(lang, "–") for lang in shown)
                + f" | {mean_text} |"
            )
        for name, per_lang in recovered.items():
            if per_lang:
                lines.append(
                    f"| {short_name(name)}: share of the ceiling's gain | "
                    + " | ".join(per_lang.get(lang, "–") for lang in shown)
                    + " | – |"
                )
        parts.append("\n".join(lines))
    if choices:
        learners = list(choices)
        langs = sorted({lang for per in choices.values() for lang in per})
        lines = [
            f"**Chosen on {sweep_task} validation** (layer, alpha)",
            "",
            "| lang | " + " | ".join(learners) + " |",
            "|---" * (len(learners) + 1) + "|",
        ]
        for lang in langs:
            cells = [
                f"{layer_name(c.layer)}, {c.alpha:g}"
                + (" (shared)" if lang in (shared or {}).get(name, ()) else "")
                if (c := choices[name].get(lang))
                else "–"
                for name in learners
            ]
            lines.append(f"| {lang} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
