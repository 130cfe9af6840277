"""Geometry worker: a standalone script run by :class:`bim_ingest.ifc.geometry.GeometryRun`.

It is started as ``python _worker.py`` (by path, so that importing it pulls in
only the standard library, NumPy and IfcOpenShell), reads one pickled request
from stdin and writes length-prefixed pickled messages to its original
stdout; anything the native code prints goes to stderr.  A kernel crash kills
only this process.

Request: ``{"path": str, "jobs": [(kernel, ids, fallback, each)], "threads": int}``.

Messages: ``("job", k, kernel, ids, each)``, ``("start", k, id)`` (one-by-one
mode), ``("meshes", k, [(id, vertices, faces, suspect)])``, ``("job_done", k,
missing, suspect)``, ``("error", k, text)``, ``("done",)``.

A window or door from a fast kernel is *suspect* when its projection on its
own wall plane covers less than 80 % of ``OverallWidth * OverallHeight``
(``cgal-simple`` loses the leaf of Revit roller doors); suspect and missing
products of a job are redone by the job's fallback kernel.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys

import numpy as np

__all__ = ["main"]

_MIN_COVER = 0.8


def _send(channel, msg) -> None:
    payload = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    channel.write(struct.pack("<Q", len(payload)))
    channel.write(payload)
    channel.flush()


def _suspect(product, verts: np.ndarray, faces: np.ndarray, unit: float) -> bool:
    """True when a window/door mesh covers too little of its nominal opening."""
    import ifcopenshell.util.placement

    if not (product.is_a("IfcWindow") or product.is_a("IfcDoor")):
        return False
    width = getattr(product, "OverallWidth", None)
    height = getattr(product, "OverallHeight", None)
    if not width or not height or product.ObjectPlacement is None:
        return False
    matrix = np.asarray(ifcopenshell.util.placement.get_local_placement(product.ObjectPlacement), dtype=float)
    rot = matrix[:3, :3]
    origin = matrix[:3, 3] * unit
    local = (verts - origin) @ rot
    tri = local[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]) * 0.5
    covered = np.abs(normal[:, 1]).sum() / 2.0
    return covered < _MIN_COVER * float(width) * float(height) * unit * unit


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies (best effort, no-op elsewhere)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except Exception:  # not Linux, or no libc symbol: the broken pipe ends us instead
        pass


def main() -> None:
    """Run the request read from stdin."""
    _die_with_parent()
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # native prints must not corrupt the message stream
    request = pickle.load(sys.stdin.buffer)

    import ifcopenshell
    import ifcopenshell.geom
    import ifcopenshell.util.unit

    f = ifcopenshell.open(request["path"])
    unit = float(ifcopenshell.util.unit.calculate_unit_scale(f))
    settings = ifcopenshell.geom.settings()
    for key, value in request.get("settings", {}).items():
        settings.set(key, value)
    threads = int(request.get("threads", 1))
    queue = [list(job) for job in request["jobs"]]
    k = 0
    while queue:
        kernel, ids, fallback, each = queue.pop(0)
        _send(channel, ("job", k, kernel, list(ids), bool(each)))
        delivered: set[int] = set()
        suspects: list[int] = []
        groups = [[i] for i in ids] if each else [list(ids)]
        for group in groups:
            if each:
                _send(channel, ("start", k, group[0]))
            try:
                it = ifcopenshell.geom.iterator(
                    settings,
                    f,
                    1 if each else threads,
                    include=[f.by_id(i) for i in group],
                    geometry_library=kernel,
                )
                ok = it.initialize()
            except Exception as err:  # a kernel that refuses the job as a whole
                _send(channel, ("error", k, f"{type(err).__name__}: {err}"))
                continue
            batch = []
            while ok:
                shape = it.get()
                geom = shape.geometry
                verts = np.frombuffer(geom.verts_buffer, "d").reshape(-1, 3).copy()
                faces = np.frombuffer(geom.faces_buffer, "i").reshape(-1, 3).copy()
                pid = int(shape.id)
                suspect = False
                if len(faces) and fallback is not None:
                    suspect = _suspect(f.by_id(pid), verts, faces, unit)
                if len(faces):
                    batch.append((pid, verts, faces, suspect))
                    if suspect:
                        suspects.append(pid)
                    else:
                        delivered.add(pid)
                if len(batch) >= 32:
                    _send(channel, ("meshes", k, batch))
                    batch = []
                ok = it.next()
            if batch:
                _send(channel, ("meshes", k, batch))
        missing = [i for i in ids if i not in delivered and i not in suspects]
        _send(channel, ("job_done", k, missing, suspects))
        redo = missing + suspects
        if redo and fallback is not None:
            for job in queue:
                if job[0] == fallback and job[2] is None and not job[3]:
                    job[1] = list(job[1]) + redo
                    break
            else:
                queue.append([fallback, redo, None, False])
        k += 1
    _send(channel, ("done",))
    channel.close()


if __name__ == "__main__":
    main()
