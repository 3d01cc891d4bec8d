"""Which language does each layer think in? The logit lens, base vs steered

The logit lens reads each layer's residual stream through the model's final norm and
unembedding as if it were the last layer. For every layer we take the top-10 next tokens at
the last position of Spanish and Chinese sentences (built-in data, the sentence's last word
cut off so the next token is a word), attribute each token to a language (by script, else a
word-level detector restricted to the script's languages) and plot the share of the top-10
probability mass per language.

Then we steer: an MSE vector learned at layer 6 from the same kind of built-in pairs
(`source` = the target language, `goal` = English, closed form `v = mean(goal - source)`) is
added to `resid_post` at layer 6 with alpha 1 (every position but BOS). The paper's claim is
that such a vector keeps the model in its English "latent" space for longer.
"""

from mlsteer import cache_activations, load_model, steer
from mlsteer.activations.lens import logit_lens_topk
from mlsteer.analysis.lens_languages import language_distribution, script_restricted_detector
from mlsteer.data import builtin_pairs
from mlsteer.learners import learn_mse
from mlsteer.plots.lens import language_distribution_figure

LAYER, ALPHA, K = 6, 1.0, 10
N_TRAIN, N_LENS = 48, 16  # pairs to learn from; held-out sentences to read with the lens

model = load_model("gemma-3-270m")
layers = list(range(model.n_layers))
detect = script_restricted_detector()  # lingua, restricted to the token's script


def cut_last_word(sentence: str, lang: str) -> str:
    """The sentence without its final punctuation and last word (last 2 characters for zh/ja,
    which put no spaces between words), so the next token the model predicts is a word."""
    text = sentence.rstrip(".!?。！？ ")
    return text[:-2] if lang in ("zh", "ja", "th") else text.rsplit(" ", 1)[0]


for lang in ["es", "zh"]:
    pairs = builtin_pairs(lang)
    train = pairs.subset(range(N_TRAIN))
    held_out = [cut_last_word(s, lang) for s in pairs.target[N_TRAIN : N_TRAIN + N_LENS]]

    source = cache_activations(model, list(train.target), [LAYER], pooling="mean", progress=False)[
        :, 0
    ]
    goal = cache_activations(model, list(train.english), [LAYER], pooling="mean", progress=False)[
        :, 0
    ]
    vector = learn_mse(source, goal, layer=LAYER, model_fingerprint=model.fingerprint).steering
    print(
        f"{lang}: MSE vector at layer {LAYER}, norm {vector.norm:.0f} (residual norm {vector.resid_norm:.0f})"
    )

    base = logit_lens_topk(
        model, held_out, layers, K, progress=False
    )  # top-K tokens [text][layer][k]
    with steer(model, vector, alpha=ALPHA):  # the same call, now with the vector added at LAYER
        steered = logit_lens_topk(model, held_out, layers, K, progress=False)
    distributions = {
        "base": language_distribution(base, ["en", lang], detect),
        f"steered (MSE, L{LAYER}, alpha {ALPHA:g})": language_distribution(
            steered, ["en", lang], detect
        ),
    }

    for name, dist in distributions.items():
        late = dist[-4:].mean(0)  # the last four layers
        print(
            f"  {name:28s} last 4 layers: en {late[0]:.2f}  {lang} {late[1]:.2f}  other {late[2]:.2f}"
        )
    example = held_out[0]
    print(
        f"  e.g. {example!r} -> top token at the last layer: base {base.tokens[0][-1][0]!r}, steered {steered.tokens[0][-1][0]!r}"
    )

    title = f"Logit lens on {len(held_out)} built-in {lang} sentences (top-{K} tokens at the last position)"
    language_distribution_figure(distributions, layers, ["en", lang], title).show()
