"""GPU benchmark (issue 10): mlsteer's own code paths against plain Hugging Face, on random-weight
models of real shapes built directly on the device (nothing is downloaded).

Shapes: ``llama-2-7b`` (32 layers, d_model 4096, MLP 11008, 32 heads, vocab 32000; the GPU
target, bf16), ``gemma-3-270m`` (18 layers, d_model 640, vocab 262144), and ``--small`` (the
tiny test shapes: a CI smoke test, untimed). Two copies of the model are built from one seed:
a plain HF model (SDPA) and one behind mlsteer's bridge (SDPA through
:mod:`mlsteer.models.attention`). Measured, each as a ratio against its baseline:

1. bridge forward / plain HF forward (same batch, logits at every position)          <= 1.10
2. steered / unsteered bridge forward (a vector at the middle layer)                 <= 1.02
3. ``cache_activations`` to the middle layer / full bridge forward                    (report)
4. greedy generation tokens/s, steered ``mlsteer.generate`` / HF ``generate`` with a
   plain forward hook adding the same vector at the same layer                         >= 0.80
5. multiple-choice scoring items/s (``score_choices``, cloze prompts)                  (report)
6. one BiPO epoch (``encode_preferences`` + ``learn_bipo``), triples/s                 (report)
7. peak GPU memory of a steered bridge forward / plain HF forward, each counted as one
   copy of the weights plus that forward's peak activations (CUDA allocator stats)   <= 1.10

Timing: warm-up calls, then the two variants of a ratio interleaved (order alternating),
``torch.cuda.synchronize`` around each call, medians. Results go to
``bench/results/bench_gpu_{shape}_{device}.json`` and are printed against the targets.

Usage:
    python bench/bench_gpu.py --small                                       # CI smoke test (CPU, seconds)
    python bench/bench_gpu.py --device cuda --shape llama-2-7b --dtype bfloat16   # one GPU, ~5 min
    python bench/bench_gpu.py --device cpu --shape gemma-3-270m --dtype float32   # the CPU numbers in BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig, PretrainedConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchkit import Waiter, interleaved, median, timed

from mlsteer.activations import cache_activations
from mlsteer.activations.preferences import encode_preferences
from mlsteer.data import builtin_pairs
from mlsteer.data.preferences import triples_from_parallel
from mlsteer.evaluation.scoring import score_choices
from mlsteer.evaluation.tasks import get_task
from mlsteer.learners import BipoConfig, learn_bipo
from mlsteer.models.devices import parse_dtype, resolve_device
from mlsteer.models.loading import wrap_hf_model
from mlsteer.models.tiny import tiny_tokenizer
from mlsteer.models.upper import UpperStack
from mlsteer.models.wrapper import SteerableModel
from mlsteer.steering import SteeringVector, generate, steer

TARGETS = {  # metric -> (comparison, bound); the GPU targets of issue 10 (Llama-2-7B shape, bf16)
    "bridge_vs_hf_forward": ("<=", 1.10),
    "steered_vs_unsteered": ("<=", 1.02),
    "generation_vs_hf_generate": (">=", 0.80),
    "peak_memory_vs_hf": ("<=", 1.10),
}


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does (per shape)."""

    batch: int  # texts per forward
    seq: int  # tokens per text
    repeats: int  # timed calls per variant
    new_tokens: int  # generated per prompt
    gen_batch: int
    items: int  # MC items scored
    triples: int  # BiPO triples in its one epoch
    bipo_batch: int


SIZES = {
    "small": Sizes(
        batch=2, seq=16, repeats=1, new_tokens=4, gen_batch=2, items=4, triples=4, bipo_batch=2
    ),
    "gemma-3-270m": Sizes(
        batch=4, seq=64, repeats=7, new_tokens=16, gen_batch=2, items=16, triples=16, bipo_batch=4
    ),
    "llama-2-7b": Sizes(
        batch=8, seq=512, repeats=10, new_tokens=64, gen_batch=8, items=64, triples=64, bipo_batch=8
    ),
}


def model_config(shape: str, small: bool) -> PretrainedConfig:
    """The HF config of ``shape`` (``--small``: the tiny test models' width and depth)."""
    special = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2, attn_implementation="sdpa")
    if shape == "llama-2-7b":
        dims = (
            dict(
                hidden_size=64,
                intermediate_size=128,
                num_hidden_layers=4,
                num_attention_heads=4,
                num_key_value_heads=4,
                vocab_size=512,
            )
            if small
            else dict(
                hidden_size=4096,
                intermediate_size=11008,
                num_hidden_layers=32,
                num_attention_heads=32,
                num_key_value_heads=32,
                vocab_size=32000,
            )
        )
        return LlamaConfig(
            **dims, max_position_embeddings=4096, architectures=["LlamaForCausalLM"], **special
        )
    dims = (
        dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=16,
            vocab_size=512,
        )
        if small
        else dict(
            hidden_size=640,
            intermediate_size=2048,
            num_hidden_layers=18,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=256,
            vocab_size=262144,
        )
    )
    return Gemma3TextConfig(
        **dims,
        sliding_window=512,
        max_position_embeddings=32768,
        query_pre_attn_scalar=256,
        architectures=["Gemma3ForCausalLM"],
        **special,
    )


def build(
    config: PretrainedConfig, device: torch.device, dtype: torch.dtype, seed: int
) -> torch.nn.Module:
    """Random weights allocated on ``device`` in ``dtype`` from the start (no CPU copy)."""
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return model.eval().requires_grad_(False)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of one call, the device synchronised around it."""
    return timed(fn, lambda: sync(device))()


def compare(
    a: Callable[[], object],
    b: Callable[[], object],
    device: torch.device,
    repeats: int,
    warmup: int = 1,
) -> dict:
    """Median seconds of ``a`` and ``b`` (benchkit's interleaving, order alternating) and their
    ratio a/b. No waiting for a quiet machine: on a GPU the host's other load hardly matters."""
    samples = interleaved(
        {"a": timed(a, lambda: sync(device)), "b": timed(b, lambda: sync(device))},
        repeats,
        warmup,
        "compare",
        Waiter(budget=0.0, threshold=float("inf")),
        float("inf"),
    )
    med_a, med_b = (median([s.seconds for s in samples[k]]) for k in ("a", "b"))
    return {"a_s": med_a, "b_s": med_b, "ratio": med_a / med_b, "repeats": repeats}


def peak_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Peak CUDA memory ``fn`` allocates above what was allocated before it."""
    sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    sync(device)
    return torch.cuda.max_memory_allocated(device) - before


def hf_steering_hook(delta: torch.Tensor):
    """A plain HF forward hook adding ``delta`` to a decoder layer's output (tensor or tuple)."""

    def hook(module, inputs, output):
        if isinstance(output, tuple):
            return (output[0] + delta, *output[1:])
        return output + delta

    return hook


def run(args: argparse.Namespace) -> dict:
    device, dtype = resolve_device(args.device), parse_dtype(args.dtype)
    shape_key = "small" if args.small else args.shape
    sizes = SIZES[shape_key]
    config = model_config(args.shape, args.small)
    tokenizer = (
        tiny_tokenizer()
    )  # ids < 512 are valid in every vocabulary here; text content is irrelevant
    started = time.perf_counter()
    hf = build(config, device, dtype, args.seed)
    model: SteerableModel = wrap_hf_model(
        build(config, device, dtype, args.seed),
        tokenizer,
        f"bench/{shape_key}",
        f"bench/{shape_key}",
    )
    assert model.attn_implementation == "sdpa"
    layer = model.n_layers // 2
    weight_bytes = sum(p.numel() * p.element_size() for p in hf.parameters())
    generator = torch.Generator().manual_seed(args.seed)
    ids = torch.randint(3, 512, (sizes.batch, sizes.seq), generator=generator).to(device)
    mask = torch.ones_like(ids)
    # a vector of a tenth of the residual norm at the layer: it steers, and keeps logits finite in fp16
    with torch.inference_mode():
        resid_norm = cache_activations(
            model, ["The cat sits on the mat."], [layer], pooling="mean", progress=False
        ).norm()
    direction = torch.randn(model.d_model, generator=generator)
    vector = SteeringVector(
        direction * (0.1 * float(resid_norm) / float(direction.norm())),
        layer,
        "bench",
        model.fingerprint,
    )
    results: dict[str, dict] = {}
    reps = sizes.repeats

    @torch.inference_mode()
    def hf_forward():
        return hf(input_ids=ids, attention_mask=mask).logits

    @torch.inference_mode()
    def bridge_forward():
        return model.bridge(ids, attention_mask=mask)

    @torch.inference_mode()
    def steered_forward():
        with steer(model, vector, include_bos=True):
            return model.bridge(ids, attention_mask=mask)

    texts = [tokenizer.decode(row[: sizes.seq - 1]) for row in ids.cpu()]  # ~seq tokens each

    def cache_middle():
        return cache_activations(
            model, texts, [layer], pooling="mean", batch_size=sizes.batch, progress=False
        )

    print(f"[{time.perf_counter() - started:5.0f} s] forward", flush=True)
    results["bridge_vs_hf_forward"] = compare(bridge_forward, hf_forward, device, reps)
    results["steered_vs_unsteered"] = compare(steered_forward, bridge_forward, device, reps)
    results["cache_middle_vs_full_forward"] = compare(cache_middle, bridge_forward, device, reps)

    print(f"[{time.perf_counter() - started:5.0f} s] generation", flush=True)
    prompts = texts[: sizes.gen_batch] * max(1, sizes.gen_batch // len(texts))
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left").to(device)
    delta = vector.vector.to(device=device, dtype=dtype)
    # both run the full budget (random weights may emit EOS)
    hf.generation_config.eos_token_id = None
    hf.generation_config.pad_token_id = 0

    def ours_generate():
        with steer(model, vector, include_bos=True):
            return generate(model, prompts, max_new_tokens=sizes.new_tokens, stop_at_eos=False)

    @torch.inference_mode()
    def hf_generate():
        handle = hf.get_decoder().layers[layer].register_forward_hook(hf_steering_hook(delta))
        try:
            return hf.generate(
                **encoded,
                max_new_tokens=sizes.new_tokens,
                min_new_tokens=sizes.new_tokens,
                do_sample=False,
            )
        finally:
            handle.remove()

    gen = compare(ours_generate, hf_generate, device, max(1, reps // 3))
    tokens = len(prompts) * sizes.new_tokens
    results["generation_vs_hf_generate"] = {
        **gen,
        "ratio": gen["b_s"] / gen["a_s"],  # tokens/s ours / HF
        "ours_tokens_per_s": tokens / gen["a_s"],
        "hf_tokens_per_s": tokens / gen["b_s"],
    }

    print(f"[{time.perf_counter() - started:5.0f} s] scoring", flush=True)
    task = get_task("cloze")
    queries = [
        task.render(example) for example in task.load("es", limit=sizes.items, seed=args.seed)
    ]
    took = seconds(lambda: score_choices(model, queries, batch_size=32), device)
    results["mc_scoring"] = {"items": len(queries), "s": took, "items_per_s": len(queries) / took}

    print(f"[{time.perf_counter() - started:5.0f} s] bipo", flush=True)
    triples = triples_from_parallel(builtin_pairs("es").subset(list(range(sizes.triples))))

    def bipo_epoch():
        data = encode_preferences(model, triples, layer, progress=False).to(
            model.layer_device(layer)
        )
        upper = UpperStack(model, layer)
        return learn_bipo(
            data,
            upper.completion_logprobs,
            model_fingerprint=model.fingerprint,
            progress=False,
            config=BipoConfig(epochs=1, batch_size=sizes.bipo_batch, lr_per_resid_rms=True),
        )

    took = seconds(bipo_epoch, device)
    results["bipo_epoch"] = {
        "triples": len(triples),
        "batch_size": sizes.bipo_batch,
        "s": took,
        "triples_per_s": len(triples) / took,
    }

    if device.type == "cuda":
        ours, theirs = peak_bytes(steered_forward, device), peak_bytes(hf_forward, device)
        results["peak_memory_vs_hf"] = {
            "weights_bytes": weight_bytes,
            "bridge_forward_peak_bytes": ours,
            "hf_forward_peak_bytes": theirs,
            "ratio": (weight_bytes + ours) / (weight_bytes + theirs),
        }
    else:
        results["peak_memory_vs_hf"] = {
            "ratio": None,
            "note": "CUDA allocator statistics only; not measured on CPU",
        }
    meta = {
        "shape": shape_key,
        "device": str(device),
        "dtype": args.dtype,
        "layer": layer,
        "sizes": sizes.__dict__,
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "seconds": time.perf_counter() - started,
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": os.getloadavg()[0],
    }
    return {"meta": meta, "results": results}


def report(record: dict, timed_run: bool) -> str:
    lines = ["| measurement | ratio | detail | target | result |", "|---|---|---|---|---|"]
    for name, values in record["results"].items():
        ratio = values.get("ratio")
        detail = {
            "generation_vs_hf_generate": lambda v: (
                f"{v['ours_tokens_per_s']:.1f} vs {v['hf_tokens_per_s']:.1f} tokens/s"
            ),
            "mc_scoring": lambda v: f"{v['items_per_s']:.2f} items/s ({v['items']} items)",
            "bipo_epoch": lambda v: (
                f"{v['s']:.2f} s for {v['triples']} triples ({v['triples_per_s']:.2f}/s)"
            ),
            "peak_memory_vs_hf": lambda v: (
                v.get("note")
                or f"{(v['weights_bytes'] + v['bridge_forward_peak_bytes']) / 2**30:.2f} vs "
                f"{(v['weights_bytes'] + v['hf_forward_peak_bytes']) / 2**30:.2f} GiB"
            ),
        }.get(name, lambda v: f"{v['a_s'] * 1e3:.1f} vs {v['b_s'] * 1e3:.1f} ms")(values)
        target = TARGETS.get(name)
        verdict = "–"
        if target and ratio is not None and timed_run:
            ok = ratio <= target[1] if target[0] == "<=" else ratio >= target[1]
            verdict = "pass" if ok else "FAIL"
        lines.append(
            f"| {name} | {'–' if ratio is None else f'{ratio:.3f}'} | {detail} | "
            f"{f'{target[0]} {target[1]:.2f}' if target else '–'} | {verdict} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=("llama-2-7b", "gemma-3-270m"), default="llama-2-7b")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--dtype", default="bfloat16", help="float32, bfloat16 or float16")
    parser.add_argument(
        "--small", action="store_true", help="tiny shapes on the CPU, untimed: a smoke test for CI"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out",
        default=None,
        help="JSON file (default bench/results/bench_gpu_{shape}_{device}.json; '' = none)",
    )
    args = parser.parse_args(argv)
    if args.small:
        args.device, args.dtype = "cpu", "float32"
    torch.set_grad_enabled(True)
    record = run(args)
    meta = record["meta"]
    print(
        f"\n{meta['shape']} {meta['dtype']} on {meta['device']} ({meta['device_name']}), {meta['seconds']:.0f} s"
        + (" — smoke test, not timed against targets" if args.small else "")
    )
    print(report(record, timed_run=not args.small))
    out = (
        args.out
        if args.out is not None
        else str(
            Path(__file__).parent
            / "results"
            / f"bench_gpu_{meta['shape']}_{meta['device'].replace(':', '')}.json"
        )
    )
    if out and not args.small:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(record, indent=1))
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
