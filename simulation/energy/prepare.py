"""Model → arrays → kernel outputs: :func:`prepare` and :func:`compute`.

:func:`prepare` validates a :class:`~twin.model.CityModel`, completes it with
the typology (:mod:`simulation.energy.envelope`) and lays it out as the
contiguous arrays of :mod:`kernels.energy` (:class:`EnergyArrays`).  Surface
arrays are built by :func:`surface_arrays`, which the single-building path
(:mod:`simulation.energy.building`) shares, so both run exactly the same code
from the surface list on.  :func:`compute` runs the two kernels and returns
:class:`EnergyOutputs`.

How the model's columns become the sheet's quantities (sheet §2–§5, §8):

=====================  ===========================================================
adjustment factor b    ``boundary``: exterior 1, party ``party_wall_b`` (0),
                       unheated ``unheated_b[kind]``, ground: ISO 13370 floors 1
                       (with U_g), other ground elements ``ground_b``; an optional
                       ``b_factor`` column wins
ground floors          U_g (EN ISO 13370) from the floor area, the exposed
                       perimeter, ``wall_thickness_m``, ``ground_lambda_w_mk`` and
                       R_f = 1/U − 0.17 − 0.04 of the floor's own U
solar factor           windows on the exterior only:
                       ``F_sh,ob·F_sh,gl·F_w·g·(1 − F_F)``; orientation S/E/W/N by
                       azimuth sectors of ±45°, H when tilt < 60°
A_f                    ``heated_floor_area_m2``
V_air                  ``air_volume_factor × volume_m3`` (A_f × 2.5 m when the
                       volume is missing)
=====================  ===========================================================
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import ValidationError

from kernels.energy import (
    ANNUAL_FIELDS,
    DETAIL_FIELDS,
    H_PARTS,
    KIND_CODES,
    ORIENTATIONS,
    building_coefficients,
    ground_floor_u,
    monthly_heat_balance,
)
from simulation.energy.envelope import _fill_surfaces, _warn_orphans, building_defaults, exposed_perimeter
from simulation.energy.params import Climate, EnergyParams
from twin.errors import TwinError, TwinWarning
from twin.model import CityModel

__all__ = [
    "BOUNDARIES",
    "EnergyArrays",
    "EnergyInputError",
    "EnergyOutputs",
    "R_SE",
    "R_SI_FLOOR",
    "compute",
    "orientation_bin",
    "prepare",
    "surface_arrays",
]

#: Valid values of ``surfaces.boundary``.
BOUNDARIES = ("exterior", "party", "ground", "unheated")
#: Surface resistances of EN ISO 6946 used for ground floors, m²K/W (sheet §2).
R_SI_FLOOR = 0.17
R_SE = 0.04
#: Windows tilted less than this (from facing up) take the horizontal irradiation.
HORIZONTAL_WINDOW_TILT_DEG = 60.0
#: TABULA's room height for the air volume when a building has no volume, m.
_FALLBACK_ROOM_HEIGHT_M = 2.5


class EnergyInputError(TwinError, ValueError):
    """The model cannot enter the heat balance (missing or invalid attribute, named in the message)."""


@dataclass
class EnergyArrays:
    """Contiguous inputs of the energy kernels for N buildings and S surfaces.

    Attributes
    ----------
    building_id : (N,) object
        Ids, in the order of the model's ``buildings`` table.
    offsets : (N + 1,) int64
        Surfaces of building i are ``offsets[i]:offsets[i + 1]``.
    kind, orient : (S,) int8
        Element kind (:data:`kernels.energy.KIND_CODES`) and window orientation bin.
    area, u, b, sol_factor : (S,) float64
        m², W/(m²·K), -, - (see :func:`kernels.energy.building_coefficients`).
    thermal_bridge : (N,) float64, W/(m²·K)
    v_air : (N,) float64, m³
    n_inf, n_vent : (N,) float64, 1/h
    eta_hr : (N,) float64, -
    floor_area : (N,) float64, m²
        Heated (reference) floor area A_f.
    phi_int : (N,) float64, W
        Internal gains Φ_int.
    c_m : (N,) float64, J/K
        Internal heat capacity.
    theta_int : (N,) float64, °C
    climate : Climate
    rho_c_air, a_h0, tau_h0 : float
        Wh/(m³·K), -, h.
    info : pandas.DataFrame
        N rows of per-building bookkeeping for :func:`~simulation.energy.collect`
        (typology keys, efficiencies, provenance, areas), not used by the kernels.
    params : EnergyParams
        The parameters the arrays were prepared with.
    """

    building_id: npt.NDArray[np.object_]
    offsets: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]
    area: npt.NDArray[np.float64]
    u: npt.NDArray[np.float64]
    b: npt.NDArray[np.float64]
    orient: npt.NDArray[np.int8]
    sol_factor: npt.NDArray[np.float64]
    thermal_bridge: npt.NDArray[np.float64]
    v_air: npt.NDArray[np.float64]
    n_inf: npt.NDArray[np.float64]
    n_vent: npt.NDArray[np.float64]
    eta_hr: npt.NDArray[np.float64]
    floor_area: npt.NDArray[np.float64]
    phi_int: npt.NDArray[np.float64]
    c_m: npt.NDArray[np.float64]
    theta_int: npt.NDArray[np.float64]
    climate: Climate
    rho_c_air: float
    a_h0: float
    tau_h0: float
    info: pd.DataFrame
    params: EnergyParams

    @property
    def n_buildings(self) -> int:
        """N."""
        return len(self.offsets) - 1


@dataclass
class EnergyOutputs:
    """Outputs of :func:`compute` (see :mod:`kernels.energy` for the fields).

    Attributes
    ----------
    h_parts : (N, 6) float64, W/K
        Transmission per element kind and thermal bridges (:data:`kernels.energy.H_PARTS`).
    h_tr, h_ve : (N,) float64, W/K
    a_sol : (N, 5) float64, m²
    a_env : (N,) float64, m²
    q_nd : (N, 12) float64, kWh
    annual : (N, 10) float64 (:data:`kernels.energy.ANNUAL_FIELDS`)
    detail : (N, 12, 17) or (0, 12, 17) float64 (:data:`kernels.energy.DETAIL_FIELDS`)
    """

    h_parts: npt.NDArray[np.float64]
    h_tr: npt.NDArray[np.float64]
    h_ve: npt.NDArray[np.float64]
    a_sol: npt.NDArray[np.float64]
    a_env: npt.NDArray[np.float64]
    q_nd: npt.NDArray[np.float64]
    annual: npt.NDArray[np.float64]
    detail: npt.NDArray[np.float64]


def orientation_bin(azimuth_deg: npt.ArrayLike, tilt_deg: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Orientation bin of windows (sheet §4.2): S/E/W/N by azimuth sectors of ±45°, H when flat.

    Sectors are half-open: E = [45°, 135°), S = [135°, 225°), W = [225°, 315°),
    N otherwise.  Tilt < 60° (facing up) → H.  A vertical window without
    azimuth counts as N (the least sunny choice).

    Returns
    -------
    int8 array of codes into :data:`kernels.energy.ORIENTATIONS` (S 0, E 1, W 2, N 3, H 4).

    Examples
    --------
    >>> orientation_bin([180.0, 90.0, 270.0, 10.0, 0.0], [90, 90, 90, 90, 30]).tolist()
    [0, 1, 2, 3, 4]
    """
    az = np.mod(np.asarray(azimuth_deg, dtype=np.float64), 360.0)
    tilt = np.asarray(tilt_deg, dtype=np.float64)
    code = np.full(az.shape, 3, dtype=np.int8)
    code[(az >= 45.0) & (az < 135.0)] = 1
    code[(az >= 135.0) & (az < 225.0)] = 0
    code[(az >= 225.0) & (az < 315.0)] = 2
    code[np.nan_to_num(tilt, nan=90.0) < HORIZONTAL_WINDOW_TILT_DEG] = 4
    return code


def surface_arrays(
    building_index: npt.NDArray[np.int64],
    n_buildings: int,
    *,
    kind: npt.ArrayLike,
    area: npt.ArrayLike,
    u: npt.ArrayLike,
    b: npt.ArrayLike,
    azimuth_deg: npt.ArrayLike,
    tilt_deg: npt.ArrayLike,
    g_value: npt.ArrayLike,
    exterior_window: npt.ArrayLike,
    frame_fraction: npt.ArrayLike,
    shading_factor: npt.ArrayLike,
    params: EnergyParams,
    f_w: npt.ArrayLike | None = None,
) -> dict[str, np.ndarray]:
    """Per-surface kernel arrays in CSR order (shared by the model and the single-building paths).

    Parameters
    ----------
    building_index : (S,) int64
        Row of each surface's building, 0 … n_buildings − 1.
    n_buildings
        N.
    kind : (S,) str
        wall/roof/floor/window/door.
    area, u, b : (S,) float
        m², W/(m²·K) (ground floors: U_g), -.
    azimuth_deg, tilt_deg : (S,) float
        Orientation (0 = N clockwise; tilt 0 = facing up).
    g_value : (S,) float
        g_gl,n of windows (ignored for other kinds).
    exterior_window : (S,) bool
        Windows that receive solar gains (exterior boundary).
    frame_fraction, shading_factor : (S,) float
        F_F and F_sh,ob per surface; NaN → the defaults of ``params``.
    params
        F_w, F_sh,gl and defaults.
    f_w : (S,) float, optional
        F_w per surface; NaN or omitted → ``params.f_w``.

    Returns
    -------
    dict
        ``offsets``, ``kind``, ``area``, ``u``, ``b``, ``orient``,
        ``sol_factor`` (contiguous, sorted by building, stable) and ``order``
        (the permutation applied to the input rows).
    """
    kind = np.asarray(kind).astype(str)
    codes = np.full(kind.shape, -1, dtype=np.int8)
    for name, code in KIND_CODES.items():
        codes[kind == name] = code
    if (codes < 0).any():
        bad = sorted(set(kind[codes < 0]))
        raise EnergyInputError(f"Unknown surface kind(s) {bad}; valid kinds are {list(KIND_CODES)}.")
    tilt = np.asarray(tilt_deg, dtype=np.float64)
    orient = orientation_bin(azimuth_deg, tilt)
    horizontal = orient == 4
    f_f = np.asarray(frame_fraction, dtype=np.float64)
    f_f = np.where(np.isnan(f_f), params.frame_fraction, f_f)
    f_sh = np.asarray(shading_factor, dtype=np.float64)
    f_sh = np.where(
        np.isnan(f_sh), np.where(horizontal, params.shading_horizontal, params.shading_vertical), f_sh
    )
    g = np.nan_to_num(np.asarray(g_value, dtype=np.float64), nan=0.0)
    fw = np.full(kind.shape, params.f_w) if f_w is None else np.asarray(f_w, dtype=np.float64)
    fw = np.where(np.isnan(fw), params.f_w, fw)
    is_win = (codes == KIND_CODES["window"]) & np.asarray(exterior_window, dtype=bool)
    sol = np.where(is_win, f_sh * params.shading_movable * fw * g * (1.0 - f_f), 0.0)
    bi = np.asarray(building_index, dtype=np.int64)
    order = np.argsort(bi, kind="stable")
    counts = np.bincount(bi, minlength=n_buildings)
    offsets = np.zeros(n_buildings + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    c = np.ascontiguousarray
    return {
        "offsets": offsets,
        "kind": c(codes[order]),
        "area": c(np.asarray(area, dtype=np.float64)[order]),
        "u": c(np.asarray(u, dtype=np.float64)[order]),
        "b": c(np.asarray(b, dtype=np.float64)[order]),
        "orient": c(orient[order]),
        "sol_factor": c(sol[order]),
        "order": order,
    }


def _check_surfaces(s: pd.DataFrame) -> None:
    bad_kind = ~s["kind"].isin(list(KIND_CODES))
    if bad_kind.any():
        row = s[bad_kind].iloc[0]
        raise EnergyInputError(
            f"surfaces.kind = {row['kind']!r} for surface_id={row['surface_id']!r} (building_id="
            f"{row['building_id']!r}) is not one of {list(KIND_CODES)}; fix the reader or drop the surface."
        )
    bad_b = ~s["boundary"].isin(BOUNDARIES)
    if bad_b.any():
        row = s[bad_b].iloc[0]
        raise EnergyInputError(
            f"surfaces.boundary = {row['boundary']!r} for surface_id={row['surface_id']!r} is not one of "
            f"{list(BOUNDARIES)}."
        )
    for col in ("area_m2", "u_w_m2k"):
        v = s[col].to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(v) | (v < 0)
        if bad.any():
            row = s[bad].iloc[0]
            raise EnergyInputError(
                f"surfaces.{col} = {row[col]} for surface_id={row['surface_id']!r} (building_id="
                f"{row['building_id']!r}) must be finite and >= 0; {int(bad.sum())} surface(s) affected."
            )


def _check_buildings(b: pd.DataFrame) -> None:
    if b["building_id"].duplicated().any():
        dup = b.loc[b["building_id"].duplicated(), "building_id"].iloc[0]
        raise EnergyInputError(f"building_id {dup!r} occurs twice; building ids must be unique.")
    af = b["heated_floor_area_m2"].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(af) | (af <= 0)
    if bad.any():
        ids = b.loc[bad, "building_id"].tolist()[:5]
        raise EnergyInputError(
            f"heated_floor_area_m2 is missing or <= 0 for {int(bad.sum())} building(s), "
            f"e.g. building_id={ids}; the heating need per m² needs it: set it "
            "(e.g. footprint × storeys × 0.85) or drop these buildings."
        )


def prepare(model: CityModel, params: EnergyParams | dict | None = None) -> EnergyArrays:
    """Validate ``model`` and lay it out as the arrays of the energy kernels.

    Missing U-values, windows, air changes, heat capacities and gains come
    from the bundled typology by construction period and building type
    (:func:`simulation.energy.building_defaults`); what was assumed is kept
    per building in ``info["energy_provenance"]``.  The model is not modified.

    Parameters
    ----------
    model
        City model with ``buildings`` and ``surfaces``.
    params
        :class:`EnergyParams` or a dict of its fields (default: sheet defaults).

    Returns
    -------
    EnergyArrays

    Raises
    ------
    EnergyInputError
        A building without heated floor area, a duplicated id, a surface
        with an unknown kind/boundary or a negative area (the message names it).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from data import generate_district, write_district
    >>> from bim_ingest.cityjson import read_cityjson
    >>> p = write_district(generate_district(3, seed=0), pathlib.Path(tempfile.mkdtemp()))["cityjson"]
    >>> arrays = prepare(read_cityjson(p).with_party_walls())
    >>> arrays.n_buildings, arrays.offsets.dtype.name
    (3, 'int64')
    """
    params = _params(params)
    buildings = model.buildings
    _check_buildings(buildings)
    _warn_orphans(model.surfaces, buildings)
    defaults = building_defaults(buildings, params)
    s = _fill_surfaces(model.surfaces, buildings, defaults)
    s = s[s["building_id"].isin(set(buildings["building_id"]))].reset_index(drop=True)
    _check_surfaces(s)
    n = len(buildings)
    bidx = pd.Index(buildings["building_id"]).get_indexer(s["building_id"]).astype(np.int64)
    kind = s["kind"].astype(str).to_numpy()
    boundary = s["boundary"].astype(str).to_numpy()
    area = s["area_m2"].to_numpy(dtype=np.float64)
    u = s["u_w_m2k"].to_numpy(dtype=np.float64).copy()

    # adjustment factors b (sheet §2.3)
    b = np.ones(len(s))
    b[boundary == "party"] = params.party_wall_b
    for k, value in params.unheated_b.items():
        b[(boundary == "unheated") & (kind == k)] = value
    ground = boundary == "ground"
    iso_floor = ground & (kind == "floor") & (params.ground_method == "iso13370")
    b[ground & ~iso_floor] = params.ground_b
    if "b_factor" in s.columns:
        given = pd.to_numeric(s["b_factor"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        b = np.where(np.isfinite(given), given, b)

    # ground floors: EN ISO 13370 simplified (sheet §2.2), one slab per building
    perimeter = exposed_perimeter(buildings)
    a_g = np.bincount(bidx[iso_floor], weights=area[iso_floor], minlength=n)
    ua_g = np.bincount(bidx[iso_floor], weights=(u * area)[iso_floor], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        u_floor = np.where(a_g > 0, ua_g / np.where(a_g > 0, a_g, 1.0), np.nan)
        r_f = np.where(u_floor > 0, 1.0 / u_floor - R_SI_FLOOR - R_SE, 1e12)
    r_f = np.clip(np.nan_to_num(r_f, nan=0.0), 0.0, None)
    u_g = np.zeros(n)
    ground_floor_u(
        np.ascontiguousarray(a_g),
        np.ascontiguousarray(perimeter, dtype=np.float64),
        np.full(n, params.wall_thickness_m),
        np.ascontiguousarray(r_f),
        params.ground_lambda_w_mk,
        R_SI_FLOOR,
        R_SE,
        u_g,
    )
    u[iso_floor] = u_g[bidx[iso_floor]]

    def opt(col: str) -> np.ndarray:
        if col in s.columns:
            return pd.to_numeric(s[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return np.full(len(s), np.nan)

    sa = surface_arrays(
        bidx,
        n,
        kind=kind,
        area=area,
        u=u,
        b=b,
        azimuth_deg=s["azimuth_deg"].to_numpy(dtype=np.float64, na_value=np.nan),
        tilt_deg=s["tilt_deg"].to_numpy(dtype=np.float64, na_value=np.nan),
        g_value=s["g_value"].to_numpy(dtype=np.float64, na_value=np.nan),
        exterior_window=boundary == "exterior",
        frame_fraction=opt("frame_fraction"),
        shading_factor=opt("shading_factor"),
        params=params,
    )

    a_f = buildings["heated_floor_area_m2"].to_numpy(dtype=np.float64)
    volume = buildings["volume_m3"].to_numpy(dtype=np.float64, na_value=np.nan)
    no_volume = ~np.isfinite(volume) | (volume <= 0)
    v_air = np.where(no_volume, a_f * _FALLBACK_ROOM_HEIGHT_M, params.air_volume_factor * volume)
    d = defaults
    prov = d["provenance"].to_numpy().copy()
    if no_volume.any():
        prov[no_volume] = [f"{p};air_volume=heated_floor_area_x_2.5" for p in prov[no_volume]]
    n_surf = np.diff(sa["offsets"])
    if (n_surf == 0).any():
        ids = buildings.loc[n_surf == 0, "building_id"].tolist()[:5]
        warnings.warn(
            f"{int((n_surf == 0).sum())} building(s) have no surfaces (e.g. {ids}); their results are NaN.",
            TwinWarning,
            stacklevel=2,
        )
    party = boundary == "party"
    win = kind == "window"
    info = pd.DataFrame(
        {
            "typology_period": d["period"].to_numpy(),
            "typology_type": d["type_key"].to_numpy(),
            "use_key": d["use_key"].to_numpy(),
            "peb_scale": d["peb_scale"].to_numpy(),
            "eta_heating": d["eta_heating"].to_numpy(),
            "eta_dhw": d["eta_dhw"].to_numpy(),
            "dhw_need_kwh_m2": d["dhw_need_kwh_m2"].to_numpy(),
            "aux_electricity_kwh_m2": d["aux_electricity_kwh_m2"].to_numpy(),
            "exposed_perimeter_m": np.asarray(perimeter, dtype=np.float64),
            "u_ground_w_m2k": np.where(a_g > 0, u_g, np.nan),
            "party_wall_area_m2": np.bincount(bidx[party], weights=area[party], minlength=n),
            "window_area_m2": np.bincount(bidx[win], weights=area[win], minlength=n),
            "n_surfaces": n_surf,
            "energy_provenance": prov,
        }
    )
    c = np.ascontiguousarray
    return EnergyArrays(
        building_id=buildings["building_id"].to_numpy().astype(object),
        offsets=sa["offsets"],
        kind=sa["kind"],
        area=sa["area"],
        u=sa["u"],
        b=sa["b"],
        orient=sa["orient"],
        sol_factor=sa["sol_factor"],
        thermal_bridge=c(d["thermal_bridge_w_m2k"].to_numpy(np.float64)),
        v_air=c(v_air),
        n_inf=c(d["air_change_inf_h"].to_numpy(np.float64)),
        n_vent=c(d["air_change_vent_h"].to_numpy(np.float64)),
        eta_hr=c(d["heat_recovery_efficiency"].to_numpy(np.float64)),
        floor_area=c(a_f),
        phi_int=c(d["internal_gains_w_m2"].to_numpy(np.float64) * a_f),
        c_m=c(d["heat_capacity_j_m2k"].to_numpy(np.float64) * a_f),
        theta_int=np.full(n, float(params.setpoint_c)),
        climate=params.get_climate(),
        rho_c_air=float(params.air_heat_capacity_wh_m3k),
        a_h0=float(params.a_h0),
        tau_h0=float(params.tau_h0_h),
        info=info,
        params=params,
    )


def _params(params: EnergyParams | dict | None) -> EnergyParams:
    if params is None:
        return EnergyParams()
    if isinstance(params, EnergyParams):
        return params
    try:
        return EnergyParams.model_validate(params)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors()
        )
        raise EnergyInputError(f"invalid energy parameters: {problems}") from err


def compute(arrays: EnergyArrays, *, detail: bool = False) -> EnergyOutputs:
    """Run the energy kernels on prepared arrays.

    Parameters
    ----------
    arrays
        From :func:`prepare` (or the single-building path).
    detail
        Also keep every intermediate monthly value (``detail``, N × 12 × 17
        floats; meant for one or a few buildings).

    Returns
    -------
    EnergyOutputs
    """
    n = arrays.n_buildings
    h_parts = np.zeros((n, len(H_PARTS)))
    a_sol = np.zeros((n, len(ORIENTATIONS)))
    a_env = np.zeros(n)
    h_ve = np.zeros(n)
    building_coefficients(
        arrays.offsets,
        arrays.kind,
        arrays.area,
        arrays.u,
        arrays.b,
        arrays.orient,
        arrays.sol_factor,
        arrays.thermal_bridge,
        arrays.v_air,
        arrays.n_inf,
        arrays.n_vent,
        arrays.eta_hr,
        arrays.rho_c_air,
        h_parts,
        a_sol,
        a_env,
        h_ve,
    )
    h_tr = np.ascontiguousarray(h_parts.sum(axis=1))
    clim = arrays.climate
    q_nd = np.zeros((n, len(clim.theta_e_c)))
    annual = np.zeros((n, len(ANNUAL_FIELDS)))
    det = np.zeros((n if detail else 0, len(clim.theta_e_c), len(DETAIL_FIELDS)))
    monthly_heat_balance(
        h_tr,
        h_ve,
        a_sol,
        arrays.phi_int,
        arrays.c_m,
        arrays.theta_int,
        np.ascontiguousarray(clim.theta_e_c, dtype=np.float64),
        np.ascontiguousarray(clim.i_sol_kwh_m2, dtype=np.float64),
        np.ascontiguousarray(clim.hours, dtype=np.float64),
        arrays.a_h0,
        arrays.tau_h0,
        q_nd,
        annual,
        det,
    )
    return EnergyOutputs(
        h_parts=h_parts, h_tr=h_tr, h_ve=h_ve, a_sol=a_sol, a_env=a_env, q_nd=q_nd, annual=annual, detail=det
    )
