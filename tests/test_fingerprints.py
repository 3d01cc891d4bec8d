"""Trustworthy reruns: stored rows are keyed by what produced them (issue 16 item 1, issue 17).

A rerun resumes a cell only when its fingerprint (vector file bytes, alpha, items, prompt
version...) is unchanged; a change is refused naming it, or recomputed with ``overwrite``. Item
ids are unique, batches never hold a key twice, choice rows keep their option byte lengths, a
damaged store is one line, and two processes writing one run folder lose and duplicate nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlsteer.errors import MlsteerError
from mlsteer.evaluation import runner
from mlsteer.evaluation.fingerprints import describe_changes
from mlsteer.evaluation.methods import Basic, FewShot, Steered, parse_method
from mlsteer.evaluation.runner import evaluate
from mlsteer.evaluation.scoring import ChoiceScores, score_choices
from mlsteer.evaluation.store import (
    DamagedStoreError,
    DuplicateRowsError,
    ResultRow,
    ResultStore,
    SettingsChangedError,
    acc_norm_prediction,
)
from mlsteer.evaluation.tasks.base import Example, Query, Task
from mlsteer.evaluation.tasks.cloze import Cloze
from mlsteer.evaluation.tasks.custom import load_task_file
from mlsteer.evaluation.tasks.m_mmlu import MMMLU
from mlsteer.evaluation.tasks.xcopa import XCOPA
from mlsteer.steering import SteeringVector

from .test_evaluation import write_xcopa
from .tolerances import FORWARD, approx_scaled

ROOT = Path(__file__).resolve().parents[1]
OLD_SCHEMA = """
CREATE TABLE results (
    model TEXT NOT NULL, task TEXT NOT NULL, lang TEXT NOT NULL, method TEXT NOT NULL,
    item_id TEXT NOT NULL, prediction TEXT, gold TEXT, correct INTEGER NOT NULL,
    scores TEXT, output TEXT, output_lang TEXT, created REAL,
    PRIMARY KEY (model, task, lang, method, item_id)
)
"""


@pytest.fixture
def data_dir(tmp_path):
    return write_xcopa(tmp_path / "data", n_test=12, n_val=6)


def _vector(model, seed: int, sign: float = 1.0) -> SteeringVector:
    direction = torch.randn(64, generator=torch.Generator().manual_seed(seed)) * 3
    return SteeringVector(sign * direction, 1, "t", model.fingerprint)


def _scores(store: ResultStore) -> dict[tuple[str, str, str], list[float]]:
    return {(r.lang, r.method, r.item_id): r.scores for r in store.rows()}


def _no_scoring(monkeypatch) -> None:
    """Any batch the runner still runs fails the test: a resumed run recomputes nothing."""

    def refuse(*args, **kwargs):
        raise AssertionError("a batch was recomputed")

    monkeypatch.setattr(runner, "_run_batch", refuse)


def test_a_changed_vector_file_is_refused_then_recomputed_with_overwrite(
    tiny_gemma, data_dir, tmp_path, monkeypatch
):
    path = _vector(tiny_gemma, 1).save(tmp_path / "v.safetensors")

    def methods():
        return parse_method("basic") + parse_method(f"steered:{path}@1")

    run = tmp_path / "run"
    common = {"limit": 5, "data_dir": data_dir, "progress": False}
    first = _scores(evaluate(tiny_gemma, XCOPA(), ["sw"], methods(), run, **common))
    assert len(first) == 4 * 5
    stored = ResultStore(run).fingerprints(tiny_gemma.name, "xcopa")
    assert (
        set(stored) == {("sw", m.name) for m in methods()}
        and len(stored[("sw", "steered:v@1")]["vector_sha256"]) == 64
    )

    with monkeypatch.context() as patch:  # the same settings: resumed, nothing recomputed
        _no_scoring(patch)
        assert _scores(evaluate(tiny_gemma, XCOPA(), ["sw"], methods(), run, **common)) == first

    _vector(tiny_gemma, 1, sign=-1.0).save(path)  # overwrite the file with its negation
    with pytest.raises(SettingsChangedError) as refused:
        evaluate(tiny_gemma, XCOPA(), ["sw"], methods(), run, **common)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("steered:v@1 (sw): vector file content changed (sha256 ")
    assert (
        "→" in message
        and "steered:v@1:negated (sw)" in message
        and "--overwrite" in message
        and "--out" in message
    )
    assert _scores(ResultStore(run)) == first  # refused before anything was written

    again = _scores(evaluate(tiny_gemma, XCOPA(), ["sw"], methods(), run, overwrite=True, **common))
    assert again.keys() == first.keys()
    for key in again:
        if key[1] == "basic":
            assert again[key] == first[key]  # unchanged cells are kept, not recomputed
    some = next(item for _, method, item in first if method == "basic")
    assert again[("sw", "steered:v@1", some)] != approx_scaled(
        first[("sw", "steered:v@1", some)], FORWARD
    )
    # the new vector is the old negated control: its rows are what that control scored
    assert again[("sw", "steered:v@1", some)] == approx_scaled(
        first[("sw", "steered:v@1:negated", some)], FORWARD
    )
    with monkeypatch.context() as patch:  # the new settings are registered: the next rerun resumes
        _no_scoring(patch)
        evaluate(tiny_gemma, XCOPA(), ["sw"], methods(), run, **common)


def test_a_changed_run_setting_names_what_changed(tiny_gemma, data_dir, tmp_path):
    run = tmp_path / "run"
    evaluate(
        tiny_gemma,
        XCOPA(),
        ["sw"],
        parse_method("fewshot:2"),
        run,
        limit=4,
        data_dir=data_dir,
        progress=False,
    )
    with pytest.raises(
        SettingsChangedError,
        match=r"^fewshot2 \(sw\): limit changed \(4 → 6\), evaluated items changed",
    ):
        evaluate(
            tiny_gemma,
            XCOPA(),
            ["sw"],
            parse_method("fewshot:2"),
            run,
            limit=6,
            data_dir=data_dir,
            progress=False,
        )
    with pytest.raises(
        SettingsChangedError, match=r"^fewshot2 \(sw\): few-shot seed changed \(0 → 1\)"
    ):
        evaluate(
            tiny_gemma,
            XCOPA(),
            ["sw"],
            parse_method("fewshot:2"),
            run,
            limit=4,
            seed=1,
            data_dir=data_dir,
            progress=False,
        )
    assert len(ResultStore(run).rows()) == 4


def test_same_stem_from_two_folders_is_an_error_and_labels_keep_them_apart(
    tiny_gemma, data_dir, tmp_path
):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _vector(tiny_gemma, 1).save(tmp_path / "a" / "v.safetensors")
    b = _vector(tiny_gemma, 2).save(tmp_path / "b" / "v.safetensors")
    run = tmp_path / "run"
    with pytest.raises(MlsteerError, match="two methods are named steered:v@1") as clash:
        evaluate(
            tiny_gemma,
            XCOPA(),
            ["sw"],
            [Steered(str(a), 1.0), Steered(str(b), 1.0)],
            run,
            limit=3,
            data_dir=data_dir,
            progress=False,
        )
    assert str(a.resolve()) in str(clash.value) and str(b.resolve()) in str(clash.value)
    assert "label" in str(clash.value) and "vector file content changed" in str(clash.value)
    assert not (run / "results.sqlite").exists()  # refused before anything was written

    store = evaluate(
        tiny_gemma,
        XCOPA(),
        ["sw"],
        [Steered(str(a), 1.0, label="va"), Steered(str(b), 1.0, label="vb")],
        run,
        limit=3,
        data_dir=data_dir,
        progress=False,
    )
    scores = _scores(store)
    assert {method for _, method, _ in scores} == {"steered:va@1", "steered:vb@1"} and len(
        scores
    ) == 6
    item = next(i for _, _, i in scores)
    assert scores[("sw", "steered:va@1", item)] != approx_scaled(
        scores[("sw", "steered:vb@1", item)], FORWARD
    )
    # the same method given twice (same file, same settings) runs once
    twice = evaluate(
        tiny_gemma,
        XCOPA(),
        ["sw"],
        [Steered(str(a), 1.0), Steered(str(a), 1.0)],
        tmp_path / "twice",
        limit=3,
        data_dir=data_dir,
        progress=False,
    )
    assert len(twice.rows()) == 3


def test_duplicate_item_ids_are_an_error_naming_the_id(tmp_path):
    data = write_xcopa(tmp_path / "data", n_test=4, n_val=4)
    path = data / "xcopa" / "sw" / "test.sw.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    path.write_text(
        "".join(json.dumps(r) + "\n" for r in [*rows, {**rows[1], "premise": "Another premise."}]),
        encoding="utf-8",
    )
    with pytest.raises(
        MlsteerError, match=r"test\.sw\.jsonl:5: idx 1 repeats line 2 \(item id test-1\)"
    ):
        XCOPA().load("sw", data_dir=data)

    okapi = data / "m_mmlu_okapi"
    okapi.mkdir()
    row = {
        "instruction": "Q?",
        "option_a": "a",
        "option_b": "b",
        "option_c": "c",
        "option_d": "d",
        "answer": "A",
        "id": "astronomy/val/0",
    }
    (okapi / "de_val.json").write_text(
        json.dumps([row, {**row, "instruction": "Other?"}]), encoding="utf-8"
    )
    with pytest.raises(
        MlsteerError, match=r"de_val\.json:1 \(row 1\): id 'astronomy/val/0' repeats row 0"
    ):
        MMMLU().load("de", data_dir=data)

    class Repeating(Task):  # any loader (a Hub one too): the base class checks what it returns
        name, kind, languages = "rep", "choice", ("sw",)

        def read(self, folder, lang, split):
            return [
                Example("x", lang, {"t": "1"}, 0),
                Example("y", lang, {"t": "2"}, 0),
                Example("x", lang, {"t": "3"}, 0),
            ]

        def render(self, example):
            return Query(example.fields["t"], (" a", " b"))

        def answer_text(self, example):
            return " a"

    with pytest.raises(MlsteerError, match=r"^rep sw test \(in .*\): item id 'x' appears twice"):
        Repeating().load("sw", data_dir=data)


def test_a_batch_with_a_repeated_key_is_refused_and_add_counts_inserted_rows(tmp_path):
    store = ResultStore(tmp_path)
    row = ResultRow("m", "t", "sw", "basic", "a", "0", "0", True, [1.0, 2.0], option_bytes=[2, 3])
    with pytest.raises(DuplicateRowsError, match="repeated key"):
        store.add([row, ResultRow("m", "t", "sw", "basic", "a", "1", "0", False, [2.0, 1.0])])
    assert store.rows() == []  # nothing of the batch written
    assert store.add([row]) == 1
    assert (
        store.add([row, ResultRow("m", "t", "sw", "basic", "b", "1", "0", False)]) == 1
    )  # a stored by another writer
    assert store.rows(item_id="a") == [row]


def test_option_byte_lengths_are_stored_and_acc_norm_recomputes(tiny_gemma, tmp_path):
    task = Cloze()
    store = evaluate(
        tiny_gemma,
        task,
        ["zh", "es"],
        parse_method("basic"),
        tmp_path / "run",
        limit=4,
        progress=False,
    )
    for lang in ("zh", "es"):
        examples = {e.id: e for e in task.load(lang, limit=4)}
        rows = store.rows(lang=lang)
        assert len(rows) == 4
        fresh = score_choices(tiny_gemma, [task.render(examples[r.item_id]) for r in rows])
        for row, scored in zip(rows, fresh):
            continuations = task.render(examples[row.item_id]).continuations
            assert (
                row.option_bytes
                == [len(c.encode("utf-8")) for c in continuations]
                == list(scored.byte_lengths)
            )
            assert row.scores == approx_scaled(list(scored.logprobs), FORWARD)
            # acc_norm from the stored row: the scorer's own byte-normalised prediction of those scores
            assert row.prediction_norm == acc_norm_prediction(row.scores, row.option_bytes)
            assert (
                row.prediction_norm
                == ChoiceScores(tuple(row.scores), tuple(row.option_bytes)).prediction_norm
            )
            if lang == "zh":  # bytes, not characters
                assert row.option_bytes != [len(c) for c in continuations]
    generated = ResultRow("m", "t", "sw", "basic", "a", "4", "4", True, output="4")
    assert generated.prediction_norm is None


def test_a_store_without_fingerprints_is_adopted(tiny_gemma, data_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    items = XCOPA().load("sw", data_dir=data_dir, limit=3)
    with sqlite3.connect(run / "results.sqlite") as old:  # as an older mlsteer wrote it
        old.execute(OLD_SCHEMA)
        old.executemany(
            "INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    tiny_gemma.name,
                    "xcopa",
                    "sw",
                    "basic",
                    e.id,
                    "0",
                    str(e.gold),
                    0,
                    "[-1.0, -2.0]",
                    None,
                    None,
                    0.0,
                )
                for e in items
            ],
        )
    old.close()
    with monkeypatch.context() as patch:
        _no_scoring(patch)  # its rows are taken as they are
        store = evaluate(
            tiny_gemma, XCOPA(), ["sw"], [Basic()], run, limit=3, data_dir=data_dir, progress=False
        )
    assert [r.scores for r in store.rows()] == [[-1.0, -2.0]] * 3 and all(
        r.option_bytes is None for r in store.rows()
    )
    assert set(store.fingerprints(tiny_gemma.name, "xcopa")) == {
        ("sw", "basic")
    }  # adopted with this run's fingerprint
    store.close()
    with pytest.raises(SettingsChangedError, match=r"^basic \(sw\): limit changed \(3 → 4\)"):
        evaluate(
            tiny_gemma, XCOPA(), ["sw"], [Basic()], run, limit=4, data_dir=data_dir, progress=False
        )


def test_a_damaged_store_is_one_line_naming_the_file_and_the_fix(tiny_gemma, data_dir, tmp_path):
    run = tmp_path / "run"
    store = ResultStore(run)
    store.add(
        [
            ResultRow("m", "t", "sw", "basic", f"item-{i}", "0", "0", True, [float(i)] * 40)
            for i in range(3000)
        ]
    )
    store.close()
    database = run / "results.sqlite"
    size = database.stat().st_size
    assert size > 100_000
    with open(database, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(DamagedStoreError) as damaged:
        evaluate(
            tiny_gemma, XCOPA(), ["sw"], [Basic()], run, limit=2, data_dir=data_dir, progress=False
        )
    message = str(damaged.value)
    assert (
        "\n" not in message
        and str(database) in message
        and "move it away" in message
        and "--out" in message
    )

    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "results.sqlite").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(
        DamagedStoreError,
        match=r"garbage/results\.sqlite is damaged \(file is not a database\); move it away",
    ):
        ResultStore(garbage)


def test_two_eval_processes_writing_one_folder_lose_and_duplicate_nothing(tmp_path):
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "mlsteer",
        "eval",
        "--task",
        "cloze",
        "--langs",
        "es,sw",
        "--method",
        "basic",
        "--method",
        "fewshot:2",
        "--limit",
        "8",
        "--batch-size",
        "1",
        "--out",
        str(run),
        "-m",
        "tiny-gemma3",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, out[-2000:] + err[-2000:]
    with sqlite3.connect(run / "results.sqlite") as connection:
        count = connection.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        keys = connection.execute(
            "SELECT COUNT(DISTINCT lang || '/' || method || '/' || item_id) FROM results"
        ).fetchone()[0]
        missing_lengths = connection.execute(
            "SELECT COUNT(*) FROM results WHERE option_bytes IS NULL"
        ).fetchone()[0]
        cells = connection.execute(
            "SELECT lang, method FROM methods ORDER BY lang, method"
        ).fetchall()
    assert count == keys == 2 * 2 * 8 and missing_lengths == 0
    assert cells == [
        ("es", "basic"),
        ("es", "fewshot2"),
        ("sw", "basic"),
        ("sw", "fewshot2"),
    ]  # one fingerprint each


def test_fingerprints_of_methods_and_task_files(tiny_gemma, data_dir, tmp_path):
    task = XCOPA()
    few = FewShot(k=2)
    few.setup(tiny_gemma, task, "sw", data_dir, 0, tmp_path)
    seeded = FewShot(k=2)
    seeded.setup(tiny_gemma, task, "sw", data_dir, 1, tmp_path)
    assert (
        describe_changes(few.fingerprint("sw"), seeded.fingerprint("sw"))
        == "few-shot seed changed (0 → 1)"
    )
    path = _vector(tiny_gemma, 1).save(tmp_path / "v.safetensors")
    plain, random = Steered(str(path), 1.0), Steered(str(path), 1.0, "random")
    for method in (plain, random):
        method.setup(tiny_gemma, task, "sw", data_dir, 3, tmp_path)
    assert (
        plain.fingerprint("sw")["control_seed"] is None
        and random.fingerprint("sw")["control_seed"] == 3
    )
    assert plain.fingerprint("sw")["vector_sha256"] == random.fingerprint("sw")["vector_sha256"]
    assert Basic().fingerprint("sw") != parse_method("xlt")[0].fingerprint("sw")

    first = tmp_path / "one" / "mine.jsonl"
    first.parent.mkdir()
    item = {"language": "sw", "context": "Paka ni", "options": ["mnyama", "jiwe"], "answer": 0}
    first.write_text(json.dumps(item) + "\n", encoding="utf-8")
    copy = tmp_path / "two" / "mine.jsonl"
    copy.parent.mkdir()
    copy.write_text(first.read_text(encoding="utf-8"), encoding="utf-8")
    assert (
        load_task_file(first).prompt_version == load_task_file(copy).prompt_version
    )  # content, not place
    copy.write_text(json.dumps({**item, "options": ["mnyama", "mti"]}) + "\n", encoding="utf-8")
    assert load_task_file(first).prompt_version != load_task_file(copy).prompt_version
    assert XCOPA().prompt_version == "1"


TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this Python")
def test_two_ranks_refuse_a_changed_setting_alike_and_overwrite_it(tmp_path):
    """Under torchrun every rank reads the registered fingerprints: all refuse (no rank left
    waiting at a barrier), and with --overwrite rank 0 deletes the cell's rows before they start."""
    run = tmp_path / "run"
    args = [
        "-m",
        "mlsteer",
        "eval",
        "--task",
        "cloze",
        "--langs",
        "es",
        "--method",
        "basic",
        "--batch-size",
        "2",
        "-m",
        "tiny-gemma3",
        "--out",
        str(run),
    ]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLSTEER_FAIL", "RANK", "WORLD_SIZE", "LOCAL_RANK"))
    }
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    first = subprocess.run(
        [sys.executable, *args, "--limit", "4"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    parallel = [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", *args, "--limit", "6"]
    refused = subprocess.run(
        parallel, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert refused.returncode != 0
    assert "basic (es): limit changed (4 → 6)" in refused.stdout + refused.stderr
    with sqlite3.connect(run / "results.sqlite") as connection:
        assert connection.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 4
    redone = subprocess.run(
        [*parallel, "--overwrite"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert redone.returncode == 0, redone.stdout[-2000:] + redone.stderr[-2000:]
    with sqlite3.connect(run / "results.sqlite") as connection:
        assert connection.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 6
        [(fingerprint,)] = connection.execute("SELECT fingerprint FROM methods").fetchall()
    assert json.loads(fingerprint)["limit"] == 6 and not list(run.glob("results.rank*"))
