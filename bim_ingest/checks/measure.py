"""Measurements on triangle meshes (metres, z up): rooms, roofs, windows.

Pure NumPy/Shapely helpers used by the rules; every function takes a mesh as
``(vertices (n, 3), faces (m, 3))`` in the file's world coordinates (m).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

__all__ = ["SpaceGeometry", "space_geometry", "clear_height_share", "projected_area_m2", "mesh_bounds"]

Mesh = tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]

#: Upward faces with a unit normal z below this are sloped (a ceiling under the roof).
_FLAT_NZ = 0.995


def _triangles(mesh: Mesh) -> npt.NDArray[np.float64]:
    verts, faces = mesh
    return np.asarray(verts, dtype=np.float64)[np.asarray(faces, dtype=np.int64)]


def _normals(tri: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(cross, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = cross / norm[:, None]
    unit[~np.isfinite(unit)] = 0.0
    return unit, 0.5 * norm


@dataclass(frozen=True)
class SpaceGeometry:
    """What a space solid says about its room.

    Attributes
    ----------
    floor_area_m2
        Area of the downward-facing faces projected on the plan (m2).
    height_m
        Vertical extent of the solid (m): the ceiling height of a flat room.
    z_min_m, z_max_m
        Floor and top levels (m, file world z).
    under_roof
        The ceiling has sloped parts (more than 1 % of the upward faces' area).
    """

    floor_area_m2: float
    height_m: float
    z_min_m: float
    z_max_m: float
    under_roof: bool


def space_geometry(mesh: Mesh) -> SpaceGeometry:
    """Floor area, height and roof slope of a space solid."""
    tri = _triangles(mesh)
    if len(tri) == 0:
        return SpaceGeometry(math.nan, math.nan, math.nan, math.nan, False)
    normal, area = _normals(tri)
    down = normal[:, 2] < -0.7
    floor = float((area[down] * -normal[down, 2]).sum())
    up = normal[:, 2] > 0.05
    sloped = up & (normal[:, 2] < _FLAT_NZ)
    up_area = float(area[up].sum())
    under_roof = bool(up_area > 0 and float(area[sloped].sum()) > 0.01 * up_area)
    z = tri[..., 2]
    return SpaceGeometry(floor, float(z.max() - z.min()), float(z.min()), float(z.max()), under_roof)


def _z_on(tri: npt.NDArray[np.float64], pts: npt.NDArray[np.float64], pick: str) -> npt.NDArray[np.float64]:
    """Per plan point, the min (``pick="min"``) or max z of the triangles above/below it (NaN if none)."""
    out = np.full(len(pts), np.nan)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    v0 = (c - a)[:, :2]
    v1 = (b - a)[:, :2]
    d00 = (v0 * v0).sum(1)
    d01 = (v0 * v1).sum(1)
    d11 = (v1 * v1).sum(1)
    den = d00 * d11 - d01 * d01
    ok = np.abs(den) > 1e-12
    a, b, c, v0, v1, d00, d01, d11, den = (x[ok] for x in (a, b, c, v0, v1, d00, d01, d11, den))
    for start in range(0, len(pts), 2048):
        p = pts[start : start + 2048]
        v2 = p[:, None, :] - a[None, :, :2]
        d02 = (v2 * v0[None]).sum(2)
        d12 = (v2 * v1[None]).sum(2)
        u = (d11 * d02 - d01 * d12) / den
        v = (d00 * d12 - d01 * d02) / den
        inside = (u >= -1e-9) & (v >= -1e-9) & (u + v <= 1 + 1e-9)
        z = a[None, :, 2] + u * (c[None, :, 2] - a[None, :, 2]) + v * (b[None, :, 2] - a[None, :, 2])
        if pick == "min":
            z = np.where(inside, z, np.inf).min(axis=1)
            z[~np.isfinite(z)] = np.nan
        else:
            z = np.where(inside, z, -np.inf).max(axis=1)
            z[~np.isfinite(z)] = np.nan
        out[start : start + len(p)] = z
    return out


def clear_height_share(mesh: Mesh, min_height_m: float, step_m: float = 0.1) -> tuple[float, float, int]:
    """Share of a room's floor where the clear height reaches ``min_height_m``.

    The floor is sampled on a square grid of ``step_m`` (cell centres inside
    the projected floor); at each point the clear height is the lowest
    ceiling face above it minus the highest floor face below it.

    Returns
    -------
    tuple
        (share 0..1, largest clear height in m, number of sample points).
    """
    tri = _triangles(mesh)
    normal, _ = _normals(tri)
    top = tri[normal[:, 2] > 0.05]
    bottom = tri[normal[:, 2] < -0.05]
    if len(top) == 0 or len(bottom) == 0:
        return math.nan, math.nan, 0
    lo = tri.reshape(-1, 3).min(axis=0)
    hi = tri.reshape(-1, 3).max(axis=0)
    xs = np.arange(lo[0] + step_m / 2, hi[0], step_m)
    ys = np.arange(lo[1] + step_m / 2, hi[1], step_m)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    floor = _z_on(bottom, pts, "max")
    inside = np.isfinite(floor)
    pts, floor = pts[inside], floor[inside]
    if len(pts) == 0:
        return math.nan, math.nan, 0
    ceiling = _z_on(top, pts, "min")
    height = ceiling - floor
    height = height[np.isfinite(height)]
    if len(height) == 0:
        return math.nan, math.nan, 0
    return float((height >= min_height_m).mean()), float(height.max()), int(len(height))


def projected_area_m2(meshes: list[Mesh]) -> float:
    """Plan area (m2) of the union of the upward faces of some meshes (a roof's horizontal projection)."""
    polys = []
    for mesh in meshes:
        tri = _triangles(mesh)
        if len(tri) == 0:
            continue
        normal, area = _normals(tri)
        keep = (normal[:, 2] > 0.05) & (area > 1e-9)
        for t in tri[keep]:
            polys.append(shapely.Polygon(t[:, :2]))
    if not polys:
        return math.nan
    valid = [p if p.is_valid else shapely.make_valid(p) for p in polys]
    return float(shapely.union_all(np.asarray(valid, dtype=object), grid_size=1e-4).area)


def mesh_bounds(mesh: Mesh) -> npt.NDArray[np.float64]:
    """(2, 3) array: minimum and maximum corner of a mesh's bounding box."""
    verts = np.asarray(mesh[0], dtype=np.float64)
    return np.vstack([verts.min(axis=0), verts.max(axis=0)])
