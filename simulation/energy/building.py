"""One building described explicitly: :func:`load_building_spec` and :func:`building_balance`.

Backs ``twin energy building FILE.json``.  The file describes one thermal
zone with every input of the sheet's method in the sheet's units, and the
result carries every intermediate value of every month, so that a hand
calculation can be checked line by line.  The computation goes through the
same surface layout (:func:`simulation.energy.prepare.surface_arrays`) and
the same kernels (:func:`simulation.energy.compute`) as a model-wide run.

Input format (JSON object; ``data/examples/energy_building.json`` is a complete example):

====================================  ======================================================
``name``                              label (optional)
``heated_floor_area_m2``              A_f, m² (> 0)
``air_volume_m3``                     V_air, m³
``air_change_h``                      ventilation air change n, 1/h (with heat recovery:
                                      the air change through the unit)
``infiltration_h``                    extra infiltration, 1/h, not recovered (default 0)
``heat_recovery_efficiency``          η_hr applied to ``air_change_h`` (default 0)
``heat_capacity_j_m2k``               κ_m, J/(m²·K) (default 165 000, "medium")
``internal_gains_w_m2``               φ_int, W/m² of A_f (default 3)
``setpoint_c``                        θ_int,H, °C (default 20)
``thermal_bridge_w_m2k``              ΔU_tb on every surface with b > 0 (default 0.10)
``air_heat_capacity_wh_m3k``          ρ_a·c_a, Wh/(m³·K) (default 1200/3600; TABULA 0.34)
``surfaces``                          list of surfaces, below
``climate``                           optional: ``theta_e_c`` (12 values, °C) and
                                      ``irradiation_kwh_m2`` {S, E, W, N, H: 12 monthly sums};
                                      default the bundled Uccle table
====================================  ======================================================

Each surface: ``kind`` (wall/roof/floor/window/door), ``area_m2``,
``azimuth_deg`` (0 = N, clockwise; needed for vertical windows),
``tilt_deg`` (0 facing up, 90 vertical, 180 facing down; default 90 for
walls, windows and doors, 0 for roofs, 180 for floors), ``u_w_m2k``, ``b``
(1 exterior — the default —, 0 party wall, 0.5 over a cellar …).  Windows
also carry ``g_n`` (required), ``frame_fraction`` (F_F, default 0.3),
``shading_factor`` (F_sh,ob, default 0.6 vertical / 0.8 horizontal) and
``f_w`` (default 0.9); only windows with b = 1 receive solar gains.  A floor
on the ground may give ``ground`` = {``exposed_perimeter_m``,
``wall_thickness_m`` (0.3), ``floor_resistance_m2k_w`` (default from its
``u_w_m2k``), ``lambda_ground_w_mk`` (2.0)} instead of (or besides) its U: its U
is then the EN ISO 13370 U_g (sheet §2.2).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kernels.energy import DETAIL_FIELDS, H_PARTS, ORIENTATIONS, ground_floor_u
from simulation.energy.params import ClimateSpec, EnergyParams
from simulation.energy.prepare import R_SE, R_SI_FLOOR, EnergyArrays, compute, surface_arrays
from twin.errors import IngestError, SchemaError

__all__ = ["BuildingSpec", "GroundSpec", "SurfaceSpec", "building_balance", "load_building_spec"]

_DEFAULT_TILT = {"wall": 90.0, "window": 90.0, "door": 90.0, "roof": 0.0, "floor": 180.0}
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class GroundSpec(BaseModel):
    """EN ISO 13370 inputs of a floor on the ground (sheet §2.2)."""

    model_config = _STRICT

    exposed_perimeter_m: float = Field(ge=0, description="P, perimeter not shared with heated neighbours, m")
    wall_thickness_m: float = Field(0.3, ge=0, description="w, full external wall thickness, m")
    floor_resistance_m2k_w: float | None = Field(
        None, ge=0, description="R_f of the floor layers; default 1/U − 0.17 − 0.04 from u_w_m2k"
    )
    lambda_ground_w_mk: float = Field(2.0, gt=0, description="λ_g, W/(m·K)")


class SurfaceSpec(BaseModel):
    """One envelope surface of a :class:`BuildingSpec`."""

    model_config = _STRICT

    kind: Literal["wall", "roof", "floor", "window", "door"]
    area_m2: float = Field(ge=0)
    azimuth_deg: float | None = Field(None, ge=0, le=360)
    tilt_deg: float | None = Field(None, ge=0, le=180)
    u_w_m2k: float | None = Field(None, ge=0)
    b: float = Field(1.0, ge=0, le=1)
    g_n: float | None = Field(None, ge=0, le=1)
    frame_fraction: float | None = Field(None, ge=0, lt=1)
    shading_factor: float | None = Field(None, ge=0, le=1)
    f_w: float | None = Field(None, ge=0, le=1)
    ground: GroundSpec | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SurfaceSpec:
        if self.tilt_deg is None:
            self.tilt_deg = _DEFAULT_TILT[self.kind]
        if self.kind == "window":
            if self.g_n is None:
                raise ValueError(
                    "g_n (total solar energy transmittance at normal incidence) is required for windows"
                )
            if self.tilt_deg >= 60.0 and self.azimuth_deg is None:
                raise ValueError(
                    "azimuth_deg is required for vertical windows (0 = N, 90 = E, 180 = S, 270 = W)"
                )
        else:
            for f in ("g_n", "frame_fraction", "shading_factor", "f_w"):
                if getattr(self, f) is not None:
                    raise ValueError(f"{f} only applies to windows, not to a {self.kind}")
        if self.ground is not None and self.kind != "floor":
            raise ValueError(f"ground only applies to floors, not to a {self.kind}")
        if self.u_w_m2k is None:
            if self.ground is None or self.ground.floor_resistance_m2k_w is None:
                raise ValueError(
                    "u_w_m2k is required (for a floor on the ground, "
                    "give ground.floor_resistance_m2k_w instead)"
                )
        return self


class BuildingSpec(BaseModel):
    """One building (one thermal zone) for :func:`building_balance`; fields in the module docstring."""

    model_config = _STRICT

    name: str = "building"
    heated_floor_area_m2: float = Field(gt=0)
    air_volume_m3: float = Field(ge=0)
    air_change_h: float = Field(ge=0)
    infiltration_h: float = Field(0.0, ge=0)
    heat_recovery_efficiency: float = Field(0.0, ge=0, le=1)
    heat_capacity_j_m2k: float = Field(165_000.0, ge=0)
    internal_gains_w_m2: float = Field(3.0, ge=0)
    setpoint_c: float = 20.0
    thermal_bridge_w_m2k: float = Field(0.10, ge=0)
    air_heat_capacity_wh_m3k: float = Field(1200.0 / 3600.0, gt=0)
    surfaces: list[SurfaceSpec] = Field(min_length=1)
    climate: ClimateSpec | None = None


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _validate(spec: dict | BuildingSpec, source: str) -> BuildingSpec:
    if isinstance(spec, BuildingSpec):
        return spec
    if not isinstance(spec, dict):
        raise SchemaError(f"{source}: a building spec is a JSON object, got {type(spec).__name__}.")
    try:
        return BuildingSpec.model_validate(spec)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            msg = e["msg"].removeprefix("Value error, ")
            problems.append(f"{_where(e['loc'])}: {msg}")
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise SchemaError(f"{source}: invalid building spec: " + "; ".join(problems[:5]) + more) from err


def load_building_spec(path: str | os.PathLike) -> dict:
    """Read and validate a single-building JSON file.

    Parameters
    ----------
    path
        JSON file in the format of the module docstring.

    Returns
    -------
    dict
        The validated spec with every default filled in.

    Raises
    ------
    IngestError
        The file is missing or not JSON.
    SchemaError
        A field is missing or invalid; the message names it (e.g.
        ``surfaces[3].g_n: ...``).

    Examples
    --------
    >>> from pathlib import Path
    >>> examples = Path(__file__).resolve().parents[2] / "data" / "examples"
    >>> spec = load_building_spec(examples / "energy_building.json")
    >>> spec["setpoint_c"], len(spec["surfaces"]) > 0
    (20.0, True)
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise IngestError(f"{path}: cannot read the building spec ({err.strerror}).") from err
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise IngestError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})."
        ) from err
    return _validate(raw, str(path)).model_dump()


def _json_number(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def building_balance(spec: dict | BuildingSpec) -> dict:
    """Monthly heat balance of one explicitly described building, with every intermediate value.

    Parameters
    ----------
    spec
        A dict in the format of the module docstring (as read from JSON) or a
        :class:`BuildingSpec`.

    Returns
    -------
    dict
        JSON-ready: ``name``, ``method``, ``climate``, ``annual`` (at least
        ``heating_need_kwh``, ``heating_need_kwh_m2``, ``h_tr_w_k``,
        ``h_ve_w_k``; plus the H_tr parts, solar apertures, time constant,
        a_H and the heating-month sums) and ``months``: twelve objects with
        ``theta_e_c``, ``hours``, ``Q_tr_kwh``, ``Q_ve_kwh``, ``Q_ht_kwh``,
        ``Q_sol_kwh`` (per orientation S/E/W/N/H), ``Q_sol_total_kwh``,
        ``Q_int_kwh``, ``Q_gn_kwh``, ``gamma``, ``a_H``, ``eta`` and
        ``Q_H_nd_kwh``.  Undefined values (γ and η without heat transfer)
        are ``null``.

    Raises
    ------
    SchemaError
        Invalid spec (the message names the field).

    Examples
    --------
    >>> box = {"heated_floor_area_m2": 100, "air_volume_m3": 250, "air_change_h": 0.5,
    ...        "thermal_bridge_w_m2k": 0,
    ...        "surfaces": [{"kind": "wall", "area_m2": 100, "azimuth_deg": 180, "u_w_m2k": 1.0}]}
    >>> r = building_balance(box)
    >>> r["annual"]["h_tr_w_k"], round(r["annual"]["h_ve_w_k"], 4), len(r["months"])
    (100.0, 41.6667, 12)
    """
    s = _validate(spec, "building spec")
    params = EnergyParams(
        setpoint_c=s.setpoint_c,
        air_heat_capacity_wh_m3k=s.air_heat_capacity_wh_m3k,
        climate=s.climate,
    )
    surf = s.surfaces
    n_s = len(surf)
    area = np.array([x.area_m2 for x in surf], dtype=np.float64)
    u = np.array([np.nan if x.u_w_m2k is None else x.u_w_m2k for x in surf], dtype=np.float64)
    grounds = [k for k, x in enumerate(surf) if x.ground is not None]
    if grounds:
        gs = [surf[k].ground for k in grounds]
        r_f = np.array(
            [
                g.floor_resistance_m2k_w
                if g.floor_resistance_m2k_w is not None
                else (max(0.0, 1.0 / u[k] - R_SI_FLOOR - R_SE) if u[k] > 0 else 1e12)
                for g, k in zip(gs, grounds, strict=True)
            ]
        )
        out = np.zeros(len(grounds))
        for j, (g, k) in enumerate(zip(gs, grounds, strict=True)):  # λ_g may differ per floor
            one = np.zeros(1)
            ground_floor_u(
                area[k : k + 1],
                np.array([g.exposed_perimeter_m]),
                np.array([g.wall_thickness_m]),
                r_f[j : j + 1],
                g.lambda_ground_w_mk,
                R_SI_FLOOR,
                R_SE,
                one,
            )
            out[j] = one[0]
        u[grounds] = out
    b = np.array([x.b for x in surf], dtype=np.float64)

    def col(name: str) -> np.ndarray:
        return np.array(
            [np.nan if getattr(x, name) is None else getattr(x, name) for x in surf], dtype=np.float64
        )

    sa = surface_arrays(
        np.zeros(n_s, dtype=np.int64),
        1,
        kind=[x.kind for x in surf],
        area=area,
        u=u,
        b=b,
        azimuth_deg=col("azimuth_deg"),
        tilt_deg=col("tilt_deg"),
        g_value=col("g_n"),
        exterior_window=b >= 1.0,
        frame_fraction=col("frame_fraction"),
        shading_factor=col("shading_factor"),
        f_w=col("f_w"),
        params=params,
    )
    a_f = float(s.heated_floor_area_m2)
    one = np.ones(1)
    arrays = EnergyArrays(
        building_id=np.array([s.name], dtype=object),
        offsets=sa["offsets"],
        kind=sa["kind"],
        area=sa["area"],
        u=sa["u"],
        b=sa["b"],
        orient=sa["orient"],
        sol_factor=sa["sol_factor"],
        thermal_bridge=one * s.thermal_bridge_w_m2k,
        v_air=one * s.air_volume_m3,
        n_inf=one * s.infiltration_h,
        n_vent=one * s.air_change_h,
        eta_hr=one * s.heat_recovery_efficiency,
        floor_area=one * a_f,
        phi_int=one * (s.internal_gains_w_m2 * a_f),
        c_m=one * (s.heat_capacity_j_m2k * a_f),
        theta_int=one * s.setpoint_c,
        climate=params.get_climate(),
        rho_c_air=float(s.air_heat_capacity_wh_m3k),
        a_h0=params.a_h0,
        tau_h0=params.tau_h0_h,
        info=pd.DataFrame(index=[0]),
        params=params,
    )
    res = compute(arrays, detail=True)
    return _report(s, arrays, res)


def _report(s: BuildingSpec, arrays: EnergyArrays, res) -> dict:
    det = res.detail[0]
    f = {name: k for k, name in enumerate(DETAIL_FIELDS)}
    months = []
    for m in range(det.shape[0]):
        d = det[m]
        months.append(
            {
                "month": m + 1,
                "name": arrays.climate.month_names[m],
                "theta_e_c": _json_number(d[f["theta_e_c"]]),
                "hours": _json_number(d[f["hours"]]),
                "Q_tr_kwh": _json_number(d[f["q_tr_kwh"]]),
                "Q_ve_kwh": _json_number(d[f["q_ve_kwh"]]),
                "Q_ht_kwh": _json_number(d[f["q_ht_kwh"]]),
                "Q_sol_kwh": {o: _json_number(d[f[f"q_sol_{o.lower()}_kwh"]]) for o in ORIENTATIONS},
                "Q_sol_total_kwh": _json_number(d[f["q_sol_kwh"]]),
                "Q_int_kwh": _json_number(d[f["q_int_kwh"]]),
                "Q_gn_kwh": _json_number(d[f["q_gn_kwh"]]),
                "gamma": _json_number(d[f["gamma"]]),
                "a_H": _json_number(d[f["a_h"]]),
                "eta": _json_number(d[f["eta"]]),
                "Q_H_nd_kwh": _json_number(d[f["q_h_nd_kwh"]]),
            }
        )
    a = res.annual[0]
    need = float(a[0])
    annual = {
        "heating_need_kwh": need,
        "heating_need_kwh_m2": need / s.heated_floor_area_m2,
        "h_tr_w_k": float(res.h_tr[0]),
        "h_ve_w_k": float(res.h_ve[0]),
        "h_tr_parts_w_k": {p: float(res.h_parts[0, k]) for k, p in enumerate(H_PARTS)},
        "envelope_area_m2": float(res.a_env[0]),
        "solar_aperture_m2": {o: float(res.a_sol[0, k]) for k, o in enumerate(ORIENTATIONS)},
        "heat_capacity_j_k": float(arrays.c_m[0]),
        "internal_gains_w": float(arrays.phi_int[0]),
        "time_constant_h": _json_number(a[6]),
        "a_H": _json_number(a[7]),
        "heating_months": [mm["name"] for mm in months if (mm["Q_H_nd_kwh"] or 0.0) > 0.0],
        "q_ht_heating_months_kwh": float(a[1]),
        "q_tr_heating_months_kwh": float(a[8]),
        "q_ve_heating_months_kwh": float(a[9]),
        "q_sol_heating_months_kwh": float(a[3]),
        "q_int_heating_months_kwh": float(a[4]),
        "q_gains_utilised_kwh": float(a[5]),
    }
    return {
        "name": s.name,
        "method": "EN ISO 52016-1 monthly quasi-steady-state heating need (reference sheet energy.md)",
        "climate": arrays.climate.name,
        "annual": annual,
        "months": months,
    }
