"""Richards equation on a cell-centred finite-volume voxel grid (modified Picard + z-line PCG).

The method is the one of the soil reference sheet (``shared/reference/soil.md``, cited
"sheet §n"):

* mixed form ``∂θ(h)/∂t = ∇·(K(h)∇(h + z))`` (sheet §1, eq. 1), backward Euler in time;
* modified Picard linearisation of Celia, Bouloutas & Zarba (1990), WRR 26(7):1483 (sheet §2.1,
  eq. 3): the storage term is linearised with the chord ``θ^{m+1} ≈ θ^m + C^m δ``, conductances are
  lagged at iterate ``m``; the matrix is symmetric positive definite;
* the linear system of every Picard iterate is solved matrix-free by conjugate gradients over the
  7-point stencil (sheet §2.4), preconditioned by block Jacobi with one block per vertical line of
  cells (the tridiagonal z-coupling of a column, factorised once per iterate and applied by the
  Thomas algorithm; with thin layers, ``Δz ≪ Δx``, the vertical conductances dominate and this is
  nearly exact) or by the diagonal (``precond``);
* convergence test on head and water content (Huang et al. 1996; sheet §2.1).

Performance design (measured on the 500k-cell storm of ``benchmarks/soil.py``, single thread:
197 CPU-s → 34 CPU-s for the day, same Picard iterations and balance):

* the three constitutive laws are evaluated together (:func:`properties`), sharing their
  exponentials and logarithms (≈ 2.5× cheaper than separate power functions);
* lazy property updates (:func:`picard_solve`, ``h_lazy``): a cell whose head moved by less than
  ``h_lazy`` since its last evaluation advances θ along the Picard chord and keeps K and C; in a
  storm most of the block lies below the wetting front and is never re-evaluated;
* θ, K, C are kept between time steps by the caller (``props_ready``);
* every cell loop runs over rows of cells ``(k, j)`` (all ``i``) and, on grids of at least
  :data:`PARALLEL_MIN_CELLS` cells, in parallel (``prange``); each row writes only its own cells and
  its own entry of a partial-sum array, and the partial sums (dot products, storage change) are
  added afterwards in row order: results are bit-identical for any number of threads.

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
  ``1`` fixed head ``top_head[j, i]`` on the top face, ``2`` rain flux limited by ponding: the
  column's supply is ``rain·A`` plus the run-on it receives; when the supply exceeds what the column
  can take with the head ``h_pond`` on the top face (evaluated at the current Picard iterate), the
  face becomes a fixed-head face at ``h_pond`` and the excess ``supply − infiltration`` is runoff
  (no surface storage).  Runoff routing (:func:`picard_solve`; tables from
  ``simulation.soil.solver.surface_routing``): the surface columns are visited donors-first and
  each hands its excess (all the rain of a sealed column, the ponding excess of an open one) in
  given fractions to receiving open columns, where it joins their supply within the same Picard
  iterate; the rest goes to the sewer.  Without routing tables every excess goes to the sewer;
* bottom, ``bottom_type``: ``0`` no flow, ``1`` fixed head ``bottom_head`` on the bottom face,
  ``2`` free drainage (unit gradient, outflow ``K(h)`` of the bottom cell, lagged);
* sides, ``side_type``: ``0`` no flow, ``1`` fixed head ``side_head`` on the four side faces.

Dirichlet faces sit half a cell from the adjacent centre; their conductance is
``A·K_b/(Δ/2)`` with ``K_b`` the chosen mean of ``K(h_b)`` and ``K_i``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from kernels._jit import jit, pjit

__all__ = [
    "MODEL_VAN_GENUCHTEN",
    "MODEL_HAVERKAMP",
    "MODEL_GARDNER",
    "STAT_FIELDS",
    "water_content",
    "conductivity",
    "capacity",
    "PARALLEL_MIN_CELLS",
    "PRECOND_JACOBI",
    "PRECOND_LINE",
    "properties",
    "fill_properties",
    "assemble",
    "matvec",
    "pcg",
    "thomas",
    "picard_step",
    "picard_solve",
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
def properties(h, p, ss):
    """``(θ, K, C)`` of one material row ``p`` at head ``h`` [m]: m³/m³, m/s, 1/m.

    One evaluation shares the transcendental functions of the three laws (the cost of a Picard
    iteration is dominated by them).  For van Genuchten–Mualem with ``x = (α|h|)^n``:
    ``Se_vG = (1 + x)^(−m)``, ``1 − Se_vG^(1/m) = x/(1 + x)`` (no cancellation near saturation),
    ``1 − (x/(1+x))^m = −expm1(m·(n·ln α|h| − ln(1 + x)))``, ``(α|h|)^(n−1) = x/(α|h|)`` and
    ``(1 + x)^(−m−1) = Se_vG/(1 + x)``: five exponentials/logarithms instead of about twelve powers.
    """
    tr = p[1]
    ts = p[2]
    ks = p[3]
    model = int(p[0])
    hs = p[7] if model == 0 else 0.0
    if h >= hs:
        return ts + ss * (h - hs), ks, ss
    if model == 0:
        alpha = p[4]
        n = p[5]
        ell = p[6]
        m = 1.0 - 1.0 / n
        ah = alpha * -h
        lah = math.log(ah)
        x = math.exp(n * lah)
        l1x = math.log1p(x)
        sv = math.exp(-m * l1x)
        num = -math.expm1(m * (n * lah - l1x))
        if hs < 0.0:
            sc = _se_vg(hs, alpha, n, m)
            den = 1.0 - (1.0 - sc ** (1.0 / m)) ** m
            se = sv / sc
            kr = num / den
        else:
            sc = 1.0
            se = sv
            kr = num
        if ell == 0.5:
            sel = math.sqrt(se)
        elif ell == 0.0:
            sel = 1.0
        else:
            sel = math.exp(ell * math.log(se))
        theta = tr + (ts - tr) * se
        k = ks * sel * kr * kr
        c = (ts - tr) / sc * alpha * m * n * (x / ah) * (sv / (1.0 + x))
        return theta, k, c
    if model == 1:
        a = p[4]
        beta = p[5]
        ah = -h
        x = ah**beta
        theta = tr + (ts - tr) * a / (a + x)
        k = ks * p[6] / (p[6] + ah ** p[7])
        c = (ts - tr) * a * beta * (x / ah) / ((a + x) * (a + x))
        return theta, k, c
    e = math.exp(p[4] * h)
    return tr + (ts - tr) * e, ks * e, (ts - tr) * p[4] * e


@jit
def water_content(h, p, ss):
    """Volumetric water content θ(h) [m³/m³] of one material row ``p`` at head ``h`` [m]."""
    return properties(h, p, ss)[0]


@jit
def conductivity(h, p):
    """Hydraulic conductivity K(h) [m/s] of one material row ``p`` at head ``h`` [m]."""
    return properties(h, p, 0.0)[1]


@jit
def capacity(h, p, ss):
    """Specific moisture capacity C(h) = dθ/dh [1/m] of one material row ``p`` at head ``h`` [m]."""
    return properties(h, p, ss)[2]


#: Grids with at least this many cells run the cell loops in parallel (``prange`` over rows of
#: cells); smaller ones stay serial, where a parallel region (~15 µs on the project machine with the
#: passive OpenMP wait policy) would cost more than the loop.
PARALLEL_MIN_CELLS = 32768


@jit
def _props_row(r, h, mat, params, ss, theta, k, c):
    nx = h.shape[2]
    ny = h.shape[1]
    kk = r // ny
    j = r - kk * ny
    for i in range(nx):
        t, kc, cc = properties(h[kk, j, i], params[mat[kk, j, i]], ss)
        theta[kk, j, i] = t
        k[kk, j, i] = kc
        c[kk, j, i] = cc


@pjit
def _props_par(h, mat, params, ss, theta, k, c):
    nrows = h.shape[0] * h.shape[1]
    for r in numba.prange(nrows):  # each row of cells writes its own outputs
        _props_row(r, h, mat, params, ss, theta, k, c)


@jit
def fill_properties(h, mat, params, ss, theta, k, c):
    """Fill θ, K and C [m³/m³, m/s, 1/m] of every cell from heads ``h`` [m].

    All arrays ``(nz, ny, nx)`` C-contiguous (``mat`` int32); parallel over rows of cells on grids of
    at least :data:`PARALLEL_MIN_CELLS` cells (each row writes its own cells: bit-identical results
    for any thread count).
    """
    if h.size >= PARALLEL_MIN_CELLS:
        _props_par(h, mat, params, ss, theta, k, c)
    else:
        for r in range(h.shape[0] * h.shape[1]):
            _props_row(r, h, mat, params, ss, theta, k, c)


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
def _faces_row(r, h_m, kcell, mat, params, z, dx, dy, dz, kmean, gx, gy, gz):
    # Face conductances [m²/s] of row r = (k, j): x faces (i, i+1), y face (j, j+1), z face (k, k+1).
    nz, ny, nx = h_m.shape
    k = r // ny
    j = r - k * ny
    ax = dy * dz
    ay = dx * dz
    az = dx * dy
    for i in range(nx - 1):
        ma = mat[k, j, i]
        mb = mat[k, j, i + 1]
        kf = _kface(
            kcell[k, j, i],
            kcell[k, j, i + 1],
            params[ma, 3],
            params[mb, 3],
            ma == mb,
            h_m[k, j, i],
            h_m[k, j, i + 1],
            kmean,
        )
        gx[k, j, i] = ax * kf / dx
    if j < ny - 1:
        for i in range(nx):
            ma = mat[k, j, i]
            mb = mat[k, j + 1, i]
            kf = _kface(
                kcell[k, j, i],
                kcell[k, j + 1, i],
                params[ma, 3],
                params[mb, 3],
                ma == mb,
                h_m[k, j, i],
                h_m[k, j + 1, i],
                kmean,
            )
            gy[k, j, i] = ay * kf / dy
    if k < nz - 1:
        for i in range(nx):
            ma = mat[k, j, i]
            mb = mat[k + 1, j, i]
            kf = _kface(
                kcell[k, j, i],
                kcell[k + 1, j, i],
                params[ma, 3],
                params[mb, 3],
                ma == mb,
                h_m[k, j, i] + z[k],
                h_m[k + 1, j, i] + z[k + 1],
                kmean,
            )
            gz[k, j, i] = az * kf / dz


@jit
def _cells_row(r, h_m, theta_n, theta_m, ccell, z, vol, dt, gx, gy, gz, diag, rhs):
    # Diagonal and residual of row r gathered from the stored face conductances (fixed order).
    nz, ny, nx = h_m.shape
    k = r // ny
    j = r - k * ny
    for i in range(nx):
        hc = h_m[k, j, i] + z[k]
        d = vol * ccell[k, j, i] / dt
        s = -vol * (theta_m[k, j, i] - theta_n[k, j, i]) / dt
        if i > 0:
            g = gx[k, j, i - 1]
            d += g
            s += g * (h_m[k, j, i - 1] + z[k] - hc)
        if i < nx - 1:
            g = gx[k, j, i]
            d += g
            s += g * (h_m[k, j, i + 1] + z[k] - hc)
        if j > 0:
            g = gy[k, j - 1, i]
            d += g
            s += g * (h_m[k, j - 1, i] + z[k] - hc)
        if j < ny - 1:
            g = gy[k, j, i]
            d += g
            s += g * (h_m[k, j + 1, i] + z[k] - hc)
        if k > 0:
            g = gz[k - 1, j, i]
            d += g
            s += g * (h_m[k - 1, j, i] + z[k - 1] - hc)
        if k < nz - 1:
            g = gz[k, j, i]
            d += g
            s += g * (h_m[k + 1, j, i] + z[k + 1] - hc)
        diag[k, j, i] = d
        rhs[k, j, i] = s


@pjit
def _interior_par(
    h_m, theta_n, theta_m, kcell, ccell, mat, params, z, dx, dy, dz, dt, kmean, gx, gy, gz, diag, rhs
):
    nrows = h_m.shape[0] * h_m.shape[1]
    vol = dx * dy * dz
    for r in numba.prange(nrows):  # each row writes its own faces
        _faces_row(r, h_m, kcell, mat, params, z, dx, dy, dz, kmean, gx, gy, gz)
    for r in numba.prange(nrows):  # each row writes its own cells
        _cells_row(r, h_m, theta_n, theta_m, ccell, z, vol, dt, gx, gy, gz, diag, rhs)


@jit
def _interior(
    h_m, theta_n, theta_m, kcell, ccell, mat, params, z, dx, dy, dz, dt, kmean, gx, gy, gz, diag, rhs
):
    if h_m.size >= PARALLEL_MIN_CELLS:
        _interior_par(
            h_m, theta_n, theta_m, kcell, ccell, mat, params, z, dx, dy, dz, dt, kmean, gx, gy, gz, diag, rhs
        )
        return
    nrows = h_m.shape[0] * h_m.shape[1]
    vol = dx * dy * dz
    for r in range(nrows):
        _faces_row(r, h_m, kcell, mat, params, z, dx, dy, dz, kmean, gx, gy, gz)
    for r in range(nrows):
        _cells_row(r, h_m, theta_n, theta_m, ccell, z, vol, dt, gx, gy, gz, diag, rhs)


@jit
def _top_boundary(
    h_m,
    kcell,
    mat,
    params,
    z,
    dx,
    dz,
    dy,
    top_type,
    top_head,
    rain,
    h_pond,
    ponded,
    switches,
    max_switch,
    order,
    recv,
    frac,
    kmean,
    supply,
    routed,
    diag,
    rhs,
):
    # Top faces, surface columns visited in ``order`` (donors before receivers) so that the run-on
    # of a column is complete when it is visited.  supply/routed [m³/s] per column (flat j*nx+i).
    nz, ny, nx = h_m.shape
    az = dx * dy
    z_top = z[0] + 0.5 * dz
    nswitch = 0
    for q in range(ny * nx):
        supply[q] = 0.0
        routed[q] = 0.0
    for qq in range(order.size):
        q = order[qq]
        j = q // nx
        i = q - j * nx
        t = top_type[j, i]
        p = params[mat[0, j, i]]
        big_h = h_m[0, j, i] + z[0]
        if t == 1:
            hb = top_head[j, i]
            kb = _kbound(conductivity(hb, p), kcell[0, j, i], hb + z_top, big_h, kmean)
            g = az * kb / (0.5 * dz)
            diag[0, j, i] += g
            rhs[0, j, i] += g * (hb + z_top - big_h)
            continue
        s = az * rain + supply[q]  # supply[q] holds the run-on received so far
        supply[q] = s
        excess = s
        if t == 2:
            kb = _kbound(conductivity(h_pond, p), kcell[0, j, i], h_pond + z_top, big_h, kmean)
            g = az * kb / (0.5 * dz)
            cap = g * (h_pond + z_top - big_h)
            new = 1 if s > cap else 0
            if new != ponded[j, i] and switches[j, i] < max_switch:
                nswitch += 1
                switches[j, i] += 1
                ponded[j, i] = new
            if ponded[j, i] == 1:
                diag[0, j, i] += g
                rhs[0, j, i] += cap
                excess = s - cap if s > cap else 0.0
            else:
                rhs[0, j, i] += s
                excess = 0.0
        if excess > 0.0:
            out = 0.0
            for e in range(recv.shape[1]):
                d = recv[q, e]
                if d >= 0:
                    v = frac[q, e] * excess
                    supply[d] += v
                    out += v
            routed[q] = out
    return nswitch


@jit
def _outer_boundaries(
    h_m, kcell, mat, params, z, dx, dy, dz, bottom_type, bottom_head, side_type, side_head, kmean, diag, rhs
):
    nz, ny, nx = h_m.shape
    ax = dy * dz
    ay = dx * dz
    az = dx * dy
    z_bot = z[nz - 1] - 0.5 * dz
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
                    big_h = h_m[k, j, i] + z[k]
                    kb = _kbound(conductivity(side_head, p), kcell[k, j, i], hb, big_h, kmean)
                    g = nface * ax * kb / (0.5 * dx) + mface * ay * kb / (0.5 * dy)
                    diag[k, j, i] += g
                    rhs[k, j, i] += g * (hb - big_h)


@jit
def _no_routing(ny, nx):
    # Natural visiting order and no receivers: every column's excess goes to the sewer.
    order = np.arange(ny * nx)
    recv = np.full((ny * nx, 1), -1, dtype=np.int64)
    frac = np.zeros((ny * nx, 1))
    return order, recv, frac


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
    """Assemble the modified-Picard system (sheet §2.1, eq. 3) at iterate ``m`` (no run-on routing).

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
    order, recv, frac = _no_routing(ny, nx)
    supply = np.zeros(ny * nx)
    routed = np.zeros(ny * nx)
    return _assemble_core(
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
        order,
        recv,
        frac,
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
        supply,
        routed,
    )


@jit
def _assemble_core(
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
    order,
    recv,
    frac,
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
    supply,
    routed,
):
    # interior (parallel over rows on large grids), then the boundary faces (serial, fixed order)
    _interior(
        h_m, theta_n, theta_m, kcell, ccell, mat, params, z, dx, dy, dz, dt, kmean, gx, gy, gz, diag, rhs
    )
    nswitch = _top_boundary(
        h_m,
        kcell,
        mat,
        params,
        z,
        dx,
        dz,
        dy,
        top_type,
        top_head,
        rain,
        h_pond,
        ponded,
        switches,
        max_switch,
        order,
        recv,
        frac,
        kmean,
        supply,
        routed,
        diag,
        rhs,
    )
    _outer_boundaries(
        h_m,
        kcell,
        mat,
        params,
        z,
        dx,
        dy,
        dz,
        bottom_type,
        bottom_head,
        side_type,
        side_head,
        kmean,
        diag,
        rhs,
    )
    return nswitch


@jit
def _boundary_flux(
    h_old,
    delta,
    kcell,
    mat,
    params,
    z,
    dx,
    dy,
    dz,
    top_type,
    top_head,
    supply,
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
    # Boundary inflow rates [m³/s] with conductances of iterate m (as assembled) and heads
    # h^{m+1} = h_old + delta (computed as in the update, bit for bit);
    # a flux column that is not ponded takes its assembled supply (rain + run-on).
    nz, ny, nx = h_old.shape
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
                big_hm = (h_old[0, j, i] + delta[0, j, i]) + z[0]
                kb = _kbound(conductivity(hb, p), kcell[0, j, i], hb + z_top, big_hm, kmean)
                q = az * kb / (0.5 * dz) * (hb + z_top - big_hm)
            elif t == 2:
                q = supply[j * nx + i]
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
                    big_h = (h_old[kb_, j, i] + delta[kb_, j, i]) + z[kb_]
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
                    big_h = (h_old[k, j, i] + delta[k, j, i]) + z[k]
                    kb = _kbound(conductivity(side_head, p), kcell[k, j, i], hb, big_h, kmean)
                    g = nface * ax * kb / (0.5 * dx) + mface * ay * kb / (0.5 * dy)
                    side += g * (hb - big_h)
    out3[0] = top
    out3[1] = bot
    out3[2] = side


# --------------------------------------------------------------------------- linear solver
# Every pass below works on whole rows of cells (r = k·ny + j, all i) or, for the line
# preconditioner, on y-slabs j (all k, all i); parallel passes ``prange`` over them and write only
# their own cells.  Dot products are accumulated per row/slab into ``part`` and summed afterwards
# in index order, so results are bit-identical for any thread count and between the serial and
# parallel paths.
PRECOND_JACOBI = 0
PRECOND_LINE = 1


@jit
def _matvec_row(r, diag, gx, gy, gz, x, y):
    # y = A x on row r; returns Σ x·y over the row.  The y/z neighbours are added in separate
    # branch-free sweeps over i (vectorisable); the order of the terms per cell is fixed.
    nz, ny, nx = x.shape
    k = r // ny
    j = r - k * ny
    for i in range(nx):
        y[k, j, i] = diag[k, j, i] * x[k, j, i]
    for i in range(1, nx):
        y[k, j, i] -= gx[k, j, i - 1] * x[k, j, i - 1]
    for i in range(nx - 1):
        y[k, j, i] -= gx[k, j, i] * x[k, j, i + 1]
    if j > 0:
        for i in range(nx):
            y[k, j, i] -= gy[k, j - 1, i] * x[k, j - 1, i]
    if j < ny - 1:
        for i in range(nx):
            y[k, j, i] -= gy[k, j, i] * x[k, j + 1, i]
    if k > 0:
        for i in range(nx):
            y[k, j, i] -= gz[k - 1, j, i] * x[k - 1, j, i]
    if k < nz - 1:
        for i in range(nx):
            y[k, j, i] -= gz[k, j, i] * x[k + 1, j, i]
    acc = 0.0
    for i in range(nx):
        acc += x[k, j, i] * y[k, j, i]
    return acc


@pjit
def _matvec_par(diag, gx, gy, gz, x, y, part):
    for r in numba.prange(part.size):
        part[r] = _matvec_row(r, diag, gx, gy, gz, x, y)


@jit
def _matvec_dot(par, diag, gx, gy, gz, x, y, part):
    # y = A x and returns x·y (per-row partial sums added in row order).
    if par:
        _matvec_par(diag, gx, gy, gz, x, y, part)
    else:
        for r in range(part.size):
            part[r] = _matvec_row(r, diag, gx, gy, gz, x, y)
    s = 0.0
    for r in range(part.size):
        s += part[r]
    return s


@jit
def matvec(diag, gx, gy, gz, x, y):
    """``y = A x`` for the 7-point stencil ``A = diag − Σ G`` (shapes as in :func:`assemble`)."""
    part = np.empty(x.shape[0] * x.shape[1])
    _matvec_dot(x.size >= PARALLEL_MIN_CELLS, diag, gx, gy, gz, x, y, part)


@jit
def _update_row(r, kind, a, u, v, w, out):
    # kind 0: w += a·u, out −= a·v, returns Σ out² (CG update of x and r);
    # kind 1: out = u − v, returns Σ out² (initial residual);  kind 2: out = u + a·out, returns 0.
    nz, ny, nx = u.shape
    k = r // ny
    j = r - k * ny
    acc = 0.0
    for i in range(nx):
        if kind == 0:
            w[k, j, i] += a * u[k, j, i]
            o = out[k, j, i] - a * v[k, j, i]
        elif kind == 1:
            o = u[k, j, i] - v[k, j, i]
        else:
            o = u[k, j, i] + a * out[k, j, i]
        out[k, j, i] = o
        acc += o * o
    return acc


@pjit
def _update_par(kind, a, u, v, w, out, part):
    for r in numba.prange(part.size):
        part[r] = _update_row(r, kind, a, u, v, w, out)


@jit
def _update(par, kind, a, u, v, w, out, part):
    if par:
        _update_par(kind, a, u, v, w, out, part)
    else:
        for r in range(part.size):
            part[r] = _update_row(r, kind, a, u, v, w, out)
    s = 0.0
    for r in range(part.size):
        s += part[r]
    return s


@jit
def _line_factor_slab(j, diag, gz, cp, inv):
    # Thomas factors of the vertical (z-line) tridiagonal blocks of slab j:
    # den_k = diag_k − gz_{k−1}²/den_{k−1};  inv = 1/den, cp_k = −gz_k/den_k.
    nz, ny, nx = diag.shape
    for i in range(nx):
        den = diag[0, j, i]
        inv[0, j, i] = 1.0 / den
        cp[0, j, i] = -gz[0, j, i] / den if nz > 1 else 0.0
    for k in range(1, nz):
        for i in range(nx):
            den = diag[k, j, i] + gz[k - 1, j, i] * cp[k - 1, j, i]
            inv[k, j, i] = 1.0 / den
            cp[k, j, i] = -gz[k, j, i] / den if k < nz - 1 else 0.0


@jit
def _line_solve_slab(j, precond, diag, gz, cp, inv, res, zz):
    # zz = M⁻¹ res on slab j (M the z-line blocks, or the diagonal); returns Σ res·zz over the slab.
    nz, ny, nx = diag.shape
    acc = 0.0
    if precond == PRECOND_JACOBI:
        for k in range(nz):
            for i in range(nx):
                v = res[k, j, i] / diag[k, j, i]
                zz[k, j, i] = v
                acc += res[k, j, i] * v
        return acc
    for i in range(nx):
        zz[0, j, i] = res[0, j, i] * inv[0, j, i]
    for k in range(1, nz):
        for i in range(nx):
            zz[k, j, i] = (res[k, j, i] + gz[k - 1, j, i] * zz[k - 1, j, i]) * inv[k, j, i]
    for i in range(nx):
        acc += res[nz - 1, j, i] * zz[nz - 1, j, i]
    for k in range(nz - 2, -1, -1):
        for i in range(nx):
            v = zz[k, j, i] - cp[k, j, i] * zz[k + 1, j, i]
            zz[k, j, i] = v
            acc += res[k, j, i] * v
    return acc


@pjit
def _precond_par(factor, precond, diag, gz, cp, inv, res, zz, part):
    for j in numba.prange(part.size):  # each y-slab writes its own cells
        if factor and precond == PRECOND_LINE:
            _line_factor_slab(j, diag, gz, cp, inv)
        part[j] = _line_solve_slab(j, precond, diag, gz, cp, inv, res, zz)


@jit
def _precond(par, factor, precond, diag, gz, cp, inv, res, zz, part):
    # zz = M⁻¹ res (factorising M first when ``factor``); returns res·zz.
    if par:
        _precond_par(factor, precond, diag, gz, cp, inv, res, zz, part)
    else:
        for j in range(part.size):
            if factor and precond == PRECOND_LINE:
                _line_factor_slab(j, diag, gz, cp, inv)
            part[j] = _line_solve_slab(j, precond, diag, gz, cp, inv, res, zz)
    s = 0.0
    for j in range(part.size):
        s += part[j]
    return s


@jit
def _pcg_core(diag, gx, gy, gz, b, x, rtol, maxit, precond, x_zero, r, zz, p, q, cp, inv, rows, slabs):
    # PCG with work arrays r, zz, p, q (like b), cp, inv (like b for the line preconditioner),
    # rows (nz·ny), slabs (ny).  x_zero: x is known to be 0 (skips the first product).
    par = b.size >= PARALLEL_MIN_CELLS
    bb = _sqnorm(par, b, rows)
    if x_zero:
        r[:] = b
        rr = bb
    else:
        _matvec_dot(par, diag, gx, gy, gz, x, q, rows)
        rr = _update(par, 1, 0.0, b, q, x, r, rows)  # r = b − A x
    bnorm = math.sqrt(bb)
    if bnorm == 0.0:
        x[:] = 0.0
        return 0
    tol = rtol * bnorm
    if math.sqrt(rr) <= tol:
        return 0
    rz = _precond(par, True, precond, diag, gz, cp, inv, r, zz, slabs)
    p[:] = zz
    for it in range(maxit):
        pq = _matvec_dot(par, diag, gx, gy, gz, p, q, rows)
        a = rz / pq
        rr = _update(par, 0, a, p, q, x, r, rows)  # x += a p, r −= a q
        if math.sqrt(rr) <= tol:
            return it + 1
        rz_new = _precond(par, False, precond, diag, gz, cp, inv, r, zz, slabs)
        beta = rz_new / rz
        rz = rz_new
        _update(par, 2, beta, zz, zz, x, p, rows)  # p = zz + beta p
    return -1


@jit
def _sqnorm_row(r, b):
    nz, ny, nx = b.shape
    k = r // ny
    j = r - k * ny
    acc = 0.0
    for i in range(nx):
        acc += b[k, j, i] * b[k, j, i]
    return acc


@pjit
def _sqnorm_par(b, part):
    for r in numba.prange(part.size):
        part[r] = _sqnorm_row(r, b)


@jit
def _sqnorm(par, b, part):
    if par:
        _sqnorm_par(b, part)
    else:
        for r in range(part.size):
            part[r] = _sqnorm_row(r, b)
    s = 0.0
    for r in range(part.size):
        s += part[r]
    return s


@jit
def pcg(diag, gx, gy, gz, b, x, rtol, maxit, precond=PRECOND_LINE):
    """Preconditioned conjugate gradients for ``A x = b`` (x holds the start and the result).

    Saad (2003), Alg. 9.1.  ``precond``: :data:`PRECOND_LINE` (default) is block Jacobi with one block
    per vertical line of cells (the tridiagonal z-coupling of a column, solved by the Thomas
    algorithm: exact for the dominant vertical conductances of thin layers), :data:`PRECOND_JACOBI`
    the diagonal.  Stops when ``‖b − A x‖₂ ≤ rtol·‖b‖₂`` or after ``maxit`` iterations.  Parallel over
    rows of cells on grids of at least :data:`PARALLEL_MIN_CELLS` cells, with per-row partial dot
    products summed in row order (bit-identical for any thread count).

    Returns
    -------
    int
        Iterations used (``-1`` if the tolerance was not met).
    """
    nz, ny, nx = b.shape
    return _pcg_core(
        diag,
        gx,
        gy,
        gz,
        b,
        x,
        rtol,
        maxit,
        precond,
        False,
        np.empty_like(b),
        np.empty_like(b),
        np.empty_like(b),
        np.empty_like(b),
        np.empty_like(b),
        np.empty_like(b),
        np.empty(nz * ny),
        np.empty(ny),
    )


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
def _newton_row(r, h, delta, h_eval, h_lazy, mat, params, ss, theta, kcell, ccell, theta_n):
    # h += δ on row r, then θ, K, C at the new head; returns (max|δ|, max|Δθ|, Σ(θ − θ_n)).
    # Cells whose head stays within h_lazy of h_eval (the head of their last evaluation) advance θ
    # along the chord, θ += C·δ, and keep K and C (see picard_solve).
    nz, ny, nx = h.shape
    k = r // ny
    j = r - k * ny
    dmax = 0.0
    tmax = 0.0
    ds = 0.0
    for i in range(nx):
        d = delta[k, j, i]
        hv = h[k, j, i] + d
        h[k, j, i] = hv
        if abs(d) > dmax:
            dmax = abs(d)
        if abs(hv - h_eval[k, j, i]) > h_lazy:
            t, kc, cc = properties(hv, params[mat[k, j, i]], ss)
            kcell[k, j, i] = kc
            ccell[k, j, i] = cc
            h_eval[k, j, i] = hv
        else:
            t = theta[k, j, i] + ccell[k, j, i] * d
        a = abs(t - theta[k, j, i])
        if a > tmax:
            tmax = a
        theta[k, j, i] = t
        ds += t - theta_n[k, j, i]
    return dmax, tmax, ds


@pjit
def _newton_par(h, delta, h_eval, h_lazy, mat, params, ss, theta, kcell, ccell, theta_n, pd, pt, ps):
    for r in numba.prange(pd.size):  # each row writes its own cells and partials
        a, b, c = _newton_row(r, h, delta, h_eval, h_lazy, mat, params, ss, theta, kcell, ccell, theta_n)
        pd[r] = a
        pt[r] = b
        ps[r] = c


@jit
def _picard_update(h, delta, h_eval, h_lazy, mat, params, ss, theta, kcell, ccell, theta_n, pd, pt, ps):
    # Apply the Picard update and refresh θ, K, C; returns (max|δ|, max|Δθ|, Σ(θ − θ_n)).
    if h.size >= PARALLEL_MIN_CELLS:
        _newton_par(h, delta, h_eval, h_lazy, mat, params, ss, theta, kcell, ccell, theta_n, pd, pt, ps)
    else:
        for r in range(pd.size):
            a, b, c = _newton_row(r, h, delta, h_eval, h_lazy, mat, params, ss, theta, kcell, ccell, theta_n)
            pd[r] = a
            pt[r] = b
            ps[r] = c
    dmax = 0.0
    tmax = 0.0
    ds = 0.0
    for r in range(pd.size):
        dmax = max(dmax, pd[r])
        tmax = max(tmax, pt[r])
        ds += ps[r]
    return dmax, tmax, ds


@jit
def picard_solve(
    h_n,
    theta_n,
    h,
    theta,
    kcell,
    ccell,
    h_eval,
    props_ready,
    h_lazy,
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
    order,
    recv,
    frac,
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
    precond,
    col_in,
    col_runon,
    col_sewer,
    stats,
):
    """One backward-Euler step with the modified Picard iteration and surface run-on routing.

    As :func:`picard_step`, plus:

    kcell, ccell, h_eval : (nz, ny, nx) float64, in/out
        K [m/s] and C [1/m] of every cell and the head [m] at which they were evaluated.  When
        ``props_ready`` is true they are taken as given (the time loop keeps them from the previous
        accepted step); otherwise they are computed from ``h`` first.  On output: those of the last
        iterate.
    props_ready : bool
        Whether ``theta``, ``kcell``, ``ccell``, ``h_eval`` are valid for ``h``.
    h_lazy : float, m
        Lazy-update threshold (``0`` = always evaluate).  A cell whose head stays within ``h_lazy``
        of ``h_eval`` is not re-evaluated: θ advances along the chord ``θ += C·δ`` (exactly the
        linearisation the Picard system used, so its storage change is consistent with the fluxes;
        it differs from θ(h) by ≤ ½·|dC/dh|·h_lazy²), K and C keep their values (relative error in K
        ≤ |d ln K/dh|·h_lazy).  Far below the wetting front most cells change by far less than the
        Picard tolerance; with ``h_lazy = 1e-3·eps_h`` (the time loop's default) the errors are
        orders of magnitude below the iteration tolerance and the transcendental functions, most of
        the cost of a Picard iteration, are evaluated only in the active zone.
    order : (ny·nx,) int64
        Visiting order of the surface columns (flat index ``j·nx + i``); every donor must come
        before its receivers.
    recv, frac : (ny·nx, r) int64 / float64
        Receivers (flat index, ``-1`` none) of each column's surface excess and the fraction sent
        to each; the rest ``1 − Σ frac`` goes to the sewer.  Sealed columns (type 0) hand on all
        their rain, ponded flux columns the excess of their supply over what the ponded face takes.
    precond : int
        :data:`PRECOND_LINE` or :data:`PRECOND_JACOBI`.
    col_runon, col_sewer : (ny, nx) float64, out
        Run-on received and excess sent to the sewer per column [m³/s] at the end of the step.

    The top inflow of a non-ponded flux column is its supply ``rain·A + run-on``; the runoff in
    ``stats`` is the sewer total ``Σ (rain·A − infiltration)`` over sealed and flux columns.
    """
    nz, ny, nx = h.shape
    diag = np.empty_like(h)
    rhs = np.empty_like(h)
    delta = np.empty_like(h)
    gx = np.zeros((nz, ny, max(nx - 1, 0)))
    gy = np.zeros((nz, max(ny - 1, 0), nx))
    gz = np.zeros((max(nz - 1, 0), ny, nx))
    flux3 = np.zeros(3)
    switches = np.zeros((ny, nx), dtype=np.int8)
    supply = np.zeros(ny * nx)
    routed = np.zeros(ny * nx)
    pd = np.empty(nz * ny)
    pt = np.empty(nz * ny)
    ps = np.empty(nz * ny)
    wr = np.empty_like(h)
    wz = np.empty_like(h)
    wp = np.empty_like(h)
    wq = np.empty_like(h)
    wslab = np.empty(ny)
    if precond == PRECOND_LINE and not (nx == 1 and ny == 1):
        wc = np.empty_like(h)
        wi = np.empty_like(h)
    else:
        wc = np.empty((1, 1, 1))
        wi = np.empty((1, 1, 1))
    vol = dx * dy * dz
    if not props_ready:
        fill_properties(h, mat, params, ss, theta, kcell, ccell)
        h_eval[:] = h
    krylov = 0
    converged = 0
    it = 0
    ds = 0.0
    for it in range(1, max_picard + 1):  # noqa: B007 - `it` is reported after the loop
        nsw = _assemble_core(
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
            order,
            recv,
            frac,
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
            supply,
            routed,
        )
        delta[:] = 0.0
        if nx == 1 and ny == 1:
            thomas(diag, gz, rhs, delta)
            nit = 0
        else:
            nit = _pcg_core(
                diag,
                gx,
                gy,
                gz,
                rhs,
                delta,
                cg_rtol,
                cg_maxit,
                precond,
                True,
                wr,
                wz,
                wp,
                wq,
                wc,
                wi,
                pd,
                wslab,
            )
        if nit < 0:
            krylov += cg_maxit
            break
        krylov += nit
        # fluxes with the conductances of iterate m and the new heads (consistent with the system)
        _boundary_flux(
            h,
            delta,
            kcell,
            mat,
            params,
            z,
            dx,
            dy,
            dz,
            top_type,
            top_head,
            supply,
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
        dmax, tmax, ds = _picard_update(
            h, delta, h_eval, h_lazy, mat, params, ss, theta, kcell, ccell, theta_n, pd, pt, ps
        )
        if dmax < eps_h and tmax < eps_theta and nsw == 0:
            converged = 1
            break
    rain_v = 0.0
    runoff = 0.0
    for j in range(ny):
        for i in range(nx):
            t = top_type[j, i]
            q = j * nx + i
            if t == 0 or t == 2:
                rain_v += rain * dx * dy * dt
                runoff += (rain * dx * dy - col_in[j, i]) * dt
                col_runon[j, i] = supply[q] - (dx * dy) * rain  # exactly 0 without run-on
                col_sewer[j, i] = supply[q] - col_in[j, i] - routed[q]
            else:
                col_runon[j, i] = 0.0
                col_sewer[j, i] = 0.0
    stats[0] = float(converged)
    stats[1] = float(it)
    stats[2] = float(krylov)
    stats[3] = flux3[0] * dt
    stats[4] = flux3[1] * dt
    stats[5] = flux3[2] * dt
    stats[6] = runoff
    stats[7] = ds * vol
    stats[8] = rain_v


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
    A single column (``nx = ny = 1``) is solved directly with :func:`thomas`, boxes by z-line
    preconditioned CG (:func:`pcg`).  No run-on routing (every column's excess goes to the sewer);
    :func:`picard_solve` is the full version.

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
    order, recv, frac = _no_routing(ny, nx)
    picard_solve(
        h_n,
        theta_n,
        h,
        theta,
        np.empty_like(h),
        np.empty_like(h),
        np.empty_like(h),
        False,
        0.0,
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
        order,
        recv,
        frac,
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
        PRECOND_LINE,
        col_in,
        np.zeros((ny, nx)),
        np.zeros((ny, nx)),
        stats,
    )
