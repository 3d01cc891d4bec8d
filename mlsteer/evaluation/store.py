"""The results store: one SQLite row per (model, task, language, method, item), written as it goes.

Each batch of rows is one transaction, so a killed run leaves whole batches only; the primary
key makes a rerun skip what is there (no duplicates, nothing lost).

Rows are keyed by what produced them: the ``methods`` table holds, per (model, task, language,
method) cell, the fingerprint of the settings that made its rows (the vector file's sha256,
alpha, the evaluated items...: :mod:`mlsteer.evaluation.fingerprints`). :meth:`ResultStore.claim`
registers it before any row of the cell is written; a rerun whose fingerprint differs is refused
(naming what changed) unless it asks to overwrite, which deletes the cell's rows first.

Stores written before fingerprints existed are migrated when opened: the ``methods`` table is
added (and the ``option_bytes`` column). Their rows carry no fingerprint, so the first run that
claims such a cell *adopts* them with its own fingerprint, unverified: a changed setting is only
detected from then on.

Choice rows keep each option's UTF-8 byte length as scored (``option_bytes``), so the
byte-normalised accuracy (``acc_norm`` here, lm-evaluation-harness's ``acc_bytes``) can be
recomputed from ``scores`` (:func:`acc_norm_prediction`).

Two processes may write one store at once (SQLite locks, with a busy timeout): every row is
stored once, whoever computed it. A damaged file (truncated, not SQLite) is a one-line
:class:`DamagedStoreError` naming the file and the fix.

Under ``torchrun`` each rank writes its own ``results.rank{R}.sqlite`` (one writer per file, so
no lock is shared across processes or nodes) and rank 0 merges them into ``results.sqlite``
with the same ``INSERT OR IGNORE``: a merge that is killed half way is simply done again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mlsteer.errors import MlsteerError
from mlsteer.evaluation.fingerprints import Fingerprint, describe_changes

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    model TEXT NOT NULL, task TEXT NOT NULL, lang TEXT NOT NULL, method TEXT NOT NULL,
    item_id TEXT NOT NULL, prediction TEXT, gold TEXT, correct INTEGER NOT NULL,
    scores TEXT, output TEXT, output_lang TEXT, created REAL, option_bytes TEXT,
    PRIMARY KEY (model, task, lang, method, item_id)
)
"""
METHODS_SCHEMA = """
CREATE TABLE IF NOT EXISTS methods (
    model TEXT NOT NULL, task TEXT NOT NULL, lang TEXT NOT NULL, method TEXT NOT NULL,
    fingerprint TEXT NOT NULL, created REAL,
    PRIMARY KEY (model, task, lang, method)
)
"""
# Every column of ``results`` in table order (``option_bytes`` last: ALTER TABLE appends it to old stores).
COLUMNS = (
    "model",
    "task",
    "lang",
    "method",
    "item_id",
    "prediction",
    "gold",
    "correct",
    "scores",
    "output",
    "output_lang",
    "created",
    "option_bytes",
)
BUSY_TIMEOUT_S = 120.0  # how long a writer waits for another process's transaction

Cell = tuple[str, str]  # (language, method name) within one model and task


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
    option_bytes: list[int] | None = None  # choice rows: UTF-8 bytes of each continuation as scored

    @property
    def prediction_norm(self) -> int | None:
        """The byte-normalised prediction (``acc_norm``), or None where it cannot be recomputed."""
        if self.scores is None or self.option_bytes is None:
            return None
        return acc_norm_prediction(self.scores, self.option_bytes)


def acc_norm_prediction(scores: Sequence[float], option_bytes: Sequence[int]) -> int:
    """The option with the highest log-likelihood per UTF-8 byte of its continuation (as
    :attr:`mlsteer.evaluation.scoring.ChoiceScores.prediction_norm`; lm-evaluation-harness 0.4
    calls this ``acc_bytes``, its ``acc_norm`` divides by characters)."""
    if len(scores) != len(option_bytes):
        raise ValueError(f"{len(scores)} scores but {len(option_bytes)} option lengths")
    return max(range(len(scores)), key=lambda i: scores[i] / max(1, option_bytes[i]))


class DamagedStoreError(MlsteerError):
    """A results file SQLite cannot read (truncated, overwritten, not a database)."""


class SettingsChangedError(MlsteerError):
    """A rerun into a store whose rows of a cell were made with other settings."""


class DuplicateRowsError(RuntimeError):
    """A batch handed to :meth:`ResultStore.add` holds one key twice (a bug in the caller)."""


MAIN_FILE = "results.sqlite"
SHARD_GLOB = "results.rank*.sqlite"


def shard_path(run_dir: str | os.PathLike, rank: int) -> Path:
    """The file one data-parallel rank writes its rows to."""
    return Path(run_dir) / f"results.rank{rank}.sqlite"


def store_error(path: Path, error: sqlite3.Error) -> MlsteerError | None:
    """One line for what SQLite said about ``path``, or None (not a problem of the file)."""
    text = (str(error).strip() or type(error).__name__).splitlines()[0]
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return MlsteerError(
            f"{path} is locked by another process ({text}; waited {BUSY_TIMEOUT_S:g} s); "
            "let the other mlsteer run writing it finish, or use another --out"
        )
    if (
        type(error) is sqlite3.DatabaseError
        or "malformed" in lowered
        or "not a database" in lowered
    ):
        return DamagedStoreError(
            f"{path} is damaged ({text}); move it away (mv {path} {path}.damaged) and rerun "
            "to recompute its rows, or use another --out"
        )
    if (
        "unable to open" in lowered
        or "readonly" in lowered
        or "disk i/o" in lowered
        or "disk is full" in lowered
    ):
        return MlsteerError(
            f"cannot write {path} ({text}); check the folder's permissions and free space, "
            "or use another --out"
        )
    return None


class ResultStore:
    """``RUN_DIR/results.sqlite``, or with ``shard=R`` rank R's ``results.rank{R}.sqlite``."""

    def __init__(self, run_dir: str | os.PathLike, shard: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / MAIN_FILE if shard is None else shard_path(run_dir, shard)
        # IMMEDIATE: a batch's transaction takes the write lock first (waiting for another writer
        # up to the timeout) rather than upgrading a read lock, which SQLite refuses at once
        self.connection = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level="IMMEDIATE"
        )
        try:
            with self.guard():
                self._wal()
                self._migrate()
        except BaseException:
            self.connection.close()
            raise

    @contextmanager
    def guard(self, path: Path | None = None) -> Iterator[None]:
        """SQLite's errors about the file as one-line :class:`MlsteerError` naming it."""
        try:
            yield
        except sqlite3.Error as error:
            friendly = store_error(path or self.path, error)
            if friendly is None:
                raise
            raise friendly from error

    def _wal(self) -> None:
        """Write-ahead logging (readers never block the writer). Two processes creating one
        store at once may both try to switch it, and SQLite answers one "locked" without
        waiting: retried for a while."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self.connection.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _migrate(self) -> None:
        """Create the tables, or bring a store of an older mlsteer up to date (see the module
        docstring). Writes (under an exclusive lock, so two processes never both migrate) only
        when something is missing: opening a current store to read it takes no write lock."""
        if self._current():
            return
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            self.connection.execute(SCHEMA)
            self.connection.execute(METHODS_SCHEMA)
            if "option_bytes" not in self._columns():
                self.connection.execute("ALTER TABLE results ADD COLUMN option_bytes TEXT")
            self.connection.commit()
        except BaseException:
            self.connection.rollback()
            raise

    def _current(self) -> bool:
        tables = {
            name
            for (name,) in self.connection.execute(
                "SELECT name FROM sqlite_master WHERE type='table'"
            )
        }
        return {"results", "methods"} <= tables and "option_bytes" in self._columns()

    def _columns(self, schema: str = "main") -> list[str]:
        return [row[1] for row in self.connection.execute(f"PRAGMA {schema}.table_info(results)")]

    def verify(self) -> None:
        """Read every page (``PRAGMA quick_check``): a truncated file fails here, before a run
        starts, rather than part-way through. Raises :class:`DamagedStoreError`."""
        with self.guard():
            problems = [row[0] for row in self.connection.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise DamagedStoreError(
                f"{self.path} is damaged ({problems[0]}); move it away (mv {self.path} "
                f"{self.path}.damaged) and rerun to recompute its rows, or use another --out"
            )

    def done(self, model: str, task: str, lang: str, method: str) -> set[str]:
        with self.guard():
            cursor = self.connection.execute(
                "SELECT item_id FROM results WHERE model=? AND task=? AND lang=? AND method=?",
                (model, task, lang, method),
            )
            return {row[0] for row in cursor}

    def add(self, rows: Iterable[ResultRow]) -> int:
        """Insert rows in one transaction; returns how many were inserted. Rows already stored
        (another process working on the same run wrote them first) are skipped; a batch that
        holds one key twice is a bug and raises :class:`DuplicateRowsError` (nothing written)."""
        rows = list(rows)
        keys: dict[tuple, int] = {}
        for row in rows:
            key = (row.model, row.task, row.lang, row.method, row.item_id)
            keys[key] = keys.get(key, 0) + 1
        repeated = [key for key, count in keys.items() if count > 1]
        if repeated:
            raise DuplicateRowsError(
                f"a batch of {len(rows)} rows holds {len(rows) - len(keys)} repeated key(s), "
                f"e.g. {repeated[0]}; nothing of it was written"
            )
        now = time.time()
        values = [
            (
                r.model,
                r.task,
                r.lang,
                r.method,
                r.item_id,
                r.prediction,
                r.gold,
                int(r.correct),
                json.dumps(r.scores) if r.scores is not None else None,
                r.output,
                r.output_lang,
                now,
                json.dumps(r.option_bytes) if r.option_bytes is not None else None,
            )
            for r in rows
        ]
        with self.guard(), self.connection:
            before = self.connection.total_changes
            self.connection.executemany(
                f"INSERT OR IGNORE INTO results ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                values,
            )
            return self.connection.total_changes - before

    def correctness(self, model: str, task: str, lang: str, method: str) -> dict[str, bool]:
        """item id -> correct, for paired comparisons (:mod:`mlsteer.analysis.paired`)."""
        with self.guard():
            cursor = self.connection.execute(
                "SELECT item_id, correct FROM results WHERE model=? AND task=? AND lang=? AND method=?",
                (model, task, lang, method),
            )
            return {item: bool(correct) for item, correct in cursor}

    def rows(self, **where: Any) -> list[ResultRow]:
        names = [f.name for f in fields(ResultRow)]
        clause = " AND ".join(f"{k}=?" for k in where) or "1"
        with self.guard():
            records = self.connection.execute(
                f"SELECT {', '.join(names)} FROM results WHERE {clause}", tuple(where.values())
            ).fetchall()
        out = []
        for record in records:
            row = dict(zip(names, record))
            row["correct"] = bool(row["correct"])
            row["scores"] = json.loads(row["scores"]) if row["scores"] else None
            row["option_bytes"] = json.loads(row["option_bytes"]) if row["option_bytes"] else None
            out.append(ResultRow(**row))
        return out

    # -- fingerprints -------------------------------------------------------------------------

    def fingerprints(self, model: str, task: str) -> dict[Cell, Fingerprint]:
        """The registered fingerprint of every cell of ``model`` on ``task``."""
        with self.guard():
            cursor = self.connection.execute(
                "SELECT lang, method, fingerprint FROM methods WHERE model=? AND task=?",
                (model, task),
            )
            return {(lang, method): json.loads(fingerprint) for lang, method, fingerprint in cursor}

    def conflicts(
        self, model: str, task: str, wanted: Mapping[Cell, Fingerprint]
    ) -> list[tuple[Cell, Fingerprint, Fingerprint]]:
        """(cell, stored, wanted) for each cell of ``wanted`` registered with another fingerprint."""
        stored = self.fingerprints(model, task)
        out = []
        for cell, fingerprint in wanted.items():
            fingerprint = _normal(fingerprint)
            if cell in stored and stored[cell] != fingerprint:
                out.append((cell, stored[cell], fingerprint))
        return out

    def claim(
        self, model: str, task: str, wanted: Mapping[Cell, Fingerprint], overwrite: bool = False
    ) -> list[Cell]:
        """Register each cell's fingerprint before its rows are written, in one transaction.

        A cell not registered yet takes ``wanted``'s fingerprint (rows it already has, from a
        store older than fingerprints, are adopted). A registered cell with the same
        fingerprint resumes. One with another is refused (:class:`SettingsChangedError`, naming
        the first cells and what changed; nothing is written), or with ``overwrite`` its rows are
        deleted and the new fingerprint registered. Returns the cells whose rows were deleted.
        """
        with self.guard():
            self.connection.execute(
                "BEGIN IMMEDIATE"
            )  # check and register atomically (two writers)
            try:
                found = self.conflicts(model, task, wanted)
                if found and not overwrite:
                    raise settings_changed(self.path, found)
                stored = self.fingerprints(model, task)
                replaced = [cell for cell, _, _ in found]
                for lang, method in replaced:
                    self.connection.execute(
                        "DELETE FROM results WHERE model=? AND task=? AND lang=? AND method=?",
                        (model, task, lang, method),
                    )
                now = time.time()
                for cell, fingerprint in wanted.items():
                    if cell not in stored or cell in replaced:
                        self.connection.execute(
                            "INSERT OR REPLACE INTO methods VALUES (?,?,?,?,?,?)",
                            (
                                model,
                                task,
                                *cell,
                                json.dumps(_normal(fingerprint), sort_keys=True),
                                now,
                            ),
                        )
                self.connection.commit()
            except BaseException:
                self.connection.rollback()
                raise
        return replaced

    def close(self) -> None:
        self.connection.close()


def _normal(fingerprint: Fingerprint) -> Fingerprint:
    """The fingerprint as the store gives it back (JSON: tuples become lists)."""
    return json.loads(json.dumps(fingerprint, sort_keys=True))


def settings_changed(
    path: Path, found: Sequence[tuple[Cell, Fingerprint, Fingerprint]]
) -> SettingsChangedError:
    """One line: the first changed cell, what changed, how many more, and the two fixes."""
    (lang, method), old, new = found[0]
    more = ""
    if len(found) > 1:
        others = [f"{m} ({lg})" for (lg, m), _, _ in found[1:4]]
        more = f"; also {', '.join(others)}" + (
            f" and {len(found) - 4} more" if len(found) > 4 else ""
        )
    return SettingsChangedError(
        f"{method} ({lang}): {describe_changes(old, new)} since the rows in {path} were made{more}; "
        "rerun with --overwrite to recompute, or use another --out"
    )


def merge_shards(run_dir: str | os.PathLike) -> int:
    """Move every rank's rows into ``results.sqlite`` and delete the rank files; returns rows
    added. Rows already there are skipped, so merging after a kill, or twice, loses and
    duplicates nothing. The main file is checkpointed, so a reader on another node sees it whole."""
    shards = sorted(Path(run_dir).glob(SHARD_GLOB))
    store = ResultStore(run_dir)
    added = 0
    try:
        for shard in shards:
            with store.guard(shard), store.connection:
                before = store.connection.total_changes
                store.connection.execute("ATTACH DATABASE ? AS shard", (str(shard),))
                have = store._columns("shard")  # a shard of an older mlsteer lacks option_bytes
                picked = ", ".join(c if c in have else "NULL" for c in COLUMNS)
                store.connection.execute(
                    f"INSERT OR IGNORE INTO results ({', '.join(COLUMNS)}) SELECT {picked} FROM shard.results"
                )
                added += store.connection.total_changes - before
            store.connection.execute("DETACH DATABASE shard")
            for suffix in ("", "-wal", "-shm"):
                Path(str(shard) + suffix).unlink(missing_ok=True)
        with store.guard():
            store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()
    return added
