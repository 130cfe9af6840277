"""One function per ``twin mobility`` command: plain arguments in, what to print out.

These are the bodies of the CLI commands (``twin/cli.py`` only parses options,
calls one of them and prints ``result["lines"]``):

========================================================  ==========================
``twin mobility assign --tntp-net NET --tntp-trips TRIPS``  :func:`mobility_assign_tntp`
``twin mobility assign MODEL.gpkg``                         :func:`mobility_assign_model`
``twin mobility access MODEL.gpkg --out access.gpkg``       :func:`mobility_access`
========================================================  ==========================

Each returns a dict with the numbers and ``lines``, the text to show.
Outputs are written atomically.

Part of the entry-point layer (used by :mod:`twin.cli` only), so it may use
readers and simulations together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simulation.mobility.accessibility import accessibility
from simulation.mobility.assignment import AssignmentResult, assign
from simulation.mobility.gravity import gravity_demand
from twin.atomic import atomic_path
from twin.model import CityModel
from twin.typing import PathLike_

__all__ = ["DEFAULT_GAP", "mobility_access", "mobility_assign_model", "mobility_assign_tntp"]

#: Default target relative gap per algorithm when the command gives none.
DEFAULT_GAP = {"b": 1e-10, "bfw": 1e-4, "cfw": 1e-4, "fw": 1e-4}
_NAMES = {
    "b": "Algorithm B",
    "bfw": "bi-conjugate Frank-Wolfe",
    "cfw": "conjugate Frank-Wolfe",
    "fw": "Frank-Wolfe",
}

Progress = Callable[[str, int, int], None]


def _summary(res: AssignmentResult, out: Path) -> dict[str, Any]:
    t = res.totals
    lines = [
        f"{res.network.name}: {_NAMES[res.algorithm]}, {res.iterations} iterations, relative gap "
        f"{res.relative_gap:.3e} (target {res.target_gap:.0e}), {res.elapsed_s:.2f} s",
        f"total system travel time {t['tstt']:.6f}, Beckmann objective {t['beckmann']:.6f}",
    ]
    if "veh_h" in t:
        lines.append(f"vehicle-hours {t['veh_h']:.3f}, vehicle-km {t['veh_km']:.3f}")
    lines.append(f"wrote {res.network.n_links} link flows to {out}")
    return {
        "iterations": res.iterations,
        "relative_gap": res.relative_gap,
        "converged": res.converged,
        "tstt": t["tstt"],
        "beckmann": t["beckmann"],
        "elapsed_s": res.elapsed_s,
        "gap_history": list(res.gap_history),
        "out": str(out),
        "lines": lines,
    }


def mobility_assign_tntp(
    net_path: PathLike_,
    trips_path: PathLike_,
    *,
    out: PathLike_,
    algorithm: str = "b",
    gap: float | None = None,
    toll_factor: float | None = None,
    distance_factor: float | None = None,
    max_iter: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``twin mobility assign --tntp-net NET --tntp-trips TRIPS --out flows.csv``.

    Reads a TNTP network and trip table, solves the user equilibrium and
    writes ``init_node,term_node,flow,cost`` (TNTP node ids) to ``out``.

    Parameters
    ----------
    net_path, trips_path : path
        ``*_net.tntp`` and ``*_trips.tntp``.
    out : path
        CSV to write.
    algorithm : {"b", "bfw", "cfw", "fw"}
        Solver (``--algorithm``).
    gap : float, optional
        Target relative gap (``--gap``; default :data:`DEFAULT_GAP`).
    toll_factor, distance_factor : float, optional
        Generalised-cost weights (``--toll-factor``, ``--distance-factor``);
        override the file header.
    max_iter : int, optional
        Iteration limit.
    progress : callable, optional
        ``progress(message, iteration, max_iter)``.

    Returns
    -------
    dict
        ``iterations``, ``relative_gap``, ``converged``, ``tstt``,
        ``beckmann``, ``elapsed_s``, ``gap_history``, ``out`` and ``lines``
        (what to print).

    Raises
    ------
    IngestError, SchemaError
        Unreadable or invalid TNTP files.
    ConvergenceError
        ``max_iter`` reached before the gap.
    """
    from bim_ingest.tntp import read_tntp_network, read_tntp_trips

    net = read_tntp_network(net_path, toll_factor=toll_factor, distance_factor=distance_factor)
    trips = read_tntp_trips(trips_path)
    res = assign(
        net,
        trips,
        algorithm=algorithm,
        gap=gap or DEFAULT_GAP.get(algorithm, 1e-10),
        max_iter=max_iter,
        progress=progress,
    )
    res.to_csv(out)
    return _summary(res, Path(out))


def mobility_assign_model(
    model_path: PathLike_,
    *,
    out: PathLike_,
    algorithm: str = "b",
    gap: float | None = None,
    trip_rate: float = 0.1,
    max_iter: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``twin mobility assign MODEL.gpkg --out flows.csv``: gravity demand from activities, then assignment.

    Writes ``link_id,init_node,term_node,flow,cost`` (model ids; costs in
    minutes, flows in veh/h).

    Parameters
    ----------
    model_path : path
        A model GeoPackage (``CityModel.save``).
    out : path
        CSV to write.
    algorithm, gap, max_iter, progress
        As in :func:`mobility_assign_tntp`.
    trip_rate : float
        Car trips per resident in the hour (``simulation.mobility.gravity_demand``).

    Returns
    -------
    dict
        As :func:`mobility_assign_tntp`, plus ``demand_veh_h`` and the totals
        ``veh_h`` and ``veh_km``.
    """
    model = CityModel.load(model_path)
    od = gravity_demand(model, trip_rate=trip_rate)
    res = assign(
        model,
        od,
        algorithm=algorithm,
        gap=gap or DEFAULT_GAP.get(algorithm, 1e-10),
        max_iter=max_iter,
        progress=progress,
    )
    table = res.links.reset_index()[["link_id", "init_node", "term_node", "flow", "cost"]]
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.12g")
    result = _summary(res, Path(out))
    result.update(
        demand_veh_h=float(od.to_numpy().sum()), veh_h=res.totals["veh_h"], veh_km=res.totals["veh_km"]
    )
    result["lines"].insert(0, f"gravity demand: {result['demand_veh_h']:.1f} veh/h between {len(od)} zones")
    return result


def mobility_access(
    model_path: PathLike_,
    *,
    out: PathLike_,
    modes: Sequence[str] = ("walk", "bike"),
    thresholds_min: Sequence[float] = (10, 15),
    services: Sequence[str] | None = None,
) -> dict[str, Any]:
    """``twin mobility access MODEL.gpkg --out access.gpkg``: accessibility per building.

    Writes layer ``accessibility`` (one row per building, footprint geometry,
    see :func:`simulation.mobility.accessibility`) to a GeoPackage.

    Returns
    -------
    dict
        ``buildings``, ``services`` (kinds), ``share_within`` (per mode and
        threshold, the share of buildings with every kind within reach),
        ``out`` and ``lines``.
    """
    model = CityModel.load(model_path)
    table = accessibility(model, modes=modes, thresholds_min=thresholds_min, services=services)
    offered = model.activities["service"].astype(str)
    kinds = sorted(services) if services is not None else sorted(set(offered) - {""})
    with atomic_path(out) as tmp:
        table.to_file(tmp, layer="accessibility", driver="GPKG")
    share: dict[str, float] = {}
    lines = [f"{len(table)} buildings, services: {', '.join(kinds) or 'none'}"]
    for mode in modes:
        for thr in sorted(thresholds_min):
            col = f"{mode}_kinds_within_{int(thr) if float(thr).is_integer() else thr}min"
            if col in table and kinds:
                value = float(np.mean(table[col].to_numpy() == len(kinds))) if len(table) else 0.0
                share[f"{mode}_{thr}"] = value
                lines.append(
                    f"{mode}: {100 * value:.1f} % of buildings reach every service within {thr:g} min"
                )
    lines.append(f"wrote {out} (layer 'accessibility')")
    return {
        "buildings": len(table),
        "services": kinds,
        "share_within": share,
        "out": str(out),
        "lines": lines,
    }
