"""Building rows of an IFC model: footprint, storeys, heated floor area.

* *Footprint*: the union of the plan projection of the floor slabs of the
  lowest storey that has some; else the outline of its walls (holes
  filled); else the convex hull of the building's elements.
* *Heated floor area*: the sum of the spaces' net floor areas
  (BaseQuantities ``NetFloorArea``, else the space geometry's floor); with
  no ``IfcSpace``, the gross slab area per storey; with neither, the
  footprint x storeys x :data:`~twin.envelope.NET_TO_GROSS_FLOOR`.  The
  method used is recorded per building.
* *Storeys*: those holding spaces, else those holding envelope elements.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely

from bim_ingest.ifc.context import Context
from bim_ingest.ifc.roles import FLOOR_SLAB_TYPES, WALL_LIKE, Candidate
from bim_ingest.ifc.tables import space_geometry
from twin.envelope import NET_TO_GROSS_FLOOR, BuildingRecord

__all__ = ["building_records", "finish_buildings", "plan_union", "fill_holes", "polygonal"]


def plan_union(tris: list[npt.NDArray[np.float64]]):
    """Union of the plan projections of triangles (list of (m, 3, 3))."""
    if not tris:
        return shapely.Polygon()
    t = np.concatenate(tris)[:, :, :2]
    rings = np.concatenate([t, t[:, :1]], axis=1)
    polys = shapely.polygons(rings)
    polys = polys[shapely.area(polys) > 1e-9]
    if not len(polys):
        return shapely.Polygon()
    geom = shapely.union_all(polys, grid_size=1e-4)
    return polygonal(shapely.make_valid(geom))


def polygonal(geom):
    """The polygonal part of ``geom`` (lines and points of a collection dropped)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def fill_holes(geom):
    """``geom`` with every hole filled (a ring of walls becomes the area it encloses)."""
    polys = [geom] if geom.geom_type == "Polygon" else list(getattr(geom, "geoms", []))
    return shapely.union_all([shapely.Polygon(p.exterior) for p in polys if not p.is_empty])


def building_records(ctx: Context, cands: list[Candidate]) -> tuple[list[BuildingRecord], list[dict]]:
    """One :class:`~twin.envelope.BuildingRecord` per ``IfcBuilding``, and its footprint and methods.

    Parameters
    ----------
    ctx
        Shared lookups.
    cands
        The meshed envelope-class elements.

    Returns
    -------
    records, extra
        ``extra[i]`` holds ``footprint`` (local plan polygon, m), ``footprint_method``
        and ``floor_method`` of building ``i``.
    """
    sem = ctx.sem
    records, extra = [], []
    for i, b in enumerate(sem.buildings):
        mine = [c for c in cands if ctx.building_of(c.info.building_gid) == i]
        storeys = sorted(
            [s for s in sem.storeys if s.building_gid == b.global_id or len(sem.buildings) == 1],
            key=lambda s: s.elevation_m,
        )
        spaces = [s for s in sem.spaces if ctx.building_of(s.building_gid) == i]
        # heated floor area
        floor_method = ""
        heated: float | None = None
        if spaces:
            total = 0.0
            n_qto = n_geom = 0
            for s in spaces:
                if math.isfinite(s.net_floor_area_m2):
                    total += s.net_floor_area_m2
                    n_qto += 1
                elif s.entity_id in ctx.mesh_row:
                    total += space_geometry(ctx.tris(s.entity_id))["floor_area_m2"]
                    n_geom += 1
            heated = total
            floor_method = f"spaces (NetFloorArea from BaseQuantities: {n_qto}, from geometry: {n_geom})"
        slabs_by_storey: dict[str, list[np.ndarray]] = {}
        for c in mine:
            if c.info.ifc_class == "IfcSlab" and c.info.predefined_type in FLOOR_SLAB_TYPES:
                slabs_by_storey.setdefault(c.info.storey_gid, []).append(c.tri)
        if heated is None and slabs_by_storey:
            heated = float(sum(plan_union(t).area for t in slabs_by_storey.values()))
            floor_method = (
                f"gross slab area per storey ({len(slabs_by_storey)} storeys with floor slabs; no IfcSpace)"
            )
        # footprint
        footprint, fp_method = None, ""
        for s in storeys:
            if s.global_id in slabs_by_storey:
                footprint = plan_union(slabs_by_storey[s.global_id])
                fp_method = f"floor slabs of storey {s.name!r}"
                break
        if footprint is None or footprint.is_empty:
            walls_by_storey: dict[str, list[np.ndarray]] = {}
            for c in mine:
                if c.info.role_class.startswith(WALL_LIKE) or c.role in ("window", "door"):
                    walls_by_storey.setdefault(c.info.storey_gid, []).append(c.tri)
            for s in storeys:
                if s.global_id in walls_by_storey:
                    footprint = fill_holes(plan_union(walls_by_storey[s.global_id]))
                    fp_method = f"outline of the walls of storey {s.name!r}"
                    break
        if (footprint is None or footprint.is_empty) and mine:
            pts = np.concatenate([c.tri.reshape(-1, 3) for c in mine])[:, :2]
            footprint = shapely.convex_hull(shapely.multipoints(pts))
            fp_method = "convex hull of the building's elements"
        with_spaces = {s.storey_gid for s in spaces}
        with_elements = {c.info.storey_gid for c in mine}
        n_storeys = len(with_spaces) if with_spaces else len(with_elements & {s.global_id for s in storeys})
        if heated is None and footprint is not None and not footprint.is_empty:
            heated = float(footprint.area) * max(n_storeys, 1) * NET_TO_GROSS_FLOOR
            floor_method = (
                f"estimated: footprint x {max(n_storeys, 1)} storey(s) x {NET_TO_GROSS_FLOOR} "
                "(no IfcSpace, no floor slab)"
            )
        records.append(
            BuildingRecord(
                building_id=f"ifc-{b.global_id}",
                name=b.name or sem.project_name,
                year_built=b.year_built,
                use=str(b.attributes.get("OccupancyType", "") or ""),
                typology="",
                n_storeys=n_storeys or None,
                heated_floor_area_m2=heated,
                attributes={
                    "ifc_global_id": b.global_id,
                    "ifc_schema": sem.schema,
                    "georeferencing": ctx.geo.method,
                    "heated_floor_area_method": floor_method,
                    "footprint_method": fp_method,
                    **{f"pset_{k}": v for k, v in b.attributes.items()},
                },
            )
        )
        extra.append({"footprint": footprint, "footprint_method": fp_method, "floor_method": floor_method})
    return records, extra


def finish_buildings(buildings: gpd.GeoDataFrame, extra: list[dict], ctx: Context) -> gpd.GeoDataFrame:
    """The ``buildings`` table with the IFC footprints (model CRS), their areas and methods."""
    out = buildings.copy()
    by_id = {f"ifc-{b.global_id}": extra[i] for i, b in enumerate(ctx.sem.buildings)}
    geoms = list(out.geometry)
    prov = list(out["provenance"])
    areas = list(out["footprint_area_m2"])
    for k, bid in enumerate(out["building_id"]):
        info = by_id.get(bid)
        if info is None or info["footprint"] is None or info["footprint"].is_empty:
            continue

        def move(xy: np.ndarray) -> np.ndarray:
            xyz = np.column_stack([xy, np.zeros(len(xy))])
            return ctx.to_model_xy(xyz)[:, :2]

        fp = shapely.transform(info["footprint"], move)
        geoms[k] = fp
        areas[k] = float(fp.area)
        prov[k] = ";".join(
            p
            for p in [
                prov[k],
                f"footprint={info['footprint_method']}",
                f"heated_floor_area={info['floor_method']}",
            ]
            if p
        )
    out["footprint_area_m2"] = areas
    out["provenance"] = prov
    return gpd.GeoDataFrame(out.drop(columns="geometry"), geometry=geoms, crs=buildings.crs)
