"""Accessibility: the Brussels "ville à 10/15 minutes" indicators per building, and isochrones.

For every building and every kind of service (school, shop, doctor,
supermarket ...), :func:`accessibility` gives the travel time by walking or
cycling to the nearest service of that kind and the number of such services
within 10 and 15 minutes.  Brussels' Good Move plan and the
"ville à 10 minutes" ambition (a city where daily needs are within a short
walk or ride) make these the indicators scenarios are judged by.

Method (mobility reference sheet, section 4): instead of one search per
building, the searches start from the services, on the *reversed* graph, so
that distances are travel times *towards* the services:

* time to the nearest service of a kind: one multi-source Dijkstra from all
  services of that kind at once (``kernels.paths.nearest_source``);
* services within T minutes: one search bounded by T from each service,
  counting for every building it reaches (``kernels.paths.count_within``,
  parallel over services).

The sheet measured this 10-137x faster than per-origin searches or
contraction hierarchies on a 100,000-node grid.

Access legs: a building joins the network at the node nearest to a point
inside its footprint; the straight-line distance is walked at the walking
speed at both ends (door to street, street to the service's door).
Buildings farther than ``max_access_m`` from every node of the mode's graph
are reported as unreachable (NaN).
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy.spatial import cKDTree
from shapely import ops

from kernels.paths import count_within, dijkstra, nearest_source
from simulation.mobility.network import SPEEDS_KMH, ModeGraph, mode_graph
from twin.errors import ScenarioValidationError
from twin.model import CityModel

__all__ = ["MAX_ACCESS_M", "accessibility", "isochrone", "snap_to_graph"]

#: Buildings or points farther than this from every node of a graph are not connected, metres.
MAX_ACCESS_M = 500.0
#: Fixed number of work chunks of the parallel counting kernel (thread-count independent results).
N_CHUNKS = 16


def snap_to_graph(
    graph: ModeGraph, xy: npt.ArrayLike, *, max_access_m: float = MAX_ACCESS_M, walk_kmh: float | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Nearest connected node of each point and the walking time to it.

    Parameters
    ----------
    graph : ModeGraph
        Only nodes with at least one edge are candidates.
    xy : (k, 2) float64
        Points, model CRS metres.
    max_access_m : float
        Points farther than this from every candidate get node ``-1`` and time ``inf``.
    walk_kmh : float, optional
        Walking speed of the access leg (default :data:`SPEEDS_KMH` ``["walk"]``).

    Returns
    -------
    node : (k,) int64
        Node index (``-1`` when not connected).
    access_s : (k,) float64
        Walking time from the point to the node, seconds.
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    speed = (walk_kmh or SPEEDS_KMH["walk"]) / 3.6
    degree = np.bincount(graph.tails, minlength=graph.n_nodes) + np.bincount(
        graph.heads, minlength=graph.n_nodes
    )
    candidates = np.flatnonzero(degree > 0)
    node = np.full(len(xy), -1, dtype=np.int64)
    access = np.full(len(xy), np.inf)
    if len(candidates) == 0 or len(xy) == 0:
        return node, access
    dist, k = cKDTree(graph.xy[candidates]).query(xy)
    ok = dist <= max_access_m
    node[ok] = candidates[k[ok]]
    access[ok] = dist[ok] / speed
    return node, access


def _targets_by_node(
    node: npt.NDArray[np.int64], n_nodes: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    valid = np.flatnonzero(node >= 0)
    order = valid[np.argsort(node[valid], kind="stable")]
    ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(node[valid], minlength=n_nodes), out=ptr[1:])
    return ptr, np.ascontiguousarray(order, dtype=np.int64)


def accessibility(
    model: CityModel,
    *,
    modes: Sequence[str] = ("walk", "bike"),
    services: Sequence[str] | None = None,
    thresholds_min: Sequence[float] = (10, 15),
    speeds_kmh: dict[str, float] | None = None,
    max_access_m: float = MAX_ACCESS_M,
) -> gpd.GeoDataFrame:
    """Travel time to the nearest service of each kind, and services within thresholds, per building.

    Parameters
    ----------
    model : CityModel
        Model with ``buildings``, street ``nodes``/``links`` and ``activities``
        (``service`` names the service a building offers).
    modes : sequence of {"walk", "bike", "car"}
        Modes to compute (see :func:`simulation.mobility.mode_graph`).
    services : sequence of str, optional
        Service kinds (default: every non-empty ``activities.service``).
    thresholds_min : sequence of float
        Travel-time thresholds, minutes (the Brussels 10 and 15 minutes).
    speeds_kmh : dict, optional
        Walking / cycling speeds overriding :data:`SPEEDS_KMH`.
    max_access_m : float
        Buildings farther than this from the mode's network are unreachable.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per building, in ``model.buildings`` order, with the
        footprint geometry and CRS of the model, ``building_id`` and per
        mode and service kind:

        * ``{mode}_{service}_min``: minutes to the nearest one (NaN if none is reachable);
        * ``{mode}_{service}_within_{T}min``: how many are reachable within T minutes;

        and per mode and threshold ``{mode}_kinds_within_{T}min``: how many
        of the service kinds have one within T minutes (the "ville à T
        minutes" score; all kinds means the building passes).

    Raises
    ------
    ScenarioValidationError
        Unknown mode, service kind or threshold ``<= 0``.
    SchemaError
        When the model has no network.

    Examples
    --------
    >>> from simulation.mobility.sample import sample_model
    >>> model = sample_model(60, seed=1)
    >>> acc = accessibility(model, modes=("walk",), services=("school",))
    >>> bool((acc["walk_school_min"] > 0).all()), "walk_school_within_15min" in acc
    (True, True)
    """
    thresholds = np.asarray(sorted(float(t) for t in thresholds_min), dtype=np.float64)
    if len(thresholds) == 0 or (thresholds <= 0).any():
        raise ScenarioValidationError(f"thresholds_min must be positive minutes, got {list(thresholds_min)}.")
    b = model.buildings
    act = model.activities
    offered = act[act["service"].astype(str) != ""][["building_id", "service"]]
    kinds = sorted(offered["service"].unique()) if services is None else list(services)
    unknown = set(kinds) - set(offered["service"])
    if unknown and services is not None:
        known = sorted(offered["service"].unique())
        raise ScenarioValidationError(
            f"No building offers service(s) {sorted(unknown)}; the model has {known}."
        )
    walk_kmh = (speeds_kmh or {}).get("walk", SPEEDS_KMH["walk"])
    points = (
        shapely.get_coordinates(b.geometry.representative_point().to_numpy()) if len(b) else np.zeros((0, 2))
    )
    out = gpd.GeoDataFrame(
        {"building_id": b["building_id"].to_numpy()}, geometry=b.geometry.to_numpy(), crs=model.crs
    )
    pos = pd.Series(np.arange(len(b)), index=b["building_id"].to_numpy())
    columns: dict[str, npt.NDArray] = {}
    for mode in modes:
        graph = mode_graph(model, mode, speeds_kmh=speeds_kmh)
        node, access = snap_to_graph(graph, points, max_access_m=max_access_m, walk_kmh=walk_kmh)
        ptr, ids = _targets_by_node(node, graph.n_nodes)
        rev_ptr, rev_head, rev_link = graph.reverse
        kinds_within = np.zeros((len(b), len(thresholds)), dtype=np.int64)
        for kind in kinds:
            rows = pos.reindex(offered.loc[offered["service"] == kind, "building_id"].to_numpy()).dropna()
            rows = rows.to_numpy(dtype=np.int64)
            rows = rows[node[rows] >= 0]
            src = np.ascontiguousarray(node[rows])
            src_dist = np.ascontiguousarray(access[rows])
            t_min = np.full(len(b), np.nan)
            counts = np.zeros((len(b), len(thresholds)))
            if len(src):
                dist, _ = nearest_source(rev_ptr, rev_head, rev_link, graph.time_s, src, src_dist, np.inf)
                reach = node >= 0
                total = np.full(len(b), np.inf)
                total[reach] = dist[node[reach]] + access[reach]
                t_min = np.where(np.isfinite(total), total / 60.0, np.nan)
                counts = count_within(
                    rev_ptr,
                    rev_head,
                    rev_link,
                    graph.time_s,
                    src,
                    src_dist,
                    np.ones(len(src)),
                    thresholds * 60.0,
                    ptr,
                    ids,
                    np.where(np.isfinite(access), access, 0.0),
                    len(b),
                    N_CHUNKS,
                )
            columns[f"{mode}_{kind}_min"] = t_min
            for j, thr in enumerate(thresholds):
                columns[f"{mode}_{kind}_within_{_fmt(thr)}min"] = counts[:, j].astype(np.int64)
                kinds_within[:, j] += (t_min <= thr).astype(np.int64)
        for j, thr in enumerate(thresholds):
            columns[f"{mode}_kinds_within_{_fmt(thr)}min"] = kinds_within[:, j]
    for name, values in columns.items():
        out[name] = values
    return out


def _fmt(minutes: float) -> str:
    return str(int(minutes)) if float(minutes).is_integer() else f"{minutes:g}".replace(".", "_")


def isochrone(
    model: CityModel,
    x: float,
    y: float,
    minutes: float | Sequence[float],
    mode: str = "walk",
    *,
    buffer_m: float = 25.0,
    speeds_kmh: dict[str, float] | None = None,
    max_access_m: float = MAX_ACCESS_M,
) -> gpd.GeoDataFrame:
    """Area reachable from a point within given travel times (forward bounded Dijkstra).

    The point joins the network at its nearest node (walked straight at the
    walking speed).  Every link is kept up to the point a traveller reaches
    within the time (partially reached links are cut along their geometry),
    and the reached lines are buffered by ``buffer_m`` and merged.

    Parameters
    ----------
    model : CityModel
    x, y : float
        The point, model CRS metres.
    minutes : float or sequence of float
        Travel-time budgets, minutes.
    mode : {"walk", "bike", "car"}
    buffer_m : float
        Half-width of the area kept around reached streets, metres.
    speeds_kmh, max_access_m
        As in :func:`accessibility`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per budget (ascending): ``minutes``, ``mode``, ``n_nodes``
        reached, ``area_m2`` and the (multi)polygon, in the model's CRS.

    Raises
    ------
    ScenarioValidationError
        For budgets ``<= 0`` or a point farther than ``max_access_m`` from the network.
    """
    budgets = sorted(float(m) for m in np.atleast_1d(minutes))
    if not budgets or budgets[0] <= 0:
        raise ScenarioValidationError(f"minutes must be positive, got {minutes}.")
    graph = mode_graph(model, mode, speeds_kmh=speeds_kmh)
    walk_kmh = (speeds_kmh or {}).get("walk", SPEEDS_KMH["walk"])
    node, access = snap_to_graph(graph, [[x, y]], max_access_m=max_access_m, walk_kmh=walk_kmh)
    if node[0] < 0:
        raise ScenarioValidationError(
            f"Point ({x:.1f}, {y:.1f}) is more than {max_access_m} m from the {mode} network."
        )
    limit = budgets[-1] * 60.0 - access[0]
    indptr, adj_head, adj_link = graph.forward
    dist = np.full(graph.n_nodes, np.inf)
    if limit >= 0:
        dist, _, _ = dijkstra(
            indptr, adj_head, adj_link, graph.time_s, np.zeros(graph.n_nodes, bool), int(node[0]), limit
        )
    dist = dist + access[0]
    geoms = _edge_geometries(model, graph)
    rows = []
    for budget in budgets:
        t = budget * 60.0
        d_tail = dist[graph.tails]
        ok = np.flatnonzero(d_tail < t)
        parts = []
        for e in ok.tolist():
            line = geoms[e]
            te = graph.time_s[e]
            frac = 1.0 if te <= 0 else min(1.0, (t - d_tail[e]) / te)
            parts.append(line if frac >= 1.0 else ops.substring(line, 0.0, frac, normalized=True))
        reached = int((dist <= t).sum())
        origin = shapely.Point(graph.xy[node[0]])
        parts.append(shapely.LineString([(x, y), origin.coords[0]]) if access[0] > 0 else origin)
        area = shapely.union_all(shapely.buffer(np.asarray(parts, dtype=object), buffer_m))
        rows.append(
            {
                "minutes": budget,
                "mode": mode,
                "n_nodes": reached,
                "area_m2": float(area.area),
                "geometry": area,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=model.crs)


def _edge_geometries(model: CityModel, graph: ModeGraph) -> npt.NDArray[np.object_]:
    """Line of each graph edge, oriented tail -> head (model link geometry, reversed where needed)."""
    links = model.links
    by_id = pd.Series(links.geometry.to_numpy(), index=links["link_id"].to_numpy())
    lines = by_id.reindex(graph.link_ids).to_numpy()
    out = np.empty(len(lines), dtype=object)
    for e, line in enumerate(lines):
        tail_xy = graph.xy[graph.tails[e]]
        head_xy = graph.xy[graph.heads[e]]
        if line is None or (isinstance(line, float)) or line.is_empty:
            out[e] = shapely.LineString([tail_xy, head_xy])
            continue
        first = np.asarray(line.coords[0])
        if np.hypot(*(first - tail_xy)) > np.hypot(*(first - head_xy)):
            line = shapely.reverse(line)
        out[e] = line
    return out
