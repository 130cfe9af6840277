"""Scenario sweeps on a Dask cluster: (partition × scenario) tasks for energy, whole-model tasks otherwise.

Why and how (``shared/reference/scale.md``): futures, not collections; one task
per (building partition, scenario) of about 0.1–10 s of work; each task
returns a small result (or, for :func:`energy_sweep_partitioned`, writes one
result file atomically and returns a summary).

**What partitions.** The energy balance is per building: a building's result
depends on its own surfaces and attributes, and on its neighbours only
through its party walls (already in the surfaces) and its exposed perimeter
(the footprints within the party-wall tolerance).  A tile read with a halo
(:mod:`twin.partition`) therefore gives its own buildings exactly the
results of a whole-model run.  A scenario is run tile by tile when it only
asks for the energy simulation and only has energy measures; per-building
results are concatenated in the model's order and the totals and diffs are
computed from them with the code of the single-process run, so the
``results_hash`` is the same.  Any other scenario (mobility: the traffic
assignment is one global problem; soil; IFC buildings) runs as one
whole-model task on one worker.

**Region sweeps from partitioned GeoParquet** (:func:`energy_sweep_partitioned`):
one task per tile reads it with its halo and prepares its kernel inputs once
(:func:`prepare_tile`); one task per (tile, scenario) then applies the
renovation measures to those arrays (:func:`variant_results`, the same
numbers as applying them to the model, tested), runs the kernels and writes
``results/scenario=<id>/part=<k>.parquet`` atomically; a rerun skips files
whose checksum and inputs match.

**Numba under Dask.** Workers are processes with one thread each; the
environment of every worker gets ``NUMBA_NUM_THREADS=1`` (and the BLAS/OpenMP
thread counts 1) *before* it starts, through Dask's
``distributed.nanny.pre-spawn-environ``, because numba reads it at import
(Dask does not set it, distributed#9075).  The energy kernels are
``parallel=True``; with one numba thread their ``prange`` loops run on the
task's own thread, so numba's threading layer (numba picks ``omp`` or
``workqueue``) never starts a pool that would compete with the other worker
processes: one process per core, no oversubscription, and no fork of a
process that ran a parallel kernel (Dask spawns fresh processes).  Kernels
are compiled with ``cache=True`` (:mod:`kernels._jit`); the
:class:`WarmKernels` worker plugin runs them once on every worker when it
starts, restarted workers included (:func:`warm_workers` does it on demand
through ``client.run`` and reports each worker's numba threads and layer), so
no task pays for loading or compiling them; ``numba_cache_dir`` of
:func:`make_client` points numba's cache at node-local disk.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scenarios.apply import _step, check_against, resolve_selection
from scenarios.hashing import json_hash, model_hash
from scenarios.run import Run, assemble_run, code_version, run, slug
from scenarios.simulate import diff_energy
from scenarios.spec import Scenario
from twin.atomic import atomic_path
from twin.errors import StoreError, TwinError
from twin.model import CityModel
from twin.partition import DEFAULT_HALO_M, PartitionIndex, Tile, read_partition, split_model

__all__ = [
    "DistributedError",
    "SweepSummary",
    "WORKER_ENV",
    "PreparedTile",
    "WarmKernels",
    "close_client",
    "energy_sweep_partitioned",
    "make_client",
    "partitionable",
    "prepare_tile",
    "scenario_id",
    "sweep_on_dask",
    "variant_results",
    "warm_workers",
]

try:  # dask is an optional extra: partitioned sweeps also run in one process without it
    from distributed import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover
    _WorkerPlugin = object

Progress = Callable[[str, int, int], None]

#: Environment given to every worker process before it starts (one thread per process).
WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
#: Columns of the per-building files written by :func:`energy_sweep_partitioned`.
RESULT_FILE_COLUMNS = (
    "building_id",
    "heated_floor_area_m2",
    "heating_need_kwh",
    "heating_need_kwh_m2",
    "primary_energy_kwh_estimate",
    "primary_energy_kwh_m2_estimate",
    "co2_kg_estimate",
    "peb_class_estimate",
)
_BASELINE = "baseline"


class DistributedError(TwinError, RuntimeError):
    """The cluster cannot be reached or a sweep cannot be distributed (the message says why)."""


# ------------------------------------------------------------------ cluster


def make_client(
    cluster: str = "local",
    *,
    workers: int = 2,
    numba_cache_dir: str | os.PathLike | None = None,
    dashboard: bool = False,
    memory_limit: str | float = "auto",
    warm: bool = True,
    timeout_s: float = 20.0,
) -> Any:
    """A ``dask.distributed.Client``: a new ``LocalCluster`` or a running scheduler.

    Parameters
    ----------
    cluster
        ``"local"`` starts a ``LocalCluster`` of ``workers`` processes with one
        thread each on 127.0.0.1; anything else is a scheduler address
        (``tcp://host:8786``) of a cluster started elsewhere (dask-jobqueue on
        HPC, the dask-kubernetes operator), whose workers must have this
        package installed and should be started with the environment of
        :data:`WORKER_ENV`.
    workers
        Worker processes of a local cluster (ignored for an address).
    numba_cache_dir
        ``NUMBA_CACHE_DIR`` of local workers (node-local disk).
    dashboard
        Serve the Dask dashboard of a local cluster on a free port.
    memory_limit
        Memory limit per local worker (Dask's syntax, e.g. ``"4GiB"``).
    warm
        Load (compiling if needed) the numba kernels on every worker now, and on
        every worker that joins later (a worker plugin).
    timeout_s
        How long to try to reach a scheduler address, s.

    Returns
    -------
    distributed.Client
        Close it with :func:`close_client` (which also stops a local cluster).

    Raises
    ------
    DistributedError
        Dask is not installed, ``workers`` < 1, or the scheduler cannot be reached.
    """
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - dask is a declared extra
        raise DistributedError(
            "dask.distributed is not installed: pip install 'brussels-twin[dask]'"
        ) from err
    if cluster == "local":
        if workers < 1:
            raise DistributedError(f"--workers must be at least 1, got {workers}.")
        env = dict(WORKER_ENV)
        if numba_cache_dir is not None:
            env["NUMBA_CACHE_DIR"] = str(numba_cache_dir)
        saved = {k: os.environ.get(k) for k in env}
        try:
            with dask.config.set({f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in env.items()}):
                local = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0" if dashboard else None,
                    memory_limit=memory_limit,
                )
                client = Client(local)
        finally:
            # the nanny writes the workers' environment into this process's os.environ before it
            # spawns them; left there, NUMBA_NUM_THREADS=1 would make numba refuse to compile here
            # ("cannot set NUMBA_NUM_THREADS once the threads have been launched")
            _restore_environ(saved)
    else:
        try:
            client = Client(cluster, timeout=f"{timeout_s}s")
        except (OSError, TimeoutError) as err:
            raise DistributedError(f"cannot reach the Dask scheduler at {cluster!r}: {err}") from err
    if warm:
        client.register_plugin(WarmKernels(), name="brussels-twin-warm-kernels")
    return client


def _restore_environ(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def close_client(client: Any) -> None:
    """Close ``client`` and, when it started one, its local cluster."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def _warm_kernels() -> dict[str, Any]:
    """Run the energy kernels once in this process (runs on each worker via ``client.run``)."""
    import numba
    import shapely

    from simulation.energy import run_energy
    from twin.crs import to_crs
    from twin.envelope import BuildingRecord, assemble_tables
    from twin.extrude import extrude_footprint
    from twin.surfaces import SurfaceCollector

    t0 = time.perf_counter()
    collector = SurfaceCollector()
    for i, (xa, xb) in enumerate(((0.0, 6.0), (6.0, 12.0))):
        box = shapely.box(149_000.0 + xa, 168_500.0, 149_000.0 + xb, 168_510.0)
        extrude_footprint(collector, i, box, ground_z_m=60.0, height_m=9.0)
    records = [BuildingRecord(building_id=f"warm-{i}", typology="terraced") for i in range(2)]
    b, s, _ = assemble_tables(collector.to_batch(), records, crs=to_crs(None), source="warm-up", lod="1")
    run_energy(CityModel(buildings=b, surfaces=s, name="warm-up").with_party_walls())
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run
        layer = "none"
    return {
        "pid": os.getpid(),
        "numba_threads": int(numba.get_num_threads()),
        "threading_layer": layer,
        "warm_s": time.perf_counter() - t0,
    }


class WarmKernels(_WorkerPlugin):  # type: ignore[misc,valid-type]
    """Worker plugin: load (or compile) the numba kernels when a worker starts, restarted ones included."""

    idempotent = True

    def setup(self, worker: Any) -> None:
        _warm_kernels()

    def teardown(self, worker: Any) -> None:
        return None

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        return None


def warm_workers(client: Any) -> dict[str, dict[str, Any]]:
    """Load or compile the numba kernels once on every worker; per worker: pid, numba threads, layer, s."""
    return client.run(_warm_kernels)


# ------------------------------------------------------------------ scenarios that partition


def partitionable(scenario: Scenario) -> bool:
    """True when the scenario runs tile by tile: energy simulation only, energy measures only."""
    m = scenario.measures
    return scenario.domains() == ["energy"] and not (m.bim or m.mobility)


def scenario_id(scenario: Scenario) -> str:
    """A stable folder name: the scenario's name and the start of its spec's hash."""
    return f"{slug(scenario.name)}-{json_hash(scenario.canonical_json())[:10]}"


def _restrict_ids(scenario: Scenario, known: set[str]) -> Scenario:
    """The scenario with every ``ids`` list cut to the buildings of one tile (and its halo)."""
    data = scenario.model_dump(mode="json")

    def cut(sel: Any) -> None:
        if isinstance(sel, dict) and sel.get("ids") is not None:
            sel["ids"] = [i for i in sel["ids"] if i in known]

    for sel in data["selections"].values():
        cut(sel)
    for measure in data["measures"]["energy"]:
        cut(measure.get("selection"))
    out = Scenario.model_validate(data)
    out._source_dir = scenario._source_dir
    return out


def _apply_energy_measures(
    scenario: Scenario, model: CityModel, core: set[str]
) -> tuple[CityModel, list[int]]:
    """The scenario's energy measures on one tile; per measure the number of the tile's own buildings hit.

    The same steps, in the same order, as :func:`scenarios.apply.apply_scenario`
    (selections resolved on the model as it is when each measure applies).
    """
    from simulation.measures_energy import apply_measure

    scn = _restrict_ids(scenario, set(model.buildings["building_id"].astype(str)))
    counts = []
    for k, m in enumerate(scn.measures.energy):
        ids = resolve_selection(scn, model, m.selection)
        params = m.model_dump(exclude={"measure", "selection"}, exclude_none=True)
        model = _step(
            f"measures.energy[{k}]", apply_measure, model, m.measure, selection={"ids": ids}, **params
        )
        counts.append(sum(1 for i in ids if i in core))
    return model, counts


def _tile_energy(tile: Tile, scenario: Scenario | None, sim: dict[str, Any]) -> dict[str, Any]:
    """Energy results of a tile's own buildings (baseline when ``scenario`` is None).  Runs on a worker."""
    from simulation.energy import run_energy

    t0 = time.perf_counter()
    model, counts = tile.model, []
    core = set(tile.core_ids.tolist())
    if scenario is not None:
        model, counts = _apply_energy_measures(scenario, model, core)
    res = run_energy(model, sim or None)
    results = res.results[res.results["building_id"].isin(core).to_numpy()]
    return {"results": results, "counts": counts, "seconds": time.perf_counter() - t0}


def _hold(value: Any) -> Any:
    """Identity task: ships an input with its task, so the scheduler can recompute it when the
    worker holding it dies (scattered data, by contrast, is lost with its worker)."""
    return value


def _whole_run(scenario: Scenario, model: CityModel) -> Run:
    """One scenario on the whole model (mobility, soil, IFC).  Runs on a worker."""
    return run(scenario, model)


# ------------------------------------------------------------------ sweep returning runs


def _in_model_order(parts: list[pd.DataFrame], position: pd.Series) -> Any:
    """Concatenated per-tile rows, in the order of the model's buildings."""
    table = pd.concat(parts, ignore_index=True)
    order = np.argsort(position.reindex(table["building_id"]).to_numpy(), kind="stable")
    return table.iloc[order].reset_index(drop=True)


def _totals(results: pd.DataFrame) -> dict[str, float]:
    from simulation.energy.results import _totals as energy_totals

    return energy_totals(results)


def sweep_on_dask(
    scenarios: Sequence[Scenario],
    model: CityModel,
    *,
    client: Any,
    out_dir: str | Path | None = None,
    progress: Progress | None = None,
    target_buildings: int | None = None,
    halo_m: float = DEFAULT_HALO_M,
) -> list[Run]:
    """Run scenarios on the cluster of ``client``; same ``results_hash`` as :func:`scenarios.sweep`.

    Energy-only scenarios run as (tile × scenario) tasks plus one baseline task
    per tile and parameter set; the others as one whole-model task each.  A
    worker that dies mid-sweep costs only its tasks: Dask runs them again
    elsewhere (the tiles and the model travel inside tasks, so they can be
    recomputed too; scattered data could not).

    Parameters
    ----------
    scenarios
        Validated scenarios.
    model
        The base model (not modified), with its party walls.
    client
        A ``distributed.Client`` (see :func:`make_client`).
    out_dir
        Save every run there (:meth:`Run.save`).
    progress
        ``progress(step, done, total)`` called as tasks finish.
    target_buildings
        Buildings per tile (default: the model split in four tiles per worker,
        at least 50 buildings per tile).
    halo_m
        Halo of the tiles, m.

    Returns
    -------
    list of Run
        In the order of ``scenarios``; each record also has ``execution``
        (engine, tiles, tasks, worker seconds).

    Raises
    ------
    UnknownEntityError, ScenarioValidationError
        As :func:`scenarios.run` (checked before anything is submitted).
    """
    saved = {k: os.environ.get(k) for k in WORKER_ENV}
    try:
        return _sweep_on_dask(
            scenarios,
            model,
            client=client,
            out_dir=out_dir,
            progress=progress,
            target_buildings=target_buildings,
            halo_m=halo_m,
        )
    finally:
        _restore_environ(saved)  # a restarted worker's nanny writes its environment here again


def _sweep_on_dask(
    scenarios: Sequence[Scenario],
    model: CityModel,
    *,
    client: Any,
    out_dir: str | Path | None = None,
    progress: Progress | None = None,
    target_buildings: int | None = None,
    halo_m: float = DEFAULT_HALO_M,
) -> list[Run]:
    """The body of :func:`sweep_on_dask`."""
    from distributed import as_completed

    tick = progress or (lambda step, done, total: None)
    scenarios = list(scenarios)
    for s in scenarios:
        check_against(s, model)
    versions = code_version()
    base_hash = model_hash(model)
    n = len(model.buildings)
    tiled = [k for k, s in enumerate(scenarios) if partitionable(s) and n]
    whole = [k for k in range(len(scenarios)) if k not in set(tiled)]

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    target = target_buildings or max(50, math.ceil(n / (4 * n_workers)))
    tiles = split_model(model, target_buildings=target, halo_m=halo_m) if tiled else []

    futures: dict[Any, tuple[str, Any]] = {}
    if whole:
        model_f = client.submit(_hold, model, pure=False)
        for k in whole:
            f = client.submit(_whole_run, scenarios[k], model_f, pure=False)
            futures[f] = ("whole", k)
    if tiles:
        tile_fs = [client.submit(_hold, tile, pure=False) for tile in tiles]
        sims = {json_hash(_sim(scenarios[k])): _sim(scenarios[k]) for k in tiled}
        for sim_key, sim in sims.items():
            for t, tf in zip(tiles, tile_fs, strict=True):
                f = client.submit(_tile_energy, tf, None, sim, pure=False)
                futures[f] = ("baseline", (sim_key, t.key))
        for k in tiled:
            for t, tf in zip(tiles, tile_fs, strict=True):
                f = client.submit(_tile_energy, tf, scenarios[k], _sim(scenarios[k]), pure=False)
                futures[f] = ("variant", (k, t.key))

    total = len(futures)
    done = 0
    whole_runs: dict[int, Run] = {}
    base_parts: dict[tuple[str, int], dict[str, Any]] = {}
    var_parts: dict[tuple[int, int], dict[str, Any]] = {}
    t_start = time.perf_counter()
    tick("submitted", 0, total)
    for fut, value in as_completed(list(futures), with_results=True):
        kind, key = futures[fut]
        if fut.status != "finished":  # errors raise above; a cancelled task lands here
            raise DistributedError(f"{kind} task {key} was {fut.status}: {value!r}")
        if kind == "whole":
            whole_runs[key] = value
        elif kind == "baseline":
            base_parts[key] = value
        else:
            var_parts[key] = value
        done += 1
        tick(f"{kind} {key}", done, total)
        fut.release()
    wall = time.perf_counter() - t_start

    runs: list[Run] = []
    position = pd.Series(np.arange(n), index=model.buildings["building_id"].to_numpy())
    for k, scenario in enumerate(scenarios):
        if k in whole_runs:
            r = whole_runs[k]
            r.record["execution"] = {"engine": "dask", "partitioned": False, "tasks": 1, "sweep_wall_s": wall}
        else:
            sim_key = json_hash(_sim(scenario))
            r = _assemble_run(
                scenario,
                model,
                [base_parts[(sim_key, t.key)] for t in tiles],
                [var_parts[(k, t.key)] for t in tiles],
                position,
                base_hash,
                versions,
            )
            r.record["execution"] = {
                "engine": "dask",
                "partitioned": True,
                "tiles": len(tiles),
                "tasks": len(tiles),
                "halo_m": halo_m,
                "sweep_wall_s": wall,
            }
        if out_dir is not None:
            r.save(out_dir)
        runs.append(r)
    tick("done", total, total)
    return runs


def _sim(scenario: Scenario) -> dict[str, Any]:
    sim = scenario.simulations.energy
    return sim.model_dump(exclude_none=True) if sim is not None else {}


def _assemble_run(
    scenario: Scenario,
    model: CityModel,
    base_parts: list[dict[str, Any]],
    var_parts: list[dict[str, Any]],
    position: pd.Series,
    base_hash: str,
    versions: dict[str, str],
) -> Run:
    """The :class:`Run` of a tiled scenario, built as :func:`scenarios.run` builds it."""
    base = _in_model_order([p["results"] for p in base_parts], position)
    var = _in_model_order([p["results"] for p in var_parts], position)
    table, tot = diff_energy(
        {"results": base, "totals": _totals(base)}, {"results": var, "totals": _totals(var)}
    )
    results = {"energy": table}
    totals = {"energy": tot}
    log = [
        {
            "step": f"measures.energy[{j}]",
            "measure": m.measure,
            "buildings": sum(p["counts"][j] for p in var_parts),
        }
        for j, m in enumerate(scenario.measures.energy)
    ]
    # the variant is never assembled as one model: its hash is not computed
    return assemble_run(
        scenario,
        inputs={"base_model_hash": base_hash, "files": {}},
        versions=versions,
        results=results,
        totals=totals,
        applied=log,
        timings={"energy": sum(p["seconds"] for p in var_parts)},
        variant_model_hash=None,
    )


# ------------------------------------------------------------------ partitioned sweep writing files


@dataclass
class SweepSummary:
    """What :func:`energy_sweep_partitioned` did.

    Attributes
    ----------
    out_dir : Path
        The results folder (``results/scenario=<id>/part=<k>.parquet``).
    scenario_ids : list of str
    tasks, skipped : int
        Tasks submitted, and result files found complete and kept (resume).
    building_evaluations : int
        Buildings × scenarios evaluated (baseline excluded).
    wall_s : float
        Wall time of the sweep, s.
    task_s : list of float
        Worker seconds of each task that ran.
    totals : dict
        Per scenario id: ``heating_need_kwh`` and ``buildings`` summed over the tiles.
    """

    out_dir: Path
    scenario_ids: list[str]
    tasks: int
    skipped: int
    building_evaluations: int
    wall_s: float
    task_s: list[float] = field(default_factory=list)
    totals: dict[str, dict[str, float]] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _input_key(index: PartitionIndex, key: int, scenario: Scenario | None, halo_m: float) -> str:
    """What a result file depends on: the tile's files, its possible halo, the spec and the code."""
    spec = scenario.canonical_json() if scenario is not None else _BASELINE
    return json_hash(
        {
            "partitions": index.content_hash,
            "tile": key,
            "spec": spec,
            "halo_m": halo_m,
            "code": code_version(),
        }
    )


def _result_paths(out_dir: Path, sid: str, key: int) -> tuple[Path, Path]:
    folder = out_dir / "results" / f"scenario={sid}"
    return folder / f"part={key}.parquet", folder / f"part={key}.json"


def _complete(out_dir: Path, sid: str, key: int, input_key: str) -> dict[str, Any] | None:
    """The summary of a result file already written for these inputs, or None."""
    data_path, done_path = _result_paths(out_dir, sid, key)
    try:
        done = json.loads(done_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if done.get("input_key") != input_key or not data_path.is_file():
        return None
    if _sha256(data_path) != done.get("sha256"):
        return None
    return done


def _write_atomic_fsync(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` then fsync, then rename onto ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_result(table: pd.DataFrame, out_dir: str, sid: str, key: int, input_key: str, t0: float) -> dict:
    """Write one (scenario, tile) result file and its checksum record, each atomically with fsync."""
    table = pd.DataFrame(table.loc[:, list(RESULT_FILE_COLUMNS)]).reset_index(drop=True)
    data_path, done_path = _result_paths(Path(out_dir), sid, key)
    try:
        data_path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic_fsync(data_path, lambda tmp: table.to_parquet(tmp, index=False))
        summary = {
            "scenario": sid,
            "part": key,
            "input_key": input_key,
            "sha256": _sha256(data_path),
            "buildings": len(table),
            "heating_need_kwh": float(np.nansum(table["heating_need_kwh"].to_numpy())),
            "seconds": time.perf_counter() - t0,
        }

        def write_done(tmp: Path) -> None:
            tmp.write_text(json.dumps(summary, sort_keys=True), encoding="utf-8")

        _write_atomic_fsync(done_path, write_done)
    except OSError as err:
        raise StoreError(f"writing {data_path} failed: {err}") from err
    return summary


def _partition_task(
    root: str, key: int, scenario: Scenario | None, sid: str, out_dir: str, halo_m: float, input_key: str
) -> dict[str, Any]:
    """Model path: read a tile with its halo, apply the measures to it, run the energy balance, write."""
    from simulation.energy import run_energy

    t0 = time.perf_counter()
    tile = read_partition(root, key, halo_m=halo_m)
    model, core = tile.model, set(tile.core_ids.tolist())
    if scenario is not None:
        model, _ = _apply_energy_measures(scenario, model, core)
    res = run_energy(model, _sim(scenario) if scenario is not None else None)
    table = res.results[res.results["building_id"].isin(core).to_numpy()]
    return _write_result(table, out_dir, sid, key, input_key, t0)


def _prepare_task(root: str, key: int, halo_m: float, sim: dict[str, Any]) -> PreparedTile:
    """Array path, once per tile: read it with its halo and prepare its kernel inputs."""
    return prepare_tile(read_partition(root, key, halo_m=halo_m), sim)


def _variant_task(
    prep: PreparedTile, scenario: Scenario | None, sid: str, out_dir: str, input_key: str
) -> dict[str, Any]:
    """Array path, per (tile, scenario): edit the prepared arrays, run the kernels, write."""
    t0 = time.perf_counter()
    results, _ = variant_results(prep, scenario)
    return _write_result(results, out_dir, sid, prep.key, input_key, t0)


def energy_sweep_partitioned(
    partition_dir: str | Path,
    scenarios: Sequence[Scenario],
    out_dir: str | Path,
    client: Any = None,
    *,
    halo_m: float = DEFAULT_HALO_M,
    method: str = "arrays",
    progress: Progress | None = None,
) -> SweepSummary:
    """Energy of every (tile, scenario) of a partitioned model, one result file each; resumable.

    Writes ``out_dir/results/scenario=<id>/part=<k>.parquet`` (columns
    :data:`RESULT_FILE_COLUMNS`, the tile's own buildings) and beside it
    ``part=<k>.json`` (its SHA-256, the inputs' key and a small summary),
    each atomically (temporary file, fsync, rename).  ``scenario=baseline``
    holds the unchanged model.  Run again, it skips every file whose
    checksum and inputs match, so an interrupted sweep resumes where it
    stopped.  Without ``client`` the tasks run one after another here.

    Parameters
    ----------
    partition_dir
        Written by :func:`twin.partition.write_partitions`.
    scenarios
        Energy-only scenarios (:func:`partitionable`).
    out_dir
        Results folder (created).
    client
        A ``distributed.Client``, or None for this process.
    halo_m
        Halo of the tiles, m.
    method
        ``"arrays"`` (default): each tile is read and prepared once
        (:func:`prepare_tile`, one task per tile), then each scenario edits
        its arrays (:func:`variant_results`, one task per (tile, scenario),
        depending on the tile's task); ``"model"``: each (tile, scenario)
        task reads the tile, applies the measures to the model and runs
        :func:`simulation.energy.run_energy` (slower; the same numbers).
    progress
        ``progress(step, done, total)``.

    Returns
    -------
    SweepSummary

    Raises
    ------
    DistributedError
        A scenario that does not partition (mobility, soil, IFC buildings).
    PartitionError
        The partition folder is missing or damaged.
    """
    tick = progress or (lambda step, done, total: None)
    if method not in ("arrays", "model"):
        raise DistributedError(f"method must be 'arrays' or 'model', got {method!r}.")
    index = PartitionIndex.load(partition_dir)
    scenarios = list(scenarios)
    for s in scenarios:
        if not partitionable(s):
            raise DistributedError(
                f"scenario {s.name!r} asks for {s.domains()} or has non-energy measures: only energy "
                "scenarios run on partitions; use scenarios.sweep with the whole model for it."
            )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sids = [scenario_id(s) for s in scenarios]
    if len(set(sids)) != len(sids):
        raise DistributedError("two scenarios have the same name and spec: give them different names.")
    jobs: list[tuple[int, Scenario | None, str, str]] = []
    skipped: list[dict[str, Any]] = []
    for info in index.tiles:  # tile by tile: a tile's tasks run together and it leaves memory early
        for scn, sid in [(None, _BASELINE), *zip(scenarios, sids, strict=True)]:
            ikey = _input_key(index, info.key, scn, halo_m)
            done = _complete(out, sid, info.key, ikey)
            if done is not None:
                skipped.append(done)
            else:
                jobs.append((info.key, scn, sid, ikey))
    total = len(jobs)
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    root = str(index.root)
    tick("submitted", 0, total)

    def sim_of(scn: Scenario | None) -> dict[str, Any]:
        return _sim(scn) if scn is not None else {}

    if client is None:
        prepared: dict[tuple[int, str], PreparedTile] = {}
        for n_done, (key, scn, sid, ikey) in enumerate(jobs, start=1):
            if method == "model":
                results.append(_partition_task(root, key, scn, sid, str(out), halo_m, ikey))
            else:
                pkey = (key, json_hash(sim_of(scn)))
                if pkey not in prepared:
                    prepared.clear()  # jobs come tile by tile: keep one tile in memory
                    prepared[pkey] = _prepare_task(root, key, halo_m, sim_of(scn))
                results.append(_variant_task(prepared[pkey], scn, sid, str(out), ikey))
            tick(f"{sid} part {key}", n_done, total)
    else:
        from distributed import as_completed

        futures: dict[Any, tuple[int, str] | None] = {}
        preps: dict[tuple[int, str], Any] = {}
        waiting: dict[tuple[int, str], int] = {}
        for key, scn, sid, ikey in jobs:
            if method == "model":
                f = client.submit(_partition_task, root, key, scn, sid, str(out), halo_m, ikey, pure=False)
                futures[f] = None
                continue
            pkey = (key, json_hash(sim_of(scn)))
            if pkey not in preps:
                preps[pkey] = client.submit(_prepare_task, root, key, halo_m, sim_of(scn), pure=False)
            waiting[pkey] = waiting.get(pkey, 0) + 1
            futures[client.submit(_variant_task, preps[pkey], scn, sid, str(out), ikey, pure=False)] = pkey
        for n_done, (fut, value) in enumerate(as_completed(list(futures), with_results=True), start=1):
            if fut.status != "finished":
                raise DistributedError(f"a partition task was {fut.status}: {value!r}")
            results.append(value)
            tick(f"{value['scenario']} part {value['part']}", n_done, total)
            pkey = futures.pop(fut)
            fut.release()
            if pkey is not None:
                waiting[pkey] -= 1
                if waiting[pkey] == 0:  # every scenario of this tile is written: free its arrays
                    preps.pop(pkey).release()
    wall = time.perf_counter() - t0
    totals: dict[str, dict[str, float]] = {}
    for item in [*skipped, *results]:
        t = totals.setdefault(item["scenario"], {"heating_need_kwh": 0.0, "buildings": 0})
        t["buildings"] += item["buildings"]
    for sid in [_BASELINE, *sids]:
        parts = sorted((i for i in [*skipped, *results] if i["scenario"] == sid), key=lambda i: i["part"])
        totals[sid]["heating_need_kwh"] = float(math.fsum(i["heating_need_kwh"] for i in parts))
    evaluations = sum(r["buildings"] for r in results if r["scenario"] != _BASELINE)
    tick("done", total, total)
    return SweepSummary(
        out_dir=out,
        scenario_ids=sids,
        tasks=total,
        skipped=len(skipped),
        building_evaluations=evaluations,
        wall_s=wall,
        task_s=[r["seconds"] for r in results],
        totals=totals,
    )


# ------------------------------------------------------------------ array-level variants (the fast path)

#: Building columns the energy measures write, read back as overrides by the heat balance.
_MEASURE_OVERRIDES = (
    "air_change_inf_h",
    "air_change_vent_h",
    "heat_recovery_efficiency",
    "thermal_bridge_w_m2k",
)
_INSULATED_KINDS = {"insulate_walls": "wall", "insulate_roof": "roof", "insulate_floor": "floor"}


@dataclass
class PreparedTile:
    """A tile's buildings laid out once for the heat balance, so that each scenario only edits arrays.

    Measures edit the surfaces' U and g and the buildings' override columns;
    everything else that :func:`simulation.energy.prepare` derives (typology
    defaults, typology windows, exposed perimeters, b factors) does not
    depend on them and is computed here once per tile and parameter set.

    Attributes
    ----------
    key : int
        Tile number.
    model : CityModel
        The tile's buildings (core and halo; no surfaces), for selections and results.
    core : ndarray of bool
        Rows of ``model.buildings`` that belong to the tile.
    building_ids : ndarray of object
        ``building_id`` of ``model.buildings`` (as ``str``).
    arrays : EnergyArrays
        Baseline kernel inputs (of the tile with its envelope completed).
    defaults : DataFrame
        Typology defaults per building (overrides of the baseline included).
    overrides : dict of str → (N,) float
        Current override columns (NaN: not set).
    bidx : (S,) int64
        Building row of each completed surface, in table order.
    kind, boundary : (S,) str
    party, iso_floor, exterior, window : (S,) bool
        Party walls, EN ISO 13370 ground floors, exterior surfaces, windows.
    area_m2, u_w_m2k, g_value, azimuth_deg, tilt_deg, frame_fraction, shading_factor, b : (S,) float
        The completed surfaces; ``u_w_m2k`` is the construction U (before EN ISO 13370 for ground floors).
    """

    key: int
    model: CityModel
    core: np.ndarray
    building_ids: np.ndarray
    arrays: Any
    defaults: pd.DataFrame
    overrides: dict[str, np.ndarray]
    bidx: np.ndarray
    kind: np.ndarray
    boundary: np.ndarray
    party: np.ndarray
    iso_floor: np.ndarray
    exterior: np.ndarray
    window: np.ndarray
    area_m2: np.ndarray
    u_w_m2k: np.ndarray
    g_value: np.ndarray
    azimuth_deg: np.ndarray
    tilt_deg: np.ndarray
    frame_fraction: np.ndarray
    shading_factor: np.ndarray
    b: np.ndarray

    @property
    def id_index(self) -> pd.Index:
        """``building_ids`` as an index (hash look-ups)."""
        return pd.Index(self.building_ids, dtype=object)

    @property
    def id_set(self) -> set[str]:
        """``building_ids`` as a set."""
        return set(self.building_ids.tolist())


def prepare_tile(tile: Tile, sim: dict[str, Any] | None = None) -> PreparedTile:
    """Complete a tile's envelope from the typology and prepare its kernel inputs once."""
    from simulation.energy import building_defaults, fill_envelope, prepare
    from simulation.energy.prepare import _params

    params = _params(sim or None)
    filled = fill_envelope(tile.model, params)
    arrays = prepare(filled, params)
    b_rows = filled.buildings
    s = filled.surfaces
    s = s[s["building_id"].isin(set(b_rows["building_id"])).to_numpy()].reset_index(drop=True)
    bidx = pd.Index(b_rows["building_id"]).get_indexer(s["building_id"]).astype(np.int64)
    order = np.argsort(bidx, kind="stable")
    b_table = np.empty(len(s))
    b_table[order] = arrays.b  # the b factors prepare() derived, back in table order

    def opt(col: str) -> np.ndarray:
        if col in s.columns:
            return pd.to_numeric(s[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return np.full(len(s), np.nan)

    overrides = {}
    for col in _MEASURE_OVERRIDES:
        overrides[col] = (
            pd.to_numeric(b_rows[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            if col in b_rows.columns
            else np.full(len(b_rows), np.nan)
        )
    light = CityModel(buildings=b_rows, crs=tile.model.crs, name=tile.model.name)
    kind = s["kind"].astype(str).to_numpy().astype(object)
    boundary = s["boundary"].astype(str).to_numpy().astype(object)
    return PreparedTile(
        key=tile.key,
        model=light,
        core=tile.core_mask,
        building_ids=np.asarray(b_rows["building_id"].astype(str).tolist(), dtype=object),
        arrays=arrays,
        defaults=building_defaults(b_rows, params),
        overrides=overrides,
        bidx=bidx,
        kind=kind,
        boundary=boundary,
        party=boundary == "party",
        iso_floor=(boundary == "ground") & (kind == "floor") & (params.ground_method == "iso13370"),
        exterior=boundary == "exterior",
        window=kind == "window",
        area_m2=s["area_m2"].to_numpy(dtype=np.float64),
        u_w_m2k=s["u_w_m2k"].to_numpy(dtype=np.float64, na_value=np.nan),
        g_value=s["g_value"].to_numpy(dtype=np.float64, na_value=np.nan),
        azimuth_deg=s["azimuth_deg"].to_numpy(dtype=np.float64, na_value=np.nan),
        tilt_deg=s["tilt_deg"].to_numpy(dtype=np.float64, na_value=np.nan),
        frame_fraction=opt("frame_fraction"),
        shading_factor=opt("shading_factor"),
        b=b_table,
    )


def _set_override(current: np.ndarray, hit: np.ndarray, value: float) -> None:
    """As the measures write a building column: only where it is not already (close to) ``value``."""
    diff = hit & ~np.isclose(np.nan_to_num(current, nan=-1.0), value)
    current[diff] = value


def variant_results(prep: PreparedTile, scenario: Scenario | None) -> tuple[Any, list[int]]:
    """Energy results of a prepared tile under ``scenario``'s energy measures (None: the baseline).

    The measures act as :mod:`simulation.measures_energy` defines them
    (``U = min(U, U_target)`` or ``1/(1/U + d/λ)`` where that lowers U, party
    walls untouched; windows replaced unless already equal within
    ``numpy.isclose``; override columns written where not already equal;
    airtightness only lowering), on arrays instead of tables; selections are
    resolved with :func:`scenarios.apply.resolve_selection` on the tile's
    buildings.  The per-building results are those of applying the measures
    to the model and running :func:`simulation.energy.run_energy` (tested).

    Returns
    -------
    results : GeoDataFrame
        :func:`simulation.energy.collect` rows of the tile's own buildings
        (``energy_provenance`` is the baseline's).
    counts : list of int
        Per measure, the tile's own buildings selected.
    """
    from kernels.energy import ground_floor_u
    from simulation.energy import collect, compute
    from simulation.energy.prepare import R_SE, R_SI_FLOOR, surface_arrays

    a = prep.arrays
    params = a.params
    n = len(prep.core)
    u = prep.u_w_m2k.copy()
    g = prep.g_value.copy()
    ovr = {k: v.copy() for k, v in prep.overrides.items()}
    counts: list[int] = []
    if scenario is not None:
        scn = _restrict_ids(scenario, prep.id_set)
        for k, m in enumerate(scn.measures.energy):
            try:
                ids = resolve_selection(scn, prep.model, m.selection)
            except TwinError as err:
                raise type(err)(f"measures.energy[{k}]: {err}") from None
            sel = prep.id_index.isin(ids)  # hashing; np.isin on strings sorts them
            counts.append(int((sel & prep.core).sum()))
            on = sel[prep.bidx]
            if m.measure in _INSULATED_KINDS:
                hit = on & (prep.kind == _INSULATED_KINDS[m.measure]) & ~prep.party
                if m.target_u_w_m2k is not None:
                    u_new = np.minimum(u, m.target_u_w_m2k)
                else:
                    with np.errstate(divide="ignore"):
                        u_new = 1.0 / (1.0 / u + m.thickness_m / m.conductivity_w_mk)
                changed = hit & (u_new < u)
                u[changed] = u_new[changed]
                if m.thermal_bridge_w_m2k is not None:
                    _set_override(ovr["thermal_bridge_w_m2k"], sel, m.thermal_bridge_w_m2k)
            elif m.measure == "replace_windows":
                hit = on & prep.window
                changed = hit & ~(np.isclose(u, m.u_w_m2k) & np.isclose(g, m.g_value))
                u[changed] = m.u_w_m2k
                g[changed] = m.g_value
            elif m.measure == "install_mvhr":
                _set_override(ovr["heat_recovery_efficiency"], sel, float(m.heat_recovery_efficiency))
                if m.air_change_vent_h is not None:
                    _set_override(ovr["air_change_vent_h"], sel, float(m.air_change_vent_h))
            elif m.measure == "improve_airtightness":
                target = float(m.air_change_inf_h if m.air_change_inf_h is not None else m.n50_h / 20.0)
                given = np.isfinite(ovr["air_change_inf_h"])
                current = np.where(
                    given, ovr["air_change_inf_h"], prep.defaults["air_change_inf_h"].to_numpy()
                )
                _set_override(ovr["air_change_inf_h"], sel & (current > target), target)
            else:  # pragma: no cover - the scenario schema lists every measure
                raise DistributedError(f"measures.energy[{k}]: no array form for measure {m.measure!r}")

    # EN ISO 13370 ground floors from the (possibly insulated) floor construction, as prepare() does
    iso_floor = prep.iso_floor
    bidx = prep.bidx
    area = prep.area_m2
    a_g = np.bincount(bidx[iso_floor], weights=area[iso_floor], minlength=n)
    ua_g = np.bincount(bidx[iso_floor], weights=(u * area)[iso_floor], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        u_floor = np.where(a_g > 0, ua_g / np.where(a_g > 0, a_g, 1.0), np.nan)
        r_f = np.where(u_floor > 0, 1.0 / u_floor - R_SI_FLOOR - R_SE, 1e12)
    r_f = np.clip(np.nan_to_num(r_f, nan=0.0), 0.0, None)
    u_g = np.zeros(n)
    perimeter = a.info["exposed_perimeter_m"].to_numpy(dtype=np.float64)
    ground_floor_u(
        np.ascontiguousarray(a_g),
        np.ascontiguousarray(perimeter),
        np.full(n, params.wall_thickness_m),
        np.ascontiguousarray(r_f),
        params.ground_lambda_w_mk,
        R_SI_FLOOR,
        R_SE,
        u_g,
    )
    u_eff = u.copy()
    u_eff[iso_floor] = u_g[bidx[iso_floor]]
    sa = surface_arrays(
        bidx,
        n,
        kind=prep.kind,
        area=area,
        u=u_eff,
        b=prep.b,
        azimuth_deg=prep.azimuth_deg,
        tilt_deg=prep.tilt_deg,
        g_value=g,
        exterior_window=prep.exterior,
        frame_fraction=prep.frame_fraction,
        shading_factor=prep.shading_factor,
        params=params,
    )

    def building_value(col: str) -> np.ndarray:
        given = np.isfinite(ovr[col])
        return np.ascontiguousarray(np.where(given, ovr[col], prep.defaults[col].to_numpy(np.float64)))

    info = a.info.copy()
    info["u_ground_w_m2k"] = np.where(a_g > 0, u_g, np.nan)
    arrays = type(a)(
        building_id=a.building_id,
        offsets=sa["offsets"],
        kind=sa["kind"],
        area=sa["area"],
        u=sa["u"],
        b=sa["b"],
        orient=sa["orient"],
        sol_factor=sa["sol_factor"],
        thermal_bridge=building_value("thermal_bridge_w_m2k"),
        v_air=a.v_air,
        n_inf=building_value("air_change_inf_h"),
        n_vent=building_value("air_change_vent_h"),
        eta_hr=building_value("heat_recovery_efficiency"),
        floor_area=a.floor_area,
        phi_int=a.phi_int,
        c_m=a.c_m,
        theta_int=a.theta_int,
        climate=a.climate,
        rho_c_air=a.rho_c_air,
        a_h0=a.a_h0,
        tau_h0=a.tau_h0,
        info=info,
        params=params,
    )
    results, _ = collect(prep.model, arrays, compute(arrays))
    return results[prep.core].reset_index(drop=True), counts
