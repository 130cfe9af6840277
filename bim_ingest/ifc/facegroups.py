"""Merge an element's envelope triangles into planar polygons, one per orientation and plane.

The ``surfaces`` table wants polygons, not triangle soup: party-wall
detection intersects wall polygons in their plane, and the energy model
groups by orientation.  :func:`face_groups` clusters an element's envelope
triangles by outward normal (within ``angle_tol_deg``), splits each cluster
into parallel planes (offsets within ``plane_tol_m``), and unions the
triangles of each plane in 2D (shapely), giving polygons with holes (the
wall around its windows) that are lifted back into the plane.  The exact
triangle area of every group is kept beside the polygons, which are for
geometry; their areas agree to within the flattening of the cluster.

Examples
--------
>>> import numpy as np
>>> sq = np.array([[[0, 0, 0], [1, 0, 0], [1, 0, 1]], [[0, 0, 0], [1, 0, 1], [0, 0, 1]]], float)
>>> g = face_groups(sq, np.array(["wall", "wall"]))
>>> len(g), round(g[0].area_m2, 6), g[0].normal.round(6).tolist()
(1, 1.0, [0.0, -1.0, 0.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import shapely

from bim_ingest.ifc.shell import triangle_normals

__all__ = ["FaceGroup", "face_groups", "outline_group", "cluster_normals", "union_triangles"]


@dataclass
class FaceGroup:
    """Coplanar envelope faces of one element with one kind.

    Attributes
    ----------
    kind
        Envelope kind of the faces.
    normal : (3,) float64
        Area-weighted unit outward normal (world frame).
    area_m2
        Total area of the triangles.
    outline_area_m2
        Area of the polygons: the triangles' union projected on the plane, so
        faces hidden behind others of the same element (the inner pane of a
        double glazing, stepped frame profiles) count once.
    centroid : (3,) float64
        Area-weighted centre (world metres).
    polygons
        Each polygon a list of rings (outer first), each ring an (n, 3) array
        of world coordinates in the group's plane, outer rings counter-clockwise
        seen from outside.
    """

    kind: str
    normal: npt.NDArray[np.float64]
    area_m2: float
    centroid: npt.NDArray[np.float64]
    outline_area_m2: float = 0.0
    polygons: list[list[npt.NDArray[np.float64]]] = field(default_factory=list)


def cluster_normals(
    normal: npt.NDArray[np.float64], area: npt.NDArray[np.float64], cos_tol: float
) -> npt.NDArray[np.int64]:
    """Greedy clustering of unit normals, largest faces first; returns a label per normal."""
    labels = np.full(len(normal), -1, dtype=np.int64)
    order = np.argsort(-area, kind="stable")
    k = 0
    for i in order:
        if labels[i] >= 0:
            continue
        free = labels < 0
        close = free & (normal @ normal[i] >= cos_tol)
        labels[close] = k
        k += 1
    return labels


def union_triangles(uv: npt.NDArray[np.float64], *, tol: float = 1e-7):
    """Union of 2D triangles (m, 3, 2) as a polygonal geometry, in near-linear time.

    Interior edges cancel (each directed edge against its reverse), the
    remaining boundary edges are noded (which also resolves T-junctions)
    and polygonised, and the faces covered by a triangle are kept.  A
    general (slower) overlay union is the fallback when the result is not a
    valid area close to the triangles' total.
    """
    m = len(uv)
    polys = None
    total = float(np.abs(_signed_area2(uv)).sum()) / 2.0
    try:
        result = _cancel_edges_union(uv, tol)
        if result.is_valid and abs(result.area - total) <= 0.02 * total + 1e-9:
            return result
    except Exception:  # GEOS topology errors: use the robust overlay instead
        pass
    polys = shapely.polygons(np.concatenate([uv, uv[:, :1]], axis=1))
    polys = polys[shapely.area(polys) > 1e-12]
    if m == 0 or not len(polys):
        return shapely.Polygon()
    return shapely.union_all(polys)


def _signed_area2(uv: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return (uv[:, 1, 0] - uv[:, 0, 0]) * (uv[:, 2, 1] - uv[:, 0, 1]) - (uv[:, 1, 1] - uv[:, 0, 1]) * (
        uv[:, 2, 0] - uv[:, 0, 0]
    )


def _cancel_edges_union(uv: npt.NDArray[np.float64], tol: float):
    area2 = _signed_area2(uv)
    uv = uv[np.abs(area2) > 1e-14]
    if len(uv) == 0:
        return shapely.Polygon()
    q = np.round(uv.reshape(-1, 2) / tol).astype(np.int64)
    base = q.min(axis=0)
    q -= base
    span = int(q[:, 1].max()) + 1
    keys, inv = np.unique(q[:, 0] * span + q[:, 1], return_inverse=True)
    inv = inv.reshape(-1, 3)
    cw = _signed_area2(uv) < 0
    inv[cw] = inv[cw][:, [0, 2, 1]]
    e = np.concatenate([inv[:, [0, 1]], inv[:, [1, 2]], inv[:, [2, 0]]])
    e = e[e[:, 0] != e[:, 1]]
    n = len(keys)
    und = np.minimum(e[:, 0], e[:, 1]) * n + np.maximum(e[:, 0], e[:, 1])
    sign = np.where(e[:, 0] < e[:, 1], 1.0, -1.0)
    uniq, idx = np.unique(und, return_inverse=True)
    rem = uniq[np.bincount(idx, weights=sign) != 0]
    coords = (np.stack([keys // span, keys % span], axis=1) + base).astype(np.float64) * tol
    lines = shapely.linestrings(np.stack([coords[rem // n], coords[rem % n]], axis=1))
    noded = shapely.node(shapely.multilinestrings(lines))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if len(faces) == 0:
        return shapely.Polygon()
    if len(faces) > 1:
        tree = shapely.STRtree(shapely.polygons(np.concatenate([uv, uv[:, :1]], axis=1)))
        hit, _ = tree.query(shapely.point_on_surface(faces), predicate="intersects")
        faces = faces[np.unique(hit)]
    if len(faces) == 1:
        return faces[0]
    return shapely.coverage_union_all(faces)


def _basis(n: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    ref = np.array([0.0, 0.0, 1.0]) if abs(n[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(ref, n)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    return e1, e2


def face_groups(
    tri: npt.NDArray[np.float64],
    kind: npt.NDArray[np.str_],
    *,
    angle_tol_deg: float = 2.0,
    plane_tol_m: float = 0.05,
    min_area_m2: float = 0.005,
) -> list[FaceGroup]:
    """Group triangles (m, 3, 3) with kinds (m,) into planar polygons.

    Parameters
    ----------
    tri
        Triangles of one element, world metres, oriented outward.
    kind
        Envelope kind of each triangle.
    angle_tol_deg, plane_tol_m
        Normals within this angle are one orientation; parallel faces whose
        offsets differ by less than this are one plane.
    min_area_m2
        Polygon parts smaller than this are dropped (their area still counts
        in ``area_m2``).
    """
    if len(tri) == 0:
        return []
    normal, area = triangle_normals(tri)
    good = area > 1e-12
    tri, normal, area, kind = tri[good], normal[good], area[good], np.asarray(kind)[good]
    centre = tri.mean(axis=1)
    groups: list[FaceGroup] = []
    cos_tol = float(np.cos(np.radians(angle_tol_deg)))
    for k in sorted(set(kind.tolist())):
        sel = np.flatnonzero(kind == k)
        labels = cluster_normals(normal[sel], area[sel], cos_tol)
        for lab in range(labels.max() + 1):
            rows = sel[labels == lab]
            n = (normal[rows] * area[rows, None]).sum(axis=0)
            n /= np.linalg.norm(n)
            offset = centre[rows] @ n
            order = np.argsort(offset, kind="stable")
            split = np.flatnonzero(np.diff(offset[order]) > plane_tol_m) + 1
            for part in np.split(rows[order], split):
                groups.append(_plane_group(tri[part], area[part], centre[part], n, k, min_area_m2))
    return groups


def _plane_group(tri, area, centre, n, kind, min_area) -> FaceGroup:
    total = float(area.sum())
    origin = (centre * area[:, None]).sum(axis=0) / total
    e1, e2 = _basis(n)
    rel = tri - origin
    uv = np.stack([rel @ e1, rel @ e2], axis=-1)  # (m, 3, 2)
    merged = shapely.simplify(union_triangles(uv), 1e-6)
    parts = (
        [merged]
        if merged.geom_type == "Polygon"
        else [g for g in getattr(merged, "geoms", []) if g.geom_type == "Polygon"]
    )
    polygons = []
    outline = 0.0
    for poly in parts:
        if poly.is_empty or poly.area < min_area:
            continue
        outline += poly.area
        poly = shapely.geometry.polygon.orient(poly, sign=1.0)
        rings3d = []
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)[:-1]
            if len(xy) < 3:
                continue
            rings3d.append(origin + xy[:, :1] * e1 + xy[:, 1:2] * e2)
        if rings3d:
            polygons.append(rings3d)
    return FaceGroup(
        kind=str(kind), normal=n, area_m2=total, centroid=origin, polygons=polygons, outline_area_m2=outline
    )


def outline_group(tri: npt.NDArray[np.float64], normal: npt.ArrayLike, kind: str) -> FaceGroup:
    """The outline of a mesh seen along ``-normal``, in the plane through its outermost point.

    Parameters
    ----------
    tri
        Triangles (m, 3, 3) of one element, world metres.
    normal
        Outward unit normal of the outline's plane.
    kind
        Envelope kind of the group.
    """
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    pts = tri.reshape(-1, 3)
    origin = pts.mean(axis=0)
    origin = origin + n * (float((pts @ n).max()) - float(origin @ n))
    e1, e2 = _basis(n)
    rel = tri - origin
    uv = np.stack([rel @ e1, rel @ e2], axis=-1)
    merged = shapely.simplify(union_triangles(uv[np.abs(_signed_area2(uv)) > 1e-12]), 1e-6)
    parts = (
        [merged]
        if merged.geom_type == "Polygon"
        else [g for g in getattr(merged, "geoms", []) if g.geom_type == "Polygon"]
    )
    polygons, outline = [], 0.0
    for poly in parts:
        if poly.is_empty:
            continue
        outline += poly.area
        poly = shapely.geometry.polygon.orient(poly, sign=1.0)
        rings3d = [
            origin + np.asarray(r.coords)[:-1, :1] * e1 + np.asarray(r.coords)[:-1, 1:2] * e2
            for r in [poly.exterior, *poly.interiors]
            if len(r.coords) >= 4
        ]
        if rings3d:
            polygons.append(rings3d)
    return FaceGroup(
        kind=kind, normal=n, area_m2=outline, centroid=origin, polygons=polygons, outline_area_m2=outline
    )
