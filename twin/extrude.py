"""LoD1 block models: extrude plan footprints to prisms.

A footprint polygon (with holes) at ground height ``z`` extruded by
``height`` gives a ground face (facing down), a flat roof (facing up) and one
rectangular wall per ring edge, facing outward.  Used by the footprint reader
and by anything that needs a block model of a building.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from twin.errors import GeometryError
from twin.surfaces import SurfaceCollector

__all__ = ["extrude_footprint"]


def extrude_footprint(
    collector: SurfaceCollector,
    building_index: int,
    footprint: BaseGeometry,
    *,
    ground_z_m: float,
    height_m: float,
) -> None:
    """Add the LoD1 prism of ``footprint`` to ``collector``.

    Parameters
    ----------
    collector
        Receives the surfaces.
    building_index
        Row of the building the surfaces belong to.
    footprint
        Polygon or MultiPolygon in plan (x, y in metres, model CRS).
    ground_z_m, height_m
        Base height and extrusion height in metres; ``height_m`` must be > 0.

    Examples
    --------
    >>> from twin.surfaces import surface_metrics
    >>> c = SurfaceCollector()
    >>> extrude_footprint(c, 0, shapely.box(0, 0, 10, 8), ground_z_m=50.0, height_m=6.0)
    >>> m = surface_metrics(c.to_batch(), [50.0])
    >>> float(m["area_m2"].sum()), float(m["z_moment_m3"].sum())
    (376.0, 480.0)
    """
    if not np.isfinite(height_m) or height_m <= 0:
        raise GeometryError(f"Extrusion height must be a positive number of metres, got {height_m}.")
    polys = list(footprint.geoms) if footprint.geom_type == "MultiPolygon" else [footprint]
    z0 = float(ground_z_m)
    z1 = z0 + float(height_m)
    for poly in polys:
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        poly = shapely.geometry.polygon.orient(poly, sign=1.0)  # shell CCW, holes CW
        rings2d = [np.asarray(poly.exterior.coords)[:-1, :2]] + [
            np.asarray(r.coords)[:-1, :2] for r in poly.interiors
        ]
        roof = [np.column_stack([r, np.full(len(r), z1)]) for r in rings2d]
        ground = [np.column_stack([r[::-1], np.full(len(r), z0)]) for r in rings2d]
        collector.add(building_index, "roof", "exterior", roof)
        collector.add(building_index, "floor", "ground", ground)
        for ring in rings2d:
            nxt = np.roll(ring, -1, axis=0)
            for p, q in zip(ring, nxt, strict=True):
                if np.hypot(q[0] - p[0], q[1] - p[1]) < 1e-9:
                    continue
                collector.add(
                    building_index,
                    "wall",
                    "exterior",
                    [[(p[0], p[1], z0), (q[0], q[1], z0), (q[0], q[1], z1), (p[0], p[1], z1)]],
                )
