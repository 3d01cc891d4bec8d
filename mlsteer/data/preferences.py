"""Preference triples for BiPO: (prompt, chosen, rejected), built from parallel text or tasks.

Two builders, as in the paper's training data:
- from a parallel corpus: the prompt is the target-language text in a neutral template, the
  chosen completion is its English translation, the rejected one is the target text itself
  (so the vector learns "continue in English" rather than "continue in the target language");
- from a task with answers (MSVAMP): the prompt is the target-language question, the chosen
  completion an English answer sentence, the rejected one the same sentence in the target
  language.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mlsteer.data.pairs import ParallelPairs
from mlsteer.errors import EmptyInputError, MlsteerError

# Neutral: no instruction and no language named; the newline gives a clean token boundary
# between prompt and completion.
PARALLEL_TEMPLATE = "{text}\n"

# "The answer is N." per language, written for mlsteer.
ANSWER_SENTENCES = {
    "en": "The answer is {}.",
    "es": "La respuesta es {}.",
    "fr": "La réponse est {}.",
    "de": "Die Antwort ist {}.",
    "ru": "Ответ: {}.",
    "zh": "答案是{}。",
    "ja": "答えは{}です。",
    "th": "คำตอบคือ {}",
    "sw": "Jibu ni {}.",
    "bn": "উত্তর হল {}।",
    "te": "సమాధానం {}.",
}


@dataclass(frozen=True)
class PreferenceTriple:
    prompt: str
    chosen: str
    rejected: str

    def __post_init__(self) -> None:
        for name in ("prompt", "chosen", "rejected"):
            if not getattr(self, name).strip():
                raise EmptyInputError(
                    f"a preference triple has an empty {name}; every part needs text"
                )


def triples_from_parallel(
    pairs: ParallelPairs, template: str = PARALLEL_TEMPLATE
) -> list[PreferenceTriple]:
    """prompt = template(target text), chosen = English text, rejected = target text."""
    return [
        PreferenceTriple(template.format(text=t), e, t) for e, t in zip(pairs.english, pairs.target)
    ]


def format_answer(answer: str) -> str:
    """``"8.0"`` -> ``"8"``; other numbers keep their digits."""
    try:
        value = float(answer)
    except ValueError:
        return answer.strip()
    return str(int(value)) if value.is_integer() else f"{value:g}"


def triples_from_answers(
    questions: Iterable[str], answers: Iterable[str], lang: str
) -> list[PreferenceTriple]:
    """prompt = target question + newline, chosen = English answer sentence, rejected = the
    same sentence in ``lang`` (e.g. MSVAMP's ``m_query`` and ``response``)."""
    if lang not in ANSWER_SENTENCES:
        raise MlsteerError(
            f"no answer sentence for {lang!r}; languages with one: {', '.join(ANSWER_SENTENCES)}"
        )
    triples = []
    for question, answer in zip(questions, answers, strict=True):
        value = format_answer(answer)
        triples.append(
            PreferenceTriple(
                f"{question.strip()}\n",
                ANSWER_SENTENCES["en"].format(value),
                ANSWER_SENTENCES[lang].format(value),
            )
        )
    if not triples:
        raise EmptyInputError("no questions given; pass at least one")
    return triples
