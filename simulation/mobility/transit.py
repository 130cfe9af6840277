"""Walk + public transport travel times from a GTFS feed (RAPTOR, departure windows).

:func:`build_timetable` turns a GTFS feed (``bim_ingest.gtfs.read_gtfs``) into the
flat arrays of :mod:`kernels.raptor` for one service day: the trips running
that day (``calendar`` + ``calendar_dates``), grouped into patterns (same
stops in the same order, with the same pickup/drop-off rules) that are split
further wherever a trip would overtake another, and footpaths between stops closer than
``max_transfer_m``.  :func:`transit_times` gives door-to-door times from
origins to targets for one or several departure times:

    walk to any stop within ``max_access_m`` -> RAPTOR (at most
    ``max_rounds`` vehicles, one footpath between two of them) -> walk from a
    stop within ``max_access_m`` to the target,

or the direct walk if that is faster.  Over a departure window the times are
summarised per origin-target pair by the median or the minimum over the
departures, as Conveyal R5 / r5py report travel-time percentiles over a window
(the reference sheet, section 4, names R5 as the literature peer for this).

Assumptions, stated as such: walking legs are straight lines at the walking
speed (``SPEEDS_KMH["walk"]``) times ``detour`` (default 1.0, no street network
yet); footpaths are not transitively closed (two stops each within
``max_transfer_m`` of a third may be farther apart), so RAPTOR's one footpath
between vehicles is what the footpath radius allows; no minimum transfer time
beyond walking.  Stop coordinates (WGS84) are projected to the model CRS
(default EPSG:31370, Belgian Lambert 72).

Examples
--------
>>> import pathlib, tempfile
>>> from bim_ingest.gtfs import read_gtfs
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "stops.txt").write_text(
...     "stop_id,stop_lat,stop_lon\\nA,50.8500,4.3500\\nB,50.8500,4.4000\\n")
>>> _ = (d / "routes.txt").write_text("route_id,route_type\\nR,0\\n")
>>> _ = (d / "trips.txt").write_text("route_id,service_id,trip_id\\nR,S,T1\\n")
>>> _ = (d / "calendar_dates.txt").write_text("service_id,date,exception_type\\nS,20241216,1\\n")
>>> _ = (d / "stop_times.txt").write_text(
...     "trip_id,arrival_time,departure_time,stop_id,stop_sequence\\n"
...     "T1,08:05:00,08:05:00,A,1\\nT1,08:15:00,08:15:00,B,2\\n")
>>> tt = build_timetable(read_gtfs(d), "2024-12-16")
>>> a, b = tt.xy
>>> minutes = transit_times(tt, [a], [b], 8 * 3600.0) / 60.0   # board at 08:05, arrive 08:15
>>> round(float(minutes[0, 0]), 6)
15.0
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from kernels.raptor import raptor
from simulation.mobility.network import SPEEDS_KMH
from twin.errors import ScenarioValidationError
from twin.model import CityModel

__all__ = ["FeedLike", "Timetable", "build_timetable", "transit_accessibility", "transit_times"]


class FeedLike(Protocol):
    """What :func:`build_timetable` reads from a feed (``bim_ingest.gtfs.GtfsFeed`` has it).

    ``simulation/`` does not import the readers, so the feed is described here.
    """

    stops: pd.DataFrame
    trips: pd.DataFrame
    stop_times: pd.DataFrame

    def services_on(self, date: str | dt.date) -> set[str]: ...


#: Default radius of footpaths between stops, metres.
MAX_TRANSFER_M = 250.0
#: Default longest walk from an origin to a stop or from a stop to a target, metres.
MAX_ACCESS_M = 500.0


@dataclass
class Timetable:
    """One service day of a feed as RAPTOR arrays (layout in :mod:`kernels.raptor`)."""

    date: dt.date | str
    stop_ids: npt.NDArray[np.object_]
    xy: npt.NDArray[np.float64]
    route_stop_ptr: npt.NDArray[np.int64]
    route_stops: npt.NDArray[np.int64]
    route_trip_ptr: npt.NDArray[np.int64]
    time_ptr: npt.NDArray[np.int64]
    arr: npt.NDArray[np.float64]
    dep: npt.NDArray[np.float64]
    board: npt.NDArray[np.bool_]
    alight: npt.NDArray[np.bool_]
    stop_route_ptr: npt.NDArray[np.int64]
    stop_route: npt.NDArray[np.int64]
    stop_pos: npt.NDArray[np.int64]
    fp_ptr: npt.NDArray[np.int64]
    fp_to: npt.NDArray[np.int64]
    fp_time: npt.NDArray[np.float64]
    trip_ids: list[list[str]]

    @property
    def n_stops(self) -> int:
        return len(self.stop_ids)

    @property
    def n_routes(self) -> int:
        return len(self.route_stop_ptr) - 1

    def earliest_arrival(
        self, src_stops: npt.ArrayLike, src_times: npt.ArrayLike, max_rounds: int = 4
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """Earliest arrival (s) at every stop and the vehicles used (``kernels.raptor.raptor``)."""
        return raptor(
            self.n_stops,
            self.route_stop_ptr,
            self.route_stops,
            self.route_trip_ptr,
            self.time_ptr,
            self.arr,
            self.dep,
            self.board,
            self.alight,
            self.stop_route_ptr,
            self.stop_route,
            self.stop_pos,
            self.fp_ptr,
            self.fp_to,
            self.fp_time,
            np.ascontiguousarray(src_stops, dtype=np.int64),
            np.ascontiguousarray(src_times, dtype=np.float64),
            int(max_rounds),
        )


def _walk_speed(walk_kmh: float | None, detour: float) -> float:
    speed = (walk_kmh or SPEEDS_KMH["walk"]) / 3.6 / detour
    if not speed > 0:
        raise ScenarioValidationError(
            f"Walking speed must be positive, got {walk_kmh} km/h, detour {detour}."
        )
    return speed


def build_timetable(
    feed: FeedLike,
    date: str | dt.date,
    *,
    crs: str | int = "EPSG:31370",
    max_transfer_m: float = MAX_TRANSFER_M,
    walk_kmh: float | None = None,
    detour: float = 1.0,
) -> Timetable:
    """RAPTOR arrays for the trips of ``feed`` running on ``date``.

    Parameters
    ----------
    feed : FeedLike
        A ``bim_ingest.gtfs.GtfsFeed`` (``read_gtfs``).
    date : str or datetime.date
        Service day (``"YYYY-MM-DD"``); times stay relative to its midnight.
    crs : CRS of the coordinates used for walking (metres).
    max_transfer_m : float
        Footpaths join stops closer than this (straight line), metres.
    walk_kmh, detour : float
        Walking speed (default ``SPEEDS_KMH["walk"]``) and the factor on
        straight-line distances.

    Raises
    ------
    ScenarioValidationError
        No trip of the feed runs on ``date``.
    """
    speed = _walk_speed(walk_kmh, detour)
    services = feed.services_on(date)
    trips = feed.trips[feed.trips["service_id"].isin(services)]
    st = feed.stop_times[feed.stop_times["trip_id"].isin(set(trips["trip_id"]))]
    if st.empty:
        raise ScenarioValidationError(f"No trip of the GTFS feed runs on {date}.")
    stop_ids = np.array(sorted(st["stop_id"].unique()), dtype=object)
    index = pd.Series(np.arange(len(stop_ids)), index=stop_ids)
    stops = feed.stops.set_index("stop_id").loc[stop_ids]
    tf = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tf.transform(stops["lon"].to_numpy(), stops["lat"].to_numpy())
    xy = np.column_stack([x, y]).astype(np.float64)

    # trips as (stops, arrivals, departures, board, alight), grouped into patterns
    st = st.sort_values(["trip_id", "stop_sequence"], kind="stable")
    tid = st["trip_id"].to_numpy()
    sidx = index.loc[st["stop_id"].to_numpy()].to_numpy()
    arr_all = st["arrival_s"].to_numpy(dtype=np.float64)
    dep_all = st["departure_s"].to_numpy(dtype=np.float64)
    pick = st["pickup"].to_numpy(dtype=bool)
    drop = st["dropoff"].to_numpy(dtype=bool)
    starts = np.flatnonzero(np.r_[True, tid[1:] != tid[:-1]])
    ends = np.r_[starts[1:], len(tid)]
    # A pattern is a stop sequence with its pickup/drop-off flags: RAPTOR takes the earliest
    # catchable trip of a route, which dominates the later ones only if they may stop alike.
    patterns: dict[tuple[tuple[int, ...], tuple[bool, ...], tuple[bool, ...]], list[int]] = {}
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        key = (tuple(sidx[a:b].tolist()), tuple(pick[a:b].tolist()), tuple(drop[a:b].tolist()))
        patterns.setdefault(key, []).append(i)

    route_stops: list[np.ndarray] = []
    blocks: list[tuple[np.ndarray, ...]] = []
    trip_ids: list[list[str]] = []
    for (key, _, _), members in sorted(patterns.items()):
        members.sort(key=lambda i: (dep_all[starts[i]], arr_all[ends[i] - 1], tid[starts[i]]))
        groups: list[list[int]] = []  # split so that no trip overtakes another (RAPTOR's FIFO condition)
        for i in members:
            a = starts[i]
            for g in groups:
                last = starts[g[-1]]
                n = len(key)
                if (dep_all[a : a + n] >= dep_all[last : last + n]).all() and (
                    arr_all[a : a + n] >= arr_all[last : last + n]
                ).all():
                    g.append(i)
                    break
            else:
                groups.append([i])
        for g in groups:
            rows = np.concatenate([np.arange(starts[i], ends[i]) for i in g])
            route_stops.append(np.asarray(key, dtype=np.int64))
            blocks.append((arr_all[rows], dep_all[rows], pick[rows], drop[rows]))
            trip_ids.append([str(tid[starts[i]]) for i in g])

    lengths = np.array([len(r) for r in route_stops], dtype=np.int64)
    n_trips = np.array([len(t) for t in trip_ids], dtype=np.int64)
    route_stop_ptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    route_trip_ptr = np.r_[0, np.cumsum(n_trips)].astype(np.int64)
    time_ptr = np.r_[0, np.cumsum(lengths * n_trips)][:-1].astype(np.int64)
    flat_stops = np.concatenate(route_stops)
    arr = np.concatenate([b[0] for b in blocks])
    dep = np.concatenate([b[1] for b in blocks])
    board = np.concatenate([b[2] for b in blocks])
    alight = np.concatenate([b[3] for b in blocks])

    # stop -> (route, position)
    route_of = np.repeat(np.arange(len(route_stops)), lengths)
    pos = np.arange(len(flat_stops)) - np.repeat(route_stop_ptr[:-1], lengths)
    order = np.lexsort((pos, route_of, flat_stops))
    stop_route_ptr = np.zeros(len(stop_ids) + 1, dtype=np.int64)
    np.cumsum(np.bincount(flat_stops, minlength=len(stop_ids)), out=stop_route_ptr[1:])

    # footpaths between nearby stops
    pairs = (
        cKDTree(xy).query_pairs(max_transfer_m, output_type="ndarray") if len(xy) > 1 else np.zeros((0, 2))
    )
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    a = np.r_[pairs[:, 0], pairs[:, 1]]
    b = np.r_[pairs[:, 1], pairs[:, 0]]
    walk = np.hypot(*(xy[a] - xy[b]).T) / speed
    o = np.lexsort((b, a))
    fp_ptr = np.zeros(len(stop_ids) + 1, dtype=np.int64)
    np.cumsum(np.bincount(a, minlength=len(stop_ids)), out=fp_ptr[1:])
    return Timetable(
        date=date,
        stop_ids=stop_ids,
        xy=xy,
        route_stop_ptr=route_stop_ptr,
        route_stops=flat_stops.astype(np.int64),
        route_trip_ptr=route_trip_ptr,
        time_ptr=time_ptr,
        arr=arr,
        dep=dep,
        board=board,
        alight=alight,
        stop_route_ptr=stop_route_ptr,
        stop_route=route_of[order].astype(np.int64),
        stop_pos=pos[order].astype(np.int64),
        fp_ptr=fp_ptr,
        fp_to=b[o].astype(np.int64),
        fp_time=walk[o].astype(np.float64),
        trip_ids=trip_ids,
    )


def transit_times(
    tt: Timetable,
    origins_xy: npt.ArrayLike,
    targets_xy: npt.ArrayLike,
    departures_s: float | Sequence[float],
    *,
    statistic: str | None = None,
    max_rounds: int = 4,
    max_access_m: float = MAX_ACCESS_M,
    walk_kmh: float | None = None,
    detour: float = 1.0,
) -> npt.NDArray[np.float64]:
    """Door-to-door walk + transit travel times, seconds, from each origin to each target.

    Parameters
    ----------
    tt : Timetable
    origins_xy, targets_xy : (o, 2), (t, 2) float64
        Points in the timetable's CRS, metres.
    departures_s : float or sequence of float
        Departure time(s) from the origins, seconds after the service day's
        midnight (e.g. ``np.arange(8 * 3600, 9 * 3600, 60)`` for every minute
        of the 8-9 h window).
    statistic : {None, "median", "min"}
        ``None`` with one departure returns ``(o, t)``; with several it
        returns ``(d, o, t)``.  ``"median"``/``"min"`` summarise over the
        departures to ``(o, t)`` (``inf`` counts as unreachable, so a median
        is ``inf`` when fewer than half of the departures arrive).
    max_rounds : int
        Most vehicles per journey.
    max_access_m : float
        Longest walk to the first stop and from the last stop, metres.
    walk_kmh, detour : float
        Walking speed and factor on straight-line distances (also for the
        direct walk).

    Returns
    -------
    float64 array, seconds (``inf``: not reachable by walking plus transit).
    """
    speed = _walk_speed(walk_kmh, detour)
    o_xy = np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2)
    t_xy = np.asarray(targets_xy, dtype=np.float64).reshape(-1, 2)
    deps = np.atleast_1d(np.asarray(departures_s, dtype=np.float64))
    if statistic not in (None, "median", "min"):
        raise ScenarioValidationError(f"statistic must be None, 'median' or 'min', got {statistic!r}.")
    tree = cKDTree(tt.xy)
    # egress pairs (target, stop, walk seconds)
    near_t = tree.query_ball_point(t_xy, max_access_m) if len(t_xy) else []
    e_target = np.repeat(np.arange(len(t_xy)), [len(x) for x in near_t]).astype(np.int64)
    e_stop = np.array([s for x in near_t for s in x], dtype=np.int64)
    e_time = np.hypot(*(t_xy[e_target] - tt.xy[e_stop]).T) / speed if len(e_stop) else np.zeros(0)
    direct = np.hypot(o_xy[:, None, 0] - t_xy[None, :, 0], o_xy[:, None, 1] - t_xy[None, :, 1]) / speed
    out = np.full((len(deps), len(o_xy), len(t_xy)), np.inf)
    for i in range(len(o_xy)):
        near = np.asarray(tree.query_ball_point(o_xy[i], max_access_m), dtype=np.int64)
        access = np.hypot(*(tt.xy[near] - o_xy[i]).T) / speed if len(near) else np.zeros(0)
        for d, t0 in enumerate(deps):
            best = np.full(len(t_xy), np.inf)
            if len(near) and len(e_stop):
                arrive, _ = tt.earliest_arrival(near, t0 + access, max_rounds)
                np.minimum.at(best, e_target, arrive[e_stop] + e_time)
            out[d, i] = np.minimum(best - t0, direct[i])
    if statistic == "median":
        return np.median(out, axis=0)
    if statistic == "min":
        return out.min(axis=0)
    return out[0] if np.ndim(departures_s) == 0 else out


def transit_accessibility(
    model: CityModel,
    tt: Timetable,
    departures_s: float | Sequence[float],
    *,
    services: Sequence[str] | None = None,
    thresholds_min: Sequence[float] = (10, 15),
    statistic: str = "median",
    max_rounds: int = 4,
    max_access_m: float = MAX_ACCESS_M,
    walk_kmh: float | None = None,
    detour: float = 1.0,
) -> gpd.GeoDataFrame:
    """Walk + transit accessibility per building: the ``accessibility`` columns for a ``transit`` mode.

    Door-to-door times (:func:`transit_times`, from a point inside each
    building to a point inside each service building) summarised over the
    departures by ``statistic``.  One RAPTOR search per building and
    departure: fine for a district (hundreds of buildings, a departure window
    sampled every few minutes); a city-wide run wants the range-RAPTOR variant
    (not implemented).

    Parameters
    ----------
    model : CityModel
        Buildings and ``activities`` (``service``), in the timetable's CRS.
    tt : Timetable
        From :func:`build_timetable` with ``crs=model.crs``.
    departures_s : float or sequence of float
        Departure times, seconds after the service day's midnight.
    services, thresholds_min
        As in :func:`simulation.mobility.accessibility`.
    statistic : {"median", "min"}
        Summary over the departures.
    max_rounds, max_access_m, walk_kmh, detour
        As in :func:`transit_times`.

    Returns
    -------
    geopandas.GeoDataFrame
        ``building_id``, footprint, and ``transit_{service}_min`` (NaN when
        unreachable), ``transit_{service}_within_{T}min`` and
        ``transit_kinds_within_{T}min``.
    """
    if statistic not in ("median", "min"):
        raise ScenarioValidationError(f"statistic must be 'median' or 'min', got {statistic!r}.")
    thresholds = np.asarray(sorted(float(t) for t in thresholds_min), dtype=np.float64)
    if len(thresholds) == 0 or (thresholds <= 0).any():
        raise ScenarioValidationError(f"thresholds_min must be positive minutes, got {list(thresholds_min)}.")
    b = model.buildings
    act = model.activities
    offered = act[act["service"].astype(str) != ""][["building_id", "service"]]
    kinds = sorted(offered["service"].unique()) if services is None else list(services)
    unknown = set(kinds) - set(offered["service"])
    if unknown:
        raise ScenarioValidationError(f"No building offers service(s) {sorted(unknown)}.")
    points = (
        shapely.get_coordinates(b.geometry.representative_point().to_numpy()) if len(b) else np.zeros((0, 2))
    )
    pos = pd.Series(np.arange(len(b)), index=b["building_id"].to_numpy())
    out = gpd.GeoDataFrame(
        {"building_id": b["building_id"].to_numpy()}, geometry=b.geometry.to_numpy(), crs=model.crs
    )
    rows_of = {
        k: pos.reindex(offered.loc[offered["service"] == k, "building_id"].to_numpy()).dropna().to_numpy(int)
        for k in kinds
    }
    targets = np.unique(np.concatenate([rows_of[k] for k in kinds])) if kinds else np.zeros(0, dtype=int)
    times = transit_times(
        tt,
        points,
        points[targets],
        departures_s,
        statistic=statistic,
        max_rounds=max_rounds,
        max_access_m=max_access_m,
        walk_kmh=walk_kmh,
        detour=detour,
    )
    column = pd.Series(np.arange(len(targets)), index=targets)
    kinds_within = np.zeros((len(b), len(thresholds)), dtype=np.int64)
    for k in kinds:
        sub = times[:, column.loc[rows_of[k]].to_numpy()] / 60.0
        best = sub.min(axis=1) if sub.shape[1] else np.full(len(b), np.inf)
        out[f"transit_{k}_min"] = np.where(np.isfinite(best), best, np.nan)
        for j, thr in enumerate(thresholds):
            out[f"transit_{k}_within_{_fmt(thr)}min"] = (sub <= thr).sum(axis=1).astype(np.int64)
            kinds_within[:, j] += (best <= thr).astype(np.int64)
    for j, thr in enumerate(thresholds):
        out[f"transit_kinds_within_{_fmt(thr)}min"] = kinds_within[:, j]
    return out


def _fmt(minutes: float) -> str:
    return str(int(minutes)) if float(minutes).is_integer() else f"{minutes:g}".replace(".", "_")
