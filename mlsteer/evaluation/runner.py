"""Run methods over a task's items for several languages, writing each batch to the store."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from mlsteer.evaluation.methods import Method
from mlsteer.evaluation.scoring import score_choices
from mlsteer.evaluation.store import ResultRow, ResultStore
from mlsteer.evaluation.tasks.base import Example, Task
from mlsteer.langid import detect_language
from mlsteer.models.wrapper import SteerableModel
from mlsteer.steering.generate import generate

GENERATION_STOPS = ("\n\n", "Question:", "Pregunta:", "问题：")


def evaluate(
    model: SteerableModel,
    task: Task,
    langs: Sequence[str],
    methods: Sequence[Method],
    run_dir: str | os.PathLike,
    limit: int | None = None,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    batch_size: int = 8,
    max_new_tokens: int = 128,
    progress: bool = True,
    split: str | None = None,
) -> ResultStore:
    """Evaluate every (language, method) pair; resumes from what ``run_dir`` already holds.

    Everything that can fail on bad input (unknown language, missing files, a vector for
    another model) is checked for all languages and methods before the first row is written.
    ``split`` defaults to the task's test split (sweeps choose on ``task.fewshot_split``).
    """
    run_dir = Path(run_dir)
    examples = {lang: task.load(lang, split=split, data_dir=data_dir, limit=limit, seed=seed) for lang in langs}
    for lang in langs:
        for method in methods:
            method.setup(model, task, lang, data_dir, seed, run_dir)
    store = ResultStore(run_dir)
    for lang in langs:
        for method in methods:
            done = store.done(model.name, task.name, lang, method.name)
            todo = [e for e in examples[lang] if e.id not in done]
            bar = tqdm(total=len(examples[lang]), initial=len(examples[lang]) - len(todo), disable=not progress,
                       desc=f"{task.name} {lang} {method.name}", leave=False)
            for start in range(0, len(todo), batch_size):
                batch = todo[start : start + batch_size]
                rows = _run_batch(model, task, method, lang, batch, batch_size, max_new_tokens)
                store.add(rows)
                bar.update(len(batch))
            bar.close()
    return store


def _run_batch(model, task: Task, method: Method, lang: str, batch: list[Example], batch_size: int, max_new_tokens: int) -> list[ResultRow]:
    answering = method.model_for(model)
    queries = method.queries(answering, task, batch)
    rows = []
    with method.active(answering, lang):
        if task.kind == "choice":
            scores = score_choices(answering, queries, batch_size=batch_size * 4)
            for example, score in zip(batch, scores):
                prediction = score.prediction
                rows.append(ResultRow(model.name, task.name, lang, method.name, example.id, str(prediction),
                                      str(example.gold), task.is_correct(prediction, example), list(score.logprobs)))
        else:
            outputs = generate(answering, [q.context for q in queries], max_new_tokens, stop_strings=GENERATION_STOPS).texts
            for example, output in zip(batch, outputs):
                prediction = task.extract(output)
                rows.append(ResultRow(model.name, task.name, lang, method.name, example.id, prediction,
                                      str(example.gold), task.is_correct(prediction, example), None,
                                      output, detect_language(output)))
    return rows
