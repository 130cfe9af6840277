"""The worker loop: claim a job, run it in a sandboxed child, publish its result atomically.

A worker process (started by ``twin serve`` with the *spawn* method, or alone with
``twin worker``) repeats: sweep expired leases (every ``sweep_interval_s``), claim the oldest
queued job, run it in a child (:mod:`twin.service.jobs.sandbox`) while renewing the lease,
and then

* on success: hash every result file (sha256), fsync it, move the attempt's folder to
  ``<data_dir>/results/<job>/<attempt>/`` and mark the job done with its manifest -- in one
  transaction guarded by ``worker = me``; a stale worker's result is discarded;
* on failure, timeout, memory limit or crash: mark the job failed with the reason;
* on cancellation: mark it cancelled.

A worker killed at any point loses nothing: its lease expires, the sweeper re-queues the job
and another worker runs it again (attempts are counted).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from twin.service.jobs.kinds import kinds_for
from twin.service.jobs.sandbox import Outcome, run_job_in_child
from twin.service.settings import Settings
from twin.service.store import Job, JobStore, JobStoreUnavailable, new_id, open_store

__all__ = ["Worker", "worker_main", "sha256_file", "build_manifest"]

log = logging.getLogger("twin.service.worker")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"sha256", "bytes"}}`` of every file under ``folder`` (fsynced)."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
        files[path.relative_to(folder).as_posix()] = {
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
        }
    return files


class Worker:
    """One worker: a loop over claim -> run in child -> publish.

    Parameters
    ----------
    settings
        Service settings (data folder, store, limits, lease).
    store
        An open store (default: opened from ``settings``).
    worker_id
        Name recorded on claimed jobs (default ``<host>:<pid>:<random>``).
    """

    def __init__(self, settings: Settings, store: JobStore | None = None, worker_id: str | None = None):
        self.settings = settings
        self.store = store or open_store(settings.database_url or settings.sqlite_path)
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
        self.kinds = kinds_for(settings.test_job_kinds)
        self.stop_event = threading.Event()
        self._last_sweep = 0.0
        self.child_pid: int | None = None
        settings.prepare_dirs()

    # ------------------------------------------------------------------ loop
    def sweep(self) -> int:
        """Re-queue jobs whose lease expired (at most every ``sweep_interval_s``)."""
        now = time.monotonic()
        if now - self._last_sweep < self.settings.sweep_interval_s:
            return 0
        self._last_sweep = now
        return self.store.requeue_stale(self.settings.max_attempts)

    def run_once(self) -> Job | None:
        """Claim and run one job; returns it (as claimed) or None when the queue is empty."""
        self.sweep()
        job = self.store.claim(self.id, self.kinds, self.settings.lease_s)
        if job is None:
            return None
        self.execute(job)
        return job

    def run_forever(self) -> None:
        """Work until :attr:`stop_event` is set; back off while the store is unavailable."""
        backoff = self.settings.poll_interval_s
        host = socket.gethostname()
        last_seen = 0.0
        while not self.stop_event.is_set():
            try:
                if time.monotonic() - last_seen > max(self.settings.lease_s / 3, 1.0):
                    self.store.worker_seen(self.id, os.getpid(), host)
                    last_seen = time.monotonic()
                job = self.run_once()
                backoff = self.settings.poll_interval_s
                if job is None:
                    self.stop_event.wait(self.settings.poll_interval_s)
            except JobStoreUnavailable as err:
                log.warning("job store unavailable (%s); retrying in %.1f s", err, backoff)
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    # ------------------------------------------------------------------ one job
    def execute(self, job: Job) -> Outcome:
        """Run a claimed job to its end and record the outcome."""
        s = self.settings
        attempt = f"{job.attempts}-{new_id()[:8]}"
        staging = s.data_dir / "work" / f"{job.id}-{attempt}"
        staging.mkdir(parents=True)
        renew_every = max(min(s.lease_s / 3, 5.0), 0.1)

        def tick(progress: dict[str, Any] | None) -> str:
            if self.stop_event.is_set():
                return "lost"  # shutting down: stop the child, give the job back below
            try:
                return self.store.heartbeat(job.id, self.id, s.lease_s, progress)
            except JobStoreUnavailable:
                return "ok"  # keep working; the lease may lapse and the job be re-run

        def started(pid: int) -> None:
            self.child_pid = pid

        try:
            outcome = run_job_in_child(
                job.kind,
                job.payload,
                data_dir=s.data_dir,
                out_dir=staging,
                timeout_s=s.job_timeout_s,
                memory_mb=s.job_memory_mb,
                test_kinds=s.test_job_kinds,
                tick=tick,
                tick_interval_s=renew_every,
                on_start=started,
            )
            self.child_pid = None
            if outcome.state == "done":
                outcome = self._publish(job, attempt, staging, outcome)
            elif outcome.state in ("failed", "cancelled"):
                self.store.finish(job.id, self.id, outcome.state, outcome.error)
            elif self.stop_event.is_set():
                self.store.release(job.id, self.id)
            log.info("job %s (%s) %s %s", job.id, job.kind, outcome.state, outcome.error or "")
            return outcome
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _publish(self, job: Job, attempt: str, staging: Path, outcome: Outcome) -> Outcome:
        final = self.settings.data_dir / "results" / job.id / attempt
        try:
            files = build_manifest(staging)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, final)
            _fsync_dir(final.parent)
        except OSError as err:
            shutil.rmtree(final, ignore_errors=True)
            with contextlib.suppress(OSError):
                final.parent.rmdir()  # only if empty: earlier attempts' results stay
            reason = (
                "no space left on device while writing the result"
                if err.errno == errno.ENOSPC
                else f"cannot store the result ({err.strerror or err})"
            )
            self.store.finish(job.id, self.id, "failed", reason)
            return Outcome("failed", reason)
        manifest = {"files": files, "summary": outcome.summary, "attempt": attempt}
        relative = final.relative_to(self.settings.data_dir).as_posix()
        if not self.store.complete(job.id, self.id, relative, manifest):
            shutil.rmtree(final, ignore_errors=True)  # another worker owns the job now
            return Outcome("lost", "the job's lease was taken over by another worker")
        return outcome


def worker_main(settings_json: str) -> None:
    """Entry point of a spawned worker process (settings passed as JSON)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d %(message)s")
    settings = Settings.model_validate_json(settings_json)
    worker = Worker(settings)

    def stop(signum: int, frame: Any) -> None:
        worker.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        worker.run_forever()
    finally:
        if worker.child_pid is not None:
            from twin.service.jobs.sandbox import kill_tree

            with contextlib.suppress(Exception):
                kill_tree(worker.child_pid)
