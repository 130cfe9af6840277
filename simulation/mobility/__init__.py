"""Mobility: networks, demand, user-equilibrium assignment, accessibility and what-if edits.

The mobility simulation of the twin, in the three steps of ARCHITECTURE.md:
models and TNTP networks become arrays (:mod:`~simulation.mobility.network`,
:mod:`~simulation.mobility.demand`), numba kernels (:mod:`kernels.paths`,
:mod:`kernels.assignment`, :mod:`kernels.demand`) solve, and results come
back as tables keyed by ``link_id`` or ``building_id``.

* :func:`assign` — static user equilibrium (Algorithm B by default, or
  bi-conjugate / conjugate / plain Frank-Wolfe), :func:`relative_gap` and
  :func:`beckmann_objective` to check any flows independently;
* :func:`gravity_demand` — car OD matrix from residents and jobs;
* :func:`accessibility`, :func:`isochrone` — the "ville à 10/15 minutes"
  indicators per building, and reachable areas;
* :func:`build_timetable`, :func:`transit_times` — walk + public transport
  door-to-door times from a GTFS feed (RAPTOR), for one departure or the
  median / minimum over a departure window; :func:`transit_accessibility`
  gives the accessibility columns for that ``transit`` mode per building;
* :mod:`~simulation.mobility.edits` — pure what-if edits, and
  :func:`diff_assignments` / :func:`diff_accessibility` to compare runs.
"""

from simulation.mobility import edits
from simulation.mobility.accessibility import accessibility, isochrone
from simulation.mobility.assignment import (
    ALGORITHMS,
    AssignmentResult,
    assign,
    beckmann_objective,
    relative_gap,
)
from simulation.mobility.demand import od_long, read_od_csv, scale_od
from simulation.mobility.diff import AssignmentDiff, diff_accessibility, diff_assignments
from simulation.mobility.gravity import gravity_demand
from simulation.mobility.network import (
    MODES,
    SPEEDS_KMH,
    AssignmentNetwork,
    ModeGraph,
    as_network,
    check_connectivity,
    mode_graph,
    network_from_model,
    network_from_tntp,
)
from simulation.mobility.transit import Timetable, build_timetable, transit_accessibility, transit_times

__all__ = [
    "ALGORITHMS",
    "MODES",
    "SPEEDS_KMH",
    "AssignmentDiff",
    "AssignmentNetwork",
    "AssignmentResult",
    "ModeGraph",
    "Timetable",
    "accessibility",
    "as_network",
    "assign",
    "beckmann_objective",
    "build_timetable",
    "check_connectivity",
    "diff_accessibility",
    "diff_assignments",
    "edits",
    "gravity_demand",
    "isochrone",
    "mode_graph",
    "network_from_model",
    "network_from_tntp",
    "od_long",
    "read_od_csv",
    "relative_gap",
    "scale_od",
    "transit_accessibility",
    "transit_times",
]
