"""Parallel corpora the paper trains vectors on: Tatoeba and MSVAMP, local files or the Hub.

Local files are read from ``--data-dir`` / ``$MLSTEER_DATA`` in their published formats:
- Tatoeba (LASER v1): ``tatoeba/tatoeba.{xxx}-eng.{xxx|eng}``, line-aligned, ISO 639-3 codes.
- MSVAMP (MathOctopus): ``msvamp/test_{Language}.json``, JSON Lines with ``m_query`` (target
  question), ``query`` (English original) and ``response`` (gold answer); rows are parallel.
Without a data folder the same corpora come from the Hub through ``datasets``.
Any other corpus spec (a file path, ``EN_FILE,TARGET_FILE`` or ``hf:ID``) is the user's own
corpus, read by :mod:`mlsteer.data.user_corpus`.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

from mlsteer.data.pairs import ParallelPairs, builtin_pairs, join_on_english
from mlsteer.data.user_corpus import check_user_corpus, read_user_pairs
from mlsteer.errors import EmptyInputError, MlsteerError
from mlsteer.languages import check_languages, get_language
from mlsteer.paths import data_dir as resolve_data_dir

CORPORA = ("tatoeba", "msvamp", "builtin")
HUB_IDS = {"tatoeba": "mteb/tatoeba-bitext-mining", "msvamp": "Mathoctopus/MSVAMP"}
MSVAMP_LANGS = ("bn", "de", "es", "fr", "ja", "ru", "sw", "th", "zh")
TATOEBA_LANGS = (
    "es",
    "fr",
    "de",
    "ru",
    "zh",
    "ja",
    "th",
    "sw",
    "bn",
    "te",
    "tr",
    "ar",
    "vi",
    "hi",
    "el",
    "id",
    "it",
    "pt",
)


@dataclass(frozen=True)
class MathRow:
    """One MSVAMP problem: the question in the target language and in English, and its answer."""

    target_question: str
    english_question: str
    answer: str


def read_line_aligned(
    target_path: str | os.PathLike, english_path: str | os.PathLike, lang: str
) -> ParallelPairs:
    """Pairs from two line-aligned files (line i of one translates line i of the other)."""
    target = _read_text(Path(target_path)).splitlines()
    english = _read_text(Path(english_path)).splitlines()
    if len(target) != len(english):
        raise MlsteerError(
            f"{target_path} has {len(target)} lines but {english_path} has {len(english)}; "
            "line-aligned files must have equally many lines"
        )
    kept = [(e.strip(), t.strip()) for e, t in zip(english, target) if e.strip() and t.strip()]
    if not kept:
        raise EmptyInputError(f"{target_path} and {english_path} hold no non-empty line pairs")
    return ParallelPairs(lang, tuple(e for e, _ in kept), tuple(t for _, t in kept))


def read_msvamp_rows(data_dir: str | os.PathLike, lang: str) -> list[MathRow]:
    """MSVAMP rows of ``lang`` from ``{data_dir}/msvamp/test_{Language}.json``."""
    check_languages([lang], MSVAMP_LANGS, "MSVAMP")
    path = Path(data_dir) / "msvamp" / f"test_{get_language(lang).name}.json"
    rows = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            rows.append(
                MathRow(record["m_query"].strip(), record["query"].strip(), str(record["response"]))
            )
        except (json.JSONDecodeError, KeyError, AttributeError) as error:
            raise MlsteerError(
                f"{path}:{number}: malformed MSVAMP row ({error!r}); expected JSON with m_query, query, response"
            ) from None
    if not rows:
        raise EmptyInputError(f"{path} has no rows")
    return rows


def load_pairs(
    corpus: str,
    lang: str,
    data_dir: str | os.PathLike | None = None,
    n: int | None = None,
    seed: int = 0,
    goal: str = "en",
) -> ParallelPairs:
    """``n`` seeded-sampled (English, ``lang``) pairs of ``corpus`` (all when ``n`` is None).

    ``builtin`` is the corpus shipped with mlsteer; the others come from local files when a data
    folder is given or ``$MLSTEER_DATA`` is set, else from the Hub; any other ``corpus`` is the
    user's own (:func:`~mlsteer.data.user_corpus.read_user_pairs`).
    ``goal`` other than ``en``: (``goal``, ``lang``) pairs joined on their shared English side
    (:func:`~mlsteer.data.pairs.join_on_english`; MSVAMP is fully parallel, Tatoeba barely);
    a user's corpus pairs its ``goal`` column with its ``lang`` column directly.
    """
    if goal != "en" and goal == lang:
        raise MlsteerError(f"goal language {goal!r} equals the source language; pick another pivot")
    if corpus not in CORPORA:
        return sample_pairs(read_user_pairs(check_corpus(corpus), lang, goal), n, seed)
    if goal != "en":
        return sample_pairs(
            join_on_english(load_pairs(corpus, lang, data_dir), load_pairs(corpus, goal, data_dir)),
            n,
            seed,
        )
    if corpus == "builtin":  # written for mlsteer, shipped in the package: no data folder, no Hub
        return sample_pairs(builtin_pairs(lang), n, seed)
    check_languages(
        [lang],
        TATOEBA_LANGS if corpus == "tatoeba" else MSVAMP_LANGS,
        "Tatoeba" if corpus == "tatoeba" else "MSVAMP",
    )
    folder = resolve_data_dir(data_dir)
    if folder is None:
        pairs = _hub_pairs(corpus, lang)
    elif corpus == "tatoeba":
        code = get_language(lang).iso3
        base = folder / "tatoeba" / f"tatoeba.{code}-eng"
        pairs = read_line_aligned(f"{base}.{code}", f"{base}.eng", lang)
    else:
        rows = read_msvamp_rows(folder, lang)
        pairs = ParallelPairs(
            lang, tuple(r.english_question for r in rows), tuple(r.target_question for r in rows)
        )
    return sample_pairs(pairs, n, seed)


def default_corpus(data_dir: str | os.PathLike | None = None, preferred: str = "tatoeba") -> str:
    """The corpus a command reads when none is named: ``preferred`` when a data folder is known
    (``data_dir`` or ``$MLSTEER_DATA``), else ``builtin`` (shipped, offline; no Hub download)."""
    return preferred if resolve_data_dir(data_dir) is not None else "builtin"


def check_corpus(corpus: str) -> str:
    """``corpus`` if it is a built-in name or a user corpus whose files exist; else an error."""
    if corpus not in CORPORA:
        check_user_corpus(corpus, CORPORA)
    return corpus


def sample_pairs(pairs: ParallelPairs, n: int | None, seed: int = 0) -> ParallelPairs:
    """A seeded random subset of ``n`` pairs, in a fixed order (all pairs when ``n`` is None)."""
    if n is None or n >= len(pairs):
        return pairs
    if n <= 0:
        raise EmptyInputError(f"asked for {n} pairs; ask for at least 1")
    return pairs.subset(sorted(random.Random(seed).sample(range(len(pairs)), n)))


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise MlsteerError(
            f"missing data file {path}; point --data-dir / $MLSTEER_DATA at the benchmark folder, "
            "or use --corpus builtin"
        )
    return path.read_text(encoding="utf-8")


def _hub_pairs(corpus: str, lang: str) -> ParallelPairs:
    """The same corpora from the Hugging Face Hub (for users with network access); offline, or
    with the Hub unreachable, one error naming the offline ways instead."""
    try:  # pragma: no cover - needs the Hub
        from datasets import load_dataset

        if corpus == "tatoeba":
            code = get_language(lang).iso3
            rows = load_dataset(HUB_IDS[corpus], f"{code}-eng", split="test")
            return ParallelPairs(lang, tuple(rows["sentence2"]), tuple(rows["sentence1"]))
        rows = load_dataset(HUB_IDS[corpus], lang, split="test")
        return ParallelPairs(lang, tuple(rows["query"]), tuple(rows["m_query"]))
    except OSError as error:  # ConnectionError, offline mode, datasets' not-found errors
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise MlsteerError(_offline_message(corpus, reason)) from None


def _offline_message(corpus: str, reason: str) -> str:
    return (
        f"cannot read {corpus} from the Hugging Face Hub ({reason}); pass --data-dir FOLDER "
        f"(or set $MLSTEER_DATA) holding {corpus}/, or use --corpus builtin"
    )
