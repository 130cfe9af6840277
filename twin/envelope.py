"""Turn read surfaces into the ``buildings`` and ``surfaces`` tables.

Given a :class:`~twin.surfaces.SurfaceBatch` and one attribute record per
building, this computes per building the footprint (union of the ground
surfaces' plan projection, else the roofs'), ground height, height, volume
(divergence theorem on the z axis: exact for closed shells, a 2.5D estimate
for open ones) and heated floor area, and per surface its area, azimuth and
tilt.  Attributes the source lacks are estimated and named in ``provenance``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from twin.config import TOLERANCES, Tolerances
from twin.errors import TwinWarning
from twin.schema import conform, empty_table
from twin.surfaces import SurfaceBatch, surface_metrics

__all__ = ["BuildingRecord", "AssemblyReport", "assemble_tables", "NET_TO_GROSS_FLOOR"]

#: Heated (net conditioned) floor area as a share of gross floor area, used
#: when a source gives none; a common planning ratio for masonry buildings.
NET_TO_GROSS_FLOOR = 0.85

_KNOWN_ATTRIBUTES = ("name", "year_built", "use", "typology", "n_storeys", "heated_floor_area_m2")


@dataclass
class BuildingRecord:
    """What a reader knows about one building besides its surfaces."""

    building_id: str
    parent_id: str = ""
    name: str = ""
    year_built: int | None = None
    use: str = ""
    typology: str = ""
    n_storeys: int | None = None
    heated_floor_area_m2: float | None = None
    attributes: Mapping[str, object] = field(default_factory=dict)


@dataclass
class AssemblyReport:
    """Counts of repairs and estimates made while assembling the tables."""

    repaired_footprints: int = 0
    empty_buildings: int = 0
    estimated_storeys: int = 0
    estimated_floor_area: int = 0
    messages: list[str] = field(default_factory=list)


def assemble_tables(
    batch: SurfaceBatch,
    records: Sequence[BuildingRecord],
    *,
    crs: CRS,
    source: str,
    lod: str,
    tolerances: Tolerances = TOLERANCES,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, AssemblyReport]:
    """Build the ``buildings`` and ``surfaces`` tables from read geometry.

    Buildings without any surface are dropped and counted in the report (a
    warning names them).  Surfaces below ``tolerances.min_surface_area_m2`` are
    dropped.

    Returns
    -------
    buildings, surfaces, report
    """
    report = AssemblyReport()
    n_b = len(records)
    s_count = (
        np.bincount(batch.building_index, minlength=n_b)
        if batch.n_surfaces
        else np.zeros(n_b, dtype=np.int64)
    )
    starts, stops = batch.surface_vertex_ranges()
    z = batch.vertices[:, 2] if len(batch.vertices) else np.zeros(0)
    surf_zmin = np.minimum.reduceat(z, starts) if batch.n_surfaces else np.zeros(0)
    surf_zmax = np.maximum.reduceat(z, starts) if batch.n_surfaces else np.zeros(0)
    ground = np.full(n_b, np.inf)
    top = np.full(n_b, -np.inf)
    np.minimum.at(ground, batch.building_index, surf_zmin)
    np.maximum.at(top, batch.building_index, surf_zmax)

    metrics = surface_metrics(batch, np.where(np.isfinite(ground), ground, 0.0))
    keep = metrics["area_m2"] >= tolerances.min_surface_area_m2
    polygons = batch.polygons()

    volume = _volumes(batch, metrics, n_b)
    footprints = _footprints(batch, polygons, metrics, n_b, report)

    empty = np.flatnonzero(s_count == 0)
    if len(empty):
        report.empty_buildings = len(empty)
        ids = ", ".join(records[i].building_id for i in empty[:5])
        report.messages.append(f"{len(empty)} building(s) without geometry were skipped (e.g. {ids}).")

    rows = []
    for i, rec in enumerate(records):
        if s_count[i] == 0:
            continue
        height = float(top[i] - ground[i])
        prov = []
        n_storeys = rec.n_storeys
        if n_storeys is None or n_storeys <= 0:
            n_storeys = max(1, int(round(height / tolerances.storey_height_m)))
            prov.append("n_storeys=estimated_from_height")
            report.estimated_storeys += 1
        fp_area = float(footprints[i].area) if footprints[i] is not None else 0.0
        floor_area = rec.heated_floor_area_m2
        if floor_area is None or not np.isfinite(floor_area):
            floor_area = fp_area * n_storeys * NET_TO_GROSS_FLOOR
            prov.append("heated_floor_area=footprint_x_storeys_x_0.85")
            report.estimated_floor_area += 1
        if rec.year_built is None:
            prov.append("year_built=missing")
        rows.append(
            {
                "building_id": rec.building_id,
                "parent_id": rec.parent_id,
                "name": rec.name,
                "ground_z_m": float(ground[i]),
                "height_m": height,
                "n_storeys": int(n_storeys),
                "year_built": rec.year_built,
                "use": rec.use,
                "typology": rec.typology,
                "footprint_area_m2": fp_area,
                "heated_floor_area_m2": float(floor_area),
                "volume_m3": float(volume[i]),
                "source": source,
                "lod": lod,
                "provenance": ";".join(prov),
                "attributes_json": json.dumps(dict(rec.attributes), sort_keys=True, default=str)
                if rec.attributes
                else "",
                "geometry": footprints[i],
            }
        )
    if rows:
        buildings = gpd.GeoDataFrame(conform("buildings", pd.DataFrame(rows)), geometry="geometry", crs=crs)
    else:
        buildings = empty_table("buildings", crs)

    ids = np.array([r.building_id for r in records], dtype=object)
    sel = np.flatnonzero(keep)
    bidx = batch.building_index[sel]
    # surface ids: building id + running number within the building
    order_in_building = _running_number(bidx)
    surfaces = gpd.GeoDataFrame(
        {
            "surface_id": [f"{b}/{k}" for b, k in zip(ids[bidx], order_in_building, strict=True)],
            "building_id": ids[bidx],
            "kind": batch.kind[sel].astype(object),
            "area_m2": metrics["area_m2"][sel],
            "azimuth_deg": metrics["azimuth_deg"][sel],
            "tilt_deg": metrics["tilt_deg"][sel],
            "u_w_m2k": np.nan,
            "g_value": np.nan,
            "boundary": batch.boundary[sel].astype(object),
            "neighbour_id": "",
            "provenance": "",
        },
        geometry=polygons[sel],
        crs=crs,
    )
    surfaces = gpd.GeoDataFrame(conform("surfaces", surfaces), geometry="geometry", crs=crs)
    for msg in report.messages:
        warnings.warn(f"{source}: {msg}", TwinWarning, stacklevel=3)
    return buildings, surfaces, report


def _running_number(index: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values of ``index`` (any order)."""
    if len(index) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(index, kind="stable")
    sorted_idx = index[order]
    first = np.r_[True, sorted_idx[1:] != sorted_idx[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(index)), 0))
    out = np.empty(len(index), dtype=np.int64)
    out[order] = np.arange(len(index)) - group_start
    return out


def _volumes(batch: SurfaceBatch, metrics: dict, n_b: int) -> np.ndarray:
    moment = metrics["z_moment_m3"].copy()
    # Trust semantics over orientation where the source tells roof from ground:
    roof = batch.kind == "roof"
    down = batch.kind == "floor"
    moment[roof] = np.abs(moment[roof])
    moment[down] = -np.abs(moment[down])
    vol = np.zeros(n_b)
    np.add.at(vol, batch.building_index, moment)
    return np.maximum(vol, 0.0)


def _footprints(batch, polygons, metrics, n_b: int, report: AssemblyReport) -> list:
    """Plan footprint per building: ground surfaces, else roofs, else all faces."""
    flat = shapely.force_2d(polygons)
    kind = batch.kind
    tilt = metrics["tilt_deg"]
    bidx = batch.building_index
    order = np.argsort(bidx, kind="stable")
    bounds = np.searchsorted(bidx[order], np.arange(n_b + 1))
    out: list = [None] * n_b
    not_wall = np.abs(tilt - 90.0) > 1.0
    for i in range(n_b):
        idx = order[bounds[i] : bounds[i + 1]]
        if len(idx) == 0:
            continue
        chosen = idx[(kind[idx] == "floor") & (batch.boundary[idx] == "ground")]
        if len(chosen) == 0:
            chosen = idx[(kind[idx] == "roof") & not_wall[idx]]
        if len(chosen) == 0:
            chosen = idx[not_wall[idx]]
        if len(chosen) == 0:
            out[i] = shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(flat[idx])))
            continue
        geom = (
            flat[chosen[0]]
            if len(chosen) == 1
            else shapely.union_all(shapely.make_valid(flat[chosen]), grid_size=None)
        )
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
            report.repaired_footprints += 1
        out[i] = _polygonal(geom)
    return out


def _polygonal(geom):
    """Keep the polygonal part of ``geom``; one polygon stays a Polygon."""
    if geom.geom_type == "GeometryCollection":
        parts = [g for g in geom.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        geom = shapely.union_all(parts) if parts else shapely.Polygon()
    if geom.geom_type == "MultiPolygon" and len(geom.geoms) == 1:
        return geom.geoms[0]
    return geom
