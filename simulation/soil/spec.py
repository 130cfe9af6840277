"""The soil SPEC contract (JSON, SI units) and its runner for ``twin soil run SPEC.json --out DIR``.

A SPEC describes one Richards run on a box of cells (a column when ``nx = ny = 1``)::

    {"grid": {"nx": 1, "ny": 1, "nz": 40, "dx_m": 1, "dy_m": 1, "dz_m": 0.01},
     "materials": [{"model": "van_genuchten", "theta_r": 0.078, "theta_s": 0.43,
                    "alpha_1_m": 3.6, "n": 1.56, "ks_m_s": 2.89e-6}],
     "material": 0,
     "initial": {"head_m": -2.0},
     "top": {"type": "flux", "series": [[0, 1e-5], [3600, 0]]},
     "bottom": {"type": "free_drainage"},
     "duration_s": 7200, "output_times_s": [3600, 7200]}

Cells are centred, ``k = 0`` is the surface layer and depth increases with ``k``.  ``material`` is
one index, one per layer (``nz``) or one per cell (``nz × ny × nx``, nested lists ``[k][j][i]``).
A ``texture`` key (Carsel & Parrish class, e.g. ``"silt loam"``) may replace the parameters of a
van Genuchten material; ``air_entry_m`` (≤ 0, default 0) selects the modified vG model with that
air-entry head.  An optional ``solver`` object sets :class:`~simulation.soil.solver.SolverOptions`.

Optional keys of a ``flux`` top (all backwards compatible, defaults in brackets): ``sealed``, nested
lists ``[j][i]`` of booleans (sealed columns take no infiltration) [none sealed]; ``routing``,
``"sewer"`` or ``"neighbours"`` — where the rain of sealed columns and the ponding excess go
(:func:`~simulation.soil.solver.surface_routing`) ["sewer"]; ``surface_z_m``, the ground
elevation, one value or ``[j][i]``, for the downhill direction [flat].  ``summary.json`` then also
reports ``runon_m`` (the excess that ran on to open neighbours) next to ``runoff_m`` (to the sewer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulation.soil.materials import Material, carsel_parrish, params_array
from simulation.soil.solver import RichardsProblem, RichardsResult, SolverOptions, run_richards
from twin.atomic import atomic_path
from twin.errors import ScenarioValidationError

__all__ = ["SoilSpec", "load_spec", "problem_from_spec", "run_spec", "write_outputs"]

_Pos = Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GridSpec(_Strict):
    nx: Annotated[int, Field(ge=1)]
    ny: Annotated[int, Field(ge=1)]
    nz: Annotated[int, Field(ge=1)]
    dx_m: _Pos
    dy_m: _Pos
    dz_m: _Pos


class VanGenuchtenSpec(_Strict):
    model: Literal["van_genuchten"] = "van_genuchten"
    name: str = "material"
    texture: str | None = None
    theta_r: float | None = None
    theta_s: float | None = None
    alpha_1_m: float | None = None
    n: float | None = None
    ks_m_s: float | None = None
    l: float = 0.5  # noqa: E741
    air_entry_m: Annotated[float, Field(le=0)] = 0.0

    @model_validator(mode="after")
    def _complete(self) -> VanGenuchtenSpec:
        if self.texture is None:
            missing = [
                k for k in ("theta_r", "theta_s", "alpha_1_m", "n", "ks_m_s") if getattr(self, k) is None
            ]
            if missing:
                raise ValueError(f"missing {missing} (or give a Carsel & Parrish 'texture')")
        return self

    def material(self) -> Material:
        base = carsel_parrish(self.texture) if self.texture else None
        pick = lambda k: getattr(self, k) if getattr(self, k) is not None else getattr(base, k)  # noqa: E731
        return Material.van_genuchten(
            self.name if not base or self.name != "material" else base.name,
            pick("theta_r"),
            pick("theta_s"),
            pick("alpha_1_m"),
            pick("n"),
            pick("ks_m_s"),
            self.l,
            self.air_entry_m,
        )


class HaverkampSpec(_Strict):
    model: Literal["haverkamp"]
    name: str = "material"
    theta_r: float
    theta_s: float
    alpha: _Pos
    beta: _Pos
    a: _Pos
    gamma: _Pos
    ks_m_s: _Pos

    def material(self) -> Material:
        return Material.haverkamp(
            self.name, self.theta_r, self.theta_s, self.alpha, self.beta, self.a, self.gamma, self.ks_m_s
        )


class GardnerSpec(_Strict):
    model: Literal["gardner"]
    name: str = "material"
    theta_r: float
    theta_s: float
    alpha_1_m: _Pos
    ks_m_s: _Pos

    def material(self) -> Material:
        return Material.gardner(self.name, self.theta_r, self.theta_s, self.alpha_1_m, self.ks_m_s)


MaterialSpec = Annotated[VanGenuchtenSpec | HaverkampSpec | GardnerSpec, Field(discriminator="model")]


class InitialSpec(_Strict):
    head_m: float | list[float]


class TopHead(_Strict):
    type: Literal["head"]
    head_m: float


class TopFlux(_Strict):
    type: Literal["flux"]
    series: list[tuple[float, float]] = Field(min_length=1)
    sealed: list[list[bool]] | None = None
    routing: Literal["sewer", "neighbours"] = "sewer"
    surface_z_m: float | list[list[float]] | None = None

    @model_validator(mode="after")
    def _sorted(self) -> TopFlux:
        ts = [t for t, _ in self.series]
        if any(b <= a for a, b in zip(ts, ts[1:], strict=False)):
            raise ValueError("series times must be strictly increasing")
        if any(r < 0 for _, r in self.series):
            raise ValueError("rain rates must be >= 0 m/s")
        return self


class BottomSpec(_Strict):
    type: Literal["head", "free_drainage", "no_flow"]
    head_m: float | None = None

    @model_validator(mode="after")
    def _head(self) -> BottomSpec:
        if self.type == "head" and self.head_m is None:
            raise ValueError("type 'head' needs head_m")
        return self


class SolverSpec(_Strict):
    dt_initial_s: _Pos = 1.0
    dt_min_s: _Pos = 1e-4
    dt_max_s: _Pos = 3600.0
    eps_h_m: _Pos = 1e-6
    eps_theta: _Pos = 1e-7
    max_picard: Annotated[int, Field(ge=1)] = 25
    cg_rtol: _Pos = 1e-12
    cg_maxit: Annotated[int, Field(ge=1)] = 20000
    conductivity_mean: Literal["arithmetic", "upstream", "harmonic"] = "arithmetic"
    specific_storage_1_m: Annotated[float, Field(ge=0)] = 1e-6
    ponding_head_m: Annotated[float, Field(ge=0)] = 0.0
    fixed_step: bool = False
    preconditioner: Literal["line", "jacobi"] = "line"
    lazy_update: Annotated[float, Field(ge=0, lt=1)] = 1e-3


class SoilSpec(_Strict):
    """The validated SPEC (see the module docstring); extra keys are refused."""

    grid: GridSpec
    materials: list[MaterialSpec] = Field(min_length=1)
    material: int | list[int] | list[list[list[int]]] = 0
    initial: InitialSpec
    top: Annotated[TopHead | TopFlux, Field(discriminator="type")]
    bottom: BottomSpec
    duration_s: _Pos
    output_times_s: list[Annotated[float, Field(ge=0)]] = Field(min_length=1)
    solver: SolverSpec = SolverSpec()

    @model_validator(mode="after")
    def _consistent(self) -> SoilSpec:
        if any(t > self.duration_s for t in self.output_times_s):
            raise ValueError("output_times_s: every time must be <= duration_s")
        nz = self.grid.nz
        if isinstance(self.initial.head_m, list) and len(self.initial.head_m) != nz:
            raise ValueError(f"initial.head_m: give one value or nz={nz} values")
        return self


def _fail(err: ValidationError, source: str) -> ScenarioValidationError:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(spec)"
    return ScenarioValidationError(
        f"{source}: field '{loc}': {first['msg']} ({err.error_count()} error(s)); see the SPEC contract "
        "in simulation.soil.spec."
    )


def load_spec(spec: str | Path | dict[str, Any]) -> SoilSpec:
    """Read and validate a SPEC (a path to a JSON file or a dict).

    Raises
    ------
    ScenarioValidationError
        Naming the first invalid field.
    """
    source = "SPEC"
    if not isinstance(spec, dict):
        source = str(spec)
        try:
            spec = json.loads(Path(spec).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ScenarioValidationError(f"{source}: cannot read the SPEC as JSON ({err}).") from err
    try:
        return SoilSpec.model_validate(spec)
    except ValidationError as err:
        raise _fail(err, source) from err


def problem_from_spec(spec: SoilSpec) -> RichardsProblem:
    """Turn a validated SPEC into the solver's arrays (:class:`RichardsProblem`)."""
    g = spec.grid
    shape = (g.nz, g.ny, g.nx)
    mats = [m.material() for m in spec.materials]
    raw = np.asarray(spec.material, dtype=np.int64)
    if raw.ndim == 0:
        mat = np.full(shape, int(raw))
    elif raw.ndim == 1 and raw.size == g.nz:
        mat = np.broadcast_to(raw[:, None, None], shape).copy()
    elif raw.shape == shape:
        mat = raw
    else:
        raise ScenarioValidationError(
            f"material: give one index, nz={g.nz} indices (one per layer) or nested lists of shape "
            f"{list(shape)} [k][j][i]; got shape {list(raw.shape)}."
        )
    if mat.min() < 0 or mat.max() >= len(mats):
        raise ScenarioValidationError(f"material: indices must lie in [0, {len(mats) - 1}].")
    h0 = np.asarray(spec.initial.head_m, dtype=np.float64)
    h0 = np.broadcast_to(h0.reshape(-1, 1, 1) if h0.ndim else h0, shape).copy()
    top_type = np.full((g.ny, g.nx), 1 if spec.top.type == "head" else 2, dtype=np.int8)
    routing, surface_z = "sewer", None
    if isinstance(spec.top, TopFlux):
        routing = spec.top.routing
        if spec.top.sealed is not None:
            sealed = np.asarray(spec.top.sealed, dtype=bool)
            if sealed.shape != (g.ny, g.nx):
                raise ScenarioValidationError(
                    f"top.sealed: give nested lists of shape [{g.ny}][{g.nx}] ([j][i]); "
                    f"got {list(sealed.shape)}."
                )
            top_type[sealed] = 0
        if spec.top.surface_z_m is not None:
            surface_z = np.broadcast_to(
                np.asarray(spec.top.surface_z_m, dtype=np.float64), (g.ny, g.nx)
            ).copy()
    top_head = np.full((g.ny, g.nx), spec.top.head_m if isinstance(spec.top, TopHead) else 0.0)
    times = np.array([t for t, _ in spec.top.series]) if isinstance(spec.top, TopFlux) else np.zeros(1)
    rates = np.array([r for _, r in spec.top.series]) if isinstance(spec.top, TopFlux) else np.zeros(1)
    return RichardsProblem(
        mat=mat.astype(np.int32),
        params=params_array(mats),
        h0=h0,
        dx=g.dx_m,
        dy=g.dy_m,
        dz=g.dz_m,
        top_type=top_type,
        top_head=top_head,
        rain_times_s=times,
        rain_rates_m_s=rates,
        bottom_type=spec.bottom.type,
        bottom_head_m=spec.bottom.head_m or 0.0,
        routing=routing,
        surface_z_m=surface_z,
    )


def _tname(t: float) -> str:
    return f"{t:g}".replace("+", "")


def write_outputs(result: RichardsResult, problem: RichardsProblem, out_dir: str | Path) -> list[Path]:
    """Write profiles (column) or NPZ fields (3D) per output time; each file atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    nz, ny, nx = problem.shape
    depth = (np.arange(nz) + 0.5) * problem.dz
    written = []
    for t, h, th in zip(result.times_s, result.head_m, result.theta, strict=True):
        if nx == 1 and ny == 1:
            path = out / f"profile_{_tname(t)}.csv"
            with atomic_path(path) as tmp:
                rows = "\n".join(
                    f"{d:.10g},{a:.10g},{b:.10g}"
                    for d, a, b in zip(depth, h[:, 0, 0], th[:, 0, 0], strict=True)
                )
                tmp.write_text("depth_m,head_m,theta\n" + rows + "\n")
        else:
            path = out / f"fields_{_tname(t)}.npz"
            with atomic_path(path) as tmp:
                with tmp.open("wb") as f:
                    np.savez_compressed(f, head_m=h, theta=th, depth_m=depth, time_s=t)
        written.append(path)
    return written


def run_spec(spec_path: str | Path | dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Run a soil SPEC and write its outputs (``twin soil run SPEC.json --out DIR``).

    Parameters
    ----------
    spec_path
        Path to the SPEC JSON file (or the SPEC as a dict).
    out_dir
        Output folder (created): ``profile_<t>.csv`` per output time for a column
        (``depth_m,head_m,theta``), ``fields_<t>.npz`` for 3D grids, and ``summary.json``.

    Returns
    -------
    dict
        The content of ``summary.json``: ``balance`` (one entry per output time with ``time_s``,
        ``inflow_top_m``, ``outflow_bottom_m``, ``runoff_m``, ``storage_change_m`` per unit surface
        area and the relative ``mass_balance_error``), ``solver`` statistics (``steps``,
        ``rejected_steps``, ``picard_iterations``, ``krylov_iterations``), ``grid`` and ``files``.

    Raises
    ------
    ScenarioValidationError
        For an invalid SPEC (the message names the field).
    ConvergenceError
        When the solver fails at its minimum time step.
    """
    spec = load_spec(spec_path)
    problem = problem_from_spec(spec)
    opts = SolverOptions(**spec.solver.model_dump())
    result = run_richards(
        problem, duration_s=spec.duration_s, output_times_s=spec.output_times_s, options=opts
    )
    files = write_outputs(result, problem, out_dir)
    summary = {
        "grid": spec.grid.model_dump(),
        "duration_s": spec.duration_s,
        "balance": [{k: float(v) for k, v in b.items()} for b in result.balance],
        "max_mass_balance_error": max(float(b["mass_balance_error"]) for b in result.balance),
        "solver": {k: float(v) if k == "wall_s" else int(v) for k, v in result.stats.items()},
        "files": [p.name for p in files],
    }
    path = Path(out_dir) / "summary.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    return summary
