"""Peer benchmark (issue 12): mlsteer against steering-vectors, nnsight and raw HF hooks.

On the embedded Gemma 3 270M, one steering vector (mean difference of Spanish and English
builtin pairs at layer 6, resid_post, added at every position), four implementations, three
workloads, each the whole call a user makes (steering set up and removed inside it):

1. steered forward: logits of a batch of texts (right-padded, one tokenization for all);
2. steered greedy generation: ``mlsteer.steering.generate`` vs HF ``generate`` (left padding,
   ``N`` new tokens, no EOS stop) with each peer's steering;
3. caching to layer 6: mean-pooled resid_post (BOS left out) of a batch of texts, tokenization
   included. Raw HF stops the forward with an exception after layer 6 (the fastest way a hook
   user has), nnsight with ``tracer.stop()``; steering-vectors' ``record_activations`` has no
   stop, so it runs the whole model.

Raw HF, steering-vectors and nnsight share no weights with mlsteer: the bridge swaps the HF
model's modules for its own, so they run on a plain HF copy (nnsight on one of its own). Before
timing, every peer's logits, pooled activations and generated tokens must match raw HF (logits
and activations within ``FORWARD_ULPS`` ulps of their largest magnitude, tokens exactly), else
the script stops. Timing from benchkit.py: torch threads
fixed, ``torch.inference_mode``, warm-up, the four peers interleaved, medians over quiet
repeats, bootstrap intervals of each ratio to raw HF. Targets: mlsteer within 1.05x of the
fastest peer on forward and generation, and no slower than the fastest on caching.

steering-vectors 0.12.2 pins transformers<5, so it is installed with ``--no-deps`` (it runs on
transformers 5: it adds in place to the decoder layer's output tensor).

    HF_HUB_OFFLINE=1 python bench/bench_peers.py          # ~4 min on 2 quiet cores
    python bench/bench_peers.py --small --out '' --json ''   # smoke test, ~1 min, untimed
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from bench_foundation import TEXTS
from bench_gpu import hf_steering_hook
from benchkit import (
    Ratio,
    Waiter,
    add_run_args,
    cpu_model,
    interleaved,
    markdown_table,
    median,
    package_version,
    quiet_repeats,
    timed,
    update_benchmarks_md,
)
from torch import Tensor

from mlsteer.activations import cache_activations, encode_batch, pool
from mlsteer.data import builtin_pairs
from mlsteer.learners.mean_difference import learn_mean_difference
from mlsteer.models import load_model
from mlsteer.models.loading import load_hf
from mlsteer.models.wrapper import SteerableModel
from mlsteer.steering import SteeringVector, generate, steer

SECTION = "## Peers: steering-vectors, nnsight, raw HF hooks (issue 12)"
LAYER = 6
FORWARD_ULPS = 1024  # tests/tolerances.py FORWARD: a whole forward in another kernel order
BASELINE = "raw HF"
PEERS = ("mlsteer", BASELINE, "steering-vectors", "nnsight")
WORKLOADS = ("forward", "generation", "caching")
PACKAGES = {
    "mlsteer": "mlsteer",
    BASELINE: "transformers",
    "steering-vectors": "steering-vectors",
    "nnsight": "nnsight",
}
TARGETS = {
    "forward": 1.05,
    "generation": 1.05,
    "caching": 1.0,
}  # mlsteer / fastest other peer, at most


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does and how often it is timed."""

    texts: int  # forward and caching batch (bench_foundation's texts, ~30 tokens each)
    prompts: int  # generation batch
    new_tokens: int
    pairs: int  # builtin pairs the vector is learned from
    repeats: int  # timed calls per peer (generation: a third, at least 3)
    warmup: int


SIZES = {
    "full": Sizes(texts=8, prompts=4, new_tokens=32, pairs=32, repeats=15, warmup=2),
    "small": Sizes(texts=2, prompts=2, new_tokens=3, pairs=4, repeats=1, warmup=0),
}


class StopForward(Exception):
    """Raised by a capturing hook once the layer it reads has run: nothing above it is needed."""


@dataclass
class Workloads:
    """One implementation's three workloads; each returns what the others are compared with."""

    forward: Callable[[], Tensor]  # steered logits [batch, pos, vocab]
    generation: Callable[[], Tensor]  # new token ids [prompts, new_tokens]
    caching: Callable[[], Tensor]  # mean-pooled resid_post at LAYER [texts, d_model]


@dataclass(frozen=True)
class Inputs:
    """The batches every implementation runs on."""

    texts: list[str]
    ids: Tensor  # right-padded
    mask: Tensor
    prompts: list[str]
    new_tokens: int


def learn_vector(model: SteerableModel, n_pairs: int) -> SteeringVector:
    """Mean difference English - Spanish at LAYER over ``n_pairs`` builtin pairs (source: the
    target language, as mlsteer's learners take it): a realistic direction and norm."""
    pairs = builtin_pairs("es").subset(list(range(n_pairs)))
    spanish, english = (
        cache_activations(model, list(side), LAYER, pooling="mean", progress=False)[:, 0]
        for side in (pairs.target, pairs.english)
    )
    return learn_mean_difference(
        spanish, english, layer=LAYER, model_fingerprint=model.fingerprint
    ).steering


def make_inputs(model: SteerableModel, sizes: Sizes) -> Inputs:
    """Texts tokenized once the way mlsteer does (right padding, BOS first)."""
    texts = list(TEXTS[: sizes.texts])
    batch = encode_batch(model, texts)
    prompts = [
        text.split(",")[0] for text in texts[: sizes.prompts]
    ]  # prompts of unequal length: padding matters
    return Inputs(texts, batch.input_ids, batch.attention_mask, prompts, sizes.new_tokens)


def plain_hf(seed: int):
    """A plain HF Gemma (no bridge) that generates the full budget: EOS does not stop it."""
    hf_model, tokenizer, *_ = load_hf("gemma-3-270m", seed=seed)
    hf_model.generation_config.eos_token_id = None
    hf_model.generation_config.pad_token_id = tokenizer.pad_token_id
    return hf_model, tokenizer


def new_tokens(hf_model, tokenizer, inputs: Inputs) -> Tensor:
    """HF greedy ``generate`` on left-padded prompts; only the new tokens."""
    encoded = tokenizer(inputs.prompts, return_tensors="pt", padding=True, padding_side="left")
    out = hf_model.generate(**encoded, max_new_tokens=inputs.new_tokens, do_sample=False)
    return out[:, encoded["input_ids"].shape[1] :]


def pooled_tokenized(tokenizer, texts: list[str], run: Callable[[dict], Tensor]) -> Tensor:
    """Tokenize ``texts`` as mlsteer does (right padding), ``run`` returns per-token residuals,
    mean-pool them over real tokens without BOS (the peers' side of ``cache_activations``)."""
    encoded = tokenizer(texts, return_tensors="pt", padding=True, padding_side="right")
    mask = encoded["attention_mask"].bool()
    mask[:, 0] = False  # BOS (right padding: every row starts with it)
    return pool(run(encoded), mask, "mean").float()


def mlsteer_workloads(model: SteerableModel, vector: SteeringVector, inputs: Inputs) -> Workloads:
    def forward() -> Tensor:
        with steer(model, vector, include_bos=True):
            return model.bridge(inputs.ids, attention_mask=inputs.mask)

    def generation() -> Tensor:
        with steer(model, vector, include_bos=True):
            return generate(
                model, inputs.prompts, max_new_tokens=inputs.new_tokens, stop_at_eos=False
            ).tokens

    def caching() -> Tensor:
        return cache_activations(
            model, inputs.texts, LAYER, pooling="mean", batch_size=len(inputs.texts), progress=False
        )[:, 0]

    return Workloads(forward, generation, caching)


def raw_hf_workloads(hf_model, tokenizer, vector: Tensor, inputs: Inputs) -> Workloads:
    """``register_forward_hook`` on the decoder layer: add the vector, or capture and stop."""
    layer = hf_model.model.layers[LAYER]

    def steered(fn: Callable[[], Tensor]) -> Callable[[], Tensor]:
        def run() -> Tensor:
            handle = layer.register_forward_hook(hf_steering_hook(vector))
            try:
                return fn()
            finally:
                handle.remove()

        return run

    def run_to_layer(encoded: dict) -> Tensor:
        captured: list[Tensor] = []

        def capture(module, args, output) -> None:
            captured.append(output[0] if isinstance(output, tuple) else output)
            raise StopForward

        handle = layer.register_forward_hook(capture)
        try:
            hf_model(**encoded)
        except StopForward:
            pass
        finally:
            handle.remove()
        return captured[0]

    return Workloads(
        forward=steered(lambda: hf_model(input_ids=inputs.ids, attention_mask=inputs.mask).logits),
        generation=steered(lambda: new_tokens(hf_model, tokenizer, inputs)),
        caching=lambda: pooled_tokenized(tokenizer, inputs.texts, run_to_layer),
    )


def steering_vectors_workloads(hf_model, tokenizer, vector: Tensor, inputs: Inputs) -> Workloads:
    """steering-vectors' ``SteeringVector.apply`` and ``record_activations`` (decoder blocks)."""
    from steering_vectors import SteeringVector as PeerVector
    from steering_vectors import record_activations

    peer = PeerVector(layer_activations={LAYER: vector}, layer_type="decoder_block")

    def forward() -> Tensor:
        with peer.apply(hf_model):
            return hf_model(input_ids=inputs.ids, attention_mask=inputs.mask).logits

    def generation() -> Tensor:
        with peer.apply(hf_model):
            return new_tokens(hf_model, tokenizer, inputs)

    def record(encoded: dict) -> Tensor:
        with record_activations(
            hf_model, "decoder_block", layer_nums=[LAYER], clone_activations=False
        ) as records:
            hf_model(**encoded)
        return records[LAYER][0]

    return Workloads(forward, generation, lambda: pooled_tokenized(tokenizer, inputs.texts, record))


def nnsight_workloads(hf_model, tokenizer, vector: Tensor, inputs: Inputs) -> Workloads:
    """nnsight traces: set the layer's output, ``tracer.iter`` over generation steps,
    ``tracer.stop()`` after saving the layer's output."""
    from nnsight import TransformersModel

    lm = TransformersModel(hf_model, tokenizer=tokenizer, task="text-generation")
    block = lm.model.layers[LAYER]

    def forward() -> Tensor:
        with lm.trace(input_ids=inputs.ids, attention_mask=inputs.mask):
            block.output = block.output + vector
            logits = lm.output.logits.save()
        return logits

    def generation() -> Tensor:
        encoded = tokenizer(inputs.prompts, return_tensors="pt", padding=True, padding_side="left")
        with lm.generate(**encoded, max_new_tokens=inputs.new_tokens, do_sample=False) as tracer:
            for _ in tracer.iter[: inputs.new_tokens]:
                block.output = block.output + vector
            ids = tracer.result.save()
        return ids[:, encoded["input_ids"].shape[1] :]

    def run_to_layer(encoded: dict) -> Tensor:
        with lm.trace(**encoded) as tracer:
            hidden = block.output.save()
            tracer.stop()
        return hidden

    return Workloads(
        forward, generation, lambda: pooled_tokenized(tokenizer, inputs.texts, run_to_layer)
    )


def build_peers(
    model: SteerableModel, vector: SteeringVector, inputs: Inputs, seed: int
) -> dict[str, Workloads]:
    """Every implementation that imports; a missing peer is reported and left out."""
    hf_model, tokenizer = plain_hf(seed)
    delta = vector.vector.to(hf_model.dtype)
    peers = {
        "mlsteer": mlsteer_workloads(model, vector, inputs),
        BASELINE: raw_hf_workloads(hf_model, tokenizer, delta, inputs),
    }
    for name, make, own_copy in (
        ("steering-vectors", steering_vectors_workloads, False),
        ("nnsight", nnsight_workloads, True),
    ):
        try:
            # nnsight gets a model of its own, so its instrumentation cannot touch the others' timings
            peers[name] = make(
                *(plain_hf(seed) if own_copy else (hf_model, tokenizer)), delta, inputs
            )
        except ImportError as error:
            print(
                f"{name} left out: {error} (pip install -e '.[bench]'; see the Makefile's bench target)",
                file=sys.stderr,
            )
        except Exception as error:
            print(
                f"{name} left out: it fails here ({type(error).__name__}: {error})", file=sys.stderr
            )
    return peers


def check_agreement(peers: dict[str, Workloads]) -> dict[str, dict[str, float]]:
    """Every peer's steered logits and cached activations within FORWARD_ULPS ulps of raw HF's
    largest magnitude, and its generated tokens equal; exits with a message otherwise. A peer
    that fails to run on these versions is reported and removed from ``peers``.
    Returns each peer's largest differences."""
    reference = {workload: getattr(peers[BASELINE], workload)() for workload in WORKLOADS}
    found: dict[str, dict[str, float]] = {}
    for name, workloads in list(peers.items()):
        try:
            outputs = {workload: getattr(workloads, workload)().cpu() for workload in WORKLOADS}
        except (
            Exception
        ) as error:  # a peer broken by this torch/transformers: say so, time the rest
            if name in ("mlsteer", BASELINE):
                raise
            print(
                f"{name} left out: it fails here ({type(error).__name__}: {error})", file=sys.stderr
            )
            del peers[name]
            continue
        found[name] = {}
        for workload, got in outputs.items():
            want = reference[workload].cpu()
            problem = disagreement(got, want)
            if problem:
                raise SystemExit(
                    f"{name} and {BASELINE} disagree on the {workload} workload: {problem}; "
                    "timings would compare different computations, so none are taken"
                )
            found[name][workload] = float((got.float() - want.float()).abs().max())
    return found


def disagreement(got: Tensor, want: Tensor) -> str:
    """Why ``got`` does not match ``want`` ('' if it does): shapes, exact integer tokens, or
    floats beyond ``FORWARD_ULPS · eps · max|want|`` (tests/tolerances.py's scaled bound)."""
    if got.shape != want.shape:
        return f"shapes {tuple(got.shape)} vs {tuple(want.shape)}"
    if not want.is_floating_point():
        rows = (got != want).any(dim=1).nonzero()[:, 0].tolist()
        return f"generated tokens differ in rows {rows}" if rows else ""
    bound = FORWARD_ULPS * torch.finfo(want.dtype).eps * float(want.abs().max())
    worst = float((got.float() - want.float()).abs().max())
    return f"max |difference| {worst:.3g} > bound {bound:.3g}" if not worst <= bound else ""


def time_workloads(
    peers: dict[str, Workloads],
    sizes: Sizes,
    args: argparse.Namespace,
    started: float,
    workloads: tuple[str, ...] = WORKLOADS,
) -> dict[str, dict]:
    """Per workload: median seconds of each peer over quiet repeats, its ratio to raw HF, and
    mlsteer's ratio to it (paired repeats, bootstrap interval); the workloads share what is
    left of ``args.max_seconds`` (counted from ``started``)."""
    waiter = Waiter(budget=args.max_wait, threshold=args.quiet_below)
    results: dict[str, dict] = {}
    for index, workload in enumerate(workloads):
        repeats = args.repeats or (
            sizes.repeats
            if workload != "generation"
            else max(min(sizes.repeats, 3), sizes.repeats // 3)
        )
        variants = {name: timed(getattr(workloads, workload)) for name, workloads in peers.items()}
        budget = (args.max_seconds - (time.time() - started)) / (len(workloads) - index)
        samples = interleaved(variants, repeats, sizes.warmup, workload, waiter, budget)
        quiet = quiet_repeats(samples, args.quiet_below) or list(range(len(samples[BASELINE])))
        results[workload] = {
            name: {
                "median_s": median([samples[name][i].seconds for i in quiet]),
                "ratio_to_raw_hf": asdict(Ratio.of(samples, name, BASELINE, quiet, args.seed)),
                "mlsteer_over": asdict(Ratio.of(samples, "mlsteer", name, quiet, args.seed)),
            }
            for name in peers
        }
        results[workload]["_repeats"] = {"taken": len(samples[BASELINE]), "quiet": len(quiet)}
    return results


def verdicts(results: dict[str, dict]) -> dict[str, dict]:
    """mlsteer / the fastest other peer per workload, against the issue's targets, with the
    interval of that ratio over paired repeats: when it spans the target, the two are within
    timing noise of each other."""
    out = {}
    for workload in results:
        bound = TARGETS[workload]
        others = {
            name: v["median_s"]
            for name, v in results[workload].items()
            if name not in ("mlsteer", "_repeats")
        }
        fastest = min(others, key=others.get)
        ratio = Ratio(**results[workload][fastest]["mlsteer_over"])
        out[workload] = {
            "fastest_peer": fastest,
            "mlsteer_over_fastest": ratio.value,
            "interval": [ratio.low, ratio.high],
            "target": bound,
            "met": ratio.value <= bound,
            "within_noise": ratio.low <= bound <= ratio.high,
        }
    return out


def table(results: dict[str, dict], targets: dict[str, dict]) -> str:
    """Markdown: median ms and ratio to raw HF (95% interval) per workload and peer; with no
    quiet repeat the medians are over all repeats (the last column says so: 0/n)."""
    peers = [name for name in PEERS if name in next(iter(results.values()))]
    rows = []
    for workload in results:
        cells = []
        for name in peers:
            entry = results[workload][name]
            cells.append(
                f"{entry['median_s'] * 1e3:.1f} ms ({Ratio(**entry['ratio_to_raw_hf']).text(2)})"
            )
        goal = targets[workload]
        low, high = goal["interval"]
        verdict = (
            f"{goal['mlsteer_over_fastest']:.2f}x {goal['fastest_peer']} ({low:.2f}–{high:.2f}; "
            f"≤ {goal['target']:.2f}: {'met' if goal['met'] else 'NOT met'}"
            + (", the target is inside the interval" if goal["within_noise"] else "")
            + ")"
        )
        repeats = results[workload]["_repeats"]
        rows.append((workload, *cells, verdict, f"{repeats['quiet']}/{repeats['taken']}"))
    return markdown_table(
        ("workload", *peers, "mlsteer / fastest peer (target)", "quiet/taken repeats"), rows
    )


def machine(sizes: Sizes, small: bool) -> dict:
    """Where and with what the numbers were taken."""
    return {
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "versions": {name: package_version(package) for name, package in PACKAGES.items()},
        "transformer_lens": package_version("transformer-lens"),
        "sizes": asdict(sizes),
        "small": small,
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": os.getloadavg()[0],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--small",
        action="store_true",
        help="tiny sizes and one repeat: a smoke test, untimed against targets",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch threads (default: torch's)",
    )
    parser.add_argument(
        "--only",
        choices=WORKLOADS,
        default=None,
        help="time one workload (its JSON goes to bench_peers_ONLY.json; BENCHMARKS.md untouched)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed repeats per workload (default: sizes')"
    )
    parser.add_argument(
        "--json",
        default=None,
        help="JSON results file (default bench/results/bench_peers.json, none with --small; '' = none)",
    )
    add_run_args(parser, SECTION, max_seconds=420.0)
    args = parser.parse_args(argv)
    if args.json is None:
        args.json = (
            ""
            if args.small
            else str(
                Path(__file__).resolve().parent
                / "results"
                / (f"bench_peers_{args.only}.json" if args.only else "bench_peers.json")
            )
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = SIZES["small" if args.small else "full"]
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with torch.inference_mode():
        model = load_model("gemma-3-270m")
        vector = learn_vector(model, sizes.pairs)
        inputs = make_inputs(model, sizes)
        peers = build_peers(model, vector, inputs, args.seed)
        differences = check_agreement(peers)
        print(
            f"agreement: logits, pooled activations and {inputs.new_tokens} generated tokens match {BASELINE} for "
            + ", ".join(peers),
            flush=True,
        )
        chosen = (args.only,) if args.only else WORKLOADS
        results = time_workloads(peers, sizes, args, time.time(), chosen)
    targets = verdicts(results)
    record = {
        "machine": machine(sizes, args.small),
        "vector_norm": vector.norm,
        "layer": LAYER,
        "max_abs_difference_to_raw_hf": differences,
        "results": results,
        "targets": targets,
    }
    meta = record["machine"]
    heading = (
        f"{meta['cpu']}, {meta['threads']} threads, torch {meta['torch']}; "
        + ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
        + (" — smoke test (--small), ratios indicative only" if args.small else "")
    )
    text = f"{SECTION}\n\nWritten by `bench/bench_peers.py` ({meta['when']}). {heading}.\n\n{table(results, targets)}\n"
    print("\n" + text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=1))
        print(f"wrote {args.json}")
    if args.out and not args.small and not args.only:
        update_benchmarks_md(Path(args.out), text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
