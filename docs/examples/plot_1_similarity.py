"""How close is each language to English, layer by layer?

The paper's Figure 2 on the embedded Gemma 3 270M: for parallel sentences, the cosine between
a target-language sentence's mean-pooled residual stream (`blocks.{L}.hook_resid_post`, BOS
left out) and its English translation's, averaged over pairs, at every layer.

Raw cosines in Gemma's residual stream sit near 1 for any two sentences (a large component is
shared by every token), so the first figure *centres* the activations (subtracts, per
language and layer, the mean over its sentences and their translations); the second shows the
raw cosines. The third is the distance between the languages' mean activations at a middle
layer. Built-in parallel sentences, 24 pairs per language.
"""

import torch

from mlsteer import cache_activations, load_model
from mlsteer.analysis.similarity import language_distance_matrix, similarity_by_language
from mlsteer.data import builtin_pairs
from mlsteer.plots.similarity import distance_matrix_figure, similarity_heatmap

LANGS = ["es", "zh", "ru", "sw", "bn"]  # high, high, high, low, low resource
N_PAIRS = 24

model = load_model("gemma-3-270m")
layers = list(range(model.n_layers))

# One forward pass per batch caches the mean-pooled residual at every layer: [text, layer, d_model].
pairs = {}
for lang in LANGS:
    corpus = builtin_pairs(lang).subset(range(N_PAIRS))
    acts = cache_activations(
        model, list(corpus.target + corpus.english), layers, pooling="mean", progress=False
    )
    pairs[lang] = (acts[:N_PAIRS], acts[N_PAIRS:])  # (target-language rows, English rows)

raw = similarity_by_language(pairs, layers)
centred = similarity_by_language(pairs, layers, center=True)
for lang in LANGS:
    raw_row, row = raw.values[LANGS.index(lang)], centred.values[LANGS.index(lang)]
    print(
        f"{lang}: raw cosine {raw_row.min():.3f}..{raw_row.max():.3f}; "
        f"centred {row.min():+.2f}..{row.max():+.2f}, highest at layer {int(row.argmax())}"
    )

similarity_heatmap(centred).update_layout(
    title="Centred cosine to English per layer (circles: >= 0.5)"
).show()
similarity_heatmap(raw).update_layout(
    title="Raw cosine to English per layer (all near 1: the shared component)"
).show()

# Distances between languages at a middle layer, English included, after removing the mean
# over languages (else the shared component makes every pair look alike).
middle = model.n_layers // 2
means = {"en": torch.cat([english for _, english in pairs.values()])[:, middle].mean(0)}
means |= {lang: target[:, middle].mean(0) for lang, (target, _) in pairs.items()}
shared = torch.stack(list(means.values())).mean(0)
names, matrix = language_distance_matrix({lang: mean - shared for lang, mean in means.items()})
distance_matrix_figure(names, matrix).update_layout(
    title=f"Distance between languages at layer {middle}"
).show()
