"""The built-in demo: learn a language vector from shipped pairs, steer English text with it."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from mlsteer.activations import cache_activations
from mlsteer.data import builtin_pairs
from mlsteer.hashing import hash_texts
from mlsteer.langid import detect_language
from mlsteer.learners import learn_mean_difference
from mlsteer.models import load_model
from mlsteer.steering import generate, steer

DEMO_PROMPTS = (
    "My favourite food is",
    "Yesterday I went to the",
    "The best thing about summer is",
    "In the morning I usually",
)


def run_demo(
    model_name: str,
    lang: str,
    layer: int,
    alpha: float,
    output: Path,
    device: str,
    console: Console,
    dtype: str = "float32",
) -> Path:
    """Learn ``mean(lang) - mean(English)`` at ``layer``, save it, print steered vs unsteered."""
    pairs = builtin_pairs(lang)
    console.print(f"loading {model_name} (the embedded Gemma converts once, ~1 min)")
    model = load_model(model_name, device=device, dtype=dtype)
    english = cache_activations(model, list(pairs.english), [layer], pooling="mean")[:, 0]
    target = cache_activations(model, list(pairs.target), [layer], pooling="mean")[:, 0]
    vector = learn_mean_difference(
        english,  # source: what gets steered (here English text, steered toward the target)
        target,
        layer=layer,
        model_fingerprint=model.fingerprint,
        train_hash=hash_texts(pairs.english + pairs.target),
        info={"from": "en", "to": lang, "pairs": "builtin"},
    ).steering
    path = vector.save(output / f"meandiff_en_to_{lang}_L{layer}.safetensors")
    console.print(
        f"learned {vector.method} vector from {len(pairs)} pairs: norm {vector.norm:.1f}, "
        f"layer residual norm {vector.resid_norm:.1f}; saved to {path}"
    )
    plain = generate(model, list(DEMO_PROMPTS), max_new_tokens=24, progress=True).texts
    with steer(model, vector, alpha):
        steered = generate(model, list(DEMO_PROMPTS), max_new_tokens=24, progress=True).texts
    table = Table("prompt", "unsteered", f"steered toward {lang} (alpha {alpha})", show_lines=True)
    for prompt, before, after in zip(DEMO_PROMPTS, plain, steered):
        table.add_row(
            prompt, f"[{detect_language(before)}] {before}", f"[{detect_language(after)}] {after}"
        )
    console.print(table)
    hits = sum(detect_language(text) == lang for text in steered)
    console.print(
        f"steered continuations detected as {lang}: {hits}/{len(steered)} "
        f"(unsteered: {sum(detect_language(t) == lang for t in plain)}/{len(plain)})"
    )
    return path
