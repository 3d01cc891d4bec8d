"""Issue 3 check: do MSE and BiPO vectors align held-out target activations with English?

On the embedded Gemma, 200 Tatoeba pairs of one language (seeded; 160 train / 40 held out),
layer 6 of 18. For each vector, the mean cosine between held-out target-language and English
pooled activations, unsteered vs steered: at the steered layer (h + v) and at every later layer
(a real steered forward pass), and BiPO's held-out preference margin (log-ratio of the English
completion minus that of the target-language one). Controls: the negated vector and a random
vector of equal norm.
Writes a JSON file and prints a Markdown table.

    python bench/learner_alignment.py --data-dir ../shared/data --lang sw --out bench/results/learner_alignment.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from mlsteer.activations import cache_activations
from mlsteer.activations.preferences import encode_preferences
from mlsteer.data.corpora import load_pairs
from mlsteer.data.preferences import triples_from_parallel
from mlsteer.learners import BipoConfig, preference_margin
from mlsteer.models import load_model
from mlsteer.models.upper import UpperStack
from mlsteer.pipeline.learn import learn_from_corpus, split_pairs
from mlsteer.steering import steer


def cosine_by_layer(model, source_texts, english, layers, steering=None) -> list[float]:
    if steering is None:
        acts = cache_activations(model, source_texts, layers, pooling="mean", progress=False)
    else:
        with steer(model, steering):
            acts = cache_activations(model, source_texts, layers, pooling="mean", progress=False)
    return torch.cosine_similarity(acts, english, dim=-1).mean(0).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--lang", default="sw")
    parser.add_argument("--layer", type=int, default=6)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/learner_alignment.json")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    model = load_model("gemma-3-270m")
    later = list(range(args.layer, model.n_layers))
    pairs = load_pairs("tatoeba", args.lang, args.data_dir, n=args.pairs, seed=args.seed)
    _, heldout = split_pairs(pairs, 0.2, args.seed)
    english = cache_activations(model, list(heldout.english), later, pooling="mean", progress=False)
    base = cosine_by_layer(model, list(heldout.target), english, later)
    heldout_triples = encode_preferences(
        model, triples_from_parallel(heldout), args.layer, progress=False
    )
    upper = UpperStack(model, args.layer)
    runs = {
        "mse (closed form)": ("mse", {"solver": "closed"}),
        "mse (AdamW, default)": ("mse", {"solver": "iterative"}),
        "bipo (paper settings)": ("bipo", {"config": BipoConfig()}),
        "bipo (lr x resid RMS, 3 ep)": (
            "bipo",
            {"config": BipoConfig(lr_per_resid_rms=True, epochs=3)},
        ),
    }
    rows = []
    for label, (method, options) in runs.items():
        started = time.time()
        [result] = learn_from_corpus(
            model,
            method,
            [args.layer],
            args.lang,
            corpus="tatoeba",
            data_dir=args.data_dir,
            n_pairs=args.pairs,
            heldout_fraction=0.2,
            seed=args.seed,
            options=dict(options),
            progress=True,
        )
        seconds = time.time() - started
        vector = result.steering
        for variant, steering in (
            ("vector", vector),
            ("negated", vector.negated()),
            ("random", vector.random_like(args.seed)),
        ):
            by_layer = cosine_by_layer(model, list(heldout.target), english, later, steering)
            margin = preference_margin(heldout_triples, upper.completion_logprobs, steering.vector)
            rows.append(
                {
                    "bipo_margin": margin,
                    "learner": label,
                    "variant": variant,
                    "norm": steering.norm,
                    "seconds": round(seconds, 1),
                    "cos_at_L_before": base[0],
                    "cos_at_L_after": by_layer[0],
                    "cos_last_before": base[-1],
                    "cos_last_after": by_layer[-1],
                    "cos_by_layer_after": by_layer,
                    "diag_heldout_before": result.diagnostics.heldout_cosine_before
                    if variant == "vector"
                    else None,
                    "diag_heldout_after": result.diagnostics.heldout_cosine_after
                    if variant == "vector"
                    else None,
                }
            )
            print(
                f"{label:24s} {variant:8s} norm {steering.norm:8.2f}  cos@L {base[0]:.4f} -> {by_layer[0]:.4f}  "
                f"cos@{later[-1]} {base[-1]:.4f} -> {by_layer[-1]:.4f}  margin {margin:+.2f}",
                flush=True,
            )
    out = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "lang": args.lang,
        "layer": args.layer,
        "pairs": args.pairs,
        "heldout": len(heldout),
        "seed": args.seed,
        "layers": later,
        "cos_by_layer_before": base,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
