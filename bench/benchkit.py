"""What every bench script shares, so each script reads as what it measures: timing with
interleaved variants and quiet-machine detection, medians with bootstrap intervals, a FLOP
model from the HF config, the machine's description, and writing one BENCHMARKS.md section.

Timing: the variants of one measurement are interleaved (order alternating every repeat, so
drift and a neighbour's load hit all of them alike), garbage collection is kept out of the
timed region, and every call records how much CPU other processes took meanwhile
(/proc/stat); verdicts use the repeats where that stayed under a threshold, and a
:class:`Waiter` waits (within a budget) for quiet before each repeat. ``timed(fn, sync)``
synchronises a device around the call (GPU timing).
"""

from __future__ import annotations

import argparse
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

from tqdm.auto import tqdm

INTRO = (
    "# mlsteer benchmarks\n\n"
    "Measured numbers from the scripts in `bench/`; each section is written by one script "
    "(rerun it to refresh its section) and later issues append their own.\n"
)

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


def timed(fn: Callable[[], object], sync: Callable[[], None] | None = None) -> Callable[[], float]:
    """Wrap ``fn`` so a call returns its wall time in seconds; ``sync`` (e.g. a CUDA
    synchronize) runs before the clock starts and before it stops, so queued device work counts."""

    def run() -> float:
        if sync is not None:
            sync()
        start = time.perf_counter()
        fn()
        if sync is not None:
            sync()
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
            if not foreign_load(0.25) >= self.threshold:  # NaN (no /proc): do not wait
                return
            time.sleep(0.25)
            self.waited += time.perf_counter() - start


def interleaved(
    variants: dict[str, Callable[[], float]],
    repeats: int,
    warmup: int,
    desc: str,
    waiter: Waiter,
    seconds: float,
) -> dict[str, list[Sample]]:
    """Time every variant ``repeats`` times, interleaved, order reversed on alternate repeats.

    Each variant is a callable returning its own elapsed seconds (so set-up such as entering
    a context manager can stay outside the timed region). GC runs between calls, never in one.
    Every sample records how much CPU other processes took during it. Stops early (after at
    least 3 repeats) once ``seconds`` have passed, so a loaded machine cannot stall the run.
    """
    deadline = time.perf_counter() + seconds
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    try:
        for i in tqdm(range(repeats), desc=desc, leave=False, file=sys.stderr):
            if i >= 3 and time.perf_counter() > deadline:
                break
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
    """Repeats in which no call shared the machine with ``threshold`` cores or more of other
    processes' work (all of them where /proc cannot tell)."""
    n = len(next(iter(samples.values())))
    return [i for i in range(n) if not any(s[i].foreign >= threshold for s in samples.values())]


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def ratio_ci(
    num: list[float], den: list[float], seed: int, n_boot: int = 2000
) -> tuple[float, float]:
    """95% bootstrap interval of median(num)/median(den), resampling repeats (kept paired)."""
    rng = random.Random(seed)
    n = len(num)
    ratios = []
    for _ in range(n_boot):
        idx = [rng.randrange(n) for _ in range(n)]
        ratios.append(median([num[i] for i in idx]) / median([den[i] for i in idx]))
    ratios.sort()
    return ratios[int(0.025 * n_boot)], ratios[int(0.975 * n_boot) - 1]


@dataclass
class Ratio:
    """median(num)/median(den) over a set of repeats, with its bootstrap interval."""

    value: float
    low: float
    high: float
    n: int

    @classmethod
    def of(
        cls, samples: dict[str, list[Sample]], num: str, den: str, repeats: list[int], seed: int
    ) -> Ratio:
        if not repeats:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        a = [samples[num][i].seconds for i in repeats]
        b = [samples[den][i].seconds for i in repeats]
        low, high = ratio_ci(a, b, seed)
        return cls(median(a) / median(b), low, high, len(repeats))

    def text(self, digits: int = 3, suffix: str = "") -> str:
        if not self.n:
            return "n/a"
        value, low, high = (f"{x:.{digits}f}{suffix}" for x in (self.value, self.low, self.high))
        return f"{value} ({low}–{high})"


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
        f"= {proj / 1e6:.2f} MFLOP + scores 4·{heads}·{head_dim}·{n_pos} "
        f"= {scores / 1e6:.2f} MFLOP + gated MLP 2·3·{d}·{inter} = {mlp / 1e6:.2f} MFLOP "
        f"→ {block / 1e6:.2f} MFLOP; "
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
    """Replace the section whose heading is ``section``'s first line in ``path`` (or append
    it), keeping every other section; every bench script writes its own this way."""
    heading = section.splitlines()[0]
    text = path.read_text() if path.exists() else INTRO
    if not text.endswith("\n"):
        text += "\n"
    start = text.find(heading)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + len(heading))
        rest = text[nxt + 1 :] if nxt != -1 else ""
        text = text[:start] + section + ("\n" + rest if rest else "")
    path.write_text(text)


def add_run_args(parser: argparse.ArgumentParser, section: str, max_seconds: float) -> None:
    """The options every bench script shares: output file, seed, quiet detection, budget."""
    parser.add_argument(
        "--out",
        default=str(Path(__file__).resolve().parent.parent / "BENCHMARKS.md"),
        help=f"Markdown file whose {section} section is (re)written; '' to only print",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=0.5,
        help="a repeat counts as quiet when other processes used under this many cores during "
        "each of its calls (default 0.5)",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=30.0,
        help="seconds in all to wait for other processes to go quiet before repeats (default 30)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=max_seconds,
        help="time budget of the timed part; on a loaded machine benchmarks stop repeating early "
        f"(each keeps at least 3 repeats) to stay near it (default {max_seconds:g})",
    )


def default_data_dir() -> str | None:
    """``$MLSTEER_DATA``, else ``../shared/data`` beside the checkout if it exists."""
    beside = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    return os.environ.get("MLSTEER_DATA") or (str(beside) if beside.is_dir() else None)


def markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"
