"""What-if edits of the street network and demand: pure functions ``(model, ...) -> new model``.

Scenarios change a copy of the baseline model and compare the results
(ARCHITECTURE.md, "What-if scenarios").  Every edit here is pure: it never
touches the model it is given, and returns a new :class:`~twin.model.CityModel`
with the change applied.  An edit that finds nothing to change returns an
unchanged copy.  The edits Brussels scenarios need most (Good Move, Ville 30):

==========================  ====================================================
:func:`close_links`          take modes off links (a modal filter, a street closed to cars)
:func:`close_area`           the same for every link inside a polygon (a "maille apaisée")
:func:`set_speed_in_polygon` change the speed limit of the links inside a polygon (a 30 or 20 zone)
:func:`set_lanes`            change lanes and, with them, capacity
:func:`add_link`             add a street (one or both directions)
:func:`scale_demand`         scale residents and jobs (all, or selected buildings)
==========================  ====================================================

:data:`EDITS` maps each name to its function so that scenario specs can name
them; :func:`apply_edit` applies one by name.

Examples
--------
>>> from simulation.mobility.sample import sample_model
>>> base = sample_model(60, seed=1)
>>> variant = apply_edit(base, "close_links", link_ids=[0, 1])
>>> variant.links.loc[variant.links["link_id"] == 0, "modes"].item(), base.links["modes"].iloc[0]
('bike,walk', 'car,bike,walk')
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from twin.crs import to_crs
from twin.errors import ScenarioValidationError, UnknownEntityError
from twin.model import CityModel
from twin.typing import CRSLike

__all__ = [
    "EDITS",
    "add_link",
    "apply_edit",
    "close_area",
    "close_links",
    "links_in_polygon",
    "scale_demand",
    "set_lanes",
    "set_speed_in_polygon",
]

_PREDICATES = ("within", "intersects")


def _check_modes(modes: Sequence[str]) -> list[str]:
    modes = [modes] if isinstance(modes, str) else list(modes)
    bad = set(modes) - {"car", "bike", "walk"}
    if bad or not modes:
        raise ScenarioValidationError(f"Unknown mode(s) {sorted(bad)}; choose among car, bike, walk.")
    return modes


def _link_rows(model: CityModel, link_ids: Iterable[int]) -> np.ndarray:
    ids = np.atleast_1d(np.asarray(list(link_ids), dtype=np.int64))
    known = model.links["link_id"].to_numpy()
    missing = ~np.isin(ids, known)
    if missing.any():
        raise UnknownEntityError(
            f"Unknown link_id(s) {ids[missing][:5].tolist()} in model {model.name!r} ({len(known)} links)."
        )
    return np.isin(known, ids)


def links_in_polygon(
    model: CityModel, polygon: BaseGeometry, *, crs: CRSLike | None = None, predicate: str = "within"
) -> np.ndarray:
    """Boolean mask of the model's links ``within`` (or that ``intersects``) a polygon.

    ``crs`` is the polygon's CRS (default: the model's); it is reprojected.
    """
    if predicate not in _PREDICATES:
        raise ScenarioValidationError(f"predicate must be one of {list(_PREDICATES)}, got {predicate!r}.")
    if crs is not None and not to_crs(crs).equals(model.crs):
        polygon = gpd.GeoSeries([polygon], crs=to_crs(crs)).to_crs(model.crs).iloc[0]
    geoms = model.links.geometry.to_numpy()
    if predicate == "within":
        return np.asarray(shapely.within(geoms, polygon), dtype=bool)
    return np.asarray(shapely.intersects(geoms, polygon), dtype=bool)


def _remove_modes(text: str, modes: list[str]) -> str:
    return ",".join(t for t in str(text).replace(" ", "").split(",") if t and t not in modes)


def close_links(model: CityModel, link_ids: Iterable[int], *, modes: Sequence[str] = ("car",)) -> CityModel:
    """A copy with ``modes`` taken off the given links (the links stay for the other modes).

    Parameters
    ----------
    model : CityModel
    link_ids : iterable of int
        ``link_id`` of each directed link to close (close both directions by naming both).
    modes : sequence of {"car", "bike", "walk"}
        Modes the links are closed to (default cars only: a modal filter).

    Returns
    -------
    CityModel

    Raises
    ------
    UnknownEntityError
        When a link id is not in the model.
    """
    modes = _check_modes(modes)
    mask = _link_rows(model, link_ids)
    return _close(model, mask, modes)


def _close(model: CityModel, mask: np.ndarray, modes: list[str]) -> CityModel:
    new = model.copy()
    links = new.links.copy()
    links.loc[mask, "modes"] = [_remove_modes(t, modes) for t in links.loc[mask, "modes"]]
    new.links = links
    return new


def close_area(
    model: CityModel,
    polygon: BaseGeometry,
    *,
    modes: Sequence[str] = ("car",),
    crs: CRSLike | None = None,
    predicate: str = "within",
) -> CityModel:
    """A copy with every link inside ``polygon`` closed to ``modes`` (a low-traffic neighbourhood).

    With ``predicate="within"`` (default) the streets bounding the area stay
    open; ``"intersects"`` also closes links crossing its edge.
    """
    modes = _check_modes(modes)
    return _close(model, links_in_polygon(model, polygon, crs=crs, predicate=predicate), modes)


def set_speed_in_polygon(
    model: CityModel,
    polygon: BaseGeometry,
    speed_kmh: float,
    *,
    road_classes: Sequence[str] | None = None,
    only_lower: bool = False,
    crs: CRSLike | None = None,
    predicate: str = "within",
) -> CityModel:
    """A copy with ``free_speed_kmh`` set on the links inside ``polygon`` (e.g. a 30 km/h zone).

    Parameters
    ----------
    model : CityModel
    polygon : shapely geometry
        The zone (model CRS unless ``crs`` is given).
    speed_kmh : float
        New speed limit, km/h (``> 0``).
    road_classes : sequence of str, optional
        Only links of these ``road_class`` values (e.g. ``["local"]``).
    only_lower : bool
        Never raise a link's speed (keep the lower of old and new).
    crs, predicate
        See :func:`links_in_polygon`.
    """
    if not speed_kmh > 0:
        raise ScenarioValidationError(f"speed_kmh must be > 0, got {speed_kmh}; close the links instead.")
    mask = links_in_polygon(model, polygon, crs=crs, predicate=predicate)
    if road_classes is not None:
        mask &= model.links["road_class"].isin(list(road_classes)).to_numpy()
    new = model.copy()
    links = new.links.copy()
    old = links.loc[mask, "free_speed_kmh"].to_numpy(float)
    links.loc[mask, "free_speed_kmh"] = np.minimum(old, speed_kmh) if only_lower else float(speed_kmh)
    new.links = links
    return new


def set_lanes(
    model: CityModel, link_ids: Iterable[int], lanes: int, *, capacity_per_lane_veh_h: float | None = None
) -> CityModel:
    """A copy with ``lanes`` lanes on the given links and capacity changed with them.

    Capacity becomes ``lanes x capacity per lane``, where the capacity per
    lane is ``capacity_per_lane_veh_h`` or else the link's current capacity
    divided by its current lanes.

    Raises
    ------
    ScenarioValidationError
        For ``lanes < 1`` (close the link instead) or an unknown per-lane capacity.
    UnknownEntityError
        When a link id is not in the model.
    """
    if int(lanes) < 1:
        raise ScenarioValidationError(f"lanes must be >= 1, got {lanes}; use close_links to remove a link.")
    mask = _link_rows(model, link_ids)
    new = model.copy()
    links = new.links.copy()
    old_lanes = links.loc[mask, "lanes"].to_numpy(float)
    old_cap = links.loc[mask, "capacity_veh_h"].to_numpy(float)
    if capacity_per_lane_veh_h is None:
        if (old_lanes <= 0).any():
            raise ScenarioValidationError("Some links have 0 lanes: give capacity_per_lane_veh_h.")
        per_lane = old_cap / old_lanes
    else:
        per_lane = np.full(int(mask.sum()), float(capacity_per_lane_veh_h))
    links.loc[mask, "lanes"] = int(lanes)
    links.loc[mask, "capacity_veh_h"] = per_lane * int(lanes)
    new.links = links
    return new


def add_link(
    model: CityModel,
    from_node: int,
    to_node: int,
    *,
    both_directions: bool = False,
    free_speed_kmh: float = 30.0,
    lanes: int = 1,
    capacity_veh_h: float | None = None,
    modes: str = "car,bike,walk",
    road_class: str = "local",
    name: str = "",
    alpha: float = 0.15,
    beta: float = 4.0,
    geometry: shapely.LineString | None = None,
) -> CityModel:
    """A copy with a new link ``from_node -> to_node`` (and back with ``both_directions``).

    The link gets the next free ``link_id``(s); its length is that of
    ``geometry`` or of the straight line between the nodes; capacity defaults
    to 600 veh/h per lane.

    Raises
    ------
    UnknownEntityError
        When a node id is not in the model.
    ScenarioValidationError
        For a speed ``<= 0`` or ``lanes < 1``.
    """
    if not free_speed_kmh > 0 or int(lanes) < 1:
        raise ScenarioValidationError("A new link needs free_speed_kmh > 0 and lanes >= 1.")
    nodes = model.nodes.set_index("node_id")
    for nid in (from_node, to_node):
        if nid not in nodes.index:
            raise UnknownEntityError(f"Unknown node_id {nid} in model {model.name!r}.")
    p, q = nodes.geometry.loc[from_node], nodes.geometry.loc[to_node]
    line = geometry if geometry is not None else shapely.LineString([p, q])
    start = int(model.links["link_id"].max()) + 1 if len(model.links) else 0
    row = {
        "name": name,
        "road_class": road_class,
        "length_m": float(line.length),
        "free_speed_kmh": float(free_speed_kmh),
        "capacity_veh_h": float(capacity_veh_h if capacity_veh_h is not None else 600.0 * int(lanes)),
        "lanes": int(lanes),
        "modes": modes,
        "alpha": float(alpha),
        "beta": float(beta),
    }
    rows = [{"link_id": start, "from_node": int(from_node), "to_node": int(to_node), **row, "geometry": line}]
    if both_directions:
        rows.append(
            {
                "link_id": start + 1,
                "from_node": int(to_node),
                "to_node": int(from_node),
                **row,
                "geometry": shapely.reverse(line),
            }
        )
    added = gpd.GeoDataFrame(rows, geometry="geometry", crs=model.crs)
    new = model.copy()
    new.links = gpd.GeoDataFrame(
        pd.concat([new.links, added], ignore_index=True), geometry="geometry", crs=model.crs
    )
    return new


def scale_demand(
    model: CityModel,
    factor: float,
    *,
    building_ids: Iterable[str] | None = None,
    columns: Sequence[str] = ("residents", "jobs"),
) -> CityModel:
    """A copy with residents and/or jobs multiplied by ``factor`` (rounded to whole people).

    Demand generated from activities (:func:`simulation.mobility.gravity_demand`)
    follows.  To scale an OD matrix exactly, use
    :func:`simulation.mobility.scale_od`.

    Raises
    ------
    ScenarioValidationError
        For a negative factor or an unknown column.
    UnknownEntityError
        When a building id has no activities row.
    """
    if not (np.isfinite(factor) and factor >= 0):
        raise ScenarioValidationError(f"factor must be finite and >= 0, got {factor}.")
    bad = set(columns) - {"residents", "jobs"}
    if bad:
        raise ScenarioValidationError(f"Can scale residents and jobs, not {sorted(bad)}.")
    act = model.activities.copy()
    mask = np.ones(len(act), dtype=bool)
    if building_ids is not None:
        ids = set(building_ids)
        unknown = ids - set(act["building_id"])
        if unknown:
            raise UnknownEntityError(f"No activities for building_id(s) {sorted(unknown)[:5]}.")
        mask = act["building_id"].isin(ids).to_numpy()
    for col in columns:
        act.loc[mask, col] = np.rint(act.loc[mask, col].to_numpy(float) * factor).astype(np.int64)
    new = model.copy()
    new.activities = act
    return new


#: Edits by name (for scenario specs).
EDITS: dict[str, Callable[..., CityModel]] = {
    "close_links": close_links,
    "close_area": close_area,
    "set_speed_in_polygon": set_speed_in_polygon,
    "set_lanes": set_lanes,
    "add_link": add_link,
    "scale_demand": scale_demand,
}


def apply_edit(model: CityModel, name: str, **params: Any) -> CityModel:
    """Apply the edit called ``name`` (a key of :data:`EDITS`) with keyword parameters.

    Raises
    ------
    ScenarioValidationError
        For an unknown edit, or parameters the edit does not take (the
        message shows its signature).
    """
    if name not in EDITS:
        raise ScenarioValidationError(f"Unknown mobility edit {name!r}; choose one of {sorted(EDITS)}.")
    func = EDITS[name]
    signature = inspect.signature(func)
    try:
        signature.bind(model, **params)
    except TypeError as err:
        raise ScenarioValidationError(f"{name}{signature}: {err}") from err
    return func(model, **params)
