"""Foundation benchmark (issue 2): steering overhead and the cost of caching activations.

A benchmark, not a test: it times the embedded Gemma 3 270M on this machine and writes the
numbers into BENCHMARKS.md under "## Foundation (issue 2)". Three measurements, each on the
same batch of 8 texts of ~30 tokens:

1. steered / unsteered forward time, a random SteeringVector at layer 6 (target <= 1.03);
2. ``cache_activations`` up to layer 6 / a full forward with logits (target <= 0.35), next to
   the ratio of FLOPs predicted from the model config;
3. ``run_with_cache`` (every hook) / ``cache_activations`` (target >= 4x).

Timing: torch.inference_mode, warm-up calls, many repeats, the variants of one benchmark
interleaved (their order alternating every repeat, so drift and a neighbour's load hit all of
them alike), garbage collection kept out of the timed region, medians reported. A bootstrap
over repeats gives a 95% interval for each ratio. Threads are left at torch's default.

Usage:
    HF_HUB_OFFLINE=1 python bench/bench_foundation.py               # ~2-3 min on 2 cores
    python bench/bench_foundation.py --repeats 10 --out ''          # quick, print only
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from mlsteer.activations import cache_activations, encode_batch  # noqa: E402
from mlsteer.models import load_model  # noqa: E402
from mlsteer.steering.hooks import steer  # noqa: E402
from mlsteer.steering.vector import SteeringVector  # noqa: E402

SECTION = "## Foundation (issue 2)"
INTRO = (
    "# mlsteer benchmarks\n\n"
    "Measured numbers from the scripts in `bench/`; each section is written by one script "
    "(rerun it to refresh its section) and later issues append their own.\n"
)
LAYER = 6
TEXTS = [
    "The old lighthouse keeper climbed the narrow spiral stairs every evening at dusk, lighting "
    "the lamp that guided fishing boats safely past the jagged rocks below.",
    "Researchers at the small coastal laboratory measured how quickly the seaweed grew in warmer "
    "water, and they were surprised by how much the results varied.",
    "After the storm passed, the villagers gathered in the square to share bread, repair the "
    "damaged roofs, and tell stories about the floods of their childhood.",
    "She opened the dusty notebook her grandfather had left behind and found pages of careful "
    "sketches showing birds, bridges, and machines he never built.",
    "The train to the mountains left at seven in the morning, so we packed sandwiches, warm "
    "coats, and a map the night before to avoid any rush.",
    "In the quiet library, a student read about ancient trade routes that carried silk, spices, "
    "and new ideas between distant cities across deserts and seas.",
    "The chef tasted the soup once more, added a pinch of salt and a little lemon juice, then "
    "smiled because it finally tasted like her mother's recipe.",
    "When the orchestra began the final movement, the audience fell silent, and even the "
    "children in the front row leaned forward to hear every note clearly.",
]


# --------------------------------------------------------------------------- timing

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds() -> tuple[float, float]:
    """(CPU seconds busy on the whole machine incl. steal, CPU seconds used by this process).

    Read from /proc; (nan, nan) where it is missing. Their difference over a timed call is the
    CPU other processes (or the hypervisor) took meanwhile.
    """
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
        with open("/proc/self/stat") as f:
            own = f.read().rsplit(")", 1)[1].split()
        mine = int(own[11]) + int(own[12])  # utime + stime (fields 14, 15)
        return busy / _TICK, mine / _TICK
    except (OSError, ValueError, IndexError):
        return float("nan"), float("nan")


def foreign_load(seconds: float = 0.25) -> float:
    """Cores' worth of CPU other processes use, sampled over ``seconds`` while we sleep."""
    busy0, mine0 = cpu_seconds()
    start = time.perf_counter()
    time.sleep(seconds)
    busy1, mine1 = cpu_seconds()
    return ((busy1 - busy0) - (mine1 - mine0)) / (time.perf_counter() - start)


@dataclass
class Sample:
    seconds: float
    foreign: float  # cores' worth of other processes' CPU during the call


def timed(fn: Callable[[], object]) -> Callable[[], float]:
    """Wrap ``fn`` so a call returns its wall time in seconds."""

    def run() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return run


@dataclass
class Waiter:
    """Before each repeat, wait (within a total budget) for other processes to go quiet.

    On 2 cores torch runs 2 OpenMP threads; another busy process oversubscribes them and a
    forward can slow down 10x or more, by an amount that depends on the number of kernels,
    not on FLOPs, so ratios measured then are wrong, not just noisy.
    """

    budget: float
    threshold: float
    waited: float = 0.0

    def wait(self) -> None:
        while self.waited < self.budget:
            start = time.perf_counter()
            load = foreign_load(0.25)
            if load < self.threshold:
                return
            time.sleep(0.25)
            self.waited += time.perf_counter() - start


def interleaved(
    variants: dict[str, Callable[[], float]], repeats: int, warmup: int, desc: str, waiter: Waiter
) -> dict[str, list[Sample]]:
    """Time every variant ``repeats`` times, interleaved, order reversed on alternate repeats.

    Each variant is a callable returning its own elapsed seconds (so set-up such as entering
    a context manager can stay outside the timed region). GC runs between calls, never in one.
    Every sample records how much CPU other processes took during it.
    """
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    try:
        for i in tqdm(range(repeats), desc=desc, leave=False, file=sys.stderr):
            waiter.wait()
            for name in names if i % 2 == 0 else reversed(names):
                gc.collect()
                gc.disable()
                busy0, mine0 = cpu_seconds()
                seconds = variants[name]()
                busy1, mine1 = cpu_seconds()
                gc.enable()
                foreign = ((busy1 - busy0) - (mine1 - mine0)) / seconds
                samples[name].append(Sample(seconds, foreign))
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def quiet_repeats(samples: dict[str, list[Sample]], threshold: float) -> list[int]:
    """Repeats in which no variant's call shared the machine with more than ``threshold`` cores."""
    n = len(next(iter(samples.values())))
    return [i for i in range(n) if all(s[i].foreign < threshold for s in samples.values())]


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def ratio_ci(num: list[float], den: list[float], seed: int, n_boot: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of median(num)/median(den), resampling repeats (kept paired)."""
    rng = random.Random(seed)
    n = len(num)
    ratios = []
    for _ in range(n_boot):
        idx = [rng.randrange(n) for _ in range(n)]
        ratios.append(median([num[i] for i in idx]) / median([den[i] for i in idx]))
    ratios.sort()
    return ratios[int(0.025 * n_boot)], ratios[int(0.975 * n_boot) - 1]


# --------------------------------------------------------------------------- FLOPs


@dataclass
class FlopEstimate:
    block: float  # per token, one decoder block (projections + MLP + attention scores)
    unembed: float  # per token
    ratio: float  # (top+1) blocks / (all blocks + unembedding)
    derivation: str


def predicted_flops(hf_config, n_pos: int, top: int) -> FlopEstimate:
    """Matmul FLOPs per token (2 per multiply-add) from the HF config.

    Attention: q, k, v, o projections (q/o: d x H*d_head, k/v: d x KV*d_head), plus the eager
    score and value products over the padded length ``n_pos`` (4*H*d_head*n_pos). MLP: gated,
    three d x I matrices. Unembedding: d x vocab. Norms, activations and the embedding lookup
    are ignored (they are a few per cent of a block and nothing next to the unembedding).
    """
    c = getattr(hf_config, "text_config", hf_config)
    d, inter, vocab = c.hidden_size, c.intermediate_size, c.vocab_size
    heads, kv_heads, n_layers = c.num_attention_heads, c.num_key_value_heads, c.num_hidden_layers
    head_dim = getattr(c, "head_dim", None) or d // heads
    proj = 2 * (d * heads * head_dim + 2 * d * kv_heads * head_dim + heads * head_dim * d)
    scores = 4 * heads * head_dim * n_pos
    mlp = 2 * 3 * d * inter
    block = proj + scores + mlp
    unembed = 2 * d * vocab
    n_run = top + 1
    ratio = n_run * block / (n_layers * block + unembed)
    derivation = (
        f"per token, one block = attn proj 2·{d}·({heads}+2·{kv_heads}+{heads})·{head_dim} "
        f"= {proj / 1e6:.2f} MFLOP + scores 4·{heads}·{head_dim}·{n_pos} = {scores / 1e6:.2f} MFLOP "
        f"+ gated MLP 2·3·{d}·{inter} = {mlp / 1e6:.2f} MFLOP → {block / 1e6:.2f} MFLOP; "
        f"unembedding 2·{d}·{vocab} = {unembed / 1e6:.1f} MFLOP. "
        f"Ratio = {n_run}·{block / 1e6:.2f} / ({n_layers}·{block / 1e6:.2f} + {unembed / 1e6:.1f}) "
        f"= {n_run * block / 1e6:.1f} / {(n_layers * block + unembed) / 1e6:.1f} = {ratio:.3f}"
    )
    return FlopEstimate(block, unembed, ratio, derivation)


# --------------------------------------------------------------------------- machine


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        match = re.search(r"^Model name:\s*(.+)$", out, re.MULTILINE)
        if match:
            return match.group(1).strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


# --------------------------------------------------------------------------- report


def update_benchmarks_md(path: Path, section: str) -> None:
    """Replace this script's section in ``path`` (or append it), keeping every other section."""
    text = path.read_text() if path.exists() else INTRO
    if not text.endswith("\n"):
        text += "\n"
    start = text.find(SECTION)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        rest = text[nxt + 1 :] if nxt != -1 else ""
        text = text[:start] + section + ("\n" + rest if rest else "")
    path.write_text(text)


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=25, help="timed calls per variant (default 25)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per variant first (default 3)")
    parser.add_argument(
        "--out",
        default=str(Path(__file__).resolve().parent.parent / "BENCHMARKS.md"),
        help="Markdown file whose Foundation section is (re)written; '' to only print",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="gemma-3-270m")
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    started = time.time()
    load_before = os.getloadavg()

    print(f"loading {args.model} ...", file=sys.stderr)
    model = load_model(args.model)
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
        return cache_activations(model, TEXTS, [LAYER], pooling="last", batch_size=len(TEXTS), progress=False)

    def bare_stop() -> object:
        return bridge(ids, attention_mask=mask, stop_at_layer=LAYER + 1)

    def full_cache() -> object:
        return bridge.run_with_cache(ids, attention_mask=mask)

    with torch.inference_mode():
        # Sanity: the hook fires (logits change) and both caches see the same residual.
        plain_logits = forward()
        with steer(model, vector, alpha):
            steered_logits = forward()
        steer_delta = float((steered_logits - plain_logits).abs().max())
        if steer_delta == 0:
            raise SystemExit("steering changed no logit: the hook did not fire, timings would be void")
        pooled = cache()[:, 0]
        _, act_cache = full_cache()
        n_hooks = len(act_cache)
        resid = act_cache[model.hook_name(LAYER)]
        last = mask.sum(1) - 1
        reference = resid[torch.arange(n_batch), last].float()
        # cache_activations runs texts longest-first but returns rows in the order given.
        cache_diff = float((pooled - reference).abs().max())
        del act_cache, resid, plain_logits, steered_logits

        n_blocks = model.n_layers
        reps = args.repeats
        print(
            f"batch {n_batch}x{n_pos} ({n_tokens} real tokens), {torch.get_num_threads()} threads, "
            f"{reps} repeats",
            file=sys.stderr,
        )
        s1 = interleaved(
            {"unsteered": timed(forward), "steered": steered, "steered+enter/exit": steered_with_context},
            reps,
            args.warmup,
            "1/3 steering",
        )
        s2 = interleaved(
            {"full forward": timed(forward), "cache_activations": timed(cache), "bare stop_at_layer": timed(bare_stop)},
            reps,
            args.warmup,
            "2/3 cache vs forward",
        )
        s3 = interleaved(
            {"run_with_cache": timed(full_cache), "cache_activations": timed(cache)},
            reps,
            args.warmup,
            "3/3 cache vs run_with_cache",
        )

    flops = predicted_flops(bridge.original_model.config, n_pos, LAYER)
    m1 = {k: median(v) for k, v in s1.items()}
    m2 = {k: median(v) for k, v in s2.items()}
    m3 = {k: median(v) for k, v in s3.items()}
    r1 = m1["steered"] / m1["unsteered"]
    r1_ci = ratio_ci(s1["steered"], s1["unsteered"], args.seed)
    r1_ctx = m1["steered+enter/exit"] / m1["unsteered"]
    r1_min = min(s1["steered"]) / min(s1["unsteered"])
    r2 = m2["cache_activations"] / m2["full forward"]
    r2_ci = ratio_ci(s2["cache_activations"], s2["full forward"], args.seed)
    r2_bare = m2["bare stop_at_layer"] / m2["full forward"]
    r3 = m3["run_with_cache"] / m3["cache_activations"]
    lo3, hi3 = ratio_ci(s3["run_with_cache"], s3["cache_activations"], args.seed)
    load_after = os.getloadavg()
    elapsed = time.time() - started

    def verdict(ok: bool) -> str:
        return "pass" if ok else "**FAIL**"

    summary = [
        "| Benchmark | Measured (median ratio, 95% CI) | Target | Result |",
        "|---|---|---|---|",
        f"| Steered / unsteered forward, layer {LAYER} | {r1:.3f} ({r1_ci[0]:.3f}–{r1_ci[1]:.3f}) "
        f"| ≤ 1.03 | {verdict(r1 <= 1.03)} |",
        f"| `cache_activations` (layer {LAYER}) / full forward with logits | {r2:.3f} "
        f"({r2_ci[0]:.3f}–{r2_ci[1]:.3f}); FLOP prediction {flops.ratio:.3f} | ≤ 0.35 | {verdict(r2 <= 0.35)} |",
        f"| `run_with_cache` (all {n_hooks} hooks) / `cache_activations` | {r3:.2f}× "
        f"({lo3:.2f}–{hi3:.2f}×) | ≥ 4× | {verdict(r3 >= 4.0)} |",
    ]
    details = [
        "| Variant | Median | Min | Max |",
        "|---|---|---|---|",
    ]
    for label, samples in (
        ("1. unsteered forward", s1["unsteered"]),
        ("1. steered forward (hook attached, forward only)", s1["steered"]),
        ("1. steered, including `with steer(...)` enter/exit", s1["steered+enter/exit"]),
        ("2. full forward with logits", s2["full forward"]),
        ("2. `cache_activations` (tokenise + forward to block 6 + pool)", s2["cache_activations"]),
        (f"2. bare `bridge(..., stop_at_layer={LAYER + 1})`", s2["bare stop_at_layer"]),
        ("3. `run_with_cache`, every hook", s3["run_with_cache"]),
        ("3. `cache_activations`", s3["cache_activations"]),
    ):
        details.append(f"| {label} | {fmt_ms(median(samples))} | {fmt_ms(min(samples))} | {fmt_ms(max(samples))} |")

    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = (
        f"{cpu_model()}, {os.cpu_count()} CPU cores, no GPU; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads, default), transformers {package_version('transformers')}, "
        f"transformer-lens {package_version('transformer-lens')}, Python {platform.python_version()}"
    )
    section = "\n".join(
        [
            SECTION,
            "",
            f"`python bench/bench_foundation.py --repeats {reps}` (seed {args.seed}), {now}.",
            "",
            f"- Machine: {machine}.",
            f"- Load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after "
            "(above 0 means other processes shared the cores while timing).",
            f"- Model: {model.name}, fp32, {n_blocks} blocks, d_model {model.d_model}. Batch: "
            f"{n_batch} texts padded to {n_pos} positions ({n_tokens} real tokens).",
            f"- Method: `torch.inference_mode`, {args.warmup} warm-up calls per variant, {reps} timed "
            "calls per variant, variants interleaved (order alternating), GC outside the timed "
            "region; ratios are of medians, the interval a paired bootstrap over repeats.",
            "",
            *summary,
            "",
            f"Predicted FLOP ratio for item 2: {flops.derivation}. The cache stops the forward "
            f"before block {LAYER + 1} (`stop_at_layer={LAYER + 1}`), so blocks {LAYER + 1}–{n_blocks - 1}, "
            "the final norm and the unembedding never run.",
            "",
            "Timings:",
            "",
            *details,
            "",
            f"Other ratios: steered/unsteered from minimums {r1_min:.3f}; steered including "
            f"context enter/exit {r1_ctx:.3f}; bare `stop_at_layer` forward / full forward "
            f"{r2_bare:.3f}. Checks: steering moved the logits by up to {steer_delta:.2f} (hook "
            f"active); `cache_activations` matches `run_with_cache`'s `{model.hook_name(LAYER)}` "
            f"last-token rows to {cache_diff:.1e}.",
            "",
        ]
    )
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
