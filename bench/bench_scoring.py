"""Scoring benchmark (issue 4): the batched multiple-choice scorer vs one forward per option.

On the embedded Gemma 3 270M and 100 XCOPA items (one language, seeded sample, 200 options):

1. throughput (items/s) of ``score_choices`` (all options of many items in one padded batch,
   unembedding only at option positions) vs ``score_choices_loop`` (one full forward per
   option), with the same predictions (target: >= 1.5x);
2. steered / unsteered time of the batched scorer, a random vector at layer 6 (target <= 1.05).

Timing as in bench_foundation.py (whose helpers it imports): warm-up, interleaved repeats,
medians, bootstrap intervals, and repeats taken while other processes were busy set aside.

    HF_HUB_OFFLINE=1 python bench/bench_scoring.py --data-dir ../shared/data   # ~3 min on 2 cores
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import torch

from bench_foundation import (
    Ratio,
    Waiter,
    add_run_args,
    cpu_model,
    default_data_dir,
    interleaved,
    median,
    quiet_repeats,
    timed,
    update_benchmarks_md,
)
from mlsteer.evaluation.scoring import score_choices, score_choices_loop
from mlsteer.evaluation.tasks import get_task
from mlsteer.models import load_model
from mlsteer.steering import SteeringVector, steer

SECTION = "## Multiple-choice scoring (issue 4)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=default_data_dir(), help="folder holding xcopa/")
    parser.add_argument("--lang", default="sw")
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32, help="option sequences per forward")
    add_run_args(parser, "scoring", max_seconds=600.0)
    args = parser.parse_args()
    started = time.time()
    model = load_model("gemma-3-270m")
    task = get_task("xcopa")
    queries = [task.render(e) for e in task.load(args.lang, data_dir=args.data_dir, limit=args.items, seed=0)]
    vector = SteeringVector(torch.randn(model.d_model, generator=torch.Generator().manual_seed(0)), 6, "random", model.fingerprint)
    vector = SteeringVector(vector.vector * 0.1 * 3800 / vector.norm, 6, "random", model.fingerprint)

    batched = score_choices(model, queries, batch_size=args.batch_size)
    looped = score_choices_loop(model, queries)
    same = sum(a.prediction == b.prediction for a, b in zip(batched, looped))
    max_diff = max(abs(x - y) for a, b in zip(batched, looped) for x, y in zip(a.logprobs, b.logprobs))
    print(f"same predictions: {same}/{len(queries)}; max |Δ log-likelihood| {max_diff:.2e}", file=sys.stderr)

    def run_steered() -> float:
        with steer(model, vector):
            start = time.perf_counter()
            score_choices(model, queries, batch_size=args.batch_size)
            return time.perf_counter() - start

    waiter = Waiter(budget=args.max_wait, threshold=args.quiet_below)
    samples = interleaved(
        {
            "loop": timed(lambda: score_choices_loop(model, queries)),
            "batched": timed(lambda: score_choices(model, queries, batch_size=args.batch_size)),
            "steered": run_steered,
        },
        repeats=args.repeats, warmup=1, desc="scoring", waiter=waiter, seconds=args.max_seconds,
    )
    quiet = quiet_repeats(samples, args.quiet_below)
    used = quiet if len(quiet) >= 3 else list(range(len(samples["loop"])))
    speedup = Ratio.of(samples, "loop", "batched", used, seed=0)
    steered = Ratio.of(samples, "steered", "batched", used, seed=1)
    per_item = {k: median([samples[k][i].seconds for i in used]) / len(queries) for k in samples}
    rows = [
        f"| batched / loop throughput | {speedup.text(2, '×')} | ≥ 1.5× | {'pass' if speedup.value >= 1.5 else 'FAIL'} |",
        f"| steered / unsteered time (batched) | {steered.text(3)} | ≤ 1.05 | {'pass' if steered.value <= 1.05 else 'FAIL'} |",
    ]
    section = "\n".join([
        SECTION, "",
        f"`python bench/bench_scoring.py --data-dir DATA --lang {args.lang}` (seed 0), "
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {time.time() - started:.0f} s.",
        "",
        f"- Machine: {cpu_model()}, 2 CPU cores, torch {torch.__version__} ({torch.get_num_threads()} threads).",
        f"- Data: {len(queries)} XCOPA `{args.lang}` test items (seeded sample), {2 * len(queries)} options; "
        f"batched scorer: {args.batch_size} option sequences per forward.",
        f"- Same results: {same}/{len(queries)} identical predictions, max |Δ summed log-likelihood| {max_diff:.1e}.",
        f"- Repeats used: {len(used)} ({'quiet' if used is quiet else 'contended: all repeats'}) of {len(samples['loop'])}.",
        f"- Throughput: loop {1 / per_item['loop']:.1f} items/s, batched {1 / per_item['batched']:.1f} items/s, "
        f"steered batched {1 / per_item['steered']:.1f} items/s.",
        "",
        "| Benchmark | Measured (95% CI) | Target | Result |", "|---|---|---|---|", *rows, "",
        "Why batched is faster: 200 one-sequence forwards become a few padded batches, and the "
        "262k-vocabulary unembedding runs only at the positions that predict option tokens "
        "(a few per option) instead of at every position.", "",
    ])
    print(section)
    if args.out:
        update_benchmarks_md(Path(args.out), section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
