"""Static user-equilibrium assignment: :func:`assign`, :class:`AssignmentResult`, :func:`relative_gap`.

Wardrop's first principle (Wardrop 1952, *Proc. ICE* 1(3):325-378): at user
equilibrium no driver can shorten their trip by changing route, i.e. every
used path between an origin and a destination costs the least.  With BPR
link costs this is the minimum of the Beckmann objective (see
:mod:`kernels.assignment`).  Three solvers share one interface:

``"b"`` (default)
    Algorithm B (Dial 2006), bush-based: reaches relative gaps of 1e-10 and
    better in seconds on networks like Barcelona.  What-if differences
    (closing a street, a 30 km/h zone) need such precision to be stable.
``"bfw"`` / ``"cfw"``
    Bi-conjugate / conjugate Frank-Wolfe (Mitradjieva & Lindberg 2013):
    fast to about 1e-4 .. 1e-5, slow beyond.
``"fw"``
    Plain Frank-Wolfe (LeBlanc et al. 1975), for reference.

Convergence is judged on the relative gap computed with the *current* link
costs, ``(TSTT - SPTT) / TSTT`` where ``TSTT = sum_a x_a c_a(x_a)`` and
``SPTT = sum_od d_od * (shortest path cost at c(x))``.  The result carries
link flows, costs, volume/capacity, the gap history, TSTT and the Beckmann
objective; :func:`relative_gap` recomputes the gap from any flows with its
own shortest-path search, as an independent check.

Examples
--------
Two parallel roads from node 1 to node 2, costs ``10 + x/100`` and
``15 + x/200`` (BPR with power 1), 1,200 vehicles: at equilibrium both
cost the same, ``10 + x1/100 = 15 + (1200 - x1)/200``, so ``x1 = 733.33``.

>>> import pandas as pd
>>> from simulation.mobility.network import AssignmentNetwork
>>> import numpy as np
>>> net = AssignmentNetwork(
...     name="two roads", node_ids=np.array([1, 2]), link_ids=np.array([1, 2]),
...     tails=np.array([0, 0]), heads=np.array([1, 1]), fft=np.array([10.0, 15.0]),
...     b=np.array([1.0, 1.0]), power=np.array([1.0, 1.0]), capacity=np.array([1000.0, 3000.0]),
...     const=np.zeros(2), length=np.ones(2), no_through=np.zeros(2, bool), zone_nodes=np.arange(2))
>>> od = pd.DataFrame({"origin": [1], "destination": [2], "flow": [1200.0]})
>>> res = assign(net, od, gap=1e-12)
>>> res.flows.round(2).tolist()
[733.33, 466.67]
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from kernels.assignment import (
    algorithm_b_pass,
    beckmann,
    bush_flows_total,
    bush_init,
    conjugate_target,
    line_search,
    link_costs,
)
from kernels.paths import aon_load, dijkstra_many
from simulation.mobility.demand import DemandArrays, demand_arrays
from simulation.mobility.network import AssignmentNetwork, as_network
from twin.atomic import atomic_path
from twin.errors import ConvergenceError, ScenarioValidationError, SchemaError, TwinWarning
from twin.typing import PathLike_

__all__ = [
    "ALGORITHMS",
    "AssignmentResult",
    "assign",
    "beckmann_objective",
    "link_cost",
    "relative_gap",
]

log = logging.getLogger(__name__)

Algorithm = Literal["b", "bfw", "cfw", "fw"]
#: Solvers accepted by :func:`assign`.
ALGORITHMS: tuple[str, ...] = ("b", "bfw", "cfw", "fw")
#: Default iteration limits (Algorithm B passes; Frank-Wolfe iterations).
MAX_ITER: dict[str, int] = {"b": 1000, "bfw": 20000, "cfw": 20000, "fw": 20000}
#: Extra flow-shift rounds over all bushes per Algorithm B pass (tap-b's default "inner iterations").
B_INNER_ROUNDS = 20
#: Fixed number of work chunks of the parallel kernels: results do not depend on the thread count.
N_CHUNKS = 16

Progress = Callable[[str, int, int], None]
F64 = npt.NDArray[np.float64]


@dataclass
class AssignmentResult:
    """Link flows and costs at (approximate) user equilibrium, with the convergence record.

    Attributes
    ----------
    network : AssignmentNetwork
        The network assigned on.
    flows : (m,) float64
        Link flows (demand units, e.g. veh/h), in network link order.
    costs : (m,) float64
        Generalised link costs at ``flows`` (network time unit).
    gap_history : list of float
        Relative gap with current costs after each iteration (the first entry
        is the initial all-or-nothing solution).
    algorithm : str
        Solver used.
    iterations : int
        Iterations (Algorithm B passes) run.
    converged : bool
        Whether the last gap is at most ``target_gap``.
    target_gap : float
        Requested relative gap.
    elapsed_s : float
        Wall time of the solve, seconds (JIT compilation included on first use).
    demand_total : float
        Flow assigned (intrazonal excluded).
    intrazonal : float
        Intrazonal demand, not assigned.
    sptt : float
        Shortest-path travel time at the final costs.
    """

    network: AssignmentNetwork
    flows: F64
    costs: F64
    gap_history: list[float]
    algorithm: str
    iterations: int
    converged: bool
    target_gap: float
    elapsed_s: float
    demand_total: float
    intrazonal: float
    sptt: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def relative_gap(self) -> float:
        """Final relative gap ``(TSTT - SPTT) / TSTT``."""
        return self.gap_history[-1]

    @property
    def tstt(self) -> float:
        """Total system travel time ``sum_a x_a c_a(x_a)`` (time unit x flow unit)."""
        return float(np.dot(self.flows, self.costs))

    @property
    def beckmann(self) -> float:
        """Beckmann objective at ``flows``."""
        net = self.network
        return float(beckmann(self.flows, net.fft, net.b, net.power, net.capacity, net.const))

    @property
    def links(self) -> pd.DataFrame:
        """One row per link: ``link_id`` (index), ``init_node``, ``term_node``, ``flow``, ``cost``,
        ``free_flow_cost``, ``voc`` (volume / capacity), ``length``."""
        net = self.network
        with np.errstate(divide="ignore", invalid="ignore"):
            voc = np.where(net.capacity > 0, self.flows / net.capacity, np.nan)
        return pd.DataFrame(
            {
                "init_node": net.node_ids[net.tails],
                "term_node": net.node_ids[net.heads],
                "flow": self.flows,
                "cost": self.costs,
                "free_flow_cost": net.free_flow_cost(),
                "voc": voc,
                "length": net.length,
            },
            index=pd.Index(net.link_ids, name="link_id"),
        )

    @property
    def totals(self) -> dict[str, Any]:
        """Summary numbers: gap, iterations, TSTT, Beckmann, vehicle-hours and -km (model networks)."""
        net = self.network
        out: dict[str, Any] = {
            "algorithm": self.algorithm,
            "iterations": self.iterations,
            "relative_gap": self.relative_gap,
            "converged": self.converged,
            "tstt": self.tstt,
            "beckmann": self.beckmann,
            "demand_total": self.demand_total,
            "elapsed_s": self.elapsed_s,
            "vehicle_time": self.tstt,
            "vehicle_length": float(np.dot(self.flows, net.length)),
        }
        if net.time_unit == "min":
            out["veh_h"] = self.tstt / 60.0
        if net.length_unit == "m":
            out["veh_km"] = out["vehicle_length"] / 1000.0
        return out

    def to_csv(self, path: PathLike_) -> None:
        """Write ``init_node,term_node,flow,cost`` (network node ids) atomically."""
        table = self.links[["init_node", "term_node", "flow", "cost"]]
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False, float_format="%.12g")

    def __repr__(self) -> str:
        return (
            f"<AssignmentResult {self.network.name!r} {self.algorithm}: {self.iterations} it, "
            f"gap {self.relative_gap:.3e}, TSTT {self.tstt:.6g}>"
        )


def link_cost(network: AssignmentNetwork, flows: F64) -> tuple[F64, F64]:
    """Generalised link costs and their derivatives at ``flows`` ((m,) float64 each)."""
    flows = np.ascontiguousarray(flows, dtype=np.float64)
    cost = np.zeros(network.n_links)
    deriv = np.zeros(network.n_links)
    link_costs(flows, network.fft, network.b, network.power, network.capacity, network.const, cost, deriv)
    return cost, deriv


def _validate(algorithm: str, gap: float) -> None:
    if algorithm not in ALGORITHMS:
        raise ScenarioValidationError(f"Unknown algorithm {algorithm!r}; choose one of {list(ALGORITHMS)}.")
    if not (gap > 0 and np.isfinite(gap)):
        raise ScenarioValidationError(f"gap={gap} must be a positive number such as 1e-5.")


def _check_reachable(network: AssignmentNetwork, dem: DemandArrays, unreachable: F64) -> None:
    if (unreachable > 0).any():
        k = int(np.flatnonzero(unreachable > 0)[0])
        raise SchemaError(
            f"{float(unreachable.sum()):.6g} units of demand (e.g. from node "
            f"{int(network.node_ids[dem.origins[k]])}) have no path to their destination in network "
            f"{network.name!r}; check connectivity (simulation.mobility.check_connectivity)."
        )


def _gap(network: AssignmentNetwork, dem: DemandArrays, x: F64, cost: F64) -> tuple[float, float]:
    indptr, adj_head, adj_link = network.out_csr
    _, sptt, _ = aon_load(
        indptr,
        adj_head,
        adj_link,
        network.tails,
        cost,
        network.no_through,
        dem.origins,
        dem.dest_nodes,
        dem.matrix,
        N_CHUNKS,
    )
    s = float(sptt.sum())
    tstt = float(np.dot(x, cost))
    return ((tstt - s) / tstt if tstt > 0 else 0.0), s


def assign(
    network_or_model: Any,
    demand: pd.DataFrame,
    *,
    algorithm: Algorithm = "b",
    gap: float = 1e-10,
    max_iter: int | None = None,
    progress: Progress | None = None,
    raise_on_max_iter: bool = True,
) -> AssignmentResult:
    """Static user-equilibrium assignment with BPR link costs.

    Parameters
    ----------
    network_or_model : CityModel, TNTP network or AssignmentNetwork
        The network: a city model (its ``car`` links, times in minutes), a
        network read by ``bim_ingest.tntp.read_tntp_network``, or an
        :class:`AssignmentNetwork`.
    demand : pandas.DataFrame
        OD flows: square matrix (index origins, columns destinations) or long
        table ``origin, destination, flow``; node ids of the network.
    algorithm : {"b", "bfw", "cfw", "fw"}
        Solver (see the module docstring).  ``"b"`` for precision (1e-8 and
        below), ``"bfw"`` for quick 1e-4 answers.
    gap : float
        Target relative gap, computed with current costs.
    max_iter : int, optional
        Iteration limit (default :data:`MAX_ITER` of the algorithm).
    progress : callable, optional
        ``progress(message, iteration, max_iter)`` after each iteration.
    raise_on_max_iter : bool
        Raise :class:`~twin.errors.ConvergenceError` when ``max_iter`` is hit
        before ``gap`` (default); otherwise warn and return the result with
        ``converged=False``.

    Returns
    -------
    AssignmentResult

    Raises
    ------
    ScenarioValidationError
        Unknown algorithm or invalid gap.
    SchemaError, UnknownEntityError
        Demand on unknown or unreachable nodes.
    ConvergenceError
        ``max_iter`` reached before ``gap`` (with ``raise_on_max_iter``).
    """
    _validate(algorithm, gap)
    net = as_network(network_or_model)
    dem = demand_arrays(net, demand)
    limit = int(max_iter if max_iter is not None else MAX_ITER[algorithm])
    tick = progress or (lambda message, done, total: None)
    start = time.perf_counter()
    if dem.origins.size == 0:
        x = np.zeros(net.n_links)
        cost, _ = link_cost(net, x)
        history, it, sptt = [0.0], 0, 0.0
    elif algorithm == "b":
        x, cost, history, it, sptt = _solve_b(net, dem, gap, limit, tick)
    else:
        x, cost, history, it, sptt = _solve_fw(net, dem, gap, limit, tick, algorithm)
    elapsed = time.perf_counter() - start
    converged = history[-1] <= gap
    result = AssignmentResult(
        network=net,
        flows=x,
        costs=cost,
        gap_history=history,
        algorithm=algorithm,
        iterations=it,
        converged=converged,
        target_gap=gap,
        elapsed_s=elapsed,
        demand_total=dem.total,
        intrazonal=dem.intrazonal,
        sptt=sptt,
    )
    log.info("assignment %s on %s: %d iterations, gap %.3e", algorithm, net.name, it, history[-1])
    if not converged:
        message = (
            f"Assignment ({algorithm}) on {net.name!r} stopped after {it} iterations at relative gap "
            f"{history[-1]:.3e} > target {gap:.1e}; raise max_iter, relax gap, or use algorithm='b'."
        )
        if raise_on_max_iter:
            raise ConvergenceError(message)
        warnings.warn(message, TwinWarning, stacklevel=2)
    return result


def _solve_b(
    net: AssignmentNetwork, dem: DemandArrays, target: float, limit: int, tick: Progress
) -> tuple[F64, F64, list[float], int, float]:
    """Algorithm B driver: initial bushes, then passes until the gap is reached."""
    m = net.n_links
    r = len(dem.origins)
    indptr, adj_head, adj_link = net.out_csr
    in_ptr, _, in_links = net.in_csr
    x = np.zeros(m)
    cost, deriv = link_cost(net, x)
    bush = np.zeros((r, m), dtype=np.bool_)
    xb = np.zeros((r, m))
    unreachable = bush_init(
        indptr,
        adj_head,
        adj_link,
        net.tails,
        cost,
        net.no_through,
        dem.origins,
        dem.dest_nodes,
        dem.matrix,
        bush,
        xb,
        N_CHUNKS,
    )
    _check_reachable(net, dem, unreachable)
    bush_flows_total(xb, x)
    link_costs(x, net.fft, net.b, net.power, net.capacity, net.const, cost, deriv)
    g, sptt = _gap(net, dem, x, cost)
    history = [g]
    it = 0
    # origin flows below this are rounding residue of shifts (ulp of the largest origin total)
    flow_eps = 1e-13 * max(1.0, float(dem.matrix.sum(axis=1).max()))
    while g > target and it < limit:
        it += 1
        # shift rounds stop once every bush is equilibrated well below the current gap
        algorithm_b_pass(
            indptr,
            adj_link,
            in_ptr,
            in_links,
            net.tails,
            net.heads,
            net.no_through,
            dem.origins,
            net.fft,
            net.b,
            net.power,
            net.capacity,
            net.const,
            bush,
            xb,
            x,
            cost,
            deriv,
            B_INNER_ROUNDS,
            0.01 * g,
            1e-15,
            flow_eps,
        )
        bush_flows_total(xb, x)
        link_costs(x, net.fft, net.b, net.power, net.capacity, net.const, cost, deriv)
        g, sptt = _gap(net, dem, x, cost)
        history.append(g)
        tick(f"Algorithm B: relative gap {g:.3e}", it, limit)
    return x, cost, history, it, sptt


def _solve_fw(
    net: AssignmentNetwork, dem: DemandArrays, target: float, limit: int, tick: Progress, algorithm: str
) -> tuple[F64, F64, list[float], int, float]:
    """Frank-Wolfe family driver (plain, conjugate, bi-conjugate)."""
    indptr, adj_head, adj_link = net.out_csr
    mode = {"fw": 0, "cfw": 1, "bfw": 2}[algorithm]

    def aon(c: F64) -> tuple[F64, float, F64]:
        y, sptt, lost = aon_load(
            indptr,
            adj_head,
            adj_link,
            net.tails,
            c,
            net.no_through,
            dem.origins,
            dem.dest_nodes,
            dem.matrix,
            N_CHUNKS,
        )
        return y, float(sptt.sum()), lost

    cost, deriv = link_cost(net, np.zeros(net.n_links))
    x, _, lost = aon(cost)
    _check_reachable(net, dem, lost)
    history: list[float] = []
    s1 = s2 = x
    tau = 1.0
    it = 0
    while True:
        link_costs(x, net.fft, net.b, net.power, net.capacity, net.const, cost, deriv)
        y, sptt, _ = aon(cost)
        tstt = float(np.dot(x, cost))
        g = (tstt - sptt) / tstt if tstt > 0 else 0.0
        history.append(g)
        if it > 0:
            tick(f"{algorithm.upper()}: relative gap {g:.3e}", it, limit)
        if g <= target or it >= limit:
            return x, cost.copy(), history, it, sptt
        use = min(mode, it)  # conjugacy needs one (two) previous targets
        if use == 0:
            s = y
        else:
            s, _ = conjugate_target(x, y, s1, s2, tau, deriv, cost, use, 1e-6)
        d = s - x
        lam = line_search(x, d, net.fft, net.b, net.power, net.capacity, net.const, 1e-13)
        x = x + lam * d
        np.maximum(x, 0.0, out=x)
        s2, s1, tau = s1, s, lam
        it += 1


def _flows_array(network: AssignmentNetwork, flows: Any) -> F64:
    """Link flows in network order from an array, a result or a table."""
    if isinstance(flows, AssignmentResult):
        return flows.flows
    if isinstance(flows, pd.DataFrame):
        if "link_id" in flows.columns or flows.index.name == "link_id":
            table = flows.reset_index() if flows.index.name == "link_id" else flows
            s = pd.Series(table["flow"].to_numpy(float), index=table["link_id"].to_numpy(np.int64))
            missing = ~pd.Index(network.link_ids).isin(s.index)
            if missing.any():
                raise SchemaError(f"No flow for link_id(s) {network.link_ids[missing][:5].tolist()}.")
            return np.ascontiguousarray(s.loc[network.link_ids].to_numpy(float))
        if {"init_node", "term_node", "flow"} <= set(flows.columns):
            init = network.node_index(flows["init_node"].to_numpy())
            term = network.node_index(flows["term_node"].to_numpy())
            if (
                len(flows) == network.n_links
                and (init == network.tails).all()
                and (term == network.heads).all()
            ):
                return np.ascontiguousarray(flows["flow"].to_numpy(float))
            key = pd.MultiIndex.from_arrays([init, term])
            if key.has_duplicates:
                raise SchemaError("Flows given by (init_node, term_node) must not repeat a pair.")
            s = pd.Series(flows["flow"].to_numpy(float), index=key)
            want = pd.MultiIndex.from_arrays([network.tails, network.heads])
            return np.ascontiguousarray(s.reindex(want).fillna(0.0).to_numpy(float))
        raise SchemaError("Flow tables need columns link_id, flow or init_node, term_node, flow.")
    arr = np.ascontiguousarray(np.asarray(flows, dtype=np.float64))
    if arr.shape != (network.n_links,):
        raise SchemaError(f"Expected {network.n_links} link flows, got shape {arr.shape}.")
    return arr


def relative_gap(network_or_model: Any, demand: pd.DataFrame, flows: Any) -> float:
    """Relative gap ``(TSTT - SPTT) / TSTT`` of given link flows, recomputed from scratch.

    Costs are evaluated at ``flows``; shortest paths come from a fresh
    Dijkstra per origin (``kernels.paths.dijkstra_many``) and are weighted by
    the demand, independently of any solver's bookkeeping.

    Parameters
    ----------
    network_or_model : CityModel, TNTP network or AssignmentNetwork
    demand : pandas.DataFrame
        OD flows (see :func:`assign`).
    flows : array, AssignmentResult or DataFrame
        Link flows in network order, or a table with ``link_id, flow`` or
        ``init_node, term_node, flow`` (e.g. a TNTP ``_flow`` file).

    Returns
    -------
    float
    """
    net = as_network(network_or_model)
    dem = demand_arrays(net, demand)
    x = _flows_array(net, flows)
    cost, _ = link_cost(net, x)
    indptr, adj_head, adj_link = net.out_csr
    dist = dijkstra_many(indptr, adj_head, adj_link, cost, net.no_through, dem.origins, np.inf, N_CHUNKS)
    sp = dist[:, dem.dest_nodes]
    sptt = float(np.sum(np.where(dem.matrix > 0, dem.matrix * sp, 0.0)))
    tstt = float(np.dot(x, cost))
    return (tstt - sptt) / tstt if tstt > 0 else 0.0


def beckmann_objective(network_or_model: Any, flows: Any) -> float:
    """Beckmann objective ``sum_a integral_0^{x_a} c_a(w) dw`` of given link flows."""
    net = as_network(network_or_model)
    x = _flows_array(net, flows)
    return float(beckmann(x, net.fft, net.b, net.power, net.capacity, net.const))
