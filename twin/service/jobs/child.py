"""Child side of a job: limits first, then the job function; messages as JSON lines.

Started by :func:`twin.service.jobs.sandbox.run_job_in_child` as a fresh interpreter
(``subprocess``, never ``fork``: numba and OpenMP are not fork-safe) in its own session.
It reads one JSON request on stdin, sets ``RLIMIT_AS`` before importing anything heavy,
runs the job function and writes ``{"type": "progress"|"result"|"error", ...}`` lines on
the original stdout; everything the libraries print goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _send(channel: Any, message: dict[str, Any]) -> None:
    channel.write((json.dumps(message, default=str) + "\n").encode("utf-8"))
    channel.flush()


def _orphan_watch(parent: int) -> None:
    """Die with the worker: a child whose worker was killed must not run on unobserved."""
    import signal
    import time

    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            try:
                os.killpg(os.getpgid(0), signal.SIGKILL)
            finally:
                os._exit(4)


def main() -> None:
    """Run the job described on stdin; exit 0 on success, 3 on a reported error."""
    import threading

    threading.Thread(target=_orphan_watch, args=(os.getppid(),), daemon=True).start()
    fd = os.dup(1)
    channel = os.fdopen(fd, "wb")
    os.dup2(2, 1)
    oom_line = (json.dumps({"type": "error", "error": "MemoryError", "errno": None}) + "\n").encode()
    request = json.loads(sys.stdin.buffer.read())
    memory_mb = request.get("memory_mb")
    if memory_mb:
        import resource

        limit = int(memory_mb) * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        from pathlib import Path

        from twin.service.jobs.kinds import KINDS, TEST_KINDS, JobContext

        kind = request["kind"]
        func = KINDS.get(kind) or (TEST_KINDS.get(kind) if request.get("test_kinds") else None)
        if func is None:
            raise ValueError(f"unknown job kind {kind!r}")
        ctx = JobContext(
            data_dir=Path(request["data_dir"]),
            out_dir=Path(request["out_dir"]),
            progress=lambda step, done, total: _send(
                channel, {"type": "progress", "step": str(step), "done": int(done), "total": int(total)}
            ),
        )
        summary = func(request["payload"], ctx)
        _send(channel, {"type": "result", "summary": summary})
    except MemoryError:
        os.write(fd, oom_line)
        os._exit(3)
    except BaseException as err:  # everything is reported to the worker
        _send(
            channel,
            {
                "type": "error",
                "error": type(err).__name__,
                "message": str(err)[:2000],
                "errno": getattr(err, "errno", None),
                "twin": type(err).__module__ == "twin.errors",
            },
        )
        channel.close()
        os._exit(3)
    channel.close()
    os._exit(0)


if __name__ == "__main__":
    main()
