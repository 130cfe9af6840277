"""Naive NumPy/scipy twin of :mod:`kernels.richards` (STYLE §4.4: every fast path has a slow twin).

``reference_step`` performs the same modified-Picard step (Celia et al. 1990) with vectorised NumPy
constitutive laws, a ``scipy.sparse`` matrix and ``scipy.sparse.linalg.cg`` (no preconditioner) or
``spsolve``.  It supports what the storm benchmark uses: any constitutive model, arithmetic face
means between cells of one material, rain with ponding / sealed / fixed-head tops, free-drainage,
fixed-head or no-flow bottom, no-flow sides.  ``benchmarks/soil.py`` uses it as the anchor.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from kernels.richards import assemble, capacity, conductivity, matvec, pcg, picard_step, water_content


def props(h, p, ss):
    """θ, K, C of every cell of one material row ``p`` (vectorised, NumPy only)."""
    model, tr, ts, ks = int(p[0]), p[1], p[2], p[3]
    hs = p[7] if model == 0 else 0.0
    neg = h < hs
    a = np.where(neg, -h, 0.0)
    if model == 0:
        alpha, n, ell = p[4], p[5], p[6]
        m = 1 - 1 / n
        sc = (1 + (alpha * -hs) ** n) ** (-m)
        sv = (1 + (alpha * a) ** n) ** (-m)
        se = sv / sc
        th = tr + (ts - tr) * se
        kr_c = 1 - (1 - sc ** (1 / m)) ** m
        k = ks * se**ell * ((1 - np.clip(1 - sv ** (1 / m), 0, None) ** m) / kr_c) ** 2
        c = (ts - tr) / sc * alpha * m * n * (alpha * a) ** (n - 1) * (1 + (alpha * a) ** n) ** (-m - 1)
    elif model == 1:
        th = tr + (ts - tr) * p[4] / (p[4] + a ** p[5])
        k = ks * p[6] / (p[6] + a ** p[7])
        c = (ts - tr) * p[4] * p[5] * a ** (p[5] - 1) / (p[4] + a ** p[5]) ** 2
    else:
        e = np.exp(p[4] * np.minimum(h, 0.0))
        th, k, c = tr + (ts - tr) * e, ks * e, (ts - tr) * p[4] * e
    th = np.where(neg, th, ts + ss * (h - hs))
    k = np.where(neg, k, ks)
    c = np.where(neg, c, ss)
    return th, k, c


def props_multi(h, mat, params, ss):
    """θ, K, C of every cell, material by material."""
    th, k, c = np.zeros(h.shape), np.zeros(h.shape), np.zeros(h.shape)
    for q in np.unique(mat):
        sel = mat == q
        th[sel], k[sel], c[sel] = props(h[sel], params[q], ss)
    return th, k, c


def reference_step(
    h_n,
    mat,
    params,
    ss,
    z,
    dx,
    dy,
    dz,
    dt,
    top_type,
    top_head,
    rain,
    bottom_type,
    bottom_head,
    eps_h=1e-6,
    eps_theta=1e-7,
    max_picard=25,
    solver="cg",
    rtol=1e-12,
):
    """One modified-Picard step; returns ``(h, converged, picard_its, krylov_its)``."""
    nz, ny, nx = h_n.shape
    n = h_n.size
    idx = np.arange(n).reshape(h_n.shape)
    vol = dx * dy * dz
    az = dx * dy
    th_n = props_multi(h_n, mat, params, ss)[0]
    ks = params[mat, 3]
    h = h_n.copy()
    zz = np.broadcast_to(z[:, None, None], h.shape)
    ponded = np.zeros((ny, nx), bool)
    kry = 0
    for it in range(1, max_picard + 1):
        th, k, c = props_multi(h, mat, params, ss)
        big_h = h + zz
        diag = vol * c / dt
        rhs = -vol * (th - th_n) / dt
        rows, cols, vals = [], [], []
        for axis, area, d in ((2, dy * dz, dx), (1, dx * dz, dy), (0, az, dz)):
            sl_a = [slice(None)] * 3
            sl_b = [slice(None)] * 3
            sl_a[axis] = slice(None, -1)
            sl_b[axis] = slice(1, None)
            sa, sb = tuple(sl_a), tuple(sl_b)
            same = mat[sa] == mat[sb]
            ksh = 2 * ks[sa] * ks[sb] / (ks[sa] + ks[sb])
            kf = np.where(same, 0.5 * (k[sa] + k[sb]), ksh * 0.5 * (k[sa] / ks[sa] + k[sb] / ks[sb]))
            g = area * kf / d
            f = g * (big_h[sb] - big_h[sa])
            dg = np.zeros(h.shape)
            dg[sa] += g
            dg[sb] += g
            diag = diag + dg
            df = np.zeros(h.shape)
            df[sa] += f
            df[sb] -= f
            rhs = rhs + df
            rows += [idx[sa].ravel(), idx[sb].ravel()]
            cols += [idx[sb].ravel(), idx[sa].ravel()]
            vals += [-g.ravel(), -g.ravel()]
        z_top = z[0] + dz / 2
        hb = np.where(top_type == 1, top_head, 0.0)
        kb = 0.5 * (props_multi(hb[None], mat[:1], params, ss)[1][0] + k[0])
        g = az * kb / (dz / 2)
        cap = g * (hb + z_top - big_h[0])
        pond_new = (top_type == 2) & (az * rain > cap)
        switched = int(np.sum(pond_new != ponded))
        ponded = pond_new
        dirich = (top_type == 1) | ponded
        diag[0] += np.where(dirich, g, 0.0)
        rhs[0] += np.where(dirich, cap, np.where(top_type == 2, az * rain, 0.0))
        if bottom_type == 2:
            rhs[-1] -= az * k[-1]
        elif bottom_type == 1:
            hb = np.full((ny, nx), bottom_head)
            kb = 0.5 * (props_multi(hb[None], mat[-1:], params, ss)[1][0] + k[-1])
            g = az * kb / (dz / 2)
            diag[-1] += g
            rhs[-1] += g * (bottom_head + z[-1] - dz / 2 - big_h[-1])
        rows.append(idx.ravel())
        cols.append(idx.ravel())
        vals.append(diag.ravel())
        a = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        if solver == "spsolve":
            delta = spla.spsolve(a.tocsc(), rhs.ravel())
        else:
            count = [0]

            def cb(_x, count=count):
                count[0] += 1

            delta, info = spla.cg(a, rhs.ravel(), rtol=rtol, atol=0.0, maxiter=20000, callback=cb)
            kry += count[0]
        delta = delta.reshape(h.shape)
        h = h + delta
        th_new = props_multi(h, mat, params, ss)[0]
        if np.abs(delta).max() < eps_h and np.abs(th_new - th).max() < eps_theta and switched == 0:
            return h, True, it, kry
    return h, False, max_picard, kry


# ----------------------------------------------------------------------------- tests of the kernel


def _vg():
    return np.array([[0, 0.078, 0.43, 2.89e-6, 3.6, 1.56, 0.5, 0.0]])


def test_constitutive_laws_match_the_vectorised_formulas():
    rng = np.random.default_rng(0)
    h = -np.exp(rng.uniform(-6, 4, 200))
    h = np.concatenate([h, [0.0, 0.3]])
    rows = [
        _vg()[0],
        [0, 0.067, 0.45, 1.25e-6, 2.0, 1.41, 0.5, -0.02],
        [1, 0.075, 0.287, 9.44e-5, 1.611e6 / 100**3.96, 3.96, 1.175e6 / 100**4.74, 4.74],
        [2, 0.15, 0.45, 1e-5, 0.25, 0, 0, 0],
    ]
    for p in rows:
        p = np.asarray(p, dtype=float)
        th, k, c = props(h, p, 1e-5)
        np.testing.assert_allclose([water_content(x, p, 1e-5) for x in h], th, rtol=1e-10)
        np.testing.assert_allclose([conductivity(x, p) for x in h], k, rtol=1e-10)
        np.testing.assert_allclose([capacity(x, p, 1e-5) for x in h], c, rtol=1e-10)
        # C is the derivative of θ (central difference on the unsaturated branch)
        hu = h[h < -0.03]
        e = 1e-5 * np.abs(hu)
        num = (props(hu + e, p, 0)[0] - props(hu - e, p, 0)[0]) / (2 * e)
        np.testing.assert_allclose(props(hu, p, 0)[2], num, rtol=1e-4, atol=1e-8)


def test_matvec_and_pcg_agree_with_a_scipy_matrix():
    rng = np.random.default_rng(1)
    nz, ny, nx = 4, 3, 5
    gx = rng.uniform(0.1, 1, (nz, ny, nx - 1))
    gy = rng.uniform(0.1, 1, (nz, ny - 1, nx))
    gz = rng.uniform(0.1, 1, (nz - 1, ny, nx))
    diag = rng.uniform(0.1, 1, (nz, ny, nx))
    diag[:, :, :-1] += gx
    diag[:, :, 1:] += gx
    diag[:, :-1] += gy
    diag[:, 1:] += gy
    diag[:-1] += gz
    diag[1:] += gz
    n = nz * ny * nx
    a = np.zeros((n, n))
    idx = np.arange(n).reshape(nz, ny, nx)
    for k in range(nz):  # naive loops
        for j in range(ny):
            for i in range(nx):
                a[idx[k, j, i], idx[k, j, i]] = diag[k, j, i]
                if i < nx - 1:
                    a[idx[k, j, i], idx[k, j, i + 1]] = a[idx[k, j, i + 1], idx[k, j, i]] = -gx[k, j, i]
                if j < ny - 1:
                    a[idx[k, j, i], idx[k, j + 1, i]] = a[idx[k, j + 1, i], idx[k, j, i]] = -gy[k, j, i]
                if k < nz - 1:
                    a[idx[k, j, i], idx[k + 1, j, i]] = a[idx[k + 1, j, i], idx[k, j, i]] = -gz[k, j, i]
    x = rng.normal(size=(nz, ny, nx))
    y = np.zeros_like(x)
    matvec(diag, gx, gy, gz, x, y)
    np.testing.assert_allclose(y.ravel(), a @ x.ravel(), rtol=1e-12)
    b = rng.normal(size=(nz, ny, nx))
    sol = np.zeros_like(b)
    its = pcg(diag, gx, gy, gz, b, sol, 1e-12, 1000)
    assert its > 0
    np.testing.assert_allclose(sol.ravel(), np.linalg.solve(a, b.ravel()), rtol=1e-8, atol=1e-12)


def test_assembled_residual_is_zero_for_hydrostatic_equilibrium():
    nz, ny, nx = 6, 2, 3
    dz = 0.1
    z = -(np.arange(nz) + 0.5) * dz
    h = np.ascontiguousarray(np.broadcast_to((-1.0 - z)[:, None, None], (nz, ny, nx)))  # H = -1 m
    p = _vg()
    th, k, c = props(h, p[0], 1e-6)
    out = [
        np.zeros((nz, ny, nx)),
        np.zeros((nz, ny, nx - 1)),
        np.zeros((nz, ny - 1, nx)),
        np.zeros((nz - 1, ny, nx)),
        np.zeros((nz, ny, nx)),
    ]
    assemble(
        h,
        th,
        th,
        k,
        c,
        np.zeros((nz, ny, nx), np.int32),
        p,
        z,
        1.0,
        1.0,
        dz,
        10.0,
        np.zeros((ny, nx), np.int8),
        np.zeros((ny, nx)),
        0.0,
        0.0,
        np.zeros((ny, nx), np.int8),
        np.zeros((ny, nx), np.int8),
        3,
        0,
        0.0,
        0,
        0.0,
        0,
        *out,
    )
    np.testing.assert_allclose(out[4], 0.0, atol=1e-18)


def test_picard_step_matches_the_naive_scipy_reference():
    rng = np.random.default_rng(2)
    nz, ny, nx = 8, 3, 4
    dz = 0.05
    z = -(np.arange(nz) + 0.5) * dz
    h_n = -1.5 + 0.2 * rng.random((nz, ny, nx))
    p = np.vstack([_vg(), [[0, 0.045, 0.43, 8.25e-5, 14.5, 2.68, 0.5, 0.0]]])
    mat = (rng.random((nz, ny, nx)) < 0.3).astype(np.int32)
    top_type = rng.integers(0, 3, (ny, nx)).astype(np.int8)
    top_head = np.full((ny, nx), -0.1)
    rain = 2e-5
    for bottom in (1, 2):
        h = h_n.copy()
        th = np.zeros_like(h)
        th_n = props_multi(h_n, mat, p, 1e-6)[0]
        stats = np.zeros(9)
        picard_step(
            h_n,
            th_n,
            h,
            th,
            mat,
            p,
            1e-6,
            z,
            0.5,
            0.5,
            dz,
            120.0,
            top_type,
            top_head,
            rain,
            0.0,
            np.zeros((ny, nx), np.int8),
            bottom,
            -1.5,
            0,
            0.0,
            0,
            1e-9,
            1e-10,
            30,
            1e-13,
            5000,
            np.zeros((ny, nx)),
            stats,
        )
        ref, ok, _, _ = reference_step(
            h_n,
            mat,
            p,
            1e-6,
            z,
            0.5,
            0.5,
            dz,
            120.0,
            top_type,
            top_head,
            rain,
            bottom,
            -1.5,
            eps_h=1e-9,
            eps_theta=1e-10,
            max_picard=30,
            solver="spsolve",
        )
        assert ok and stats[0] == 1.0
        np.testing.assert_allclose(h, ref, rtol=0, atol=1e-8)
        # the step's own balance: storage change equals net boundary inflow
        net = stats[3] + stats[4] + stats[5]
        assert abs(stats[7] - net) <= 1e-9 * max(abs(stats[3]), abs(stats[4]))
