"""Validation of the Richards solver against published cases (soil reference sheet §3).

* B1 Celia, Bouloutas & Zarba (1990) 1D infiltration into Haverkamp sand;
* B2 Tracy (2006) 3D transient analytical solution for the Gardner soil;
* B4 Green–Ampt cumulative infiltration under ponding and the ponding behaviour under rain.

Every run also asserts the global mass-balance error below 1e-6 of the water exchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from simulation.soil.materials import Material, carsel_parrish, params_array
from simulation.soil.solver import RichardsProblem, SolverOptions, run_richards

MB_TOL = 1e-6


def _assert_mass_balance(result):
    for b in result.balance:
        assert b["mass_balance_error"] < MB_TOL, b


# ----------------------------------------------------------------------------- B1 Celia et al. (1990)
def celia(dz_cm: float, dt: float):
    beta, gamma = 3.96, 4.74  # Haverkamp sand, constants for h in cm converted to h in m
    sand = Material.haverkamp(
        "celia sand", 0.075, 0.287, 1.611e6 / 100**beta, beta, 1.175e6 / 100**gamma, gamma, 9.44e-5
    )
    nz = round(40 / dz_cm)
    prob = RichardsProblem(
        mat=np.zeros((nz, 1, 1), np.int32),
        params=params_array([sand]),
        h0=np.full((nz, 1, 1), -0.615),
        dx=1.0,
        dy=1.0,
        dz=dz_cm / 100,
        top_type=np.ones((1, 1), np.int8),
        top_head=np.full((1, 1), -0.207),
        bottom_type="head",
        bottom_head_m=-0.615,
    )
    opt = SolverOptions(dt_initial_s=dt, dt_min_s=min(dt, 1e-3), dt_max_s=dt, fixed_step=True)
    return run_richards(prob, duration_s=360.0, output_times_s=[360.0], options=opt)


def _profile_cm(result, dz_cm):
    h = result.head_m[-1][:, 0, 0] * 100
    depth = (np.arange(h.size) + 0.5) * dz_cm
    return depth, h


def _sample_every_cm(result, dz_cm):
    depth, h = _profile_cm(result, dz_cm)
    return np.interp(np.arange(1.0, 40.0), depth, h)


@pytest.fixture(scope="module")
def celia_reference():
    # Converged run: Δz = 0.05 cm, Δt = 0.1 s (its RMS difference to Δz = 0.025 cm, Δt = 0.025 s
    # is 0.004 cm, measured once; the finer run costs 16 s).
    return celia(0.05, 0.1)


@pytest.mark.parametrize("dt", [1.0, 10.0, 30.0, 120.0])
def test_celia_mixed_form_conserves_mass_for_every_time_step(dt):
    _assert_mass_balance(celia(1.0, dt))


def test_celia_profile_at_360_s_has_the_published_shape():
    r = celia(1.0, 10.0)
    depth, h = _profile_cm(r, 1.0)
    assert np.all(np.diff(h) <= 1e-9)  # monotone decreasing with depth
    assert -20.7 - 1.0 < h[0] < -20.7  # top cell half a cell below the -20.7 cm face
    np.testing.assert_allclose(h[depth > 25], -61.5, atol=0.2)
    front = np.interp(-40.0, h[::-1], depth[::-1])  # depth of the h = -40 cm point
    assert 15.0 <= front <= 16.0


def test_celia_converges_to_the_refined_run(celia_reference):
    href = _sample_every_cm(celia_reference, 0.05)
    for dz_cm, dt, tol in ((1.0, 10.0, 1.0), (0.5, 1.0, 0.3), (0.25, 1.0, 0.1)):
        r = celia(dz_cm, dt)
        rms = np.sqrt(np.mean((_sample_every_cm(r, dz_cm) - href) ** 2))
        assert rms < tol, (dz_cm, dt, rms)
    i_01 = celia(0.1, 0.1).balance[-1]["inflow_top_m"]
    i_ref = celia_reference.balance[-1]["inflow_top_m"]
    assert abs(i_01 - i_ref) / i_ref < 0.01


# ----------------------------------------------------------------------------- B2 Tracy (2006)
L, HR, TR, TS, KS, ALPHA = 15.24, -15.24, 0.15, 0.45, 1e-5, 0.25


def tracy_exact(x, y, z, t, alpha=ALPHA, terms=200):
    """Tracy (2006) 3D transient solution (sheet §3 B2), z up from the bottom; naive series."""
    c = alpha * (TS - TR) / KS
    beta = np.sqrt(alpha**2 / 4 + 2 * (np.pi / L) ** 2)
    hb0 = 1 - np.exp(alpha * HR)
    s = np.sin(np.pi * x / L) * np.sin(np.pi * y / L)
    series = np.zeros(np.broadcast(x, y, z).shape)
    for k in range(1, terms + 1):
        lam = k * np.pi / L
        gam = (beta**2 + lam**2) / c
        series += (-1) ** k * (lam / gam) * np.sin(lam * z) * np.exp(-gam * t)
    hbar = (
        hb0 * s * np.exp(alpha * (L - z) / 2) * (np.sinh(beta * z) / np.sinh(beta * L) + 2 / (L * c) * series)
    )
    return np.log(np.exp(alpha * HR) + hbar) / alpha


def tracy_error(n: int) -> tuple[float, float]:
    d = L / n
    centres = (np.arange(n) + 0.5) * d
    zz, yy, xx = np.meshgrid(L - centres, centres, centres, indexing="ij")  # k = 0 at the top
    t0, run = 3600.0, 86400.0  # start from the exact field at 1 h, compare one day later
    top = (
        np.log(
            np.exp(ALPHA * HR)
            + (1 - np.exp(ALPHA * HR)) * np.sin(np.pi * xx[0] / L) * np.sin(np.pi * yy[0] / L)
        )
        / ALPHA
    )
    prob = RichardsProblem(
        mat=np.zeros((n, n, n), np.int32),
        params=params_array([Material.gardner("g", TR, TS, ALPHA, KS)]),
        h0=tracy_exact(xx, yy, zz, t0),
        dx=d,
        dy=d,
        dz=d,
        top_type=np.ones((n, n), np.int8),
        top_head=top,
        bottom_type="head",
        bottom_head_m=HR,
        side_type="head",
        side_head_m=HR,
        z_top_m=L,
    )
    opt = SolverOptions(dt_initial_s=60.0, dt_max_s=3600.0, eps_h_m=1e-5, eps_theta=1e-6, cg_rtol=1e-10)
    r = run_richards(prob, duration_s=run, output_times_s=[run], options=opt)
    _assert_mass_balance(r)
    exact = tracy_exact(xx, yy, zz, t0 + run)
    return float(np.linalg.norm(r.head_m[-1] - exact) / np.linalg.norm(exact - HR)), r.stats[
        "krylov_iterations"
    ]


def test_tracy_3d_error_is_small_and_shrinks_under_refinement():
    e10, _ = tracy_error(10)
    e20, kry = tracy_error(20)
    assert e10 < 0.03
    assert e20 < 0.01
    assert np.log2(e10 / e20) >= 1.0  # observed order (≈ 1.4)
    assert kry > 0  # the 3D path goes through PCG


def test_tracy_initial_field_matches_the_boundary_values():
    # at the top face the series vanishes and the formula reduces to the boundary function
    x = np.linspace(0, L, 7)
    h_top = tracy_exact(x, L / 2, L, 7200.0)
    expected = np.log(np.exp(ALPHA * HR) + (1 - np.exp(ALPHA * HR)) * np.sin(np.pi * x / L)) / ALPHA
    np.testing.assert_allclose(h_top, expected, atol=1e-8)


# ----------------------------------------------------------------------------- B4 Green–Ampt
def _loam_column(top_type, top_head=0.0, rain=None, depth=1.0, dz=0.005, h_i=-2.0):
    nz = round(depth / dz)
    times, rates = rain if rain is not None else (np.zeros(1), np.zeros(1))
    return RichardsProblem(
        mat=np.zeros((nz, 1, 1), np.int32),
        params=params_array([carsel_parrish("loam")]),
        h0=np.full((nz, 1, 1), h_i),
        dx=1.0,
        dy=1.0,
        dz=dz,
        top_type=np.full((1, 1), top_type, np.int8),
        top_head=np.full((1, 1), top_head),
        rain_times_s=np.asarray(times, float),
        rain_rates_m_s=np.asarray(rates, float),
        bottom_type="free_drainage",
    )


def _green_ampt_parameters(h_i=-2.0):
    loam = carsel_parrish("loam")
    row = loam.row()
    from kernels.richards import conductivity, water_content

    psi_f = quad(lambda h: conductivity(h, row), h_i, 0.0, limit=200)[0] / loam.ks_m_s
    dtheta = loam.theta_s - water_content(h_i, row, 0.0)
    return loam.ks_m_s, psi_f, dtheta


def test_ponded_infiltration_is_bounded_by_green_ampt():
    ks, psi, dth = _green_ampt_parameters()
    times = [600.0, 1800.0, 3600.0]
    r = run_richards(
        _loam_column(1, 0.0),
        duration_s=3600.0,
        output_times_s=times,
        options=SolverOptions(dt_initial_s=0.1, dt_max_s=60.0),
    )
    _assert_mass_balance(r)
    for t, b in zip(times, r.balance, strict=True):
        i_ga = brentq(lambda i, t=t: i - psi * dth * np.log1p(i / (psi * dth)) - ks * t, 1e-12, 10.0)
        ratio = b["inflow_top_m"] / i_ga
        assert 0.7 <= ratio <= 1.05, (t, ratio)


def test_rain_below_ks_infiltrates_completely():
    ks = carsel_parrish("loam").ks_m_s
    rain = ([0.0, 3600.0], [0.5 * ks, 0.0])
    r = run_richards(_loam_column(2, rain=rain), duration_s=7200.0, output_times_s=[3600.0, 7200.0])
    _assert_mass_balance(r)
    assert r.balance[-1]["runoff_m"] == pytest.approx(0.0, abs=1e-15)
    assert r.balance[-1]["inflow_top_m"] == pytest.approx(0.5 * ks * 3600.0, rel=1e-12)


def test_heavy_rain_ponds_runs_off_and_infiltration_rate_decays_towards_ks():
    ks, psi, dth = _green_ampt_parameters()
    rate = 50e-3 / 3600  # 50 mm/h ≈ 4.8 Ks
    outs = np.arange(60.0, 7201.0, 60.0)
    rain = ([0.0], [rate])
    r = run_richards(
        _loam_column(2, rain=rain),
        duration_s=7200.0,
        output_times_s=outs,
        options=SolverOptions(dt_initial_s=1.0, dt_max_s=60.0),
    )
    _assert_mass_balance(r)
    inflow = np.array([b["inflow_top_m"] for b in r.balance])
    runoff = np.array([b["runoff_m"] for b in r.balance])
    rain_in = np.array([b["rain_m"] for b in r.balance])
    np.testing.assert_allclose(inflow + runoff, rain_in, rtol=1e-10)
    ponded = np.flatnonzero(runoff > 1e-9)
    assert ponded.size > 0
    t_p = outs[ponded[0]]
    t_ml = ks * psi * dth / (rate * (rate - ks))  # Mein–Larson ponding time
    assert 0.5 <= t_p / t_ml <= 2.0 + 60.0 / t_ml  # band of the sheet, plus the output spacing
    np.testing.assert_allclose(inflow[: ponded[0] - 1], rain_in[: ponded[0] - 1], rtol=1e-10)
    rates = np.diff(inflow[ponded[0] + 1 :]) / 60.0
    assert np.all(np.diff(rates) <= 1e-12)  # monotone decrease after ponding
    assert ks < rates[-1] < rate


# ----------------------------------------------------------------------------- options and failure
@pytest.mark.parametrize(("mean", "lo", "hi"), [("upstream", 15.0, 17.5), ("harmonic", 12.0, 15.6)])
def test_other_conductivity_means_conserve_mass_and_bracket_the_front(mean, lo, hi):
    beta, gamma = 3.96, 4.74
    sand = Material.haverkamp(
        "celia sand", 0.075, 0.287, 1.611e6 / 100**beta, beta, 1.175e6 / 100**gamma, gamma, 9.44e-5
    )
    prob = RichardsProblem(
        mat=np.zeros((40, 1, 1), np.int32),
        params=params_array([sand]),
        h0=np.full((40, 1, 1), -0.615),
        dx=1.0,
        dy=1.0,
        dz=0.01,
        top_type=np.ones((1, 1), np.int8),
        top_head=np.full((1, 1), -0.207),
        bottom_type="head",
        bottom_head_m=-0.615,
    )
    opt = SolverOptions(dt_initial_s=10.0, dt_max_s=10.0, fixed_step=True, conductivity_mean=mean)
    r = run_richards(prob, duration_s=360.0, output_times_s=[360.0], options=opt)
    _assert_mass_balance(r)
    depth, h = _profile_cm(r, 1.0)
    front = np.interp(-40.0, h[::-1], depth[::-1])
    assert lo <= front <= hi  # harmonic K throttles the front on coarse grids (sheet §2)


def test_a_step_that_cannot_converge_raises_convergence_error():
    from twin.errors import ConvergenceError

    opt = SolverOptions(dt_initial_s=10.0, dt_min_s=10.0, dt_max_s=10.0, max_picard=1)
    with pytest.raises(ConvergenceError, match="minimum time step"):
        run_richards(celia_problem(), duration_s=360.0, output_times_s=[360.0], options=opt)


def celia_problem():
    beta, gamma = 3.96, 4.74
    sand = Material.haverkamp(
        "celia sand", 0.075, 0.287, 1.611e6 / 100**beta, beta, 1.175e6 / 100**gamma, gamma, 9.44e-5
    )
    return RichardsProblem(
        mat=np.zeros((40, 1, 1), np.int32),
        params=params_array([sand]),
        h0=np.full((40, 1, 1), -0.615),
        dx=1.0,
        dy=1.0,
        dz=0.01,
        top_type=np.ones((1, 1), np.int8),
        top_head=np.full((1, 1), -0.207),
        bottom_type="head",
        bottom_head_m=-0.615,
    )


def test_air_entry_modified_van_genuchten_is_continuous_at_the_air_entry_head():
    from kernels.richards import conductivity, water_content
    from simulation.soil import brussels_default_horizons

    loess = brussels_default_horizons()[0][0]
    assert loess.air_entry_m == -0.02
    row = loess.row()
    eps = 1e-9
    assert water_content(-0.02 - eps, row, 0.0) == pytest.approx(loess.theta_s, abs=1e-8)
    assert conductivity(-0.02 - eps, row) == pytest.approx(loess.ks_m_s, rel=1e-6)
    assert conductivity(-0.01, row) == loess.ks_m_s
