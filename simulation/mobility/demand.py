"""OD demand as tables and as the arrays the assignment kernels take.

Demand is a plain pandas object, so it can come from anywhere:

* a square matrix ``DataFrame`` (index = origin node ids, columns =
  destination node ids), as ``bim_ingest.tntp.read_tntp_trips`` returns and
  :func:`simulation.mobility.gravity_demand` produces;
* a long ``DataFrame`` with columns ``origin``, ``destination``, ``flow``
  (e.g. read from CSV with :func:`read_od_csv`).

:func:`demand_arrays` maps either onto a network's node indices: origins with
demand, destinations with demand, and the dense ``(r, z)`` flow block that
the kernels load.  Intrazonal cells and zeros are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from simulation.mobility.network import AssignmentNetwork
from twin.errors import IngestError, SchemaError
from twin.typing import PathLike_

__all__ = ["DemandArrays", "demand_arrays", "od_long", "read_od_csv", "scale_od"]


@dataclass(frozen=True)
class DemandArrays:
    """Demand laid out for the kernels.

    Attributes
    ----------
    origins : (r,) int64
        Node index of each origin with demand.
    dest_nodes : (z,) int64
        Node index of each destination with demand.
    matrix : (r, z) float64
        Flows (intrazonal entries zero).
    total : float
        Sum of the flows loaded.
    intrazonal : float
        Intrazonal flow dropped (never assigned).
    """

    origins: npt.NDArray[np.int64]
    dest_nodes: npt.NDArray[np.int64]
    matrix: npt.NDArray[np.float64]
    total: float
    intrazonal: float


def od_long(demand: pd.DataFrame) -> pd.DataFrame:
    """Demand as a long table ``origin, destination, flow`` (int64, int64, float64).

    Accepts a square matrix (index origins, columns destinations) or a long
    table with those three columns.

    Raises
    ------
    SchemaError
        For any other layout, or negative / non-finite flows.

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame([[0.0, 5.0], [2.0, 0.0]], index=[1, 2], columns=[1, 2])
    >>> od_long(m).to_dict("list")
    {'origin': [1, 2], 'destination': [2, 1], 'flow': [5.0, 2.0]}
    """
    if {"origin", "destination", "flow"} <= set(map(str, demand.columns)):
        out = demand[["origin", "destination", "flow"]].copy()
    else:
        try:
            cols = np.asarray(demand.columns, dtype=np.int64)
            rows = np.asarray(demand.index, dtype=np.int64)
        except (TypeError, ValueError) as err:
            raise SchemaError(
                "Demand must be a square matrix with node ids as index and columns, or a table with "
                f"columns origin, destination, flow; got columns {list(demand.columns)[:5]}."
            ) from err
        values = demand.to_numpy(dtype=float)
        i, j = np.nonzero(values)
        out = pd.DataFrame({"origin": rows[i], "destination": cols[j], "flow": values[i, j]})
    out["origin"] = out["origin"].astype(np.int64)
    out["destination"] = out["destination"].astype(np.int64)
    out["flow"] = out["flow"].astype(np.float64)
    flow = out["flow"].to_numpy()
    if not np.isfinite(flow).all() or (flow < 0).any():
        k = int(np.flatnonzero(~(np.isfinite(flow) & (flow >= 0)))[0])
        raise SchemaError(
            f"Demand from {out['origin'].iloc[k]} to {out['destination'].iloc[k]} is {flow[k]}; "
            "flows must be finite and >= 0."
        )
    return out[out["flow"] > 0].reset_index(drop=True)


def demand_arrays(network: AssignmentNetwork, demand: pd.DataFrame) -> DemandArrays:
    """Map demand onto a network's node indices.

    Parameters
    ----------
    network : AssignmentNetwork
    demand : pandas.DataFrame
        Square matrix or long table (see :func:`od_long`), node ids as in
        ``network.node_ids``.

    Returns
    -------
    DemandArrays

    Raises
    ------
    UnknownEntityError
        When an origin or destination is not a node of the network.
    SchemaError
        When demand starts or ends at a node that is not a zone.
    """
    od = od_long(demand)
    o = network.node_index(od["origin"].to_numpy())
    d = network.node_index(od["destination"].to_numpy())
    is_zone = np.zeros(network.n_nodes, dtype=bool)
    is_zone[network.zone_nodes] = True
    notzone = ~(is_zone[o] & is_zone[d])
    if notzone.any():
        k = int(np.flatnonzero(notzone)[0])
        raise SchemaError(
            f"Demand from node {int(od['origin'].iloc[k])} to {int(od['destination'].iloc[k])}: only zones "
            f"(the first {len(network.zone_nodes)} nodes) may carry demand."
        )
    flow = od["flow"].to_numpy()
    intra = o == d
    intrazonal = float(flow[intra].sum())
    o, d, flow = o[~intra], d[~intra], flow[~intra]
    origins, oi = np.unique(o, return_inverse=True)
    dests, di = np.unique(d, return_inverse=True)
    matrix = np.zeros((len(origins), len(dests)))
    np.add.at(matrix, (oi, di), flow)
    return DemandArrays(
        origins=np.ascontiguousarray(origins, dtype=np.int64),
        dest_nodes=np.ascontiguousarray(dests, dtype=np.int64),
        matrix=matrix,
        total=float(flow.sum()),
        intrazonal=intrazonal,
    )


def read_od_csv(path: PathLike_) -> pd.DataFrame:
    """Read OD demand from CSV with columns ``origin, destination, flow``.

    Raises
    ------
    IngestError
        The file cannot be read.
    SchemaError
        A column is missing or a flow is invalid.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise IngestError(f"{path}: cannot read OD CSV: {err}") from err
    missing = {"origin", "destination", "flow"} - set(table.columns)
    if missing:
        raise SchemaError(
            f"{path.name}: OD CSV lacks column(s) {sorted(missing)}; expected origin, destination, flow."
        )
    return od_long(table)


def scale_od(demand: pd.DataFrame, factor: float) -> pd.DataFrame:
    """Demand with every flow multiplied by ``factor`` (a new table, same layout).

    Raises
    ------
    SchemaError
        For a negative or non-finite factor.
    """
    if not np.isfinite(factor) or factor < 0:
        raise SchemaError(f"Demand factor {factor} must be finite and >= 0.")
    out = demand.copy()
    if {"origin", "destination", "flow"} <= set(map(str, out.columns)):
        out["flow"] = out["flow"] * factor
        return out
    return out * factor
