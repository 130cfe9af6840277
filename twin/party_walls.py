"""Party walls: walls shared by touching buildings.

Brussels is mostly terraced houses (maisons mitoyennes): the walls between
them lose (almost) no heat, so finding them decides the heat loss of a
district.  Two walls of different buildings form a party wall where their
planes coincide (footprint edges within ``party_wall_distance_m``, normals
anti-parallel within ``party_wall_angle_deg``) and they overlap in the wall
plane.  The overlap is computed exactly in the plane of each wall
(horizontal position along the wall x height), so the part of a wall that
rises above a lower neighbour stays exterior.

Each wall that touches a neighbour is split into one ``boundary="party"``
row per neighbour (``neighbour_id`` set, area = the overlap) and, if
anything is left, an exterior remainder that keeps the original
``surface_id``.  Running the detection again on its own output changes
nothing.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.config import TOLERANCES, Tolerances

__all__ = ["detect_party_walls", "PARTY_SUFFIX"]

#: Separator between a wall's id and the neighbour in a party-wall row's id.
PARTY_SUFFIX = "|party:"


def detect_party_walls(
    surfaces: gpd.GeoDataFrame, *, tolerances: Tolerances = TOLERANCES
) -> gpd.GeoDataFrame:
    """Return ``surfaces`` with shared walls split off as party walls.

    Parameters
    ----------
    surfaces
        The model's ``surfaces`` table (3D polygons, metres, projected CRS).
    tolerances
        Plane distance, angle and minimum area.

    Returns
    -------
    GeoDataFrame
        A new table; rows other than affected walls are unchanged.
    """
    if surfaces.empty:
        return surfaces.copy()
    is_wall = (
        (surfaces["kind"].to_numpy() == "wall")
        & np.isin(surfaces["boundary"].to_numpy(), ["exterior", "party"])
        & (np.abs(surfaces["tilt_deg"].to_numpy() - 90.0) <= tolerances.vertical_tilt_deg)
    )
    wall_rows = np.flatnonzero(is_wall)
    if len(wall_rows) < 2:
        return surfaces.copy()
    geoms = surfaces.geometry.to_numpy()[wall_rows]
    building = surfaces["building_id"].to_numpy()[wall_rows]
    frames = _wall_frames(geoms)
    i_idx, j_idx = _candidate_pairs(frames, building, tolerances)
    if len(i_idx) == 0:
        return surfaces.copy()

    # overlap of wall j with wall i, measured in wall i's plane
    local_i = _to_local(geoms[i_idx], frames, i_idx)
    local_j = _to_local(geoms[j_idx], frames, i_idx)
    overlap = shapely.intersection(shapely.make_valid(local_i), shapely.make_valid(local_j))
    overlap_area = shapely.area(overlap)
    keep = overlap_area > 0.0
    i_idx, j_idx, overlap = i_idx[keep], j_idx[keep], overlap[keep]
    if len(i_idx) == 0:
        return surfaces.copy()
    return _split_walls(surfaces, wall_rows, geoms, building, frames, i_idx, j_idx, overlap, tolerances)


def _wall_frames(geoms: np.ndarray) -> dict[str, np.ndarray]:
    """Per wall: plan origin, horizontal unit normal, along-wall axis, plane offset."""
    coords, index = shapely.get_coordinates(geoms, include_z=True, return_index=True)
    n = len(geoms)
    first = np.searchsorted(index, np.arange(n))
    origin = coords[first, :2]
    local = coords[:, :2] - origin[index]
    # Newell normal in plan from the (x, z) and (y, z) projections
    nxt = np.arange(1, len(coords) + 1)
    last = np.r_[first[1:], len(coords)] - 1
    nxt[last] = first
    z = coords[:, 2]
    nx = np.bincount(index, (local[:, 1] - local[nxt, 1]) * (z + z[nxt]), minlength=n)
    ny = np.bincount(index, (z - z[nxt]) * (local[:, 0] + local[nxt, 0]), minlength=n)
    norm = np.hypot(nx, ny)
    norm[norm == 0] = 1.0
    normal = np.column_stack([nx / norm, ny / norm])
    axis = np.column_stack([-normal[:, 1], normal[:, 0]])
    u = np.einsum("ij,ij->i", local, axis[index])
    umin = np.full(n, np.inf)
    umax = np.full(n, -np.inf)
    np.minimum.at(umin, index, u)
    np.maximum.at(umax, index, u)
    zmin = np.full(n, np.inf)
    zmax = np.full(n, -np.inf)
    np.minimum.at(zmin, index, z)
    np.maximum.at(zmax, index, z)
    offset = np.einsum("ij,ij->i", origin, normal)
    return {
        "origin": origin,
        "normal": normal,
        "axis": axis,
        "offset": offset,
        "umin": umin,
        "umax": umax,
        "zmin": zmin,
        "zmax": zmax,
    }


def _candidate_pairs(frames, building, tol: Tolerances) -> tuple[np.ndarray, np.ndarray]:
    """Ordered pairs (i, j) of walls of different buildings lying in one plane."""
    o, a = frames["origin"], frames["axis"]
    p0 = o + a * frames["umin"][:, None]
    p1 = o + a * frames["umax"][:, None]
    segments = shapely.linestrings(np.stack([p0, p1], axis=1))
    tree = shapely.STRtree(segments)
    i_idx, j_idx = tree.query(segments, predicate="dwithin", distance=tol.party_wall_distance_m)
    keep = building[i_idx] != building[j_idx]
    i_idx, j_idx = i_idx[keep], j_idx[keep]
    n = frames["normal"]
    cos = np.einsum("ij,ij->i", n[i_idx], n[j_idx])
    keep = cos <= -np.cos(np.radians(tol.party_wall_angle_deg))
    i_idx, j_idx = i_idx[keep], j_idx[keep]
    # wall j's segment ends must lie within the distance of wall i's plane
    d0 = np.abs(np.einsum("ij,ij->i", p0[j_idx], n[i_idx]) - frames["offset"][i_idx])
    d1 = np.abs(np.einsum("ij,ij->i", p1[j_idx], n[i_idx]) - frames["offset"][i_idx])
    keep = (d0 <= tol.party_wall_distance_m) & (d1 <= tol.party_wall_distance_m)
    # and overlap in height
    keep &= (frames["zmin"][j_idx] < frames["zmax"][i_idx]) & (frames["zmin"][i_idx] < frames["zmax"][j_idx])
    return i_idx[keep], j_idx[keep]


def _to_local(geoms: np.ndarray, frames, frame_idx: np.ndarray) -> np.ndarray:
    """Express 3D wall polygons in a wall frame: x = along-wall u, y = height z."""
    coords, index = shapely.get_coordinates(geoms, include_z=True, return_index=True)
    f = frame_idx[index]
    u = np.einsum("ij,ij->i", coords[:, :2] - frames["origin"][f], frames["axis"][f])
    local = np.column_stack([u, coords[:, 2], np.zeros(len(coords))])
    return shapely.force_2d(shapely.set_coordinates(geoms.copy(), local))


def _to_world(local_geoms: np.ndarray, frames, frame_idx: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_to_local`: (u, z) polygons back to 3D on the wall plane."""
    geoms3d = shapely.force_3d(local_geoms)
    coords, index = shapely.get_coordinates(geoms3d, include_z=True, return_index=True)
    f = frame_idx[index]
    xy = frames["origin"][f] + frames["axis"][f] * coords[:, :1]
    world = np.column_stack([xy, coords[:, 1]])
    return shapely.set_coordinates(geoms3d, world)


def _split_walls(surfaces, wall_rows, geoms, building, frames, i_idx, j_idx, overlap, tol):
    """Replace each wall that has party overlaps by its party pieces and remainder."""
    neighbour = building[j_idx]
    order = np.lexsort((neighbour, i_idx))
    i_sorted, nb_sorted = i_idx[order], neighbour[order]
    first = np.r_[True, (i_sorted[1:] != i_sorted[:-1]) | (nb_sorted[1:] != nb_sorted[:-1])]
    pieces = pd.DataFrame({"i": i_sorted[first], "nb": nb_sorted[first]})
    wi = pieces["i"].to_numpy()
    piece_geom = _grouped_union(overlap[order], first)
    local_wall = _to_local(geoms[wi], frames, wi)
    plan_area = shapely.area(local_wall)
    true_area = surfaces["area_m2"].to_numpy()[wall_rows[wi]]
    scale = np.divide(true_area, plan_area, out=np.ones_like(true_area), where=plan_area > 0)
    piece_area = shapely.area(piece_geom) * scale
    big = piece_area >= tol.min_surface_area_m2
    pieces, wi, piece_geom, piece_area = pieces[big], wi[big], piece_geom[big], piece_area[big]
    if len(pieces) == 0:
        return surfaces.copy()

    src_rows = wall_rows[wi]
    party = surfaces.iloc[src_rows].copy()
    base_ids = party["surface_id"].str.split(PARTY_SUFFIX, regex=False).str[0].to_numpy()
    party["surface_id"] = [f"{b}{PARTY_SUFFIX}{nb}" for b, nb in zip(base_ids, pieces["nb"], strict=True)]
    party["boundary"] = "party"
    party["neighbour_id"] = pieces["nb"].to_numpy()
    party["area_m2"] = piece_area
    party = party.set_geometry(_to_world(_outward(piece_geom), frames, wi))

    # remainder of each affected wall
    affected = np.unique(wi)  # wi is sorted: groups of equal wall are contiguous
    taken = _grouped_union(piece_geom, np.r_[True, wi[1:] != wi[:-1]])
    local_aff = _to_local(geoms[affected], frames, affected)
    remainder = shapely.difference(shapely.make_valid(local_aff), taken)
    rem_plan = shapely.area(local_aff)
    rem_true = surfaces["area_m2"].to_numpy()[wall_rows[affected]]
    rem_scale = np.divide(rem_true, rem_plan, out=np.ones_like(rem_true), where=rem_plan > 0)
    rem_area = shapely.area(remainder) * rem_scale
    rest = surfaces.iloc[wall_rows[affected]].copy()
    rest["area_m2"] = rem_area
    rest["boundary"] = "exterior"
    rest["neighbour_id"] = ""
    rest = rest.set_geometry(_to_world(_outward(_polygonal_only(remainder)), frames, affected))
    rest = rest[rem_area >= tol.min_surface_area_m2]
    # already-split party rows of an affected wall are recomputed, never kept twice
    rest = rest[~rest["surface_id"].str.contains(PARTY_SUFFIX, regex=False)]

    unaffected = np.ones(len(surfaces), dtype=bool)
    unaffected[wall_rows[affected]] = False
    out = pd.concat([surfaces[unaffected], party, rest], ignore_index=True)
    out = out.drop_duplicates("surface_id", keep="first")
    return gpd.GeoDataFrame(out, geometry="geometry", crs=surfaces.crs)


def _outward(local_geoms: np.ndarray) -> np.ndarray:
    """Wind (u, z) polygons counter-clockwise: seen from outside (u to the right, z up) that is
    the outward normal, so pieces keep their wall's orientation.  GEOS overlays return shells
    clockwise."""
    return shapely.orient_polygons(local_geoms, exterior_cw=False)


def _grouped_union(geoms: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Union of each run of ``geoms`` that starts where ``group_start`` is True.

    Most runs hold one geometry (one wall facing one neighbour wall): those are
    taken as they are, only the rest go through GEOS ``union_all``.
    """
    starts = np.flatnonzero(group_start)
    stops = np.r_[starts[1:], len(geoms)]
    out = geoms[starts].copy()
    for k in np.flatnonzero(stops - starts > 1):
        out[k] = shapely.union_all(geoms[starts[k] : stops[k]])
    return out


def _polygonal_only(geoms: np.ndarray) -> np.ndarray:
    """Drop lines and points that a polygon difference may leave behind."""
    out = geoms.copy()
    for k, g in enumerate(geoms):
        if g.geom_type == "GeometryCollection":
            parts = [p for p in g.geoms if p.geom_type in ("Polygon", "MultiPolygon")]
            out[k] = shapely.union_all(parts) if parts else shapely.Polygon()
    return out
