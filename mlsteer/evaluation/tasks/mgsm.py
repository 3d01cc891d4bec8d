"""MGSM (Shi et al. 2022): grade-school maths word problems, answered by generation.

Prompt as lm-evaluation-harness's ``mgsm_native_cot``: ``QUESTION + question + "\\n" + ANSWER``
where the prefixes are the language's "Question:" and "Step-by-Step Answer:" (:data:`PROMPTS`),
so the model writes a chain of thought in the language. The prefixes are taken from the
8 human-translated exemplars (``derived_mgsm_exemplars.json``), not from the harness's
``utils.py``, so that the shots and the asked question look alike. They differ from the harness
in zh and ja, which use the full-width colon with no space ("问题：", "逐步解答："; harness
"问题: ", "逐步解答:"), and in ru, "Пошаговое решение:" (harness "Пошаговоерешение:", a lost space).

Splits: ``test`` is ``mgsm/mgsm_{lang}.tsv`` (question TAB answer; answers such as "2,125" have
the comma stripped); ``train`` (few-shot) is the 8 exemplars, whose answer text is the
exemplar's chain of thought and whose gold comes from ``EXEMPLAR_NUMBER_ANSWERS``. Ids are
``test-{row}`` (row from 0) and ``train-{n}`` (n = 1..8, the exemplar's key). MGSM is parallel
across languages, so non-English examples carry the English row in ``english``.

:meth:`MGSM.extract` reads "The answer is N" in any language (:data:`PROMPTS`' answer
sentences, plus a few variants the exemplars use), else the last number in the text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NamedTuple

from mlsteer.evaluation.tasks.base import (
    Example,
    Query,
    Task,
    malformed,
    read_tsv,
    require_file,
)
from mlsteer.evaluation.tasks.registry import register_task


class Prompt(NamedTuple):
    question: str  # prefix of the question, with the separator that follows it
    answer: str  # prefix of the answer (the context ends with it)
    sentence: (
        str  # the closing "The answer is {}." as the exemplars write it, with its leading separator
    )


# From the exemplars of derived_mgsm_exemplars.json (their "q"/"a" prefixes and last sentence).
PROMPTS = {
    "bn": Prompt("প্রশ্ন: ", "ধাপে ধাপে উত্তর:", " উত্তর হল {}।"),
    "de": Prompt("Frage: ", "Schritt-für-Schritt-Antwort:", " Die Antwort lautet {}."),
    "en": Prompt("Question: ", "Step-by-Step Answer:", " The answer is {}."),
    "es": Prompt("Pregunta: ", "Respuesta paso a paso:", " La respuesta es {}."),
    "fr": Prompt("Question : ", "Réponse étape par étape :", " La réponse est {}."),
    "ja": Prompt("問題：", "ステップごとの答え：", "答えは{}です。"),
    "ru": Prompt("Задача: ", "Пошаговое решение:", " Ответ — {}."),
    "sw": Prompt("Swali: ", "Jibu la Hatua kwa Hatua:", " Jibu ni {}."),
    "te": Prompt("ప్రశ్న: ", "దశలవారీగా సమాధానం:", " సమాధానం {}."),
    "th": Prompt("โจทย์: ", "คำตอบทีละขั้นตอน:", " คำตอบคือ {}"),
    "zh": Prompt("问题：", "逐步解答：", "答案是 {}。"),
}
# Answer phrases the exemplars also use ("Die Antwort ist 11.") or models often write ("Ответ: 5").
EXTRA_PHRASES = ("Die Antwort ist", "Ответ", "答え", "答案", "答案为")

# Bump when what the model sees (render, answer_text) or how its answer is read (extract, is_correct)
# changes: stored rows of the old version are then refused on a rerun, not mixed with new ones.
PROMPT_VERSION = "1"

_NUMBER = r"[-−]?[0-9]+(?:,[0-9]{3}(?![0-9]))*(?:\.[0-9]+)?"  # ',' only as a thousands separator
_AFTER_PHRASE = r"[\s:：—–=]*[$€£¥]?\s*"


def _phrase_pattern(phrase: str) -> str:
    return r"\s+".join(re.escape(word) for word in phrase.split())


_ANSWER_PATTERN = re.compile(
    "(?:"
    + "|".join(_phrase_pattern(p.sentence.split("{}")[0]) for p in PROMPTS.values())
    + "|"
    + "|".join(_phrase_pattern(p) for p in EXTRA_PHRASES)
    + ")"
    + _AFTER_PHRASE
    + f"({_NUMBER})",
    re.IGNORECASE,
)


def ascii_digits(text: str) -> str:
    """NFKC (full-width forms) and every Unicode decimal digit (Thai, Bengali...) as 0-9."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\d", lambda match: str(unicodedata.decimal(match.group())), text)


def normalise_number(text: str) -> str:
    """``"2,125"`` → ``"2125"``, ``"18.0"`` → ``"18"``, ``"−5"`` → ``"-5"``; ``""`` if not a number."""
    try:
        value = Decimal(ascii_digits(text).replace(",", "").replace("−", "-").strip())
    except InvalidOperation:
        return ""
    if not value.is_finite():
        return ""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def extract_number(text: str) -> str:
    """The number after the first "The answer is" (any language), else the last number; else ``""``."""
    text = ascii_digits(text)
    match = _ANSWER_PATTERN.search(text)
    if match:
        return normalise_number(match.group(1))
    numbers = re.findall(_NUMBER, text)
    return normalise_number(numbers[-1]) if numbers else ""


@register_task
class MGSM(Task):
    name = "mgsm"
    kind = "generation"
    languages = tuple(PROMPTS)
    test_split = "test"
    fewshot_split = "train"
    hub_id = "juletxara/mgsm"
    translatable = ("question",)
    parallel = True
    description = "grade-school mathematics"
    answer_format = "The answer is <a number>."
    prompt_version = PROMPT_VERSION

    def read(self, folder: Path, lang: str, split: str) -> list[Example]:
        if split == "test":
            return _read_test(folder / "mgsm" / f"mgsm_{lang}.tsv", lang)
        return _read_exemplars(folder / "mgsm" / "derived_mgsm_exemplars.json", lang)

    def read_hub(self, lang: str, split: str) -> list[Example]:  # pragma: no cover - needs the Hub
        from datasets import load_dataset

        examples = []
        for number, r in enumerate(load_dataset(self.hub_id, lang, split=split)):
            fields = {"question": r["question"].removeprefix(PROMPTS[lang].question)}
            if r["answer"]:  # the train split's exemplars hold their chain of thought
                fields["answer"] = r["answer"]
            examples.append(Example(f"{split}-{number}", lang, fields, str(r["answer_number"])))
        return examples

    def render(self, example: Example) -> Query:
        prompt = PROMPTS[example.lang]
        return Query(f"{prompt.question}{example.fields['question']}\n{prompt.answer}")

    def answer_text(self, example: Example) -> str:
        """The exemplar's chain of thought, or for a test row just the closing sentence."""
        prompt = PROMPTS[example.lang]
        if "answer" in example.fields:
            return example.fields["answer"].removeprefix(prompt.answer)
        return prompt.sentence.format(example.gold)

    def extract(self, text: str) -> str:
        return extract_number(text)

    def is_correct(self, prediction: int | str, example: Example) -> bool:
        """``prediction``: a number string (from :meth:`extract`) or the generated text."""
        value = extract_number(str(prediction))
        return value != "" and value == example.gold


def _read_test(path: Path, lang: str) -> list[Example]:
    examples = []
    for number, (line, (question, answer)) in enumerate(read_tsv(path, 2)):
        gold = normalise_number(answer)
        if not re.fullmatch(r"-?[0-9]+", gold):
            raise malformed(
                path, line, f"answer must be an integer (commas allowed), got {answer!r}"
            )
        examples.append(Example(f"test-{number}", lang, {"question": question}, gold))
    return examples


def _read_exemplars(path: Path, lang: str) -> list[Example]:
    """The 8 exemplars of ``lang``; the file is one JSON object, so errors name the key."""
    try:
        data = json.loads(require_file(path).read_text(encoding="utf-8"))
        exemplars = data["MGSM_EXEMPLARS"][lang]
    except json.JSONDecodeError as error:
        raise malformed(path, error.lineno, f"not JSON ({error.msg})") from None
    except (KeyError, TypeError):
        raise malformed(path, f"MGSM_EXEMPLARS[{lang!r}]", "missing") from None
    numbers = data.get("EXEMPLAR_NUMBER_ANSWERS") or []
    prompt = PROMPTS[lang]
    examples = []
    for key in sorted(exemplars, key=int):
        item, where = exemplars[key], f"MGSM_EXEMPLARS[{lang!r}][{key!r}]"
        if not isinstance(item, dict) or not {"q", "a"} <= set(item):
            raise malformed(path, where, "must hold 'q' and 'a'")
        if not item["q"].startswith(prompt.question) or not item["a"].startswith(prompt.answer):
            raise malformed(
                path, where, f"q and a must start with {prompt.question!r} and {prompt.answer!r}"
            )
        index = int(key) - 1
        gold = (
            normalise_number(str(numbers[index]))
            if index < len(numbers)
            else extract_number(item["a"])
        )
        fields = {"question": item["q"].removeprefix(prompt.question), "answer": item["a"]}
        examples.append(Example(f"train-{key}", lang, fields, gold))
    return examples
