"""Read untrusted IFC files in a child process with time and memory limits.

IfcOpenShell parses and triangulates in native code: a malformed file can
crash the interpreter (SIGSEGV) or make it allocate without bound.
:func:`read_ifc_isolated` runs :func:`~bim_ingest.ifc.read_ifc` in a fresh
Python process that

* sets ``RLIMIT_AS`` to ``memory_mb`` before importing anything heavy,
* runs in its own process group (with the geometry worker it starts), which
  is killed as a whole after ``timeout_s``,
* hands the model back as a pickle in a private temporary folder, and its
  warnings and progress through a pipe.

A crash, a kill or a limit becomes an :class:`~twin.errors.IngestError`
naming the file and the signal; errors the reader raises (``SchemaError``,
``CRSError`` ...) are raised again with their own class.  The caller lives
on.  This is the CLI's default path.

:func:`run_isolated` is the general mechanism: any importable function
(``"module:function"``) whose arguments and result pickle.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from twin import errors as _errors
from twin.errors import IngestError, TwinError, TwinWarning
from twin.model import CityModel
from twin.typing import PathLike_

__all__ = ["read_ifc_isolated", "run_isolated"]


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _send(channel, msg) -> None:
    payload = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    channel.write(struct.pack("<Q", len(payload)) + payload)
    channel.flush()


def run_isolated(
    target: str,
    args: tuple = (),
    kwargs: dict | None = None,
    *,
    timeout_s: float = 300.0,
    memory_mb: int | None = 4096,
    label: str = "",
) -> Any:
    """Call ``target(*args, **kwargs)`` in a child process and return its result.

    Parameters
    ----------
    target
        ``"package.module:function"``; the module must be importable in the
        child (it gets the caller's ``sys.path``).
    args, kwargs
        Picklable arguments; a callable ``progress`` keyword stays in the
        parent and is called as the child reports progress.
    timeout_s
        Wall-clock limit (s); the child's process group is killed after it.
    memory_mb
        Address-space limit of the child (MiB); None for none.
    label
        Names the input in error messages (e.g. the file name).

    Raises
    ------
    IngestError
        The child crashed, was killed, ran out of time or memory.
    TwinError
        Re-raised with its class when the target raised one.
    """
    kwargs = dict(kwargs or {})
    progress = kwargs.pop("progress", None)
    label = label or target
    workdir = Path(tempfile.mkdtemp(prefix="twin-isolated-"))
    out_path = workdir / "result.pickle"
    request = {
        "target": target,
        "args": args,
        "kwargs": kwargs,
        "out": str(out_path),
        "memory_mb": memory_mb,
        "progress": progress is not None,
    }
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    messages: list[tuple] = []
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from bim_ingest.ifc.isolate import _child; _child()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        stderr_chunks: list[bytes] = []
        reader = threading.Thread(target=_read_messages, args=(proc.stdout, messages), daemon=True)
        err_reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
        reader.start()
        err_reader.start()
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL))
            proc.stdin.close()
        t0 = time.monotonic()
        shown = 0
        try:
            while True:
                try:
                    code = proc.wait(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    shown = _show_progress(messages, shown, progress)
                    if time.monotonic() - t0 > timeout_s:
                        _kill_group(proc)
                        raise IngestError(
                            f"{label}: reading took longer than timeout_s={timeout_s:g} s and was stopped "
                            "(the child process was killed). The file may be very large or trigger a "
                            "runaway computation; raise the limit to try again."
                        ) from None
        finally:
            reader.join(5)
            err_reader.join(5)
            _kill_group(proc)  # a geometry worker left behind
            for stream in (proc.stdout, proc.stderr):
                with contextlib.suppress(OSError):
                    stream.close()
        elapsed = time.monotonic() - t0
        _show_progress(messages, shown, progress)
        stderr = b"".join(stderr_chunks).decode("utf-8", errors="replace").strip()
        _reemit_warnings(messages)
        error = next((m for m in messages if m[0] == "error"), None)
        if error is not None:
            raise _rebuild_error(error, label, memory_mb)
        if code != 0:
            if code < 0:
                raise IngestError(
                    f"{label}: the reader process was killed by {_signal_name(code)} after {elapsed:.1f} s "
                    "(a crash in the native IFC parser or geometry kernel, or the operating system "
                    f"stopping it; memory limit {memory_mb} MiB). The calling process is unaffected. "
                    f"{_tail(stderr)}"
                )
            raise IngestError(f"{label}: the reader process failed with exit code {code}. {_tail(stderr)}")
        if not out_path.is_file():
            raise IngestError(f"{label}: the reader process ended without a result. {_tail(stderr)}")
        with open(out_path, "rb") as fh:
            return pickle.load(fh)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _tail(text: str, n: int = 400) -> str:
    text = text.strip()
    return f"Its last output: ...{text[-n:]}" if text else ""


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(5)


def _show_progress(messages: list[tuple], shown: int, progress) -> int:
    """Call ``progress`` (in the caller's thread) for the progress messages not shown yet."""
    found = [m for m in list(messages) if m[0] == "progress"]
    if progress is not None:
        for msg in found[shown:]:
            with contextlib.suppress(Exception):
                progress(*msg[1:])
    return len(found)


def _read_messages(stream, messages: list) -> None:
    while True:
        head = stream.read(8)
        if len(head) < 8:
            return
        (n,) = struct.unpack("<Q", head)
        payload = stream.read(n)
        if len(payload) < n:
            return
        try:
            msg = pickle.loads(payload)
        except Exception:  # a torn message from a dying child
            return
        messages.append(msg)


def _reemit_warnings(messages: list[tuple]) -> None:
    import builtins

    for msg in messages:
        if msg[0] != "warning":
            continue
        _, name, text = msg
        category = getattr(_errors, name, None) or getattr(builtins, name, None)
        if not (isinstance(category, type) and issubclass(category, Warning)):
            category = TwinWarning
        warnings.warn(text, category, stacklevel=4)


def _rebuild_error(msg: tuple, label: str, memory_mb: int | None) -> Exception:
    _, name, text = msg[:3]
    if name == "MemoryError":
        return IngestError(
            f"{label}: reading ran out of memory (limit memory_mb={memory_mb} MiB in the isolated "
            "process); raise the limit for large models."
        )
    cls = getattr(_errors, name, None)
    if isinstance(cls, type) and issubclass(cls, TwinError):
        return cls(text)
    if name in ("ValueError", "TypeError", "KeyError", "FileNotFoundError"):
        import builtins

        return getattr(builtins, name)(text)
    return IngestError(f"{label}: {name}: {text}")


def read_ifc_isolated(
    path: PathLike_,
    *,
    timeout_s: float = 300.0,
    memory_mb: int | None = 4096,
    **kwargs: Any,
) -> CityModel:
    """:func:`~bim_ingest.ifc.read_ifc` in a child process with limits.

    Parameters
    ----------
    path
        The IFC file.
    timeout_s
        Wall-clock limit in seconds.
    memory_mb
        Address-space limit of the child in MiB (None: no limit).
    **kwargs
        Passed to :func:`~bim_ingest.ifc.read_ifc` (``crs``, ``place``,
        ``kernel``, ``cache_dir``, ``progress``).

    Raises
    ------
    IngestError
        Crash (with the signal), timeout, out of memory -- naming the file.
    SchemaError, CRSError, GeometryError
        As :func:`~bim_ingest.ifc.read_ifc` raises them.
    """
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file.")
    return run_isolated(
        "bim_ingest.ifc.read:read_ifc",
        (str(path),),
        kwargs,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        label=path.name,
    )


def _child() -> None:
    """Child side: limits first, then the call; result to a file, messages on stdout."""
    fd = os.dup(1)
    channel = os.fdopen(fd, "wb")
    os.dup2(2, 1)
    # ready before any limit bites: reporting "out of memory" must not need memory
    oom = pickle.dumps(("error", "MemoryError", "out of memory"), protocol=pickle.HIGHEST_PROTOCOL)
    oom_frame = struct.pack("<Q", len(oom)) + oom
    request = pickle.load(sys.stdin.buffer)
    if request.get("memory_mb"):
        import resource

        limit = int(request["memory_mb"]) * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    caught: list = []
    failure: BaseException | None = None
    try:
        import importlib

        module_name, func_name = request["target"].split(":")
        func = getattr(importlib.import_module(module_name), func_name)
        kwargs = dict(request["kwargs"])
        if request.get("progress"):
            kwargs["progress"] = lambda *a: _send(channel, ("progress", *a))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = func(*request["args"], **kwargs)
        with open(request["out"], "wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        os.write(fd, oom_frame)
        os._exit(3)
    except BaseException as err:  # everything goes back to the parent
        if isinstance(err, OSError) and err.errno == errno.ENOMEM:
            os.write(fd, oom_frame)
            os._exit(3)
        failure = err
    for w in caught:
        _send(channel, ("warning", w.category.__name__, str(w.message)))
    if failure is not None:
        _send(channel, ("error", type(failure).__name__, str(failure)))
        channel.close()
        os._exit(3)
    _send(channel, ("ok",))
    channel.close()
