"""Foundation benchmark (issue 2): steering overhead and the cost of caching activations.

A benchmark, not a test: it times the embedded Gemma 3 270M on this machine and writes the
numbers into BENCHMARKS.md under "## Foundation (issue 2)". Three measurements, each on the
same batch of 8 texts of ~30 tokens:

1. steered / unsteered forward time, a random SteeringVector at layer 6 (target <= 1.03);
2. ``cache_activations`` up to layer 6 / a full forward with logits (target <= 0.35), next to
   the ratio of FLOPs predicted from the model config;
3. ``run_with_cache`` (every hook) / ``cache_activations`` (target >= 4x).

Beside each, diagnostic variants: the steered forward including entering ``steer``, a bare
``bridge(..., stop_at_layer=7)``, and ``run_with_cache(..., stop_at_layer=7)``.

Timing: torch.inference_mode, warm-up calls, many repeats, the variants of one benchmark
interleaved (their order alternating every repeat, so drift and a neighbour's load hit all of
them alike), garbage collection kept out of the timed region, medians reported. A bootstrap
over repeats gives a 95% interval for each ratio. Threads are left at torch's default.
Each call also records how much CPU other processes took meanwhile (/proc/stat); verdicts use
the repeats where that stayed under ``--quiet-below`` cores, and the script waits (up to
``--max-wait`` s in all) for quiet before each repeat. Both numbers are written.

Usage:
    HF_HUB_OFFLINE=1 python bench/bench_foundation.py               # ~2.5 min on 2 cores
    python bench/bench_foundation.py --repeats 10 --out ''          # quick, print only
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from benchkit import (
    Ratio,
    Sample,
    Waiter,
    add_run_args,
    cpu_model,
    fmt_ms,
    interleaved,
    markdown_table,
    median,
    package_version,
    predicted_flops,
    quiet_repeats,
    timed,
    update_benchmarks_md,
)

from mlsteer.activations import cache_activations, encode_batch
from mlsteer.models import load_model
from mlsteer.steering.hooks import steer
from mlsteer.steering.vector import SteeringVector

SECTION = "## Foundation (issue 2)"
LAYER = 6
TEXTS = [
    (
        "The old lighthouse keeper climbed the narrow spiral stairs every evening at dusk, "
        "lighting the lamp that guided fishing boats safely past the jagged rocks below."
    ),
    (
        "Researchers at the small coastal laboratory measured how quickly the seaweed grew in "
        "warmer water, and they were surprised by how much the results varied."
    ),
    (
        "After the storm passed, the villagers gathered in the square to share bread, repair the "
        "damaged roofs, and tell stories about the floods of their childhood."
    ),
    (
        "She opened the dusty notebook her grandfather had left behind and found pages of careful "
        "sketches showing birds, bridges, and machines he never built."
    ),
    (
        "The train to the mountains left at seven in the morning, so we packed sandwiches, warm "
        "coats, and a map the night before to avoid any rush."
    ),
    (
        "In the quiet library, a student read about ancient trade routes that carried silk, "
        "spices, and new ideas between distant cities across deserts and seas."
    ),
    (
        "The chef tasted the soup once more, added a pinch of salt and a little lemon juice, then "
        "smiled because it finally tasted like her mother's recipe."
    ),
    (
        "When the orchestra began the final movement, the audience fell silent, and even the "
        "children in the front row leaned forward to hear every note clearly."
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeats", type=int, default=20, help="timed calls per variant (default 20)"
    )
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed calls per variant first (default 3)"
    )
    add_run_args(parser, "Foundation", max_seconds=240.0)
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    started = time.time()
    load_before = os.getloadavg()
    waiter = Waiter(budget=args.max_wait, threshold=args.quiet_below)

    print("loading gemma-3-270m ...", file=sys.stderr)
    model = load_model("gemma-3-270m")
    bridge = model.bridge
    batch = encode_batch(model, TEXTS)
    ids, mask = batch.input_ids, batch.attention_mask
    n_batch, n_pos = ids.shape
    n_tokens = int(mask.sum())

    generator = torch.Generator().manual_seed(args.seed)
    direction = torch.randn(model.d_model, generator=generator)
    vector = SteeringVector(
        vector=direction / direction.norm(),
        layer=LAYER,
        method="random",
        model_fingerprint=model.fingerprint,
        resid_norm=1.0,
    )
    alpha = 8.0

    def forward() -> object:
        return bridge(ids, attention_mask=mask)

    def steered() -> float:
        with steer(model, vector, alpha):
            return timed(forward)()

    def steered_with_context() -> float:
        start = time.perf_counter()
        with steer(model, vector, alpha):
            forward()
        return time.perf_counter() - start

    def cache() -> object:
        return cache_activations(
            model, TEXTS, [LAYER], pooling="last", batch_size=len(TEXTS), progress=False
        )

    def bare_stop() -> object:
        return bridge(ids, attention_mask=mask, stop_at_layer=LAYER + 1)

    def full_cache() -> object:
        return bridge.run_with_cache(ids, attention_mask=mask)

    def stopped_cache() -> object:
        return bridge.run_with_cache(ids, attention_mask=mask, stop_at_layer=LAYER + 1)

    reps = args.repeats

    def share(remaining_benchmarks: int) -> float:
        """Time left for the next benchmark: an equal share of what is left of the budget."""
        return (args.max_seconds - (time.time() - started) - 5) / remaining_benchmarks

    with torch.inference_mode():
        # Sanity: the hook fires (logits change) and both caches see the same residual.
        plain_logits = forward()
        with steer(model, vector, alpha):
            steered_logits = forward()
        steer_delta = float((steered_logits - plain_logits).abs().max())
        if steer_delta == 0:
            raise SystemExit(
                "steering changed no logit: the hook did not fire, timings would be void"
            )
        pooled = cache()[:, 0]  # rows come back in the order the texts were given
        _, act_cache = full_cache()
        n_hooks = len(act_cache)
        last = mask.sum(1) - 1
        reference = act_cache[model.hook_name(LAYER)][torch.arange(n_batch), last].float()
        cache_diff = float((pooled - reference).abs().max())
        del act_cache, plain_logits, steered_logits

        print(
            f"batch {n_batch}x{n_pos} ({n_tokens} real tokens), {torch.get_num_threads()} threads, "
            f"{reps} repeats",
            file=sys.stderr,
        )
        s1 = interleaved(
            {
                "unsteered": timed(forward),
                "steered": steered,
                "steered+enter/exit": steered_with_context,
            },
            reps,
            args.warmup,
            "1/3 steering",
            waiter,
            share(3),
        )
        s2 = interleaved(
            {
                "full forward": timed(forward),
                "cache_activations": timed(cache),
                "bare stop_at_layer": timed(bare_stop),
            },
            reps,
            args.warmup,
            "2/3 cache vs forward",
            waiter,
            share(2),
        )
        s3 = interleaved(
            {
                "run_with_cache": timed(full_cache),
                "cache_activations": timed(cache),
                "run_with_cache stop_at_layer": timed(stopped_cache),
            },
            reps,
            args.warmup,
            "3/3 cache vs run_with_cache",
            waiter,
            share(1),
        )

    flops = predicted_flops(bridge.original_model.config, n_pos, LAYER)
    load_after = os.getloadavg()
    elapsed = time.time() - started
    threshold = args.quiet_below
    # Verdicts use the quiet repeats when there are enough of them (a third of those done, at
    # least 3); else all, marked contended.

    def done(samples: dict[str, list[Sample]]) -> list[int]:
        return list(range(len(next(iter(samples.values())))))

    def judged(samples: dict[str, list[Sample]], num: str, den: str) -> tuple[Ratio, Ratio, str]:
        quiet = quiet_repeats(samples, threshold)
        every = Ratio.of(samples, num, den, done(samples), args.seed)
        if len(quiet) >= max(3, every.n // 3):
            return Ratio.of(samples, num, den, quiet, args.seed), every, f"quiet, n={len(quiet)}"
        return every, every, f"all, n={every.n}, *contended*"

    r1, r1_all, basis1 = judged(s1, "steered", "unsteered")
    r2, r2_all, basis2 = judged(s2, "cache_activations", "full forward")
    r3, r3_all, basis3 = judged(s3, "run_with_cache", "cache_activations")
    q1 = quiet_repeats(s1, threshold) or done(s1)
    q2 = quiet_repeats(s2, threshold) or done(s2)
    q3 = quiet_repeats(s3, threshold) or done(s3)
    r1_ctx = Ratio.of(s1, "steered+enter/exit", "unsteered", q1, args.seed)
    r1_min = min(s1["steered"][i].seconds for i in q1) / min(s1["unsteered"][i].seconds for i in q1)
    r2_bare = Ratio.of(s2, "bare stop_at_layer", "full forward", q2, args.seed)
    r3_stop = Ratio.of(s3, "run_with_cache stop_at_layer", "cache_activations", q3, args.seed)

    def verdict(ok: bool, basis: str) -> str:
        result = "pass" if ok else "**FAIL**"
        return result + " (contended: not meaningful)" if "contended" in basis else result

    rows = [
        (
            f"1. Steered / unsteered forward, layer {LAYER}",
            f"{r1.text()} [{basis1}]",
            r1_all.text(),
            "≤ 1.03",
            verdict(r1.value <= 1.03, basis1),
        ),
        (
            f"2. `cache_activations` (layer {LAYER}) / full forward with logits",
            f"{r2.text()} [{basis2}]; FLOP prediction {flops.ratio:.3f}",
            r2_all.text(),
            "≤ 0.35",
            verdict(r2.value <= 0.35, basis2),
        ),
        (
            f"3. `run_with_cache` (all {n_hooks} hooks) / `cache_activations`",
            f"{r3.text(2, '×')} [{basis3}]",
            r3_all.text(2, "×"),
            "≥ 4×",
            verdict(r3.value >= 4.0, basis3),
        ),
    ]
    summary = markdown_table(
        (
            "Benchmark",
            "Measured: ratio of medians (95% CI) [repeats]",
            "All repeats",
            "Target",
            "Result",
        ),
        rows,
    )
    timing_rows = []
    for label, samples, key in (
        ("1. unsteered forward", s1, "unsteered"),
        ("1. steered forward (hook attached; forward only)", s1, "steered"),
        ("1. steered, including `with steer(...)` enter/exit", s1, "steered+enter/exit"),
        ("2. full forward with logits", s2, "full forward"),
        (f"2. `cache_activations` (tokenise, blocks 0–{LAYER}, pool)", s2, "cache_activations"),
        (f"2. bare `bridge(ids, stop_at_layer={LAYER + 1})`", s2, "bare stop_at_layer"),
        ("3. `run_with_cache`, every hook", s3, "run_with_cache"),
        ("3. `cache_activations`", s3, "cache_activations"),
        (
            f"3. `run_with_cache(..., stop_at_layer={LAYER + 1})`, every hook of blocks 0–{LAYER}",
            s3,
            "run_with_cache stop_at_layer",
        ),
    ):
        quiet = quiet_repeats(samples, threshold)
        times = [x.seconds for x in samples[key]]
        timing_rows.append(
            (
                label,
                fmt_ms(median([times[i] for i in quiet])) if quiet else "n/a",
                fmt_ms(median(times)),
                fmt_ms(min(times)),
                fmt_ms(max(times)),
                f"{median([x.foreign for x in samples[key]]):.2f}",
            )
        )
    timings = markdown_table(
        ("Variant", "Median, quiet", "Median, all", "Min", "Max", "Other load (cores)"),
        timing_rows,
    )

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(
        f"{name} {package_version(name)}" for name in ("transformers", "transformer-lens")
    )
    quiet_counts = ", ".join(
        f"{len(quiet_repeats(s, threshold))}/{len(done(s))}" for s in (s1, s2, s3)
    )
    if any(len(done(s)) < reps for s in (s1, s2, s3)):
        cut = ", ".join(str(len(done(s))) for s in (s1, s2, s3))
        cut = f" (the time budget cut benchmarks 1, 2, 3 to {cut} repeats)"
    else:
        cut = ""
    paragraphs = [
        SECTION,
        (
            f"`python bench/bench_foundation.py --repeats {reps}` (seed {args.seed}), {now}, "
            f"{elapsed:.0f} s."
        ),
        "\n".join(
            [
                (
                    f"- Machine: {cpu_model()}, {os.cpu_count()} CPU cores, no GPU; torch "
                    f"{torch.__version__} ({torch.get_num_threads()} threads, the default), "
                    f"{versions}, Python {platform.python_version()}."
                ),
                (
                    f"- Model: {model.name}, fp32, {model.n_layers} blocks, "
                    f"d_model {model.d_model}. Batch: {n_batch} texts padded to {n_pos} "
                    f"positions ({n_tokens} real tokens)."
                ),
                (
                    f"- Method: `torch.inference_mode`, {args.warmup} warm-up calls and {reps} "
                    f"timed calls per variant{cut}, the variants of a benchmark interleaved (order "
                    "alternating), GC outside the timed region; ratios are of medians, the "
                    "interval a paired bootstrap over repeats."
                ),
                (
                    f"- Other processes: 1-min load average (it lags) {load_before[0]:.2f} before, "
                    f"{load_after[0]:.2f} after; {waiter.waited:.0f} s spent waiting for quiet. A "
                    f"repeat is *quiet* when other processes took under {threshold} cores "
                    "(/proc/stat) during each of its calls; quiet repeats in benchmarks 1, 2, 3: "
                    f"{quiet_counts}. Verdicts use the quiet repeats when they are at least a "
                    "third of those done (and 3), else all (marked *contended*): torch runs one "
                    "OpenMP thread per core, so a busy neighbour can slow a forward many times "
                    "over (10× was seen here), by an amount that follows its number of kernels, "
                    "not its FLOPs."
                ),
            ]
        ),
        summary,
        (
            f"Predicted FLOP ratio for item 2: {flops.derivation}. The cache stops the forward "
            f"before block {LAYER + 1} (`stop_at_layer={LAYER + 1}`), so blocks {LAYER + 1}–"
            f"{model.n_layers - 1}, the final norm and the unembedding never run."
        ),
        timings,
        (
            f"Other ratios (quiet repeats): steered/unsteered from minimums {r1_min:.3f}; steered "
            f"including `steer` enter/exit {r1_ctx.text()}; bare `stop_at_layer` forward / full "
            f"forward {r2_bare.text()}; `run_with_cache` stopped the same way / "
            f"`cache_activations` {r3_stop.text(2, '×')}: item 3's speed-up comes mostly from "
            f"stopping early, caching every hook of blocks 0–{LAYER} adds "
            f"{(r3_stop.value - 1) * 100:.0f}%. Checks: steering moved the logits "
            "by up to "
            f"{steer_delta:.2f} (the hook fired); `cache_activations` matches `run_with_cache`'s "
            f"`{model.hook_name(LAYER)}` last-token rows to {cache_diff:.1e}."
        ),
    ]
    section = "\n\n".join(paragraphs) + "\n"
    print()
    print(section)
    print(f"(benchmark took {elapsed:.0f} s)", file=sys.stderr)
    if args.out:
        out = Path(args.out)
        update_benchmarks_md(out, section)
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
