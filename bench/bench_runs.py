"""Wall time of whole runs before and after a change (issue 11): `make demo` and the evaluation
stage of `make results`, the old code (a git worktree at ``--old``) and this commit (another
worktree, so edits made while it runs stay out), one after the other on the same machine, each in a fresh run folder, and the two runs' predictions compared.

- ``demo``: ``mlsteer run demo`` (sweep, learners, evaluation, analyses, report), with the
  run's own per-stage seconds.
- ``results-eval``: ``mlsteer eval`` on a seeded slice of the results run's evaluation (the
  paper config's tasks, basic and 3-shot prompts). The full ``make results`` takes hours on 2
  cores, so only the stage issue 11 changed is timed, on a slice small enough to time twice.

    HF_HUB_OFFLINE=1 python bench/bench_runs.py --data-dir ../shared/data   # ~30 min on 2 cores
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from benchkit import cpu_model, default_data_dir, markdown_table

ROOT = Path(__file__).resolve().parents[1]
OLD = "11fe0c8"  # main before issue 11 (padded scoring, one batch list per language and method)
# (task, languages, items per language): the results run's tasks at about a tenth of its limits
RESULTS_SLICE = (
    ("xcopa", "sw,zh", 50),
    ("xnli", "sw", 30),
    ("m_mmlu", "es", 20),
    ("m3exam", "sw", 8),
    ("mgsm", "sw", 4),
)
METHODS = ("--method", "basic", "--method", "fewshot:3")


def worktree(commit: str) -> Path:
    """A checkout of ``commit`` beside the system temp folder (made once, reused)."""
    path = Path(tempfile.gettempdir()) / f"mlsteer-{commit}"
    if not path.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit],
            check=True,
            capture_output=True,
        )
    return path


def run_timed(tree: Path, args: list[str]) -> tuple[float, str]:
    """Seconds and stdout of ``python -m mlsteer ARGS`` with ``tree``'s package first on the path."""
    # as `make demo` runs: no $MLSTEER_DATA (the demo would switch to its [with_data] table); the
    # results slice passes --data-dir itself
    env = {k: v for k, v in os.environ.items() if k != "MLSTEER_DATA"} | {
        "PYTHONPATH": str(tree),
        "HF_HUB_OFFLINE": "1",
    }
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mlsteer", *args], cwd=tree, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"mlsteer {' '.join(args)} failed in {tree}:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def predictions(database: Path) -> dict[tuple, str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT task, lang, method, item_id, prediction FROM results"
        ).fetchall()
    return {tuple(row[:4]): row[4] for row in rows}


def agreement(a: dict[tuple, str], b: dict[tuple, str]) -> str:
    shared = a.keys() & b.keys()
    same = sum(a[key] == b[key] for key in shared)
    return f"{same}/{len(shared)}" + (
        "" if len(shared) == len(a) == len(b) else f" (rows {len(a)} vs {len(b)})"
    )


def stage_seconds(stdout: str) -> str:
    """The run's own 'report: ... (N min; sweep 12 s, ...)' line, stages only."""
    match = re.search(r"\(\s*[\d.]+ min; ([^)]*)\)", stdout.replace("\n", " "))
    return match.group(1) if match else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--old", default=OLD, help="the commit to compare with (default: main before issue 11)"
    )
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--only", choices=("demo", "results-eval"), default=None)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "bench_runs.json"))
    args = parser.parse_args()
    new = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    trees = {
        "before": worktree(args.old),
        "after": worktree(new),
    }  # a checkout: edits made meanwhile stay out
    scratch = Path(tempfile.mkdtemp(prefix="bench_runs-"))
    results: dict = {
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "old": args.old,
        "new": new,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"),
        "rows": [],
    }
    workloads: list[tuple[str, list[list[str]], str]] = []
    if args.only in (None, "demo"):
        workloads.append(
            ("mlsteer run demo", [["run", "demo", "--out", "{out}"]], "eval/results.sqlite")
        )
    if args.only in (None, "results-eval"):
        if not args.data_dir:
            raise SystemExit(
                "results-eval needs --data-dir or $MLSTEER_DATA (the shared benchmark folder)"
            )
        commands = [
            [
                "eval",
                "--task",
                task,
                "--langs",
                langs,
                *METHODS,
                "--limit",
                str(n),
                "--data-dir",
                args.data_dir,
                "--out",
                "{out}",
            ]
            for task, langs, n in RESULTS_SLICE
        ]
        workloads.append(("results run, evaluation slice", commands, "results.sqlite"))
    for name, commands, database in workloads:
        row: dict = {"workload": name}
        for label, tree in trees.items():
            out = scratch / f"{label}-{len(results['rows'])}"
            seconds, stages = 0.0, []
            for command in commands:
                took, stdout = run_timed(
                    tree, [part.replace("{out}", str(out)) for part in command]
                )
                seconds += took
                stages.append(stage_seconds(stdout))
                print(f"{name} {label}: {' '.join(command[:3])} {took:.0f} s", flush=True)
            row[label] = {"seconds": round(seconds, 1), "stages": "; ".join(s for s in stages if s)}
            row[f"{label}_predictions"] = predictions(out / database)
        row["speedup"] = round(row["before"]["seconds"] / row["after"]["seconds"], 2)
        row["same_predictions"] = agreement(
            row.pop("before_predictions"), row.pop("after_predictions")
        )
        results["rows"].append(row)
    print(
        f"\n{results['cpu']}, {results['threads']} threads, torch {results['torch']}: {args.old} -> {results['new']}"
    )
    print(
        markdown_table(
            ("workload", "before", "after", "speedup", "same predictions"),
            [
                (
                    r["workload"],
                    f"{r['before']['seconds']:.0f} s",
                    f"{r['after']['seconds']:.0f} s",
                    f"{r['speedup']:.2f}×",
                    r["same_predictions"],
                )
                for r in results["rows"]
            ],
        )
    )
    for r in results["rows"]:
        print(
            f"{r['workload']} stages: before {r['before']['stages']} | after {r['after']['stages']}"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
