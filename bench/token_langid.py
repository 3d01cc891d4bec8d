"""Token-level language identification: lingua vs langdetect on single words.

Data: the words of the 10 Latin-script languages (en es fr de it pt id tr vi sw) in
``mlsteer/data/builtin/words.tsv``, without the strings that appear under two or more of the
file's languages (``casa``, ``hand``...): the words for which script gives no answer and the
lens has to ask a detector. Two settings, as :func:`mlsteer.langid.get_detector` is called:
(a) candidates = every mlsteer language, (b) candidates = the 10 Latin-script languages.
Reports accuracy per language and overall (a ``None`` answer counts as wrong), time per word
(median of ``--repeats`` passes after a warm-up pass that loads the models) and the time to
build the detector and run the first pass. Extra rows, for the record: langdetect restricted
by filtering ``detect_langs`` instead of by its profiles, lingua in low-accuracy mode, and
langdetect with no candidates (its own 55 languages).

    python bench/token_langid.py            # writes bench/results/token_langid.json and
                                            # the "Token language ID" section of BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import cpu_model, markdown_table, package_version, update_benchmarks_md

from mlsteer.data.words import concept_words
from mlsteer.langid import DEFAULT_TOKEN_DETECTOR, TOKEN_DETECTORS, get_detector
from mlsteer.languages import LANGUAGES

LATIN = ("en", "es", "fr", "de", "it", "pt", "id", "tr", "vi", "sw")
SECTION = "## Token language ID"
ROOT = Path(__file__).resolve().parent.parent


def langdetect_filtered(candidates: Sequence[str]) -> Callable[[str], str | None]:
    """The alternative restriction: langdetect over all 55 languages, then the most probable
    candidate among ``detect_langs`` (which lists only languages with p > 0.1)."""
    from langdetect import detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    wanted = set(candidates)

    def detect(text: str) -> str | None:
        try:
            ranked = detect_langs(text)
        except LangDetectException:
            return None
        for guess in ranked:
            code = "zh" if guess.lang.startswith("zh") else guess.lang
            if code in wanted:
                return code
        return None

    return detect


def lingua_low(candidates: Sequence[str]) -> Callable[[str], str | None]:
    from lingua import Language, LanguageDetectorBuilder

    known = {lang.iso_code_639_1.name.lower(): lang for lang in Language.all()}
    detector = (
        LanguageDetectorBuilder.from_languages(*(known[c] for c in candidates if c in known))
        .with_low_accuracy_mode()
        .build()
    )

    def detect(text: str) -> str | None:
        language = detector.detect_language_of(text)
        return None if language is None else language.iso_code_639_1.name.lower()

    return detect


def measure(
    build: Callable[[], Callable[[str], str | None]], words: list[tuple[str, str]], repeats: int
) -> dict:
    start = time.perf_counter()
    detect = build()
    guesses = [detect(word) for word, _ in words]  # warm-up: loads models
    first = time.perf_counter() - start
    passes = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        again = [detect(word) for word, _ in words]
        passes.append((time.perf_counter() - t0) / len(words))
        if again != guesses:
            raise RuntimeError("detector is not deterministic: two passes gave different answers")
    per_lang: dict[str, list[int]] = {}
    confusions: Counter = Counter()
    for (_word, lang), guess in zip(words, guesses):
        hits = per_lang.setdefault(lang, [0, 0])
        hits[0] += guess == lang
        hits[1] += 1
        if guess != lang:
            confusions[f"{lang}->{guess}"] += 1
    correct = sum(h[0] for h in per_lang.values())
    return {
        "accuracy": correct / len(words),
        "correct": correct,
        "n": len(words),
        "none": sum(g is None for g in guesses),
        "per_language": {
            lang: {"accuracy": h[0] / h[1], "correct": h[0], "n": h[1]}
            for lang, h in per_lang.items()
        },
        "seconds_per_word": statistics.median(passes),
        "seconds_build_and_first_pass": first,
        "top_confusions": confusions.most_common(8),
        "errors": [(w, lang, g) for (w, lang), g in zip(words, guesses) if g != lang],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed passes over the words (default 3)"
    )
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "token_langid.json"))
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"), help="'' to only print")
    args = parser.parse_args()

    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    words = concept_words().labelled(LATIN)
    settings = {"all": tuple(LANGUAGES), "latin": LATIN}
    runs: dict[str, dict[str, dict]] = {}
    for name in TOKEN_DETECTORS:
        runs[name] = {}
        for setting, candidates in settings.items():
            runs[name][setting] = measure(
                lambda: get_detector(name, candidates),  # noqa: B023  # runs in this iteration
                words,
                args.repeats,
            )
            print(f"{name:10s} {setting:5s} {runs[name][setting]['accuracy']:.3f}", file=sys.stderr)
    extras = {
        "langdetect, detect_langs filtered": {
            s: measure(lambda c=c: langdetect_filtered(c), words, args.repeats)
            for s, c in settings.items()
        },
        "lingua, low-accuracy mode": {
            s: measure(lambda c=c: lingua_low(c), words, args.repeats) for s, c in settings.items()
        },
        "langdetect, no candidates (its 55 languages)": {
            "none": measure(lambda: get_detector("langdetect"), words, args.repeats)
        },
    }
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    elapsed = time.perf_counter() - began
    now = dt.datetime.now(dt.UTC)

    counts = Counter(lang for _, lang in words)
    header = ("Detector", "Candidates") + LATIN + ("Overall", "Time / word", "Build + first pass")
    label = {
        "all": f"all {len(LANGUAGES)} mlsteer",
        "latin": "10 Latin-script",
    }  # neither detector knows ht, qu
    rows = []
    for name in TOKEN_DETECTORS:
        for setting in settings:
            r = runs[name][setting]
            rows.append(
                (f"**{name}**" if name == DEFAULT_TOKEN_DETECTOR else name, label[setting])
                + tuple(f"{r['per_language'][lang]['accuracy'] * 100:.0f}" for lang in LATIN)
                + (
                    f"**{r['accuracy'] * 100:.1f}%**",
                    f"{r['seconds_per_word'] * 1e3:.2f} ms",
                    f"{r['seconds_build_and_first_pass']:.1f} s",
                )
            )
    extra_rows = []
    for name, by_setting in extras.items():
        for setting, r in by_setting.items():
            extra_rows.append(
                (name, label.get(setting, "none"))
                + tuple(f"{r['per_language'][lang]['accuracy'] * 100:.0f}" for lang in LATIN)
                + (
                    f"{r['accuracy'] * 100:.1f}%",
                    f"{r['seconds_per_word'] * 1e3:.2f} ms",
                    f"{r['seconds_build_and_first_pass']:.1f} s",
                )
            )
    confusions = "; ".join(
        f"{name} ({label[s]}): "
        + ", ".join(f"{k} {v}" for k, v in runs[name][s]["top_confusions"][:5])
        for name in TOKEN_DETECTORS
        for s in ("latin",)
    )
    table = markdown_table(header, rows)
    section = "\n".join(
        [
            SECTION,
            "",
            f"`python bench/token_langid.py --repeats {args.repeats}`, {now:%Y-%m-%d %H:%M} UTC, {elapsed:.0f} s.",
            "",
            f"- Machine: {cpu_model()}, {os.cpu_count()} CPU cores; Python {platform.python_version()}, "
            f"lingua-language-detector {package_version('lingua-language-detector')}, langdetect {package_version('langdetect')}; "
            f"1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; peak RSS {rss_mb:.0f} MB (whole script, torch imported).",
            f"- Data: {len(words)} words of `mlsteer/data/builtin/words.tsv` ({len(concept_words())} concepts), the 10 Latin-script "
            "languages, strings found under two or more of its 19 languages dropped (`ConceptWords.labelled`); per language: "
            + ", ".join(f"{lang} {counts[lang]}" for lang in LATIN)
            + ".",
            "- Method: `mlsteer.langid.get_detector(name, candidates)` on each word; accuracy = exact ISO 639-1 match "
            "(`None` counts as wrong); time per word = median of the timed passes after a warm-up pass; "
            "build + first pass includes loading the language models (lingua keeps loaded models for later detectors, so the first lingua row pays for them). Bold: `DEFAULT_TOKEN_DETECTOR`.",
            "",
            'Accuracy (%) per language ("all 23 mlsteer": both detectors know 21 of them, not ht and qu):',
            "",
            table,
            "",
            "Alternatives measured, not used:",
            "",
            markdown_table(header, extra_rows),
            "",
            f"Most frequent errors (true->guess): {confusions}.",
            "",
        ]
    )
    print(table)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {
                "date": now.isoformat(timespec="seconds"),
                "default": DEFAULT_TOKEN_DETECTOR,
                "languages": LATIN,
                "n_words": len(words),
                "settings": {k: list(v) for k, v in settings.items()},
                "detectors": runs,
                "alternatives": extras,
                "peak_rss_mb": rss_mb,
            },
            indent=1,
            ensure_ascii=False,
        )
    )
    if args.out:
        update_benchmarks_md(Path(args.out), section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
