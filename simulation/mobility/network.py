"""Networks as arrays: the car assignment network and the walk / bike / car travel-time graphs.

Two array layouts serve the mobility simulation:

* :class:`AssignmentNetwork` — directed links with BPR parameters, node and
  zone ids, centroid blocking; built from the city model's ``links`` table
  (``car`` mode) by :func:`network_from_model` or from a TNTP network (any
  object with the attributes of ``bim_ingest.tntp.TNTPNetwork``) by
  :func:`network_from_tntp`.  :func:`as_network` accepts either.
* :class:`ModeGraph` — a travel-time graph for one mode (``walk``, ``bike``
  or ``car``) from the same ``links`` table, built by :func:`mode_graph`.
  Walkers may use every walkable link in both directions; bikes and cars
  follow the link directions.  Times are seconds.

Speeds (documented defaults, overridable): walking 5 km/h (1.39 m/s, the
usual planning value; the reference sheet's grid used 1.4 m/s), cycling
15 km/h (urban average including stops), capped by the link's
``free_speed_kmh``; cars at ``free_speed_kmh`` (Brussels: 30 km/h unless a
road is signed otherwise, "Ville 30" since 1 January 2021).

:func:`check_connectivity` reports the strongly connected components of a
mode graph, so isolated parts are named before any route is searched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from kernels.paths import csr_from_edges
from twin.errors import ScenarioValidationError, SchemaError, UnknownEntityError
from twin.model import CityModel

__all__ = [
    "MODES",
    "SPEEDS_KMH",
    "AssignmentNetwork",
    "ModeGraph",
    "TNTPLike",
    "as_network",
    "check_connectivity",
    "mode_graph",
    "network_from_model",
    "network_from_tntp",
]

Mode = Literal["walk", "bike", "car"]
#: Modes understood by :func:`mode_graph` (tokens of the ``links.modes`` column).
MODES: tuple[str, ...] = ("walk", "bike", "car")
#: Default speeds, km/h: walking and cycling planning values; cars use ``free_speed_kmh``.
SPEEDS_KMH: dict[str, float] = {"walk": 5.0, "bike": 15.0}

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class TNTPLike(Protocol):
    """What :func:`network_from_tntp` needs (``bim_ingest.tntp.TNTPNetwork`` satisfies it)."""

    name: str
    n_zones: int
    n_nodes: int
    first_thru_node: int
    links: pd.DataFrame
    toll_factor: float
    distance_factor: float


@dataclass(frozen=True, eq=False)
class AssignmentNetwork:
    """Directed links with BPR costs, as contiguous arrays (nodes ``0 .. n - 1``).

    Attributes
    ----------
    name : str
        Network name.
    node_ids : (n,) int64
        External id of each node (model ``node_id`` or TNTP node number).
    link_ids : (m,) int64
        External id of each link (model ``link_id``; TNTP: 1-based line number).
    tails, heads : (m,) int64
        Node indices of each link's ends.
    fft : (m,) float64
        Free-flow time (``time_unit``).
    b, power : (m,) float64
        BPR coefficients; ``b = 0`` or ``power = 0`` is a constant-cost link.
    capacity : (m,) float64
        Capacity, flow units (vehicles per hour).
    const : (m,) float64
        Flow-independent cost added to the time (toll, distance terms), ``time_unit``.
    length : (m,) float64
        Link length (``length_unit``).
    no_through : (n,) bool
        Centroids that paths may start or end at but not pass through.
    zone_nodes : (z,) int64
        Node indices that may carry demand (all nodes when every node is a zone).
    time_unit, length_unit : str
        Units of ``fft``/``const`` and ``length`` (``"min"``/``"m"`` for models).
    """

    name: str
    node_ids: I64
    link_ids: I64
    tails: I64
    heads: I64
    fft: F64
    b: F64
    power: F64
    capacity: F64
    const: F64
    length: F64
    no_through: npt.NDArray[np.bool_]
    zone_nodes: I64
    time_unit: str = "min"
    length_unit: str = "m"
    _index: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_ids.shape[0])

    @property
    def n_links(self) -> int:
        """Number of links."""
        return int(self.tails.shape[0])

    @cached_property
    def out_csr(self) -> tuple[I64, I64, I64]:
        """``(indptr, adj_head, adj_link)`` of out-links by tail node."""
        return csr_from_edges(self.n_nodes, self.tails, self.heads)

    @cached_property
    def in_csr(self) -> tuple[I64, I64, I64]:
        """``(indptr, adj_tail, adj_link)`` of in-links by head node."""
        return csr_from_edges(self.n_nodes, self.heads, self.tails)

    def node_index(self, ids: Any) -> I64:
        """Node indices of external node ids.

        Raises
        ------
        UnknownEntityError
            When an id is not a node of the network.
        """
        if not self._index:
            self._index.update({int(v): k for k, v in enumerate(self.node_ids.tolist())})
        ids = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        out = np.fromiter((self._index.get(int(v), -1) for v in ids), dtype=np.int64, count=len(ids))
        if (out < 0).any():
            bad = ids[out < 0][:5].tolist()
            raise UnknownEntityError(
                f"Node id(s) {bad} are not nodes of network {self.name!r} ({self.n_nodes} nodes)."
            )
        return out

    def free_flow_cost(self) -> F64:
        """Generalised cost at zero flow, (m,) float64 (``fft * (1 + b)`` on ``power = 0`` links)."""
        zero_power = (self.power == 0.0) & (self.b != 0.0)
        return self.fft * np.where(zero_power, 1.0 + self.b, 1.0) + self.const


def _f64(values: Any) -> F64:
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64))


def _i64(values: Any) -> I64:
    return np.ascontiguousarray(np.asarray(values, dtype=np.int64))


def network_from_tntp(net: TNTPLike) -> AssignmentNetwork:
    """The assignment network of a TNTP network (``bim_ingest.tntp.read_tntp_network``).

    Nodes are ``1 .. n_nodes`` (index ``id - 1``), zones ``1 .. n_zones``;
    nodes below ``first_thru_node`` are not passed through.  The generalised
    cost constant is ``toll_factor * toll + distance_factor * length``.

    Parameters
    ----------
    net : TNTPLike
        A TNTP network.

    Returns
    -------
    AssignmentNetwork
    """
    links = net.links
    node_ids = np.arange(1, net.n_nodes + 1, dtype=np.int64)
    no_through = node_ids < int(net.first_thru_node)
    const = float(net.toll_factor) * links["toll"].to_numpy(float) + float(net.distance_factor) * links[
        "length"
    ].to_numpy(float)
    return AssignmentNetwork(
        name=str(net.name),
        node_ids=node_ids,
        link_ids=np.arange(1, len(links) + 1, dtype=np.int64),
        tails=_i64(links["init_node"].to_numpy() - 1),
        heads=_i64(links["term_node"].to_numpy() - 1),
        fft=_f64(links["free_flow_time"]),
        b=_f64(links["b"]),
        power=_f64(links["power"]),
        capacity=_f64(links["capacity"]),
        const=_f64(const),
        length=_f64(links["length"]),
        no_through=np.ascontiguousarray(no_through),
        zone_nodes=np.arange(int(net.n_zones), dtype=np.int64),
        time_unit="tntp",
        length_unit="tntp",
    )


def _has_mode(modes: pd.Series, mode: str) -> npt.NDArray[np.bool_]:
    tokens = modes.fillna("").astype(str).str.replace(" ", "").str.split(",")
    return tokens.map(lambda t: mode in t).to_numpy(dtype=bool)


def network_from_model(model: CityModel, *, mode: str = "car") -> AssignmentNetwork:
    """The car assignment network of a city model (links whose ``modes`` include ``mode``).

    Free-flow time is ``length_m / free_speed_kmh`` in minutes, capacity
    ``capacity_veh_h``, BPR ``alpha``/``beta``.  Every node may carry demand
    and be passed through.

    Parameters
    ----------
    model : CityModel
        Model with ``nodes`` and ``links``.
    mode : str
        Mode whose links form the network (default ``"car"``).

    Returns
    -------
    AssignmentNetwork

    Raises
    ------
    SchemaError
        A link refers to an unknown node, or has a speed ``<= 0``, a negative
        length, a NaN attribute or a capacity ``<= 0`` with ``alpha > 0``.
    """
    nodes, links = model.nodes, model.links
    if len(nodes) == 0 or len(links) == 0:
        raise SchemaError(
            f"Model {model.name!r} has no street network (nodes/links); read one with "
            "bim_ingest.network.read_network_layers or bim_ingest.osm.read_osm."
        )
    links = links[_has_mode(links["modes"], mode)]
    _check_model_links(links, mode)
    net_nodes = _i64(nodes["node_id"].to_numpy())
    order = np.argsort(net_nodes, kind="stable")
    sorted_ids = net_nodes[order]
    tails = _lookup(sorted_ids, order, links["from_node"].to_numpy(np.int64), links, "from_node")
    heads = _lookup(sorted_ids, order, links["to_node"].to_numpy(np.int64), links, "to_node")
    length = links["length_m"].to_numpy(float)
    fft = length / (links["free_speed_kmh"].to_numpy(float) / 3.6) / 60.0
    return AssignmentNetwork(
        name=model.name,
        node_ids=net_nodes,
        link_ids=_i64(links["link_id"]),
        tails=tails,
        heads=heads,
        fft=_f64(fft),
        b=_f64(links["alpha"]),
        power=_f64(links["beta"]),
        capacity=_f64(links["capacity_veh_h"]),
        const=np.zeros(len(links)),
        length=_f64(length),
        no_through=np.zeros(len(net_nodes), dtype=bool),
        zone_nodes=np.arange(len(net_nodes), dtype=np.int64),
        time_unit="min",
        length_unit="m",
    )


def _lookup(sorted_ids: I64, order: I64, ids: I64, links: pd.DataFrame, col: str) -> I64:
    pos = np.searchsorted(sorted_ids, ids)
    pos = np.minimum(pos, len(sorted_ids) - 1)
    bad = sorted_ids[pos] != ids
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            f"Link link_id={int(links['link_id'].iloc[k])} has {col}={int(ids[k])}, which is not a node; "
            "add the node or drop the link."
        )
    return _i64(order[pos])


def _check_model_links(links: pd.DataFrame, mode: str) -> None:
    for col in ("length_m", "free_speed_kmh", "capacity_veh_h", "alpha", "beta"):
        values = links[col].to_numpy(float)
        bad = ~np.isfinite(values)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise SchemaError(
                f"Link link_id={int(links['link_id'].iloc[k])} has {col}={values[k]}; fill it "
                "(bim_ingest.network.LINK_DEFAULTS gives defaults by attribute)."
            )
    speed = links["free_speed_kmh"].to_numpy(float)
    if (speed <= 0).any():
        k = int(np.flatnonzero(speed <= 0)[0])
        raise SchemaError(
            f"Link link_id={int(links['link_id'].iloc[k])} has free_speed_kmh={speed[k]} <= 0; "
            f"remove '{mode}' from its modes to close it instead."
        )
    if (links["length_m"].to_numpy(float) < 0).any() or (links["alpha"].to_numpy(float) < 0).any():
        raise SchemaError("Links need length_m >= 0 and alpha >= 0.")
    nocap = (links["alpha"].to_numpy(float) > 0) & (links["capacity_veh_h"].to_numpy(float) <= 0)
    if nocap.any():
        k = int(np.flatnonzero(nocap)[0])
        raise SchemaError(
            f"Link link_id={int(links['link_id'].iloc[k])} has capacity_veh_h <= 0 but alpha > 0; "
            "give it a capacity or close it to cars."
        )


def as_network(network_or_model: Any) -> AssignmentNetwork:
    """Turn a :class:`CityModel`, a TNTP network or an :class:`AssignmentNetwork` into the latter.

    Raises
    ------
    TypeError
        For any other object.
    """
    if isinstance(network_or_model, AssignmentNetwork):
        return network_or_model
    if isinstance(network_or_model, CityModel):
        return network_from_model(network_or_model)
    if all(hasattr(network_or_model, a) for a in ("links", "n_nodes", "n_zones", "first_thru_node")):
        return network_from_tntp(network_or_model)
    raise TypeError(
        "Expected a CityModel, a TNTP network or an AssignmentNetwork, got "
        f"{type(network_or_model).__name__}."
    )


# ----------------------------------------------------------------------------- mode graphs
@dataclass(frozen=True, eq=False)
class ModeGraph:
    """A travel-time graph of one mode, in CSR form (nodes ``0 .. n - 1``).

    Attributes
    ----------
    mode : str
        ``walk``, ``bike`` or ``car``.
    node_ids : (n,) int64
        Model ``node_id`` of each node index.
    xy : (n, 2) float64
        Node coordinates, model CRS metres.
    tails, heads : (e,) int64
        Edge ends (walk graphs hold both directions of each link).
    time_s : (e,) float64
        Travel time of each edge, seconds.
    link_ids : (e,) int64
        Model ``link_id`` each edge comes from.
    """

    mode: str
    node_ids: I64
    xy: F64
    tails: I64
    heads: I64
    time_s: F64
    link_ids: I64

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_ids.shape[0])

    @cached_property
    def forward(self) -> tuple[I64, I64, I64]:
        """CSR ``(indptr, adj_head, adj_link)`` along the edge directions."""
        return csr_from_edges(self.n_nodes, self.tails, self.heads)

    @cached_property
    def reverse(self) -> tuple[I64, I64, I64]:
        """CSR of the reversed graph (searches *towards* a set of nodes)."""
        return csr_from_edges(self.n_nodes, self.heads, self.tails)


def mode_graph(model: CityModel, mode: str, *, speeds_kmh: dict[str, float] | None = None) -> ModeGraph:
    """The travel-time graph of one mode from the model's ``links``.

    Parameters
    ----------
    model : CityModel
        Model with ``nodes`` (points) and ``links``.
    mode : {"walk", "bike", "car"}
        Links whose ``modes`` list this mode are kept.  Walk edges go both
        ways; bike and car edges follow the link.
    speeds_kmh : dict, optional
        Overrides of :data:`SPEEDS_KMH` (``walk``, ``bike``).  Bikes never
        exceed the link's ``free_speed_kmh``; cars drive at it.

    Returns
    -------
    ModeGraph

    Raises
    ------
    ScenarioValidationError
        For an unknown mode or a speed ``<= 0``.
    SchemaError
        When the model has no nodes, or links refer to unknown nodes.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from twin.model import CityModel
    >>> nodes = gpd.GeoDataFrame({"node_id": [1, 2]}, geometry=shapely.points([(0, 0), (100, 0)]),
    ...                          crs=31370)
    >>> links = gpd.GeoDataFrame({"link_id": [7], "from_node": [1], "to_node": [2], "length_m": [100.0],
    ...     "free_speed_kmh": [30.0], "modes": ["car,walk"]},
    ...     geometry=[shapely.LineString([(0, 0), (100, 0)])], crs=31370)
    >>> g = mode_graph(CityModel(nodes=nodes, links=links), "walk")
    >>> g.tails.tolist(), g.heads.tolist(), g.time_s.round(1).tolist()
    ([0, 1], [1, 0], [72.0, 72.0])
    """
    if mode not in MODES:
        raise ScenarioValidationError(f"Unknown mode {mode!r}; choose one of {list(MODES)}.")
    speeds = {**SPEEDS_KMH, **(speeds_kmh or {})}
    if any(v <= 0 for v in speeds.values()):
        raise ScenarioValidationError(f"Speeds must be > 0 km/h, got {speeds}.")
    nodes, links = model.nodes, model.links
    if len(nodes) == 0:
        raise SchemaError(f"Model {model.name!r} has no network nodes.")
    links = links[_has_mode(links["modes"], mode)]
    node_ids = _i64(nodes["node_id"].to_numpy())
    order = np.argsort(node_ids, kind="stable")
    sorted_ids = node_ids[order]
    tails = _lookup(sorted_ids, order, links["from_node"].to_numpy(np.int64), links, "from_node")
    heads = _lookup(sorted_ids, order, links["to_node"].to_numpy(np.int64), links, "to_node")
    length = links["length_m"].to_numpy(float)
    free = links["free_speed_kmh"].to_numpy(float)
    if mode == "walk":
        speed = np.full(len(links), speeds["walk"])
    elif mode == "bike":
        speed = np.minimum(speeds["bike"], np.where(free > 0, free, speeds["bike"]))
    else:
        speed = free
    if (speed <= 0).any() or not np.isfinite(speed).all():
        k = int(np.flatnonzero(~(speed > 0))[0])
        raise SchemaError(
            f"Link link_id={int(links['link_id'].iloc[k])} has no usable {mode} speed ({speed[k]} km/h)."
        )
    time_s = length / (speed / 3.6)
    ids = _i64(links["link_id"])
    if mode == "walk":
        tails, heads = np.concatenate([tails, heads]), np.concatenate([heads, tails])
        time_s = np.concatenate([time_s, time_s])
        ids = np.concatenate([ids, ids])
    geom = nodes.geometry
    xy = np.column_stack([geom.x.to_numpy(float), geom.y.to_numpy(float)])
    return ModeGraph(
        mode=mode,
        node_ids=node_ids,
        xy=np.ascontiguousarray(xy),
        tails=_i64(tails),
        heads=_i64(heads),
        time_s=_f64(time_s),
        link_ids=_i64(ids),
    )


def check_connectivity(graph: ModeGraph | AssignmentNetwork) -> pd.DataFrame:
    """Strongly connected components of a graph, largest first.

    Nodes outside the largest component cannot reach, or be reached from,
    most of the network: their accessibility and demand are unreliable.

    Parameters
    ----------
    graph : ModeGraph or AssignmentNetwork

    Returns
    -------
    pandas.DataFrame
        One row per component: ``component`` (0 = largest), ``n_nodes``,
        ``node_ids`` (list of external ids, sorted), ``isolated`` (no edge at
        all).

    Examples
    --------
    >>> import numpy as np
    >>> g = ModeGraph("car", np.array([10, 11, 12]), np.zeros((3, 2)), np.array([0, 1]),
    ...               np.array([1, 0]), np.ones(2), np.array([1, 2]))
    >>> check_connectivity(g)[["component", "n_nodes", "isolated"]].to_dict("list")
    {'component': [0, 1], 'n_nodes': [2, 1], 'isolated': [False, True]}
    """
    n = graph.n_nodes
    adj = coo_matrix((np.ones(len(graph.tails)), (graph.tails, graph.heads)), shape=(n, n)).tocsr()
    n_comp, labels = connected_components(adj, directed=True, connection="strong")
    degree = np.bincount(graph.tails, minlength=n) + np.bincount(graph.heads, minlength=n)
    sizes = np.bincount(labels, minlength=n_comp)
    rank = np.argsort(-sizes, kind="stable")
    rows = []
    for r, comp in enumerate(rank):
        members = np.flatnonzero(labels == comp)
        rows.append(
            {
                "component": r,
                "n_nodes": int(len(members)),
                "node_ids": sorted(graph.node_ids[members].tolist()),
                "isolated": bool(len(members) == 1 and degree[members[0]] == 0),
            }
        )
    return pd.DataFrame(rows, columns=["component", "n_nodes", "node_ids", "isolated"])
