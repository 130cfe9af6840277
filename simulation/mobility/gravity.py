"""Car demand from the model's activities: a doubly-constrained gravity model.

Trips are produced where people live and attracted where they work:
productions ``O_i = trip_rate x residents`` and attractions ``D_j`` = jobs,
scaled to the same total, aggregated on the car-network node nearest to each
building.  They are distributed by the doubly-constrained gravity model of
:mod:`kernels.demand` with a deterrence function of the free-flow car travel
time (minutes), balanced by Furness iterations to a stated relative
tolerance.  The result is a square OD matrix keyed by node ids, ready for
:func:`simulation.mobility.assign`.

Defaults are planning assumptions, to be calibrated: 0.1 car trips per
resident in the peak hour and an exponential deterrence ``exp(-0.1 t)``
(t in minutes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from kernels.demand import DETERRENCE_KINDS, deterrence, furness
from kernels.paths import dijkstra_many
from simulation.mobility.accessibility import MAX_ACCESS_M, snap_to_graph
from simulation.mobility.network import mode_graph, network_from_model
from twin.errors import ConvergenceError, ScenarioValidationError, SchemaError
from twin.model import CityModel

__all__ = ["gravity_demand"]

N_CHUNKS = 16


def gravity_demand(
    model: CityModel,
    *,
    trip_rate: float = 0.1,
    deterrence_function: str = "exponential",
    beta: float = 0.1,
    alpha: float = 0.0,
    tol: float = 1e-9,
    max_iter: int = 10_000,
    max_access_m: float = MAX_ACCESS_M,
) -> pd.DataFrame:
    """Doubly-constrained gravity OD matrix (veh/h) between car-network nodes.

    Parameters
    ----------
    model : CityModel
        With ``buildings``, ``activities`` (``residents``, ``jobs``) and a car network.
    trip_rate : float
        Car trips per resident in the modelled hour (productions).
    deterrence_function : {"exponential", "power", "tanner"}
        ``exp(-beta t)``, ``t ** -alpha`` or ``t ** alpha * exp(-beta t)``, t in minutes.
    beta, alpha : float
        Deterrence parameters (per minute; dimensionless).
    tol : float
        Relative tolerance on every row and column total.
    max_iter : int
        Maximum Furness iterations.
    max_access_m : float
        Buildings farther than this from the car network generate no trips.

    Returns
    -------
    pandas.DataFrame
        Square matrix, index ``origin`` and columns ``destination`` = car
        network node ids of zones with residents or jobs; ``attrs`` holds
        ``iterations`` and ``max_relative_error`` of the balancing.

    Raises
    ------
    ScenarioValidationError
        For an unknown deterrence function or negative parameters.
    SchemaError
        When there are no residents or no jobs, or productions cannot reach any attraction.
    ConvergenceError
        When the balancing does not reach ``tol`` in ``max_iter`` iterations.

    Examples
    --------
    >>> from simulation.mobility.sample import sample_model
    >>> model = sample_model(120, seed=2)
    >>> od = gravity_demand(model, trip_rate=0.1)
    >>> bool(abs(od.to_numpy().sum() - 0.1 * model.activities["residents"].sum()) < 1e-6)
    True
    """
    if deterrence_function not in DETERRENCE_KINDS:
        raise ScenarioValidationError(
            f"Unknown deterrence function {deterrence_function!r}; choose one of {list(DETERRENCE_KINDS)}."
        )
    if trip_rate <= 0 or beta < 0:
        raise ScenarioValidationError(f"trip_rate must be > 0 and beta >= 0, got {trip_rate}, {beta}.")
    net = network_from_model(model)
    graph = mode_graph(model, "car")
    b = model.buildings
    act = model.activities.groupby("building_id")[["residents", "jobs"]].sum()
    act = act.reindex(b["building_id"].to_numpy()).fillna(0.0)
    points = shapely.get_coordinates(b.geometry.representative_point().to_numpy())
    node, _ = snap_to_graph(graph, points, max_access_m=max_access_m)
    ok = node >= 0
    n = net.n_nodes
    prod = np.bincount(node[ok], act["residents"].to_numpy(float)[ok] * trip_rate, minlength=n)
    attr = np.bincount(node[ok], act["jobs"].to_numpy(float)[ok], minlength=n)
    if prod.sum() <= 0 or attr.sum() <= 0:
        raise SchemaError(
            f"Model {model.name!r} has no residents or no jobs near its car network; fill `activities` "
            "(bim_ingest.activities.activities_from_attributes)."
        )
    attr *= prod.sum() / attr.sum()
    zones = np.flatnonzero((prod > 0) | (attr > 0)).astype(np.int64)
    indptr, adj_head, adj_link = net.out_csr
    cost = dijkstra_many(
        indptr, adj_head, adj_link, net.free_flow_cost(), net.no_through, zones, np.inf, N_CHUNKS
    )
    cost = np.ascontiguousarray(cost[:, zones])
    np.fill_diagonal(cost, np.inf)  # intrazonal trips are not assigned
    f = deterrence(cost, DETERRENCE_KINDS[deterrence_function], float(beta), float(alpha))
    p, a = prod[zones], attr[zones]
    stuck = (p > 0) & ~(f[:, a > 0] > 0).any(axis=1)
    if stuck.any():
        raise SchemaError(
            f"{int(stuck.sum())} zone(s) with residents reach no jobs by car, e.g. node "
            f"{int(net.node_ids[zones[stuck][0]])}; check connectivity (check_connectivity)."
        )
    trips, _, _, iterations, error = furness(p, a, f, float(tol), int(max_iter))
    if error > tol:
        raise ConvergenceError(
            f"Gravity balancing stopped after {iterations} iterations at relative error {error:.3e} "
            f"> {tol:.1e}; "
            "raise max_iter or check that every zone can reach the others."
        )
    ids = net.node_ids[zones]
    out = pd.DataFrame(trips, index=pd.Index(ids, name="origin"), columns=pd.Index(ids, name="destination"))
    out.attrs.update({"iterations": int(iterations), "max_relative_error": float(error)})
    return out
