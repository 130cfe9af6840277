"""Static user-equilibrium traffic assignment kernels: BPR costs, Frank-Wolfe family, Algorithm B.

Link cost (generalised, per vehicle) is the BPR function of the Bureau of
Public Roads (1964, *Traffic Assignment Manual*) plus a flow-independent
constant (toll and distance terms of TNTP's generalised cost)::

    c_a(x) = fft_a * (1 + b_a * (x / cap_a) ** p_a) + k_a

with free-flow time ``fft`` (any time unit, e.g. minutes), dimensionless
``b >= 0``, capacity ``cap > 0`` (vehicles per time unit of the flows) and
power ``p >= 0`` (non-integer powers allowed; ``b = 0`` or ``p = 0`` gives a
constant cost).  The user equilibrium minimises the Beckmann objective
(Beckmann, McGuire & Winsten 1956, *Studies in the Economics of
Transportation*, ch. 3)::

    B(x) = sum_a  integral_0^{x_a} c_a(w) dw.

Solvers:

* Frank-Wolfe (LeBlanc, Morlok & Pierskalla 1975, *Transp. Res.* 9:309-318):
  all-or-nothing direction (``kernels.paths.aon_load``) and an exact line
  search on the Beckmann objective (:func:`line_search`).
* Conjugate and bi-conjugate Frank-Wolfe (Mitradjieva & Lindberg 2013,
  *Transp. Sci.* 47(2):280-293, section 3): the target point is a convex
  combination of the all-or-nothing point and the previous one or two target
  points, chosen so that the new direction is conjugate to the previous ones
  with respect to the diagonal Hessian ``diag(c'(x))``
  (:func:`conjugate_target`).
* Algorithm B (Dial 2006, *Transp. Res. B* 40(10):917-936): one acyclic
  sub-network ("bush") per origin; within each bush, flow moves from the
  longest used path segment to the shortest path segment between a node and
  the point where the two paths diverge, by a Newton step on the segment cost
  difference (:func:`algorithm_b_pass`).  The bush grows with links that are
  shortcuts with respect to the longest-path labels, which keeps it acyclic,
  and drops links that carry no flow of the origin (section 3 of the paper;
  the textbook presentation in Boyles, Lownes & Unnikrishnan,
  *Transportation Network Analysis*, vol. 1, §6.4).

Pure numba/numpy/math; all arrays are C-contiguous, links indexed
``0 .. m - 1`` and nodes ``0 .. n - 1``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from kernels._jit import jit, pjit
from kernels.paths import _reset, _search, _workspace

__all__ = [
    "algorithm_b_pass",
    "beckmann",
    "bpr_cost",
    "bpr_derivative",
    "bush_flows_total",
    "bush_init",
    "conjugate_target",
    "line_search",
    "link_costs",
]

_INF = math.inf


# --------------------------------------------------------------------------- BPR
@jit(inline="always")
def bpr_cost(x, fft, b, p, cap):
    """BPR travel time ``fft * (1 + b * (x / cap) ** p)`` of one link (flow-dependent part).

    Negative flows count as zero; ``b = 0`` gives ``fft`` and ``p = 0`` gives
    ``fft * (1 + b)``.
    """
    if b == 0.0:
        return fft
    if p == 0.0:
        return fft * (1.0 + b)
    if x <= 0.0:
        return fft
    return fft * (1.0 + b * (x / cap) ** p)


@jit(inline="always")
def bpr_derivative(x, fft, b, p, cap):
    """Derivative ``d c / d x`` of the BPR time of one link (0 for constant-cost links).

    For ``p < 1`` the derivative is unbounded at zero flow; it is evaluated at
    ``1e-9 * cap`` there so Newton steps stay finite.
    """
    if b == 0.0 or p == 0.0:
        return 0.0
    if x <= 0.0:
        if p == 1.0:
            return fft * b / cap
        if p > 1.0:
            return 0.0
        x = 1e-9 * cap
    return fft * b * p * (x / cap) ** (p - 1.0) / cap


@jit(inline="always")
def _bpr_integral(x, fft, b, p, cap):
    if x <= 0.0:
        return 0.0
    if b == 0.0:
        return fft * x
    if p == 0.0:
        return fft * (1.0 + b) * x
    return fft * (x + b * cap / (p + 1.0) * (x / cap) ** (p + 1.0))


@jit
def link_costs(x, fft, b, power, cap, const, cost, deriv):
    """Generalised cost and its derivative for every link, written into ``cost`` and ``deriv``.

    Parameters
    ----------
    x : (m,) float64
        Link flows.
    fft, b, power, cap, const : (m,) float64
        BPR parameters and the constant cost term (toll, distance) of each link.
    cost, deriv : (m,) float64
        Output: ``c_a(x_a)`` and ``c'_a(x_a)``.
    """
    for a in range(x.shape[0]):
        cost[a] = bpr_cost(x[a], fft[a], b[a], power[a], cap[a]) + const[a]
        deriv[a] = bpr_derivative(x[a], fft[a], b[a], power[a], cap[a])


@jit
def beckmann(x, fft, b, power, cap, const):
    """Beckmann objective ``sum_a integral_0^{x_a} c_a(w) dw`` (cost units x flow units).

    Parameters
    ----------
    x : (m,) float64
        Link flows.
    fft, b, power, cap, const : (m,) float64
        BPR parameters and constant cost term of each link.

    Returns
    -------
    float
    """
    s = 0.0
    for a in range(x.shape[0]):
        s += _bpr_integral(x[a], fft[a], b[a], power[a], cap[a]) + const[a] * max(x[a], 0.0)
    return s


@jit
def line_search(x, d, fft, b, power, cap, const, tol):
    """Step ``lambda`` in [0, 1] minimising the Beckmann objective along ``x + lambda d``.

    The objective is convex along the segment; its derivative
    ``phi'(lambda) = sum_a d_a c_a(x_a + lambda d_a)`` is increasing, so a
    safeguarded Newton iteration (bisection whenever Newton leaves the
    bracket) finds its root.

    Parameters
    ----------
    x, d : (m,) float64
        Current flows and direction (target point minus ``x``).
    fft, b, power, cap, const : (m,) float64
        Link cost parameters.
    tol : float
        Stop when the bracket is narrower than ``tol``.

    Returns
    -------
    float
    """
    m = x.shape[0]

    def slope(lam):
        g = 0.0
        h = 0.0
        for a in range(m):
            if d[a] != 0.0:
                xa = x[a] + lam * d[a]
                g += d[a] * (bpr_cost(xa, fft[a], b[a], power[a], cap[a]) + const[a])
                h += d[a] * d[a] * bpr_derivative(xa, fft[a], b[a], power[a], cap[a])
        return g, h

    g0, h0 = slope(0.0)
    if g0 >= 0.0:
        return 0.0
    g1, h1 = slope(1.0)
    if g1 <= 0.0:
        return 1.0
    lo = 0.0
    hi = 1.0
    lam = 0.5
    for _ in range(200):
        g, h = slope(lam)
        if g == 0.0:
            return lam
        if g < 0.0:
            lo = lam
        else:
            hi = lam
        if hi - lo < tol:
            break
        nxt = lam - g / h if h > 0.0 else -1.0
        if not (lo < nxt < hi):
            nxt = 0.5 * (lo + hi)
        lam = nxt
    return 0.5 * (lo + hi) if hi - lo < tol else lam


@jit
def conjugate_target(x, y, s1, s2, tau, hess, cost, mode, delta):
    """Target point of the conjugate (``mode=1``) or bi-conjugate (``mode=2``) Frank-Wolfe step.

    With ``D1 = s1 - x`` (along the previous direction) and
    ``D2 = tau s1 + (1 - tau) s2 - x`` (along the one before, ``tau`` being
    the previous step length), the bi-conjugate target
    ``s = (y + a D1 + b D2 + x (a + b)) / (1 + a + b)``, i.e.
    ``s - x = beta0 (y - x) + ...``, solves the two conjugacy conditions
    ``(s - x)' H D1 = 0`` and ``(s - x)' H D2 = 0`` with ``H = diag(hess)``
    (Mitradjieva & Lindberg 2013, section 3.2; here the 2x2 system is solved
    exactly).  The weights of ``y``, ``s1`` and ``s2`` must be a convex
    combination; otherwise the conjugate target
    ``s = alpha s1 + (1 - alpha) y`` with
    ``alpha = (y - x)' H D1 / (y - s1)' H D1`` clipped to ``[0, 1 - delta]``
    is used (section 3.1), and if that is no descent direction, ``y`` itself.

    Parameters
    ----------
    x, y, s1, s2 : (m,) float64
        Current flows, all-or-nothing flows, previous two target points.
    tau : float
        Previous step length.
    hess : (m,) float64
        Link cost derivatives at ``x``.
    cost : (m,) float64
        Link costs at ``x`` (descent test).
    mode : int
        1 conjugate, 2 bi-conjugate.
    delta : float
        Keeps the weight of ``y`` at least ``delta`` in the conjugate step.

    Returns
    -------
    s : (m,) float64
        The target point.
    used : int
        0 plain Frank-Wolfe, 1 conjugate, 2 bi-conjugate.
    """
    m = x.shape[0]
    s = y.copy()
    used = 0
    if mode >= 2:
        h11 = 0.0
        h12 = 0.0
        h22 = 0.0
        g1 = 0.0
        g2 = 0.0
        for a in range(m):
            d1 = s1[a] - x[a]
            d2 = tau * s1[a] + (1.0 - tau) * s2[a] - x[a]
            g = y[a] - x[a]
            h = hess[a]
            h11 += d1 * h * d1
            h12 += d1 * h * d2
            h22 += d2 * h * d2
            g1 += g * h * d1
            g2 += g * h * d2
        det = h11 * h22 - h12 * h12
        if det > 1e-12 * max(h11 * h22, 1e-300):
            ca = (-g1 * h22 + g2 * h12) / det
            cb = (-g2 * h11 + g1 * h12) / det
            tot = 1.0 + ca + cb
            if tot > 0.0:
                b0 = 1.0 / tot
                b1 = (ca + cb * tau) * b0
                b2 = cb * (1.0 - tau) * b0
                if b0 >= delta and b1 >= 0.0 and b2 >= 0.0:
                    for a in range(m):
                        s[a] = b0 * y[a] + b1 * s1[a] + b2 * s2[a]
                    used = 2
    if used == 0 and mode >= 1:
        num = 0.0
        den = 0.0
        for a in range(m):
            d1 = s1[a] - x[a]
            num += (y[a] - x[a]) * hess[a] * d1
            den += (y[a] - s1[a]) * hess[a] * d1
        if den != 0.0:
            alpha = num / den
            if alpha < 0.0:
                alpha = 0.0
            if alpha > 1.0 - delta:
                alpha = 1.0 - delta
            for a in range(m):
                s[a] = alpha * s1[a] + (1.0 - alpha) * y[a]
            used = 1
    if used > 0:
        slope = 0.0
        for a in range(m):
            slope += (s[a] - x[a]) * cost[a]
        if not slope < 0.0:
            for a in range(m):
                s[a] = y[a]
            used = 0
    return s, used


# ----------------------------------------------------------------------- Algorithm B
@pjit
def bush_init(
    indptr, adj_head, adj_link, tails, cost, no_through, origins, dest_nodes, demand, bush, xb, n_chunks
):
    """Initial bushes: each origin's shortest-path tree, loaded all-or-nothing.

    Parameters
    ----------
    indptr, adj_head, adj_link : int64 arrays
        CSR adjacency (``kernels.paths.csr_from_edges``).
    tails : (m,) int64
        Tail node of each link.
    cost : (m,) float64
        Link costs to build the trees with (usually at zero flow).
    no_through : (n,) bool
        Centroids that paths may not pass through.
    origins : (r,) int64
        Origin nodes.
    dest_nodes : (z,) int64
        Destination nodes.
    demand : (r, z) float64
        OD flows.
    bush : (r, m) bool
        Output: link membership of each bush (tree links of reached nodes).
    xb : (r, m) float64
        Output: flow of each origin on each link.
    n_chunks : int
        Number of work chunks.

    Returns
    -------
    unreachable : (r,) float64
        Demand of each origin whose destination cannot be reached.
    """
    n = indptr.shape[0] - 1
    r = origins.shape[0]
    z = dest_nodes.shape[0]
    unreachable = np.zeros(r)
    for c in numba.prange(n_chunks):
        dist, pred, label, settled, touched, heap, hkey, state = _workspace(n, adj_head.shape[0] + 1)
        node_flow = np.zeros(n)
        src = np.zeros(1, dtype=np.int64)
        sd = np.zeros(1)
        for o in range(c, r, n_chunks):
            src[0] = origins[o]
            ns, nt = _search(
                indptr,
                adj_head,
                adj_link,
                cost,
                no_through,
                src,
                sd,
                _INF,
                dist,
                pred,
                label,
                settled,
                touched,
                heap,
                hkey,
                state,
            )
            lost = 0.0
            for d in range(z):
                f = demand[o, d]
                if f == 0.0:
                    continue
                v = dest_nodes[d]
                if dist[v] == _INF:
                    lost += f
                else:
                    node_flow[v] += f
            unreachable[o] = lost
            for jj in range(ns - 1, -1, -1):
                v = settled[jj]
                a = pred[v]
                if a >= 0:
                    bush[o, a] = True
                    f = node_flow[v]
                    if f != 0.0:
                        xb[o, a] += f
                        node_flow[tails[a]] += f
                node_flow[v] = 0.0
            _reset(nt, touched, dist, pred, label, state)
    return unreachable


@jit
def bush_flows_total(xb, x):
    """Total link flows ``x[a] = sum_o xb[o, a]`` (removes drift of incremental updates)."""
    r, m = xb.shape
    for a in range(m):
        x[a] = 0.0
    for o in range(r):
        for a in range(m):
            x[a] += xb[o, a]


@jit
def _bush_order(origin, bush_row, out_ptr, out_links, heads, indeg, order, topo_pos):
    """Topological order of one bush (Kahn's algorithm from the origin); returns its length."""
    n = indeg.shape[0]
    m = heads.shape[0]
    for v in range(n):
        indeg[v] = 0
        topo_pos[v] = -1
    for a in range(m):
        if bush_row[a]:
            indeg[heads[a]] += 1
    order[0] = origin
    first = 0
    last = 1
    while first < last:
        u = order[first]
        topo_pos[u] = first
        first += 1
        for slot in range(out_ptr[u], out_ptr[u + 1]):
            a = out_links[slot]
            if bush_row[a]:
                v = heads[a]
                indeg[v] -= 1
                if indeg[v] == 0:
                    order[last] = v
                    last += 1
    return last


@jit
def _bush_labels(
    cnt, order, bush_row, xb_row, in_ptr, in_links, tails, cost, lo, hi, hi_used, pred_lo, pred_hi, flow_eps
):
    """Shortest (``lo``), longest (``hi``) and longest-used (``hi_used``) path labels in a bush."""
    n = lo.shape[0]
    for v in range(n):
        lo[v] = _INF
        hi[v] = -_INF
        hi_used[v] = -_INF
        pred_lo[v] = -1
        pred_hi[v] = -1
    o = order[0]
    lo[o] = 0.0
    hi[o] = 0.0
    hi_used[o] = 0.0
    for k in range(1, cnt):
        j = order[k]
        best_lo = _INF
        best_hi = -_INF
        best_used = -_INF
        pl = -1
        pu = -1
        for slot in range(in_ptr[j], in_ptr[j + 1]):
            a = in_links[slot]
            if not bush_row[a]:
                continue
            i = tails[a]
            c = cost[a]
            v = lo[i] + c
            if v < best_lo:
                best_lo = v
                pl = a
            v = hi[i] + c
            if v > best_hi:
                best_hi = v
            if xb_row[a] > flow_eps and hi_used[i] > -_INF:
                v = hi_used[i] + c
                if v > best_used:
                    best_used = v
                    pu = a
        lo[j] = best_lo
        hi[j] = best_hi
        hi_used[j] = best_used
        pred_lo[j] = pl
        pred_hi[j] = pu


@jit
def _drop_unused(bush_row, xb_row, heads, pred_lo, flow_eps):
    """Drop bush links whose origin flow is at most ``flow_eps``, except shortest-path tree links.

    Flows that small are rounding residue of earlier shifts (two links of one
    segment whose flows differ in the last bit); they are set to zero so that
    they cannot hold up longest-used-path labels.
    """
    for a in range(heads.shape[0]):
        if bush_row[a] and xb_row[a] <= flow_eps:
            if pred_lo[heads[a]] != a:
                bush_row[a] = False
            xb_row[a] = 0.0


@jit
def _add_shortcuts(origin, bush_row, tails, heads, cost, no_through, lo, hi):
    """Add links that shorten the bush's shortest paths and respect its longest-path order.

    A link ``(i, j)`` joins when ``lo[i] + c_ij < lo[j]`` (a shortcut, Dial
    2006 section 3) and ``hi[i] + c_ij < hi[j]``.  Every bush link satisfies
    ``hi[j] >= hi[i] + c_ij`` (longest-path labels over the whole bush, costs
    ``>= 0``), so a cycle through a new link would strictly increase ``hi``
    around itself: the bush stays acyclic.  Links leaving a centroid other
    than the origin never join.
    """
    added = 0
    for a in range(tails.shape[0]):
        if bush_row[a]:
            continue
        i = tails[a]
        j = heads[a]
        if j == origin or lo[i] == _INF or lo[j] == _INF:
            continue
        if no_through[i] and i != origin:
            continue
        c = cost[a]
        if lo[i] + c < lo[j] and hi[i] + c < hi[j]:
            bush_row[a] = True
            added += 1
    return added


@jit
def _shift_flows(
    cnt,
    order,
    topo_pos,
    bush_row,
    xb_row,
    tails,
    cost,
    deriv,
    x,
    fft,
    b,
    power,
    cap,
    const,
    lo,
    hi_used,
    pred_lo,
    pred_hi,
    seg_lo,
    seg_hi,
    thr_rel,
):
    """One sweep of Newton flow shifts from longest-used to shortest segments (reverse topological order).

    Returns the largest relative cost difference ``(c_max - c_min) / c_max``
    met between a pair of segments (a measure of the bush's disequilibrium).
    """
    worst = 0.0
    for k in range(cnt - 1, 0, -1):
        j = order[k]
        if hi_used[j] == -_INF:
            continue
        if pred_lo[j] == pred_hi[j]:
            continue
        # trace the two segments back to the node where the paths meet
        nlo = 0
        nhi = 0
        p = j
        q = j
        a = pred_lo[p]
        seg_lo[nlo] = a
        nlo += 1
        p = tails[a]
        a = pred_hi[q]
        seg_hi[nhi] = a
        nhi += 1
        q = tails[a]
        while p != q:
            if topo_pos[p] > topo_pos[q]:
                a = pred_lo[p]
                seg_lo[nlo] = a
                nlo += 1
                p = tails[a]
            else:
                a = pred_hi[q]
                seg_hi[nhi] = a
                nhi += 1
                q = tails[a]
        c_lo = 0.0
        d_sum = 0.0
        for s in range(nlo):
            a = seg_lo[s]
            c_lo += cost[a]
            d_sum += deriv[a]
        c_hi = 0.0
        room = _INF
        for s in range(nhi):
            a = seg_hi[s]
            c_hi += cost[a]
            d_sum += deriv[a]
            if xb_row[a] < room:
                room = xb_row[a]
        diff = c_hi - c_lo
        if diff <= 0.0 or room <= 0.0:
            continue
        rel = diff / c_hi
        if rel > worst:
            worst = rel
        if rel <= thr_rel:
            continue
        step = diff / d_sum if d_sum > 0.0 else room
        if step > room:
            step = room
        for s in range(nhi):
            a = seg_hi[s]
            xb_row[a] -= step  # >= 0: step <= room <= xb_row[a], and IEEE subtraction is monotone
            xa = x[a] - step
            if xa < 0.0:
                xa = 0.0
            x[a] = xa
            cost[a] = bpr_cost(xa, fft[a], b[a], power[a], cap[a]) + const[a]
            deriv[a] = bpr_derivative(xa, fft[a], b[a], power[a], cap[a])
        for s in range(nlo):
            a = seg_lo[s]
            xb_row[a] += step
            xa = x[a] + step
            x[a] = xa
            cost[a] = bpr_cost(xa, fft[a], b[a], power[a], cap[a]) + const[a]
            deriv[a] = bpr_derivative(xa, fft[a], b[a], power[a], cap[a])
    return worst


@jit
def algorithm_b_pass(
    out_ptr,
    out_links,
    in_ptr,
    in_links,
    tails,
    heads,
    no_through,
    origins,
    fft,
    b,
    power,
    cap,
    const,
    bush,
    xb,
    x,
    cost,
    deriv,
    n_inner,
    inner_tol,
    thr_rel,
    flow_eps,
):
    """One pass of Algorithm B over every origin (Dial 2006, section 3).

    First, for each origin in turn: update the bush topology (drop unused
    links off the shortest-path tree, add shortcuts) and sweep Newton flow
    shifts once.  Then sweep every origin again, up to ``n_inner`` times or
    until the largest relative segment cost difference of all bushes is at
    most ``inner_tol``.  Flows and costs are updated in place after every
    shift (Gauss-Seidel), so later origins see current costs.  A bush whose
    largest difference was at most ``inner_tol`` in one round sits out the
    remaining rounds of the pass.  The sweeps of
    all origins in rounds, rather than one origin to equilibrium after the
    other, follow the reference implementation of the reference sheet
    (tap-b's inner iterations); on Barcelona it needs 9 passes to 1e-11.

    Parameters
    ----------
    out_ptr, out_links : int64 arrays
        CSR of out-links by tail node (``out_links`` holds link indices).
    in_ptr, in_links : int64 arrays
        CSR of in-links by head node.
    tails, heads : (m,) int64
        Link end nodes.
    no_through : (n,) bool
        Centroids that paths may not pass through.
    origins : (r,) int64
        Origin node of each bush.
    fft, b, power, cap, const : (m,) float64
        Link cost parameters (see module docstring).
    bush : (r, m) bool
        Bush membership, updated in place.
    xb : (r, m) float64
        Flow of each origin on each link, updated in place.
    x, cost, deriv : (m,) float64
        Total flows, costs and cost derivatives, updated in place.
    n_inner : int
        Maximum number of extra shift rounds over all origins (``>= 0``).
    inner_tol : float
        Stop the rounds once the largest relative segment difference of all bushes is at most this.
    thr_rel : float
        Segment pairs whose relative cost difference is at most this are left alone
        (guards against shifting on rounding noise).
    flow_eps : float
        Origin flows at or below this count as zero (rounding residue of shifts);
        links carrying them leave the bush at the next topology update.

    Returns
    -------
    links_added : int
        Links added to bushes in this pass.
    worst : float
        Largest relative segment cost difference met in the last sweep of any origin.
    """
    n = in_ptr.shape[0] - 1
    r = origins.shape[0]
    indeg = np.zeros(n, dtype=np.int64)
    orders = np.zeros((r, n), dtype=np.int64)
    positions = np.zeros((r, n), dtype=np.int64)
    counts = np.zeros(r, dtype=np.int64)
    lo = np.zeros(n)
    hi = np.zeros(n)
    hi_used = np.zeros(n)
    pred_lo = np.zeros(n, dtype=np.int64)
    pred_hi = np.zeros(n, dtype=np.int64)
    seg_lo = np.zeros(n, dtype=np.int64)
    seg_hi = np.zeros(n, dtype=np.int64)
    last = np.full(r, _INF)
    added = 0
    worst = 0.0
    for sweep in range(n_inner + 1):
        worst = 0.0
        for o in range(r):
            if sweep > 0 and last[o] <= inner_tol:
                continue  # this bush was already equilibrated in an earlier round of the pass
            origin = origins[o]
            bush_row = bush[o]
            xb_row = xb[o]
            order = orders[o]
            topo_pos = positions[o]
            if sweep == 0:
                # topology update: labels, drop unused links, labels again, add shortcuts
                cnt = _bush_order(origin, bush_row, out_ptr, out_links, heads, indeg, order, topo_pos)
                _bush_labels(
                    cnt,
                    order,
                    bush_row,
                    xb_row,
                    in_ptr,
                    in_links,
                    tails,
                    cost,
                    lo,
                    hi,
                    hi_used,
                    pred_lo,
                    pred_hi,
                    flow_eps,
                )
                _drop_unused(bush_row, xb_row, heads, pred_lo, flow_eps)
                cnt = _bush_order(origin, bush_row, out_ptr, out_links, heads, indeg, order, topo_pos)
                _bush_labels(
                    cnt,
                    order,
                    bush_row,
                    xb_row,
                    in_ptr,
                    in_links,
                    tails,
                    cost,
                    lo,
                    hi,
                    hi_used,
                    pred_lo,
                    pred_hi,
                    flow_eps,
                )
                added += _add_shortcuts(origin, bush_row, tails, heads, cost, no_through, lo, hi)
                # the order stays valid until the next topology update
                counts[o] = _bush_order(origin, bush_row, out_ptr, out_links, heads, indeg, order, topo_pos)
            cnt = counts[o]
            _bush_labels(
                cnt,
                order,
                bush_row,
                xb_row,
                in_ptr,
                in_links,
                tails,
                cost,
                lo,
                hi,
                hi_used,
                pred_lo,
                pred_hi,
                flow_eps,
            )
            w = _shift_flows(
                cnt,
                order,
                topo_pos,
                bush_row,
                xb_row,
                tails,
                cost,
                deriv,
                x,
                fft,
                b,
                power,
                cap,
                const,
                lo,
                hi_used,
                pred_lo,
                pred_hi,
                seg_lo,
                seg_hi,
                thr_rel,
            )
            last[o] = w
            if w > worst:
                worst = w
        if worst <= inner_tol:
            break
    return added, worst
