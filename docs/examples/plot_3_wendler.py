"""Is English the latent language? Wendler et al.'s measure, base vs steered

Wendler et al. (2024) prompt a model to translate single words between two non-English
languages (`Français: "fleur" - 中文: "`), then read each layer with the logit lens: the
probability of tokens that start the English answer ("flower") versus tokens that start the
target answer ("花"). English mass in the middle layers, although neither the prompt nor the
answer is English, is their evidence that the model "thinks" in English.

`mlsteer.pipeline.wendler.run_wendler` builds the prompts from the built-in concept word list
(`mlsteer/data/builtin/words.tsv`; its first 24 words here, to stay fast), French → Chinese, and
measures the base model and the model steered with a Chinese → English MSE vector at layer 6
learned from 48 built-in pairs.
It writes JSON and figures to a folder; we read the figures back and show them.
"""

import json
import tempfile
from pathlib import Path

from mlsteer import cache_activations, load_model
from mlsteer.data import builtin_pairs
from mlsteer.learners import learn_mse
from mlsteer.pipeline.context import RunContext
from mlsteer.pipeline.wendler import concept_word_rows, run_wendler
from mlsteer.plots.io import load_figures

LANG, LAYER, ALPHA = "zh", 6, 1.0
N_PAIRS, N_WORDS = 48, 24  # pairs to learn the vector from; concept words to prompt with

model = load_model("gemma-3-270m")
pairs = builtin_pairs(LANG).subset(range(N_PAIRS))
source = cache_activations(model, list(pairs.target), [LAYER], pooling="mean", progress=False)[:, 0]
goal = cache_activations(model, list(pairs.english), [LAYER], pooling="mean", progress=False)[:, 0]
vector = learn_mse(source, goal, layer=LAYER, model_fingerprint=model.fingerprint).steering

with tempfile.TemporaryDirectory() as folder:
    path = vector.save(Path(folder) / f"{LANG}_mse_L{LAYER}.safetensors")
    words = concept_word_rows()[:N_WORDS]  # {lang: word} rows; the shots come from the same rows
    context = RunContext(model, Path(folder), progress=False)  # what every pipeline needs
    run_wendler(context, [LANG], vectors={LANG: str(path)}, alpha=ALPHA, words=words)
    data = json.loads((Path(folder) / f"wendler_{LANG}.json").read_text(encoding="utf-8"))
    figures = load_figures(folder)

print(
    f"{data['n_prompts']} prompts {data['source_lang']} -> {data['target_lang']} ({data['n_dropped']} dropped: "
    "English and target answers share every prefix token); the last lines of one prompt:"
)
print("  " + "\n  ".join(data["example_prompt"].splitlines()[-3:]))
for name, result in data["conditions"].items():
    english, target = result["english_mean"], result["target_mean"]
    peak = max(range(len(english)), key=english.__getitem__)
    print(
        f"{name:18s} p(English) peaks at layer {peak} ({english[peak]:.2f}); "
        f"last layer: p(English) {english[-1]:.2f}, p({LANG}) {target[-1]:.2f}"
    )

for figure in figures.values():
    figure.show()
