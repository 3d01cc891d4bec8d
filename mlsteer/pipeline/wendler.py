"""The Wendler et al. (2024) latent-English measure per target language, base and steered:
translation prompts from the built-in concept word list, logit-lens answer mass per layer,
written as ``wendler_{lang}.json`` and a figure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlsteer.activations.lens import lens_vocabulary, logit_lens_mass
from mlsteer.analysis.wendler import (
    TranslationPrompt,
    VocabIndex,
    WendlerResult,
    answer_mass,
    answer_token_sets,
    build_translation_prompts,
    vocab_index,
)
from mlsteer.data.words import concept_words
from mlsteer.errors import EmptyInputError, MlsteerError
from mlsteer.io import write_text_atomic
from mlsteer.layout import AnalysisLayout
from mlsteer.models.wrapper import SteerableModel
from mlsteer.pipeline.conditions import conditions
from mlsteer.pipeline.context import RunContext
from mlsteer.plots.io import save_figure
from mlsteer.plots.wendler import wendler_figure


def concept_word_rows() -> list[dict[str, str]]:
    """The built-in concept word list (``mlsteer/data/builtin/words.tsv``) as ``{lang: word}`` rows."""
    return [dict(row) for row in concept_words().rows]


def source_for(target_lang: str, source_lang: str = "fr") -> str:
    """The prompt's source language: ``source_lang``, or German/French when it is the target."""
    if target_lang != source_lang:
        return source_lang
    return "de" if source_lang != "de" else "fr"


def run_wendler(
    context: RunContext,
    langs: Sequence[str],
    *,
    vectors: Mapping[str, str] | None = None,
    alpha: float = 1.0,
    source_lang: str = "fr",
    n_shots: int = 4,
    words: Sequence[Mapping[str, str]] | None = None,
    sft: Mapping[str, SteerableModel] | None = None,
) -> list[Path]:
    """Per target language: Wendler's p(English) and p(target) per layer on ``source -> target``
    word translation, base, steered (where ``vectors[lang]`` names a file) with ``alpha``, and
    fine-tuned (where ``sft[lang]`` is a model made by ``mlsteer sft``).

    ``words`` defaults to the built-in concept list (the context's corpus is not used); prompts
    are shot with ``context.seed`` and written to ``context.out``. Prompts whose English and target answers
    share every prefix token (see :func:`answer_token_sets`) are dropped and counted in the JSON.
    """
    if not langs:
        raise EmptyInputError("no target languages; pass at least one language code")
    model, seed, progress = context.model, context.seed, context.progress
    folder = AnalysisLayout(context.out)
    rows = list(words) if words is not None else concept_word_rows()
    layers = list(range(model.n_layers))
    index = vocab_index(lens_vocabulary(model))
    paths = []
    for lang in langs:
        source = source_for(lang, source_lang)
        prompts, sets, dropped = _measurable(
            build_translation_prompts(rows, source, lang, n_shots, seed), index
        )
        texts = [prompt.text for prompt in prompts]
        results: dict[str, WendlerResult] = {}
        for name, runner, active in conditions(model, lang, vectors, alpha, sft):
            with active:
                results[name] = answer_mass(
                    logit_lens_mass(runner, texts, layers, sets, progress=progress), layers
                )
        folder.root.mkdir(parents=True, exist_ok=True)
        data = {
            "source_lang": source,
            "target_lang": lang,
            "n_shots": n_shots,
            "seed": seed,
            "layers": layers,
            "n_prompts": len(prompts),
            "n_dropped": dropped,
            "example_prompt": texts[0],
            "conditions": {name: result.to_dict() for name, result in results.items()},
        }
        data_file = folder.wendler(lang)
        write_text_atomic(data_file, json.dumps(data, indent=1, ensure_ascii=False))
        title = (
            f"Latent English (Wendler et al.): {len(prompts)} {source} -> {lang} word translations"
        )
        paths.append(save_figure(wendler_figure(results, lang, title), folder.root, data_file.stem))
    return paths


def _measurable(
    prompts: list[TranslationPrompt], index: VocabIndex
) -> tuple[list[TranslationPrompt], list[list[list[int]]], int]:
    """The prompts whose English and target answers both keep a distinguishing token, their
    (English ids, target ids) sets, and how many were dropped."""
    kept, sets = [], []
    for prompt in prompts:
        english, target = answer_token_sets(index, prompt.english, prompt.target)
        if english and target:
            kept.append(prompt)
            sets.append([english, target])
    if not kept:
        raise MlsteerError(
            "no prompt has both an English and a target answer token the model's vocabulary can tell "
            "apart; use a word list with more (or other) words for this language"
        )
    return kept, sets, len(prompts) - len(kept)
