"""The durable catalogue of the service: API keys, models, scenarios, jobs and results.

One small repository class, :class:`JobStore`, speaks to two backends with the same SQL:

* **SQLite** (default, ``<data_dir>/jobs.sqlite``): WAL journal, ``synchronous=NORMAL``,
  ``busy_timeout=5000`` and short ``BEGIN IMMEDIATE`` write transactions retried on
  ``SQLITE_BUSY`` (a measured 1 in 4000 transactions still meets it after the timeout).
* **PostgreSQL** (``postgresql://...``): jobs are claimed with ``FOR UPDATE SKIP LOCKED`` so
  several workers on several machines never take the same job.

Jobs lose nothing: a claim sets a lease that the worker renews; a sweeper returns jobs whose
lease ran out to the queue (counting attempts); every state change of a running job is guarded
by ``worker = <me>`` so a stale worker's late write changes nothing; a job's result row is
unique per job and written in the same transaction that marks the job done.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from twin.errors import StoreError

__all__ = [
    "JobStore",
    "JobStoreUnavailable",
    "Job",
    "TERMINAL",
    "open_store",
    "new_id",
]

T = TypeVar("T")

#: States a job never leaves.
TERMINAL = ("done", "failed", "cancelled")


class JobStoreUnavailable(StoreError):
    """The job store cannot be reached or written (locked for too long, disk, network)."""


def new_id() -> str:
    """A fresh, unguessable identifier (128 random bits, hex)."""
    return uuid.UUID(bytes=secrets.token_bytes(16), version=4).hex


@dataclass(frozen=True)
class Job:
    """One row of the job table."""

    id: str
    kind: str
    owner: str
    state: str
    payload: dict[str, Any]
    attempts: int
    worker: str | None
    lease_until: float | None
    cancel_requested: bool
    progress: dict[str, Any] | None
    error: str | None
    created: float
    started: float | None
    finished: float | None
    idempotency_key: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        return cls(
            id=row["id"],
            kind=row["kind"],
            owner=row["owner"],
            state=row["state"],
            payload=json.loads(row["payload"]),
            attempts=int(row["attempts"]),
            worker=row["worker"],
            lease_until=row["lease_until"],
            cancel_requested=bool(row["cancel_requested"]),
            progress=json.loads(row["progress"]) if row["progress"] else None,
            error=row["error"],
            created=row["created"],
            started=row["started"],
            finished=row["finished"],
            idempotency_key=row["idempotency_key"],
        )


_DDL = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE,
    created {float} NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL, state TEXT NOT NULL,
    payload TEXT NOT NULL, idempotency_key TEXT, request_hash TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, worker TEXT, lease_until {float},
    cancel_requested INTEGER NOT NULL DEFAULT 0, progress TEXT, error TEXT,
    created {float} NOT NULL, started {float}, finished {float},
    UNIQUE (owner, idempotency_key));
CREATE INDEX IF NOT EXISTS jobs_state_created ON jobs (state, created);
CREATE TABLE IF NOT EXISTS results (
    job_id TEXT PRIMARY KEY REFERENCES jobs (id), path TEXT NOT NULL, manifest TEXT NOT NULL,
    created {float} NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, shared INTEGER NOT NULL DEFAULT 0, name TEXT NOT NULL,
    original_name TEXT, format TEXT NOT NULL, upload_sha256 TEXT NOT NULL, size_bytes INTEGER NOT NULL,
    job_id TEXT NOT NULL, created {float} NOT NULL);
CREATE TABLE IF NOT EXISTS scenarios (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, spec TEXT NOT NULL,
    created {float} NOT NULL);
CREATE TABLE IF NOT EXISTS permit_decisions (
    job_id TEXT PRIMARY KEY REFERENCES jobs (id), decision TEXT NOT NULL, comment TEXT NOT NULL,
    reviewer TEXT NOT NULL, decided {float} NOT NULL);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, seen {float} NOT NULL);
"""


class _Tx:
    """A transaction handle: ``execute`` returns rows as dicts, ``rowcount`` the rows changed."""

    def __init__(self, cursor: Any, paramstyle: str) -> None:
        self._cursor = cursor
        self._pg = paramstyle == "pg"
        self.rowcount = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if self._pg:
            sql = sql.replace("?", "%s")
        self._cursor.execute(sql, tuple(params))
        self.rowcount = self._cursor.rowcount
        if self._cursor.description is None:
            return []
        names = [d[0] for d in self._cursor.description]
        return [dict(zip(names, row, strict=True)) for row in self._cursor.fetchall()]


class _SQLite:
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if not self.path.parent.is_dir():
                raise JobStoreUnavailable(f"job store folder {self.path.parent} does not exist")
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def run(self, fn: Callable[[_Tx], T], write: bool) -> T:
        delay = 0.02
        attempts = 4  # each waits up to busy_timeout (5 s) first
        for attempt in range(attempts):
            try:
                conn = self._conn()
                cur = conn.cursor()
                cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = fn(_Tx(cur, "sqlite"))
                    cur.execute("COMMIT")
                    return result
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as err:
                text = str(err).lower()
                if ("locked" in text or "busy" in text) and attempt < attempts - 1:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                self.close()
                raise JobStoreUnavailable(f"job store unavailable: {err}") from err
            except sqlite3.DatabaseError as err:
                self.close()
                raise JobStoreUnavailable(f"job store unavailable: {err}") from err
        raise JobStoreUnavailable("job store stayed locked")  # pragma: no cover

    def create_schema(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        conn.executescript(_DDL.format(float="REAL"))


class _Postgres:
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()

    def _conn(self) -> Any:
        import psycopg

        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            try:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            except psycopg.Error as err:
                raise JobStoreUnavailable(f"job store unavailable: {type(err).__name__}") from err
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def run(self, fn: Callable[[_Tx], T], write: bool) -> T:
        import psycopg
        from psycopg import errors as pgerr

        for attempt in range(5):
            try:
                conn = self._conn()
                with conn.transaction(), conn.cursor() as cur:
                    return fn(_Tx(cur, "pg"))
            except (pgerr.SerializationFailure, pgerr.DeadlockDetected):
                time.sleep(0.05 * (attempt + 1))
                continue
            except psycopg.OperationalError as err:
                self.close()
                if attempt < 1:
                    continue
                raise JobStoreUnavailable(f"job store unavailable: {type(err).__name__}") from err
            except psycopg.IntegrityError:
                raise
        raise JobStoreUnavailable("job store: too many conflicting transactions")

    def create_schema(self) -> None:
        def ddl(tx: _Tx) -> None:
            tx.execute("SELECT pg_advisory_xact_lock(738291)")
            for stmt in _DDL.format(float="DOUBLE PRECISION").split(";"):
                if stmt.strip():
                    tx.execute(stmt)

        self.run(ddl, write=True)


def _is_unique_violation(err: BaseException) -> bool:
    if isinstance(err, sqlite3.IntegrityError):
        return "unique" in str(err).lower()
    try:
        from psycopg import errors as pgerr
    except ImportError:  # pragma: no cover
        return False
    return isinstance(err, pgerr.UniqueViolation)


def request_hash(kind: str, payload: dict[str, Any]) -> str:
    """Hash of a submission, to tell a retry from a different request under the same key."""
    blob = json.dumps({"kind": kind, "payload": payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class IdempotencyConflict(StoreError):
    """An idempotency key was reused with a different request."""


class JobStore:
    """Repository of the service's durable state over SQLite or PostgreSQL.

    Parameters
    ----------
    url
        ``postgresql://...`` or ``sqlite:///path`` or a plain path of the SQLite file.
    """

    def __init__(self, url: str | Path) -> None:
        text = str(url)
        if text.startswith(("postgresql://", "postgres://")):
            self._db: _SQLite | _Postgres = _Postgres(text)
        else:
            self._db = _SQLite(Path(text.removeprefix("sqlite:///")))

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._db.kind

    def create_schema(self) -> None:
        """Create the tables if missing (idempotent)."""
        try:
            self._db.create_schema()
        except sqlite3.Error as err:
            raise JobStoreUnavailable(f"job store unavailable: {err}") from err

    def close(self) -> None:
        """Close this thread's connection."""
        self._db.close()

    def ping(self) -> None:
        """Raise :class:`JobStoreUnavailable` unless the store answers a query."""
        self._db.run(lambda tx: tx.execute("SELECT 1 AS one"), write=False)

    # ------------------------------------------------------------------ API keys
    def add_key(self, name: str, role: str, key_hash: str) -> str:
        key_id = new_id()[:16]
        self._db.run(
            lambda tx: tx.execute(
                "INSERT INTO api_keys (id, name, role, key_hash, created) VALUES (?, ?, ?, ?, ?)",
                (key_id, name, role, key_hash, time.time()),
            ),
            write=True,
        )
        return key_id

    def find_key(self, key_hash: str) -> dict[str, Any] | None:
        rows = self._db.run(
            lambda tx: tx.execute(
                "SELECT id, name, role, key_hash FROM api_keys WHERE key_hash = ? AND revoked = 0",
                (key_hash,),
            ),
            write=False,
        )
        return rows[0] if rows else None

    def list_keys(self) -> list[dict[str, Any]]:
        return self._db.run(
            lambda tx: tx.execute("SELECT id, name, role, created, revoked FROM api_keys ORDER BY created"),
            write=False,
        )

    def revoke_key(self, key_id: str) -> bool:
        def go(tx: _Tx) -> bool:
            tx.execute("UPDATE api_keys SET revoked = 1 WHERE id = ?", (key_id,))
            return tx.rowcount == 1

        return self._db.run(go, write=True)

    # ------------------------------------------------------------------ models and scenarios
    def add_model(self, row: dict[str, Any], job_kind: str, job_payload: dict[str, Any]) -> str:
        """Record an uploaded model and its ingest job in one transaction; returns the job id."""
        job_id = new_id()
        now = time.time()

        def go(tx: _Tx) -> None:
            tx.execute(
                "INSERT INTO jobs (id, kind, owner, state, payload, request_hash, created) "
                "VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                (
                    job_id,
                    job_kind,
                    row["owner"],
                    json.dumps(job_payload),
                    request_hash(job_kind, job_payload),
                    now,
                ),
            )
            tx.execute(
                "INSERT INTO models (id, owner, shared, name, original_name, format, upload_sha256, "
                "size_bytes, job_id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row["id"],
                    row["owner"],
                    int(row.get("shared", 0)),
                    row["name"],
                    row.get("original_name"),
                    row["format"],
                    row["upload_sha256"],
                    row["size_bytes"],
                    job_id,
                    now,
                ),
            )

        self._db.run(go, write=True)
        return job_id

    def get_model(self, model_id: str) -> dict[str, Any] | None:
        rows = self._db.run(lambda tx: tx.execute("SELECT * FROM models WHERE id = ?", (model_id,)), False)
        return rows[0] if rows else None

    def list_models(self, owner: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        if owner is None:
            sql, params = "SELECT * FROM models ORDER BY created DESC LIMIT ?", (limit,)
        else:
            sql = "SELECT * FROM models WHERE owner = ? OR shared = 1 ORDER BY created DESC LIMIT ?"
            params = (owner, limit)
        return self._db.run(lambda tx: tx.execute(sql, params), write=False)

    def add_scenario(self, owner: str, name: str, spec: dict[str, Any]) -> str:
        sid = new_id()
        self._db.run(
            lambda tx: tx.execute(
                "INSERT INTO scenarios (id, owner, name, spec, created) VALUES (?, ?, ?, ?, ?)",
                (sid, owner, name, json.dumps(spec), time.time()),
            ),
            write=True,
        )
        return sid

    def get_scenario(self, scenario_id: str) -> dict[str, Any] | None:
        rows = self._db.run(
            lambda tx: tx.execute("SELECT * FROM scenarios WHERE id = ?", (scenario_id,)), write=False
        )
        if not rows:
            return None
        row = rows[0]
        row["spec"] = json.loads(row["spec"])
        return row

    def list_scenarios(self, owner: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        if owner is None:
            sql, params = "SELECT * FROM scenarios ORDER BY created DESC LIMIT ?", (limit,)
        else:
            sql, params = (
                "SELECT * FROM scenarios WHERE owner = ? ORDER BY created DESC LIMIT ?",
                (owner, limit),
            )
        rows = self._db.run(lambda tx: tx.execute(sql, params), write=False)
        for row in rows:
            row["spec"] = json.loads(row["spec"])
        return rows

    # ------------------------------------------------------------------ jobs
    def submit(
        self,
        kind: str,
        owner: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> tuple[Job, bool]:
        """Queue a job; returns ``(job, created)``.

        With an ``idempotency_key`` a second submission by the same owner returns the first job
        (``created`` False); reusing the key for a different request raises
        :class:`IdempotencyConflict`.
        """
        rhash = request_hash(kind, payload)
        job_id = new_id()

        def existing(tx: _Tx) -> Job | None:
            rows = tx.execute(
                "SELECT * FROM jobs WHERE owner = ? AND idempotency_key = ?", (owner, idempotency_key)
            )
            if not rows:
                return None
            if rows[0]["request_hash"] != rhash:
                raise IdempotencyConflict(
                    "this Idempotency-Key was already used for a different request; use a new key"
                )
            return Job.from_row(rows[0])

        def go(tx: _Tx) -> tuple[Job, bool]:
            if idempotency_key is not None:
                found = existing(tx)
                if found is not None:
                    return found, False
            tx.execute(
                "INSERT INTO jobs (id, kind, owner, state, payload, idempotency_key, request_hash, created) "
                "VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
                (job_id, kind, owner, json.dumps(payload), idempotency_key, rhash, time.time()),
            )
            rows = tx.execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
            return Job.from_row(rows[0]), True

        try:
            return self._db.run(go, write=True)
        except Exception as err:
            if idempotency_key is not None and _is_unique_violation(err):  # a concurrent twin won
                found = self._db.run(existing, write=False)
                if found is not None:
                    return found, False
            raise

    def get_job(self, job_id: str) -> Job | None:
        rows = self._db.run(lambda tx: tx.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)), False)
        return Job.from_row(rows[0]) if rows else None

    def list_jobs(self, kinds: Iterable[str], owner: str | None = None, limit: int = 1000) -> list[Job]:
        kinds = list(kinds)
        marks = ", ".join("?" for _ in kinds)
        sql = f"SELECT * FROM jobs WHERE kind IN ({marks})"
        params: list[Any] = list(kinds)
        if owner is not None:
            sql += " AND owner = ?"
            params.append(owner)
        sql += " ORDER BY created DESC LIMIT ?"
        params.append(limit)
        rows = self._db.run(lambda tx: tx.execute(sql, params), write=False)
        return [Job.from_row(r) for r in rows]

    def count_states(self) -> dict[str, int]:
        rows = self._db.run(
            lambda tx: tx.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state"), write=False
        )
        return {r["state"]: int(r["n"]) for r in rows}

    def claim(self, worker: str, kinds: Sequence[str], lease_s: float) -> Job | None:
        """Take the oldest queued job of one of ``kinds``, leasing it for ``lease_s`` seconds."""
        kinds = list(kinds)
        marks = ", ".join("?" for _ in kinds)
        now = time.time()
        lock = " FOR UPDATE SKIP LOCKED" if self.backend == "postgresql" else ""

        def go(tx: _Tx) -> Job | None:
            rows = tx.execute(
                f"SELECT id FROM jobs WHERE state = 'queued' AND kind IN ({marks}) "
                f"ORDER BY created, id LIMIT 1{lock}",
                kinds,
            )
            if not rows:
                return None
            job_id = rows[0]["id"]
            tx.execute(
                "UPDATE jobs SET state = 'running', worker = ?, lease_until = ?, attempts = attempts + 1, "
                "started = ?, progress = NULL WHERE id = ? AND state = 'queued'",
                (worker, now + lease_s, now, job_id),
            )
            if tx.rowcount != 1:
                return None
            return Job.from_row(tx.execute("SELECT * FROM jobs WHERE id = ?", (job_id,))[0])

        return self._db.run(go, write=True)

    def heartbeat(
        self, job_id: str, worker: str, lease_s: float, progress: dict[str, Any] | None = None
    ) -> str:
        """Renew the lease; returns ``"ok"``, ``"cancel"`` (cancel requested) or ``"lost"``."""

        def go(tx: _Tx) -> str:
            if progress is None:
                tx.execute(
                    "UPDATE jobs SET lease_until = ? WHERE id = ? AND worker = ? AND state = 'running'",
                    (time.time() + lease_s, job_id, worker),
                )
            else:
                tx.execute(
                    "UPDATE jobs SET lease_until = ?, progress = ? "
                    "WHERE id = ? AND worker = ? AND state = 'running'",
                    (time.time() + lease_s, json.dumps(progress), job_id, worker),
                )
            if tx.rowcount != 1:
                return "lost"
            rows = tx.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
            return "cancel" if rows and rows[0]["cancel_requested"] else "ok"

        return self._db.run(go, write=True)

    def complete(self, job_id: str, worker: str, path: str, manifest: dict[str, Any]) -> bool:
        """Mark the job done with its result, if ``worker`` still holds it; False otherwise."""

        def go(tx: _Tx) -> bool:
            tx.execute(
                "UPDATE jobs SET state = 'done', finished = ?, error = NULL, lease_until = NULL "
                "WHERE id = ? AND worker = ? AND state = 'running'",
                (time.time(), job_id, worker),
            )
            if tx.rowcount != 1:
                return False
            tx.execute(
                "INSERT INTO results (job_id, path, manifest, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (job_id) DO NOTHING",
                (job_id, path, json.dumps(manifest), time.time()),
            )
            return True

        return self._db.run(go, write=True)

    def finish(self, job_id: str, worker: str, state: str, error: str | None) -> bool:
        """Mark a running job ``failed`` or ``cancelled`` if ``worker`` still holds it."""
        if state not in ("failed", "cancelled"):
            raise ValueError(f"finish() sets failed or cancelled, not {state!r}")

        def go(tx: _Tx) -> bool:
            tx.execute(
                "UPDATE jobs SET state = ?, error = ?, finished = ?, lease_until = NULL "
                "WHERE id = ? AND worker = ? AND state = 'running'",
                (state, error, time.time(), job_id, worker),
            )
            return tx.rowcount == 1

        return self._db.run(go, write=True)

    def release(self, job_id: str, worker: str) -> bool:
        """Give a running job back to the queue (a worker shutting down)."""

        def go(tx: _Tx) -> bool:
            tx.execute(
                "UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL "
                "WHERE id = ? AND worker = ? AND state = 'running'",
                (job_id, worker),
            )
            return tx.rowcount == 1

        return self._db.run(go, write=True)

    def cancel(self, job_id: str) -> str:
        """Cancel a queued job at once, ask a running one to stop; returns the state after."""

        def go(tx: _Tx) -> str:
            tx.execute(
                "UPDATE jobs SET state = 'cancelled', finished = ? WHERE id = ? AND state = 'queued'",
                (time.time(), job_id),
            )
            tx.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'", (job_id,))
            rows = tx.execute("SELECT state FROM jobs WHERE id = ?", (job_id,))
            return rows[0]["state"] if rows else "unknown"

        return self._db.run(go, write=True)

    def requeue_stale(self, max_attempts: int) -> int:
        """Return jobs whose lease ran out to the queue (or fail them after ``max_attempts``)."""
        now = time.time()

        def go(tx: _Tx) -> int:
            tx.execute(
                "UPDATE jobs SET state = 'cancelled', finished = ?, worker = NULL, lease_until = NULL "
                "WHERE state = 'running' AND lease_until < ? AND cancel_requested = 1",
                (now, now),
            )
            n = tx.rowcount
            tx.execute(
                "UPDATE jobs SET state = 'failed', finished = ?, worker = NULL, lease_until = NULL, "
                "error = ? WHERE state = 'running' AND lease_until < ? AND attempts >= ?",
                (
                    now,
                    f"worker lost: the job's lease expired on each of {max_attempts} attempts",
                    now,
                    max_attempts,
                ),
            )
            n += tx.rowcount
            tx.execute(
                "UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL "
                "WHERE state = 'running' AND lease_until < ?",
                (now,),
            )
            return n + tx.rowcount

        return self._db.run(go, write=True)

    def recompute(self, job_id: str, reason: str) -> bool:
        """Drop a done job's result (failed integrity check) and queue the job again."""

        def go(tx: _Tx) -> bool:
            tx.execute(
                "UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL, finished = NULL, "
                "attempts = 0, error = ? WHERE id = ? AND state = 'done'",
                (reason, job_id),
            )
            if tx.rowcount != 1:
                return False
            tx.execute("DELETE FROM results WHERE job_id = ?", (job_id,))
            return True

        return self._db.run(go, write=True)

    def get_result(self, job_id: str) -> dict[str, Any] | None:
        rows = self._db.run(
            lambda tx: tx.execute("SELECT * FROM results WHERE job_id = ?", (job_id,)), write=False
        )
        if not rows:
            return None
        row = rows[0]
        row["manifest"] = json.loads(row["manifest"])
        return row

    def count_results(self, job_id: str) -> int:
        rows = self._db.run(
            lambda tx: tx.execute("SELECT COUNT(*) AS n FROM results WHERE job_id = ?", (job_id,)), False
        )
        return int(rows[0]["n"])

    # ------------------------------------------------------------------ permit decisions
    def set_decision(self, job_id: str, decision: str, comment: str, reviewer: str) -> None:
        """Record (or replace) a reviewer's decision on a permit submission."""

        def go(tx: _Tx) -> None:
            tx.execute("DELETE FROM permit_decisions WHERE job_id = ?", (job_id,))
            tx.execute(
                "INSERT INTO permit_decisions (job_id, decision, comment, reviewer, decided) "
                "VALUES (?, ?, ?, ?, ?)",
                (job_id, decision, comment, reviewer, time.time()),
            )

        self._db.run(go, write=True)

    def get_decision(self, job_id: str) -> dict[str, Any] | None:
        rows = self._db.run(
            lambda tx: tx.execute("SELECT * FROM permit_decisions WHERE job_id = ?", (job_id,)), write=False
        )
        return rows[0] if rows else None

    # ------------------------------------------------------------------ workers
    def worker_seen(self, worker: str, pid: int, host: str) -> None:
        self._db.run(
            lambda tx: tx.execute(
                "INSERT INTO workers (id, pid, host, seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET seen = excluded.seen",
                (worker, pid, host, time.time()),
            ),
            write=True,
        )

    def live_workers(self, within_s: float) -> int:
        rows = self._db.run(
            lambda tx: tx.execute(
                "SELECT COUNT(*) AS n FROM workers WHERE seen > ?", (time.time() - within_s,)
            ),
            write=False,
        )
        return int(rows[0]["n"])


def open_store(url: str | Path, *, create: bool = True) -> JobStore:
    """Open (and by default create) the store at ``url``."""
    store = JobStore(url)
    if create:
        store.create_schema()
    return store
