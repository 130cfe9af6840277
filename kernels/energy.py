"""Monthly building heat balance kernels (EN ISO 52016-1 / EN ISO 13790 monthly method).

The method is the one of the energy reference sheet (``shared/reference/energy.md``,
cited below as "sheet §n"); the kernels implement it over arrays of *N*
buildings and *S* envelope surfaces, parallel over buildings:

:func:`building_coefficients` (sheet §2, §3, §4.2)
    per building, from its surfaces (CSR layout: the surfaces of building *i*
    are ``offsets[i]:offsets[i + 1]``): transmission coefficients
    ``H = Σ b·U·A`` per element kind, the thermal-bridge surcharge
    ``H_tb = ΔU_tb·Σ A`` over surfaces with ``b > 0``, the effective solar
    collecting area per orientation ``A_sol = Σ f_sol·A`` and the
    ventilation coefficient ``H_ve = ρ_a c_a·V_air·(n_inf + n_vent·(1 − η_hr))``.
:func:`monthly_heat_balance` (sheet §1, §4, §5)
    per building and month: losses ``Q_ht = (H_tr + H_ve)·(θ_int − θ_e)·t``,
    gains ``Q_gn = Q_int + Q_sol``, time constant, utilisation factor
    ``η`` and the net heating need ``Q_H,nd = max(0, Q_ht − η·Q_gn)``.
:func:`ground_floor_u` (sheet §2.2)
    the EN ISO 13370 simplified slab-on-ground U-value.

Units: areas m², U in W/(m²·K), H in W/K, energies kWh, temperatures °C,
times h, heat capacities J/K, irradiation kWh/m² per month.  Every array is
float64 and C-contiguous unless stated; code arrays are int8.  Kernels assume
valid input: the wrappers in :mod:`simulation.energy` validate, fill defaults
and allocate the outputs.

Codes shared with the wrappers:

* element kinds :data:`KIND_CODES` — wall 0, roof 1, floor 2, window 3, door 4;
  ``h_parts`` has one more column, 5, for thermal bridges;
* orientations :data:`ORIENTATIONS` — S 0, E 1, W 2, N 3, horizontal 4 (the
  columns of the climate's irradiation table);
* :data:`ANNUAL_FIELDS` and :data:`DETAIL_FIELDS` name the columns of the
  outputs of :func:`monthly_heat_balance`.
"""

from __future__ import annotations

import math

import numba

from kernels._jit import jit, pjit

__all__ = [
    "ANNUAL_FIELDS",
    "DETAIL_FIELDS",
    "H_PARTS",
    "KIND_CODES",
    "ORIENTATIONS",
    "building_coefficients",
    "ground_floor_u",
    "monthly_heat_balance",
    "utilisation_factor",
]

#: Element kind -> code (the column of ``h_parts`` holding its transmission coefficient).
KIND_CODES: dict[str, int] = {"wall": 0, "roof": 1, "floor": 2, "window": 3, "door": 4}
#: Columns of ``h_parts``: the five element kinds, then thermal bridges.
H_PARTS: tuple[str, ...] = ("walls", "roof", "floor", "windows", "doors", "thermal_bridges")
#: Orientation bins of solar gains, in the column order of ``a_sol`` and ``i_sol``.
ORIENTATIONS: tuple[str, ...] = ("S", "E", "W", "N", "H")
#: Columns of ``annual`` (sums over the months with a heating need, except ``tau_h``/``a_h``).
ANNUAL_FIELDS: tuple[str, ...] = (
    "q_h_nd_kwh",  # annual net heating need (sum of the 12 months)
    "q_ht_kwh",  # heat transfer (transmission + ventilation), heating months
    "degree_hours_kkh",  # Σ (θ_int − θ_e)·t / 1000 over heating months; × H [W/K] gives kWh
    "q_sol_kwh",  # solar gains, heating months
    "q_int_kwh",  # internal gains, heating months
    "q_gn_utilised_kwh",  # Σ η·Q_gn over heating months
    "tau_h",  # time constant, h
    "a_h",  # utilisation-factor parameter a_H, -
    "q_tr_kwh",  # transmission part of q_ht
    "q_ve_kwh",  # ventilation part of q_ht
)
#: Last axis of ``detail`` (one row per month).
DETAIL_FIELDS: tuple[str, ...] = (
    "theta_e_c",
    "hours",
    "q_tr_kwh",
    "q_ve_kwh",
    "q_ht_kwh",
    "q_sol_s_kwh",
    "q_sol_e_kwh",
    "q_sol_w_kwh",
    "q_sol_n_kwh",
    "q_sol_h_kwh",
    "q_sol_kwh",
    "q_int_kwh",
    "q_gn_kwh",
    "gamma",
    "a_h",
    "eta",
    "q_h_nd_kwh",
)

_N_KINDS = 5
_N_ORIENT = 5
_GAMMA_ONE_TOL = 1e-9
_NEAR_ONE_LOG = 0.05


@jit
def utilisation_factor(gamma: float, a_h: float) -> float:
    """Gain utilisation factor η_H,gn of one month (sheet §5; EN ISO 13790 §12.2.1.1).

    ``η = (1 − γ^a) / (1 − γ^(a+1))`` for γ > 0, γ ≠ 1; ``a/(a + 1)`` when
    ``|γ − 1| < 1e-9``; 1 when γ ≤ 0 (no gains).

    Numerics: with ``L = ln γ``, ``γ^a = exp(a·L)``.  Near γ = 1
    (``|L| < 0.05``) the ratio is evaluated as ``expm1(a·L)/expm1((a + 1)·L)``,
    free of the cancellation in ``1 − γ^a``; for γ > 1 numerator and
    denominator are divided by ``γ^(a+1)`` (``x = 1/γ``:
    ``η = x·(1 − x^a)/(1 − x^(a+1))``) so that huge γ cannot overflow.  All
    forms are the same expression; the relative rounding error stays below
    1e-14.

    Parameters
    ----------
    gamma
        Heat-balance ratio Q_gn / Q_ht of the month, -.
    a_h
        Numerical parameter a_H = a_H,0 + τ/τ_H,0, -.

    Returns
    -------
    float
        η in [0, 1].

    Examples
    --------
    >>> round(utilisation_factor(0.5, 2.0), 12)  # (1 - 0.25) / (1 - 0.125)
    0.857142857143
    >>> utilisation_factor(1.0, 3.0)
    0.75
    """
    if gamma <= 0.0:
        return 1.0
    if abs(gamma - 1.0) < _GAMMA_ONE_TOL:
        return a_h / (a_h + 1.0)
    lg = math.log(gamma)
    if abs(lg) < _NEAR_ONE_LOG:
        return math.expm1(a_h * lg) / math.expm1((a_h + 1.0) * lg)
    if lg < 0.0:
        p = math.exp(a_h * lg)
        return (1.0 - p) / (1.0 - p * gamma)
    x = 1.0 / gamma
    q = math.exp(-a_h * lg)
    return x * (1.0 - q) / (1.0 - q * x)


@pjit
def building_coefficients(
    offsets,
    kind,
    area,
    u,
    b,
    orient,
    sol_factor,
    thermal_bridge,
    v_air,
    n_inf,
    n_vent,
    eta_hr,
    rho_c_air,
    h_parts,
    a_sol,
    a_env,
    h_ve,
):
    """Transmission, thermal-bridge, solar-aperture and ventilation coefficients per building.

    Sheet §2 (H_tr = H_D + H_g + H_U + H_A + H_tb with every element as
    ``b·U·A``; party walls carry b = 0, unheated spaces their b, ground floors
    their ISO 13370 U with b = 1), §2 thermal-bridge convention
    (``H_tb = ΔU_tb·Σ A`` over the surfaces with b > 0, area not reduced by
    b), §3 (H_ve) and §4.2 (``A_sol``).  Parallel over buildings; each
    iteration writes only its own output rows.

    Parameters
    ----------
    offsets : (N + 1,) int64
        Surfaces of building ``i`` are ``offsets[i]:offsets[i + 1]``.
    kind : (S,) int8
        Element kind code (:data:`KIND_CODES`).
    area : (S,) float64, m²
        External-dimension area (windows incl. frame).
    u : (S,) float64, W/(m²·K)
        Thermal transmittance (ground floors: the ISO 13370 U_g).
    b : (S,) float64, -
        Adjustment factor: 1 exterior, 0 party wall to a heated building,
        0 < b < 1 towards unheated spaces (sheet §2.3).
    orient : (S,) int8
        Orientation bin (:data:`ORIENTATIONS`) of windows.
    sol_factor : (S,) float64, -
        Fraction of the irradiation on the window plane that becomes a gain,
        ``F_sh,ob·F_sh,gl·F_w·g_gl,n·(1 − F_F)``; 0 for opaque elements.
    thermal_bridge : (N,) float64, W/(m²·K)
        ΔU_tb per building.
    v_air : (N,) float64, m³
        Internal air volume.
    n_inf, n_vent : (N,) float64, 1/h
        Infiltration and ventilation (use) air-change rates.
    eta_hr : (N,) float64, -
        Heat-recovery efficiency applied to ``n_vent`` (0 without recovery).
    rho_c_air : float, Wh/(m³·K)
        Volumetric heat capacity of air (1200/3600 by default, TABULA 0.34).
    h_parts : (N, 6) float64, W/K, output
        Σ b·U·A per kind (walls, roof, floor, windows, doors) and H_tb.
    a_sol : (N, 5) float64, m², output
        Effective solar collecting area per orientation (S, E, W, N, H).
    a_env : (N,) float64, m², output
        Σ A over the surfaces with b > 0 (the thermal-bridge area).
    h_ve : (N,) float64, W/K, output
        Ventilation heat-transfer coefficient.
    """
    n = offsets.shape[0] - 1
    for i in numba.prange(n):
        for k in range(_N_KINDS + 1):
            h_parts[i, k] = 0.0
        for o in range(_N_ORIENT):
            a_sol[i, o] = 0.0
        env = 0.0
        for s in range(offsets[i], offsets[i + 1]):
            h_parts[i, kind[s]] += b[s] * u[s] * area[s]
            if b[s] > 0.0:
                env += area[s]
            a_sol[i, orient[s]] += sol_factor[s] * area[s]
        a_env[i] = env
        h_parts[i, _N_KINDS] = thermal_bridge[i] * env
        h_ve[i] = rho_c_air * v_air[i] * (n_inf[i] + n_vent[i] * (1.0 - eta_hr[i]))


@pjit
def monthly_heat_balance(
    h_tr,
    h_ve,
    a_sol,
    phi_int,
    c_m,
    theta_int,
    theta_e,
    i_sol,
    hours,
    a_h0,
    tau_h0,
    q_nd,
    annual,
    detail,
):
    """Monthly quasi-steady-state heating need of N buildings (sheet §1, §4, §5).

    For each building and month m::

        Q_tr = H_tr·Δθ·t/1000,  Q_ve = H_ve·Δθ·t/1000,  Δθ = θ_int − θ_e,m
        Q_sol = Σ_o A_sol,o·I_sol,m,o,      Q_int = Φ_int·t/1000
        τ = C_m/3600/(H_tr + H_ve),  a_H = a_H,0 + τ/τ_H,0
        γ = Q_gn/Q_ht,  η = utilisation_factor(γ, a_H)
        Q_H,nd = max(0, Q_ht − η·Q_gn)            (0 when Q_ht ≤ 0)

    Parallel over buildings.  ``annual`` sums the loss and gain terms over
    the months with ``Q_H,nd > 0`` (the heating months), so that
    ``q_ht − q_gn_utilised = q_h_nd`` holds per building.

    Parameters
    ----------
    h_tr, h_ve : (N,) float64, W/K
        Transmission (incl. thermal bridges) and ventilation coefficients.
    a_sol : (N, 5) float64, m²
        Effective solar collecting area per orientation.
    phi_int : (N,) float64, W
        Mean internal heat gains Φ_int = φ_int·A_f.
    c_m : (N,) float64, J/K
        Internal heat capacity C_m = κ_m·A_f.
    theta_int : (N,) float64, °C
        Heating set-point.
    theta_e : (12,) float64, °C
        Monthly mean outdoor temperature.
    i_sol : (12, 5) float64, kWh/m²
        Monthly global irradiation per orientation (S, E, W, N, H).
    hours : (12,) float64, h
        Month lengths.
    a_h0 : float, -
        a_H,0 (1.0 for the monthly method).
    tau_h0 : float, h
        τ_H,0 (15 h for the monthly method).
    q_nd : (N, 12) float64, kWh, output
        Monthly net heating need.
    annual : (N, len(ANNUAL_FIELDS)) float64, output
        Annual results, columns :data:`ANNUAL_FIELDS`.
    detail : (N, 12, len(DETAIL_FIELDS)) or (0, 12, len(DETAIL_FIELDS)) float64, output
        Every intermediate value per month (:data:`DETAIL_FIELDS`); filled
        only when its first dimension is N.  γ and η are NaN in months
        without heat transfer (Q_ht ≤ 0); τ and a_H are infinite when
        H_tr + H_ve = 0.
    """
    n = h_tr.shape[0]
    n_months = theta_e.shape[0]
    with_detail = detail.shape[0] == n
    for i in numba.prange(n):
        h = h_tr[i] + h_ve[i]
        if h > 0.0:
            tau = c_m[i] / 3600.0 / h
        else:
            tau = math.inf
        a_h = a_h0 + tau / tau_h0
        tot_nd = 0.0
        tot_ht = 0.0
        tot_dh = 0.0
        tot_sol = 0.0
        tot_int = 0.0
        tot_use = 0.0
        tot_tr = 0.0
        tot_ve = 0.0
        for m in range(n_months):
            t = hours[m]
            dh = (theta_int[i] - theta_e[m]) * t / 1000.0
            q_tr = h_tr[i] * dh
            q_ve = h_ve[i] * dh
            q_ht = q_tr + q_ve
            q_sol = 0.0
            for o in range(_N_ORIENT):
                q_sol += a_sol[i, o] * i_sol[m, o]
            q_int = phi_int[i] * t / 1000.0
            q_gn = q_int + q_sol
            if q_ht > 0.0:
                gamma = q_gn / q_ht
                eta = utilisation_factor(gamma, a_h)
                need = q_ht - eta * q_gn
                if need < 0.0:
                    need = 0.0
            else:
                gamma = math.nan
                eta = math.nan
                need = 0.0
            q_nd[i, m] = need
            tot_nd += need
            if need > 0.0:
                tot_ht += q_ht
                tot_dh += dh
                tot_sol += q_sol
                tot_int += q_int
                tot_use += eta * q_gn
                tot_tr += q_tr
                tot_ve += q_ve
            if with_detail:
                d = detail[i, m]
                d[0] = theta_e[m]
                d[1] = t
                d[2] = q_tr
                d[3] = q_ve
                d[4] = q_ht
                for o in range(_N_ORIENT):
                    d[5 + o] = a_sol[i, o] * i_sol[m, o]
                d[10] = q_sol
                d[11] = q_int
                d[12] = q_gn
                d[13] = gamma
                d[14] = a_h
                d[15] = eta
                d[16] = need
        r = annual[i]
        r[0] = tot_nd
        r[1] = tot_ht
        r[2] = tot_dh
        r[3] = tot_sol
        r[4] = tot_int
        r[5] = tot_use
        r[6] = tau
        r[7] = a_h
        r[8] = tot_tr
        r[9] = tot_ve


@jit
def _ground_u(area_g, perimeter, wall_thickness, r_f, lambda_g, r_si, r_se):
    if area_g <= 0.0 or perimeter <= 0.0:
        return 0.0
    b_dim = area_g / (0.5 * perimeter)
    d_t = wall_thickness + lambda_g * (r_si + r_f + r_se)
    if d_t < b_dim:
        return 2.0 * lambda_g / (math.pi * b_dim + d_t) * math.log(math.pi * b_dim / d_t + 1.0)
    return lambda_g / (0.457 * b_dim + d_t)


@jit
def ground_floor_u(area_g, perimeter, wall_thickness, r_f, lambda_g, r_si, r_se, out):
    """EN ISO 13370 simplified U-value of slabs on ground (sheet §2.2).

    ``B' = A_g/(0.5·P)``, ``d_t = w + λ_g·(R_si + R_f + R_se)``; if
    ``d_t < B'``: ``U = 2λ_g/(π B' + d_t)·ln(π B'/d_t + 1)``, else
    ``U = λ_g/(0.457 B' + d_t)``.  A floor without exposed perimeter
    (``P ≤ 0``) or without area gets U = 0.

    Parameters
    ----------
    area_g : (N,) float64, m²
        Ground-floor area (external dimensions).
    perimeter : (N,) float64, m
        Exposed perimeter P (shared lengths with heated neighbours excluded).
    wall_thickness : (N,) float64, m
        Full thickness w of the external walls.
    r_f : (N,) float64, m²K/W
        Thermal resistance of the floor construction (layers only).
    lambda_g : float, W/(m·K)
        Ground conductivity (2.0 sand/gravel).
    r_si, r_se : float, m²K/W
        Surface resistances (0.17 downwards, 0.04).
    out : (N,) float64, W/(m²·K), output
        U_g per floor.

    Examples
    --------
    >>> import numpy as np
    >>> out = np.zeros(1)
    >>> ground_floor_u(np.array([60.0]), np.array([12.0]), np.array([0.3]),
    ...                np.array([0.966]), 2.0, 0.17, 0.04, out)
    >>> round(float(out[0]), 4)
    0.2998
    """
    for i in range(area_g.shape[0]):
        out[i] = _ground_u(area_g[i], perimeter[i], wall_thickness[i], r_f[i], lambda_g, r_si, r_se)
