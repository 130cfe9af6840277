"""Energy kernels against naive, obviously-correct Python references (STYLE §4.4).

The references below are plain loops over Python floats written from the
formulas of the reference sheet (shared/reference/energy.md §2-§5); they share
no code with kernels/energy.py.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from kernels import _jit
from kernels.energy import (
    ANNUAL_FIELDS,
    DETAIL_FIELDS,
    building_coefficients,
    ground_floor_u,
    monthly_heat_balance,
    utilisation_factor,
)

# ----------------------------------------------------------------- references


def naive_eta(gamma: float, a: float) -> float:
    if gamma <= 0:
        return 1.0
    if abs(gamma - 1.0) < 1e-9:
        return a / (a + 1.0)
    return (1.0 - gamma**a) / (1.0 - gamma ** (a + 1.0))


def naive_coefficients(offsets, kind, area, u, b, orient, sol, tb, v, n_inf, n_vent, eta_hr, rho_c):
    rows = []
    for i in range(len(offsets) - 1):
        parts = [0.0] * 6
        a_sol = [0.0] * 5
        env = 0.0
        for s in range(offsets[i], offsets[i + 1]):
            parts[int(kind[s])] += float(b[s]) * float(u[s]) * float(area[s])
            if b[s] > 0:
                env += float(area[s])
            a_sol[int(orient[s])] += float(sol[s]) * float(area[s])
        parts[5] = float(tb[i]) * env
        h_ve = rho_c * float(v[i]) * (float(n_inf[i]) + float(n_vent[i]) * (1.0 - float(eta_hr[i])))
        rows.append((parts, a_sol, env, h_ve))
    return rows


def naive_month_loop(h_tr, h_ve, a_sol, phi, cm, ti, te, isol, hours, a0=1.0, tau0=15.0):
    h = h_tr + h_ve
    tau = cm / 3600.0 / h if h > 0 else math.inf
    a = a0 + tau / tau0
    months = []
    for m in range(12):
        q_ht = h * (ti - te[m]) * hours[m] / 1000.0
        q_sol = sum(a_sol[o] * isol[m][o] for o in range(5))
        q_int = phi * hours[m] / 1000.0
        q_gn = q_sol + q_int
        if q_ht > 0:
            gamma = q_gn / q_ht
            eta = naive_eta(gamma, a)
            need = max(0.0, q_ht - eta * q_gn)
        else:
            gamma = eta = float("nan")
            need = 0.0
        months.append(
            {"q_ht": q_ht, "q_sol": q_sol, "q_int": q_int, "gamma": gamma, "eta": eta, "need": need}
        )
    return tau, a, months


# --------------------------------------------------------------- fixtures


def _random_buildings(rng: np.random.Generator, n: int):
    counts = rng.integers(0, 9, n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    s = int(offsets[-1])
    kind = rng.integers(0, 5, s).astype(np.int8)
    area = rng.uniform(0, 80, s)
    u = rng.uniform(0, 5, s)
    b = rng.choice([0.0, 0.5, 0.9, 1.0], s)
    orient = rng.integers(0, 5, s).astype(np.int8)
    sol = np.where(kind == 3, rng.uniform(0, 0.5, s), 0.0)
    per_b = [
        rng.uniform(0, 0.15, n),
        rng.uniform(0, 3000, n),
        rng.uniform(0, 0.6, n),
        rng.uniform(0, 1, n),
        rng.uniform(0, 0.9, n),
    ]
    return offsets, kind, area, u, b, orient, sol, per_b


@pytest.fixture(scope="module")
def climate():
    rng = np.random.default_rng(3)
    te = np.linspace(2.0, 18.0, 12)
    isol = rng.uniform(5, 150, (12, 5))
    hours = 24.0 * np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.float64)
    return te, isol, hours


def _run_monthly(h_tr, h_ve, a_sol, phi, cm, ti, climate, detail=True):
    te, isol, hours = climate
    n = len(h_tr)
    q_nd = np.zeros((n, 12))
    annual = np.zeros((n, len(ANNUAL_FIELDS)))
    det = np.zeros((n if detail else 0, 12, len(DETAIL_FIELDS)))
    monthly_heat_balance(h_tr, h_ve, a_sol, phi, cm, ti, te, isol, hours, 1.0, 15.0, q_nd, annual, det)
    return q_nd, annual, det


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("gamma", [0.0, -1.0, 1e-6, 0.3, 0.999999, 1.0, 1.0 + 5e-10, 1.000001, 1.7, 40.0])
@pytest.mark.parametrize("a", [1.0, 1.8, 7.5])
def test_utilisation_factor_matches_the_direct_formula(gamma, a):
    assert utilisation_factor(gamma, a) == pytest.approx(naive_eta(gamma, a), rel=1e-9, abs=1e-12)


def test_utilisation_factor_is_finite_at_gamma_one_and_for_huge_gamma():
    assert utilisation_factor(1.0, 2.0) == pytest.approx(2.0 / 3.0, rel=1e-15)
    assert utilisation_factor(1e300, 50.0) == pytest.approx(1e-300, rel=1e-9)
    # continuity across the |γ − 1| < 1e-9 branch
    assert utilisation_factor(1.0 + 2e-9, 2.0) == pytest.approx(2.0 / 3.0, rel=1e-8)


def test_building_coefficients_match_naive_loops():
    rng = np.random.default_rng(42)
    n = 300
    offsets, kind, area, u, b, orient, sol, (tb, v, n_inf, n_vent, eta) = _random_buildings(rng, n)
    h_parts, a_sol, a_env, h_ve = np.zeros((n, 6)), np.zeros((n, 5)), np.zeros(n), np.zeros(n)
    building_coefficients(
        offsets, kind, area, u, b, orient, sol, tb, v, n_inf, n_vent, eta, 0.34, h_parts, a_sol, a_env, h_ve
    )
    ref = naive_coefficients(offsets, kind, area, u, b, orient, sol, tb, v, n_inf, n_vent, eta, 0.34)
    for i, (parts, asol, env, hve) in enumerate(ref):
        np.testing.assert_allclose(h_parts[i], parts, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a_sol[i], asol, rtol=1e-12, atol=1e-12)
        assert a_env[i] == pytest.approx(env, rel=1e-12, abs=1e-12)
        assert h_ve[i] == pytest.approx(hve, rel=1e-12)


def test_monthly_heat_balance_matches_naive_loops(climate):
    rng = np.random.default_rng(7)
    n = 200
    h_tr = rng.uniform(0, 1500, n)
    h_ve = rng.uniform(0, 400, n)
    h_tr[0] = h_ve[0] = 0.0  # no heat transfer at all
    a_sol = rng.uniform(0, 20, (n, 5))
    phi = rng.uniform(0, 3000, n)
    cm = rng.uniform(1e6, 1e8, n)
    ti = rng.uniform(16, 22, n)
    q_nd, annual, det = _run_monthly(h_tr, h_ve, a_sol, phi, cm, ti, climate)
    te, isol, hours = climate
    f = {k: j for j, k in enumerate(DETAIL_FIELDS)}
    for i in range(n):
        tau, a, months = naive_month_loop(h_tr[i], h_ve[i], a_sol[i], phi[i], cm[i], ti[i], te, isol, hours)
        for m, ref in enumerate(months):
            assert q_nd[i, m] == pytest.approx(ref["need"], rel=1e-9, abs=1e-9)
            assert det[i, m, f["q_ht_kwh"]] == pytest.approx(ref["q_ht"], rel=1e-12)
            assert det[i, m, f["q_sol_kwh"]] == pytest.approx(ref["q_sol"], rel=1e-12)
            assert det[i, m, f["q_int_kwh"]] == pytest.approx(ref["q_int"], rel=1e-12)
            np.testing.assert_allclose(det[i, m, f["gamma"]], ref["gamma"], rtol=1e-12)
            np.testing.assert_allclose(det[i, m, f["eta"]], ref["eta"], rtol=1e-9)
        assert annual[i, 0] == pytest.approx(sum(r["need"] for r in months), rel=1e-9, abs=1e-9)
        if np.isfinite(tau):
            assert annual[i, ANNUAL_FIELDS.index("tau_h")] == pytest.approx(tau, rel=1e-12)
            assert annual[i, ANNUAL_FIELDS.index("a_h")] == pytest.approx(a, rel=1e-12)
    assert np.isinf(annual[0, ANNUAL_FIELDS.index("tau_h")])
    assert (q_nd[0] == 0).all()


def test_annual_losses_minus_utilised_gains_equal_the_need(climate):
    rng = np.random.default_rng(11)
    n = 50
    q_nd, annual, _ = _run_monthly(
        rng.uniform(50, 900, n),
        rng.uniform(10, 300, n),
        rng.uniform(0, 10, (n, 5)),
        rng.uniform(100, 900, n),
        rng.uniform(1e6, 5e7, n),
        np.full(n, 20.0),
        climate,
        detail=False,
    )
    c = {k: j for j, k in enumerate(ANNUAL_FIELDS)}
    np.testing.assert_allclose(
        annual[:, c["q_ht_kwh"]] - annual[:, c["q_gn_utilised_kwh"]], annual[:, c["q_h_nd_kwh"]], rtol=1e-10
    )
    np.testing.assert_allclose(
        annual[:, c["q_tr_kwh"]] + annual[:, c["q_ve_kwh"]], annual[:, c["q_ht_kwh"]], rtol=1e-12
    )
    np.testing.assert_allclose(q_nd.sum(axis=1), annual[:, c["q_h_nd_kwh"]], rtol=1e-12)


def test_kernels_accept_zero_buildings(climate):
    z = np.zeros(0)
    q_nd, annual, det = _run_monthly(z, z, np.zeros((0, 5)), z, z, z, climate)
    assert q_nd.shape == (0, 12) and annual.shape[0] == 0
    building_coefficients(
        np.zeros(1, dtype=np.int64),
        np.zeros(0, np.int8),
        z,
        z,
        z,
        np.zeros(0, np.int8),
        z,
        z,
        z,
        z,
        z,
        z,
        0.3,
        np.zeros((0, 6)),
        np.zeros((0, 5)),
        z.copy(),
        z.copy(),
    )


def test_months_warmer_than_the_setpoint_have_no_need_and_nan_ratio():
    te = np.full(12, 25.0)
    hours = np.full(12, 720.0)
    q_nd = np.zeros((1, 12))
    annual = np.zeros((1, len(ANNUAL_FIELDS)))
    det = np.zeros((1, 12, len(DETAIL_FIELDS)))
    monthly_heat_balance(
        np.array([100.0]),
        np.array([20.0]),
        np.ones((1, 5)),
        np.array([300.0]),
        np.array([1e7]),
        np.array([20.0]),
        te,
        np.ones((12, 5)),
        hours,
        1.0,
        15.0,
        q_nd,
        annual,
        det,
    )
    assert (q_nd == 0).all() and annual[0, 0] == 0
    assert np.isnan(det[0, :, DETAIL_FIELDS.index("gamma")]).all()


def naive_ground_u(a_g, p, w, r_f, lam, r_si=0.17, r_se=0.04):
    if a_g <= 0 or p <= 0:
        return 0.0
    bp = a_g / (0.5 * p)
    dt = w + lam * (r_si + r_f + r_se)
    if dt < bp:
        return 2 * lam / (math.pi * bp + dt) * math.log(math.pi * bp / dt + 1)
    return lam / (0.457 * bp + dt)


def test_ground_floor_u_matches_both_branches_of_iso_13370():
    # hand value: 6 m x 10 m mid-terrace slab, P = 12 m (front + rear), w = 0.3 m, R_f = 0 (bare slab),
    # B' = 60 / 6 = 10 m, d_t = 0.3 + 2 x 0.21 = 0.72 m -> U = 4 / (10 pi + 0.72) x ln(10 pi / 0.72 + 1)
    hand = 4.0 / (10 * math.pi + 0.72) * math.log(10 * math.pi / 0.72 + 1.0)
    out = np.zeros(1)
    ground_floor_u(np.array([60.0]), np.array([12.0]), np.array([0.3]), np.array([0.0]), 2.0, 0.17, 0.04, out)
    assert out[0] == pytest.approx(hand, rel=1e-14)
    assert out[0] == pytest.approx(0.4728, abs=1e-4)
    rng = np.random.default_rng(5)
    n = 400
    a = rng.uniform(0, 400, n)
    p = rng.uniform(0, 80, n)
    w = rng.uniform(0.2, 0.5, n)
    r_f = rng.choice([0.0, 0.5, 2.0, 6.0, 20.0], n)  # includes the well-insulated branch d_t >= B'
    out = np.zeros(n)
    ground_floor_u(a, p, w, r_f, 1.5, 0.17, 0.04, out)
    ref = [naive_ground_u(*args, 1.5) for args in zip(a, p, w, r_f, strict=True)]
    np.testing.assert_allclose(out, ref, rtol=1e-13)
    # both branches were exercised
    bp = a / (0.5 * np.where(p > 0, p, 1))
    dt = w + 1.5 * (0.21 + r_f)
    assert (dt < bp).any() and (dt >= bp).any()


def test_full_perimeter_roughly_doubles_the_mid_terrace_floor_loss():
    # sheet §2.2: using the full perimeter for a mid-terrace house is a classic error (bare slab)
    out = np.zeros(2)
    ground_floor_u(
        np.array([60.0, 60.0]), np.array([12.0, 32.0]), np.full(2, 0.3), np.full(2, 0.0), 2.0, 0.17, 0.04, out
    )
    assert 1.6 < out[1] / out[0] < 2.4


def test_jit_settings_come_from_the_environment(monkeypatch):
    assert _jit._fastmath_from_env(None) is False
    assert _jit._fastmath_from_env("1") == _jit.SAFE_FASTMATH_FLAGS
    assert _jit._fastmath_from_env("nsz,arcp") == frozenset({"nsz", "arcp"})
    with pytest.raises(ValueError, match="nnan"):
        _jit._fastmath_from_env("nnan,nsz")
    assert _jit._cache_from_env("off") is False and _jit._cache_from_env(None) is True
    with pytest.raises(ValueError, match="TWIN_NUMBA_CACHE"):
        _jit._cache_from_env("maybe")
    monkeypatch.setenv("TWIN_NUMBA_CACHE", "0")
    monkeypatch.setenv("TWIN_NUMBA_FASTMATH", "contract")
    mod = importlib.reload(_jit)
    try:
        assert mod.CACHE is False and mod.FASTMATH == frozenset({"contract"})
        with pytest.raises(TypeError, match="project-wide"):
            mod.jit(lambda x: x, cache=True)
    finally:
        monkeypatch.delenv("TWIN_NUMBA_CACHE")
        monkeypatch.delenv("TWIN_NUMBA_FASTMATH")
        importlib.reload(_jit)


def test_energy_kernels_set_no_jit_flags_and_import_only_numeric_modules():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "kernels" / "energy.py"
    text = path.read_text(encoding="utf-8")
    assert "cache=" not in text and "fastmath=" not in text
    imports = {
        line.split()[1].split(".")[0] for line in text.splitlines() if line.startswith(("import ", "from "))
    }
    assert imports <= {"__future__", "math", "numba", "numpy", "kernels"}, imports
