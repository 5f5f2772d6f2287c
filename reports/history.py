"""The run history: every verification run recorded in one embedded SQLite file, so that "what
changed since the last good build" can be asked later, on this machine or from a CI cache.

One row per run holds the exact results.json text (a run is re-read as it was, whatever becomes of
its folder; zlib-compressed, about 8x smaller, since a CI cache keeps every run) beside the
columns people query: profile and its two hashes, verdict, vehicle identity. Checks, findings and
measurements get their own tables so that a figure or a finding can be followed across runs with
plain SQL, e.g.

    SELECT r.id, r.started, m.value FROM measurements m JOIN runs r ON r.id = m.run
    WHERE m.name = 'heartbeat rate' ORDER BY r.id;

Several runs may finish at once (pytest-xdist controllers, CI shards on one runner): the file is in
WAL mode, writers wait for each other (a timeout, not an error) and each run is one transaction,
so a reader never sees half a run.
"""

from __future__ import annotations

import json
import math
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1  # PRAGMA user_version; bump with a migration when the tables change
TIMEOUT_S = 30.0  # how long a writer waits for another one before giving up

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id            TEXT NOT NULL,          -- the run folder's name
    run_dir           TEXT,
    profile_name      TEXT,
    profile_path      TEXT,
    vehicle_hash      TEXT,
    verification_hash TEXT,
    verdict           TEXT,
    exit_status       INTEGER,
    started           TEXT,
    finished          TEXT,
    vehicle_identity  TEXT,                   -- JSON
    shard             TEXT,                   -- JSON, NULL for a whole run
    counts            TEXT,                   -- JSON: outcome -> number of checks
    recorded          TEXT NOT NULL,
    results           BLOB NOT NULL           -- results.json, exactly, zlib-compressed
);
CREATE INDEX IF NOT EXISTS runs_by_profile ON runs (profile_path, id);
CREATE TABLE IF NOT EXISTS checks (
    run        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    nodeid     TEXT NOT NULL,
    suite      TEXT,
    outcome    TEXT NOT NULL,
    duration_s REAL,
    message    TEXT,
    reruns     INTEGER,
    PRIMARY KEY (run, nodeid)
);
CREATE TABLE IF NOT EXISTS findings (
    run       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    signature TEXT NOT NULL,
    nodeid    TEXT,
    kind      TEXT,
    origin    TEXT,
    summary   TEXT,
    waived    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_by_signature ON findings (signature, run);
CREATE TABLE IF NOT EXISTS measurements (
    run       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    nodeid    TEXT NOT NULL,
    name      TEXT NOT NULL,
    value,                                    -- a number, or text for NaN, inf (not in SQLite)
    unit      TEXT,
    threshold TEXT,
    ok        INTEGER
);
CREATE INDEX IF NOT EXISTS measurements_by_name ON measurements (nodeid, name, run);
"""


class HistoryError(Exception):
    """The history cannot be used (path, permissions, not a database, newer schema): one line
    for the user, never a traceback."""


def record_run(db: Path, results: dict[str, Any], run_dir: Path) -> int:
    """Record one run (its results dict, as in results.json) and return its history id."""
    with _open(db, create=True) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            run_id = _insert_run(con, results, run_dir)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    return run_id


def latest_results(
    db: Path, profile_path: str, before_id: int | None = None
) -> dict[str, Any] | None:
    """The results of the newest recorded run of `profile_path` (older than `before_id` if
    given), or None: what a run compares itself with as its baseline."""
    if not Path(db).exists():
        return None
    with _open(db, create=False) as con:
        row = con.execute(
            "SELECT results FROM runs WHERE profile_path = ? AND id < ? ORDER BY id DESC LIMIT 1",
            (profile_path, before_id if before_id is not None else 2**63 - 1),
        ).fetchone()
    return _results(row[0]) if row else None


def list_runs(db: Path) -> list[dict[str, Any]]:
    """Every recorded run, oldest first, with its finding counts (for `python -m reports
    history`); an absent history has no runs."""
    if not Path(db).exists():
        return []
    with _open(db, create=False) as con:
        rows = con.execute(
            """SELECT id, run_id, run_dir, profile_name, profile_path, verdict, exit_status,
                      started, finished, recorded, counts, shard, vehicle_hash, verification_hash,
                      (SELECT COUNT(*) FROM checks c WHERE c.run = r.id),
                      (SELECT COUNT(*) FROM findings f WHERE f.run = r.id),
                      (SELECT COUNT(*) FROM findings f WHERE f.run = r.id AND f.waived)
               FROM runs r ORDER BY id"""
        ).fetchall()
    keys = ("id", "run_id", "run_dir", "profile_name", "profile_path", "verdict", "exit_status",
            "started", "finished", "recorded", "counts", "shard", "vehicle_hash",
            "verification_hash", "checks", "findings", "waived")  # fmt: skip
    runs = [dict(zip(keys, row, strict=True)) for row in rows]
    for run in runs:
        run["counts"] = json.loads(run["counts"] or "{}")
        run["shard"] = json.loads(run["shard"]) if run["shard"] else None
    return runs


def load_results(db: Path, id: int) -> dict[str, Any]:
    """The results dict of history run `id`, exactly as recorded."""
    row = None
    if Path(db).exists():
        with _open(db, create=False) as con:
            row = con.execute("SELECT results FROM runs WHERE id = ?", (int(id),)).fetchone()
    if row is None:
        raise HistoryError(f"history {db}: no run with id {id}")
    return _results(row[0])


def _results(blob: bytes) -> dict[str, Any]:
    return json.loads(zlib.decompress(blob).decode())


def _insert_run(con: sqlite3.Connection, results: dict[str, Any], run_dir: Path) -> int:
    prof = results.get("profile") or {}
    run = results.get("run") or {}
    shard = run.get("shard")
    cur = con.execute(
        """INSERT INTO runs (run_id, run_dir, profile_name, profile_path, vehicle_hash,
               verification_hash, verdict, exit_status, started, finished, vehicle_identity,
               shard, counts, recorded, results)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            run.get("id") or Path(run_dir).name,
            str(Path(run_dir).resolve()),
            prof.get("name"),
            prof.get("path"),
            prof.get("vehicle_hash"),
            prof.get("verification_hash"),
            results.get("verdict"),
            results.get("exit_status"),
            results.get("started"),
            results.get("finished"),
            json.dumps(results.get("vehicle_identity") or {}, default=str),
            json.dumps(shard, default=str) if shard else None,
            json.dumps(results.get("counts") or {}),
            datetime.now(UTC).isoformat(timespec="seconds"),
            zlib.compress(json.dumps(results, indent=2, default=str).encode()),  # as publish does
        ),
    )
    rid = int(cur.lastrowid or 0)
    checks = results.get("checks") or []
    con.executemany("INSERT OR REPLACE INTO checks VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [_check_row(rid, c) for c in checks])  # fmt: skip
    con.executemany("INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [_finding_row(rid, f) for f in results.get("findings") or []])  # fmt: skip
    figures = [
        _measurement_row(rid, c["nodeid"], m) for c in checks for m in c.get("measurements") or []
    ]
    con.executemany("INSERT INTO measurements VALUES (?, ?, ?, ?, ?, ?, ?)", figures)
    return rid


def _check_row(rid: int, c: dict[str, Any]) -> tuple[Any, ...]:
    return (rid, c["nodeid"], c.get("suite"), c.get("outcome", "?"), c.get("duration_s"),
            c.get("message"), c.get("reruns"))  # fmt: skip


def _finding_row(rid: int, f: dict[str, Any]) -> tuple[Any, ...]:
    return (rid, f["signature"], f.get("check"), f.get("kind"), f.get("origin"),
            f.get("summary"), int(bool(f.get("waiver"))))  # fmt: skip


def _measurement_row(rid: int, nodeid: str, m: dict[str, Any]) -> tuple[Any, ...]:
    ok = m.get("ok")
    return (rid, nodeid, m.get("name"), _value(m.get("value")), m.get("unit"),
            m.get("threshold"), None if ok is None else int(bool(ok)))  # fmt: skip


def _value(value: Any) -> Any:
    """A value SQLite keeps as given: it would turn NaN into NULL, so non-finite numbers (and
    anything else that is not a plain number) are kept as text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value if math.isfinite(value) else str(value)
    return None if value is None else str(value)


@contextmanager
def _open(db: Path, *, create: bool) -> Iterator[sqlite3.Connection]:
    """A connection in autocommit mode (transactions are explicit), with the schema in place;
    every way the file can be unusable becomes a HistoryError naming it."""
    db = Path(db)
    con: sqlite3.Connection | None = None
    try:
        if db.is_dir():
            raise HistoryError(
                f"history {db}: is a folder; name a file, e.g. {db / 'history.sqlite'}"
            )
        if create:
            _make_folder(db.parent)
        con = sqlite3.connect(db, timeout=TIMEOUT_S, isolation_level=None)
        con.execute("PRAGMA foreign_keys = ON")
        _ensure_schema(con, db)
        yield con
    except (sqlite3.Error, OSError) as exc:
        raise HistoryError(f"history {db}: {_why(exc)}") from exc
    finally:
        if con is not None:
            con.close()


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HistoryError(f"history: cannot create the folder {folder}: {exc.strerror}") from exc


def _ensure_schema(con: sqlite3.Connection, db: Path) -> None:
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise HistoryError(
            f"history {db}: schema version {version} is newer than this skyproof's "
            f"({SCHEMA_VERSION}); use a newer skyproof or another --history file"
        )
    if version < SCHEMA_VERSION:
        _create_schema(con)
    if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        # persistent once set: readers no longer block a writer. It fails, without waiting,
        # while another process has the file open: a later open sets it then.
        with suppress(sqlite3.OperationalError):
            con.execute("PRAGMA journal_mode = WAL")


def _create_schema(con: sqlite3.Connection) -> None:
    con.execute("BEGIN IMMEDIATE")  # another process may be creating it right now
    try:
        if con.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            # one statement at a time: executescript() would commit this transaction
            for statement in SCHEMA.split(";"):  # no ";" inside the comments above
                if statement.strip():
                    con.execute(statement)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
        return "not a skyproof history (not an SQLite database); pass another --history file"
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return f"{text} (another process kept it busy; try again)"
    return text
