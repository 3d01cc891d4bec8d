"""Run methods over a task's items for several languages, writing each batch to the store."""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from mlsteer import distributed
from mlsteer.errors import MlsteerError
from mlsteer.evaluation.fingerprints import Fingerprint, describe_changes, run_fingerprint
from mlsteer.evaluation.methods import Method
from mlsteer.evaluation.scoring import score_choices
from mlsteer.evaluation.store import ResultRow, ResultStore, merge_shards, settings_changed
from mlsteer.evaluation.tasks.base import Example, Query, Task
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
    overwrite: bool = False,
) -> ResultStore:
    """Evaluate every (language, method) pair; resumes from what ``run_dir`` already holds.

    Everything that can fail on bad input (unknown language, missing files, a vector for
    another model) is checked for all languages and methods before the first row is written.
    ``split`` defaults to the task's test split (sweeps choose on ``task.fewshot_split``).
    Cells that run the same model state share batches (:func:`plan_batches`), so batches stay
    full across languages and methods; one progress bar shows items/s for the whole task.

    Rows are resumed only from a cell made with the same settings: each (language, method)
    cell's fingerprint (:mod:`mlsteer.evaluation.fingerprints`: the method's, e.g. the vector
    file's sha256 and alpha, plus the run's: model, split, limit, sample seed, the items, the
    task's prompt version) is checked against the one the store registered, for every cell
    before anything is written. A changed cell is refused with a
    :class:`~mlsteer.evaluation.store.SettingsChangedError` naming the method, the language and
    what changed, unless ``overwrite``: then that cell's rows are deleted and recomputed (cells
    whose settings did not change still resume). Two methods given the same name but with
    different settings (two ``v.safetensors`` from different folders) are refused before
    anything runs: give one a distinct ``label``. The same method given twice runs once.

    Under ``torchrun`` every rank calls this with the same arguments: the batches still to do
    are dealt round-robin (each batch holds the same items as in one process, so the rows are
    the same), each rank writes its own shard file, and the returned store (on every rank)
    holds the merged rows. Rank 0 registers the fingerprints (and deletes overwritten rows)
    before the ranks start. See :mod:`mlsteer.distributed`.
    """
    run_dir = Path(run_dir)
    split = split or task.test_split
    examples = {
        lang: task.load(lang, split=split, data_dir=data_dir, limit=limit, seed=seed)
        for lang in langs
    }
    with distributed.main_first():  # setup may translate or load a model into shared files
        for lang in langs:
            for method in methods:
                method.setup(model, task, lang, data_dir, seed, run_dir)
    runs = {
        lang: run_fingerprint(model, task, split, limit, seed, examples[lang]) for lang in langs
    }
    methods, prints = _distinct(methods, langs, runs)
    parallel = distributed.world_size() > 1
    if distributed.is_main():
        merge_shards(run_dir)  # rows a killed data-parallel run left in rank files (any world size)
    distributed.barrier()
    store = ResultStore(run_dir)  # not written while ranks run: every rank sees the same todo list
    try:
        store.verify()  # a truncated file fails now, not part-way through the run
        found = store.conflicts(
            model.name, task.name, prints
        )  # every rank reads the same store: all raise alike
        if found and not overwrite:
            raise settings_changed(store.path, found)
        if distributed.is_main():
            store.claim(
                model.name, task.name, prints, overwrite=overwrite
            )  # registered before any row is written
    except BaseException:
        store.close()
        raise
    distributed.barrier()
    writer = ResultStore(run_dir, shard=distributed.rank()) if parallel else store
    todo = {
        (lang, method): [
            e
            for e in examples[lang]
            if e.id not in store.done(model.name, task.name, lang, method.name)
        ]
        for lang in langs
        for method in methods
    }
    batches = distributed.my_share(plan_batches(model, task, todo, batch_size))
    bar = tqdm(
        total=sum(len(batch) for batch in batches),
        disable=not progress or not distributed.is_main(),
        desc=f"{task.name} {','.join(langs)} x {len(methods)} methods"
        + (f" (rank 0 of {distributed.world_size()})" if parallel else ""),
        leave=False,
        unit="item",
    )
    fail_after = _fail_after()
    for batch in batches:
        writer.add(_run_batch(model, task, batch, batch_size, max_new_tokens))
        bar.update(len(batch))
        fail_after = _maybe_fail(fail_after)
    bar.close()
    if parallel:
        writer.close()
        store.close()
        distributed.barrier()
        if distributed.is_main():
            merge_shards(run_dir)
        distributed.barrier()
        store = ResultStore(run_dir)
    return store


def _distinct(
    methods: Sequence[Method],
    langs: Sequence[str],
    runs: dict[str, Fingerprint],
) -> tuple[list[Method], dict[tuple[str, str], Fingerprint]]:
    """The methods with one of each name (a method given twice is run once), and each cell's
    fingerprint; two methods of one name that would make different rows are an error naming both."""
    kept: dict[str, Method] = {}
    prints: dict[tuple[str, str], Fingerprint] = {}
    for method in methods:
        mine = {lang: {**runs[lang], **method.fingerprint(lang)} for lang in langs}
        first = kept.get(method.name)
        if first is None:
            kept[method.name] = method
            prints.update({(lang, method.name): mine[lang] for lang in langs})
            continue
        differing = [lang for lang in langs if prints[(lang, method.name)] != mine[lang]]
        if differing:
            lang = differing[0]
            raise MlsteerError(
                f"two methods are named {method.name} but make different rows ({lang}: "
                f"{describe_changes(prints[(lang, method.name)], mine[lang])}): {first.origin(lang)} and "
                f"{method.origin(lang)}; give them distinct labels (Steered(label=...), or vector files with "
                "different names) so their rows are kept apart"
            )
    return list(kept.values()), prints


Unit = tuple[str, Method, Example]  # (language, method, item): one row to produce


def plan_batches(
    model: SteerableModel,
    task: Task,
    todo: dict[tuple[str, Method], list[Example]],
    batch_size: int,
) -> list[list[Unit]]:
    """Batches over every (language, method) cell: cells whose model state is the same (the
    unsteered prompt methods of all languages; one steering file used for several languages)
    share batches, and within such a group items are sorted longest prompt first, so batches are
    full and hold prompts of similar length. Deterministic: every rank plans the same batches."""
    groups: dict[Hashable, list[Unit]] = {}
    for (lang, method), examples in todo.items():
        key = (id(method.model_for(model)), method.state(lang))
        groups.setdefault(key, []).extend((lang, method, example) for example in examples)
    batches: list[list[Unit]] = []
    for units in groups.values():
        units.sort(
            key=lambda unit: -unit[1].length_hint(task, unit[2])
        )  # stable: ties keep cell order
        batches += [units[i : i + batch_size] for i in range(0, len(units), batch_size)]
    return batches


def _fail_after() -> int | None:
    """Test hook: ``MLSTEER_FAIL_AFTER_BATCHES=N`` (on ``MLSTEER_FAIL_RANK``, default every
    rank) makes this process die hard after writing N batches, as a killed job would."""
    count = os.environ.get("MLSTEER_FAIL_AFTER_BATCHES")
    wanted = os.environ.get("MLSTEER_FAIL_RANK")
    if count is None or (wanted is not None and int(wanted) != distributed.rank()):
        return None
    return int(count)


def _maybe_fail(remaining: int | None) -> int | None:
    if remaining is None:
        return None
    if remaining <= 1:
        os._exit(17)  # no cleanup, no flush: what SIGKILL or a lost node leaves behind
    return remaining - 1


def _run_batch(
    model: SteerableModel, task: Task, batch: list[Unit], batch_size: int, max_new_tokens: int
) -> list[ResultRow]:
    """Rows for one planned batch (its cells share one model state, so the first cell's
    method and language activate it for all)."""
    first_lang, first_method, _ = batch[0]
    answering = first_method.model_for(model)
    cells: dict[tuple[str, Method], list[int]] = {}
    for index, (lang, method, _) in enumerate(batch):
        cells.setdefault((lang, method), []).append(index)
    ordered: list[Query] = [None] * len(batch)  # type: ignore[list-item]  # every slot is filled below
    for (_lang, method), indices in cells.items():
        for index, query in zip(
            indices, method.queries(answering, task, [batch[i][2] for i in indices]), strict=True
        ):
            ordered[index] = query
    rows = []
    with first_method.active(answering, first_lang):
        if task.kind == "choice":
            scores = score_choices(answering, ordered, batch_size=batch_size * 4)
            for (lang, method, example), score in zip(batch, scores):
                rows.append(
                    _row(
                        model,
                        task,
                        lang,
                        method,
                        example,
                        score.prediction,
                        scores=list(score.logprobs),
                        option_bytes=list(score.byte_lengths),
                    )
                )
        else:
            outputs = generate(
                answering,
                [q.context for q in ordered],
                max_new_tokens,
                stop_strings=GENERATION_STOPS,
            ).texts
            for (lang, method, example), output in zip(batch, outputs):
                rows.append(
                    _row(
                        model,
                        task,
                        lang,
                        method,
                        example,
                        task.extract(output),
                        output=output,
                        output_lang=detect_language(output),
                    )
                )
    return rows


def _row(model, task, lang: str, method, example, prediction, **extra: Any) -> ResultRow:
    """One stored row: who answered what on which item, and whether it is right; ``extra``:
    the choice scores and option bytes, or the generated text and its language."""
    return ResultRow(
        model.name,
        task.name,
        lang,
        method.name,
        example.id,
        str(prediction),
        str(example.gold),
        task.is_correct(prediction, example),
        **extra,
    )
