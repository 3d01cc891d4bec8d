"""Scoring benchmark (issues 4 and 11): shared-prefix multiple choice and batched generation.

On the embedded Gemma 3 270M and real benchmark items (seeded samples):

1. per task (XCOPA, XNLI, m_mmlu, M3Exam): items/s of today's default ``score_choices``
   (each context once, KV cache; one forward per item for letter answers) vs the padded layout
   it replaced (``score_choices_padded``: every option its own sequence), both 32 option rows
   per batch, next to the FLOP floor: the FLOPs the shared layout runs / those of the padded
   layout (blocks per token run + unembeddings per option token read), from the model config;
   targets XCOPA >= 1.6x, m_mmlu >= 3x, M3Exam >= 2.5x;
2. MGSM generation: tokens/s of ``mlsteer.generate`` (KV cache, left padding, finished rows
   leave the batch) vs HF ``generate`` on the same prompts and stop strings (target >= 0.9x);
3. steered / unsteered time of the shared scorer, a random vector at layer 6.

Timing from benchkit.py: warm-up, interleaved repeats,
medians, bootstrap intervals, and repeats taken while other processes were busy set aside.

    HF_HUB_OFFLINE=1 python bench/bench_scoring.py --data-dir ../shared/data   # ~30 min on 2 cores
    python bench/bench_scoring.py --tasks xcopa,m_mmlu --items 16                # one task's share

M3Exam dominates: its padded layout alone took ~230 s a repeat for 16 items on a 2-core AMD EPYC.
    python bench/bench_scoring.py --items 4 --repeats 3 --out ''                # quick, print only
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import torch
from benchkit import (
    Ratio,
    Waiter,
    add_run_args,
    cpu_model,
    default_data_dir,
    interleaved,
    markdown_table,
    median,
    predicted_flops,
    quiet_repeats,
    timed,
    update_benchmarks_md,
)

from mlsteer.evaluation.padded_scoring import score_choices_padded
from mlsteer.evaluation.runner import GENERATION_STOPS
from mlsteer.evaluation.scoring import TokenizedItem, score_choices, tokenize_items
from mlsteer.evaluation.tasks import get_task
from mlsteer.models import load_model
from mlsteer.steering import SteeringVector, generate, steer

SECTION = "## Multiple-choice scoring and generation (issues 4, 11)"
TASKS = (("xcopa", "sw", 1.6), ("xnli", "sw", None), ("m_mmlu", "es", 3.0), ("m3exam", "sw", 2.5))
BATCH = 32  # option rows per forward, both layouts


def flop_floor(items: list[TokenizedItem], block: float, unembed: float) -> tuple[float, float]:
    """(tokens run shared / padded, FLOPs shared / padded). Padded: every option row runs its
    context again; shared: each context once plus options' tokens 1..m-1, and one unembedding per
    item for all first option tokens instead of one per option."""
    padded_tokens = sum(len(i.context) + len(o) for i in items for o in i.options)
    shared_tokens = sum(len(i.context) + sum(len(o) - 1 for o in i.options) for i in items)
    padded_reads = sum(len(o) for i in items for o in i.options)
    shared_reads = sum(1 + sum(len(o) - 1 for o in i.options) for i in items)
    flops = (shared_tokens * block + shared_reads * unembed) / (
        padded_tokens * block + padded_reads * unembed
    )
    return shared_tokens / padded_tokens, flops


def hf_generate_texts(model, prompts: list[str], max_new_tokens: int) -> tuple[list[str], float]:
    """Plain HF ``generate`` (greedy, left padding, the runner's stop strings); texts, seconds."""
    hf_model, tokenizer = model.bridge.original_model, model.tokenizer
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    start = time.perf_counter()
    with torch.inference_mode():
        out = hf_model.generate(
            **encoded,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            stop_strings=list(GENERATION_STOPS),
            tokenizer=tokenizer,
            pad_token_id=tokenizer.pad_token_id,
        )
    seconds = time.perf_counter() - start
    texts = tokenizer.batch_decode(
        out[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True
    )
    cut = [min((t.index(s) for s in GENERATION_STOPS if s in t), default=len(t)) for t in texts]
    return [t[:c] for t, c in zip(texts, cut)], seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=default_data_dir(), help="folder holding xcopa/, xnli/, ..."
    )
    parser.add_argument("--items", type=int, default=32, help="items per task")
    parser.add_argument(
        "--prompts", type=int, default=8, help="MGSM prompts generated as one batch"
    )
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--tasks", default=",".join(t for t, _, _ in TASKS), help="comma list of the tasks to time"
    )
    add_run_args(parser, "scoring", max_seconds=150.0)
    args = parser.parse_args()
    started = time.time()
    model = load_model("gemma-3-270m")
    flops = predicted_flops(model.bridge.original_model.config, n_pos=64, top=model.n_layers - 1)
    block, unembed = flops.block * model.n_layers, flops.unembed
    vector = SteeringVector(
        torch.randn(model.d_model, generator=torch.Generator().manual_seed(0)),
        6,
        "random",
        model.fingerprint,
    )
    vector = SteeringVector(
        vector.vector * 0.1 * 3800 / vector.norm, 6, "random", model.fingerprint
    )
    waiter = Waiter(budget=args.max_wait, threshold=args.quiet_below)

    rows, notes = [], []
    chosen = [t for t in TASKS if t[0] in args.tasks.split(",")]
    for number, (name, lang, target) in enumerate(chosen):
        task = get_task(name)
        queries = [
            task.render(e)
            for e in task.load(lang, data_dir=args.data_dir, limit=args.items, seed=args.seed)
        ]
        new, old = score_choices(model, queries, BATCH), score_choices_padded(model, queries, BATCH)
        same = sum(a.prediction == b.prediction for a, b in zip(new, old))
        diff = max(abs(x - y) for a, b in zip(new, old) for x, y in zip(a.logprobs, b.logprobs))
        scale = max(abs(y) for b in old for y in b.logprobs)
        token_floor, flop_ratio = flop_floor(tokenize_items(model, queries), block, unembed)
        variants = {
            # the lambdas run in this iteration, so binding the loop variable late is harmless
            "padded": timed(lambda: score_choices_padded(model, queries, BATCH)),  # noqa: B023
            "shared": timed(lambda: score_choices(model, queries, BATCH)),  # noqa: B023
        }
        if number == 0:

            def steered() -> float:
                with steer(model, vector):
                    start = time.perf_counter()
                    score_choices(model, queries, BATCH)  # noqa: B023  # timed in this iteration
                    return time.perf_counter() - start

            variants["steered"] = steered
        samples = interleaved(
            variants,
            repeats=args.repeats,
            warmup=1,
            desc=name,
            waiter=waiter,
            seconds=args.max_seconds,
        )
        quiet = quiet_repeats(samples, args.quiet_below)
        used = quiet if len(quiet) >= 3 else list(range(len(samples["padded"])))
        speedup = Ratio.of(samples, "padded", "shared", used, seed=number)
        per_s = {
            k: len(queries) / median([samples[k][i].seconds for i in used])
            for k in ("padded", "shared")
        }
        verdict = "–" if target is None else ("pass" if speedup.value >= target else "FAIL")
        rows.append(
            (
                f"{name} {lang}",
                f"{per_s['padded']:.2f}",
                f"{per_s['shared']:.2f}",
                speedup.text(2, "×"),
                f"{token_floor:.2f} / {1 / flop_ratio:.2f}×",
                "–" if target is None else f"≥ {target}×",
                verdict,
            )
        )
        notes.append(
            f"{name}: {same}/{len(queries)} same predictions, max |Δ log-likelihood| {diff:.1e} "
            f"(scale {scale:.0f}); repeats used {len(used)} of {len(samples['padded'])}"
            f"{'' if used is quiet else ' (contended: all repeats)'}"
        )
        if "steered" in samples:
            steer_ratio = Ratio.of(samples, "steered", "shared", used, seed=9)
            notes.append(f"steered / unsteered (shared scorer, {name}): {steer_ratio.text(3)}")
        print(rows[-1], notes[-1], file=sys.stderr)

    mgsm = get_task("mgsm")
    prompts = [
        mgsm.render(e).context
        for e in mgsm.load("sw", data_dir=args.data_dir, limit=args.prompts, seed=args.seed)
    ]
    ours = generate(model, prompts, args.max_new_tokens, stop_strings=GENERATION_STOPS)
    theirs, _ = hf_generate_texts(model, prompts, args.max_new_tokens)
    same_text = sum(a == b for a, b in zip(ours.texts, theirs))
    useful = int((ours.tokens != model.tokenizer.pad_token_id).sum())
    samples = interleaved(
        {
            "mlsteer": timed(
                lambda: generate(model, prompts, args.max_new_tokens, stop_strings=GENERATION_STOPS)
            ),
            "hf": lambda: hf_generate_texts(model, prompts, args.max_new_tokens)[1],
        },
        repeats=args.repeats,
        warmup=1,
        desc="generate",
        waiter=waiter,
        seconds=args.max_seconds,
    )
    quiet = quiet_repeats(samples, args.quiet_below)
    used = quiet if len(quiet) >= 3 else list(range(len(samples["hf"])))
    gen = Ratio.of(samples, "hf", "mlsteer", used, seed=7)
    tok_s = {k: useful / median([samples[k][i].seconds for i in used]) for k in samples}

    section = "\n".join(
        [
            SECTION,
            "",
            f"`python bench/bench_scoring.py --data-dir DATA --items {args.items} --tasks {args.tasks}` (seed {args.seed}), "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {time.time() - started:.0f} s.",
            "",
            f"- Machine: {cpu_model()}, 2 CPU cores, torch {torch.__version__} ({torch.get_num_threads()} threads); "
            "embedded Gemma 3 270M, fp32, SDPA attention.",
            f"- Data: {args.items} seeded test items per task; {BATCH} option rows per batch in both layouts.",
            "",
            markdown_table(
                (
                    "task",
                    "padded items/s",
                    "shared items/s",
                    "speedup (95% CI)",
                    "floor: tokens run / FLOP speedup",
                    "target",
                    "result",
                ),
                rows,
            ),
            "",
            *[f"- {note}" for note in notes],
            "",
            f"MGSM sw generation, {len(prompts)} prompts in one batch, greedy, up to {args.max_new_tokens} new tokens, "
            f"the runner's stop strings: mlsteer {tok_s['mlsteer']:.1f} tokens/s, HF generate {tok_s['hf']:.1f} tokens/s "
            f"({useful} tokens up to the stops; same text {same_text}/{len(prompts)}); mlsteer / HF throughput "
            f"{gen.text(2, '×')}, target ≥ 0.9×: {'pass' if gen.value >= 0.9 else 'FAIL'}.",
            "",
            "The FLOP floor counts, for each layout, the blocks run per token and the 262k-vocabulary "
            "unembeddings per option token read; the speedup the layout can give is its inverse. XCOPA and "
            "XNLI options are whole clauses that share nothing with each other, so sharing the context saves "
            "little there; letter answers (m_mmlu, M3Exam) need one forward per item.",
            "",
        ]
    )
    print(section)
    if args.out:
        update_benchmarks_md(Path(args.out), section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
