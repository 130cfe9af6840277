"""Trip distribution kernels: deterrence functions and doubly-constrained gravity balancing.

The doubly-constrained gravity model (Wilson 1967, *Transp. Res.* 1(3):253-269;
Ortúzar & Willumsen, *Modelling Transport*, 4th ed., §5.2-5.3) distributes
productions ``O_i`` and attractions ``D_j`` (with ``sum O = sum D``) as::

    T_ij = a_i * b_j * f(c_ij),   sum_j T_ij = O_i,   sum_i T_ij = D_j

where ``f`` is a deterrence function of the generalised cost ``c_ij``.  The
balancing factors come from Furness (1965) iterations (also called
iterative proportional fitting / bi-proportional balancing)::

    a_i = O_i / sum_j b_j f_ij,   b_j = D_j / sum_i a_i f_ij

repeated until every row and column sum is within a relative tolerance.
Pure numba/numpy/math.
"""

from __future__ import annotations

import math

import numpy as np

from kernels._jit import jit

__all__ = ["DETERRENCE_KINDS", "deterrence", "furness"]

#: Deterrence function codes: 0 exponential, 1 power, 2 combined (Tanner).
DETERRENCE_KINDS = {"exponential": 0, "power": 1, "tanner": 2}


@jit
def deterrence(cost, kind, beta, alpha):
    """Deterrence ``f(c)`` of each cost (``inf`` cost gives 0).

    Parameters
    ----------
    cost : (r, z) float64
        Generalised cost, e.g. minutes.
    kind : int
        0 exponential ``exp(-beta c)``; 1 power ``c ** -alpha``;
        2 combined (Tanner) ``c ** alpha * exp(-beta c)``.
    beta : float
        Exponential rate, per cost unit.
    alpha : float
        Power exponent (power: decay; Tanner: usually negative or small).

    Returns
    -------
    (r, z) float64
    """
    r, z = cost.shape
    out = np.zeros((r, z))
    for i in range(r):
        for j in range(z):
            c = cost[i, j]
            if not math.isfinite(c):
                continue
            if kind == 0:
                out[i, j] = math.exp(-beta * c)
            elif kind == 1:
                out[i, j] = c ** (-alpha) if c > 0.0 else 0.0
            else:
                out[i, j] = (c**alpha if c > 0.0 else 0.0) * math.exp(-beta * c)
    return out


@jit
def furness(productions, attractions, f, tol, max_iter):
    """Doubly-constrained balancing (Furness iterations).

    Parameters
    ----------
    productions : (r,) float64
        Row totals ``O_i >= 0``.
    attractions : (z,) float64
        Column totals ``D_j >= 0`` with the same sum as ``productions``.
    f : (r, z) float64
        Deterrence values ``>= 0`` (0 for impossible pairs, e.g. intrazonal).
    tol : float
        Stop when every row and column sum is within ``tol`` (relative to its target).
    max_iter : int
        Maximum number of (row, column) balancing iterations.

    Returns
    -------
    trips : (r, z) float64
        ``T_ij = a_i b_j f_ij``.
    a, b : (r,), (z,) float64
        Balancing factors.
    iterations : int
        Iterations run.
    error : float
        Largest relative row or column error at the end.
    """
    r, z = f.shape
    a = np.ones(r)
    b = np.ones(z)
    error = math.inf
    it = 0
    while it < max_iter:
        it += 1
        for i in range(r):
            s = 0.0
            for j in range(z):
                s += b[j] * f[i, j]
            a[i] = productions[i] / s if s > 0.0 else 0.0
        for j in range(z):
            s = 0.0
            for i in range(r):
                s += a[i] * f[i, j]
            b[j] = attractions[j] / s if s > 0.0 else 0.0
        # columns are exact now; measure rows (and columns, for pairs that cannot be served)
        error = 0.0
        for i in range(r):
            s = 0.0
            for j in range(z):
                s += a[i] * b[j] * f[i, j]
            if productions[i] > 0.0:
                e = abs(s - productions[i]) / productions[i]
                if e > error:
                    error = e
        for j in range(z):
            s = 0.0
            for i in range(r):
                s += a[i] * b[j] * f[i, j]
            if attractions[j] > 0.0:
                e = abs(s - attractions[j]) / attractions[j]
                if e > error:
                    error = e
        if error <= tol:
            break
    trips = np.zeros((r, z))
    for i in range(r):
        for j in range(z):
            trips[i, j] = a[i] * b[j] * f[i, j]
    return trips, a, b, it, error
