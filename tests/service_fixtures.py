"""Fixtures and helpers of the service tests (imported by tests/test_service_*.py).

* ``pg_url``: a throwaway PostgreSQL 15 cluster on a loopback port, started for the session
  (skipped when PostgreSQL is not installed; under ``CI=true`` that is a failure).
* ``demo_gpkg``: a small sample-district model saved as a GeoPackage.
* :func:`make_client`: a TestClient over a fresh data folder with one key per role.
* :class:`LiveServer`: ``twin serve`` as a real uvicorn process, for the fault tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PGBIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true: .ci/run installs postgresql-15-postgis-3)")
    pytest.skip(reason)


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--", *cmd] if runuser else ["su", "postgres", "-c", " ".join(cmd)]


@pytest.fixture(scope="session")
def pg_url() -> Any:
    """URL of a throwaway PostgreSQL cluster (own data dir and port, loopback only)."""
    if os.environ.get("TWIN_TEST_DATABASE_URL"):
        yield os.environ["TWIN_TEST_DATABASE_URL"]
        return
    if not (PGBIN / "initdb").exists():
        _missing(f"PostgreSQL binaries not found in {PGBIN}")
    try:
        import psycopg
    except ImportError:
        _missing("psycopg is not installed")
    root = Path(tempfile.mkdtemp(prefix="twin-pg-"))
    port = _free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data = root / "data"
    init = subprocess.run(
        _as_postgres([str(PGBIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        _missing(f"initdb failed: {init.stderr[-300:]}")
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    start = subprocess.run(
        _as_postgres(
            [str(PGBIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "pg.log"), "-w", "start"]
        ),
        capture_output=True,
        text=True,
    )
    if start.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        _missing(f"pg_ctl start failed: {start.stderr[-300:]}")
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        with psycopg.connect(url, autocommit=True) as conn, contextlib.suppress(psycopg.Error):
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        yield url
    finally:
        subprocess.run(
            _as_postgres([str(PGBIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def demo_gpkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-building sample district model as a twin GeoPackage."""
    from bim_ingest.registry import read
    from data import generate_district, write_district

    folder = tmp_path_factory.mktemp("district")
    files = write_district(generate_district(40, seed=1), folder / "inputs")
    model = read(files["cityjson"])
    model.name = "service test district"
    path = folder / "district.gpkg"
    model.save(path)
    return path


ROLES = ("analyst", "analyst2", "architect", "architect2", "reviewer", "admin")


@dataclass
class Env:
    """A TestClient with its settings, store and one key per role (``headers[role]``)."""

    client: Any
    settings: Any
    store: Any
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    principals: dict[str, str] = field(default_factory=dict)

    def worker(self) -> Any:
        from twin.service.jobs.worker import Worker

        return Worker(self.settings, store=self.store)

    def drain(self, limit: int = 10) -> int:
        """Run queued jobs in this process's worker until none is left."""
        w = self.worker()
        done = 0
        while done < limit and w.run_once() is not None:
            done += 1
        return done


def cancel_queued(env: Env) -> None:
    """Cancel every queued job (tests that only check the answer to a submission)."""
    from twin.service.jobs.kinds import kinds_for

    for job in env.store.list_jobs(kinds_for(True)):
        if job.state == "queued":
            env.store.cancel(job.id)


def make_client(data_dir: Path, **overrides: Any) -> Env:
    from fastapi.testclient import TestClient

    from twin.service.app import create_app
    from twin.service.auth import create_key
    from twin.service.settings import Settings

    values = {
        "data_dir": data_dir,
        "lease_s": 2.0,
        "sweep_interval_s": 0.5,
        "job_timeout_s": 60.0,
        "job_memory_mb": 4096,
        "test_job_kinds": True,
        "max_upload_mb": 1.0,
    }
    values.update(overrides)
    settings = Settings(**values)
    app = create_app(settings)
    store = app.state.store
    env = Env(client=TestClient(app, raise_server_exceptions=False), settings=settings, store=store)
    for name in ROLES:
        role = name.rstrip("2")
        key_id, key = create_key(store, role, name)
        env.headers[name] = {"Authorization": f"Bearer {key}"}
        env.principals[name] = key_id
    return env


def upload_model(env: Env, path: Path, who: str = "analyst", **params: Any) -> tuple[str, str]:
    """Upload ``path`` as ``who`` and ingest it in-process; returns (model_id, job_id)."""
    r = env.client.post(
        "/models",
        content=path.read_bytes(),
        headers=env.headers[who],
        params={"filename": path.name, **params},
    )
    assert r.status_code == 202, r.text
    body = r.json()
    env.drain()
    return body["model_id"], body["job_id"]


def wait_for(predicate: Any, timeout: float, interval: float = 0.1) -> Any:
    """Poll ``predicate()`` until truthy; returns its value or raises AssertionError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


class LiveServer:
    """``twin serve`` in a subprocess (real uvicorn + spawned workers) on a free loopback port."""

    def __init__(self, data_dir: Path, *, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {
            **os.environ,
            "TWIN_TEST_JOB_KINDS": "1",
            "TWIN_LEASE_S": "2",
            "TWIN_SWEEP_INTERVAL_S": "0.5",
            "TWIN_POLL_INTERVAL_S": "0.2",
            "TWIN_JOB_TIMEOUT_S": "8",
            "TWIN_JOB_MEMORY_MB": "1024",
            "TWIN_MAX_UPLOAD_MB": "5",
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None

    def start(self) -> LiveServer:
        self.log = open(self.data_dir / f"serve-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "twin",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--workers",
                str(self.workers),
            ],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import httpx

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.read_log()
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.url}/health", timeout=1).status_code in (200, 503)
            return False

        wait_for(up, 30, 0.2)
        return self

    def read_log(self) -> str:
        return (self.data_dir / f"serve-{self.port}.log").read_text(errors="replace")[-3000:]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None
        self.log.close()
