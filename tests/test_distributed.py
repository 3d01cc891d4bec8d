"""Data-parallel evaluation under torchrun (gloo on CPU): the same rows as one process, and a
killed 2-rank run resumes with nothing lost and nothing duplicated."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mlsteer import distributed
from mlsteer.evaluation.store import ResultRow, ResultStore, merge_shards, shard_path

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")
# Two languages, two methods, 10 items each, batches of 3: both methods run the plain model, so the
# 40 items form 14 batches (13 full), dealt over the ranks.
EVAL_ARGS = [
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
    "10",
    "--batch-size",
    "3",
    "-m",
    "tiny-gemma3",
]
COLUMNS = (
    "model, task, lang, method, item_id, prediction, gold, correct, scores, output, output_lang"
)


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLSTEER_FAIL", "RANK", "WORLD_SIZE", "LOCAL_RANK"))
    }
    # one thread everywhere (torchrun's default for several processes): identical float sums
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT), **extra)
    return env


def _single(out: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlsteer", *EVAL_ARGS, "--out", str(out)],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _torchrun(out: Path, nproc: int = 2, **env: str) -> subprocess.CompletedProcess:
    command = [
        str(TORCHRUN),
        "--standalone",
        "--nproc-per-node",
        str(nproc),
        "-m",
        "mlsteer",
        *EVAL_ARGS,
        "--out",
        str(out),
    ]
    return subprocess.run(
        command, cwd=ROOT, env=_env(**env), capture_output=True, text=True, timeout=600
    )


def _rows(run_dir: Path) -> list[tuple]:
    """Every stored row without its timestamp, in key order."""
    with sqlite3.connect(run_dir / "results.sqlite") as connection:
        return connection.execute(
            f"SELECT {COLUMNS} FROM results ORDER BY model, task, lang, method, item_id"
        ).fetchall()


def _count(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT COUNT(*) FROM results").fetchone()[0]


@pytest.fixture(scope="module")
def single_rows(tmp_path_factory) -> list[tuple]:
    out = tmp_path_factory.mktemp("single")
    result = _single(out)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(out)
    assert len(rows) == 2 * 2 * 10
    return rows


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this Python")
def test_two_ranks_write_the_rows_one_process_writes(tmp_path, single_rows):
    result = _torchrun(tmp_path / "run")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _rows(tmp_path / "run") == single_rows  # row for row, scores to the last bit
    assert not list((tmp_path / "run").glob("results.rank*"))  # shards merged and removed
    assert result.stdout.count("| basic") == 1  # rank 0 alone prints the table


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this Python")
def test_killed_two_rank_run_resumes_without_lost_or_duplicated_rows(tmp_path, single_rows):
    run = tmp_path / "run"
    killed = _torchrun(run, MLSTEER_FAIL_AFTER_BATCHES="3", MLSTEER_FAIL_RANK="1")
    assert killed.returncode != 0
    shards = sorted(run.glob("results.rank*.sqlite"))
    # rank 1 died after its 3rd batch (batches 2, 4 and 6, all full)
    assert shard_path(run, 1) in shards and _count(shard_path(run, 1)) == 3 * 3
    partial = sum(_count(path) for path in shards) + (
        _count(run / "results.sqlite") if (run / "results.sqlite").exists() else 0
    )
    assert 0 < partial < len(single_rows)
    # resume with 2 ranks once more, and then, after a second kill, in one process
    again = _torchrun(run, MLSTEER_FAIL_AFTER_BATCHES="2", MLSTEER_FAIL_RANK="0")
    assert again.returncode != 0
    resumed = _single(run)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _rows(run) == single_rows  # nothing lost; the primary key forbids duplicates anyway
    assert not list(run.glob("results.rank*"))


def _row(item: str, prediction: str = "0") -> ResultRow:
    return ResultRow("m", "t", "sw", "basic", item, prediction, "0", prediction == "0", [1.0, 2.0])


def test_merge_moves_shard_rows_once_and_keeps_the_first_copy(tmp_path):
    main = ResultStore(tmp_path)
    main.add([_row("a")])
    main.close()
    for rank, items in enumerate((["a", "b"], ["c"])):
        shard = ResultStore(tmp_path, shard=rank)
        shard.add([_row(item, prediction="1" if item == "a" else "0") for item in items])
        shard.close()
    assert merge_shards(tmp_path) == 2  # b and c; a was there already
    assert merge_shards(tmp_path) == 0  # idempotent: nothing left to move
    store = ResultStore(tmp_path)
    assert sorted(r.item_id for r in store.rows()) == ["a", "b", "c"]
    assert store.rows(item_id="a")[0].prediction == "0"  # a rerun never overwrites a stored row
    assert not list(tmp_path.glob("results.rank*"))


def test_merge_reads_a_shard_left_by_a_killed_writer(tmp_path):
    shard = ResultStore(tmp_path, shard=3)
    shard.add([_row("x")])
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in tmp_path.glob(
        "results.rank3.sqlite*"
    ):  # the files as a SIGKILL leaves them (WAL not checkpointed)
        shutil.copy(path, copy / path.name)
    shard.close()
    assert merge_shards(copy) == 1


def test_one_process_is_the_default(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.launched() and distributed.world_size() == 1 and distributed.rank() == 0
    assert distributed.my_share(list(range(5))) == [0, 1, 2, 3, 4]
    with distributed.main_first():  # no process group: a plain block
        pass
    distributed.barrier()


def test_single_process_commands_refuse_torchrun(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from mlsteer.cli import app

    monkeypatch.setenv("WORLD_SIZE", "2")
    texts = tmp_path / "t.txt"
    texts.write_text("the cat\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["cache", str(texts), "-o", str(tmp_path / "a.st"), "-m", "tiny-gemma3"]
    )
    assert result.exit_code == 2 and "start it without torchrun" in result.output


RUN_CONFIG = """
name = "tinydp"
out = "unused"
model = "tiny-gemma3"
languages = ["es", "sw"]
layers = [1, 2]
alphas = [2.0]
sweep_limit = 6
limit = 8
methods = ["basic"]
[[learners]]
name = "mse"
[data]
corpus = "builtin"
pairs = 20
sweep_task = "cloze"
tasks = ["cloze"]
"""


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this Python")
def test_run_config_on_two_ranks_equals_one_process(tmp_path):
    """``mlsteer run`` under torchrun: rank 0 learns, both ranks evaluate the sweep and the test
    split; the stores equal one process's and one summary is printed."""
    config = tmp_path / "tiny.toml"
    config.write_text(RUN_CONFIG, encoding="utf-8")
    args = ["-m", "mlsteer", "run", str(config), "--no-exports", "--out"]
    single = subprocess.run(
        [sys.executable, *args, str(tmp_path / "one")],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stdout[-3000:] + single.stderr[-3000:]
    both = subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", *args, str(tmp_path / "two")],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert both.returncode == 0, both.stdout[-3000:] + both.stderr[-3000:]
    for store in ("eval", "sweep/mse/validation"):
        assert _rows(tmp_path / "two" / store) == _rows(tmp_path / "one" / store)
    assert both.stdout.count("report:") == 1
