"""Street networks stored as node and link layers (GeoPackage or GeoJSON pair).

This reads networks that already follow the model's ``nodes`` / ``links``
contract (as the sample district writes them): a ``nodes`` layer of points
with ``node_id`` and a ``links`` layer of lines with ``link_id``,
``from_node``, ``to_node`` and the link attributes.  Missing attributes get
documented defaults (Brussels: 30 km/h unless stated; BPR alpha 0.15, beta 4).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio

from twin.crs import to_crs
from twin.errors import IngestError, SchemaError
from twin.typing import CRSLike, PathLike_

__all__ = ["read_network_layers", "LINK_DEFAULTS"]

#: Defaults for link attributes a source lacks.
LINK_DEFAULTS = {
    "free_speed_kmh": 30.0,  # Brussels: 30 km/h region-wide by default since 2021
    "lanes": 1,
    "capacity_veh_h": 600.0,
    "modes": "car,bike,walk",
    "alpha": 0.15,  # BPR (Bureau of Public Roads, 1964)
    "beta": 4.0,
}


def read_network_layers(
    path: PathLike_, *, crs: CRSLike | None = None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Read ``nodes`` and ``links`` layers and reproject them to ``crs``.

    Raises
    ------
    IngestError
        The file cannot be opened.
    SchemaError
        A layer or a required column is missing, or links refer to unknown nodes.
    """
    path = Path(path)
    try:
        layers = {str(r[0]) for r in pyogrio.list_layers(path)}
    except Exception as err:
        raise IngestError(f"{path.name}: cannot open as a vector file: {err}") from err
    missing = {"nodes", "links"} - layers
    if missing:
        raise SchemaError(f"{path.name}: no layer(s) {sorted(missing)}; found {sorted(layers)}.")
    target = to_crs(crs)
    nodes = pyogrio.read_dataframe(path, layer="nodes").to_crs(target)
    links = pyogrio.read_dataframe(path, layer="links").to_crs(target)
    for col in ("node_id",):
        if col not in nodes:
            raise SchemaError(f"{path.name}: layer 'nodes' has no column {col!r}.")
    for col in ("link_id", "from_node", "to_node"):
        if col not in links:
            raise SchemaError(f"{path.name}: layer 'links' has no column {col!r}.")
    known = set(nodes["node_id"].astype(np.int64))
    bad = ~links["from_node"].isin(known) | ~links["to_node"].isin(known)
    if bad.any():
        raise SchemaError(
            f"{path.name}: {int(bad.sum())} link(s) refer to unknown nodes, e.g. link_id="
            f"{links.loc[bad, 'link_id'].iloc[0]}."
        )
    if "length_m" not in links:
        links["length_m"] = links.geometry.length
    for col, value in LINK_DEFAULTS.items():
        if col not in links:
            links[col] = value
    if "z_m" not in nodes:
        nodes["z_m"] = np.nan
    return nodes, links
