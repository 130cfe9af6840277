"""The kinds of job and the functions that do their work.

Every function here runs **inside the sandboxed child process** (see
:mod:`twin.service.jobs.child`), never in the API or worker process: it may crash,
hang or run out of memory without harming either.  Each takes the job's payload and a
:class:`JobContext` and writes its files into ``ctx.out_dir``; it returns a small
JSON-able summary.  Heavy modules are imported inside the functions.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["JobContext", "KINDS", "TEST_KINDS", "kinds_for", "resolve"]


@dataclass(frozen=True)
class JobContext:
    """What a job function may touch.

    Attributes
    ----------
    data_dir
        The service's data folder (inputs are addressed relative to it).
    out_dir
        An empty private folder for the job's result files.
    progress
        ``progress(step, done, total)`` reports progress to the worker.
    """

    data_dir: Path
    out_dir: Path
    progress: Callable[[str, int, int], None]

    def input_path(self, relative: str) -> Path:
        """Resolve a payload path under ``data_dir``, refusing anything that leaves it."""
        base = self.data_dir.resolve()
        path = (base / relative).resolve()
        if base not in path.parents:
            raise ValueError("input path outside the data folder")
        return path


def ingest(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Read an uploaded file (IFC, CityJSON, CityGML, GeoPackage) into ``model.gpkg``."""
    from bim_ingest.registry import read

    path = ctx.input_path(payload["upload"])
    ctx.progress("reading", 0, 2)
    fmt = payload.get("format")
    options: dict[str, Any] = {}
    if fmt == "ifc":
        options["isolated"] = False  # this process is the isolation
    model = read(path, format=None if fmt in (None, "gpkg") else fmt, **options)
    model.name = str(payload.get("name") or model.name)
    ctx.progress("saving", 1, 2)
    model.save(ctx.out_dir / "model.gpkg")
    ctx.progress("done", 2, 2)
    summary = model.summary()
    summary.pop("sources", None)
    return summary


def scenario_run(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Run a what-if scenario on a stored model and save the run directory."""
    from scenarios import Scenario, run
    from twin.model import CityModel

    scenario = Scenario.model_validate(payload["spec"])
    if scenario.base_model is not None or scenario.measures.bim:
        raise ValueError("scenarios run by the service take no file paths (base_model, measures.bim)")
    ctx.progress("loading model", 0, 1)
    model = CityModel.load(ctx.input_path(payload["model_path"]))
    cache = ctx.data_dir / "cache" / "scenarios"
    cache.mkdir(parents=True, exist_ok=True)
    result = run(scenario, model, cache_dir=cache, progress=ctx.progress)
    run_dir = Path(result.save(ctx.out_dir / "run"))
    record = result.record
    return {
        "run_dir": run_dir.relative_to(ctx.out_dir).as_posix(),
        "status": record.get("status"),
        "run_hash": record.get("run_hash"),
        "totals": record.get("totals"),
    }


def permit_check(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Check an IFC building permit submission and write its reports."""
    from bim_ingest.checks import DEFAULT_IDS, check_permit

    report = check_permit(
        ctx.input_path(payload["upload"]),
        ids_paths=[DEFAULT_IDS],
        out_dir=ctx.out_dir,
        snapshots=bool(payload.get("snapshots", True)),
        progress=ctx.progress,
    )
    return {"status": report.status, "report": report.to_dict()}


# ---------------------------------------------------------------- fault-injection kinds (tests only)
def test_sleep(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Sleep ``seconds`` reporting progress, then write ``result.txt``."""
    seconds = float(payload.get("seconds", 1.0))
    steps = max(int(seconds / 0.1), 1)
    for i in range(steps):
        ctx.progress("sleeping", i, steps)
        time.sleep(seconds / steps)
    (ctx.out_dir / "result.txt").write_text(str(payload.get("value", "ok")), encoding="utf-8")
    return {"slept_s": seconds, "value": payload.get("value", "ok")}


def test_hang(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Start a grandchild that sleeps forever, then spin forever (a runaway kernel)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    (ctx.out_dir / "grandchild.pid").write_text(str(child.pid), encoding="utf-8")
    ctx.progress("grandchild", child.pid, 0)
    x = 0
    while True:  # noqa: B007 - spinning on purpose
        x += 1


def test_oom(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Allocate far past any sane memory cap."""
    hoard = []
    for _ in range(1000):
        hoard.append(bytearray(256 * 1024 * 1024))
    return {"allocated": len(hoard)}


def test_crash(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Die of SIGSEGV, as a native parser would."""
    import signal

    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(5)
    return {}


def test_enospc(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Write half a result, then fail as a full disk would (through an atomic write)."""
    from twin.atomic import atomic_path

    with atomic_path(ctx.out_dir / "result.bin") as tmp:
        tmp.write_bytes(b"x" * 4096)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


KINDS: dict[str, Callable[[dict[str, Any], JobContext], dict[str, Any]]] = {
    "ingest": ingest,
    "scenario_run": scenario_run,
    "permit_check": permit_check,
}

TEST_KINDS: dict[str, Callable[[dict[str, Any], JobContext], dict[str, Any]]] = {
    "test_sleep": test_sleep,
    "test_hang": test_hang,
    "test_oom": test_oom,
    "test_crash": test_crash,
    "test_enospc": test_enospc,
}


def kinds_for(test_kinds: bool) -> list[str]:
    """Names of the kinds a worker runs."""
    return [*KINDS, *(TEST_KINDS if test_kinds else ())]


def resolve(kind: str) -> Callable[[dict[str, Any], JobContext], dict[str, Any]]:
    """The function of ``kind``; KeyError when unknown."""
    if kind in KINDS:
        return KINDS[kind]
    return TEST_KINDS[kind]
