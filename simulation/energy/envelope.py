"""Completing a model's envelope for the heat balance: typology defaults, windows, exposed perimeter.

City data (CityJSON, CityGML, footprints) gives walls, roofs and floors with
their areas and orientations but no U-values and no windows.  Before a heat
balance can run, every building gets

* per-building defaults by construction period and building type from the
  bundled typology (:func:`building_defaults`, sheet §10.1, §3, §5): U-values,
  window g-value, window-to-wall ratio, air changes, thermal-bridge
  surcharge, heat capacity, internal gains, system efficiencies;
* U-values on surfaces that have none, and windows cut out of the exterior
  walls of buildings that have none (:func:`fill_envelope`): each vertical
  exterior wall of area A becomes an opaque wall of ``(1 − wwr)·A`` plus a
  window of ``wwr·A`` with the same orientation; exterior walls facing the
  same way as a party wall of the building (the part of a gable rising above
  a lower neighbour) stay blind (sheet §2.4).  The window row has no
  geometry (the wall keeps its gross polygon); both rows say so in
  ``provenance``;
* the exposed perimeter of its ground floor (:func:`exposed_perimeter`,
  sheet §2.2, §2.4 rule 3): the footprint perimeter minus the lengths shared
  with neighbouring footprints.

IFC buildings already carry windows and U-values (provenance ``pset``/
``layers``); they are left as they are, only missing values are filled.

Per-building overrides are read from optional columns of ``buildings`` when
present and finite (renovation measures write them, see
:mod:`simulation.measures_energy`): :data:`BUILDING_OVERRIDES`.  Optional
surface columns: ``b_factor`` (adjustment factor b), ``frame_fraction``,
``shading_factor`` (F_sh,ob).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from simulation.energy.params import PERIOD_LABELS, EnergyParams, period_index, typology_tables
from twin.config import TOLERANCES
from twin.errors import TwinWarning
from twin.model import CityModel

__all__ = [
    "BUILDING_OVERRIDES",
    "FLAT_ROOF_TILT_DEG",
    "GABLE_ANGLE_DEG",
    "VERTICAL_TOLERANCE_DEG",
    "building_defaults",
    "exposed_perimeter",
    "fill_envelope",
]

#: Optional ``buildings`` columns that override the typology, with their units.
BUILDING_OVERRIDES: dict[str, str] = {
    "air_change_inf_h": "infiltration air change, 1/h",
    "air_change_vent_h": "ventilation (use) air change, 1/h",
    "heat_recovery_efficiency": "heat-recovery efficiency applied to the ventilation air change, -",
    "thermal_bridge_w_m2k": "thermal-bridge surcharge ΔU_tb, W/(m²·K)",
    "heat_capacity_j_m2k": "internal heat capacity κ_m per m² of heated floor area, J/(m²·K)",
    "internal_gains_w_m2": "mean internal gains φ_int per m² of heated floor area, W/m²",
    "window_to_wall_ratio": "window area / gross exterior facade area used when windows are missing, -",
    "exposed_perimeter_m": "exposed perimeter of the ground floor, m",
}

#: Roofs flatter than this use the flat-roof U of the typology.
FLAT_ROOF_TILT_DEG = 10.0
#: Walls within this angle of vertical receive typology windows.
VERTICAL_TOLERANCE_DEG = 30.0
#: Exterior walls facing within this angle of a party wall of the same building are gables (no windows).
GABLE_ANGLE_DEG = 15.0


def _override(buildings: pd.DataFrame, column: str) -> npt.NDArray[np.float64]:
    if column not in buildings.columns:
        return np.full(len(buildings), np.nan)
    return pd.to_numeric(buildings[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def building_defaults(buildings: pd.DataFrame, params: EnergyParams | None = None) -> pd.DataFrame:
    """Typology values and overrides for every building (one row per row of ``buildings``).

    Parameters
    ----------
    buildings
        The model's ``buildings`` table (``year_built``, ``typology``, ``use``
        and optional :data:`BUILDING_OVERRIDES` columns).
    params
        Simulation parameters (default year, thermal-bridge override).

    Returns
    -------
    pandas.DataFrame
        Same index as ``buildings``.  Columns: ``period``, ``type_key``,
        ``use_key``, envelope defaults ``u_wall_w_m2k`` … ``g_window``,
        ``window_to_wall_ratio``, ``air_change_inf_h``, ``air_change_vent_h``,
        ``heat_recovery_efficiency``, ``thermal_bridge_w_m2k``,
        ``heat_capacity_j_m2k``, ``internal_gains_w_m2``, ``eta_heating``,
        ``eta_dhw``, ``dhw_need_kwh_m2``, ``aux_electricity_kwh_m2``,
        ``peb_scale`` and ``provenance`` (what was assumed).

    Examples
    --------
    >>> import pandas as pd
    >>> b = pd.DataFrame({"year_built": pd.array([1950, None], dtype="Int64"),
    ...                   "typology": ["terraced", "castle"], "use": ["residential", "office"]})
    >>> d = building_defaults(b)
    >>> d[["period", "type_key", "u_wall_w_m2k"]].values.tolist()
    [['1946-1970', 'terraced', 1.7], ['<=1945', 'other', 2.2]]
    """
    params = params or EnergyParams()
    t = typology_tables()
    n = len(buildings)
    years = pd.array(buildings["year_built"], dtype="Int64")
    missing_year = np.asarray(years.isna(), dtype=bool)
    year = years.fillna(params.default_year_built).to_numpy(dtype=np.int64)
    pidx = period_index(year)
    per = t.periods.iloc[pidx].reset_index()
    typ = buildings["typology"].astype(str).to_numpy()
    known_type = np.isin(typ, t.types.index.to_numpy())
    type_key = np.where(known_type, typ, "other")
    ty = t.types.loc[type_key].reset_index()
    use = buildings["use"].astype(str).to_numpy()
    known_use = np.isin(use, t.uses.index.to_numpy())
    use_key = np.where(known_use, use, "other")
    us = t.uses.loc[use_key].reset_index()

    flat_col = np.where(
        ty["flat_roof_construction"].to_numpy() == "concrete",
        per["u_roof_flat_concrete_w_m2k"].to_numpy(),
        per["u_roof_flat_timber_w_m2k"].to_numpy(),
    )
    out = pd.DataFrame(
        {
            "period": np.asarray(PERIOD_LABELS, dtype=object)[pidx],
            "type_key": type_key.astype(object),
            "use_key": use_key.astype(object),
            "u_wall_w_m2k": per["u_wall_w_m2k"].to_numpy(np.float64),
            "u_roof_pitched_w_m2k": per["u_roof_pitched_w_m2k"].to_numpy(np.float64),
            "u_roof_flat_w_m2k": flat_col.astype(np.float64),
            "u_floor_w_m2k": per["u_floor_w_m2k"].to_numpy(np.float64),
            "u_window_w_m2k": per["u_window_w_m2k"].to_numpy(np.float64),
            "g_window": per["g_window"].to_numpy(np.float64),
            "u_door_w_m2k": per["u_door_w_m2k"].to_numpy(np.float64),
            "window_to_wall_ratio": ty["window_to_wall_ratio"].to_numpy(np.float64),
            "air_change_inf_h": per["air_change_inf_h"].to_numpy(np.float64),
            "air_change_vent_h": ty["air_change_vent_h"].to_numpy(np.float64),
            "heat_recovery_efficiency": np.zeros(n),
            "thermal_bridge_w_m2k": per["thermal_bridge_w_m2k"].to_numpy(np.float64),
            "heat_capacity_j_m2k": ty["heat_capacity_j_m2k"].to_numpy(np.float64),
            "internal_gains_w_m2": us["internal_gains_w_m2"].to_numpy(np.float64),
            "eta_heating": (per["eta_heating"] * ty["heating_system_factor"]).to_numpy(np.float64),
            "eta_dhw": per["eta_dhw"].to_numpy(np.float64),
            "dhw_need_kwh_m2": us["dhw_need_kwh_m2"].to_numpy(np.float64),
            "aux_electricity_kwh_m2": us["aux_electricity_kwh_m2"].to_numpy(np.float64),
            "peb_scale": us["peb_scale"].to_numpy().astype(object),
        },
        index=buildings.index,
    )
    prov = np.array(
        [f"typology={p}/{k}" for p, k in zip(out["period"], out["type_key"], strict=True)], dtype=object
    )
    if params.thermal_bridge_w_m2k is not None:
        out["thermal_bridge_w_m2k"] = params.thermal_bridge_w_m2k
    extra = [np.where(missing_year, f"year_built=assumed_{params.default_year_built}", "")]
    extra.append(np.where(known_type, "", "typology=unknown->other"))
    extra.append(np.where(known_use, "", "use=unknown->other"))
    for col in BUILDING_OVERRIDES:
        if col in out.columns:
            value = _override(buildings, col)
            given = np.isfinite(value)
            if given.any():
                out.loc[given, col] = value[given]
                extra.append(np.where(given, f"{col}=model", ""))
    for part in extra:
        prov = np.array([f"{a};{b}" if b else a for a, b in zip(prov, part, strict=True)], dtype=object)
    out["provenance"] = prov
    return out


def _append(prov: npt.NDArray[np.object_], text: npt.ArrayLike, mask: npt.NDArray[np.bool_]) -> None:
    text = np.broadcast_to(np.asarray(text, dtype=object), prov.shape)
    for i in np.flatnonzero(mask):
        prov[i] = f"{prov[i]};{text[i]}" if prov[i] else str(text[i])


def _fill_surfaces(
    surfaces: gpd.GeoDataFrame,
    buildings: pd.DataFrame,
    defaults: pd.DataFrame,
    building_ids: Iterable[str] | None = None,
) -> gpd.GeoDataFrame:
    """Surfaces with missing U and g filled and typology windows added (see :func:`fill_envelope`)."""
    s = surfaces.reset_index(drop=True)
    pos = pd.Index(buildings["building_id"]).get_indexer(s["building_id"])
    todo = pos >= 0
    if building_ids is not None:
        todo &= s["building_id"].isin(set(building_ids)).to_numpy()
    if not todo.any():
        return surfaces
    d = defaults.reset_index(drop=True)
    p = np.where(pos >= 0, pos, 0)
    kind = s["kind"].astype(str).to_numpy()
    tilt = s["tilt_deg"].to_numpy(dtype=np.float64, na_value=np.nan)
    u = s["u_w_m2k"].to_numpy(dtype=np.float64, na_value=np.nan).copy()
    g = s["g_value"].to_numpy(dtype=np.float64, na_value=np.nan).copy()
    area = s["area_m2"].to_numpy(dtype=np.float64, na_value=np.nan).copy()
    prov = s["provenance"].astype(str).to_numpy().astype(object)
    label = np.array(
        [f"typology({a}/{b})" for a, b in zip(d["period"], d["type_key"], strict=True)], dtype=object
    )

    flat = np.nan_to_num(tilt, nan=0.0) < FLAT_ROOF_TILT_DEG
    u_default = np.select(
        [
            kind == "wall",
            (kind == "roof") & flat,
            kind == "roof",
            kind == "floor",
            kind == "window",
            kind == "door",
        ],
        [
            d["u_wall_w_m2k"].to_numpy()[p],
            d["u_roof_flat_w_m2k"].to_numpy()[p],
            d["u_roof_pitched_w_m2k"].to_numpy()[p],
            d["u_floor_w_m2k"].to_numpy()[p],
            d["u_window_w_m2k"].to_numpy()[p],
            d["u_door_w_m2k"].to_numpy()[p],
        ],
        np.nan,
    )
    fill_u = todo & np.isnan(u)
    u[fill_u] = u_default[fill_u]
    _append(prov, np.char.add("u_w_m2k=", label[p].astype(str)).astype(object), fill_u)
    fill_g = todo & (kind == "window") & np.isnan(g)
    g[fill_g] = d["g_window"].to_numpy()[p][fill_g]
    _append(prov, np.char.add("g_value=", label[p].astype(str)).astype(object), fill_g)

    # typology windows for buildings without any window
    has_window = set(s.loc[kind == "window", "building_id"])
    wwr = d["window_to_wall_ratio"].to_numpy()[p]
    split = (
        todo
        & (kind == "wall")
        & (s["boundary"].astype(str).to_numpy() == "exterior")
        & (np.abs(np.nan_to_num(tilt, nan=90.0) - 90.0) <= VERTICAL_TOLERANCE_DEG)
        & ~s["building_id"].isin(has_window).to_numpy()
        & (wwr > 0)
        & (area > 0)
    )
    split &= ~_is_gable(s, split)
    out = s.copy()
    out["u_w_m2k"] = u
    out["g_value"] = g
    if split.any():
        idx = np.flatnonzero(split)
        r = wwr[idx]
        win = s.iloc[idx].copy()
        win["surface_id"] = win["surface_id"].astype(str) + "/window"
        win["kind"] = "window"
        win["area_m2"] = area[idx] * r
        win["u_w_m2k"] = d["u_window_w_m2k"].to_numpy()[p][idx]
        win["g_value"] = d["g_window"].to_numpy()[p][idx]
        win["provenance"] = [
            f"{lab}:window_split(wwr={w:g})" for lab, w in zip(label[p][idx], r, strict=True)
        ]
        for col in ("b_factor", "frame_fraction", "shading_factor"):
            if col in win.columns:
                win[col] = np.nan
        win = win.set_geometry(gpd.GeoSeries([None] * len(win), index=win.index, crs=s.crs))
        area[idx] = area[idx] * (1.0 - r)
        _append(prov, np.array([f"window_split(wwr={w:g}):area=opaque" for w in wwr], dtype=object), split)
        out["area_m2"] = area
        out["provenance"] = prov
        order_key = np.concatenate([2 * np.arange(len(out)), 2 * idx + 1])
        out = pd.concat([out, win], ignore_index=True)
        out = out.iloc[np.argsort(order_key, kind="stable")].reset_index(drop=True)
        return gpd.GeoDataFrame(out, geometry=s.geometry.name, crs=s.crs)
    out["provenance"] = prov
    return gpd.GeoDataFrame(out, geometry=s.geometry.name, crs=s.crs)


def _is_gable(s: pd.DataFrame, candidates: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Exterior walls facing the same way as a party wall of their building (the part of a gable above
    a lower neighbour): they get no typology windows (sheet §2.4, rules 3-4)."""
    out = np.zeros(len(s), dtype=bool)
    party = s[(s["kind"] == "wall") & (s["boundary"] == "party")][["building_id", "azimuth_deg"]]
    idx = np.flatnonzero(candidates)
    if party.empty or not len(idx):
        return out
    cand = pd.DataFrame({"row": idx, "building_id": s["building_id"].to_numpy()[idx]})
    cand["az"] = s["azimuth_deg"].to_numpy(dtype=np.float64, na_value=np.nan)[idx]
    pairs = cand.merge(party, on="building_id")
    diff = np.abs((pairs["az"] - pairs["azimuth_deg"] + 180.0) % 360.0 - 180.0)
    rows = pairs.loc[diff <= GABLE_ANGLE_DEG, "row"].to_numpy()
    out[rows] = True
    return out


def fill_envelope(
    model: CityModel, params: EnergyParams | None = None, *, building_ids: Iterable[str] | None = None
) -> CityModel:
    """A copy of ``model`` whose surfaces are complete for the heat balance.

    Missing ``u_w_m2k`` (and ``g_value`` of windows) are filled from the
    typology of the building's construction period and type; buildings
    without any window get windows cut from their vertical exterior walls by
    the typology's window-to-wall ratio.  Every filled value names its origin
    in ``provenance`` (e.g. ``u_w_m2k=typology(1946-1970/terraced)``,
    ``window_split(wwr=0.23)``).  Idempotent: filling a filled model changes
    nothing.

    Parameters
    ----------
    model
        The city model (not modified).
    params
        Simulation parameters (default construction year).
    building_ids
        Only these buildings (default: all).

    Returns
    -------
    CityModel
        A new model; ``buildings`` is unchanged.

    Examples
    --------
    >>> from data import generate_district
    >>> from bim_ingest.cityjson import read_cityjson
    >>> import tempfile, pathlib
    >>> from data import write_district
    >>> path = write_district(generate_district(5, seed=1), pathlib.Path(tempfile.mkdtemp()))["cityjson"]
    >>> m = fill_envelope(read_cityjson(path).with_party_walls())
    >>> bool(m.surfaces["u_w_m2k"].notna().all()), "window" in set(m.surfaces["kind"])
    (True, True)
    """
    defaults = building_defaults(model.buildings, params)
    new = model.copy()
    new.surfaces = _fill_surfaces(model.surfaces, model.buildings, defaults, building_ids)
    return new


def exposed_perimeter(
    buildings: gpd.GeoDataFrame,
    *,
    tolerance_m: float = TOLERANCES.party_wall_distance_m,
    angle_deg: float = TOLERANCES.party_wall_angle_deg,
) -> npt.NDArray[np.float64]:
    """Exposed perimeter of each footprint: its perimeter minus the lengths shared with other footprints.

    Footprint edges of two buildings are shared where they are parallel
    (within ``angle_deg``) and within ``tolerance_m`` of each other (the
    party-wall tolerances of the model); the shared length is the overlap of
    their projections.  This is the P of EN ISO 13370 (sheet §2.2, §2.4 rule
    3): for a mid-terrace house about the front plus rear widths.  A value in
    the optional column ``exposed_perimeter_m`` wins when finite.

    Parameters
    ----------
    buildings
        Buildings with footprint polygons (metres, projected CRS).
    tolerance_m
        Distance within which two edges are one shared boundary, m.
    angle_deg
        Largest angle between two edges that are one shared boundary, degrees.

    Returns
    -------
    (N,) float64, m

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> row = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 6, 10), shapely.box(6, 0, 11, 10),
    ...                                  shapely.box(11, 0, 18, 8)], crs=31370)
    >>> exposed_perimeter(row).round(6).tolist()
    [22.0, 12.0, 22.0]
    """
    geoms = buildings.geometry.to_numpy()
    n = len(geoms)
    perim = np.nan_to_num(shapely.length(geoms).astype(np.float64), nan=0.0) if n else np.zeros(0)
    if n > 1:
        p0, p1, owner = _segments(geoms)
        if len(owner):
            tree = shapely.STRtree(shapely.linestrings(np.stack([p0, p1], axis=1)))
            a, c = tree.query(
                shapely.linestrings(np.stack([p0, p1], axis=1)), predicate="dwithin", distance=tolerance_m
            )
            keep = owner[a] != owner[c]
            a, c = a[keep], c[keep]
            da, dc = p1[a] - p0[a], p1[c] - p0[c]
            la, lc = np.hypot(*da.T), np.hypot(*dc.T)
            ua, uc = da / la[:, None], dc / lc[:, None]
            parallel = np.abs(ua[:, 0] * uc[:, 1] - ua[:, 1] * uc[:, 0]) <= np.sin(np.radians(angle_deg))
            # perpendicular offset of a's midpoint from c's line
            mid = 0.5 * (p0[a] + p1[a]) - p0[c]
            close = np.abs(mid[:, 0] * uc[:, 1] - mid[:, 1] * uc[:, 0]) <= tolerance_m
            t0 = np.einsum("ij,ij->i", p0[a] - p0[c], uc)
            t1 = np.einsum("ij,ij->i", p1[a] - p0[c], uc)
            lo, hi = np.minimum(t0, t1), np.maximum(t0, t1)
            overlap = np.clip(np.minimum(hi, lc) - np.maximum(lo, 0.0), 0.0, None)
            overlap = np.where(parallel & close, overlap, 0.0)
            per_segment = np.minimum(
                np.bincount(a, weights=overlap, minlength=len(owner)), np.hypot(*(p1 - p0).T)
            )
            perim = perim - np.bincount(owner, weights=per_segment, minlength=n)
    perim = np.clip(perim, 0.0, None)
    given = _override(buildings, "exposed_perimeter_m")
    return np.where(np.isfinite(given), given, perim)


def _segments(geoms: npt.NDArray[np.object_]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of every footprint ring: start points, end points (M, 2) and owning row (M,)."""
    valid = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    rows = np.flatnonzero(valid)
    rings, ring_owner = shapely.get_parts(shapely.boundary(geoms[rows]), return_index=True)
    xy, ring_idx = shapely.get_coordinates(rings, return_index=True)
    same = ring_idx[1:] == ring_idx[:-1]
    p0, p1 = xy[:-1][same], xy[1:][same]
    owner = rows[ring_owner[ring_idx[:-1][same]]]
    nonzero = np.hypot(*(p1 - p0).T) > 0
    return p0[nonzero], p1[nonzero], owner[nonzero]


def _warn_orphans(surfaces: pd.DataFrame, buildings: pd.DataFrame) -> None:
    orphan = ~surfaces["building_id"].isin(set(buildings["building_id"]))
    if orphan.any():
        ids = sorted(set(surfaces.loc[orphan, "building_id"]))[:5]
        warnings.warn(
            f"{int(orphan.sum())} surface(s) belong to no building of the model (e.g. building_id={ids}); "
            "they are ignored by the heat balance.",
            TwinWarning,
            stacklevel=3,
        )
