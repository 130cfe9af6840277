"""Run one domain's simulation on baseline and variant, and diff them per entity and in totals.

Each ``run_<domain>`` returns plain outputs (tables + totals) that are cached
by content hash (:class:`ResultCache`): the baseline of a sweep of twenty
scenarios is computed once.  Each ``diff_<domain>`` turns two outputs into
the per-entity table a user colours a map by (``building_id``, ``link_id``,
soil column) and a flat dict of totals (variant minus baseline, ``d_`` prefix).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from scenarios.hashing import json_hash
from scenarios.spec import EnergySimulation, MobilitySimulation, SoilSimulation
from twin.model import CityModel

__all__ = [
    "ResultCache",
    "diff_energy",
    "diff_mobility",
    "diff_soil",
    "run_energy_outputs",
    "run_mobility_outputs",
    "run_soil_outputs",
]

_ENERGY_KEEP = (
    "heated_floor_area_m2",
    "heating_need_kwh",
    "heating_need_kwh_m2",
    "primary_energy_kwh_estimate",
    "primary_energy_kwh_m2_estimate",
    "co2_kg_estimate",
    "peb_class_estimate",
)
_CLASS_ORDER = ("A++", "A+", "A", "B", "C", "D", "E", "F", "G")


class ResultCache:
    """Results keyed by content hash: in memory (a bounded LRU) and, with ``directory``, on disk.

    Disk entries are pickles written atomically (temporary file, then
    rename) into a folder the user owns; a corrupt entry is recomputed.
    """

    def __init__(self, directory: str | Path | None = None, *, max_items: int = 16) -> None:
        self.directory = Path(directory) if directory else None
        self.max_items = max_items
        self._memory: OrderedDict[str, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(*parts: Any) -> str:
        """A cache key from JSON-able parts (model hash, domain, parameters, code version)."""
        return json_hash(list(parts))

    def get(self, key: str) -> Any | None:
        if key in self._memory:
            self._memory.move_to_end(key)
            self.hits += 1
            return self._memory[key]
        if self.directory is not None:
            path = self.directory / f"{key}.pkl"
            if path.is_file():
                try:
                    with path.open("rb") as f:
                        value = pickle.load(f)  # our own cache folder, written by put()
                except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
                    path.unlink(missing_ok=True)
                else:
                    self._remember(key, value)
                    self.hits += 1
                    return value
        self.misses += 1
        return None

    def put(self, key: str, value: Any) -> None:
        self._remember(key, value)
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.directory / f"{key}.pkl")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _remember(self, key: str, value: Any) -> None:
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_items:
            self._memory.popitem(last=False)


# ---------------------------------------------------------------- energy


def run_energy_outputs(model: CityModel, sim: EnergySimulation) -> dict[str, Any]:
    """Energy results table (per building) and totals."""
    from simulation.energy import run_energy

    params = sim.model_dump(exclude_none=True)
    res = run_energy(model, params or None)
    return {"results": res.results, "totals": dict(res.totals)}


def _class_rank(values: pd.Series) -> np.ndarray:
    rank = {c: k for k, c in enumerate(_CLASS_ORDER)}
    return values.map(lambda c: rank.get(c, np.nan)).to_numpy(dtype=float)


def diff_energy(base: dict[str, Any], variant: dict[str, Any]) -> tuple[gpd.GeoDataFrame, dict[str, float]]:
    """Per building: baseline, variant and change of heat need, primary energy, CO2 and class.

    Buildings present on one side only (replaced by an IFC building) keep NaN
    on the other side.  Totals: ``heating_need_kwh``, ``heating_need_kwh_m2``
    (district total over district heated area), ``co2_kg_estimate`` and
    ``primary_energy_kwh_estimate`` for baseline, variant and ``d_``; the
    number of buildings whose PEB-like class improves or worsens.
    """
    a = base["results"].set_index("building_id")
    b = variant["results"].set_index("building_id")
    ids = a.index.union(b.index, sort=False)
    geom = pd.concat([b.geometry, a.geometry[~a.index.isin(b.index)]]).reindex(ids)
    out = gpd.GeoDataFrame({"building_id": ids.to_numpy()}, geometry=geom.to_numpy(), crs=base["results"].crs)
    for col in _ENERGY_KEEP:
        va = a[col].reindex(ids)
        vb = b[col].reindex(ids)
        out[f"{col}_base"] = va.to_numpy()
        out[f"{col}_variant"] = vb.to_numpy()
        if col != "peb_class_estimate":
            out[f"d_{col}"] = vb.to_numpy(float) - va.to_numpy(float)
    ra = _class_rank(out["peb_class_estimate_base"])
    rb = _class_rank(out["peb_class_estimate_variant"])
    out["class_steps_improved"] = ra - rb  # positive = better class
    totals: dict[str, float] = {}
    ta, tb = base["totals"], variant["totals"]
    for key in ("heating_need_kwh", "heating_need_kwh_m2", "primary_energy_kwh_estimate", "co2_kg_estimate"):
        totals[f"{key}_base"] = float(ta[key])
        totals[f"{key}_variant"] = float(tb[key])
        totals[f"d_{key}"] = float(tb[key]) - float(ta[key])
    both = ~np.isnan(ra) & ~np.isnan(rb)
    totals["buildings_improving_class"] = int(np.sum(both & (rb < ra)))
    totals["buildings_worsening_class"] = int(np.sum(both & (rb > ra)))
    totals["buildings_changed"] = int(np.sum(np.abs(out["d_heating_need_kwh"].to_numpy(float)) > 1e-6))
    return out, totals


# ---------------------------------------------------------------- mobility


def run_mobility_outputs(model: CityModel, sim: MobilitySimulation) -> dict[str, Any]:
    """Gravity demand, equilibrium assignment and accessibility of one model."""
    from simulation.mobility import accessibility, assign, gravity_demand

    out: dict[str, Any] = {}
    if sim.assignment:
        kwargs = {"trip_rate": sim.trip_rate} if sim.trip_rate is not None else {}
        od = gravity_demand(model, **kwargs)
        out["assignment"] = assign(model, od, algorithm=sim.algorithm, gap=sim.gap)
        out["trips_veh_h"] = float(np.asarray(od, dtype=float).sum())
    if sim.accessibility:
        out["accessibility"] = accessibility(model)
    return out


def diff_mobility(
    base: dict[str, Any], variant: dict[str, Any], links: gpd.GeoDataFrame
) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """Per-link flow/cost changes and per-building accessibility changes, with totals."""
    from simulation.mobility import diff_accessibility, diff_assignments

    tables: dict[str, pd.DataFrame] = {}
    totals: dict[str, float] = {}
    if "assignment" in base:
        d = diff_assignments(base["assignment"], variant["assignment"])
        geo = links.drop_duplicates("link_id").set_index("link_id")[["geometry"]]
        table = d.links.join(geo, how="left")
        table.index.name = "link_id"
        tables["mobility_links"] = gpd.GeoDataFrame(table.reset_index(), geometry="geometry", crs=links.crs)
        totals.update({k: _num(v) for k, v in d.totals.items()})
        totals["trips_veh_h_base"] = base["trips_veh_h"]
        totals["trips_veh_h_variant"] = variant["trips_veh_h"]
    if "accessibility" in base:
        acc = diff_accessibility(base["accessibility"], variant["accessibility"])
        tables["accessibility"] = acc
        for col, s in acc.attrs.get("summary", {}).items():
            if col.endswith("min") and "_kinds_within_" in col:
                totals[f"d_mean_{col}"] = float(s["mean_change"])
                totals[f"buildings_worse_{col}"] = int(s["worse"])
    return tables, totals


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


# ---------------------------------------------------------------- soil


def run_soil_outputs(model: CityModel, soil: Any, sim: SoilSimulation) -> dict[str, Any]:
    """A design storm on ``soil`` (built for ``model``): totals and per-column water balance."""
    from simulation.soil import run_model_storm

    res = run_model_storm(model, storm=sim.storm, soil=soil)
    return {"totals": res["totals"], "columns": res["columns"], "solver": res["solver"]}


def diff_soil(base: dict[str, Any], variant: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per soil column: infiltration and runoff (m of water) of baseline and variant, and totals (m³)."""
    from simulation.soil import diff_storms

    a, b = base["columns"], variant["columns"]
    out = a[["j", "i", "x_m", "y_m"]].copy()
    out["sealed_base"] = a["sealed"].to_numpy()
    out["sealed_variant"] = b["sealed"].to_numpy()
    for col in ("infiltration_m", "runoff_m"):
        out[f"{col}_base"] = a[col].to_numpy()
        out[f"{col}_variant"] = b[col].to_numpy()
        out[f"d_{col}"] = b[col].to_numpy() - a[col].to_numpy()
    totals = {f"{k}_base": float(v) for k, v in base["totals"].items()}
    totals.update({f"{k}_variant": float(v) for k, v in variant["totals"].items()})
    totals.update({k: float(v) for k, v in diff_storms(base, variant).items()})
    return out, totals
