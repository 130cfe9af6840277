"""Storms on the city's soil: Uccle design storms, what-if edits and diffs.

* :func:`uccle_design_storm` — block hyetographs of the sheet's standard set (§4.3: 15, 25, 35 mm in
  1 h ≈ 2, 10, 100-year storms at Uccle; 55 mm in 24 h ≈ 10-year), from
  ``data/soil_uccle_design_storms.csv``; uniform intensity over the duration (no internal peak).
* what-if edits, pure (return a new :class:`~simulation.soil.grid.SoilModel`):
  :func:`deseal_polygon` (e.g. a car park: unseal and give the top layers a new material) and
  :func:`add_green_roof` (a 1D substrate column on the roofs of some buildings).
* :func:`run_model_storm` — prepare (model → arrays), solve (kernel), collect (totals and
  per-column tables); :func:`diff_storms` — variant minus baseline.

Bookkeeping of a model storm (volumes in m³ over the model area):
``rain = infiltrated + runoff`` at the surface, where runoff is what reaches the sewer.  Runoff
routing (``routing=``, no surface storage):

* ``"sewer"`` (default; in Brussels roofs and roads are normally connected to the combined sewer):
  the rain on sealed columns and the ponding excess of open columns go to the sewer;
* ``"neighbours"`` (disconnected surfaces): the rain on a sealed column runs on to its adjacent
  open columns (downhill ones by slope, else equally to level ones) and the ponding excess of an
  open column to its lower open neighbours, within the same time step (it enters their supply in
  the Picard iteration); what finds no open receiver goes to the sewer.  The ground slope comes
  from ``soil.surface_z_m`` (flat when the model has no terrain).  ``runon_m3`` reports the routed
  volume; see :func:`simulation.soil.solver.surface_routing` for the rules.

``recharge`` is the outflow through the bottom face; ``storage_change = infiltrated − recharge`` up
to the mass-balance error.  A green roof replaces the sealed-roof runoff of its area by the roof
column's surface excess plus its drainage (free drainage at the substrate base); the difference is
retained on the roof.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from simulation.soil.grid import GreenRoof, SoilModel, cells_in_polygon
from simulation.soil.materials import Material, carsel_parrish, params_array
from simulation.soil.solver import RichardsProblem, SolverOptions, run_richards
from twin.atomic import atomic_path
from twin.errors import ScenarioValidationError, UnknownEntityError

__all__ = [
    "uccle_design_storm",
    "design_storm_names",
    "deseal_polygon",
    "add_green_roof",
    "prepare_storm",
    "run_model_storm",
    "diff_storms",
]

_STORMS = Path(__file__).resolve().parents[2] / "data" / "soil_uccle_design_storms.csv"


def design_storm_names() -> list[str]:
    """Names of the bundled Uccle design storms."""
    with _STORMS.open(newline="") as f:
        return [r["name"] for r in csv.DictReader(f)]


def uccle_design_storm(
    name: str = "uccle_1h_10y", *, dry_after_s: float = 0.0
) -> tuple[NDArray, NDArray, float]:
    """A bundled Uccle design storm as a block hyetograph.

    Parameters
    ----------
    name
        One of :func:`design_storm_names` (``uccle_1h_2y``, ``uccle_1h_10y``, ``uccle_1h_100y``,
        ``uccle_24h_10y``).
    dry_after_s
        Dry time [s] appended after the storm (redistribution).

    Returns
    -------
    times_s, rates_m_s, duration_s
        Piecewise-constant rain series and the total duration.

    Examples
    --------
    >>> t, r, d = uccle_design_storm("uccle_1h_10y")
    >>> round(float(r[0] * 3600 * 1000), 6), d   # 25 mm in 1 h
    (25.0, 3600.0)
    """
    with _STORMS.open(newline="") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    if name not in rows:
        raise ScenarioValidationError(f"storm={name!r} is unknown; choose one of {sorted(rows)}.")
    dur = float(rows[name]["duration_h"]) * 3600.0
    rate = float(rows[name]["depth_mm"]) / 1000.0 / dur
    return np.array([0.0, dur]), np.array([rate, 0.0]), dur + float(dry_after_s)


def deseal_polygon(
    soil: SoilModel, polygon: BaseGeometry, *, topsoil: Material | None = None, depth_m: float = 0.3
) -> SoilModel:
    """De-seal the columns whose centre lies in ``polygon`` (e.g. a car park); pure.

    The columns become open (``sealed = False``) and, when ``topsoil`` is given, their layers down to
    ``depth_m`` get that material (e.g. loam topsoil over the existing compacted fill).  Nothing
    changes (same object returned) when no column centre lies inside.
    """
    inside = cells_in_polygon(soil, polygon)
    if not inside.any():
        return soil
    sealed = soil.sealed.copy()
    sealed[inside] = False
    material = soil.material.copy()
    materials = soil.materials
    if topsoil is not None:
        if topsoil not in materials:
            materials = (*materials, topsoil)
        q = materials.index(topsoil)
        top = soil.depth_m < depth_m
        for k in np.flatnonzero(top):
            material[k][inside] = q
    return replace(soil, sealed=sealed, material=material, materials=materials)


def add_green_roof(
    model, soil: SoilModel, building_ids, *, substrate: Material | None = None, thickness_m: float = 0.12
) -> SoilModel:
    """Put a green roof on buildings; pure (returns a new soil model).

    The roof is a separate 1D column (sheet §2.3), not part of the ground grid.  Default substrate:
    Carsel & Parrish loamy sand (an engineering stand-in for a mineral green-roof substrate).
    """
    ids = tuple(str(b) for b in building_ids)
    table = model.buildings.set_index("building_id")
    missing = [b for b in ids if b not in table.index]
    if missing:
        raise UnknownEntityError(f"building_id(s) {missing[:5]} are not in the model; check the ids.")
    area = float(table.loc[list(ids)].geometry.area.sum())
    roof = GreenRoof(
        ids, area, substrate or replace(carsel_parrish("loamy sand"), name="roof substrate"), thickness_m
    )
    return replace(soil, green_roofs=(*soil.green_roofs, roof))


def prepare_storm(
    soil: SoilModel, times_s, rates_m_s, *, water_table: bool = True, routing: str = "sewer"
) -> RichardsProblem:
    """Arrays of a storm on the soil model (sealed columns closed, open columns rain + ponding).

    Initial state: hydrostatic equilibrium with the water table at the bottom face (``h = 0`` there,
    zero flux), which is also the bottom boundary (fixed head 0: recharge is the flow into it); with
    ``water_table=False`` the bottom is free drainage from the same initial state.  ``routing``:
    ``"sewer"`` or ``"neighbours"`` (module docstring), slope from ``soil.surface_z_m``.
    """
    nz, ny, nx = soil.shape
    dx, dy, dz = soil.spacing
    depth = soil.depth_m
    h0 = np.broadcast_to((-(nz * dz - depth))[:, None, None], soil.shape).copy()
    top_type = np.where(soil.sealed, 0, 2).astype(np.int8)
    return RichardsProblem(
        mat=soil.material.astype(np.int32),
        params=params_array(list(soil.materials)),
        h0=h0,
        dx=dx,
        dy=dy,
        dz=dz,
        top_type=top_type,
        top_head=np.zeros((ny, nx)),
        rain_times_s=np.asarray(times_s, float),
        rain_rates_m_s=np.asarray(rates_m_s, float),
        bottom_type="head" if water_table else "free_drainage",
        bottom_head_m=0.0,
        routing=routing,
        surface_z_m=np.asarray(soil.surface_z_m, dtype=np.float64),
    )


def _green_roof_run(roof: GreenRoof, times, rates, duration, options) -> dict[str, float]:
    dz = min(0.01, roof.thickness_m / 4)
    nz = max(4, round(roof.thickness_m / dz))
    prob = RichardsProblem(
        mat=np.zeros((nz, 1, 1), np.int32),
        params=params_array([roof.substrate]),
        h0=np.full((nz, 1, 1), -1.0),
        dx=1.0,
        dy=1.0,
        dz=roof.thickness_m / nz,
        top_type=np.full((1, 1), 2, np.int8),
        top_head=np.zeros((1, 1)),
        rain_times_s=np.asarray(times, float),
        rain_rates_m_s=np.asarray(rates, float),
        bottom_type="free_drainage",
    )
    r = run_richards(prob, duration_s=duration, output_times_s=[duration], options=options)
    b = r.balance[-1]
    return {
        "rain_m": b["rain_m"],
        "outflow_m": b["runoff_m"] + b["outflow_bottom_m"],
        "retained_m": b["storage_change_m"],
        "mass_balance_error": b["mass_balance_error"],
    }


def run_model_storm(
    model,
    *,
    storm: str | tuple[Any, Any, float] = "uccle_1h_10y",
    out_dir: str | Path | None = None,
    soil: SoilModel | None = None,
    output_times_s: list[float] | None = None,
    options: SolverOptions | None = None,
    water_table: bool = True,
    routing: str = "sewer",
) -> dict[str, Any]:
    """Run a storm on the model's soil (``model.soil`` or ``soil``) and collect the water balance.

    Parameters
    ----------
    model : CityModel
    storm
        A bundled Uccle storm name, or ``(times_s, rates_m_s, duration_s)``.
    out_dir
        When given: ``summary.json``, ``columns.csv`` (per surface column: ``j, i, x_m, y_m, sealed,
        infiltration_m, runoff_m, runon_m, sewer_m``) and ``fields_<t>.npz`` at the output times.
    soil
        Soil model to use instead of ``model.soil``.
    output_times_s
        Field output times (default: the end).
    options
        Solver settings (default: ``dt_initial_s = 10``, ``dt_max_s = 900``, looser tolerances
        ``eps_h_m = 1e-5``, ``eps_theta = 1e-6``, ``cg_rtol = 1e-6``; the inner CG tolerance is
        relative to the current Picard residual, so a loose value costs no extra Picard iterations
        and no mass balance: measured on the 500k-cell storm, 1e-6 and 1e-10 give the same 637
        Picard iterations and a 1.5e-10 balance error, with 30 % fewer Krylov iterations).
    water_table
        Bottom boundary: water table at the base (default) or free drainage.
    routing
        ``"sewer"`` (default) or ``"neighbours"``: where the rain of sealed columns and the ponding
        excess go (module docstring).

    Returns
    -------
    dict
        ``totals`` (m³: ``rain_m3``, ``infiltrated_m3``, ``runoff_m3`` (to the sewer), ``runon_m3``
        (routed to open neighbours), ``recharge_m3``,
        ``storage_change_m3``, ``green_roof_retained_m3``; ``mass_balance_error``), ``solver`` stats,
        ``columns`` (a DataFrame as written to ``columns.csv``) and ``balance`` per output time.
    """
    soil = soil if soil is not None else model.soil
    if soil is None:
        raise ScenarioValidationError("model.soil is None; build it with build_soil_model(model) first.")
    if isinstance(storm, str):
        times, rates, duration = uccle_design_storm(storm)
    else:
        times, rates, duration = storm
    opts = options or SolverOptions(
        dt_initial_s=10.0, dt_max_s=900.0, eps_h_m=1e-5, eps_theta=1e-6, cg_rtol=1e-6
    )
    prob = prepare_storm(soil, times, rates, water_table=water_table, routing=routing)
    outs = output_times_s or [duration]
    r = run_richards(prob, duration_s=duration, output_times_s=outs, options=opts)
    nz, ny, nx = soil.shape
    area = nx * ny * soil.spacing[0] * soil.spacing[1]
    b = r.balance[-1]
    totals = {
        "rain_m3": b["rain_m"] * area,
        "infiltrated_m3": b["inflow_top_m"] * area,
        "runoff_m3": b["runoff_m"] * area,
        "runon_m3": b["runon_m"] * area,
        "recharge_m3": b["outflow_bottom_m"] * area,
        "storage_change_m3": b["storage_change_m"] * area,
        "green_roof_retained_m3": 0.0,
        "mass_balance_error": max(x["mass_balance_error"] for x in r.balance),
    }
    for roof in soil.green_roofs:
        g = _green_roof_run(roof, times, rates, duration, opts)
        totals["runoff_m3"] += (g["outflow_m"] - g["rain_m"]) * roof.area_m2
        totals["green_roof_retained_m3"] += g["retained_m"] * roof.area_m2
        totals["mass_balance_error"] = max(totals["mass_balance_error"], g["mass_balance_error"])
    xx, yy = soil.cell_centres_xy
    jj, ii = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    columns = pd.DataFrame(
        {
            "j": jj.ravel(),
            "i": ii.ravel(),
            "x_m": xx.ravel(),
            "y_m": yy.ravel(),
            "sealed": soil.sealed.ravel(),
            "infiltration_m": r.infiltration_m.ravel(),
            "runoff_m": r.runoff_m.ravel(),
            "runon_m": r.runon_m.ravel(),
            "sewer_m": r.sewer_m.ravel(),
        }
    )
    summary = {
        "storm": storm if isinstance(storm, str) else "custom",
        "duration_s": float(duration),
        "grid": {
            "shape": list(soil.shape),
            "spacing_m": list(soil.spacing),
            "origin": list(soil.origin),
            "crs": soil.crs,
            "sealed_fraction": soil.sealed_fraction,
        },
        "totals": {k: float(v) for k, v in totals.items()},
        "balance": [{k: float(v) for k, v in x.items()} for x in r.balance],
        "solver": {k: float(v) for k, v in r.stats.items()},
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "columns.csv") as tmp:
            columns.to_csv(tmp, index=False)
        for t, h, th in zip(r.times_s, r.head_m, r.theta, strict=True):
            with atomic_path(out / f"fields_{t:g}.npz") as tmp, tmp.open("wb") as f:
                np.savez_compressed(f, head_m=h, theta=th, depth_m=soil.depth_m, time_s=t)
        with atomic_path(out / "summary.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=2))
    summary["columns"] = columns
    return summary


def diff_storms(baseline: dict[str, Any], variant: dict[str, Any]) -> dict[str, float]:
    """Variant minus baseline of the storm totals (m³): infiltrated, runoff, recharge, storage, ..."""
    keys = (
        "rain_m3",
        "infiltrated_m3",
        "runoff_m3",
        "runon_m3",
        "recharge_m3",
        "storage_change_m3",
        "green_roof_retained_m3",
    )
    return {f"delta_{k}": variant["totals"][k] - baseline["totals"][k] for k in keys}
