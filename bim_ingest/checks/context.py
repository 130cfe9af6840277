"""The IFC building among its neighbours: depth, façade height and roof top, side by side.

The IFC model is placed by its own georeferencing (:func:`bim_ingest.ifc.read_ifc`
maps it to the city model's CRS); the district buildings it overlaps are the
ones it replaces (:func:`bim_ingest.ifc.place.overlapped_buildings`), and its
*neighbours* are the two other buildings that share the longest boundary with
its footprint (at least ``min_shared_m``).

Measured the same way for the new building and its neighbours:

* depth (m): extent of the footprint along the party walls (the direction of
  the longest shared boundary segment), i.e. front to back when the
  buildings share the street alignment;
* façade height (m): top of the exterior wall surfaces that face along the
  depth axis (front and back façades, not gables; ``surfaces`` with
  ``kind="wall"``, ``boundary="exterior"``) above the building's ``ground_z_m``;
* height (m): ``height_m`` (the highest point above ground).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from twin.errors import TwinError

__all__ = ["ContextError", "Neighbour", "NeighbourContext", "neighbour_context"]


class ContextError(TwinError, ValueError):
    """The city model given as context cannot be used (no buildings, no CRS)."""


@dataclass(frozen=True)
class Neighbour:
    """A neighbouring building of the city model."""

    building_id: str
    shared_m: float
    depth_m: float
    facade_height_m: float
    height_m: float


@dataclass
class NeighbourContext:
    """The new building and its two neighbours (``reason`` says why not, when they cannot be found)."""

    building_gids: list[str]
    depth_m: float = math.nan
    facade_height_m: float = math.nan
    height_m: float = math.nan
    replaced: list[str] = field(default_factory=list)
    neighbours: list[Neighbour] = field(default_factory=list)
    axis: tuple[float, float] = (math.nan, math.nan)
    crs: str = ""
    reason: str = ""

    def summary(self) -> dict[str, Any]:
        """Plain values for reports."""
        return {
            "depth_m": self.depth_m,
            "facade_height_m": self.facade_height_m,
            "height_m": self.height_m,
            "replaced_buildings": list(self.replaced),
            "neighbours": [n.__dict__ for n in self.neighbours],
            "depth_axis": list(self.axis),
            "crs": self.crs,
        }


def _facade_height(surfaces: Any, building_id: str, ground_z: float, axis: np.ndarray) -> float:
    walls = surfaces[
        (surfaces["building_id"] == building_id)
        & (surfaces["kind"] == "wall")
        & (surfaces["boundary"] == "exterior")
    ]
    az = np.radians(walls["azimuth_deg"].to_numpy(dtype=float))
    facing = np.abs(np.sin(az) * axis[0] + np.cos(az) * axis[1]) > 0.9  # front or back, not the gables
    walls = walls[facing]
    tops = []
    for geom in walls.geometry:
        if geom is None or geom.is_empty or not geom.has_z:
            continue
        coords = shapely.get_coordinates(geom, include_z=True)
        tops.append(float(coords[:, 2].max()))
    return max(tops) - ground_z if tops else math.nan


def _depth(polygon: Any, axis: np.ndarray) -> float:
    xy = shapely.get_coordinates(polygon)
    proj = xy @ axis
    return float(proj.max() - proj.min())


def _longest_segment_axis(lines: Any) -> np.ndarray | None:
    best, axis = 0.0, None
    for part in getattr(lines, "geoms", [lines]):
        if part.is_empty or part.geom_type not in ("LineString", "LinearRing"):
            continue
        c = np.asarray(part.coords)[:, :2]
        for a, b in zip(c[:-1], c[1:], strict=True):
            d = b - a
            n = float(np.hypot(*d))
            if n > best:
                best, axis = n, d / n
    return axis


def neighbour_context(district: Any, bim: Any, *, min_shared_m: float = 1.0) -> NeighbourContext:
    """Find the IFC building's neighbours in a city model and measure all three.

    Parameters
    ----------
    district
        The city model (:class:`~twin.model.CityModel`).
    bim
        The georeferenced IFC model (``facts["model"]``).
    min_shared_m
        Shortest shared boundary (m) for a building to count as a neighbour.

    Returns
    -------
    NeighbourContext
        With ``reason`` set when the building or two neighbours cannot be found.
    """
    from bim_ingest.ifc.place import overlapped_buildings

    if len(district.buildings) == 0:
        raise ContextError("The context city model has no buildings.")
    ifc = bim.to_crs(district.crs) if not bim.crs.equals(district.crs) else bim
    gids = [str(b).removeprefix("ifc-") for b in ifc.buildings["building_id"]]
    ctx = NeighbourContext(building_gids=gids, crs=str(district.crs.to_string()))
    geoms = [g for g in ifc.buildings.geometry if g is not None and not g.is_empty]
    if not geoms:
        ctx.reason = "The IFC building has no footprint: it cannot be placed among its neighbours."
        return ctx
    footprint = shapely.union_all(np.asarray([shapely.make_valid(g) for g in geoms], dtype=object))
    ctx.replaced = overlapped_buildings(district, ifc)
    ground = float(ifc.buildings["ground_z_m"].min())
    ctx.height_m = float((ifc.buildings["ground_z_m"] + ifc.buildings["height_m"]).max() - ground)
    near = district.query_polygon(footprint.buffer(0.5))
    band = footprint.buffer(0.1)
    found = []
    for row in near.itertuples(index=False):
        bid = str(row.building_id)
        if bid in ctx.replaced or row.geometry is None or row.geometry.is_empty:
            continue
        shared_geom = shapely.intersection(shapely.make_valid(row.geometry).boundary, band)
        shared = float(shapely.length(shared_geom))
        if shared >= min_shared_m:
            found.append((shared, bid, row, shared_geom))
    found.sort(key=lambda t: (-t[0], t[1]))
    if len(found) < 2:
        ctx.reason = (
            f"The building has {len(found)} neighbour(s) sharing at least {min_shared_m:g} m of boundary in "
            "the city model; the rule compares with two (a street or block average is not implemented)."
        )
        return ctx
    axis = _longest_segment_axis(found[0][3])
    if axis is None:
        ctx.reason = "The shared boundary has no straight segment to measure the depth along."
        return ctx
    ctx.axis = (float(axis[0]), float(axis[1]))
    ctx.depth_m = _depth(footprint, axis)
    ctx.facade_height_m = max(
        (
            _facade_height(ifc.surfaces, b, float(z), axis)
            for b, z in zip(ifc.buildings["building_id"], ifc.buildings["ground_z_m"], strict=True)
        ),
        default=math.nan,
    )
    for shared, bid, row, _ in found[:2]:
        ctx.neighbours.append(
            Neighbour(
                building_id=bid,
                shared_m=shared,
                depth_m=_depth(row.geometry, axis),
                facade_height_m=_facade_height(district.surfaces, bid, float(row.ground_z_m), axis),
                height_m=float(row.height_m),
            )
        )
    return ctx
