"""BiPO training-step benchmark (issue 3): mlsteer's upper-stack path vs a naive full forward.

A benchmark, not a test: it times one BiPO optimisation step on the embedded Gemma 3 270M at
layer 6 of 18 and writes the numbers into BENCHMARKS.md under "## BiPO training step (issue 3)".
The batch is one preference triple from Tatoeba (chosen and rejected sequence in one forward,
as ``learn_bipo`` does with batch size 1); every path computes the same DPO loss of the same
v (requires_grad), backward, and one AdamW step on v; model weights are frozen.

(a) mlsteer: from resid_post at L cached once, ``UpperStack.completion_logprobs`` runs blocks
    L+1.. and the final norm, and unembeds only the positions that predict completion tokens;
    reference log-probs precomputed, as ``learn_bipo`` does.
(b) naive: the full bridge forward (all blocks) with v added at L by a bridge hook, logits at
    every position, log_softmax, gather the completion tokens.
(c) diagnostic: (a) with the unembedded rows zero-padded to a multiple of 16 (on this CPU the
    fp32 unembedding GEMM takes a slow path for 4-15 rows; a row sweep documents it).

Before timing, the paths must agree on the loss (relative 1e-4) and on v's gradient (cosine
> 0.9999). Next to the measured ratio (a)/(b) stand the FLOP model of issue 3 and a refined
model, FLOPs / peak + bytes / bandwidth (weights streamed and passes over the logits), with
peak and bandwidth measured here on separate microbenchmarks; both also for Llama-2-7B at the
same token counts. A profile of a few steps splits each path into unembedding GEMMs, other
vocabulary-wide ops, block GEMMs and the rest.

Timing from benchkit.py: warm-up steps, interleaved
variants with alternating order, GC outside the timed region, medians, paired bootstrap CIs,
other processes' CPU read from /proc/stat and quiet repeats preferred.

Usage:
    HF_HUB_OFFLINE=1 python bench/bench_bipo.py                 # ~2 min on 2 cores
    python bench/bench_bipo.py --repeats 10 --out ''            # quick, print only
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import torch.nn.functional as F
from benchkit import (
    Ratio,
    Waiter,
    add_run_args,
    cpu_model,
    cpu_seconds,
    default_data_dir,
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
from torch import Tensor
from torch.profiler import ProfilerActivity, profile

from mlsteer.activations.preferences import CompletionTokens, encode_preferences
from mlsteer.data.corpora import load_pairs
from mlsteer.data.preferences import triples_from_parallel
from mlsteer.learners.bipo import BipoConfig, _add, _stack
from mlsteer.models import load_model
from mlsteer.models.upper import UpperStack

SECTION = "## BiPO training step (issue 3)"
LAYER = 6
TOLERANCE = 0.10  # target: measured ratio within 10% of the prediction
PAD_ROWS = 16
# Passes over a [rows, vocab] fp32 tensor per step, counted from the ops in the profiles. Both:
# the GEMM writes the logits (1), log_softmax reads them twice and writes (3), the gather's
# gradient is zero-filled (1), log_softmax backward reads two and writes one (3), the backward
# GEMM reads the gradient (1). (b) adds the bridge's copy of the logits (2) and the slice
# [:, :-1]: its gradient's zero fill and copy (3); (a) adds one copy (2).
NAIVE_LOGIT_PASSES = 14
OURS_LOGIT_PASSES = 11
# Llama-2-7B (meta-llama/Llama-2-7b-hf config), for the predictions at the same token counts.
LLAMA2_7B = SimpleNamespace(
    hidden_size=4096,
    intermediate_size=11008,
    vocab_size=32000,
    num_attention_heads=32,
    num_key_value_heads=32,
    num_hidden_layers=32,
    head_dim=128,
)
LLAMA2_LAYER = 15
VARIANTS = {
    "ours": "(a) mlsteer: `UpperStack` from cached h_L, completion rows unembedded",
    "naive": "(b) naive: full forward, v by bridge hook, logits at every position",
    "ours_pad": f"(c) = (a), unembedded rows zero-padded to a multiple of {PAD_ROWS}",
}


# --------------------------------------------------------------------------- cost models


@dataclass
class Work:
    """Matmul FLOPs and bytes moved by one step."""

    flops: float
    bytes: float

    def seconds(self, machine: Machine) -> float:
        """Refined model: compute and memory traffic not overlapped."""
        return self.flops / machine.peak + self.bytes / machine.bandwidth


@dataclass
class Machine:
    peak: float  # FLOP/s of a large fp32 GEMM
    bandwidth: float  # bytes/s of a reduction over a tensor far larger than the caches


@dataclass
class CostModel:
    """Per-step work of both paths for one model config, v at ``layer``.

    FLOPs (issue 3): per token one block costs ``block`` (projections, eager scores over
    ``width`` positions, gated MLP), one unembedded position ``unembed``; with frozen weights the
    backward costs as much as the forward where gradients flow (blocks above L, the
    unembedding) and never goes below L. Bytes: each weight matrix is streamed once per forward
    and once per backward pass through it, plus a counted number of passes over the logits.
    """

    n_layers: int
    above: int
    width: int
    block: float  # FLOP per token per block
    unembed: float  # FLOP per unembedded position
    block_bytes: float
    unembed_bytes: float
    logit_bytes: float  # one pass over one row of fp32 logits

    @classmethod
    def of(cls, hf_config, width: int, layer: int) -> CostModel:
        c = getattr(hf_config, "text_config", hf_config)
        est = predicted_flops(hf_config, width, layer)
        weights = predicted_flops(hf_config, 0, layer).block / 2  # no score term at 0 positions
        return cls(
            n_layers=c.num_hidden_layers,
            above=c.num_hidden_layers - 1 - layer,
            width=width,
            block=est.block,
            unembed=est.unembed,
            block_bytes=4 * weights,
            unembed_bytes=4 * c.hidden_size * c.vocab_size,
            logit_bytes=4 * c.vocab_size,
        )

    def naive(self, tokens: int) -> Work:
        passes = self.n_layers + self.above
        return Work(
            tokens * self.block * passes + 2 * tokens * self.unembed,
            passes * self.block_bytes
            + 2 * self.unembed_bytes
            + NAIVE_LOGIT_PASSES * tokens * self.logit_bytes,
        )

    def ours(self, tokens: int, rows: int) -> Work:
        passes = 2 * self.above
        return Work(
            tokens * self.block * passes + 2 * rows * self.unembed,
            passes * self.block_bytes
            + 2 * self.unembed_bytes
            + OURS_LOGIT_PASSES * rows * self.logit_bytes,
        )

    def flop_text(self, tokens: int, rows: int) -> str:
        naive, ours = self.naive(tokens).flops, self.ours(tokens, rows).flops
        n, a = self.n_layers, self.above
        return (
            f"B = {self.block / 1e6:.2f} MFLOP per token and block (scores at {self.width} "
            f"positions), U = {self.unembed / 1e6:.1f} MFLOP per position; naive = T·{n}·B + T·U + "
            f"bwd(T·{a}·B + T·U) = {naive / 1e9:.2f} GFLOP, ours = T·{a}·B + C·U + "
            f"bwd(T·{a}·B + C·U) = {ours / 1e9:.2f} GFLOP (T = {tokens}, C = {rows}) → "
            f"{ours / naive:.3f}"
        )

    def byte_text(self, tokens: int, rows: int) -> str:
        naive, ours = self.naive(tokens).bytes, self.ours(tokens, rows).bytes
        wb, wu, row = self.block_bytes / 1e6, self.unembed_bytes / 1e6, self.logit_bytes / 1e6
        return (
            f"block weights {wb:.1f} MB, unembedding {wu:.0f} MB, a row of logits {row:.2f} MB "
            f"(fp32); naive = ({self.n_layers}+{self.above})·{wb:.1f} + 2·{wu:.0f} + "
            f"{NAIVE_LOGIT_PASSES}·T·{row:.2f} = {naive / 1e6:.0f} MB, ours = "
            f"2·{self.above}·{wb:.1f} + 2·{wu:.0f} + {OURS_LOGIT_PASSES}·C·{row:.2f} = "
            f"{ours / 1e6:.0f} MB → {ours / naive:.3f} by bytes alone"
        )


def measure_machine(waiter: Waiter, repeats: int = 7) -> Machine:
    """Best of ``repeats``: a 1024×640×8192 GEMM into a preallocated output (peak), a sum over
    256 MB (bandwidth)."""
    a, b = torch.randn(1024, 640), torch.randn(640, 8192)
    product = torch.empty(1024, 8192)
    big = torch.randn(64 * 2**20)

    def fastest(fn: Callable[[], object]) -> float:
        fn()
        waiter.wait()
        return min(timed(fn)() for _ in range(repeats))

    with torch.inference_mode():
        peak = 2 * 1024 * 640 * 8192 / fastest(lambda: torch.mm(a, b, out=product))
        bandwidth = 4 * big.numel() / fastest(big.sum)
    return Machine(peak, bandwidth)


# --------------------------------------------------------------------------- data


@dataclass
class PairStats:
    width: list[int]  # padded length of chosen and rejected (a forward runs 2·width positions)
    real: list[int]  # real tokens in the pair
    completion: list[int]  # completion-predicting positions in the pair (C)


def pair_stats(chosen: CompletionTokens, rejected: CompletionTokens) -> PairStats:
    len_c, len_r = chosen.attention_mask.sum(1), rejected.attention_mask.sum(1)
    comp = chosen.completion_mask[:, 1:].sum(1) + rejected.completion_mask[:, 1:].sum(1)
    return PairStats(torch.maximum(len_c, len_r).tolist(), (len_c + len_r).tolist(), comp.tolist())


def quartiles(xs: list[int]) -> str:
    s = sorted(xs)
    q = [s[round(p * (len(s) - 1))] for p in (0.0, 0.25, 0.5, 0.75, 1.0)]
    return f"median {q[2]} (quartiles {q[1]}–{q[3]}, range {q[0]}–{q[4]})"


def typical_triple(stats: PairStats) -> int:
    """A triple of median pair width and, among those, the median completion count."""
    w = sorted(stats.width)[len(stats.width) // 2]
    c = sorted(stats.completion)[len(stats.completion) // 2]
    return min(
        range(len(stats.width)),
        key=lambda i: (abs(stats.width[i] - w), abs(stats.completion[i] - c), i),
    )


# --------------------------------------------------------------------------- the paths

LossFn = Callable[[Tensor], Tensor]


def make_paths(model, upper: UpperStack, batch: CompletionTokens, beta: float) -> dict[str, LossFn]:
    """loss(v) for each path: -logsigmoid(β·margin), reference log-probs precomputed (v = 0)."""
    bridge = model.bridge
    ids, mask, comp = batch.input_ids, batch.attention_mask, batch.completion_mask
    direction = 1.0  # learn_bipo draws ±1 per step; the cost does not depend on it
    with torch.no_grad():
        reference = upper.completion_logprobs(ids, mask, batch.resid, comp)

    def dpo_loss(policy: Tensor) -> Tensor:
        ratio = policy - reference
        return -F.logsigmoid(direction * beta * (ratio[:1] - ratio[1:])).mean()

    def ours(v: Tensor) -> Tensor:
        return dpo_loss(upper.completion_logprobs(ids, mask, _add(batch, v, direction), comp))

    targets, target_mask = ids[:, 1:].unsqueeze(-1), comp[:, 1:]
    steer_mask = batch.steer_mask.unsqueeze(-1).to(batch.resid.dtype)

    def naive(v: Tensor) -> Tensor:
        def add_v(resid: Tensor, hook) -> Tensor:
            return resid + direction * steer_mask * v

        with bridge.hooks(fwd_hooks=[(model.hook_name(LAYER), add_v)]):
            logits = bridge(ids, attention_mask=mask)
        token_logprobs = logits.log_softmax(-1)[:, :-1].gather(-1, targets)[..., 0]
        return dpo_loss((token_logprobs * target_mask).sum(1))

    rows, cols = comp[:, 1:].nonzero(as_tuple=True)
    pad = -len(rows) % PAD_ROWS

    def ours_padded(v: Tensor) -> Tensor:
        """completion_logprobs with the unembedded rows zero-padded (the fix, as a diagnostic)."""
        hidden = upper.final_hidden(ids, mask, _add(batch, v, direction))[rows, cols]
        logits = model.unembed(F.pad(hidden, (0, 0, 0, pad)))[: len(rows)]
        picked = logits.log_softmax(-1).gather(-1, ids[rows, cols + 1].unsqueeze(-1))[:, 0]
        policy = torch.zeros(len(ids), dtype=picked.dtype).index_add(0, rows, picked)
        return dpo_loss(policy)

    return {"ours": ours, "naive": naive, "ours_pad": ours_padded}


def make_step(loss_fn: LossFn, v0: Tensor, config: BipoConfig) -> Callable[[], float]:
    """One step on a private copy of v, as learn_bipo: loss, zero_grad, backward, AdamW."""
    vector = v0.clone().requires_grad_(True)
    optimiser = torch.optim.AdamW([vector], lr=config.lr, weight_decay=config.weight_decay)

    def step() -> float:
        loss = loss_fn(vector)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        return float(loss.detach())

    return step


def loss_and_grad(loss_fn: LossFn, v0: Tensor) -> tuple[float, Tensor]:
    vector = v0.clone().requires_grad_(True)
    loss = loss_fn(vector)
    loss.backward()
    return float(loss.detach()), vector.grad.clone()


# --------------------------------------------------------------------------- diagnostics

CATEGORIES = (
    "unembedding GEMM, forward",
    "unembedding GEMM, backward",
    "other vocabulary-wide ops",
    "block GEMMs",
    "rest (elementwise, norms, attention, dispatch)",
)
GEMMS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}


@dataclass
class Breakdown:
    seconds: dict[str, float]  # per step, by category
    foreign: float  # cores' worth of other processes' CPU meanwhile


def breakdown(step: Callable[[], float], steps: int, vocab: int, waiter: Waiter) -> Breakdown:
    """Seconds per step by category, from the profiler's self CPU times (ops run on the calling
    thread, so they add up to about the step's wall time), each the median over ``steps``
    separately profiled steps: now and then one vocabulary-wide op runs several times slower
    under the profiler, which a mean would spread over the table."""
    per_step: list[dict[str, float]] = []
    foreign = []
    for _ in range(steps):
        waiter.wait()
        busy0, mine0 = cpu_seconds()
        start = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            step()
        busy1, mine1 = cpu_seconds()
        foreign.append(((busy1 - busy0) - (mine1 - mine0)) / (time.perf_counter() - start))
        out = dict.fromkeys(CATEGORIES, 0.0)
        for event in prof.events():
            shapes = [s for s in event.input_shapes if isinstance(s, list | tuple)]
            vocab_wide = any(vocab in s for s in shapes)
            if event.name in GEMMS and vocab_wide:
                # forward: x[rows, d] @ W.T[d, vocab]; backward: grad[rows, vocab] @ W[vocab, d]
                backward = any(len(s) == 2 and s[0] == vocab for s in shapes)
                key = CATEGORIES[1] if backward else CATEGORIES[0]
            elif vocab_wide:
                key = CATEGORIES[2]
            elif event.name in GEMMS:
                key = CATEGORIES[3]
            else:
                key = CATEGORIES[4]
            out[key] += event.self_cpu_time_total / 1e6
        per_step.append(out)
    return Breakdown({c: median([s[c] for s in per_step]) for c in CATEGORIES}, median(foreign))


def unembedding_sweep(
    model, row_counts: list[int], repeats: int, waiter: Waiter, seconds: float
) -> dict[int, float]:
    """Median seconds of ``model.unembed`` (no grad) on ``m`` rows, for each ``m``."""
    hidden = torch.randn(max(row_counts), model.d_model)
    variants = {m: timed(lambda m=m: model.unembed(hidden[:m])) for m in row_counts}
    with torch.inference_mode():
        samples = interleaved(variants, repeats, 1, "unembedding rows", waiter, seconds)
    return {m: median([s.seconds for s in samples[m]]) for m in row_counts}


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeats", type=int, default=50, help="timed steps per variant (default 50)"
    )
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed steps per variant first (default 3)"
    )
    parser.add_argument("--data-dir", default=default_data_dir(), help="folder holding tatoeba/")
    parser.add_argument("--lang", default="sw")
    parser.add_argument(
        "--triples",
        type=int,
        default=128,
        help="Tatoeba pairs sampled (length statistics; default 128)",
    )
    parser.add_argument(
        "--profile-steps", type=int, default=5, help="profiled steps per variant (0 skips)"
    )
    add_run_args(parser, "BiPO", max_seconds=150.0)
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    started = time.time()
    load_before = os.getloadavg()
    waiter = Waiter(budget=args.max_wait, threshold=args.quiet_below)
    config = BipoConfig()

    machine = measure_machine(waiter)  # before the model takes memory and caches
    print("loading gemma-3-270m ...", file=sys.stderr)
    model = load_model("gemma-3-270m")
    hf_config = model.bridge.original_model.config
    vocab = getattr(hf_config, "text_config", hf_config).vocab_size
    upper = UpperStack(model, LAYER)  # freezes the HF weights
    for parameter in model.bridge.parameters():
        parameter.requires_grad_(False)
    trainable = sum(p.numel() for p in model.bridge.parameters() if p.requires_grad)
    if trainable:
        raise SystemExit(
            f"{trainable} weights still require grad; the paths would compute weight grads"
        )

    pairs = load_pairs("tatoeba", args.lang, args.data_dir, n=args.triples, seed=args.seed)
    triples = triples_from_parallel(pairs)
    data = encode_preferences(model, triples, LAYER)
    stats = pair_stats(data.chosen, data.rejected)
    index = typical_triple(stats)
    n = len(data)
    # one triple as learn_bipo batches it: chosen and rejected rows, trimmed to their width
    batch = _stack(data.chosen, data.rejected).rows(torch.tensor([index, index + n]))
    width = batch.input_ids.shape[1]
    tokens, real = 2 * width, int(batch.attention_mask.sum())
    completion = int(batch.completion_mask[:, 1:].sum())
    padded_rows = completion + (-completion % PAD_ROWS)

    paths = make_paths(model, upper, batch, config.beta)
    # v: a random direction of 5% of the mean residual norm (the loss well away from log 2).
    generator = torch.Generator().manual_seed(args.seed)
    direction = torch.randn(model.d_model, generator=generator)
    resid_norm = float(batch.resid[batch.steer_mask].norm(dim=-1).mean())
    v0 = direction / direction.norm() * 0.05 * resid_norm
    checks = {name: loss_and_grad(fn, v0) for name, fn in paths.items()}
    ref_loss, ref_grad = checks["naive"]
    agreement = {}
    for name in ("ours", "ours_pad"):
        loss, grad = checks[name]
        rel = abs(loss - ref_loss) / abs(ref_loss)
        cos = float(F.cosine_similarity(grad, ref_grad, dim=0))
        agreement[name] = (rel, cos)
        if not (rel < 1e-4 and cos > 0.9999):
            raise SystemExit(
                f"{name} disagrees with the naive path: loss {rel:.1e}, cosine {cos:.6f}"
            )

    steps = {name: make_step(fn, v0, config) for name, fn in paths.items()}
    print(
        f"triple #{index}: T = {tokens} positions ({real} real tokens), C = {completion}; "
        f"{torch.get_num_threads()} threads, {args.repeats} repeats",
        file=sys.stderr,
    )
    loop_started = time.time()
    samples = interleaved(
        {name: timed(step) for name, step in steps.items()},
        args.repeats,
        args.warmup,
        "bipo steps",
        waiter,
        args.max_seconds,
    )
    loop_seconds = time.time() - loop_started
    profiles = {
        name: breakdown(step, args.profile_steps, vocab, waiter)
        for name, step in steps.items()
        if args.profile_steps
    }
    row_counts = sorted({1, 4, 8, 12, 15, 16, 20, 24, 32, completion, padded_rows, tokens})
    sweep = unembedding_sweep(model, row_counts, 5, waiter, 30.0)
    load_after = os.getloadavg()
    elapsed = time.time() - started

    # ------------------------------------------------------------------ numbers
    done = list(range(len(samples["ours"])))
    quiet = quiet_repeats(samples, args.quiet_below)
    if len(quiet) >= max(3, len(done) // 3):
        basis, used = f"quiet, n={len(quiet)}", quiet
    else:
        basis, used = f"all, n={len(done)}, *contended*", done
    measured = Ratio.of(samples, "ours", "naive", used, args.seed)
    measured_all = Ratio.of(samples, "ours", "naive", done, args.seed)
    padded = Ratio.of(samples, "ours_pad", "naive", used, args.seed)
    padded_all = Ratio.of(samples, "ours_pad", "naive", done, args.seed)
    fix = Ratio.of(samples, "ours_pad", "ours", used, args.seed)
    seconds = {name: median([samples[name][i].seconds for i in used]) for name in samples}

    gemma = CostModel.of(hf_config, width, LAYER)
    llama = CostModel.of(LLAMA2_7B, width, LLAMA2_LAYER)
    work = {
        "ours": gemma.ours(tokens, completion),
        "naive": gemma.naive(tokens),
        "ours_pad": gemma.ours(tokens, padded_rows),
    }
    flop_ratio = {name: work[name].flops / work["naive"].flops for name in work}
    refined_ratio = {
        name: work[name].seconds(machine) / work["naive"].seconds(machine) for name in work
    }
    # how much the refined ratios move if peak and bandwidth are each off by up to 25%
    spans = {}
    for name in ("ours", "ours_pad"):
        values = [
            work[name].seconds(other) / work["naive"].seconds(other)
            for f in (0.75, 1.0, 1.25)
            for g in (0.75, 1.0, 1.25)
            for other in [Machine(machine.peak * f, machine.bandwidth * g)]
        ]
        spans[name] = (min(values), max(values))
    llama_work = (llama.ours(tokens, completion), llama.naive(tokens))
    llama_flops = llama_work[0].flops / llama_work[1].flops
    llama_bytes = llama_work[0].bytes / llama_work[1].bytes
    llama_refined = llama_work[0].seconds(machine) / llama_work[1].seconds(machine)

    def judge(value: float, prediction: float) -> tuple[str, str]:
        off = value / prediction - 1
        result = "pass" if abs(off) <= TOLERANCE else "**FAIL**"
        if "contended" in basis:
            result += " (contended: not meaningful)"
        return f"{off:+.1%}", result

    # ------------------------------------------------------------------ report
    rows = []
    for label, ratio, every, key in (
        ("(a) ours / (b) naive", measured, measured_all, "ours"),
        (
            f"(c) ours, rows padded {completion}→{padded_rows} / (b) naive",
            padded,
            padded_all,
            "ours_pad",
        ),
    ):
        for model_name, prediction in (
            ("FLOP model (issue 3)", flop_ratio[key]),
            ("refined: FLOPs/peak + bytes/bandwidth", refined_ratio[key]),
        ):
            off, result = judge(ratio.value, prediction)
            rows.append(
                (
                    label,
                    ratio.text(),
                    every.text(),
                    model_name,
                    f"{prediction:.3f}",
                    off,
                    f"±{TOLERANCE:.0%}",
                    result,
                )
            )
    summary = markdown_table(
        (
            "Step time ratio",
            f"Measured (95% CI) [{basis}]",
            "All repeats",
            "Prediction",
            "Predicted",
            "Off",
            "Target",
            "Result",
        ),
        rows,
    )

    timing_rows = []
    for name, label in VARIANTS.items():
        times = [s.seconds for s in samples[name]]
        timing_rows.append(
            (
                label,
                fmt_ms(seconds[name]),
                fmt_ms(min(times)),
                fmt_ms(max(times)),
                f"{work[name].flops / 1e9:.1f}",
                f"{work[name].bytes / 1e9:.2f}",
                fmt_ms(work[name].seconds(machine)),
                f"{median([s.foreign for s in samples[name]]):.2f}",
            )
        )
    timings = markdown_table(
        (
            "Step (forward, loss, backward, AdamW)",
            f"Median [{basis.split(',')[0]}]",
            "Min",
            "Max",
            "GFLOP",
            "GB",
            "Refined model",
            "Other load (cores)",
        ),
        timing_rows,
    )

    def ms(name: str, category: str) -> str:
        return fmt_ms(profiles[name].seconds[category]) if profiles else "n/a"

    profile_table = ""
    if profiles:
        prof_rows = [
            (category, *(ms(name, category) for name in VARIANTS)) for category in CATEGORIES
        ]
        prof_rows.append(
            (
                "sum of the medians",
                *(fmt_ms(sum(profiles[name].seconds.values())) for name in VARIANTS),
            )
        )
        prof_rows.append(
            ("timed median (profiler off)", *(fmt_ms(seconds[name]) for name in VARIANTS))
        )
        prof_rows.append(
            (
                "other load while profiling (cores)",
                *(f"{profiles[name].foreign:.2f}" for name in VARIANTS),
            )
        )
        profile_table = markdown_table(
            (
                f"Per step, by op (torch.profiler self CPU time, median of {args.profile_steps} steps)",
                "(a) ours",
                "(b) naive",
                "(c) ours, padded",
            ),
            prof_rows,
        )
    sweep_table = markdown_table(
        ("`model.unembed` forward, no grad: rows", *(str(m) for m in row_counts)),
        [("median of 5", *(f"{sweep[m] * 1e3:.0f} ms" for m in row_counts))],
    )

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(f"{p} {package_version(p)}" for p in ("transformers", "transformer-lens"))
    cut = f" (the time budget cut it to {len(done)})" if len(done) < args.repeats else ""
    short = sum(c < PAD_ROWS for c in stats.completion)
    triple = triples[index]
    unembed_mb = gemma.unembed_bytes / 1e6
    cliff = sweep[completion] > 1.2 * sweep[padded_rows]
    gflops_s = {name: work[name].flops / seconds[name] / 1e9 for name in work}
    scale = {name: seconds[name] / work[name].seconds(machine) for name in ("naive", "ours_pad")}
    low, high = (f"{x:.1f}×" for x in (min(scale.values()), max(scale.values())))
    scale_text = low if low == high else f"{low}–{high}"
    reading = (
        f"Reading. The FLOP model misses because at T = {tokens} rows the GEMMs are far from "
        "compute-bound: each multiplies a few dozen rows by a large weight matrix, so streaming "
        f"the weights costs about as much as the arithmetic ((a), (b), (c) ran at "
        f"{gflops_s['ours']:.0f}, {gflops_s['naive']:.0f}, {gflops_s['ours_pad']:.0f} GFLOP/s against "
        f"a {machine.peak / 1e9:.0f} GFLOP/s GEMM peak). The {unembed_mb:.0f} MB fp32 unembedding "
        "(tied to the embedding) is read once forward and once backward whether it multiplies "
        f"C = {completion} or T = {tokens} rows, so skipping the prompt positions saves much less "
        f"time than the {1 - completion / tokens:.0%} of unembedding FLOPs it saves; the blocks "
        f"(a) skips (0–{LAYER}, forward only) weigh {LAYER + 1} × {gemma.block_bytes / 1e6:.1f} MB. "
        "The refined model adds that traffic at the measured bandwidth. The measured times of "
        f"(b) and (c) are {scale_text} its absolute "
        "predictions (skinny GEMMs reach neither the peak nor the bandwidth of the "
        "microbenchmarks), and it leaves out per-op "
        "costs (Gemma's four norms per block, attention softmax, rotary, dispatch: the profile's "
        f"'rest' row); (b) runs {gemma.n_layers + gemma.above} block passes, (a) and (c) "
        f"{2 * gemma.above}, so these scale about like the block GEMMs."
    )
    if cliff:
        reading += (
            f" What the refined model cannot see is the kernel: `model.unembed` on {completion} "
            f"rows takes {sweep[completion] * 1e3:.0f} ms against {sweep[padded_rows] * 1e3:.0f} ms "
            f"on {padded_rows} (row sweep above): this torch/MKL build takes a slower fp32 GEMM "
            f"path below {PAD_ROWS} rows against the transposed {vocab} × {model.d_model} weight, "
            "growing with the rows. In the profile the unembedding forward took "
            f"{ms('ours', CATEGORIES[0])} in (a) at {completion} rows, {ms('naive', CATEGORIES[0])} "
            f"in (b) at {tokens} rows and {ms('ours_pad', CATEGORIES[0])} in (c) at {padded_rows}. "
            f"{short} of the {n} sampled pairs have C < {PAD_ROWS}, so (a) usually hits it; "
            f"padding the unembedded rows to a multiple of {PAD_ROWS}, as (c) does, takes "
            f"{fix.text()} of (a)'s step time: the fix this suggests for "
            "`UpperStack.completion_logprobs` on CPU."
        )
    else:
        reading += f" At C = {completion} rows the unembedding GEMM shows no slow path (row sweep)."
    paragraphs = [
        SECTION,
        (
            f"`python bench/bench_bipo.py --repeats {args.repeats}` (seed {args.seed}), {now}, "
            f"{elapsed:.0f} s ({loop_seconds:.0f} s timed loop)."
        ),
        "\n".join(
            [
                (
                    f"- Machine: {cpu_model()}, {os.cpu_count()} CPU cores, no GPU; torch "
                    f"{torch.__version__} ({torch.get_num_threads()} threads, the default), "
                    f"{versions}, Python {platform.python_version()}; measured here: fp32 GEMM "
                    f"peak {machine.peak / 1e9:.0f} GFLOP/s (1024×640×8192), memory bandwidth "
                    f"{machine.bandwidth / 1e9:.1f} GB/s (sum over 256 MB), best of 7 each."
                ),
                (
                    f"- Model: {model.name}, fp32, {model.n_layers} blocks, d_model {model.d_model}, "
                    f"vocabulary {vocab}; v added after block {LAYER}; weights frozen, so backward "
                    f"computes activation gradients only, and only above layer {LAYER}, in every path."
                ),
                (
                    f"- Data: {n} Tatoeba {args.lang}–en pairs (seed {args.seed}) as BiPO triples "
                    f"(prompt = {args.lang} text + newline, chosen = English, rejected = the "
                    f"{args.lang} text). Per pair (chosen and rejected padded to one width, as "
                    f"`learn_bipo` batches them): width {quartiles(stats.width)}; real tokens "
                    f"{quartiles(stats.real)}; completion-predicting positions C "
                    f"{quartiles(stats.completion)}; {short}/{n} pairs have C < {PAD_ROWS}."
                ),
                (
                    f"- Timed batch: triple #{index} (median width, then median C): prompt "
                    f"{triple.prompt!r}, chosen {triple.chosen!r}, rejected {triple.rejected!r}; "
                    f"T = 2 × {width} = {tokens} positions ({real} real tokens), C = {completion}."
                ),
                (
                    f"- Step: loss = -log σ(β·margin), β = {config.beta}, reference log-probs "
                    f"precomputed; `zero_grad`, `backward`, AdamW (lr {config.lr}, weight decay "
                    f"{config.weight_decay}) on v only; each variant steps its own v, started at a "
                    f"random direction of norm {0.05 * resid_norm:.0f} (5% of the mean residual norm)."
                ),
                (
                    f"- Method: {args.warmup} warm-up and {args.repeats} timed steps per "
                    f"variant{cut}, the variants interleaved (order alternating), GC outside the "
                    "timed region; ratios of medians, intervals a paired bootstrap over repeats."
                ),
                (
                    f"- Other processes: 1-min load average {load_before[0]:.2f} before, "
                    f"{load_after[0]:.2f} after; {waiter.waited:.0f} s spent waiting for quiet; "
                    f"quiet repeats (other processes under {args.quiet_below} cores during each "
                    f"call): {len(quiet)}/{len(done)}."
                ),
            ]
        ),
        summary,
        (
            f"Checks before timing, at the starting v (loss {ref_loss:.5f}): loss relative "
            f"difference to (b) {agreement['ours'][0]:.1e} for (a), {agreement['ours_pad'][0]:.1e} "
            f"for (c); cosine of v's gradient with (b)'s {agreement['ours'][1]:.7f} (a), "
            f"{agreement['ours_pad'][1]:.7f} (c) (targets: < 1e-4, > 0.9999)."
        ),
        f"FLOP model: {gemma.flop_text(tokens, completion)}.",
        (
            f"Refined model: time = FLOPs / {machine.peak / 1e9:.0f} GFLOP/s + bytes / "
            f"{machine.bandwidth / 1e9:.1f} GB/s (no overlap), with {gemma.byte_text(tokens, completion)}; "
            f"ratio {refined_ratio['ours']:.3f} for (a), {refined_ratio['ours_pad']:.3f} for (c); "
            f"with peak and bandwidth each off by up to 25% (they vary between runs) "
            f"{spans['ours'][0]:.3f}–{spans['ours'][1]:.3f} and "
            f"{spans['ours_pad'][0]:.3f}–{spans['ours_pad'][1]:.3f}. "
            "The passes over the logits are counted from the ops in the profiles (see the script)."
        ),
        (
            f"Llama-2-7B (32 blocks, d_model 4096, gated MLP 11008, 32 heads, vocabulary 32000, "
            f"L = {LLAMA2_LAYER}), same T = {tokens} and C = {completion}: FLOP model "
            f"{llama.flop_text(tokens, completion)}; {llama.byte_text(tokens, completion)}; "
            f"refined model with this machine's peak and bandwidth (fp32) {llama_refined:.3f}. Its "
            f"unembedding is small next to 32 blocks, so the models agree there (FLOPs "
            f"{llama_flops:.3f}, bytes {llama_bytes:.3f}): the saving is the {LLAMA2_LAYER + 1} "
            "blocks below v, forward only."
        ),
        timings,
    ]
    if profile_table:
        paragraphs.append(profile_table)
    paragraphs += [sweep_table, reading]
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
