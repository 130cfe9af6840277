"""Triangulate IFC products in a worker process, fast and complete.

Geometry, not parsing, is what an IFC ingest costs, and the IfcOpenShell
kernels differ a lot in speed and in what they drop (see the BIM reference
sheet, section 2.3, and the measurements in ``benchmarks/ingest_ifc.py``):

* ``opencascade`` (the reference) produces every product but spends most of
  its time in boolean operations and in tessellating detailed Revit doors;
* ``manifold`` is 10-20x faster but drops ``IfcAdvancedBrep`` bodies (Revit
  windows and doors), gets half-space clipping
  (``IfcBooleanClippingResult``) wrong -- a clipped gable wall comes out
  unclipped, four times its area -- and crashes the interpreter on some
  furniture;
* ``cgal-simple`` is fast on advanced B-reps but returns *empty* shapes for
  many walls with openings.

So the ``"auto"`` plan routes every product by what its ``Body``
representation contains: half-space clipping to ``opencascade``, advanced
B-reps to ``cgal-simple``, everything else to ``manifold``.  Any product a
fast kernel drops or returns empty is redone with ``opencascade``; if a
kernel crashes the worker, the products it had not yet delivered are redone
with ``opencascade`` in a fresh worker, and a crash of ``opencascade`` itself
is isolated product by product so that only the culprit is lost (and
reported by GlobalId).  Only the classes that can form the envelope
(:data:`~bim_ingest.ifc.semantics.ENVELOPE_CLASSES`), spaces and the openings
that void them are triangulated: furniture, railings and stairs never
separate heated space from outside.

Each job runs ``ifcopenshell.geom.iterator`` with world coordinates and its
multi-threaded mode in a worker process (``_worker.py``, started by path so
that it imports only NumPy and IfcOpenShell), streaming meshes back through
a pipe, because a kernel crash (SIGSEGV) must not take the caller down.
Coordinates are metres in the file's world (engineering) system.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bim_ingest.ifc.semantics import ENVELOPE_CLASSES, body_representations

__all__ = [
    "KERNELS",
    "REFERENCE_KERNEL",
    "SETTINGS",
    "Job",
    "MeshSet",
    "GeometryRun",
    "plan_jobs",
    "select_products",
    "check_kernel",
    "next_attempt",
]

#: Kernel choices of :func:`bim_ingest.ifc.read_ifc`.
KERNELS = (
    "auto",
    "opencascade",
    "hybrid-cgal-simple-opencascade",
    "manifold",
    "cgal",
    "cgal-simple",
)
#: The kernel that produced every product of every test file.
REFERENCE_KERNEL = "opencascade"
#: Iterator settings (everything else is IfcOpenShell's default).
SETTINGS = {"use-world-coords": True}

_CLIPPING = {
    "IfcBooleanClippingResult",
    "IfcHalfSpaceSolid",
    "IfcPolygonalBoundedHalfSpace",
    "IfcBoxedHalfSpace",
}
_ADVANCED = {"IfcAdvancedBrep", "IfcAdvancedBrepWithVoids"}
ProgressFn = Callable[[str, int, int], None]


def check_kernel(kernel: str) -> str:
    """Return ``kernel`` if valid, else raise ``ValueError`` listing the choices."""
    if kernel not in KERNELS:
        raise ValueError(f"Unknown geometry kernel {kernel!r}; choose one of {', '.join(KERNELS)}.")
    return kernel


@dataclass
class Job:
    """Products to triangulate with one kernel.

    Attributes
    ----------
    kernel
        ``geometry_library`` of the iterator.
    ids
        Entity ids of the products.
    fallback
        Kernel that redoes products this one drops or crashes on (None: none).
    each
        One iterator per product, announcing each before it starts, so that
        a crash names its culprit.
    """

    kernel: str
    ids: list[int]
    fallback: str | None = REFERENCE_KERNEL
    each: bool = False


@dataclass
class MeshSet:
    """Triangle meshes of products, flat arrays (CSR by product).

    Attributes
    ----------
    entity_ids : (k,) int64
        Step ids of the products, sorted.
    kernels : (k,) str
        Kernel that produced each mesh.
    vert_offsets, face_offsets : (k + 1,) int64
        Product ``i`` owns ``vertices[vert_offsets[i]:vert_offsets[i+1]]`` and
        ``faces[face_offsets[i]:face_offsets[i+1]]`` (indices local to its vertices).
    vertices : (V, 3) float64
        World coordinates in metres.
    faces : (F, 3) int64
    failures : dict
        Entity id -> reason, for products that produced no geometry.
    stats : dict
        Kernel counts, crashes, timings.
    """

    entity_ids: npt.NDArray[np.int64]
    kernels: npt.NDArray[np.str_]
    vert_offsets: npt.NDArray[np.int64]
    face_offsets: npt.NDArray[np.int64]
    vertices: npt.NDArray[np.float64]
    faces: npt.NDArray[np.int64]
    failures: dict[int, str] = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entity_ids)

    def index(self) -> dict[int, int]:
        """Entity id -> row."""
        return {int(e): i for i, e in enumerate(self.entity_ids)}

    def mesh(self, i: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """Vertices (n, 3) and faces (m, 3) of row ``i``."""
        v = self.vertices[self.vert_offsets[i] : self.vert_offsets[i + 1]]
        f = self.faces[self.face_offsets[i] : self.face_offsets[i + 1]]
        return v, f

    def triangles(self, i: int) -> npt.NDArray[np.float64]:
        """Triangle corners of row ``i``, shape (m, 3, 3)."""
        v, f = self.mesh(i)
        return v[f]

    def trimesh(self, i: int):
        """Row ``i`` as a :class:`trimesh.Trimesh` (world metres, not processed)."""
        import trimesh

        v, f = self.mesh(i)
        return trimesh.Trimesh(vertices=v.copy(), faces=f.copy(), process=False)

    @staticmethod
    def from_parts(
        parts: dict[int, tuple[str, np.ndarray, np.ndarray]], failures: dict[int, str], stats: dict
    ) -> MeshSet:
        """Build from ``{entity_id: (kernel, vertices (n,3), faces (m,3))}``."""
        ids = sorted(parts)
        nv = [len(parts[i][1]) for i in ids]
        nf = [len(parts[i][2]) for i in ids]
        vo = np.zeros(len(ids) + 1, dtype=np.int64)
        fo = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(nv, out=vo[1:])
        np.cumsum(nf, out=fo[1:])
        verts = np.vstack([parts[i][1] for i in ids]) if ids else np.zeros((0, 3))
        faces = np.vstack([parts[i][2] for i in ids]).astype(np.int64) if ids else np.zeros((0, 3), np.int64)
        return MeshSet(
            entity_ids=np.asarray(ids, dtype=np.int64),
            kernels=np.asarray([parts[i][0] for i in ids], dtype="<U40"),
            vert_offsets=vo,
            face_offsets=fo,
            vertices=np.ascontiguousarray(verts, dtype=np.float64),
            faces=np.ascontiguousarray(faces),
            failures=dict(sorted(failures.items())),
            stats=stats,
        )


# --------------------------------------------------------------------- planning
def _item_types(item, acc: set[str], depth: int = 0) -> None:
    if depth > 64:
        return
    acc.add(item.is_a())
    if item.is_a("IfcBooleanResult"):
        for operand in (item.FirstOperand, item.SecondOperand):
            _item_types(operand, acc, depth + 1)
    elif item.is_a("IfcMappedItem"):
        for sub in item.MappingSource.MappedRepresentation.Items:
            _item_types(sub, acc, depth + 1)
    elif item.is_a("IfcCsgSolid") and item.TreeRootExpression is not None:
        _item_types(item.TreeRootExpression, acc, depth + 1)


def body_item_types(product) -> set[str]:
    """Entity types in the product's Body representation (through booleans and mapped items)."""
    acc: set[str] = set()
    for rep in body_representations(product):
        for item in rep.Items:
            _item_types(item, acc)
    return acc


def select_products(f) -> list:
    """Products to triangulate: envelope classes, spaces, and openings that void them.

    Only products with a ``Body`` representation are returned, sorted by id.
    """
    from bim_ingest.ifc.semantics import _by_types

    chosen = [e for e in _by_types(f, ENVELOPE_CLASSES) if body_representations(e)]
    hosts = {e.id() for e in chosen}
    chosen += [s for s in f.by_type("IfcSpace") if body_representations(s)]
    for rel in f.by_type("IfcRelVoidsElement"):
        opening = rel.RelatedOpeningElement
        if rel.RelatingBuildingElement.id() in hosts and body_representations(opening):
            chosen.append(opening)
    return sorted({e.id(): e for e in chosen}.values(), key=lambda e: e.id())


def plan_jobs(products: Sequence, kernel: str) -> list[Job]:
    """Split products into kernel jobs.

    ``kernel="auto"``: half-space clipping -> ``opencascade``; advanced
    B-reps -> ``cgal-simple``; the rest -> ``manifold``; fast kernels fall
    back to ``opencascade``.  Any other kernel: one job with that kernel,
    falling back to ``opencascade`` (none for ``opencascade`` itself).
    Jobs on crash-prone kernels come last, so a crash costs least.
    """
    check_kernel(kernel)
    ids = [p.id() for p in products]
    if kernel != "auto":
        fb = None if kernel == REFERENCE_KERNEL else REFERENCE_KERNEL
        return [Job(kernel, ids, fb)] if ids else []
    clip, adv, rest = [], [], []
    for p in products:
        types = body_item_types(p)
        if types & _CLIPPING:
            clip.append(p.id())
        elif types & _ADVANCED:
            adv.append(p.id())
        else:
            rest.append(p.id())
    jobs = [Job(REFERENCE_KERNEL, clip, None), Job("cgal-simple", adv), Job("manifold", rest)]
    return [j for j in jobs if j.ids]


# ---------------------------------------------------------------------- running
_WORKER = Path(__file__).with_name("_worker.py")


def _signal_name(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def next_attempt(history: list[tuple[str, bool, str]], planned: str) -> tuple[str, bool] | None:
    """Which kernel to try next for a product, given its attempts so far.

    ``history`` holds ``(kernel, one_by_one, outcome)`` with outcome one of
    ``"ok"``, ``"missing"``, ``"suspect"``, ``"crash"``.  The planned kernel
    first, then the reference kernel, then (after a crash of the reference
    kernel amid other products) the reference kernel product by product;
    None means give up.
    """
    if not history:
        return planned, False
    if history[-1][2] == "ok":
        return None
    if not any(k == REFERENCE_KERNEL for k, _, _ in history):
        return REFERENCE_KERNEL, False
    kernel, each, outcome = history[-1]
    if kernel == REFERENCE_KERNEL and not each and outcome == "crash":
        return REFERENCE_KERNEL, True
    return None


class GeometryRun:
    """Triangulate products in worker processes, with fallbacks; start now, collect later.

    The worker is started at once; a reader thread drains its messages so
    that it never waits for the caller, who may parse the file meanwhile.

    Parameters
    ----------
    spf_path
        Plain ``.ifc`` file.
    jobs
        From :func:`plan_jobs`.
    threads
        Iterator threads (default: all CPUs).
    """

    def __init__(self, spf_path: str | Path, jobs: list[Job], *, threads: int | None = None) -> None:
        self.path = str(spf_path)
        self.threads = max(1, threads or os.cpu_count() or 1)
        self.planned: dict[int, str] = {}
        for job in jobs:
            for i in job.ids:
                self.planned[i] = job.kernel
        self.total = len(self.planned)
        self.history: dict[int, list[tuple[str, bool, str]]] = {i: [] for i in self.planned}
        self.parts: dict[int, tuple[str, np.ndarray, np.ndarray]] = {}
        self.provisional: dict[int, tuple[str, np.ndarray, np.ndarray]] = {}
        self.failures: dict[int, str] = {}
        self.stats: dict = {"workers": 0, "crashes": [], "redone_by_reference": 0, "jobs": []}
        self._t0 = time.perf_counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen | None = None
        self._launch([(j.kernel, list(j.ids), j.fallback, j.each) for j in jobs if j.ids])

    # -- one worker round
    def _launch(self, spec: list[tuple[str, list[int], str | None, bool]]) -> None:
        self._round = {"jobs": {}, "current": None, "started": None, "done": False, "any_job": False}
        if not spec:
            self._thread = None
            return
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [sys.executable, "-u", str(_WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.stats["workers"] += 1
        request = {"path": self.path, "jobs": spec, "threads": self.threads, "settings": dict(SETTINGS)}
        try:
            self._proc.stdin.write(pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL))
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        self._thread = threading.Thread(target=self._read, name="ifc-geometry-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        stream = self._proc.stdout
        while True:
            head = stream.read(8)
            if len(head) < 8:
                break
            (n,) = struct.unpack("<Q", head)
            payload = stream.read(n)
            if len(payload) < n:
                break
            with self._lock:
                self._handle(pickle.loads(payload))

    def _handle(self, msg: tuple) -> None:
        rnd = self._round
        tag = msg[0]
        if tag == "job":
            _, k, kernel, ids, each = msg
            rnd["jobs"][k] = (kernel, ids, each)
            rnd["current"] = k
            rnd["any_job"] = True
            rnd["started"] = None
            self.stats["jobs"].append({"kernel": kernel, "products": len(ids), "one_by_one": each})
        elif tag == "start":
            rnd["started"] = msg[2]
        elif tag == "meshes":
            kernel = rnd["jobs"][msg[1]][0]
            for pid, verts, faces, suspect in msg[2]:
                if pid not in self.planned or pid in self.parts:
                    continue
                if suspect:
                    self.provisional.setdefault(pid, (kernel, verts, faces))
                else:
                    self.parts[pid] = (kernel, verts, faces)
                    self.history[pid].append((kernel, rnd["jobs"][msg[1]][2], "ok"))
        elif tag == "job_done":
            _, k, missing, suspects = msg
            kernel, _, each = rnd["jobs"][k]
            for pid in missing:
                if pid in self.history:
                    self.history[pid].append((kernel, each, "missing"))
            for pid in suspects:
                if pid in self.history:
                    self.history[pid].append((kernel, each, "suspect"))
            rnd["current"] = None
        elif tag == "error":
            self.stats.setdefault("errors", []).append(str(msg[2]))
        elif tag == "done":
            rnd["done"] = True

    def _finish_round(self, progress: ProgressFn | None) -> None:
        reported = -1
        while self._thread.is_alive():  # report from the caller's thread, not the reader's
            self._thread.join(0.25)
            if progress is not None and len(self.parts) != reported:
                reported = len(self.parts)
                progress("geometry", reported, self.total)
        code = self._proc.wait()
        self._proc.stdout.close()
        rnd = self._round
        if not rnd["done"]:
            why = _signal_name(code)
            self._stderr.seek(0)
            tail = self._stderr.read()[-600:].decode("utf-8", errors="replace").strip()
            k = rnd["current"]
            crash = {"why": why}
            if k is not None:
                kernel, ids, each = rnd["jobs"][k]
                crash["kernel"] = kernel
                victims = [rnd["started"]] if each and rnd["started"] is not None else [] if each else ids
                for pid in victims:
                    if pid in self.history and pid not in self.parts:
                        self.history[pid].append((kernel, each, "crash"))
            self.stats["crashes"].append(crash)
            if not rnd["any_job"]:
                for pid in self.planned:
                    if pid not in self.parts:
                        self.failures[pid] = (
                            f"the geometry worker failed before its first job ({why}): {tail}"
                        )
        self._stderr.close()

    def _next_spec(self) -> list[tuple[str, list[int], str | None, bool]]:
        groups: dict[tuple[str, bool], list[int]] = {}
        for pid in sorted(self.planned):
            if pid in self.parts or pid in self.failures:
                continue
            nxt = next_attempt(self.history[pid], self.planned[pid])
            if nxt is None:
                self.failures[pid] = _failure_reason(self.history[pid])
                continue
            groups.setdefault(nxt, []).append(pid)
        spec = []
        for (kernel, each), ids in sorted(groups.items(), key=lambda kv: (kv[0][0] == "manifold", kv[0])):
            if kernel == REFERENCE_KERNEL and any(h[0] != kernel for i in ids for h in self.history[i]):
                self.stats["redone_by_reference"] += len(ids)
            spec.append((kernel, ids, None if kernel == REFERENCE_KERNEL else REFERENCE_KERNEL, each))
        return spec

    def cancel(self) -> None:
        """Kill the worker (if any); :meth:`collect` must not be called afterwards."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            self._proc.wait()
        if self._thread is not None:
            self._thread.join(5)

    def collect(self, progress: ProgressFn | None = None) -> MeshSet:
        """Wait for the workers (running fallback rounds as needed) and return the meshes.

        Parameters
        ----------
        progress
            Called as ``progress("geometry", done, total)`` as meshes arrive.
        """
        while self._thread is not None:
            self._finish_round(progress)
            self._launch(self._next_spec())
        for pid in sorted(self.failures):
            if pid in self.provisional and pid not in self.parts:
                kernel, verts, faces = self.provisional[pid]
                self.parts[pid] = (f"{kernel} (suspect)", verts, faces)
                del self.failures[pid]
        self.stats["seconds"] = round(time.perf_counter() - self._t0, 3)
        kernels: dict[str, int] = {}
        for kernel, _, _ in self.parts.values():
            kernels[kernel] = kernels.get(kernel, 0) + 1
        self.stats["meshes_by_kernel"] = dict(sorted(kernels.items()))
        if progress is not None:
            progress("geometry", len(self.parts), self.total)
        return MeshSet.from_parts(self.parts, self.failures, self.stats)


def _failure_reason(history: list[tuple[str, bool, str]]) -> str:
    if not history:
        return "not triangulated"
    kernel, _, outcome = history[-1]
    if outcome == "crash":
        return f"the {kernel} kernel crashed on it"
    if outcome == "suspect":
        return f"the {kernel} kernel gave an incomplete shape"
    tried = ", ".join(dict.fromkeys(k for k, _, _ in history))
    return f"no geometry from the {tried} kernel(s)"
