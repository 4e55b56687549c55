"""The sweep results store: one SQLite file per results directory, ``DIR/results.sqlite``, in WAL mode.

Tables:

* ``points`` — one row per design point, primary key ``point_id`` (hash of workload + parameters): the point's
  index in the spec, workload, parameters (``parameters_json`` and one column per dotted parameter path), status
  (``ok`` | ``error``), error message, provenance (config hash, accelsim version, energy table, synthetic-weights
  flag, timing model), ``clock_mhz``, ``dram_bytes_per_cycle``, wall time, and one column per report total.
* ``layers`` — one row per (point, layer) with every per-layer report column (when the spec stores layers).
* ``meta`` — key/value: the spec's fingerprint, name, objectives and parameter names.
* ``accuracy_cache`` — one row per (task fingerprint, quantization key) of a sweep that names a task
  (docs/tasks.md): the measured accuracy, its standard error, the float baseline and the drop, or the error of
  an evaluation that failed (an accumulator overflow names the node). Written in its own transaction as each
  evaluation finishes, so it survives a SIGKILL like the points; a restart never re-executes a stored key.

Each point is written in its own transaction as it finishes, by the main process only: a SIGKILL loses at
most the points still running, and a restart skips every stored ``point_id`` (``INSERT OR IGNORE`` keeps it
idempotent). Columns are added as new names appear (totals and per-layer columns depend on the memory levels).

A writer (:class:`ResultStore` with ``create=True``) holds an exclusive ``fcntl.flock`` on ``DIR/.lock`` (the
lock file records its PID); the OS drops the lock when the process ends, however it ends, so a second sweep on
the same directory is refused while the first runs and a killed sweep leaves no stale lock. Every open runs
``PRAGMA quick_check``: a damaged file (truncated, overwritten) is a :class:`StoreError` naming the file, and
no SQLite error escapes as a traceback.
"""
from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from accelsim.errors import AccelsimError

STORE_FILE = "results.sqlite"
LOCK_FILE = ".lock"
#: Point ids per ``SELECT ... WHERE point_id IN (...)`` when checking which points are done.
IDS_PER_QUERY = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    point_id TEXT PRIMARY KEY, point_index INTEGER, workload TEXT, parameters_json TEXT, status TEXT, error TEXT,
    config_hash TEXT, hw_name TEXT, workload_name TEXT, accelsim_version TEXT, energy_table TEXT,
    synthetic_weights INTEGER, timing_model TEXT, clock_mhz REAL, dram_bytes_per_cycle REAL, wall_time_s REAL);
CREATE TABLE IF NOT EXISTS layers (point_id TEXT NOT NULL, layer_index INTEGER NOT NULL,
    PRIMARY KEY (point_id, layer_index));
CREATE TABLE IF NOT EXISTS accuracy_cache (task TEXT NOT NULL, quant_key TEXT NOT NULL, status TEXT, error TEXT,
    accuracy_pct REAL, accuracy_stderr_pct REAL, float_accuracy_pct REAL, accuracy_drop_pct REAL,
    eval_count INTEGER, wall_time_s REAL, PRIMARY KEY (task, quant_key));
"""
#: Value columns of ``accuracy_cache`` (besides the key columns ``task`` and ``quant_key``).
ACCURACY_CACHE_COLUMNS = ("status", "error", "accuracy_pct", "accuracy_stderr_pct", "float_accuracy_pct",
                          "accuracy_drop_pct", "eval_count", "wall_time_s")


class StoreError(AccelsimError):
    """A results directory holds results of a different sweep, or is not a results directory."""


def quote(name: str) -> str:
    """An SQL identifier for any column name (dotted parameter paths included)."""
    return '"' + name.replace('"', '""') + '"'


def sql_value(value: Any) -> Any:
    """A value SQLite stores as is: numbers, text, NULL; mappings and lists as JSON text; numpy scalars unwrapped."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True)
    return value


def store_path(directory: str | Path) -> Path:
    """``DIR/results.sqlite``."""
    return Path(directory) / STORE_FILE


def _damaged(path: Path, problem: object) -> StoreError:
    return StoreError(f"{path}: the results store is damaged ({problem}); move it away and run the sweep again "
                      "(the spec recreates it)")


@contextmanager
def sqlite_errors(directory: str | Path) -> Iterator[None]:
    """Turn SQLite errors while using the store of ``directory`` into StoreErrors naming the file."""
    try:
        yield
    except sqlite3.OperationalError as exc:  # locked, disk full, read-only, ...
        raise StoreError(f"{store_path(directory)}: {exc}") from None
    except sqlite3.DatabaseError as exc:     # malformed pages, not a database
        raise _damaged(store_path(directory), exc) from None


def connect(directory: str | Path, create: bool) -> sqlite3.Connection:
    """Open (or create) the store of ``directory`` in WAL mode, autocommit (transactions are explicit), after
    ``PRAGMA quick_check``; a damaged store is a StoreError."""
    path = store_path(directory)
    _check_directory(Path(directory))
    if not create and not path.is_file():
        raise StoreError(f"{directory}: no sweep results ({STORE_FILE} not found)")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        check = conn.execute("PRAGMA quick_check").fetchall()
        if check != [("ok",)]:
            raise _damaged(path, "; ".join(str(r[0]) for r in check[:3]))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed point survives a process kill
        conn.executescript(_SCHEMA)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise _damaged(path, exc) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _check_directory(directory: Path) -> None:
    """StoreError when ``directory`` exists as a file (an --out that is not a results directory)."""
    if directory.exists() and not directory.is_dir():
        raise StoreError(f"{directory}: expected a results directory, found a file; use another --out")


def lock_directory(directory: Path) -> int:
    """Take the exclusive lock of a results directory (created if missing) and return its file descriptor;
    StoreError naming the directory and the holder's PID if another process holds it."""
    _check_directory(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"{directory}: cannot create the results directory or its lock file ({exc.strerror})"
                         ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreError(f"{directory} is in use by another sweep (PID {holder}); wait for it to finish or use "
                         "another --out directory") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


class ResultStore:
    """Writer of one results directory (used by the main process of a sweep only)."""

    def __init__(self, directory: str | Path, create: bool = True) -> None:
        """Open the store of ``directory``; ``create=True`` (a writer) also locks the directory
        (:func:`lock_directory`); ``create=False``: a missing store is a StoreError."""
        self.directory = Path(directory)
        self._lock = lock_directory(self.directory) if create else None
        try:
            self.conn = connect(directory, create=create)
            self._columns = {table: self._table_columns(table) for table in ("points", "layers")}
        except BaseException:
            self._unlock()
            raise

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    def close(self) -> None:
        self.conn.close()
        self._unlock()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- meta
    def meta(self) -> dict[str, str]:
        """The ``meta`` table as a dict."""
        with sqlite_errors(self.directory):
            return dict(self.conn.execute("SELECT key, value FROM meta"))

    def prepare(self, fingerprint: str, info: Mapping[str, Any]) -> None:
        """Claim the directory for a sweep of ``fingerprint`` (StoreError if it holds another sweep's results)
        and record ``info`` (name, objectives, parameter names) as JSON values."""
        stored = self.meta().get("fingerprint")
        if stored is not None and stored != fingerprint:
            raise StoreError(
                f"{self.directory} holds results of a sweep with other fixed settings (base config, quant block "
                f"or simulation options): stored {stored}, this spec {fingerprint}; use another --out directory"
            )
        rows = [("fingerprint", fingerprint), *((k, json.dumps(v)) for k, v in info.items())]
        with sqlite_errors(self.directory):
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", rows)
            self.conn.execute("COMMIT")

    # ---- accuracy cache
    def cached_accuracy(self, task: str) -> dict[str, dict[str, Any]]:
        """Every stored evaluation of task fingerprint ``task``: quant key -> row (:data:`ACCURACY_CACHE_COLUMNS`)."""
        cols = ", ".join(ACCURACY_CACHE_COLUMNS)
        with sqlite_errors(self.directory):
            return {r[0]: dict(zip(ACCURACY_CACHE_COLUMNS, r[1:])) for r in self.conn.execute(
                f"SELECT quant_key, {cols} FROM accuracy_cache WHERE task = ?", (task,))}

    def add_accuracy(self, task: str, quant_key: str, row: Mapping[str, Any]) -> None:
        """Store one evaluation (missing columns are NULL) in its own transaction."""
        values = [task, quant_key, *(sql_value(row.get(c)) for c in ACCURACY_CACHE_COLUMNS)]
        with sqlite_errors(self.directory):
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(f"INSERT OR REPLACE INTO accuracy_cache (task, quant_key, "
                              f"{', '.join(ACCURACY_CACHE_COLUMNS)}) VALUES ({', '.join('?' * len(values))})",
                              values)
            self.conn.execute("COMMIT")

    # ---- points
    def done_among(self, point_ids: Sequence[str]) -> set[str]:
        """The ids of ``point_ids`` already stored (ok or error), queried :data:`IDS_PER_QUERY` at a time."""
        done: set[str] = set()
        with sqlite_errors(self.directory):
            for i in range(0, len(point_ids), IDS_PER_QUERY):
                part = point_ids[i:i + IDS_PER_QUERY]
                done.update(r[0] for r in self.conn.execute(
                    f"SELECT point_id FROM points WHERE point_id IN ({', '.join('?' * len(part))})", part))
        return done

    def add(self, row: Mapping[str, Any], layer_columns: Sequence[str] = (),
            layer_rows: Iterable[Sequence[Any]] = ()) -> bool:
        """Store one point (``row`` has ``point_id`` and any other columns) and its per-layer rows (plain
        numbers and text, one sequence per layer in ``layer_columns`` order) in one transaction; False if the
        point was already stored."""
        with sqlite_errors(self.directory):
            return self._add(row, layer_columns, layer_rows)

    def _add(self, row: Mapping[str, Any], layer_columns: Sequence[str],
             layer_rows: Iterable[Sequence[Any]]) -> bool:
        self._ensure_columns("points", row)
        self._ensure_columns("layers", layer_columns)
        names = list(row)
        layer_cols = ["point_id", "layer_index", *layer_columns]
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            cur = self.conn.execute(
                f"INSERT OR IGNORE INTO points ({', '.join(map(quote, names))}) "
                f"VALUES ({', '.join('?' * len(names))})", [sql_value(row[n]) for n in names])
            inserted = cur.rowcount == 1
            if inserted and layer_columns:
                self.conn.executemany(
                    f"INSERT INTO layers ({', '.join(map(quote, layer_cols))}) "
                    f"VALUES ({', '.join('?' * len(layer_cols))})",
                    ((row["point_id"], i, *values) for i, values in enumerate(layer_rows)))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return inserted

    def _table_columns(self, table: str) -> set[str]:
        return {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}

    def _ensure_columns(self, table: str, names: Iterable[str]) -> None:
        """Add the columns of ``names`` that ``table`` lacks (one added meanwhile by another writer is fine)."""
        for name in names:
            if name not in self._columns[table]:
                try:
                    self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {quote(name)}")
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc):
                        raise
                    self._columns[table] = self._table_columns(table)
                self._columns[table].add(name)
