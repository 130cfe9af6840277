"""Kernel outputs → results table and totals: :func:`collect`, :func:`run_energy`, :class:`EnergyResult`.

One row per ``building_id`` with the columns of :data:`RESULT_COLUMNS` (units
in the names), the footprint geometry and the model's CRS; plus a flat dict
of district totals (numbers only, so scenario runs can diff them).

Primary energy, CO2 and the PEB-like class are **estimates**, never a
certificate (sheet §11): ``EP = [Q_H,nd/η_heat + Q_DHW/η_DHW]·f_p,fuel +
aux·f_p,el`` per m² of heated floor area, with the hot-water need, the
auxiliary electricity and the system efficiencies of the bundled typology
(``data/energy_uses.csv``, ``data/energy_typology.csv``, project
assumptions) and the carriers' factors (``data/energy_carriers.csv``).  The
class uses the Brussels residential thresholds and is only given to uses
whose ``peb_scale`` is ``residential``; other buildings get ``n/a``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio

from kernels.energy import ANNUAL_FIELDS, H_PARTS
from simulation.energy.params import EnergyParams, typology_tables
from simulation.energy.prepare import EnergyArrays, EnergyOutputs, _params, compute, prepare
from twin.atomic import atomic_path
from twin.errors import StoreError
from twin.model import CityModel

__all__ = [
    "PEB_CLASSES",
    "RESULT_COLUMNS",
    "EnergyResult",
    "collect",
    "peb_class",
    "run_energy",
    "summary_rows",
]

#: Brussels residential PEB classes: (class, upper bound of kWh_EP/(m²·yr), inclusive) (sheet §11).
PEB_CLASSES: tuple[tuple[str, float], ...] = (
    ("A++", -1e-12),
    ("A+", 15.0),
    ("A", 45.0),
    ("B", 95.0),
    ("C", 150.0),
    ("D", 210.0),
    ("E", 275.0),
    ("F", 345.0),
    ("G", np.inf),
)
_MONTH_COLS = tuple(f"heating_need_m{m:02d}_kwh" for m in range(1, 13))

#: Result columns and their meaning (units in the names).
RESULT_COLUMNS: dict[str, str] = {
    "building_id": "building id of the model",
    "typology": "building type of the model",
    "use": "use of the model",
    "year_built": "construction year of the model (may be NA)",
    "typology_period": "construction period used for the typology defaults",
    "typology_type": "typology row used for defaults (unknown types: other)",
    "heated_floor_area_m2": "A_f, heated floor area, m²",
    "air_volume_m3": "V_air, internal air volume, m³",
    "envelope_area_m2": "Σ A of surfaces with b > 0 (thermal-bridge area), m²",
    "window_area_m2": "window area incl. frames, m²",
    "party_wall_area_m2": "area shared with neighbouring buildings, m²",
    "exposed_perimeter_m": "ground-floor perimeter not shared with neighbours, m",
    "u_ground_w_m2k": "EN ISO 13370 U of the ground floor (NaN: none or not computed), W/(m²·K)",
    **{f"h_{p}_w_k": f"transmission coefficient of {p.replace('_', ' ')}, Σ b·U·A, W/K" for p in H_PARTS},
    "h_tr_w_k": "H_tr, transmission heat-transfer coefficient incl. thermal bridges, W/K",
    "h_ve_w_k": "H_ve, ventilation heat-transfer coefficient, W/K",
    "time_constant_h": "τ, building time constant, h",
    "heating_need_kwh": "Q_H,nd, annual net heating need, kWh/yr",
    "heating_need_kwh_m2": "Q_H,nd / A_f, kWh/(m²·yr)",
    **{c: f"net heating need of month {c[14:16]}, kWh" for c in _MONTH_COLS},
    **{
        f"q_{p}_kwh": f"heat loss through {p.replace('_', ' ')} in the heating months, kWh/yr"
        for p in H_PARTS
    },
    "q_ventilation_kwh": "ventilation heat loss in the heating months, kWh/yr",
    "q_solar_gains_kwh": "solar gains in the heating months, kWh/yr",
    "q_internal_gains_kwh": "internal gains in the heating months, kWh/yr",
    "q_gains_utilised_kwh": "Σ η·Q_gn in the heating months (losses − this = heating need), kWh/yr",
    "eta_heating_estimate": "assumed seasonal efficiency of the heating system, -",
    "final_energy_heating_kwh_estimate": "Q_H,nd / η_heat, kWh/yr (estimate)",
    "dhw_need_kwh_estimate": "assumed domestic hot-water need, kWh/yr",
    "final_energy_dhw_kwh_estimate": "hot-water need / η_DHW, kWh/yr (estimate)",
    "auxiliary_electricity_kwh_estimate": "assumed auxiliary electricity, kWh/yr",
    "primary_energy_kwh_estimate": "primary energy of heating + hot water + auxiliaries, kWh/yr (estimate)",
    "primary_energy_kwh_m2_estimate": "primary energy per m² of A_f, kWh_EP/(m²·yr) (estimate)",
    "co2_kg_estimate": "CO2 emissions of heating + hot water + auxiliaries, kg/yr (estimate)",
    "co2_kg_m2_estimate": "CO2 per m² of A_f, kg/(m²·yr) (estimate)",
    "peb_class_estimate": (
        "PEB-like class from the Brussels residential thresholds - an estimate, not a certificate"
    ),
    "energy_provenance": "what was taken from the typology or assumed for this building",
}


def peb_class(ep_kwh_m2: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """PEB-like class of specific primary-energy values (Brussels residential thresholds, sheet §11).

    Bounds are inclusive upper bounds: ``≤ 45`` is A, ``≤ 95`` B, …, ``> 345``
    G, below 0 A++.  NaN gives ``n/a``.  An estimate, not a certificate.

    Examples
    --------
    >>> peb_class([-5, 10, 45, 45.5, 150, 346, float("nan")]).tolist()
    ['A++', 'A+', 'A', 'B', 'C', 'G', 'n/a']
    """
    ep = np.asarray(ep_kwh_m2, dtype=np.float64)
    bounds = np.array([b for _, b in PEB_CLASSES])
    names = np.array([c for c, _ in PEB_CLASSES] + ["n/a"], dtype=object)
    idx = np.searchsorted(bounds, ep, side="left")
    idx = np.where(np.isnan(ep), len(PEB_CLASSES), idx)
    return names[idx]


def collect(
    model: CityModel, arrays: EnergyArrays, out: EnergyOutputs
) -> tuple[gpd.GeoDataFrame, dict[str, float]]:
    """Results table and district totals from kernel outputs.

    Parameters
    ----------
    model
        The model :func:`prepare` read (geometry, ids, attributes).
    arrays, out
        From :func:`prepare` and :func:`compute`.

    Returns
    -------
    results : geopandas.GeoDataFrame
        One row per ``building_id`` (in the model's order, default index),
        columns :data:`RESULT_COLUMNS`, footprint geometry, the model's CRS.
        Buildings without surfaces have NaN results.
    totals : dict[str, float]
        ``n_buildings``, ``heated_floor_area_m2``, ``heating_need_kwh``,
        ``heating_need_kwh_m2`` (area-weighted), ``heating_need_kwh_m2_median``,
        the loss breakdown ``q_*_kwh``, ``primary_energy_kwh_estimate``,
        ``co2_kg_estimate``, ``h_tr_w_k``, ``h_ve_w_k`` and
        ``n_peb_class_estimate_<class>`` counts.
    """
    b = model.buildings.set_index("building_id").reindex(arrays.building_id)
    info = arrays.info
    a_f = arrays.floor_area
    ann = dict(zip(ANNUAL_FIELDS, out.annual.T, strict=True))
    need = ann["q_h_nd_kwh"].copy()
    dead = info["n_surfaces"].to_numpy() == 0
    carriers = typology_tables().carriers
    params = arrays.params
    fp_heat = float(carriers.loc[params.heating_carrier, "primary_energy_factor"])
    fp_dhw = float(carriers.loc[params.dhw_carrier, "primary_energy_factor"])
    fp_el = float(carriers.loc["electricity", "primary_energy_factor"])
    co2_heat = float(carriers.loc[params.heating_carrier, "co2_kg_kwh"])
    co2_dhw = float(carriers.loc[params.dhw_carrier, "co2_kg_kwh"])
    co2_el = float(carriers.loc["electricity", "co2_kg_kwh"])

    final_heat = need / info["eta_heating"].to_numpy()
    dhw = info["dhw_need_kwh_m2"].to_numpy() * a_f
    final_dhw = dhw / info["eta_dhw"].to_numpy()
    aux = info["aux_electricity_kwh_m2"].to_numpy() * a_f
    primary = final_heat * fp_heat + final_dhw * fp_dhw + aux * fp_el
    co2 = final_heat * co2_heat + final_dhw * co2_dhw + aux * co2_el
    ep_m2 = primary / a_f
    cls = np.where(info["peb_scale"].to_numpy() == "residential", peb_class(ep_m2), "n/a").astype(object)

    cols: dict[str, Any] = {
        "building_id": arrays.building_id,
        "typology": b["typology"].to_numpy(),
        "use": b["use"].to_numpy(),
        "year_built": pd.array(b["year_built"], dtype="Int64"),
        "typology_period": info["typology_period"].to_numpy(),
        "typology_type": info["typology_type"].to_numpy(),
        "heated_floor_area_m2": a_f,
        "air_volume_m3": arrays.v_air,
        "envelope_area_m2": out.a_env,
        "window_area_m2": info["window_area_m2"].to_numpy(),
        "party_wall_area_m2": info["party_wall_area_m2"].to_numpy(),
        "exposed_perimeter_m": info["exposed_perimeter_m"].to_numpy(),
        "u_ground_w_m2k": info["u_ground_w_m2k"].to_numpy(),
    }
    for k, p in enumerate(H_PARTS):
        cols[f"h_{p}_w_k"] = out.h_parts[:, k]
    cols["h_tr_w_k"] = out.h_tr
    cols["h_ve_w_k"] = out.h_ve
    cols["time_constant_h"] = ann["tau_h"]
    cols["heating_need_kwh"] = need
    cols["heating_need_kwh_m2"] = need / a_f
    for m, c in enumerate(_MONTH_COLS):
        cols[c] = out.q_nd[:, m]
    dh = ann["degree_hours_kkh"]
    for k, p in enumerate(H_PARTS):
        cols[f"q_{p}_kwh"] = out.h_parts[:, k] * dh
    cols["q_ventilation_kwh"] = ann["q_ve_kwh"]
    cols["q_solar_gains_kwh"] = ann["q_sol_kwh"]
    cols["q_internal_gains_kwh"] = ann["q_int_kwh"]
    cols["q_gains_utilised_kwh"] = ann["q_gn_utilised_kwh"]
    cols["eta_heating_estimate"] = info["eta_heating"].to_numpy()
    cols["final_energy_heating_kwh_estimate"] = final_heat
    cols["dhw_need_kwh_estimate"] = dhw
    cols["final_energy_dhw_kwh_estimate"] = final_dhw
    cols["auxiliary_electricity_kwh_estimate"] = aux
    cols["primary_energy_kwh_estimate"] = primary
    cols["primary_energy_kwh_m2_estimate"] = ep_m2
    cols["co2_kg_estimate"] = co2
    cols["co2_kg_m2_estimate"] = co2 / a_f
    cols["peb_class_estimate"] = cls
    cols["energy_provenance"] = info["energy_provenance"].to_numpy()
    df = pd.DataFrame(cols)
    if dead.any():
        numeric = [c for c in df.columns if c.startswith(("h_", "q_", "heating_need", "time_constant"))]
        numeric += [c for c in df.columns if c.endswith("_estimate") and c != "peb_class_estimate"]
        df.loc[dead, numeric] = np.nan
        df.loc[dead, "peb_class_estimate"] = "n/a"
    results = gpd.GeoDataFrame(df, geometry=b.geometry.to_numpy(), crs=model.crs)
    return results, _totals(results)


def _totals(r: pd.DataFrame) -> dict[str, float]:
    area = float(np.nansum(r["heated_floor_area_m2"]))
    need = float(np.nansum(r["heating_need_kwh"]))
    t: dict[str, float] = {
        "n_buildings": float(len(r)),
        "heated_floor_area_m2": area,
        "heating_need_kwh": need,
        "heating_need_kwh_m2": need / area if area > 0 else float("nan"),
        "heating_need_kwh_m2_median": float(np.nanmedian(r["heating_need_kwh_m2"]))
        if len(r)
        else float("nan"),
        "h_tr_w_k": float(np.nansum(r["h_tr_w_k"])),
        "h_ve_w_k": float(np.nansum(r["h_ve_w_k"])),
    }
    for c in r.columns:
        if c.startswith("q_") and c.endswith("_kwh"):
            t[c] = float(np.nansum(r[c]))
    for c in ("primary_energy_kwh_estimate", "co2_kg_estimate"):
        t[c] = float(np.nansum(r[c]))
    counts = r["peb_class_estimate"].value_counts()
    for name in [c for c, _ in PEB_CLASSES] + ["n/a"]:
        t[f"n_peb_class_estimate_{name}"] = float(counts.get(name, 0))
    return t


_WRITERS = (".gpkg", ".csv", ".parquet")


@dataclass
class EnergyResult:
    """Results of one energy run: the per-building table, the totals and the parameters.

    Attributes
    ----------
    results : geopandas.GeoDataFrame
        One row per building (:data:`RESULT_COLUMNS`).
    totals : dict[str, float]
        District totals (see :func:`collect`).
    params : EnergyParams
        The parameters of the run.
    """

    results: gpd.GeoDataFrame
    totals: dict[str, float]
    params: EnergyParams = field(default_factory=EnergyParams)

    def to_file(self, path: str | os.PathLike) -> Path:
        """Write the results atomically as GeoPackage (layer ``energy``), CSV (no geometry) or GeoParquet.

        Parameters
        ----------
        path
            Target file; the extension (``.gpkg``, ``.csv``, ``.parquet``)
            chooses the format.

        Returns
        -------
        pathlib.Path

        Raises
        ------
        StoreError
            Unknown extension, missing folder or a failed write (nothing is left behind).
        """
        path = Path(path)
        ext = path.suffix.lower()
        if ext not in _WRITERS:
            raise StoreError(f"Cannot write energy results to {path}: use one of {list(_WRITERS)}.")
        table = self.results.copy()
        table["year_built"] = table["year_built"].astype("float64")
        try:
            with atomic_path(path) as tmp:
                if ext == ".gpkg":
                    pyogrio.write_dataframe(table, tmp, layer="energy", driver="GPKG", promote_to_multi=True)
                elif ext == ".csv":
                    pd.DataFrame(table.drop(columns=table.geometry.name)).to_csv(tmp, index=False)
                else:
                    table.to_parquet(tmp, index=False)
        except StoreError:
            raise
        except Exception as err:  # GDAL / arrow raise many types
            raise StoreError(f"Writing {path} failed: {err}") from err
        return path

    def summary_rows(self) -> list[tuple[str, str]]:
        """See :func:`summary_rows`."""
        return summary_rows(self)


def summary_rows(result: EnergyResult) -> list[tuple[str, str]]:
    """Two-column summary of a run for the CLI table: totals and the class distribution.

    Examples
    --------
    >>> import geopandas as gpd
    >>> r = EnergyResult(gpd.GeoDataFrame({"peb_class_estimate": ["C", "n/a"]}),
    ...                  {"n_buildings": 2.0, "heated_floor_area_m2": 300.0, "heating_need_kwh": 45000.0,
    ...                   "heating_need_kwh_m2": 150.0, "heating_need_kwh_m2_median": 150.0,
    ...                   "primary_energy_kwh_estimate": 6e4, "co2_kg_estimate": 1.2e4,
    ...                   "n_peb_class_estimate_C": 1.0, "n_peb_class_estimate_n/a": 1.0})
    >>> summary_rows(r)[:3]
    [('buildings', '2'), ('heated floor area', '300 m²'), ('heating need (net)', '45.0 MWh/yr')]
    """
    t = result.totals
    n = int(t.get("n_buildings", 0))
    rows = [
        ("buildings", f"{n}"),
        ("heated floor area", f"{t.get('heated_floor_area_m2', 0):,.0f} m²"),
        ("heating need (net)", f"{t.get('heating_need_kwh', 0) / 1000:,.1f} MWh/yr"),
        (
            "heating need per m² (area-weighted)",
            f"{t.get('heating_need_kwh_m2', float('nan')):.1f} kWh/(m²·yr)",
        ),
        (
            "heating need per m² (median)",
            f"{t.get('heating_need_kwh_m2_median', float('nan')):.1f} kWh/(m²·yr)",
        ),
        ("primary energy (estimate)", f"{t.get('primary_energy_kwh_estimate', 0) / 1000:,.1f} MWh/yr"),
        ("CO2 (estimate)", f"{t.get('co2_kg_estimate', 0) / 1000:,.1f} t/yr"),
    ]
    for name in [c for c, _ in PEB_CLASSES] + ["n/a"]:
        k = int(t.get(f"n_peb_class_estimate_{name}", 0))
        if k:
            share = 100.0 * k / n if n else 0.0
            rows.append((f"PEB-like class {name} (estimate)", f"{k} ({share:.0f} %)"))
    return rows


def run_energy(model: CityModel, params: EnergyParams | dict | None = None) -> EnergyResult:
    """Prepare, compute and collect in one call.

    Parameters
    ----------
    model
        City model (not modified).
    params
        :class:`EnergyParams` or a dict of its fields.

    Returns
    -------
    EnergyResult

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from data import generate_district, write_district
    >>> from bim_ingest.cityjson import read_cityjson
    >>> p = write_district(generate_district(4, seed=0), pathlib.Path(tempfile.mkdtemp()))["cityjson"]
    >>> res = run_energy(read_cityjson(p).with_party_walls())
    >>> len(res.results), bool((res.results["heating_need_kwh_m2"] > 0).all())
    (4, True)
    """
    p = _params(params)
    arrays = prepare(model, p)
    out = compute(arrays)
    results, totals = collect(model, arrays, out)
    return EnergyResult(results=results, totals=totals, params=p)
