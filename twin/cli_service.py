"""``twin serve``, ``twin worker`` and ``twin keys``: run the web service and manage its API keys.

Part of the entry-point layer (imported by :mod:`twin.cli` only).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from twin.cli_common import errors, out

__all__ = ["serve", "worker", "keys_app"]

keys_app = typer.Typer(help="Create and list the service's API keys.", no_args_is_help=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Service data folder (default $TWIN_DATA_DIR or ./twin-data)"),
]


def _settings(data_dir: Path | None, **overrides: object):
    from twin.service.settings import load_settings

    return load_settings(data_dir=data_dir, **overrides)


class WorkerPool:
    """Worker processes (spawned, never forked) kept alive by a supervising thread."""

    def __init__(self, settings_json: str, count: int) -> None:
        self.settings_json = settings_json
        self.count = count
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: list[multiprocessing.process.BaseProcess] = []
        self.stop = threading.Event()

    def _start_one(self) -> multiprocessing.process.BaseProcess:
        from twin.service.jobs.worker import worker_main

        proc = self.ctx.Process(target=worker_main, args=(self.settings_json,), name="twin-worker")
        proc.start()
        return proc

    def start(self) -> None:
        self.procs = [self._start_one() for _ in range(self.count)]
        threading.Thread(target=self._supervise, daemon=True, name="twin-worker-supervisor").start()

    def _supervise(self) -> None:
        while not self.stop.wait(1.0):
            for i, proc in enumerate(self.procs):
                if not proc.is_alive() and not self.stop.is_set():
                    out.print(f"twin serve: worker {proc.pid} ended ({proc.exitcode}); starting a new one")
                    self.procs[i] = self._start_one()

    def shutdown(self) -> None:
        self.stop.set()
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs:
            proc.join(max(deadline - time.monotonic(), 0.1))
            if proc.is_alive():
                proc.kill()


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    data_dir: DataDir = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Job worker processes (default 1)")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML or JSON)")] = None,
) -> None:
    """Run the web service (API and job workers) until interrupted."""
    import uvicorn

    with errors():
        from twin.service.app import create_app
        from twin.service.settings import load_settings

        settings = load_settings(config, data_dir=data_dir, workers=workers)
        app = create_app(settings)
        pool = WorkerPool(settings.model_dump_json(), settings.workers)
        pool.start()
        out.print(f"twin serve: http://{host}:{port}  data {settings.data_dir}  workers {settings.workers}")
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
        finally:
            pool.shutdown()


def worker(
    data_dir: DataDir = None,
    config: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML or JSON)")] = None,
) -> None:
    """Run one job worker in the foreground (for extra machines sharing a PostgreSQL job store)."""
    with errors():
        from twin.service.jobs.worker import worker_main
        from twin.service.settings import load_settings

        worker_main(load_settings(config, data_dir=data_dir).model_dump_json())


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option("--role", help="analyst, architect, reviewer or admin")],
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    with errors():
        from twin.service.app import open_app_store
        from twin.service.auth import create_key

        settings = _settings(data_dir)
        settings.prepare_dirs()
        key_id, key = create_key(open_app_store(settings), role, name)
        out.print(f"key id {key_id} ({role}); store this key now, it is not shown again:", highlight=False)
        print(key)  # noqa: T201 - plain stdout, so that scripts can capture the key


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List the API keys (ids, names, roles; never the keys)."""
    with errors():
        from twin.service.app import open_app_store

        settings = _settings(data_dir)
        settings.prepare_dirs()
        for row in open_app_store(settings).list_keys():
            state = "revoked" if row["revoked"] else "active"
            out.print(f"{row['id']}  {row['role']:<9}  {state:<7}  {row['name']}", highlight=False)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id from `twin keys list`")], data_dir: DataDir = None
) -> None:
    """Revoke an API key (effective within a few seconds)."""
    with errors():
        from twin.cli_common import fail
        from twin.service.app import open_app_store

        settings = _settings(data_dir)
        if not open_app_store(settings).revoke_key(key_id):
            fail(f"no key {key_id}")
        out.print(f"revoked {key_id}")
