"""Steered vs unsteered generation

The simplest demonstration that a vector carries a language: learn `v = mean(X) - mean(English)`
(mean difference of mean-pooled `resid_post` at layer 6 over 48 built-in parallel sentences,
here English → X, the opposite of the paper's direction, so the effect is visible in text) and
add it at layer 6 while the model continues English prompts. Greedy decoding, 20 new tokens;
each continuation's language is detected with langdetect.
"""

from collections import Counter

import plotly.graph_objects as go

from mlsteer import cache_activations, generate, load_model, steer
from mlsteer.data import builtin_pairs
from mlsteer.langid import detect_language
from mlsteer.learners import learn_mean_difference

LAYER, ALPHA, NEW_TOKENS = 6, 1.0, 20
N_PAIRS = 48  # built-in pairs per language to learn from
TARGETS = ["es", "fr", "de"]
PROMPTS = [
    "My favourite food is",
    "Yesterday I went to the",
    "The best thing about summer is",
    "In the morning I usually",
]

model = load_model("gemma-3-270m")
rows = {"unsteered": generate(model, PROMPTS, max_new_tokens=NEW_TOKENS).texts}
for lang in TARGETS:
    pairs = builtin_pairs(lang).subset(range(N_PAIRS))
    english = cache_activations(
        model, list(pairs.english), [LAYER], pooling="mean", progress=False
    )[:, 0]
    target = cache_activations(model, list(pairs.target), [LAYER], pooling="mean", progress=False)[
        :, 0
    ]
    vector = learn_mean_difference(
        english, target, layer=LAYER, model_fingerprint=model.fingerprint
    ).steering
    with steer(model, vector, alpha=ALPHA):
        rows[f"toward {lang}"] = generate(model, PROMPTS, max_new_tokens=NEW_TOKENS).texts

# A markdown table: one row per prompt and condition, with the detected language.
print("| prompt | condition | detected | continuation |\n|---|---|---|---|")
for i, prompt in enumerate(PROMPTS):
    for condition, texts in rows.items():
        text = " ".join(texts[i].split()).replace("|", "\\|").replace("<", "&lt;")  # markdown-safe
        print(f"| {prompt} | {condition} | {detect_language(text)} | {text} |")

# How many continuations each condition wrote in each language.
counts = {
    condition: Counter(detect_language(t) for t in texts) for condition, texts in rows.items()
}
languages = sorted({lang for c in counts.values() for lang in c})
figure = go.Figure(
    [go.Bar(name=lang, x=list(counts), y=[counts[c][lang] for c in counts]) for lang in languages]
)
figure.update_layout(
    barmode="stack",
    title=f"Detected language of {len(PROMPTS)} continuations per condition (layer {LAYER}, alpha {ALPHA:g})",
    xaxis_title="condition",
    yaxis_title="continuations",
    legend_title="detected",
)
figure.show()
