"""Richards equation on a cell-centred finite-volume voxel grid (modified Picard + Jacobi-PCG).

The method is the one of the soil reference sheet (``shared/reference/soil.md``, cited
"sheet §n"):

* mixed form ``∂θ(h)/∂t = ∇·(K(h)∇(h + z))`` (sheet §1, eq. 1), backward Euler in time;
* modified Picard linearisation of Celia, Bouloutas & Zarba (1990), WRR 26(7):1483 (sheet §2.1,
  eq. 3): the storage term is linearised with the chord ``θ^{m+1} ≈ θ^m + C^m δ``, conductances are
  lagged at iterate ``m``; the matrix is symmetric positive definite;
* the linear system of every Picard iterate is solved matrix-free by conjugate gradients with a
  Jacobi (diagonal) preconditioner over the 7-point stencil (sheet §2.4);
* convergence test on head and water content (Huang et al. 1996; sheet §2.1).

Grid and index convention (one choice, used everywhere): arrays are ``[k, j, i]`` of shape
``(nz, ny, nx)``, C-contiguous float64; **k = 0 is the surface layer** and depth increases with k;
``z`` holds the elevation [m] of the cell centres of each layer (decreasing with k), ``z_top`` and
``z_bottom`` the elevations of the top and bottom faces of the block.  ``j`` runs along y
(spacing ``dy``), ``i`` along x (``dx``).  Units are SI: head m, conductivity m/s, time s,
water content m³/m³, volumes m³.

Constitutive models (``params`` is ``(n_materials, 8)`` float64, one row per material,
``[model, θr, θs, Ks, p1, p2, p3, p4]``):

* ``model = 0`` van Genuchten–Mualem (van Genuchten 1980; Mualem 1976): ``p1 = α`` [1/m],
  ``p2 = n``, ``p3 = l`` (pore connectivity), ``p4 = h_s`` ≤ 0 [m] the air-entry head of the
  modified model (Vogel, van Genuchten & Císlerová 2001; Ippisch et al. 2006; HYDRUS): for h < h_s,
  ``Se = Se_vG(h)/Se_vG(h_s)`` and
  ``K = Ks·Se^l·[(1 − (1 − Se_vG^{1/m})^m)/(1 − (1 − Se_vG(h_s)^{1/m})^m)]²``,
  for h ≥ h_s the cell is saturated; ``h_s = 0`` is the standard model (sheet §1 numerical caveat:
  for n < ~1.5 the standard K(h) has an unbounded slope at saturation);
* ``model = 1`` Haverkamp et al. (1977): ``θ = θr + (θs−θr)·A/(A + |h|^β)``,
  ``K = Ks·B/(B + |h|^γ)`` with ``p1 = A``, ``p2 = β``, ``p3 = B``, ``p4 = γ`` (constants for h in m);
* ``model = 2`` Gardner (1958) exponential: ``K = Ks·e^{αh}``, ``θ = θr + (θs−θr)·e^{αh}``,
  ``p1 = α`` [1/m].

For h ≥ h_s (0 except for modified vG) every model is extended by ``θ = θs + Ss·(h − h_s)``,
``K = Ks``, ``C = Ss`` (sheet §1), with the specific storage ``Ss`` [1/m] a scalar.

Inter-cell conductivity (sheet §2), argument ``kmean``:

* ``0`` arithmetic: ``(K_i + K_j)/2`` between cells of one material; across a material contrast the
  harmonic mean of Ks times the arithmetic mean of the relative conductivities;
* ``1`` upstream: K of the cell with the higher total head (arithmetic when equal);
* ``2`` harmonic: ``2 K_i K_j/(K_i + K_j)``.

The same face conductances are used in the residual, the matrix and the boundary-flux accounting, so
the scheme conserves mass to the iteration tolerance.

Boundary conditions:

* top, per surface column ``top_type[j, i]``: ``0`` sealed (no flux; the rain on it is runoff),
  ``1`` fixed head ``top_head[j, i]`` on the top face, ``2`` rain flux ``rain`` [m/s] limited by
  ponding: when the flux exceeds what the column can take with the head ``h_pond`` on the top face
  (evaluated at the current Picard iterate), the face becomes a fixed-head face at ``h_pond`` and
  the excess ``rain − infiltration`` is runoff, removed at once (no surface storage, no run-on);
* bottom, ``bottom_type``: ``0`` no flow, ``1`` fixed head ``bottom_head`` on the bottom face,
  ``2`` free drainage (unit gradient, outflow ``K(h)`` of the bottom cell, lagged);
* sides, ``side_type``: ``0`` no flow, ``1`` fixed head ``side_head`` on the four side faces.

Dirichlet faces sit half a cell from the adjacent centre; their conductance is
``A·K_b/(Δ/2)`` with ``K_b`` the chosen mean of ``K(h_b)`` and ``K_i``.
"""

from __future__ import annotations

import math

import numpy as np

from kernels._jit import jit

__all__ = [
    "MODEL_VAN_GENUCHTEN",
    "MODEL_HAVERKAMP",
    "MODEL_GARDNER",
    "STAT_FIELDS",
    "water_content",
    "conductivity",
    "capacity",
    "fill_properties",
    "assemble",
    "matvec",
    "pcg",
    "thomas",
    "picard_step",
]

MODEL_VAN_GENUCHTEN = 0
MODEL_HAVERKAMP = 1
MODEL_GARDNER = 2

#: Meaning of the entries of ``stats`` written by :func:`picard_step`.  Volumes are m³ over the step,
#: positive into the soil for ``top_in``, ``bottom_in``, ``side_in``.
STAT_FIELDS = (
    "converged",
    "picard_iterations",
    "krylov_iterations",
    "top_in_m3",
    "bottom_in_m3",
    "side_in_m3",
    "runoff_m3",
    "storage_change_m3",
    "rain_m3",
)


# --------------------------------------------------------------------------- constitutive laws
@jit
def _air_entry(p):
    # vG air-entry head h_s <= 0 [m] (p4 of a vG row; 0 = the standard model); other models: 0.
    if int(p[0]) == 0:
        return p[7]
    return 0.0


@jit
def _se_vg(h, alpha, n, m):
    return (1.0 + (alpha * -h) ** n) ** (-m)


@jit
def water_content(h, p, ss):
    """Volumetric water content θ(h) [m³/m³] of one material row ``p`` at head ``h`` [m]."""
    tr = p[1]
    ts = p[2]
    hs = _air_entry(p)
    if h >= hs:
        return ts + ss * (h - hs)
    model = int(p[0])
    if model == 0:
        alpha = p[4]
        n = p[5]
        m = 1.0 - 1.0 / n
        sc = _se_vg(hs, alpha, n, m) if hs < 0.0 else 1.0
        return tr + (ts - tr) * _se_vg(h, alpha, n, m) / sc
    if model == 1:
        a = p[4]
        return tr + (ts - tr) * a / (a + (-h) ** p[5])
    return tr + (ts - tr) * math.exp(p[4] * h)


@jit
def conductivity(h, p):
    """Hydraulic conductivity K(h) [m/s] of one material row ``p`` at head ``h`` [m]."""
    ks = p[3]
    hs = _air_entry(p)
    if h >= hs:
        return ks
    model = int(p[0])
    if model == 0:
        alpha = p[4]
        n = p[5]
        ell = p[6]
        m = 1.0 - 1.0 / n
        sv = _se_vg(h, alpha, n, m)
        inner = 1.0 - sv ** (1.0 / m)
        if inner < 0.0:
            inner = 0.0
        num = 1.0 - inner**m
        if hs < 0.0:
            sc = _se_vg(hs, alpha, n, m)
            den = 1.0 - (1.0 - sc ** (1.0 / m)) ** m
            return ks * (sv / sc) ** ell * (num / den) ** 2
        return ks * sv**ell * num**2
    if model == 1:
        b = p[6]
        return ks * b / (b + (-h) ** p[7])
    return ks * math.exp(p[4] * h)


@jit
def capacity(h, p, ss):
    """Specific moisture capacity C(h) = dθ/dh [1/m] of one material row ``p`` at head ``h`` [m]."""
    hs = _air_entry(p)
    if h >= hs:
        return ss
    tr = p[1]
    ts = p[2]
    model = int(p[0])
    if model == 0:
        alpha = p[4]
        n = p[5]
        m = 1.0 - 1.0 / n
        ah = alpha * -h
        sc = _se_vg(hs, alpha, n, m) if hs < 0.0 else 1.0
        return (ts - tr) / sc * alpha * m * n * ah ** (n - 1.0) * (1.0 + ah**n) ** (-m - 1.0)
    if model == 1:
        a = p[4]
        beta = p[5]
        x = (-h) ** beta
        return (ts - tr) * a * beta * (-h) ** (beta - 1.0) / ((a + x) * (a + x))
    return (ts - tr) * p[4] * math.exp(p[4] * h)


@jit
def fill_properties(h, mat, params, ss, theta, k, c):
    """Fill θ, K and C [m³/m³, m/s, 1/m] of every cell from heads ``h`` (any matching shapes)."""
    hf = h.ravel()
    mf = mat.ravel()
    tf = theta.ravel()
    kf = k.ravel()
    cf = c.ravel()
    for q in range(hf.size):
        p = params[mf[q]]
        tf[q] = water_content(hf[q], p, ss)
        kf[q] = conductivity(hf[q], p)
        cf[q] = capacity(hf[q], p, ss)


# --------------------------------------------------------------------------- face conductivity
@jit
def _kface(ki, kj, ksi, ksj, same, hi, hj, mode):
    if mode == 1:
        if hi > hj:
            return ki
        if hj > hi:
            return kj
        return 0.5 * (ki + kj)
    if mode == 2:
        s = ki + kj
        if s <= 0.0:
            return 0.0
        return 2.0 * ki * kj / s
    if same:
        return 0.5 * (ki + kj)
    ksh = 2.0 * ksi * ksj / (ksi + ksj)
    return ksh * 0.5 * (ki / ksi + kj / ksj)


@jit
def _kbound(kb, ki, hb, hi, mode):
    # Dirichlet face: mean of K at the boundary head and K of the adjacent cell (one material).
    if mode == 1:
        if hb > hi:
            return kb
        if hi > hb:
            return ki
        return 0.5 * (kb + ki)
    if mode == 2:
        s = kb + ki
        if s <= 0.0:
            return 0.0
        return 2.0 * kb * ki / s
    return 0.5 * (kb + ki)


# --------------------------------------------------------------------------- assembly
@jit
def assemble(
    h_m,
    theta_n,
    theta_m,
    kcell,
    ccell,
    mat,
    params,
    z,
    dx,
    dy,
    dz,
    dt,
    top_type,
    top_head,
    rain,
    h_pond,
    ponded,
    switches,
    max_switch,
    bottom_type,
    bottom_head,
    side_type,
    side_head,
    kmean,
    diag,
    gx,
    gy,
    gz,
    rhs,
):
    """Assemble the modified-Picard system (sheet §2.1, eq. 3) at iterate ``m``.

    Parameters
    ----------
    h_m : (nz, ny, nx) float64, m
        Head at the current Picard iterate.
    theta_n, theta_m : (nz, ny, nx) float64
        Water content at the old time level and at the iterate.
    kcell, ccell : (nz, ny, nx) float64
        K [m/s] and C [1/m] at the iterate.
    mat : (nz, ny, nx) int32
        Material row of every cell.
    params : (n_materials, 8) float64
        Material table (see module docstring).
    z : (nz,) float64, m
        Elevation of the cell centres of each layer.
    dx, dy, dz, dt : float
        Spacings [m] and time step [s].
    top_type : (ny, nx) int8;  top_head : (ny, nx) float64, m
        Top boundary per column.
    rain : float, m/s
        Rain rate on flux columns during the step.
    h_pond : float, m
        Head on the top face of a ponded column.
    ponded : (ny, nx) int8, in/out
        1 where a flux column is treated as ponded at this iterate.
    switches : (ny, nx) int8, in/out;  max_switch : int
        Ponding-state changes of each column during the current step; a column that has switched
        ``max_switch`` times keeps its state for the rest of the step (stops the flux/head
        oscillation when the solution sits exactly at the ponding limit).
    bottom_type, side_type : int;  bottom_head, side_head : float, m
        Bottom and side boundaries.
    kmean : int
        Inter-cell conductivity mean (0 arithmetic, 1 upstream, 2 harmonic).
    diag : (nz, ny, nx);  gx : (nz, ny, nx-1);  gy : (nz, ny-1, nx);  gz : (nz-1, ny, nx), out
        Matrix diagonal [m²/s] and face conductances [m²/s]; the matrix is
        ``A δ = diag·δ − Σ G δ_neighbour``.
    rhs : (nz, ny, nx) float64, out
        Residual ``r^m`` [m³/s].

    Returns
    -------
    int
        Number of flux columns whose ponding state changed.
    """
    nz, ny, nx = h_m.shape
    vol = dx * dy * dz
    ax = dy * dz
    ay = dx * dz
    az = dx * dy
    z_top = z[0] + 0.5 * dz
    z_bot = z[nz - 1] - 0.5 * dz
    for k in range(nz):
        for j in range(ny):
            for i in range(nx):
                diag[k, j, i] = vol * ccell[k, j, i] / dt
                rhs[k, j, i] = -vol * (theta_m[k, j, i] - theta_n[k, j, i]) / dt
    # x faces
    for k in range(nz):
        for j in range(ny):
            for i in range(nx - 1):
                ma = mat[k, j, i]
                mb = mat[k, j, i + 1]
                ha = h_m[k, j, i]
                hb = h_m[k, j, i + 1]
                kf = _kface(
                    kcell[k, j, i], kcell[k, j, i + 1], params[ma, 3], params[mb, 3], ma == mb, ha, hb, kmean
                )
                g = ax * kf / dx
                gx[k, j, i] = g
                diag[k, j, i] += g
                diag[k, j, i + 1] += g
                f = g * (hb - ha)
                rhs[k, j, i] += f
                rhs[k, j, i + 1] -= f
    # y faces
    for k in range(nz):
        for j in range(ny - 1):
            for i in range(nx):
                ma = mat[k, j, i]
                mb = mat[k, j + 1, i]
                ha = h_m[k, j, i]
                hb = h_m[k, j + 1, i]
                kf = _kface(
                    kcell[k, j, i], kcell[k, j + 1, i], params[ma, 3], params[mb, 3], ma == mb, ha, hb, kmean
                )
                g = ay * kf / dy
                gy[k, j, i] = g
                diag[k, j, i] += g
                diag[k, j + 1, i] += g
                f = g * (hb - ha)
                rhs[k, j, i] += f
                rhs[k, j + 1, i] -= f
    # z faces (k above k+1)
    for k in range(nz - 1):
        for j in range(ny):
            for i in range(nx):
                ma = mat[k, j, i]
                mb = mat[k + 1, j, i]
                ha = h_m[k, j, i] + z[k]
                hb = h_m[k + 1, j, i] + z[k + 1]
                kf = _kface(
                    kcell[k, j, i], kcell[k + 1, j, i], params[ma, 3], params[mb, 3], ma == mb, ha, hb, kmean
                )
                g = az * kf / dz
                gz[k, j, i] = g
                diag[k, j, i] += g
                diag[k + 1, j, i] += g
                f = g * (hb - ha)
                rhs[k, j, i] += f
                rhs[k + 1, j, i] -= f
    # top boundary
    nswitch = 0
    for j in range(ny):
        for i in range(nx):
            t = top_type[j, i]
            if t == 0:
                continue
            p = params[mat[0, j, i]]
            hi = h_m[0, j, i]
            big_h = hi + z[0]
            if t == 1:
                hb = top_head[j, i]
                kb = _kbound(conductivity(hb, p), kcell[0, j, i], hb + z_top, big_h, kmean)
                g = az * kb / (0.5 * dz)
                diag[0, j, i] += g
                rhs[0, j, i] += g * (hb + z_top - big_h)
                continue
            kb = _kbound(conductivity(h_pond, p), kcell[0, j, i], h_pond + z_top, big_h, kmean)
            g = az * kb / (0.5 * dz)
            cap = g * (h_pond + z_top - big_h)
            new = 1 if az * rain > cap else 0
            if new != ponded[j, i] and switches[j, i] < max_switch:
                nswitch += 1
                switches[j, i] += 1
                ponded[j, i] = new
            new = ponded[j, i]
            if new == 1:
                diag[0, j, i] += g
                rhs[0, j, i] += cap
            else:
                rhs[0, j, i] += az * rain
    # bottom boundary
    kb_ = nz - 1
    if bottom_type != 0:
        for j in range(ny):
            for i in range(nx):
                if bottom_type == 2:
                    rhs[kb_, j, i] -= az * kcell[kb_, j, i]
                else:
                    p = params[mat[kb_, j, i]]
                    big_h = h_m[kb_, j, i] + z[kb_]
                    hb = bottom_head
                    kb = _kbound(conductivity(hb, p), kcell[kb_, j, i], hb + z_bot, big_h, kmean)
                    g = az * kb / (0.5 * dz)
                    diag[kb_, j, i] += g
                    rhs[kb_, j, i] += g * (hb + z_bot - big_h)
    # side boundaries (fixed head)
    if side_type == 1:
        for k in range(nz):
            for j in range(ny):
                for i in range(nx):
                    nface = 0
                    if i == 0:
                        nface += 1
                    if i == nx - 1:
                        nface += 1
                    mface = 0
                    if j == 0:
                        mface += 1
                    if j == ny - 1:
                        mface += 1
                    if nface + mface == 0:
                        continue
                    p = params[mat[k, j, i]]
                    kbh = conductivity(side_head, p)
                    hb = side_head + z[k]
                    big_h = h_m[k, j, i] + z[k]
                    kb = _kbound(kbh, kcell[k, j, i], hb, big_h, kmean)
                    g = nface * ax * kb / (0.5 * dx) + mface * ay * kb / (0.5 * dy)
                    diag[k, j, i] += g
                    rhs[k, j, i] += g * (hb - big_h)
    return nswitch


@jit
def _boundary_flux(
    h_new,
    kcell,
    mat,
    params,
    z,
    dx,
    dy,
    dz,
    top_type,
    top_head,
    rain,
    h_pond,
    ponded,
    bottom_type,
    bottom_head,
    side_type,
    side_head,
    kmean,
    col_in,
    out3,
):
    # Boundary inflow rates [m³/s] with conductances of iterate m (as assembled) and heads h^{m+1}.
    nz, ny, nx = h_new.shape
    ax = dy * dz
    ay = dx * dz
    az = dx * dy
    z_top = z[0] + 0.5 * dz
    z_bot = z[nz - 1] - 0.5 * dz
    top = 0.0
    for j in range(ny):
        for i in range(nx):
            t = top_type[j, i]
            q = 0.0
            if t == 1 or (t == 2 and ponded[j, i] == 1):
                p = params[mat[0, j, i]]
                hb = top_head[j, i] if t == 1 else h_pond
                big_hm = h_new[0, j, i] + z[0]
                kb = _kbound(conductivity(hb, p), kcell[0, j, i], hb + z_top, big_hm, kmean)
                q = az * kb / (0.5 * dz) * (hb + z_top - big_hm)
            elif t == 2:
                q = az * rain
            col_in[j, i] = q
            top += q
    bot = 0.0
    kb_ = nz - 1
    if bottom_type != 0:
        for j in range(ny):
            for i in range(nx):
                if bottom_type == 2:
                    bot -= az * kcell[kb_, j, i]
                else:
                    p = params[mat[kb_, j, i]]
                    big_h = h_new[kb_, j, i] + z[kb_]
                    kb = _kbound(
                        conductivity(bottom_head, p), kcell[kb_, j, i], bottom_head + z_bot, big_h, kmean
                    )
                    bot += az * kb / (0.5 * dz) * (bottom_head + z_bot - big_h)
    side = 0.0
    if side_type == 1:
        for k in range(nz):
            for j in range(ny):
                for i in range(nx):
                    nface = (1 if i == 0 else 0) + (1 if i == nx - 1 else 0)
                    mface = (1 if j == 0 else 0) + (1 if j == ny - 1 else 0)
                    if nface + mface == 0:
                        continue
                    p = params[mat[k, j, i]]
                    hb = side_head + z[k]
                    big_h = h_new[k, j, i] + z[k]
                    kb = _kbound(conductivity(side_head, p), kcell[k, j, i], hb, big_h, kmean)
                    g = nface * ax * kb / (0.5 * dx) + mface * ay * kb / (0.5 * dy)
                    side += g * (hb - big_h)
    out3[0] = top
    out3[1] = bot
    out3[2] = side


# --------------------------------------------------------------------------- linear solver
@jit
def matvec(diag, gx, gy, gz, x, y):
    """``y = A x`` for the 7-point stencil ``A = diag − Σ G`` (shapes as in :func:`assemble`)."""
    nz, ny, nx = x.shape
    for k in range(nz):
        for j in range(ny):
            for i in range(nx):
                s = diag[k, j, i] * x[k, j, i]
                if i > 0:
                    s -= gx[k, j, i - 1] * x[k, j, i - 1]
                if i < nx - 1:
                    s -= gx[k, j, i] * x[k, j, i + 1]
                if j > 0:
                    s -= gy[k, j - 1, i] * x[k, j - 1, i]
                if j < ny - 1:
                    s -= gy[k, j, i] * x[k, j + 1, i]
                if k > 0:
                    s -= gz[k - 1, j, i] * x[k - 1, j, i]
                if k < nz - 1:
                    s -= gz[k, j, i] * x[k + 1, j, i]
                y[k, j, i] = s


@jit
def pcg(diag, gx, gy, gz, b, x, rtol, maxit):
    """Jacobi-preconditioned conjugate gradients for ``A x = b`` (x holds the start and the result).

    Stops when ``‖b − A x‖₂ ≤ rtol·‖b‖₂`` or after ``maxit`` iterations (Saad 2003, Alg. 9.1).

    Returns
    -------
    int
        Iterations used (``-1`` if the tolerance was not met).
    """
    r = np.empty_like(b)
    zz = np.empty_like(b)
    p = np.empty_like(b)
    q = np.empty_like(b)
    matvec(diag, gx, gy, gz, x, q)
    bf = b.ravel()
    rf = r.ravel()
    zf = zz.ravel()
    pf = p.ravel()
    qf = q.ravel()
    xf = x.ravel()
    df = diag.ravel()
    n = bf.size
    bnorm = 0.0
    rz = 0.0
    for s in range(n):
        rf[s] = bf[s] - qf[s]
        zf[s] = rf[s] / df[s]
        pf[s] = zf[s]
        rz += rf[s] * zf[s]
        bnorm += bf[s] * bf[s]
    bnorm = math.sqrt(bnorm)
    if bnorm == 0.0:
        for s in range(n):
            xf[s] = 0.0
        return 0
    tol = rtol * bnorm
    for it in range(maxit):
        rnorm = 0.0
        for s in range(n):
            rnorm += rf[s] * rf[s]
        if math.sqrt(rnorm) <= tol:
            return it
        matvec(diag, gx, gy, gz, p, q)
        pq = 0.0
        for s in range(n):
            pq += pf[s] * qf[s]
        a = rz / pq
        rz_new = 0.0
        for s in range(n):
            xf[s] += a * pf[s]
            rf[s] -= a * qf[s]
            zf[s] = rf[s] / df[s]
            rz_new += rf[s] * zf[s]
        beta = rz_new / rz
        rz = rz_new
        for s in range(n):
            pf[s] = zf[s] + beta * pf[s]
    rnorm = 0.0
    for s in range(n):
        rnorm += rf[s] * rf[s]
    if math.sqrt(rnorm) <= tol:
        return maxit
    return -1


@jit
def thomas(diag, gz, b, x):
    """Direct tridiagonal solve of ``A x = b`` for a single column (``nx = ny = 1``; Thomas algorithm).

    Used by :func:`picard_step` instead of CG on columns: a column's matrix is tridiagonal and the
    direct solve is exact in ``O(nz)``.
    """
    nz = b.shape[0]
    cp = np.empty(nz)
    dp = np.empty(nz)
    cp[0] = -gz[0, 0, 0] / diag[0, 0, 0] if nz > 1 else 0.0
    dp[0] = b[0, 0, 0] / diag[0, 0, 0]
    for k in range(1, nz):
        den = diag[k, 0, 0] + gz[k - 1, 0, 0] * cp[k - 1]
        cp[k] = -gz[k, 0, 0] / den if k < nz - 1 else 0.0
        dp[k] = (b[k, 0, 0] + gz[k - 1, 0, 0] * dp[k - 1]) / den
    x[nz - 1, 0, 0] = dp[nz - 1]
    for k in range(nz - 2, -1, -1):
        x[k, 0, 0] = dp[k] - cp[k] * x[k + 1, 0, 0]


# --------------------------------------------------------------------------- one time step
@jit
def picard_step(
    h_n,
    theta_n,
    h,
    theta,
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
    h_pond,
    ponded,
    bottom_type,
    bottom_head,
    side_type,
    side_head,
    kmean,
    eps_h,
    eps_theta,
    max_picard,
    cg_rtol,
    cg_maxit,
    col_in,
    stats,
):
    """Advance the heads by one backward-Euler step with the modified Picard iteration.

    Celia, Bouloutas & Zarba (1990), sheet §2.1: iterate ``A^m δ = r^m``, ``h ← h + δ`` until
    ``max|δ| < eps_h`` and ``max|Δθ| < eps_theta`` and no column changed its ponding state.
    A single column (``nx = ny = 1``) is solved directly with :func:`thomas` instead of CG.

    Parameters
    ----------
    h_n, theta_n : (nz, ny, nx) float64
        Head [m] and water content at the start of the step (not modified).
    h, theta : (nz, ny, nx) float64, in/out
        Start iterate on input (usually ``h_n``); the new head and θ on output when converged.
    mat, params, ss, z, dx, dy, dz, top_type, top_head, rain, h_pond, bottom_type, bottom_head,
    side_type, side_head, kmean
        As in :func:`assemble`; ``ss`` the specific storage [1/m].
    dt : float, s
        Time step.
    ponded : (ny, nx) int8, in/out
        Ponding state of the flux columns (start from the previous step's state).
    eps_h, eps_theta : float
        Head [m] and water-content tolerances.
    max_picard, cg_maxit : int
        Iteration limits.
    cg_rtol : float
        Relative residual tolerance of the CG solves.
    col_in : (ny, nx) float64, out
        Top inflow rate per column at the end of the step [m³/s].
    stats : (9,) float64, out
        See :data:`STAT_FIELDS`; ``converged`` is 1.0 or 0.0.
    """
    nz, ny, nx = h.shape
    kcell = np.empty_like(h)
    ccell = np.empty_like(h)
    diag = np.empty_like(h)
    rhs = np.empty_like(h)
    delta = np.zeros_like(h)
    gx = np.zeros((nz, ny, max(nx - 1, 0)))
    gy = np.zeros((nz, max(ny - 1, 0), nx))
    gz = np.zeros((max(nz - 1, 0), ny, nx))
    flux3 = np.zeros(3)
    switches = np.zeros((ny, nx), dtype=np.int8)
    vol = dx * dy * dz
    fill_properties(h, mat, params, ss, theta, kcell, ccell)
    krylov = 0
    converged = 0
    it = 0
    for it in range(1, max_picard + 1):  # noqa: B007 - `it` is reported after the loop
        nsw = assemble(
            h,
            theta_n,
            theta,
            kcell,
            ccell,
            mat,
            params,
            z,
            dx,
            dy,
            dz,
            dt,
            top_type,
            top_head,
            rain,
            h_pond,
            ponded,
            switches,
            3,
            bottom_type,
            bottom_head,
            side_type,
            side_head,
            kmean,
            diag,
            gx,
            gy,
            gz,
            rhs,
        )
        delta[:] = 0.0
        if nx == 1 and ny == 1:
            thomas(diag, gz, rhs, delta)
            nit = 0
        else:
            nit = pcg(diag, gx, gy, gz, rhs, delta, cg_rtol, cg_maxit)
        if nit < 0:
            krylov += cg_maxit
            break
        krylov += nit
        dmax = 0.0
        hf = h.ravel()
        df = delta.ravel()
        for s in range(hf.size):
            hf[s] += df[s]
            a = abs(df[s])
            if a > dmax:
                dmax = a
        # fluxes with the conductances of iterate m and the new heads (consistent with the system)
        _boundary_flux(
            h,
            kcell,
            mat,
            params,
            z,
            dx,
            dy,
            dz,
            top_type,
            top_head,
            rain,
            h_pond,
            ponded,
            bottom_type,
            bottom_head,
            side_type,
            side_head,
            kmean,
            col_in,
            flux3,
        )
        tmax = 0.0
        tf = theta.ravel()
        mf = mat.ravel()
        kf = kcell.ravel()
        cf = ccell.ravel()
        for s in range(hf.size):
            p = params[mf[s]]
            tnew = water_content(hf[s], p, ss)
            a = abs(tnew - tf[s])
            if a > tmax:
                tmax = a
            tf[s] = tnew
            kf[s] = conductivity(hf[s], p)
            cf[s] = capacity(hf[s], p, ss)
        if dmax < eps_h and tmax < eps_theta and nsw == 0:
            converged = 1
            break
    ds = 0.0
    tf = theta.ravel()
    tnf = theta_n.ravel()
    for s in range(tf.size):
        ds += tf[s] - tnf[s]
    rain_v = 0.0
    runoff = 0.0
    for j in range(ny):
        for i in range(nx):
            if top_type[j, i] == 0 or top_type[j, i] == 2:
                rain_v += rain * dx * dy * dt
                if top_type[j, i] == 0:
                    runoff += rain * dx * dy * dt
                else:
                    runoff += (rain * dx * dy - col_in[j, i]) * dt
    stats[0] = float(converged)
    stats[1] = float(it)
    stats[2] = float(krylov)
    stats[3] = flux3[0] * dt
    stats[4] = flux3[1] * dt
    stats[5] = flux3[2] * dt
    stats[6] = runoff
    stats[7] = ds * vol
    stats[8] = rain_v
