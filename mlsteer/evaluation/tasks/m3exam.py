"""M3Exam (Zhang et al. 2023): real school-exam questions, text-only, 2 to 8 options.

Prompt: the background passages (one per line), the question, the options relabelled uniformly
as ``A. text``, ``B. text``, ... and ``Answer:``; continuations `` A``, `` B``, ... one per option
(the layout of the Okapi m_mmlu task; lm-evaluation-harness has no M3Exam task, and the M3Exam
paper's own instruction-style prompt is not used, so that all choice tasks score alike).

The files label options in many styles, by language and source: ``A. text``, ``(1) text``,
``a) text``, ``(B)text``, ``C : text``, ``A text``, full-width ``A．``/``（E）``, Thai digits
``๑.``, a Cyrillic ``В`` for B. Each option is parsed into (label, text); labels compare
case-insensitively, full-width forms and Thai or other digits read as A-Z and 0-9, and the gold
option is the one whose label equals ``answer_text``. Where a row's labels repeat (a typo:
``A, B, C, A`` or ``(1) (2) (2) (4)``) the answer's rank (C or 3 → third) picks by position.
Empty option strings are dropped; options whose texts repeat are kept, as in the benchmark.
A row whose answer matches no option is an error naming the file, line and row, except the
rows listed in :data:`KNOWN_BROKEN` (the shipped files lost their option E), which are skipped.

Rows with ``need_image == "yes"`` are skipped (the question needs a picture); none of the rows
in the current files has it. Ids are ``{split}-{row}`` (row in the file, from 0, skipped rows
counted). Splits: ``test`` and ``dev`` (few-shot). Thai has only ``dev`` in the data folder.
Afrikaans and Javanese files exist but are left out: mlsteer's language table does not have them.
M3Exam is not parallel across languages, so examples carry no ``english``.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from mlsteer.evaluation.tasks.base import (
    LETTERS,
    Example,
    Query,
    Task,
    check_keys,
    lettered_query,
    malformed,
    read_json_list,
)
from mlsteer.evaluation.tasks.registry import register_task

FILE_NAMES = {
    "en": "english",
    "it": "italian",
    "pt": "portuguese",
    "sw": "swahili",
    "th": "thai",
    "vi": "vietnamese",
    "zh": "chinese",
}
# Rows of the shipped test files whose answer is not among the options (its option was lost:
# answer E, options A-D); skipped while they stay broken, any other such row is an error.
KNOWN_BROKEN = {
    "portuguese-questions-test": (88, 230, 255, 347, 450, 525, 784, 801, 879),
    "swahili-questions-test": (113,),
}
OPTION_KEYS = tuple(f"option_{letter.lower()}" for letter in LETTERS)
# Bump when what the model sees (render, answer_text) or how its answer is read (extract, is_correct)
# changes: stored rows of the old version are then refused on a rerun, not mixed with new ones.
PROMPT_VERSION = "1"
HOMOGLYPHS = str.maketrans("АВСЕ", "ABCE")  # Cyrillic capitals seen as option labels
# one letter or digit, optionally in (half- or full-width) brackets, then ")", ".", ":", "," or a space
_OPTION = re.compile(
    r"\s*[(（]?\s*([^\W_])\s*(?:[)）]\s*[.:,．：，]?|[.:,．：，、]|\s|$)\s*(.*)", re.DOTALL
)


def normalise_label(label: str) -> str:
    """``"a"`` → ``"A"``, ``"Ａ"`` → ``"A"``, ``"๓"`` → ``"3"``, Cyrillic ``"В"`` → ``"B"``."""
    label = unicodedata.normalize("NFKC", label).translate(HOMOGLYPHS)
    return str(unicodedata.decimal(label)) if label.isdecimal() else label.upper()


def parse_option(option: str) -> tuple[str, str] | None:
    """(normalised label, text) of a labelled option, or ``None`` if it has no label.

    No NFKC on the text: it would turn "①②③" into "123".
    """
    match = _OPTION.fullmatch(option)
    return None if match is None else (normalise_label(match.group(1)), match.group(2).strip())


@register_task
class M3Exam(Task):
    name = "m3exam"
    kind = "choice"
    languages = tuple(FILE_NAMES)
    test_split = "test"
    fewshot_split = "dev"
    translatable = ("background", "question", *OPTION_KEYS)  # the option keys an example has
    description = "school exams"
    answer_format = "Answer: <the letter of the correct option>"
    prompt_version = PROMPT_VERSION

    def read(self, folder: Path, lang: str, split: str) -> list[Example]:
        path = folder / "m3exam" / f"{FILE_NAMES[lang]}-questions-{split}.json"
        examples = []
        for number, (line, row) in enumerate(read_json_list(path)):
            where = f"{line} (row {number})"
            row = check_keys(
                path,
                where,
                row,
                ("question_text", "background_description", "options", "answer_text"),
            )
            if row.get("need_image") == "yes":
                continue
            parsed = _options_and_gold(path, where, row)
            if isinstance(parsed, str):
                if number in KNOWN_BROKEN.get(path.stem, ()):
                    continue
                raise malformed(path, where, parsed)
            options, gold = parsed
            fields = {
                "background": "\n".join(
                    part.strip() for part in row["background_description"] if part.strip()
                ),
                "question": row["question_text"].strip(),
                **dict(zip(OPTION_KEYS, options)),
            }
            examples.append(Example(f"{split}-{number}", lang, fields, gold))
        return examples

    def render(self, example: Example) -> Query:
        stem = "\n".join(
            text for text in (example.fields["background"], example.fields["question"]) if text
        )
        return lettered_query(
            stem, [example.fields[key] for key in OPTION_KEYS if key in example.fields]
        )

    def answer_text(self, example: Example) -> str:
        return f" {LETTERS[int(example.gold)]}"


def _options_and_gold(path: Path, where: str, row: dict) -> tuple[list[str], int] | str:
    """The option texts (labels removed, empty options dropped) and the index of the answer;
    or, for a row that cannot be answered, why not."""
    lists = (row["options"], row["background_description"])
    if not all(isinstance(value, list) for value in lists) or not all(
        isinstance(text, str)
        for text in (row["question_text"], row["answer_text"], *lists[0], *lists[1])
    ):
        raise malformed(path, where, "options and background_description must be lists of strings")
    parsed = []
    for option in row["options"]:
        if not option.strip():
            continue
        label_text = parse_option(option)
        if label_text is None:
            raise malformed(path, where, f"option {option[:40]!r} has no label (A., (1), a) ...)")
        parsed.append(label_text)
    if not 2 <= len(parsed) <= len(LETTERS):
        raise malformed(path, where, f"expected 2 to {len(LETTERS)} options, got {len(parsed)}")
    labels = [label for label, _ in parsed]
    texts = [text for _, text in parsed]
    answer = row["answer_text"].strip().strip("().")
    answer = normalise_label(answer) if len(answer) == 1 else "?"
    if len(set(labels)) == len(labels):
        matches = [index for index, label in enumerate(labels) if label == answer]
        gold = matches[0] if matches else None
    else:  # a label typo ("A, B, C, A"): the answer's rank in its alphabet picks by position
        rank = int(answer) - 1 if answer.isdecimal() else LETTERS.find(answer)
        gold = rank if 0 <= rank < len(parsed) else None
    if gold is None:
        return f"answer {row['answer_text']!r} matches no option (labels: {', '.join(labels)})"
    return texts, gold
