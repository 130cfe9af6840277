"""Turn an IFC model's semantics and meshes into a :class:`~twin.model.CityModel`.

The result follows the contract of every reader (ARCHITECTURE.md): one row
per ``IfcBuilding`` in ``buildings`` and one row per envelope polygon in
``surfaces`` -- an element's envelope faces grouped by orientation and plane
(:mod:`bim_ingest.ifc.facegroups`), with kind, boundary, U-value, g-value
and the provenance of the U-value -- so that every simulation runs on an IFC
building as on a city-data one.  Element-level data stays in ``model.bim``:
``ifc_elements``, ``ifc_spaces`` and ``ifc_storeys``.

Decisions, each recorded in ``model.sources[0]``:

* *Envelope*: the faces on the building's outer shell that separate inside
  from outside (:mod:`bim_ingest.ifc.shell`), of elements that are external
  by ``IsExternal``; where it is missing, by geometry.  An element marked
  ``IsExternal=False`` still contributes when at least
  :data:`OVERRIDE_SHARE` of one of its sides is envelope (a third of that for
  windows and doors, whose frames add surface; Revit marks most
  windows and all slabs ``False``); the main face of such a wall then gets
  ``boundary="party"`` (a wall the designer says is not external, yet with
  nothing beyond it in the file, is a wall against a neighbour).
* *Windows and doors*: when any of their faces is envelope, their surface
  is their whole outline projected on the plane they face (the opening
  area, frame included, as energy balances count it), independent of how
  the kernel triangulated frame profiles.
* *Kind* (:mod:`~bim_ingest.ifc.roles`): windows and doors (and their
  parts) are ``window``/``door``; other faces by tilt (roof below 45
  degrees -- 80 for roof elements --, floor beyond 135, else wall).
  *Boundary*: floors within 0.5 m of the ground-floor level and walls more
  than 0.5 m below it touch the ground.
* *Buildings* (:mod:`~bim_ingest.ifc.buildings`): footprint, storeys and
  heated floor area; *element tables*: :mod:`~bim_ingest.ifc.tables`.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter

import ifcopenshell.util.placement
import numpy as np
import numpy.typing as npt
import pandas as pd
from pyproj import CRS

from bim_ingest._assemble import model_from_surfaces
from bim_ingest.ifc.buildings import building_records, finish_buildings
from bim_ingest.ifc.context import Context
from bim_ingest.ifc.facegroups import FaceGroup, face_groups, outline_group
from bim_ingest.ifc.geometry import MeshSet
from bim_ingest.ifc.georef import Georeference
from bim_ingest.ifc.open import IfcSource
from bim_ingest.ifc.roles import SECTORS, Candidate, element_g, element_u, kinds_by_tilt, role_of, sector_of
from bim_ingest.ifc.semantics import Semantics
from bim_ingest.ifc.shell import INSIDE, build_grid, classify_pieces, reveal_mask
from bim_ingest.ifc.tables import elements_table, spaces_table, storeys_table
from bim_ingest.ifc.uvalues import DEFAULT_TYPOLOGY, UValue
from twin.crs import transform_xyz
from twin.errors import GeometryError, TwinWarning
from twin.model import CityModel
from twin.surfaces import SurfaceCollector

__all__ = ["OVERRIDE_SHARE", "SECTORS", "build_model", "sector_of"]

#: Share of one side of an ``IsExternal=False`` element that must be envelope
#: for geometry to override the property.
OVERRIDE_SHARE = 0.3
#: |sum of area x normal| / sum of area below which a window's or door's exterior
#: faces look both ways (outside air on both sides).
_MIN_DIRECTIONALITY = 0.3


def _oriented(tri: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Flip a mesh whose signed volume is negative (inward normals)."""
    if len(tri) == 0:
        return tri
    vol = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    return tri[:, [0, 2, 1]] if vol < -1e-9 else tri


def _duplicates(pieces, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Pieces coinciding (1 cm, 1 degree) with a piece of an earlier element (duplicated elements)."""
    out = np.zeros(len(mask), dtype=bool)
    rows = np.flatnonzero(mask)
    if len(rows) < 2:
        return out
    key = np.column_stack(
        [np.round(pieces.tri[rows].mean(axis=1) / 0.01), np.round(pieces.normal[rows] * 60.0)]
    ).astype(np.int64)
    order = np.lexsort((pieces.element[rows], *key.T[::-1]))
    k_sorted = key[order]
    same = np.all(k_sorted[1:] == k_sorted[:-1], axis=1)
    other = pieces.element[rows][order][1:] != pieces.element[rows][order][:-1]
    dup = np.zeros(len(rows), dtype=bool)
    dup[order[1:][same & other]] = True
    out[rows] = dup
    return out


def _grid_rotation_deg(ctx: Context, centre: npt.NDArray[np.float64]) -> float:
    """Counter-clockwise angle from local +y to model-grid north at ``centre``."""
    pts = ctx.to_model_xy(np.array([centre, centre + [0.0, 10.0, 0.0]]))
    d = pts[1] - pts[0]
    return math.degrees(math.atan2(-d[0], d[1]))


def build_model(
    src: IfcSource,
    sem: Semantics,
    meshes: MeshSet,
    geo: Georeference,
    *,
    target_crs: CRS,
    typology: str = DEFAULT_TYPOLOGY,
    extra_source: dict | None = None,
) -> CityModel:
    """Assemble the city model of an IFC file.

    Parameters
    ----------
    src, sem, meshes, geo
        The opened file, its semantics, its meshes (world metres) and its
        georeferencing.
    target_crs
        Model CRS.
    typology
        Default U-value typology (``data/u_value_typology.csv``).
    extra_source
        More provenance for ``model.sources[0]``.

    Raises
    ------
    GeometryError
        When no building has any envelope geometry.
    """
    ctx = Context(src, sem, meshes, geo, target_crs, typology)
    name = src.path.name
    cands: list[Candidate] = []
    for info in sem.elements:
        row = ctx.mesh_row.get(info.entity_id)
        if row is None:
            continue
        cands.append(Candidate(info, _oriented(meshes.triangles(row)), role_of(info)))
    if not cands:
        raise GeometryError(
            f"{name}: no envelope element (wall, slab, roof, window, door ...) produced geometry "
            f"({len(meshes.failures)} failed); nothing to build a building from."
        )

    # ground level: the storey closest to elevation 0, else the lowest element point
    elevations = [s.elevation_m for s in sem.storeys]
    z_ground = min(elevations, key=abs) if elevations else float(min(c.tri[..., 2].min() for c in cands))
    grid = build_grid([c.tri for c in cands], ground_z_m=z_ground)
    pieces = classify_pieces(grid, [c.tri for c in cands])
    row_of_entity = {c.info.entity_id: k for k, c in enumerate(cands)}
    host_openings: dict[int, list[np.ndarray]] = {}
    for opening_id, host_id in sem.opening_host.items():
        if host_id in row_of_entity and opening_id in ctx.mesh_row:
            verts, _ = meshes.mesh(ctx.mesh_row[opening_id])
            host_openings.setdefault(row_of_entity[host_id], []).append(verts)
    reveal = reveal_mask(pieces, host_openings)

    n_c = len(cands)
    order = np.argsort(pieces.element, kind="stable")
    bounds = np.searchsorted(pieces.element[order], np.arange(n_c + 1))
    tilt = np.degrees(np.arccos(np.clip(pieces.normal[:, 2], -1.0, 1.0)))
    kind = np.empty(len(pieces.area), dtype="<U6")
    solid_model = not np.any(grid.state == INSIDE)
    # a model enclosing no space at all (a massing block, a marker) is its own envelope
    envelope = pieces.exterior & (pieces.separating | solid_model) & ~reveal
    envelope &= ~_duplicates(pieces, envelope)
    for k, c in enumerate(cands):
        sel = order[bounds[k] : bounds[k + 1]]
        kind[sel] = kinds_by_tilt(c.role, tilt[sel])
        if c.role in ("window", "door"):
            # only the faces looking the way the element looks (not frame sides in the reveal);
            # a window or door with outside air on both sides separates nothing
            sel = sel[envelope[sel]]
            dom = (pieces.normal[sel] * pieces.area[sel, None]).sum(axis=0)
            norm = np.linalg.norm(dom)
            if norm < _MIN_DIRECTIONALITY * pieces.area[sel].sum():
                envelope[sel] = False
            elif len(sel):
                envelope[sel[pieces.normal[sel] @ (dom / norm) < 0.5]] = False

    total_area = np.bincount(pieces.element, weights=pieces.area, minlength=n_c)
    env_area = np.bincount(pieces.element, weights=pieces.area * envelope, minlength=n_c)
    share = np.divide(env_area, total_area / 2.0, out=np.zeros(n_c), where=total_area > 0)
    accepted = np.zeros(n_c, dtype=bool)
    override = np.zeros(n_c, dtype=bool)
    for k, c in enumerate(cands):
        ext = c.info.is_external
        if ext is None and c.info.parent_gid in ctx.by_gid:
            ext = ctx.by_gid[c.info.parent_gid].is_external
        if c.role == "structure":
            accepted[k] = False
        elif ext is False:
            # frames make a window's outer face a small share of its surface
            threshold = OVERRIDE_SHARE / 3.0 if c.role in ("window", "door") else OVERRIDE_SHARE
            accepted[k] = share[k] >= threshold
            override[k] = accepted[k]
        else:
            accepted[k] = env_area[k] > 0
    keep = envelope & accepted[pieces.element]

    # ---------------------------------------------------------------- surfaces
    collector = SurfaceCollector()
    meta: list[dict] = []
    u_cache: dict[tuple[int, str], UValue] = {}
    elem_area = np.zeros((n_c, len(SECTORS) + 2))
    centre_local = pieces.tri[keep].reshape(-1, 3).mean(axis=0) if keep.any() else np.zeros(3)
    rot = math.radians(_grid_rotation_deg(ctx, centre_local))
    skipped_unassigned = 0
    kind_area: list[dict[str, float]] = [{} for _ in cands]
    counts_all = np.bincount(pieces.parent, minlength=len(pieces.original))
    for k, c in enumerate(cands):
        rows = order[bounds[k] : bounds[k + 1]]
        rows = rows[keep[rows]]
        if not len(rows):
            continue
        b = ctx.building_of(c.info.building_gid)
        if b is None:
            skipped_unassigned += 1
            continue
        parent = ctx.by_gid.get(c.info.parent_gid)
        if c.role in ("window", "door"):
            groups = [_opening_outline(c, pieces, rows, src.file)]
        else:
            tri, tri_kind = _whole_triangles(pieces, rows, kind, counts_all)
            groups = face_groups(tri, tri_kind)
        main = max(range(len(groups)), key=lambda g: groups[g].outline_area_m2) if groups else -1
        for gi, group in enumerate(groups):
            kind_area[k][group.kind] = kind_area[k].get(group.kind, 0.0) + group.outline_area_m2
            _orientation_areas(elem_area[k], group.normal[None, :], np.array([group.outline_area_m2]), rot)
            boundary = _boundary(group, c, override[k] and gi == main, z_ground)
            u = element_u(c.info, parent, group.kind, typology, u_cache)
            g = element_g(c.info, parent, typology) if group.kind == "window" else math.nan
            for rings in group.polygons:
                before = len(collector)
                collector.add(b, group.kind, boundary, [geo.apply(r) for r in rings])
                if len(collector) > before:
                    meta.append(
                        {
                            "global_id": c.info.global_id,
                            "ifc_class": c.info.ifc_class,
                            "u_w_m2k": u.u_w_m2k,
                            "g_value": g,
                            "provenance": u.provenance,
                        }
                    )
    if skipped_unassigned:
        warnings.warn(
            f"{name}: {skipped_unassigned} envelope element(s) belong to no IfcBuilding and were left out.",
            TwinWarning,
            stacklevel=3,
        )
    if not len(collector):
        raise GeometryError(
            f"{name}: no envelope surface was found (the elements' faces are not on an outer shell); "
            "is the model a building?"
        )

    records, building_extra = building_records(ctx, cands)
    sources = {
        "ifc_schema": src.schema,
        "ifc_header": src.header,
        "georeferencing": geo.record(),
        "envelope": {
            "voxel_m": round(grid.size_m, 4),
            "candidate_elements": n_c,
            "envelope_elements": int(np.count_nonzero(env_area * accepted > 0)),
            "is_external_false_overridden": int(override.sum()),
            "ground_level_m": z_ground,
            "reveal_area_m2": round(float(pieces.area[reveal & pieces.exterior].sum()), 2),
            "encloses_space": not solid_model,
        },
    }
    if extra_source:
        sources.update(extra_source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TwinWarning)  # estimates are reported in sources
        model, _ = model_from_surfaces(
            collector.to_batch(),
            records,
            source_crs=geo.crs,
            target_crs=target_crs,
            path=src.path,
            fmt="ifc",
            lod="ifc",
            crs_declared=geo.crs.to_string(),
            extra_source=sources,
        )
    surfaces = model.surfaces
    if len(surfaces) != len(meta):  # a polygon below the area threshold was dropped
        kept = _kept_rows(collector, target_crs, ctx)
        meta = [m for m, ok in zip(meta, kept, strict=True) if ok]
    extra = pd.DataFrame(meta, index=surfaces.index)
    surfaces = surfaces.assign(
        u_w_m2k=extra["u_w_m2k"].to_numpy(),
        g_value=extra["g_value"].to_numpy(),
        provenance=extra["provenance"].to_numpy(),
        global_id=extra["global_id"].to_numpy(),
        ifc_class=extra["ifc_class"].to_numpy(),
    )
    model.surfaces = surfaces
    model.buildings = finish_buildings(model.buildings, building_extra, ctx)
    model.bim = {
        "ifc_elements": elements_table(ctx, cands, elem_area, env_area, accepted, override, kind_area),
        "ifc_spaces": spaces_table(ctx),
        "ifc_storeys": storeys_table(ctx),
    }
    cands_by_entity = {c.info.entity_id: c.info.global_id for c in cands}
    counts = Counter(surfaces["provenance"])
    model.sources[0]["u_value_provenance"] = {
        p: int(counts.get(p, 0)) for p in ("pset", "layers", "typology")
    }
    model.sources[0]["u_value_provenance_area_m2"] = {
        p: round(float(surfaces.loc[surfaces["provenance"] == p, "area_m2"].sum()), 2)
        for p in ("pset", "layers", "typology")
    }
    model.sources[0]["u_value_pset_corrected"] = sorted(
        {cands_by_entity[k[0]] for k, v in u_cache.items() if v.detail.get("surface_resistances_added")}
    )
    model.sources[0]["floor_area_method"] = {
        r.building_id: building_extra[i]["floor_method"] for i, r in enumerate(records)
    }
    model.sources[0]["footprint_method"] = {
        r.building_id: building_extra[i]["footprint_method"] for i, r in enumerate(records)
    }
    return model


def _kept_rows(collector: SurfaceCollector, crs: CRS, ctx: Context) -> list[bool]:
    from twin.config import TOLERANCES
    from twin.surfaces import SurfaceBatch, surface_metrics

    batch = collector.to_batch()
    moved = SurfaceBatch(
        vertices=transform_xyz(batch.vertices, ctx.geo.crs, crs),
        ring_offsets=batch.ring_offsets,
        surface_ring_offsets=batch.surface_ring_offsets,
        building_index=batch.building_index,
        kind=batch.kind,
        boundary=batch.boundary,
    )
    area = surface_metrics(moved)["area_m2"]
    return list(area >= TOLERANCES.min_surface_area_m2)


def _opening_outline(c: Candidate, pieces, rows: npt.NDArray[np.int64], f) -> FaceGroup:
    """A window's or door's envelope face: its whole outline seen from outside.

    The window area of an energy balance is the area of the opening it
    fills, frame included; projecting the whole element on the plane it
    faces gives exactly that, whatever the kernel's triangulation.  The
    facing direction is the element's local y axis (IFC windows and doors
    look along it), on the side its exterior faces look to.
    """
    dom = (pieces.normal[rows] * pieces.area[rows, None]).sum(axis=0)
    dom /= max(np.linalg.norm(dom), 1e-12)
    n = dom
    try:
        product = f.by_id(c.info.entity_id)
        if product.ObjectPlacement is not None:
            matrix = np.asarray(ifcopenshell.util.placement.get_local_placement(product.ObjectPlacement))
            depth = matrix[:3, 1] / np.linalg.norm(matrix[:3, 1])  # windows and doors look along local y
            if abs(depth[2]) < 0.9 or abs(depth @ dom) >= 0.5:  # not a placement with y up
                n = depth if depth @ dom >= 0 else -depth
    except RuntimeError:  # no such entity: keep the measured normal
        pass
    return outline_group(c.tri, n, c.role)


def _whole_triangles(
    pieces, rows: npt.NDArray[np.int64], kind: npt.NDArray[np.str_], counts_all: npt.NDArray[np.int64]
) -> tuple[np.ndarray, np.ndarray]:
    """Kept pieces, those of fully kept triangles replaced by the triangle itself."""
    parent = pieces.parent[rows]
    uniq, local = np.unique(parent, return_inverse=True)
    whole = np.bincount(local)[local] == counts_all[parent]
    first = np.zeros(len(rows), dtype=bool)
    if whole.any():
        _, idx = np.unique(parent[whole], return_index=True)
        first[np.flatnonzero(whole)[idx]] = True
    tri = np.concatenate([pieces.original[parent[first]], pieces.tri[rows[~whole]]])
    kinds = np.concatenate([kind[rows[first]], kind[rows[~whole]]])
    return tri, kinds


def _orientation_areas(out, normal, area, rot) -> None:
    """Add envelope area by compass sector (+ up, down) into ``out`` (10,)."""
    nx = normal[:, 0] * math.cos(rot) - normal[:, 1] * math.sin(rot)
    ny = normal[:, 0] * math.sin(rot) + normal[:, 1] * math.cos(rot)
    az = np.degrees(np.arctan2(nx, ny))
    tilt = np.degrees(np.arccos(np.clip(normal[:, 2], -1.0, 1.0)))
    sector = np.floor(((az % 360.0) + 22.5) / 45.0).astype(int) % 8
    up = tilt < 45.0
    down = tilt > 135.0
    side = ~(up | down)
    np.add.at(out, sector[side], area[side])
    out[8] += area[up].sum()
    out[9] += area[down].sum()


def _boundary(group, cand: Candidate, overridden: bool, z_ground: float) -> str:
    z = float(group.centroid[2])
    if group.kind == "floor":
        return "ground" if z <= z_ground + 0.5 else "exterior"
    if group.kind == "wall":
        if z < z_ground - 0.5:
            return "ground"
        if overridden and cand.info.role_class.startswith("IfcWall"):
            return "party"
    return "exterior"
