"""Differences between a baseline and a variant: assignments per link, accessibility per building.

Scenario results are diffed against the baseline (ARCHITECTURE.md).  Links
are matched by ``link_id`` and buildings by ``building_id``; a link closed to
cars in the variant counts as carrying no flow there.  Differences are
``variant - baseline``.  Assignment totals are vehicle-hours and
vehicle-kilometres for model networks (times in minutes, lengths in metres)
and vehicle x time / vehicle x length units for TNTP networks.

Stable differences need both assignments converged far below the size of
the effect: use Algorithm B at a relative gap of 1e-8 or less (the default
1e-10 is safe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from simulation.mobility.assignment import AssignmentResult

__all__ = ["AssignmentDiff", "diff_accessibility", "diff_assignments"]


@dataclass
class AssignmentDiff:
    """Per-link and total differences between two assignments.

    Attributes
    ----------
    links : pandas.DataFrame
        Indexed by ``link_id`` (union of both networks): ``flow_base``,
        ``flow_variant``, ``d_flow``, ``cost_base``, ``cost_variant``
        (NaN where the link is absent), ``d_cost``, ``voc_base``,
        ``voc_variant``, ``length``, ``in_base``, ``in_variant``.
    totals : dict
        ``{name}_base``, ``{name}_variant`` and ``d_{name}`` for ``tstt``,
        ``vehicle_time``, ``vehicle_length`` and, for model networks,
        ``veh_h`` and ``veh_km``; plus ``relative_gap_base``/``_variant`` and
        ``links_changed`` (|d_flow| above 1e-6 of the largest flow).
    """

    links: pd.DataFrame
    totals: dict[str, Any]


def diff_assignments(base: AssignmentResult, variant: AssignmentResult) -> AssignmentDiff:
    """Compare two assignment results link by link and in totals.

    Parameters
    ----------
    base, variant : AssignmentResult

    Returns
    -------
    AssignmentDiff

    Examples
    --------
    >>> from simulation.mobility import assign, gravity_demand
    >>> from simulation.mobility.edits import set_speed_in_polygon
    >>> from simulation.mobility.sample import sample_model
    >>> base_model = sample_model(120, seed=2)
    >>> od = gravity_demand(base_model, trip_rate=2.0)
    >>> zone = base_model.links.union_all().convex_hull
    >>> slow = set_speed_in_polygon(base_model, zone, 20.0)
    >>> d = diff_assignments(assign(base_model, od), assign(slow, od))
    >>> bool(d.totals["d_veh_h"] > 0), d.links.index.name
    (True, 'link_id')
    """
    a = base.links
    b = variant.links
    ids = a.index.union(b.index)
    a, b = a.reindex(ids), b.reindex(ids)
    links = pd.DataFrame(
        {
            "flow_base": a["flow"].fillna(0.0),
            "flow_variant": b["flow"].fillna(0.0),
            "cost_base": a["cost"],
            "cost_variant": b["cost"],
            "voc_base": a["voc"],
            "voc_variant": b["voc"],
            "length": a["length"].fillna(b["length"]),
            "in_base": a["flow"].notna(),
            "in_variant": b["flow"].notna(),
        },
        index=ids,
    )
    links.insert(2, "d_flow", links["flow_variant"] - links["flow_base"])
    links.insert(5, "d_cost", links["cost_variant"] - links["cost_base"])
    totals: dict[str, Any] = {}
    tb, tv = base.totals, variant.totals
    for key in ("tstt", "vehicle_time", "vehicle_length", "veh_h", "veh_km"):
        if key in tb and key in tv:
            totals[f"{key}_base"] = tb[key]
            totals[f"{key}_variant"] = tv[key]
            totals[f"d_{key}"] = tv[key] - tb[key]
    totals["relative_gap_base"] = base.relative_gap
    totals["relative_gap_variant"] = variant.relative_gap
    scale = max(float(links[["flow_base", "flow_variant"]].abs().to_numpy().max(initial=0.0)), 1.0)
    totals["links_changed"] = int((links["d_flow"].abs() > 1e-6 * scale).sum())
    return AssignmentDiff(links=links, totals=totals)


def diff_accessibility(base: gpd.GeoDataFrame, variant: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Per-building differences of two :func:`simulation.mobility.accessibility` tables.

    Returns
    -------
    geopandas.GeoDataFrame
        ``building_id``, geometry (of the baseline) and ``d_{column}`` for every
        numeric column both tables share (minutes: positive = slower;
        counts: positive = more services).  ``attrs["summary"]`` holds, per
        column, the mean change and the number of buildings that got worse.
    """
    key = "building_id"
    a = base.set_index(key)
    b = variant.set_index(key).reindex(a.index)
    cols = [
        c
        for c in a.columns
        if c in b.columns and c != a.geometry.name and pd.api.types.is_numeric_dtype(a[c])
    ]
    out = gpd.GeoDataFrame({key: a.index.to_numpy()}, geometry=a.geometry.to_numpy(), crs=base.crs)
    summary: dict[str, dict[str, float]] = {}
    for c in cols:
        d = b[c].to_numpy(float) - a[c].to_numpy(float)
        out[f"d_{c}"] = d
        worse = d > 0 if c.endswith("_min") else d < 0
        summary[c] = {"mean_change": float(np.nanmean(d)) if len(d) else 0.0, "worse": int(np.sum(worse))}
    out.attrs["summary"] = summary
    return out
