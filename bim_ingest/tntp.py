"""Readers for the TNTP traffic-assignment test format (``_net``, ``_trips``, ``_node``, ``_flow``).

The TNTP format is the one of *Transportation Networks for Research*
(Transportation Networks for Research Core Team,
https://github.com/bstabler/TransportationNetworks), the usual benchmark
networks for static user equilibrium (Sioux Falls, Anaheim, Barcelona,
Chicago ...).  A ``_net`` file starts with a metadata block::

    <NUMBER OF ZONES> 24
    <NUMBER OF NODES> 24
    <FIRST THRU NODE> 1
    <NUMBER OF LINKS> 76
    <END OF METADATA>

followed by one line per *directed* link,
``init_node term_node capacity length free_flow_time b power speed toll
link_type ;``, comment lines starting with ``~``.  Nodes ``1 ..
FIRST THRU NODE - 1`` are centroids that paths may start or end at but never
pass through.  The link cost is the BPR function
``free_flow_time * (1 + b * (flow / capacity) ** power)`` plus the
generalised-cost terms ``toll_factor * toll + distance_factor * length``;
some networks state ``<TOLL FACTOR>``/``<DISTANCE FACTOR>`` only in their
README, so both can be passed as parameters (a parameter overrides the
header).  The ``speed`` column is not part of the cost.

The readers check what later stages rely on and say what is wrong:
counts against the metadata, node numbers in range, capacities ``> 0`` on
flow-dependent links, non-negative times, ``b`` and powers, finite numbers.
Zero free-flow times, non-integer powers, ``b = 0`` links and dead-end nodes
are valid and kept as they are.

Examples
--------
>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "toy_net.tntp").write_text(
...     "<NUMBER OF ZONES> 2\\n<NUMBER OF NODES> 3\\n<FIRST THRU NODE> 3\\n"
...     "<NUMBER OF LINKS> 2\\n<END OF METADATA>\\n"
...     "~ init term cap len fft b power speed toll type ;\\n"
...     "1 3 100 1 2 0.15 4 0 0 1 ;\\n3 2 100 1 3 0.15 4 0 0 1 ;\\n")
>>> net = read_tntp_network(d / "toy_net.tntp")
>>> net.n_links, net.first_thru_node, net.links["free_flow_time"].tolist()
(2, 3, [2.0, 3.0])
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from twin.errors import IngestError, SchemaError, TwinWarning
from twin.typing import PathLike_

__all__ = [
    "LINK_COLUMNS",
    "TNTPNetwork",
    "read_tntp_flows",
    "read_tntp_network",
    "read_tntp_nodes",
    "read_tntp_trips",
]

#: Columns of a ``_net`` link line, in file order.
LINK_COLUMNS = (
    "init_node",
    "term_node",
    "capacity",
    "length",
    "free_flow_time",
    "b",
    "power",
    "speed",
    "toll",
    "link_type",
)

_META = re.compile(r"<\s*([^>]+?)\s*>\s*(.*)")
_OD = re.compile(r"(\d+)\s*:\s*([-+0-9.eE]+)")


@dataclass
class TNTPNetwork:
    """A TNTP network: directed links with BPR parameters, and its metadata.

    Attributes
    ----------
    name : str
        File stem without ``_net`` (e.g. ``"SiouxFalls"``).
    n_zones : int
        Number of zones; zones are nodes ``1 .. n_zones``.
    n_nodes : int
        Number of nodes; nodes are ``1 .. n_nodes`` (some may have no link).
    first_thru_node : int
        Nodes below it are centroids that paths may not pass through.
    links : pandas.DataFrame
        One row per directed link in file order, columns :data:`LINK_COLUMNS`
        (ids int64, the rest float64 except ``link_type`` int64).  Units are
        the file's (e.g. minutes, feet, vehicles per hour for Anaheim).
    toll_factor, distance_factor : float
        Weights of toll and length in the generalised cost (0 when neither
        header nor caller gives them).
    metadata : dict
        Every ``<KEY> value`` pair of the header, as strings.
    source : str
        Path of the file read.
    """

    name: str
    n_zones: int
    n_nodes: int
    first_thru_node: int
    links: pd.DataFrame
    toll_factor: float = 0.0
    distance_factor: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def n_links(self) -> int:
        """Number of directed links."""
        return len(self.links)

    def generalised_constant(self) -> np.ndarray:
        """Flow-independent cost per link: ``toll_factor * toll + distance_factor * length``, (m,) float64."""
        return self.toll_factor * self.links["toll"].to_numpy(float) + self.distance_factor * self.links[
            "length"
        ].to_numpy(float)

    def isolated_nodes(self) -> np.ndarray:
        """Node ids ``1 .. n_nodes`` that no link touches (e.g. Barcelona 111-...), int64."""
        used = np.zeros(self.n_nodes + 1, dtype=bool)
        used[self.links["init_node"].to_numpy()] = True
        used[self.links["term_node"].to_numpy()] = True
        return np.flatnonzero(~used[1:]) + 1

    def dead_ends(self) -> np.ndarray:
        """Non-centroid node ids with incoming links but no outgoing link (e.g. Barcelona 1008), int64."""
        out_deg = np.bincount(self.links["init_node"].to_numpy(), minlength=self.n_nodes + 1)
        in_deg = np.bincount(self.links["term_node"].to_numpy(), minlength=self.n_nodes + 1)
        ids = np.flatnonzero((in_deg > 0) & (out_deg == 0))
        return ids[ids > self.n_zones].astype(np.int64)

    def __repr__(self) -> str:
        return (
            f"<TNTPNetwork {self.name!r}: {self.n_zones} zones, {self.n_nodes} nodes, "
            f"{self.n_links} links, first thru node {self.first_thru_node}>"
        )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise IngestError(f"{path}: cannot read the TNTP file: {err}") from err


def _split_metadata(text: str, path: Path) -> tuple[dict[str, str], list[str]]:
    meta: dict[str, str] = {}
    lines = text.splitlines()
    for k, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        match = _META.match(s)
        if match is None:
            raise SchemaError(
                f"{path.name}: line {k + 1} comes before <END OF METADATA> but is not a <KEY> value "
                f"line: {s[:60]!r}."
            )
        key = match.group(1).strip().upper()
        if key == "END OF METADATA":
            return meta, lines[k + 1 :]
        meta[key] = match.group(2).strip()
    raise SchemaError(f"{path.name}: no <END OF METADATA> line; is this a TNTP file?")


def _meta_int(meta: dict[str, str], key: str, path: Path, default: int | None = None) -> int:
    if key not in meta:
        if default is not None:
            return default
        raise SchemaError(f"{path.name}: the metadata has no <{key}>; TNTP files state it.")
    try:
        return int(float(meta[key].split()[0]))
    except (ValueError, IndexError) as err:
        raise SchemaError(f"{path.name}: <{key}> {meta[key]!r} is not a number.") from err


def _meta_float(meta: dict[str, str], key: str, path: Path) -> float | None:
    if key not in meta or not meta[key].split():
        return None
    try:
        return float(meta[key].split()[0])
    except ValueError as err:
        raise SchemaError(f"{path.name}: <{key}> {meta[key]!r} is not a number.") from err


def read_tntp_network(
    net_path: PathLike_,
    *,
    toll_factor: float | None = None,
    distance_factor: float | None = None,
) -> TNTPNetwork:
    """Read a TNTP ``_net`` file.

    Parameters
    ----------
    net_path : path
        The ``*_net.tntp`` file.
    toll_factor, distance_factor : float, optional
        Weights of the toll and length columns in the generalised cost.  When
        given they override ``<TOLL FACTOR>``/``<DISTANCE FACTOR>`` of the
        header; when neither is given they are 0.

    Returns
    -------
    TNTPNetwork

    Raises
    ------
    IngestError
        The file cannot be read.
    SchemaError
        The metadata is missing or inconsistent with the links (counts, node
        numbers), or a link has an invalid value (NaN, negative time, ``b``
        or power, capacity ``<= 0`` on a flow-dependent link).
    """
    path = Path(net_path)
    meta, body = _split_metadata(_read_text(path), path)
    n_zones = _meta_int(meta, "NUMBER OF ZONES", path)
    n_nodes = _meta_int(meta, "NUMBER OF NODES", path)
    first_thru = _meta_int(meta, "FIRST THRU NODE", path, default=1)
    n_links = _meta_int(meta, "NUMBER OF LINKS", path)
    rows: list[list[str]] = []
    for line in body:
        s = line.split("~", 1)[0].strip()
        if not s:
            continue
        fields = s.replace(";", " ").split()
        if len(fields) < 7:
            raise SchemaError(
                f"{path.name}: link line {s[:60]!r} has {len(fields)} fields; expected at least 7 "
                f"({' '.join(LINK_COLUMNS)})."
            )
        rows.append((fields + ["0"] * len(LINK_COLUMNS))[: len(LINK_COLUMNS)])
    try:
        values = np.array(rows, dtype=np.float64).reshape(-1, len(LINK_COLUMNS))
    except ValueError as err:
        raise SchemaError(f"{path.name}: a link line holds a non-numeric field: {err}") from err
    links = pd.DataFrame(values, columns=list(LINK_COLUMNS))
    for col in ("init_node", "term_node", "link_type"):
        links[col] = links[col].astype(np.int64)
    if len(links) != n_links:
        raise SchemaError(
            f"{path.name}: <NUMBER OF LINKS> says {n_links} but the file has {len(links)} link lines; "
            "the file may be truncated."
        )
    _check_links(links, n_nodes, path)
    tf = toll_factor if toll_factor is not None else (_meta_float(meta, "TOLL FACTOR", path) or 0.0)
    df = (
        distance_factor
        if distance_factor is not None
        else (_meta_float(meta, "DISTANCE FACTOR", path) or 0.0)
    )
    name = path.name.removesuffix(".tntp").removesuffix("_net")
    return TNTPNetwork(
        name=name,
        n_zones=n_zones,
        n_nodes=n_nodes,
        first_thru_node=first_thru,
        links=links,
        toll_factor=float(tf),
        distance_factor=float(df),
        metadata=meta,
        source=str(path),
    )


def _check_links(links: pd.DataFrame, n_nodes: int, path: Path) -> None:
    num = links[["capacity", "length", "free_flow_time", "b", "power", "toll"]]
    bad = ~np.isfinite(num.to_numpy()).all(axis=1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise SchemaError(f"{path.name}: link {k + 1} has a non-finite value: {links.iloc[k].to_dict()}.")
    for col in ("init_node", "term_node"):
        out = (links[col] < 1) | (links[col] > n_nodes)
        if out.any():
            k = int(np.flatnonzero(out.to_numpy())[0])
            raise SchemaError(
                f"{path.name}: link {k + 1} has {col}={int(links[col].iloc[k])} outside 1..{n_nodes} "
                "(<NUMBER OF NODES>)."
            )
    for col in ("free_flow_time", "b", "power"):
        neg = links[col] < 0
        if neg.any():
            k = int(np.flatnonzero(neg.to_numpy())[0])
            raise SchemaError(
                f"{path.name}: link {k + 1} has {col}={links[col].iloc[k]} < 0; "
                "BPR needs non-negative values."
            )
    flowdep = (links["b"] > 0) & (links["power"] > 0)
    nocap = flowdep & (links["capacity"] <= 0)
    if nocap.any():
        k = int(np.flatnonzero(nocap.to_numpy())[0])
        raise SchemaError(
            f"{path.name}: link {k + 1} has capacity {links['capacity'].iloc[k]} <= 0 but a flow-dependent "
            "cost (b > 0); give it a positive capacity or b = 0."
        )


def read_tntp_trips(path: PathLike_) -> pd.DataFrame:
    """Read a TNTP ``_trips`` file into a square OD matrix.

    Parameters
    ----------
    path : path
        The ``*_trips.tntp`` file (``Origin o`` blocks of ``d : flow;`` items).

    Returns
    -------
    pandas.DataFrame
        ``(n_zones, n_zones)`` float64, index ``origin`` and columns
        ``destination`` holding the zone ids ``1 .. n_zones``; flows in the
        file's units (e.g. vehicles per hour).  Intrazonal cells are kept as
        read (assignment never loads them).

    Raises
    ------
    IngestError
        The file cannot be read.
    SchemaError
        An item comes before any ``Origin``, a zone is outside
        ``1 .. <NUMBER OF ZONES>`` or a flow is negative or not finite.

    Warns
    -----
    TwinWarning
        When the flows do not add up to ``<TOTAL OD FLOW>``.
    """
    path = Path(path)
    meta, body = _split_metadata(_read_text(path), path)
    n_zones = _meta_int(meta, "NUMBER OF ZONES", path)
    matrix = np.zeros((n_zones, n_zones))
    origin = 0
    for line in body:
        s = line.split("~", 1)[0].strip()
        if not s:
            continue
        if s.lower().startswith("origin"):
            try:
                origin = int(s.split()[1])
            except (IndexError, ValueError) as err:
                raise SchemaError(f"{path.name}: bad origin line {s!r}.") from err
            if not 1 <= origin <= n_zones:
                raise SchemaError(f"{path.name}: origin {origin} outside 1..{n_zones} (<NUMBER OF ZONES>).")
            continue
        items = _OD.findall(s)
        if items and origin == 0:
            raise SchemaError(f"{path.name}: OD items {s[:40]!r} come before the first 'Origin' line.")
        for dest_s, flow_s in items:
            dest = int(dest_s)
            flow = float(flow_s)
            if not 1 <= dest <= n_zones:
                raise SchemaError(f"{path.name}: destination {dest} of origin {origin} outside 1..{n_zones}.")
            if not np.isfinite(flow) or flow < 0:
                raise SchemaError(f"{path.name}: flow {flow} from {origin} to {dest} is not a flow >= 0.")
            matrix[origin - 1, dest - 1] += flow
    stated = _meta_float(meta, "TOTAL OD FLOW", path)
    total = float(matrix.sum())
    if stated is not None and abs(total - stated) > 1e-6 * max(1.0, abs(stated)) + 0.01:
        warnings.warn(
            f"{path.name}: the OD flows add up to {total:.6f} but <TOTAL OD FLOW> says {stated}.",
            TwinWarning,
            stacklevel=2,
        )
    zones = pd.Index(np.arange(1, n_zones + 1, dtype=np.int64))
    return pd.DataFrame(matrix, index=zones.rename("origin"), columns=zones.rename("destination"))


def read_tntp_flows(path: PathLike_) -> pd.DataFrame:
    """Read a TNTP ``_flow`` file (best-known link flows).

    Parameters
    ----------
    path : path
        The ``*_flow.tntp`` file: a header line (``From To Volume Cost``) and
        one line per link, in the order of the ``_net`` file.

    Returns
    -------
    pandas.DataFrame
        Columns ``init_node``, ``term_node`` (int64), ``flow``, ``cost``
        (float64), one row per link in file order.

    Raises
    ------
    IngestError
        The file cannot be read.
    SchemaError
        A line does not hold four numbers.
    """
    path = Path(path)
    rows = []
    for k, line in enumerate(_read_text(path).splitlines()):
        s = line.split("~", 1)[0].replace(";", " ").strip()
        if not s:
            continue
        fields = s.split()
        try:
            rows.append([float(v) for v in fields[:4]])
        except ValueError as err:
            if not rows:  # the header line
                continue
            raise SchemaError(f"{path.name}: line {k + 1} {s[:60]!r} is not 'from to volume cost'.") from err
        if len(fields) < 4:
            raise SchemaError(f"{path.name}: line {k + 1} {s[:60]!r} has fewer than 4 fields.")
    arr = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return pd.DataFrame(
        {
            "init_node": arr[:, 0].astype(np.int64),
            "term_node": arr[:, 1].astype(np.int64),
            "flow": arr[:, 2],
            "cost": arr[:, 3],
        }
    )


def read_tntp_nodes(path: PathLike_) -> pd.DataFrame:
    """Read a TNTP ``_node`` file (``Node X Y ;``).

    Returns
    -------
    pandas.DataFrame
        Columns ``node`` (int64), ``x``, ``y`` (float64, the file's
        coordinates: for Sioux Falls artificial longitude/latitude).

    Raises
    ------
    IngestError
        The file cannot be read.
    SchemaError
        A data line does not hold three numbers.
    """
    path = Path(path)
    rows = []
    for k, line in enumerate(_read_text(path).splitlines()):
        s = line.split("~", 1)[0].replace(";", " ").strip()
        if not s:
            continue
        fields = s.split()
        try:
            rows.append([float(v) for v in fields[:3]])
        except ValueError as err:
            if not rows:
                continue
            raise SchemaError(f"{path.name}: line {k + 1} {s[:60]!r} is not 'node x y'.") from err
    arr = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return pd.DataFrame({"node": arr[:, 0].astype(np.int64), "x": arr[:, 1], "y": arr[:, 2]})
