"""Triangle meshes of buildings, derived from their envelope surfaces.

Each planar surface polygon is expressed in its own plane's 2D frame,
triangulated with a constrained Delaunay triangulation (holes respected)
and lifted back to 3D.  Meshes serve the viewer and glTF export; the
tables stay the source of truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
import trimesh

__all__ = ["triangulate_polygon_3d", "meshes_from_surfaces"]


def triangulate_polygon_3d(polygon: shapely.Polygon) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate a planar 3D polygon.

    Returns
    -------
    vertices : (n, 3) float64
    faces : (m, 3) int64
        Oriented like the polygon's outer ring (normals preserved).
    """
    polys = list(polygon.geoms) if polygon.geom_type == "MultiPolygon" else [polygon]
    all_v, all_f, offset = [], [], 0
    for poly in polys:
        ext = np.asarray(poly.exterior.coords)
        if len(ext) < 4 or ext.shape[1] < 3:
            continue
        origin = ext[0]
        centred = ext[:-1] - origin
        normal = np.cross(centred, np.roll(centred, -1, axis=0)).sum(axis=0)
        norm = np.linalg.norm(normal)
        if norm == 0:
            continue
        normal /= norm
        ref = np.array([0.0, 0.0, 1.0]) if abs(normal[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        e1 = np.cross(ref, normal)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(normal, e1)

        def to2d(coords, origin=origin, e1=e1, e2=e2):
            c = np.asarray(coords)[:, :3] - origin
            return np.column_stack([c @ e1, c @ e2])

        flat = shapely.Polygon(to2d(poly.exterior.coords), [to2d(r.coords) for r in poly.interiors])
        if not flat.is_valid:
            flat = shapely.make_valid(flat)
        tris = shapely.constrained_delaunay_triangles(flat)
        coords2d = shapely.get_coordinates(tris)
        if len(coords2d) == 0:
            continue
        tri2d = coords2d.reshape(-1, 4, 2)[:, :3, :]
        cross_z = (tri2d[:, 1, 0] - tri2d[:, 0, 0]) * (tri2d[:, 2, 1] - tri2d[:, 0, 1]) - (
            tri2d[:, 1, 1] - tri2d[:, 0, 1]
        ) * (tri2d[:, 2, 0] - tri2d[:, 0, 0])
        tri2d[cross_z < 0] = tri2d[cross_z < 0][:, ::-1]
        pts = tri2d.reshape(-1, 2)
        verts = origin + pts[:, :1] * e1 + pts[:, 1:2] * e2
        faces = np.arange(len(verts), dtype=np.int64).reshape(-1, 3) + offset
        all_v.append(verts)
        all_f.append(faces)
        offset += len(verts)
    if not all_v:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    return np.vstack(all_v), np.vstack(all_f)


def meshes_from_surfaces(surfaces: pd.DataFrame) -> pd.Series:
    """One :class:`trimesh.Trimesh` per ``building_id`` from the surfaces table."""
    out = {}
    for bid, group in surfaces.groupby("building_id", sort=True):
        vs, fs, offset = [], [], 0
        for geom in group.geometry:
            if geom is None or geom.is_empty:
                continue
            v, f = triangulate_polygon_3d(geom)
            vs.append(v)
            fs.append(f + offset)
            offset += len(v)
        if vs:
            mesh = trimesh.Trimesh(np.vstack(vs), np.vstack(fs), process=True)
        else:
            mesh = trimesh.Trimesh()
        out[bid] = mesh
    return pd.Series(out, name="mesh", dtype=object)
