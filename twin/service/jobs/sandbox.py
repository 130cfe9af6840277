"""Run one job attempt in a sandboxed child process with a timeout and a memory cap.

The child (:mod:`twin.service.jobs.child`) is a fresh interpreter in its own session;
on timeout, cancellation or a lost lease its whole process tree is killed (psutil walk plus
the process group), as buildingSMART's validation service does.  Every way the child can end
becomes an :class:`Outcome` with a reason a user can read: ``"timeout ..."``,
``"memory limit ..."``, ``"worker crashed (SIGSEGV)"``, ``"no space left on device"`` or the
job's own error message.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

__all__ = ["Outcome", "run_job_in_child", "kill_tree"]

#: Error classes whose message is shown to the user as it is (the library's own messages).
_USER_ERRORS = {
    "IngestError",
    "SchemaError",
    "CRSError",
    "CRSMismatchError",
    "GeometryError",
    "StoreError",
    "ScenarioValidationError",
    "UnknownEntityError",
    "DuplicateIdError",
    "ConvergenceError",
    "ValueError",
    "ValidationError",
}


@dataclass
class Outcome:
    """How a job attempt ended.

    Attributes
    ----------
    state
        ``"done"``, ``"failed"``, ``"cancelled"`` or ``"lost"`` (the lease went to another worker).
    error
        Reason of a failure, for the user.
    summary
        The job function's summary on success.
    peak_rss_mb
        Largest resident set of the child's process tree seen while sampling.
    """

    state: str
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    peak_rss_mb: float = 0.0


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``, its descendants and its process group."""
    victims: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        parent = psutil.Process(pid)
        victims = [parent, *parent.children(recursive=True)]
    for proc in victims:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    psutil.wait_procs(victims, timeout=5)


def _tree_rss(pid: int) -> float:
    try:
        parent = psutil.Process(pid)
        procs = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 2**20


def _reader(stream: Any, messages: list[dict[str, Any]]) -> None:
    for line in iter(stream.readline, b""):
        with contextlib.suppress(ValueError):
            messages.append(json.loads(line))


def _failure_reason(msg: dict[str, Any], memory_mb: int | None, scrub: str) -> str:
    name = msg.get("error", "Error")
    text = str(msg.get("message", "")).replace(scrub, "")
    if name == "MemoryError" or msg.get("errno") == errno.ENOMEM:
        return f"memory limit exceeded (job_memory_mb={memory_mb} MiB)"
    if msg.get("errno") == errno.ENOSPC:
        return "no space left on device while writing the result"
    if name in _USER_ERRORS or msg.get("twin"):
        return text or name
    return f"{name}: {text}" if text else name


def run_job_in_child(
    kind: str,
    payload: dict[str, Any],
    *,
    data_dir: Path,
    out_dir: Path,
    timeout_s: float,
    memory_mb: int | None,
    test_kinds: bool = False,
    tick: Callable[[dict[str, Any] | None], str] | None = None,
    tick_interval_s: float = 1.0,
    on_start: Callable[[int], None] | None = None,
) -> Outcome:
    """Run ``kind`` on ``payload`` in a child process and wait for it.

    Parameters
    ----------
    kind, payload
        The job (see :mod:`twin.service.jobs.kinds`).
    data_dir, out_dir
        The service data folder and the attempt's private output folder (must exist).
    timeout_s, memory_mb
        Wall-clock limit and ``RLIMIT_AS`` cap of the child.
    test_kinds
        Allow the fault-injection kinds.
    tick
        Called about every ``tick_interval_s`` with the latest progress (or None); returns
        ``"ok"``, ``"cancel"`` or ``"lost"``.  The last two stop the child.
    on_start
        Called with the child's pid once started.
    """
    request = {
        "kind": kind,
        "payload": payload,
        "data_dir": str(data_dir),
        "out_dir": str(out_dir),
        "memory_mb": memory_mb,
        "test_kinds": test_kinds,
    }
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from twin.service.jobs.child import main; main()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=out_dir,  # relative paths resolve inside the attempt's private folder
        start_new_session=True,
    )
    if on_start is not None:
        on_start(proc.pid)
    messages: list[dict[str, Any]] = []
    stderr_tail: list[bytes] = []
    threads = [
        threading.Thread(target=_reader, args=(proc.stdout, messages), daemon=True),
        threading.Thread(target=lambda: stderr_tail.append(proc.stderr.read()[-4000:]), daemon=True),
    ]
    for t in threads:
        t.start()
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(json.dumps(request).encode("utf-8"))
        proc.stdin.close()
    t0 = time.monotonic()
    last_tick = t0
    peak = 0.0
    stop: Outcome | None = None
    code: int | None = None
    try:
        while True:
            try:
                code = proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            peak = max(peak, _tree_rss(proc.pid))
            if now - t0 > timeout_s:
                stop = Outcome(
                    "failed",
                    f"timeout: the job ran longer than job_timeout_s={timeout_s:g} s "
                    "and was stopped (its process tree was killed)",
                )
                break
            if tick is not None and now - last_tick >= tick_interval_s:
                last_tick = now
                progress = next((m for m in reversed(messages) if m.get("type") == "progress"), None)
                verdict = tick(progress)
                if verdict == "cancel":
                    stop = Outcome("cancelled", "cancelled on request")
                    break
                if verdict == "lost":
                    stop = Outcome("lost", "the job's lease was taken over by another worker")
                    break
    finally:
        if code is None:
            kill_tree(proc.pid)
        else:
            kill_tree(proc.pid)  # a grandchild left behind
        for t in threads:
            t.join(5)
        for stream in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()
    if stop is not None:
        stop.peak_rss_mb = peak
        return stop
    result = next((m for m in messages if m.get("type") == "result"), None)
    error = next((m for m in messages if m.get("type") == "error"), None)
    if error is not None:
        return Outcome("failed", _failure_reason(error, memory_mb, str(data_dir)), peak_rss_mb=peak)
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return Outcome("failed", f"worker crashed ({name})", peak_rss_mb=peak)
    if code != 0 or result is None:
        return Outcome("failed", f"worker crashed (exit code {code})", peak_rss_mb=peak)
    return Outcome("done", summary=result.get("summary") or {}, peak_rss_mb=peak)
