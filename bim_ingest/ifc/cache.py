"""Cache triangulated meshes by file content, kernel plan and settings.

Triangulating a large IFC takes seconds to minutes; its result depends only
on the file's bytes, the kernel plan, the iterator settings and the
IfcOpenShell version.  :func:`cache_key` hashes exactly these, and
:func:`load_meshes` / :func:`save_meshes` keep one ``.npz`` per key in the
cache folder: ``cache_dir`` if given, else ``$TWIN_CACHE_DIR``, else
``~/.cache/brussels-twin/ifc``.  Files are written to a temporary name and
renamed, so a crash never leaves a half-written entry; a corrupt entry is
ignored (and recomputed).

Examples
--------
>>> k1 = cache_key("ab" * 32, "auto")
>>> k1 == cache_key("ab" * 32, "auto"), k1 == cache_key("ab" * 32, "manifold")
(True, False)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import ifcopenshell
import numpy as np

from bim_ingest.ifc.geometry import SETTINGS, MeshSet

__all__ = ["CACHE_VERSION", "default_cache_dir", "cache_key", "load_meshes", "save_meshes"]

#: Bumped whenever what is cached changes meaning.
CACHE_VERSION = "1"


def default_cache_dir() -> Path:
    """``$TWIN_CACHE_DIR`` or ``~/.cache/brussels-twin/ifc``."""
    env = os.environ.get("TWIN_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "brussels-twin" / "ifc"


def cache_key(sha256: str, kernel: str) -> str:
    """Name of the cache entry for a file hash and kernel plan."""
    settings = json.dumps(SETTINGS, sort_keys=True)
    digest = hashlib.sha256(
        f"{CACHE_VERSION}|{ifcopenshell.version}|{kernel}|{settings}".encode()
    ).hexdigest()[:12]
    return f"{sha256[:40]}-{kernel}-{digest}"


def load_meshes(cache_dir: Path, key: str) -> MeshSet | None:
    """The cached meshes for ``key``, or None (missing or unreadable entry)."""
    path = Path(cache_dir) / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return MeshSet(
                entity_ids=data["entity_ids"].astype(np.int64),
                kernels=data["kernels"],
                vert_offsets=data["vert_offsets"].astype(np.int64),
                face_offsets=data["face_offsets"].astype(np.int64),
                vertices=data["vertices"].astype(np.float64),
                faces=data["faces"].astype(np.int64),
                failures={int(k): v for k, v in meta["failures"].items()},
                stats=meta["stats"],
            )
    except Exception:  # a damaged entry is recomputed, never trusted
        return None


def save_meshes(cache_dir: Path, key: str, meshes: MeshSet) -> Path | None:
    """Write ``meshes`` under ``key`` atomically; None if the folder is not writable."""
    folder = Path(cache_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".npz", dir=folder)
        os.close(fd)
        meta = json.dumps({"failures": meshes.failures, "stats": meshes.stats}, default=str)
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                entity_ids=meshes.entity_ids,
                kernels=meshes.kernels,
                vert_offsets=meshes.vert_offsets,
                face_offsets=meshes.face_offsets,
                vertices=meshes.vertices,
                faces=meshes.faces.astype(np.int32),
                meta=np.array(meta),
            )
        target = folder / f"{key}.npz"
        os.replace(tmp, target)
        return target
    except OSError:
        try:
            os.unlink(tmp)  # type: ignore[possibly-undefined]
        except (OSError, UnboundLocalError):
            pass
        return None
