"""Learn steering vectors for one language from a parallel corpus: the ``mlsteer learn`` job.

Reads pairs, splits off held-out pairs (seeded), caches activations once for every requested
layer, runs the learner per layer, and returns the results; saving is the caller's choice.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from mlsteer.activations import cache_activations, check_layers
from mlsteer.activations.preferences import encode_preferences
from mlsteer.data.corpora import load_pairs, read_msvamp_rows
from mlsteer.data.pairs import ParallelPairs
from mlsteer.data.preferences import PreferenceTriple, triples_from_answers, triples_from_parallel
from mlsteer.errors import MlsteerError
from mlsteer.hashing import hash_texts
from mlsteer.io import check_writable, write_text_atomic
from mlsteer.learners import LearnResult, get_learner_entry, learner_names
from mlsteer.models.upper import UpperStack
from mlsteer.models.wrapper import SteerableModel
from mlsteer.paths import data_dir as resolve_data_dir
from mlsteer.steering import save_steering


def split_pairs(
    pairs: ParallelPairs, heldout_fraction: float, seed: int
) -> tuple[ParallelPairs, ParallelPairs | None]:
    """Seeded train / held-out split; ``None`` held-out when the fraction is 0."""
    if not 0 <= heldout_fraction < 1:
        raise MlsteerError(f"held-out fraction {heldout_fraction} must be in [0, 1)")
    n_heldout = int(round(len(pairs) * heldout_fraction))
    if n_heldout == 0:
        return pairs, None
    order = list(range(len(pairs)))
    random.Random(seed + 1).shuffle(order)
    held, train = sorted(order[:n_heldout]), sorted(order[n_heldout:])
    return pairs.subset(train), pairs.subset(held)


def learn_from_corpus(
    model: SteerableModel,
    method: str,
    layers: int | Sequence[int],
    lang: str,
    corpus: str = "tatoeba",
    data_dir: str | os.PathLike | None = None,
    n_pairs: int | None = 1000,
    heldout_fraction: float = 0.1,
    seed: int = 0,
    pooling: str = "mean",
    options: dict[str, Any] | None = None,
    progress: bool = True,
    goal: str = "en",
    output: str | os.PathLike | None = None,
) -> list[LearnResult]:
    """Learn a ``method`` vector (or map) for ``lang`` at each of ``layers``.

    ``options`` are the learner's keyword arguments (see :meth:`RegisteredLearner.keywords`:
    e.g. ``solver``/``config`` for mse, ``ridge`` for lstsq, ``config`` for bipo). ``goal``
    other than ``en`` learns a vector toward a pivot language (Table 3) from pairs joined on
    their English side. ``output``, the
    file the caller will save to, is checked writable first, so a bad path fails before training.
    """
    learner = get_learner_entry(method)  # unknown name: an error listing the registered ones
    if output is not None:
        check_writable(output)
    layers = check_layers(model, layers)
    if not learner.spec.one_pass and len(layers) > 1:
        raise MlsteerError(
            f"{method} trains one layer per run; pass one --layer (all-layer mode is for learners "
            f"that learn every layer from one pass: {', '.join(learner_names(layers='one_pass'))})"
        )
    pairs = load_pairs(corpus, lang, data_dir, n=n_pairs, seed=seed, goal=goal)
    train, heldout = split_pairs(pairs, heldout_fraction, seed)
    train_hash = hash_texts(train.english + train.target)
    options = dict(options or {})
    # Preference learners (BiPO) train from token-level residuals (encode_preferences), so their
    # train pairs need no pooled activations; only the held-out ones are cached for the diagnostic.
    pooled = learner.spec.data == "pooled"
    n = len(train) if pooled else 0
    texts = list(train.target + train.english)[: 2 * n] + list(
        heldout.target + heldout.english if heldout else ()
    )
    acts = (
        cache_activations(model, texts, layers, pooling=pooling, progress=progress)
        if texts
        else None
    )
    results = []
    for column, layer in enumerate(layers):
        source, target = (acts[:n, column], acts[n : 2 * n, column]) if n else (None, None)
        held = (
            (acts[2 * n : 2 * n + len(heldout), column], acts[2 * n + len(heldout) :, column])
            if heldout
            else None
        )
        if pooled:
            result = learner.function(
                source,
                target,
                layer=layer,
                model_fingerprint=model.fingerprint,
                train_hash=train_hash,
                heldout=held,
                seed=seed,
                **options,
            )
        else:
            triples = _preference_triples(corpus, lang, train, data_dir, n_pairs, seed, method)
            data = encode_preferences(model, triples, layer, progress=progress).to(
                model.layer_device(layer)
            )
            result = learner.function(
                data,
                UpperStack(model, layer).completion_logprobs,
                model_fingerprint=model.fingerprint,
                seed=seed,
                train_hash=train_hash,
                heldout=held,
                progress=progress,
                **options,
            )
        info = {
            **result.steering.info,
            "lang": lang,
            "goal": goal,
            "corpus": corpus,
            "pooling": pooling,
            "heldout_cosine_before": result.diagnostics.heldout_cosine_before,
            "heldout_cosine_after": result.diagnostics.heldout_cosine_after,
        }
        results.append(LearnResult(replace(result.steering, info=info), result.diagnostics))
    return results


def _preference_triples(
    corpus: str, lang: str, train: ParallelPairs, data_dir, n_pairs, seed, method: str
) -> list[PreferenceTriple]:
    """MSVAMP trains on answers (task builder); other corpora on translations (parallel builder)."""
    if corpus != "msvamp":
        return triples_from_parallel(train)
    folder = resolve_data_dir(data_dir)
    if folder is None:
        raise MlsteerError(
            f"{method} on msvamp reads the answers from local files; pass --data-dir or set $MLSTEER_DATA"
        )
    rows = {r.target_question: r for r in read_msvamp_rows(folder, lang)}
    kept = [rows[q] for q in train.target]
    return triples_from_answers([r.target_question for r in kept], [r.answer for r in kept], lang)


def save_results(path: str | os.PathLike, results: list[LearnResult]) -> Path:
    """The vector file (one entry per layer) plus ``<name>.diagnostics.json`` beside it, each
    written whole or not at all."""
    path = save_steering(path, [r.steering for r in results])
    diagnostics = [{"layer": r.steering.layer, **asdict(r.diagnostics)} for r in results]
    write_text_atomic(
        Path(str(path) + ".diagnostics.json"), json.dumps(diagnostics, indent=1, default=str)
    )
    return path
