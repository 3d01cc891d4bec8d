"""The results store: one SQLite row per (model, task, language, method, item), written as it goes.

Each batch of rows is one transaction, so a killed run leaves whole batches only; the primary
key makes a rerun skip what is there (no duplicates, nothing lost).

Under ``torchrun`` each rank writes its own ``results.rank{R}.sqlite`` (one writer per file, so
no lock is shared across processes or nodes) and rank 0 merges them into ``results.sqlite``
with the same ``INSERT OR IGNORE``: a merge that is killed half way is simply done again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    model TEXT NOT NULL, task TEXT NOT NULL, lang TEXT NOT NULL, method TEXT NOT NULL,
    item_id TEXT NOT NULL, prediction TEXT, gold TEXT, correct INTEGER NOT NULL,
    scores TEXT, output TEXT, output_lang TEXT, created REAL,
    PRIMARY KEY (model, task, lang, method, item_id)
)
"""


@dataclass(frozen=True)
class ResultRow:
    model: str
    task: str
    lang: str
    method: str
    item_id: str
    prediction: str
    gold: str
    correct: bool
    scores: list[float] | None = None
    output: str | None = None
    output_lang: str | None = None


MAIN_FILE = "results.sqlite"
SHARD_GLOB = "results.rank*.sqlite"


def shard_path(run_dir: str | os.PathLike, rank: int) -> Path:
    """The file one data-parallel rank writes its rows to."""
    return Path(run_dir) / f"results.rank{rank}.sqlite"


class ResultStore:
    """``RUN_DIR/results.sqlite``, or with ``shard=R`` rank R's ``results.rank{R}.sqlite``."""

    def __init__(self, run_dir: str | os.PathLike, shard: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / MAIN_FILE if shard is None else shard_path(run_dir, shard)
        self.connection = sqlite3.connect(self.path)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute(SCHEMA)
        self.connection.commit()

    def done(self, model: str, task: str, lang: str, method: str) -> set[str]:
        cursor = self.connection.execute(
            "SELECT item_id FROM results WHERE model=? AND task=? AND lang=? AND method=?", (model, task, lang, method)
        )
        return {row[0] for row in cursor}

    def add(self, rows: Iterable[ResultRow]) -> int:
        """Insert rows in one transaction; rows already stored are skipped. Returns rows added."""
        values = [
            (r.model, r.task, r.lang, r.method, r.item_id, r.prediction, r.gold, int(r.correct),
             json.dumps(r.scores) if r.scores is not None else None, r.output, r.output_lang, time.time())
            for r in rows
        ]
        with self.connection:
            before = self.connection.total_changes
            self.connection.executemany("INSERT OR IGNORE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", values)
            return self.connection.total_changes - before

    def correctness(self, model: str, task: str, lang: str, method: str) -> dict[str, bool]:
        """item id -> correct, for paired comparisons (:mod:`mlsteer.analysis.paired`)."""
        cursor = self.connection.execute(
            "SELECT item_id, correct FROM results WHERE model=? AND task=? AND lang=? AND method=?", (model, task, lang, method)
        )
        return {item: bool(correct) for item, correct in cursor}

    def rows(self, **where: Any) -> list[ResultRow]:
        names = [f.name for f in fields(ResultRow)]
        clause = " AND ".join(f"{k}=?" for k in where) or "1"
        cursor = self.connection.execute(f"SELECT {', '.join(names)} FROM results WHERE {clause}", tuple(where.values()))
        out = []
        for record in cursor:
            row = dict(zip(names, record))
            row["correct"] = bool(row["correct"])
            row["scores"] = json.loads(row["scores"]) if row["scores"] else None
            out.append(ResultRow(**row))
        return out

    def close(self) -> None:
        self.connection.close()


def merge_shards(run_dir: str | os.PathLike) -> int:
    """Move every rank's rows into ``results.sqlite`` and delete the rank files; returns rows
    added. Rows already there are skipped, so merging after a kill, or twice, loses and
    duplicates nothing. The main file is checkpointed, so a reader on another node sees it whole."""
    shards = sorted(Path(run_dir).glob(SHARD_GLOB))
    store = ResultStore(run_dir)
    added = 0
    try:
        for shard in shards:
            with store.connection:
                before = store.connection.total_changes
                store.connection.execute("ATTACH DATABASE ? AS shard", (str(shard),))
                store.connection.execute("INSERT OR IGNORE INTO results SELECT * FROM shard.results")
                added += store.connection.total_changes - before
            store.connection.execute("DETACH DATABASE shard")
            for suffix in ("", "-wal", "-shm"):
                Path(str(shard) + suffix).unlink(missing_ok=True)
        store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()
    return added
