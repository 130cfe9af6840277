"""Earliest arrival by public transport: RAPTOR over flat timetable arrays.

RAPTOR ("Round-bAsed Public Transit Optimized Router", Delling, Pajor &
Werneck 2015, *Transportation Science* 49(3):591-604) computes, from a set
of start stops with start times, the earliest arrival at every stop using at
most ``max_rounds`` vehicles.  Round ``k`` scans every route serving a stop
improved in round ``k - 1`` once, hopping on the earliest trip catchable at
each stop, then relaxes the footpaths out of the stops it improved.  It needs
no priority queue and no preprocessing.

Timetable layout (built by ``simulation.mobility.transit``), all times in
seconds after midnight of the service day, stops ``0 .. n_stops - 1``:

* a *route* here is a pattern: trips that visit the same stops in the same
  order, with the same pickup/drop-off rules, and never overtake each other
  (the builder splits patterns whose trips overtake): only then does the
  earliest catchable trip dominate the later ones, which RAPTOR relies on;
* ``route_stop_ptr`` (R + 1,) int64 and ``route_stops`` int64: the stops of
  route ``r`` in order, ``route_stops[route_stop_ptr[r]:route_stop_ptr[r + 1]]``;
* ``route_trip_ptr`` (R + 1,) int64: the trips of route ``r`` are ``j =
  0 .. n_r - 1``, sorted by departure; ``time_ptr`` (R,) int64 the start of
  the route's block in ``arr``/``dep``/``board``/``alight`` where trip ``j``
  at stop position ``p`` is entry ``time_ptr[r] + j * L_r + p`` (``L_r`` stops);
* ``arr``, ``dep`` float64 and ``board``, ``alight`` bool per entry (boarding
  and alighting allowed: GTFS pickup/drop-off type != 1);
* ``stop_route_ptr`` (S + 1,) int64, ``stop_route`` and ``stop_pos`` int64:
  the routes serving each stop and the stop's position along each;
* footpaths: CSR ``fp_ptr`` (S + 1,) int64, ``fp_to`` int64, ``fp_time``
  float64 seconds (walking between nearby stops, no self-loops).  Like the
  paper, one footpath is allowed between two vehicles (and after the start),
  so the footpath set should contain every walk the caller wants allowed.

A vehicle can be boarded at a stop when the traveller is there at or before
its departure (no minimum transfer time beyond the footpath's walking time).

Imports only numpy, numba and math.
"""

from __future__ import annotations

import math

import numpy as np

from kernels._jit import jit

__all__ = ["raptor"]

_INF = math.inf


@jit
def _earliest_trip(dep, board, base, n_trips, n_stops_route, p, t_min, upto):
    """First trip ``j < upto`` of a route with ``dep >= t_min`` at position ``p`` that allows boarding."""
    lo = 0
    hi = upto
    while lo < hi:  # departures at p are sorted by trip (no overtaking)
        mid = (lo + hi) >> 1
        if dep[base + mid * n_stops_route + p] < t_min:
            lo = mid + 1
        else:
            hi = mid
    for j in range(lo, upto):
        if board[base + j * n_stops_route + p]:
            return j
    return -1


@jit
def raptor(
    n_stops,
    route_stop_ptr,
    route_stops,
    route_trip_ptr,
    time_ptr,
    arr,
    dep,
    board,
    alight,
    stop_route_ptr,
    stop_route,
    stop_pos,
    fp_ptr,
    fp_to,
    fp_time,
    src_stops,
    src_times,
    max_rounds,
):
    """Earliest arrival at every stop with at most ``max_rounds`` vehicles (RAPTOR).

    Parameters
    ----------
    n_stops : int
    route_stop_ptr, route_stops, route_trip_ptr, time_ptr, arr, dep, board, alight,
    stop_route_ptr, stop_route, stop_pos, fp_ptr, fp_to, fp_time
        The timetable (module docstring).
    src_stops : (k,) int64
        Start stops.
    src_times : (k,) float64
        Time the traveller is at each start stop, seconds (e.g. departure
        time plus the walk from the origin).
    max_rounds : int
        Most vehicles used (``>= 0``).

    Returns
    -------
    best : (n_stops,) float64
        Earliest arrival at each stop, seconds (``inf`` if unreachable).
    rounds : (n_stops,) int64
        Number of vehicles on the path to ``best`` (``-1`` if unreachable).
    """
    n_routes = route_stop_ptr.shape[0] - 1
    best = np.full(n_stops, _INF)
    rounds = np.full(n_stops, -1, dtype=np.int64)
    prev = np.full(n_stops, _INF)
    marked = np.zeros(n_stops, dtype=np.bool_)
    for i in range(src_stops.shape[0]):
        s = src_stops[i]
        if src_times[i] < best[s]:
            best[s] = src_times[i]
            rounds[s] = 0
            marked[s] = True
    # one footpath after the start (from the start times, not chained)
    start = best.copy()
    for s in range(n_stops):
        if start[s] < _INF:
            for e in range(fp_ptr[s], fp_ptr[s + 1]):
                t = start[s] + fp_time[e]
                s2 = fp_to[e]
                if t < best[s2]:
                    best[s2] = t
                    rounds[s2] = 0
                    marked[s2] = True
    for s in range(n_stops):
        prev[s] = best[s]
    first_pos = np.full(n_routes, -1, dtype=np.int64)
    queue = np.empty(n_routes, dtype=np.int64)
    improved = np.zeros(n_stops, dtype=np.bool_)
    by_vehicle = np.full(n_stops, _INF)  # arrival by a vehicle in the current round
    for k in range(1, max_rounds + 1):
        # routes to scan, each from its first marked stop
        nq = 0
        for s in range(n_stops):
            if not marked[s]:
                continue
            marked[s] = False
            for e in range(stop_route_ptr[s], stop_route_ptr[s + 1]):
                r = stop_route[e]
                p = stop_pos[e]
                if first_pos[r] < 0:
                    queue[nq] = r
                    nq += 1
                    first_pos[r] = p
                elif p < first_pos[r]:
                    first_pos[r] = p
        if nq == 0:
            break
        any_improved = False
        for qi in range(nq):
            r = queue[qi]
            p0 = first_pos[r]
            first_pos[r] = -1
            a = route_stop_ptr[r]
            length = route_stop_ptr[r + 1] - a
            n_trips = route_trip_ptr[r + 1] - route_trip_ptr[r]
            base = time_ptr[r]
            trip = -1
            for p in range(p0, length):
                s = route_stops[a + p]
                if trip >= 0:
                    idx = base + trip * length + p
                    if alight[idx] and arr[idx] < best[s]:
                        best[s] = arr[idx]
                        by_vehicle[s] = arr[idx]
                        rounds[s] = k
                        improved[s] = True
                        any_improved = True
                # board an earlier trip if the traveller was here in time (previous round)
                t_here = prev[s]
                if t_here < _INF:
                    upto = n_trips if trip < 0 else trip
                    if upto > 0 and (trip < 0 or t_here <= dep[base + (trip - 1) * length + p]):
                        j = _earliest_trip(dep, board, base, n_trips, length, p, t_here, upto)
                        if j >= 0:
                            trip = j
        if not any_improved:
            break
        # footpaths out of the stops reached by a vehicle in this round
        for s in range(n_stops):
            if improved[s]:
                marked[s] = True
        for s in range(n_stops):
            if not improved[s]:
                continue
            improved[s] = False
            for e in range(fp_ptr[s], fp_ptr[s + 1]):
                t = by_vehicle[s] + fp_time[e]
                s2 = fp_to[e]
                if t < best[s2]:
                    best[s2] = t
                    rounds[s2] = k
                    marked[s2] = True
        for s in range(n_stops):
            prev[s] = best[s]
    return best, rounds
