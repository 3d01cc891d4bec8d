"""Example generations for the report: a few task prompts per language, continued greedily
unsteered, with each learner's chosen vector (its layer and alpha baked into ``chosen/``), and
under the two controls the tables report (negated, and random of the same norm, seeded as the
evaluation seeds it), so a reader sees what the numbers mean.

Written to ``examples.json`` after every (language, learner) and resumed: an entry made with the
same prompts, settings and vector is kept, anything else is generated again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlsteer.evaluation.fingerprints import steering_sha256
from mlsteer.evaluation.tasks import get_task
from mlsteer.io import write_text_atomic
from mlsteer.layout import language_file
from mlsteer.models.wrapper import SteerableModel
from mlsteer.steering.generate import generate
from mlsteer.steering.hooks import steer
from mlsteer.steering.sources import checked_entries, with_control

EXAMPLES = "examples.json"
UNSTEERED = "unsteered"
CONTROLS = {"steered": "", "negated": "negated", "random": "random"}  # condition -> control
NEW_TOKENS = 16  # short: enough to see the language and the answer, cheap on a CPU
PROMPTS = 3


@dataclass(frozen=True)
class Prompt:
    """One task item as the model sees it (zero-shot) and its gold answer."""

    id: str
    text: str
    gold: str


def example_prompts(
    tasks: Sequence[str],
    lang: str,
    n: int = PROMPTS,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
) -> tuple[str, list[Prompt]] | None:
    """``n`` test items of the first of ``tasks`` that has ``lang`` (``None``: none has it)."""
    for name in tasks:
        task = get_task(name)
        if lang not in task.languages:
            continue
        items = task.load(lang, data_dir=data_dir, limit=n, seed=seed)
        return task.name, [
            Prompt(item.id, task.render(item).context, task.answer_text(item).strip())
            for item in items
        ]
    return None


def run_examples(
    model: SteerableModel,
    prompts: Mapping[str, tuple[str, Sequence[Prompt]]],
    vectors: Mapping[str, str | os.PathLike],
    out: str | os.PathLike,
    max_new_tokens: int = NEW_TOKENS,
    seed: int = 0,
    positions: Mapping[str, str] | None = None,
) -> tuple[Path, int]:
    """Generate for each language of ``prompts`` (language -> (task, prompts)) unsteered and, for
    each learner of ``vectors`` (learner -> folder of ``{lang}.safetensors`` at chosen
    strength) that has the language, steered, negated and random; ``positions`` (learner ->
    ``all`` / ``prompt``) as the evaluation applies them. Returns the file and how many
    generation batches ran (0: all kept from an earlier run). The unsteered rows of every
    language run as one batch."""
    path = Path(out) / EXAMPLES
    settings = {"model": model.fingerprint, "max_new_tokens": max_new_tokens, "seed": seed}
    record = _load(path, settings)
    heads = {
        lang: {"task": task, "prompts": [asdict(p) for p in items]}
        for lang, (task, items) in prompts.items()
    }
    stale = [lang for lang, head in heads.items() if not _made_with(record, lang, head)]
    ran = 0
    if stale:  # every language's unsteered rows in one batch: one pass over the weights per token
        texts = [p["text"] for lang in stale for p in heads[lang]["prompts"]]
        generated = iter(_generate(model, texts, max_new_tokens))
        for lang in stale:
            unsteered = [next(generated) for _ in heads[lang]["prompts"]]
            record["languages"][lang] = {**heads[lang], UNSTEERED: unsteered, "learners": {}}
        ran += 1
        _write(path, record)
    for lang, head in heads.items():
        entry, texts = record["languages"][lang], [p["text"] for p in head["prompts"]]
        for learner, folder in vectors.items():
            if not language_file(folder, lang).is_file():
                continue  # this learner has no vector for the language
            file, stored = checked_entries(model, folder, lang)
            where = (positions or {}).get(learner, "all")
            key = {"sha256": steering_sha256(stored), "positions": where}
            done = entry["learners"].get(learner, {})
            if {k: done.get(k) for k in key} == key and all(c in done for c in CONTROLS):
                continue
            result: dict[str, Any] = {**key, "vector": file.name}
            result["layers"] = [item.layer for item in stored]
            for condition, control in CONTROLS.items():
                with steer(model, with_control(stored, control, seed), positions=where):
                    result[condition] = _generate(model, texts, max_new_tokens)
                ran += 1
            entry["learners"][learner] = result
            _write(path, record)
    if not path.is_file():
        _write(path, record)
    return path, ran


def _made_with(record: dict[str, Any], lang: str, head: dict[str, Any]) -> bool:
    """Whether ``record`` holds ``lang``'s unsteered rows for these prompts."""
    entry = record["languages"].get(lang)
    return (
        isinstance(entry, dict)
        and {k: entry.get(k) for k in head} == head
        and UNSTEERED in entry
        and isinstance(entry.get("learners"), dict)
    )


def _write(path: Path, record: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(record, indent=1, ensure_ascii=False))


def _generate(model: SteerableModel, texts: list[str], max_new_tokens: int) -> list[str]:
    return generate(model, texts, max_new_tokens=max_new_tokens).texts


def _load(path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The earlier record if it was made with ``settings`` and reads back; else a fresh one."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or damaged: generated again (it is cheap)
        record = None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("languages"), dict)
        or {k: record.get(k) for k in settings} != settings
    ):
        return {**settings, "languages": {}}
    return record
