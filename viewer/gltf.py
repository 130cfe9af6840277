"""glTF 2.0 binary (``.glb``) export of a scene, with per-building attributes in ``extras``.

Layout of the file (what the browser page and the tests rely on):

* ``scenes[0].extras``: ``crs``, ``origin`` (model CRS coordinates of the local origin,
  metres), ``up_axis`` (``"y"``), ``color_by`` and ``columns`` (one
  :meth:`~viewer.colors.ColorScale.to_dict` per colourable column);
* node 0 ``buildings`` with one child node per building, in model order: ``name`` is the
  ``building_id``, ``extras`` = ``{"layer": "building", "building_id": ..., "anchor": [x, y, z],
  "attributes": {...}}`` (``anchor``: a point on the roof in glTF axes; attributes: model
  attributes and results, JSON values, NaN → null);
* each building has its own mesh: one non-indexed triangle primitive with ``POSITION``,
  ``NORMAL`` (flat, per face) and ``COLOR_0`` (RGBA8, the colour of ``color_by``);
* node ``links`` (when the scene has links): one ``LINES`` primitive, ``extras`` with the
  ``link_id`` list, the column and its values.

Coordinates follow glTF: metres, **y up**; a local point ``(x, y, z)`` (east, north, up,
minus ``origin``) is stored as ``(x, z, -y)``.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from twin.atomic import atomic_path
from viewer.scene import Scene

__all__ = ["scene_to_glb", "write_glb", "json_value", "to_gltf_axes"]

_FLOAT, _UBYTE = 5126, 5121
_ARRAY_BUFFER = 34962


def json_value(v: Any) -> Any:
    """A JSON-safe version of a table value (numpy scalars → Python, NaN/NA → None)."""
    if v is None:
        return None
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (bool, int, str)):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def to_gltf_axes(points: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Local east/north/up → glTF (x, y up, z towards the viewer): ``(x, z, -y)``, float32."""
    p = np.asarray(points, float).reshape(-1, 3)
    return np.ascontiguousarray(np.column_stack([p[:, 0], p[:, 2], -p[:, 1]]), dtype=np.float32)


class _Blob:
    """The binary chunk under construction, with its buffer views and accessors (plain glTF dicts)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def add(
        self, array: np.ndarray, *, ctype: int, atype: str, normalized: bool = False, minmax: bool = False
    ) -> int:
        data = np.ascontiguousarray(array).tobytes()
        pad = (-self.size) % 4  # every view starts 4-byte aligned
        if pad:
            self.parts.append(b"\0" * pad)
            self.size += pad
        self.views.append(
            {"buffer": 0, "byteOffset": self.size, "byteLength": len(data), "target": _ARRAY_BUFFER}
        )
        self.parts.append(data)
        self.size += len(data)
        acc: dict[str, Any] = {
            "bufferView": len(self.views) - 1,
            "componentType": ctype,
            "count": int(array.shape[0]),
            "type": atype,
        }
        if normalized:
            acc["normalized"] = True
        if minmax:
            acc["min"] = [float(v) for v in array.min(axis=0)]
            acc["max"] = [float(v) for v in array.max(axis=0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _flat(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tri = vertices[faces]  # (f, 3, 3)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)
    return tri.reshape(-1, 3), np.repeat(n, 3, axis=0)


def _records(attrs: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Attribute rows as JSON-ready dicts keyed by building id."""
    cols = [str(c) for c in attrs.columns]
    columns = [[json_value(v) for v in attrs[c].to_numpy(dtype=object)] for c in attrs.columns]
    return {
        str(bid): {c: col[i] for c, col in zip(cols, columns, strict=True)}
        for i, bid in enumerate(attrs.index)
    }


def _pack_glb(document: dict[str, Any], binary: bytes) -> bytes:
    """The GLB container: 12-byte header, JSON chunk (space-padded), BIN chunk (zero-padded)."""
    text = json.dumps(document, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * ((-len(text)) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text
    if binary:
        binary += b"\0" * ((-len(binary)) % 4)
        chunks += struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<III", 0x46546C67, 2, 12 + len(chunks)) + chunks


def scene_to_glb(scene: Scene) -> bytes:
    """The scene as glTF binary bytes (see the module docstring for the layout)."""
    blob = _Blob()
    meshes: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = [{"name": "buildings", "children": []}]
    b = scene.buildings
    material = {
        "name": "vertex colours",
        "pbrMetallicRoughness": {
            "baseColorFactor": [1, 1, 1, 1],
            "metallicFactor": 0.0,
            "roughnessFactor": 0.9,
        },
        "doubleSided": True,
    }
    order = np.argsort(b.face_building, kind="stable")
    bounds = np.searchsorted(b.face_building[order], np.arange(len(b.ids) + 1))
    records = _records(b.attributes)
    anchors = to_gltf_axes(b.anchor) if len(b.ids) else np.zeros((0, 3), np.float32)
    for k, bid in enumerate(b.ids):
        faces = b.faces[order[bounds[k] : bounds[k + 1]]]
        node: dict[str, Any] = {
            "name": str(bid),
            "extras": {
                "layer": "building",
                "building_id": str(bid),
                "anchor": [round(float(v), 3) for v in anchors[k]],
                "attributes": records.get(str(bid), {}),
            },
        }
        if len(faces):
            pos, nrm = _flat(b.vertices, faces)
            rgba = np.tile(np.r_[b.colors[k], 255].astype(np.uint8), (len(pos), 1))
            attributes = {
                "POSITION": blob.add(to_gltf_axes(pos), ctype=_FLOAT, atype="VEC3", minmax=True),
                "NORMAL": blob.add(to_gltf_axes(nrm), ctype=_FLOAT, atype="VEC3"),
                "COLOR_0": blob.add(rgba, ctype=_UBYTE, atype="VEC4", normalized=True),
            }
            meshes.append(
                {"name": str(bid), "primitives": [{"attributes": attributes, "material": 0, "mode": 4}]}
            )
            node["mesh"] = len(meshes) - 1
        nodes.append(node)
        nodes[0]["children"].append(len(nodes) - 1)
    roots = [0]
    if scene.links is not None and len(scene.links.ids):
        lk = scene.links
        seg_pts, seg_col = [], []
        for k in range(len(lk.ids)):
            p = lk.points[lk.offsets[k] : lk.offsets[k + 1]]
            if len(p) < 2:
                continue
            seg = np.repeat(p, 2, axis=0)[1:-1]  # polyline → line segments
            seg_pts.append(seg)
            seg_col.append(np.tile(np.r_[lk.colors[k], 255].astype(np.uint8), (len(seg), 1)))
        if seg_pts:
            attributes = {
                "POSITION": blob.add(
                    to_gltf_axes(np.vstack(seg_pts)), ctype=_FLOAT, atype="VEC3", minmax=True
                ),
                "COLOR_0": blob.add(np.vstack(seg_col), ctype=_UBYTE, atype="VEC4", normalized=True),
            }
            meshes.append(
                {"name": "links", "primitives": [{"attributes": attributes, "material": 0, "mode": 1}]}
            )
            nodes.append(
                {
                    "name": "links",
                    "mesh": len(meshes) - 1,
                    "extras": {
                        "layer": "links",
                        "column": lk.scale.column,
                        "link_id": [int(v) for v in lk.ids],
                        "values": [json_value(v) for v in lk.values.to_numpy(dtype=object)],
                        "scale": lk.scale.to_dict(),
                    },
                }
            )
            roots.append(len(nodes) - 1)
    extras = {
        "crs": scene.crs,
        "origin": list(scene.origin),
        "up_axis": "y",
        "title": scene.title,
        "color_by": b.scale.column if b.scale is not None else None,
        "columns": {c: sc.to_dict() for c, sc in scene.columns.items()},
        "n_buildings": len(b.ids),
    }
    binary = b"".join(blob.parts)
    document: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "brussels-twin viewer"},
        "scene": 0,
        "scenes": [{"name": scene.title or "twin", "nodes": roots, "extras": extras}],
        "nodes": nodes,
        "materials": [material],
    }
    if meshes:
        document.update(
            meshes=meshes,
            accessors=blob.accessors,
            bufferViews=blob.views,
            buffers=[{"byteLength": len(binary) + (-len(binary)) % 4}],
        )
    return _pack_glb(document, binary)


def write_glb(scene: Scene, path: str | os.PathLike) -> Path:
    """Write :func:`scene_to_glb` atomically to ``path``."""
    path = Path(path)
    data = scene_to_glb(scene)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
