"""Time loop of the Richards solver: adaptive steps around :func:`kernels.richards.picard_solve`.

The kernel advances one backward-Euler step with the modified Picard iteration (Celia et al. 1990);
this module keeps θ, K, C between steps (no re-evaluation at the start of a step), builds the
surface run-on routing (:func:`surface_routing`), chooses the steps (HYDRUS-style iteration-count
control, sheet §2.2: ×1.3 after ≤ 3 Picard iterations, ×0.7 after ≥ 7, reject and divide by 3 on
non-convergence, clamp to ``[dt_min, dt_max]``), cuts them at forcing breakpoints and output
times, accumulates the water balance and records the fields at the requested output times.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from kernels.richards import PRECOND_JACOBI, PRECOND_LINE, STAT_FIELDS, fill_properties, picard_solve
from twin.errors import ConvergenceError, ScenarioValidationError

__all__ = [
    "KMEAN_CODES",
    "ROUTING_MODES",
    "SolverOptions",
    "RichardsProblem",
    "RichardsResult",
    "run_richards",
    "surface_routing",
]

#: Inter-cell conductivity means understood by the kernel.
KMEAN_CODES = {"arithmetic": 0, "upstream": 1, "harmonic": 2}
TOP_CODES = {"sealed": 0, "head": 1, "flux": 2}
BOTTOM_CODES = {"no_flow": 0, "head": 1, "free_drainage": 2}
PRECOND_CODES = {"line": PRECOND_LINE, "jacobi": PRECOND_JACOBI}
#: Where the surface excess goes: ``"sewer"`` (all of it) or ``"neighbours"`` (run-on, see
#: :func:`surface_routing`).
ROUTING_MODES = ("sewer", "neighbours")


@dataclass(frozen=True)
class SolverOptions:
    """Numerical settings of :func:`run_richards` (SI units).

    Attributes
    ----------
    dt_initial_s, dt_min_s, dt_max_s
        First, smallest and largest time step [s].
    eps_h_m, eps_theta
        Picard tolerances on the head update [m] and on the water-content change (Huang et al. 1996).
    max_picard
        Picard iterations before a step is rejected.
    cg_rtol, cg_maxit
        Relative residual tolerance and iteration limit of the PCG solves.
    preconditioner
        ``"line"`` (default: block Jacobi over vertical lines of cells, Thomas solves; the vertical
        conductances of thin layers dominate) or ``"jacobi"`` (diagonal).
    lazy_update
        Lazy property update threshold as a fraction of ``eps_h_m`` (default 1e-3; 0 = evaluate θ,
        K, C of every cell at every Picard iterate).  Cells whose head moved by less than
        ``lazy_update·eps_h_m`` since their last evaluation advance θ along the Picard chord and keep
        K and C (:func:`kernels.richards.picard_solve`).
    conductivity_mean
        ``"arithmetic"`` (default), ``"upstream"`` or ``"harmonic"`` (sheet §2).
    specific_storage_1_m
        Specific storage Ss [1/m] of saturated cells.
    ponding_head_m
        Head on the surface of a ponded column [m] (0: excess rain runs off at once).
    fixed_step
        Keep ``dt_initial_s`` for every step (except cuts at breakpoints); for convergence studies.
    """

    dt_initial_s: float = 1.0
    dt_min_s: float = 1e-4
    dt_max_s: float = 3600.0
    eps_h_m: float = 1e-6
    eps_theta: float = 1e-7
    max_picard: int = 25
    cg_rtol: float = 1e-12
    cg_maxit: int = 20000
    conductivity_mean: str = "arithmetic"
    specific_storage_1_m: float = 1e-6
    ponding_head_m: float = 0.0
    fixed_step: bool = False
    preconditioner: str = "line"
    lazy_update: float = 1e-3

    def __post_init__(self) -> None:
        if self.preconditioner not in PRECOND_CODES:
            raise ScenarioValidationError(
                f"solver.preconditioner={self.preconditioner!r} is unknown; "
                f"choose one of {sorted(PRECOND_CODES)}."
            )
        if not 0.0 <= self.lazy_update < 1.0:
            raise ScenarioValidationError(f"solver.lazy_update={self.lazy_update} must lie in [0, 1).")
        if self.conductivity_mean not in KMEAN_CODES:
            raise ScenarioValidationError(
                f"solver.conductivity_mean={self.conductivity_mean!r} is unknown; "
                f"choose one of {sorted(KMEAN_CODES)}."
            )
        if not 0 < self.dt_min_s <= self.dt_initial_s <= self.dt_max_s:
            raise ScenarioValidationError(
                "solver time steps must satisfy 0 < dt_min_s <= dt_initial_s <= dt_max_s, got "
                f"{self.dt_min_s}, {self.dt_initial_s}, {self.dt_max_s}."
            )


@dataclass
class RichardsProblem:
    """Arrays of one Richards run on a ``(nz, ny, nx)`` grid (k = 0 at the surface).

    Attributes
    ----------
    mat : (nz, ny, nx) int32
        Material row per cell.
    params : (n_materials, 8) float64
        Material table (:mod:`kernels.richards` layout).
    h0 : (nz, ny, nx) float64, m
        Initial head.
    dx, dy, dz : float, m
        Cell sizes.
    top_type : (ny, nx) int8
        0 sealed, 1 fixed head, 2 rain flux with ponding.
    top_head : (ny, nx) float64, m
        Head on fixed-head top faces.
    rain_times_s, rain_rates_m_s : (n,) float64
        Piecewise-constant rain: ``rain_rates_m_s[q]`` from ``rain_times_s[q]`` to the next time
        (the last value holds to the end; zero before the first time).
    bottom_type : str
        ``"no_flow"``, ``"head"`` or ``"free_drainage"``.
    bottom_head_m : float
    side_type : str
        ``"no_flow"`` or ``"head"``.
    side_head_m : float
    z_top_m : float
        Elevation of the top face (default 0: elevations are depths below the surface, negative).
    routing : str
        ``"sewer"`` (default): the excess of every column (rain on sealed columns, ponding excess)
        goes to the sewer; ``"neighbours"``: it runs on to neighbouring open columns first
        (:func:`surface_routing`).
    surface_z_m : (ny, nx) float64 or None
        Ground elevation per column [m], used for the downhill direction of the routing (None:
        flat).
    """

    mat: NDArray[np.int32]
    params: NDArray[np.float64]
    h0: NDArray[np.float64]
    dx: float
    dy: float
    dz: float
    top_type: NDArray[np.int8]
    top_head: NDArray[np.float64]
    rain_times_s: NDArray[np.float64] = field(default_factory=lambda: np.zeros(1))
    rain_rates_m_s: NDArray[np.float64] = field(default_factory=lambda: np.zeros(1))
    bottom_type: str = "free_drainage"
    bottom_head_m: float = 0.0
    side_type: str = "no_flow"
    side_head_m: float = 0.0
    z_top_m: float = 0.0
    routing: str = "sewer"
    surface_z_m: NDArray[np.float64] | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(nz, ny, nx)``."""
        nz, ny, nx = self.h0.shape
        return int(nz), int(ny), int(nx)

    @property
    def z(self) -> NDArray[np.float64]:
        """Elevation of the layer centres [m], ``(nz,)``."""
        nz = self.shape[0]
        return self.z_top_m - (np.arange(nz, dtype=np.float64) + 0.5) * self.dz

    def rain_at(self, t: float) -> float:
        """Rain rate [m/s] in force at time ``t`` [s]."""
        q = int(np.searchsorted(self.rain_times_s, t, side="right")) - 1
        return 0.0 if q < 0 else float(self.rain_rates_m_s[q])


@dataclass
class RichardsResult:
    """Fields and water balance of a Richards run.

    Attributes
    ----------
    times_s : list of float
        Output times.
    head_m, theta : list of (nz, ny, nx) float64
        Fields at the output times.
    balance : list of dict
        Per output time, cumulative from t = 0, volumes in m³ and per unit surface area in m:
        ``rain_m``, ``inflow_top_m``, ``outflow_bottom_m``, ``inflow_side_m``, ``runoff_m`` (to the
        sewer), ``runon_m`` (excess routed to neighbouring open columns), ``storage_change_m``,
        ``mass_balance_error`` (relative,
        ``|ΔS − net inflow| / max(|inflows|, |outflows|)``).
    infiltration_m, runoff_m : (ny, nx) float64
        Cumulative infiltration and net runoff (rain − infiltration; negative on columns that
        infiltrate run-on) per surface column [m] at the end.
    runon_m, sewer_m : (ny, nx) float64
        Cumulative run-on received and excess sent to the sewer per surface column [m].
    stats : dict
        ``steps``, ``rejected_steps``, ``picard_iterations``, ``krylov_iterations``, ``wall_s``.
    """

    times_s: list[float]
    head_m: list[NDArray[np.float64]]
    theta: list[NDArray[np.float64]]
    balance: list[dict[str, float]]
    infiltration_m: NDArray[np.float64]
    runoff_m: NDArray[np.float64]
    stats: dict[str, float]
    runon_m: NDArray[np.float64] | None = None
    sewer_m: NDArray[np.float64] | None = None


def _validate(problem: RichardsProblem) -> None:
    nz, ny, nx = problem.shape
    if problem.mat.shape != (nz, ny, nx):
        raise ScenarioValidationError(f"material: shape {problem.mat.shape} != grid {(nz, ny, nx)}.")
    if problem.top_type.shape != (ny, nx) or problem.top_head.shape != (ny, nx):
        raise ScenarioValidationError(f"top: per-column arrays must have shape {(ny, nx)}.")
    if problem.mat.min() < 0 or problem.mat.max() >= problem.params.shape[0]:
        raise ScenarioValidationError(
            f"material: indices must lie in [0, {problem.params.shape[0] - 1}] (one per material)."
        )
    if problem.bottom_type not in BOTTOM_CODES:
        raise ScenarioValidationError(
            f"bottom.type={problem.bottom_type!r} is unknown; choose one of {sorted(BOTTOM_CODES)}."
        )
    if problem.side_type not in ("no_flow", "head"):
        raise ScenarioValidationError(f"side.type={problem.side_type!r}; choose 'no_flow' or 'head'.")
    if problem.routing not in ROUTING_MODES:
        raise ScenarioValidationError(f"routing={problem.routing!r}; choose one of {list(ROUTING_MODES)}.")
    if problem.surface_z_m is not None and np.shape(problem.surface_z_m) != (ny, nx):
        raise ScenarioValidationError(f"surface_z_m: shape {np.shape(problem.surface_z_m)} != {(ny, nx)}.")
    if not np.all(np.isfinite(problem.h0)):
        raise ScenarioValidationError("initial.head_m contains NaN or infinite values.")


def surface_routing(
    top_type: NDArray[np.int8],
    surface_z_m: NDArray[np.float64] | None,
    dx: float,
    dy: float,
    mode: str = "neighbours",
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Receivers of the surface excess of every column (the run-on routing of the kernel).

    Rules (``mode = "neighbours"``; columns ``0`` sealed, ``1`` fixed head, ``2`` open/rain):

    * a **sealed** column hands all its rain to its open 4-neighbours that lie lower, shared in
      proportion to the slope ``(z − z_nb)/distance``; when none lies lower, equally to the open
      neighbours at the same elevation (flat ground: every adjacent open column gets a share); when
      it has no open neighbour at or below it, to the sewer;
    * an **open** column that ponds hands its excess (supply − what the ponded face takes) to its
      strictly lower open 4-neighbours in proportion to the slope; on flat ground or in a local
      hollow the excess goes to the sewer (no open-to-open exchange at equal elevation, so the
      routing graph has no cycles);
    * fixed-head columns neither give nor receive.

    The receivers take the run-on within the same time step (it is part of their supply in the
    Picard iteration); one hop per step from a sealed column, any number of hops down a slope of
    open columns (they are visited from high to low).  ``mode = "sewer"``: no receivers.

    Returns
    -------
    order : (ny·nx,) int64
        Visiting order of the columns (flat ``j·nx + i``): sealed, then open from high to low
        (ties by index), then fixed head.
    recv : (ny·nx, 4) int64
        Receiver per direction (−x, +x, −y, +y), −1 for none.
    frac : (ny·nx, 4) float64
        Share of the excess sent to each receiver (the rest, ``1 − Σ frac``, goes to the sewer).
    """
    ny, nx = top_type.shape
    ncol = ny * nx
    zs = np.zeros((ny, nx)) if surface_z_m is None else np.asarray(surface_z_m, dtype=np.float64)
    recv = np.full((ncol, 4), -1, dtype=np.int64)
    frac = np.zeros((ncol, 4))
    if mode == "sewer":
        return np.arange(ncol, dtype=np.int64), recv, frac
    if mode not in ROUTING_MODES:
        raise ScenarioValidationError(f"routing={mode!r}; choose one of {list(ROUTING_MODES)}.")
    flat = np.arange(ncol).reshape(ny, nx)
    opened = top_type == 2
    slope = np.full((ny, nx, 4), np.nan)  # slope towards each open neighbour (NaN: none)
    nb = np.full((ny, nx, 4), -1, dtype=np.int64)
    for e, (dj, di, dist) in enumerate(((0, -1, dx), (0, 1, dx), (-1, 0, dy), (1, 0, dy))):
        js = slice(max(dj, 0), ny + min(dj, 0))
        jt = slice(max(-dj, 0), ny + min(-dj, 0))
        is_ = slice(max(di, 0), nx + min(di, 0))
        it = slice(max(-di, 0), nx + min(-di, 0))
        # target (j, i) gets neighbour (j + dj, i + di): source slices js/is_, target slices jt/it
        ok = opened[js, is_]
        s = (zs[jt, it] - zs[js, is_]) / dist
        slope[jt, it, e] = np.where(ok, s, np.nan)
        nb[jt, it, e] = np.where(ok, flat[js, is_], -1)
    lower = np.nan_to_num(np.where(slope > 0, slope, 0.0))
    level = np.where(slope == 0, 1.0, 0.0)
    w = lower.copy()
    sealed = top_type == 0
    use_level = sealed & (lower.sum(axis=2) == 0)
    w[use_level] = level[use_level]
    w[~(sealed | opened)] = 0.0
    tot = w.sum(axis=2, keepdims=True)
    f = np.divide(w, tot, out=np.zeros_like(w), where=tot > 0)
    frac[:] = f.reshape(ncol, 4)
    recv[:] = np.where(f.reshape(ncol, 4) > 0, nb.reshape(ncol, 4), -1)
    frac[recv < 0] = 0.0
    rank = np.where(sealed, 0, np.where(opened, 1, 2)).ravel()
    order = np.lexsort((np.arange(ncol), -zs.ravel() * (rank == 1), rank)).astype(np.int64)
    return order, recv, frac


def run_richards(
    problem: RichardsProblem,
    *,
    duration_s: float,
    output_times_s: Sequence[float],
    options: SolverOptions | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> RichardsResult:
    """Solve the Richards equation from 0 to ``duration_s`` and record the requested outputs.

    Mixed-form, cell-centred finite volumes, backward Euler with the modified Picard iteration
    (Celia, Bouloutas & Zarba 1990) and z-line preconditioned CG (kernel
    :func:`kernels.richards.picard_solve`), surface excess routed as ``problem.routing`` says;
    adaptive time step with rejection (sheet §2.2); steps are cut at rain breakpoints and output
    times so that the forcing is exact.

    Parameters
    ----------
    problem
        Grid, materials, initial state and boundary conditions.
    duration_s
        End time [s].
    output_times_s
        Times [s] in ``(0, duration_s]`` at which fields and the water balance are recorded
        (``0`` is allowed and records the initial state).
    options
        Numerical settings (defaults: :class:`SolverOptions`).
    progress
        Optional callback ``progress(t, duration_s)`` called after every accepted step.

    Returns
    -------
    RichardsResult

    Raises
    ------
    ConvergenceError
        When a step is rejected at the minimum time step.
    ScenarioValidationError
        When the arrays are inconsistent.
    """
    opt = options or SolverOptions()
    _validate(problem)
    nz, ny, nx = problem.shape
    outs = sorted({float(t) for t in output_times_s})
    if any(t < 0 or t > duration_s for t in outs):
        raise ScenarioValidationError(f"output_times_s must lie in [0, duration_s={duration_s}], got {outs}.")
    breaks = sorted({float(t) for t in problem.rain_times_s if 0 < t < duration_s} | set(outs) | {duration_s})
    mat = np.ascontiguousarray(problem.mat, dtype=np.int32)
    params = np.ascontiguousarray(problem.params, dtype=np.float64)
    z = np.ascontiguousarray(problem.z)
    top_type = np.ascontiguousarray(problem.top_type, dtype=np.int8)
    top_head = np.ascontiguousarray(problem.top_head, dtype=np.float64)
    h = np.array(problem.h0, dtype=np.float64, order="C", copy=True)
    theta = np.zeros_like(h)
    kc = np.zeros_like(h)
    cc = np.zeros_like(h)
    ss = float(opt.specific_storage_1_m)
    fill_properties(h, mat, params, ss, theta, kc, cc)
    h_eval = h.copy()
    props_ready = True
    h_lazy = float(opt.lazy_update) * float(opt.eps_h_m)
    precond = PRECOND_CODES[opt.preconditioner]
    order, recv, frac = surface_routing(
        top_type, problem.surface_z_m, problem.dx, problem.dy, problem.routing
    )
    col_runon = np.zeros((ny, nx))
    col_sewer = np.zeros((ny, nx))
    runon_col = np.zeros((ny, nx))
    sewer_col = np.zeros((ny, nx))
    ponded = np.zeros((ny, nx), dtype=np.int8)
    col_in = np.zeros((ny, nx))
    stats = np.zeros(len(STAT_FIELDS))
    kmean = KMEAN_CODES[opt.conductivity_mean]
    bottom = BOTTOM_CODES[problem.bottom_type]
    side = 1 if problem.side_type == "head" else 0
    area = nx * ny * problem.dx * problem.dy
    acc = dict.fromkeys(("rain", "top", "bottom", "side", "runoff", "runon", "ds", "abs_in", "abs_out"), 0.0)
    infil = np.zeros((ny, nx))
    runoff_col = np.zeros((ny, nx))
    sealed = top_type == 0
    flux_cols = top_type == 2
    n_steps = n_rej = n_pic = n_kry = 0
    t = 0.0
    dt = opt.dt_initial_s
    times: list[float] = []
    heads: list[NDArray[np.float64]] = []
    thetas: list[NDArray[np.float64]] = []
    balance: list[dict[str, float]] = []
    t0 = time.perf_counter()

    def record() -> None:
        net = acc["top"] + acc["bottom"] + acc["side"]
        scale = max(acc["abs_in"], acc["abs_out"], 1e-300)
        times.append(t)
        heads.append(h.copy())
        thetas.append(theta.copy())
        balance.append(
            {
                "time_s": t,
                "rain_m": acc["rain"] / area,
                "inflow_top_m": acc["top"] / area,
                "outflow_bottom_m": -acc["bottom"] / area,
                "inflow_side_m": acc["side"] / area,
                "runoff_m": acc["runoff"] / area,
                "runon_m": acc["runon"] / area,
                "storage_change_m": acc["ds"] / area,
                "mass_balance_error": abs(acc["ds"] - net) / scale if scale > 1e-300 else 0.0,
            }
        )

    out_iter = iter(outs)
    next_out = next(out_iter, None)
    if next_out == 0.0:
        record()
        next_out = next(out_iter, None)
    b_idx = 0
    while t < duration_s * (1 - 1e-14):
        while b_idx < len(breaks) and breaks[b_idx] <= t * (1 + 1e-14) + 1e-12:
            b_idx += 1
        t_break = breaks[b_idx] if b_idx < len(breaks) else duration_s
        step = min(dt, t_break - t)
        if t_break - t - step < 1e-9 * max(step, 1.0):
            step = t_break - t
        rain = problem.rain_at(t)
        h_new = h.copy()
        th_new = theta.copy()
        pond_try = ponded.copy()
        picard_solve(
            h,
            theta,
            h_new,
            th_new,
            kc,
            cc,
            h_eval,
            props_ready,
            h_lazy,
            mat,
            params,
            ss,
            z,
            problem.dx,
            problem.dy,
            problem.dz,
            step,
            top_type,
            top_head,
            rain,
            opt.ponding_head_m,
            pond_try,
            order,
            recv,
            frac,
            bottom,
            problem.bottom_head_m,
            side,
            problem.side_head_m,
            kmean,
            opt.eps_h_m,
            opt.eps_theta,
            opt.max_picard,
            opt.cg_rtol,
            opt.cg_maxit,
            precond,
            col_in,
            col_runon,
            col_sewer,
            stats,
        )
        n_pic += int(stats[1])
        n_kry += int(stats[2])
        if stats[0] < 0.5 or not np.all(np.isfinite(h_new)):
            n_rej += 1
            props_ready = False  # kc, cc, h_eval were overwritten by the failed iterates
            if step <= opt.dt_min_s * (1 + 1e-12):
                raise ConvergenceError(
                    f"Richards step at t={t:.6g} s did not converge at the minimum time step "
                    f"{opt.dt_min_s} s (Picard {int(stats[1])} iterations); reduce solver.dt_min_s, "
                    "raise solver.max_picard or check the boundary conditions and materials."
                )
            dt = max(step / 3.0, opt.dt_min_s)
            continue
        # accept
        h, theta, ponded = h_new, th_new, pond_try
        props_ready = True
        n_steps += 1
        acc["rain"] += stats[8]
        acc["top"] += stats[3]
        acc["bottom"] += stats[4]
        acc["side"] += stats[5]
        acc["runoff"] += stats[6]
        acc["ds"] += stats[7]
        for v in (stats[3], stats[4], stats[5]):
            if v > 0:
                acc["abs_in"] += v
            else:
                acc["abs_out"] -= v
        cell_area = problem.dx * problem.dy
        infil += col_in * step / cell_area
        runoff_col[sealed] += rain * step
        runoff_col[flux_cols] += (rain * cell_area - col_in[flux_cols]) * step / cell_area
        runon_col += col_runon * step / cell_area
        sewer_col += col_sewer * step / cell_area
        acc["runon"] += float(col_runon.sum()) * step
        t = t + step
        if abs(t - t_break) < 1e-9 * max(1.0, t_break):
            t = t_break
        if progress is not None:
            progress(t, duration_s)
        while next_out is not None and t >= next_out * (1 - 1e-12):
            record()
            next_out = next(out_iter, None)
        if not opt.fixed_step:
            its = int(stats[1])
            if its <= 3:
                dt = min(dt * 1.3, opt.dt_max_s)
            elif its >= 7:
                dt = max(dt * 0.7, opt.dt_min_s)
        else:
            dt = opt.dt_initial_s
    return RichardsResult(
        times_s=times,
        head_m=heads,
        theta=thetas,
        balance=balance,
        infiltration_m=infil,
        runoff_m=runoff_col,
        runon_m=runon_col,
        sewer_m=sewer_col,
        stats={
            "steps": n_steps,
            "rejected_steps": n_rej,
            "picard_iterations": n_pic,
            "krylov_iterations": n_kry,
            "wall_s": time.perf_counter() - t0,
        },
    )
