"""Running a scenario: baseline and variant, the diff, and the run record.

:func:`run` loads nothing itself: it takes the scenario and the base model,
applies the measures to a copy (:mod:`scenarios.apply`), runs the requested
simulations on baseline (cached by content hash) and variant, diffs them
(:mod:`scenarios.simulate`) and returns a :class:`Run`.  The run is
identified by a **run hash** over the canonical spec, the base model's
content hash, the hashes of the files it reads (IFC) and the code version,
so the same spec and inputs give the same hash; the **results hash** over the
result tables and totals lets anyone check that a rerun gave identical
numbers.  :meth:`Run.save` writes a run folder atomically; :func:`load_run`
reads it back.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio

from scenarios.apply import apply_scenario, variant_soil
from scenarios.hashing import json_hash, model_hash, table_hash
from scenarios.simulate import (
    ResultCache,
    diff_energy,
    diff_mobility,
    diff_soil,
    run_energy_outputs,
    run_mobility_outputs,
    run_soil_outputs,
)
from scenarios.spec import Scenario
from twin.errors import StoreError, TwinError
from twin.model import CityModel

__all__ = [
    "RECORD_FORMAT",
    "Run",
    "assemble_run",
    "code_version",
    "load_base_model",
    "load_run",
    "run",
    "slug",
    "sweep",
]

#: Format marker of ``run.json``.
RECORD_FORMAT = "brussels-twin-run/1"
Progress = Callable[[str, int, int], None]

_GEO_FILES = {
    "energy": "energy.gpkg",
    "mobility_links": "mobility_links.gpkg",
    "accessibility": "accessibility.gpkg",
}
_CSV_FILES = {"soil_columns": "soil_columns.csv"}
_DEFAULT_CACHE = ResultCache()


def code_version() -> dict[str, str]:
    """Versions that decide the numbers: this package and the numerical libraries."""
    out = {}
    for dist in ("brussels-twin", "numpy", "numba", "scipy", "shapely", "pyproj", "ifcopenshell"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    out["python"] = platform.python_version()
    return out


@dataclass
class Run:
    """One scenario run: the record (JSON-able) and the result tables.

    Attributes
    ----------
    record : dict
        ``format``, ``run_id``, ``run_hash``, ``results_hash``, ``name``,
        ``spec``, ``inputs`` (model and file hashes), ``code_version``,
        ``applied`` (what each measure did), ``totals`` per domain,
        ``timings_s``, ``status``, ``created``.
    results : dict of str → DataFrame
        ``energy`` (per building), ``mobility_links`` (per link),
        ``accessibility`` (per building), ``soil_columns`` (per soil column),
        each with baseline, variant and ``d_`` columns, for the domains run.
    """

    record: dict[str, Any]
    results: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return str(self.record["run_id"])

    @property
    def run_hash(self) -> str:
        return str(self.record["run_hash"])

    @property
    def totals(self) -> dict[str, dict[str, float]]:
        """Totals per domain (variant minus baseline as ``d_*``)."""
        return self.record["totals"]

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {len(v)} rows" for k, v in self.results.items())
        return f"<Run {self.run_id} ({self.record['status']}; {parts})>"

    def summary_rows(self) -> list[tuple[str, str, float, float, float]]:
        """(domain, quantity, baseline, variant, change) for the headline totals."""
        rows = []
        for domain, totals in self.totals.items():
            for key, value in totals.items():
                if key.startswith("d_"):
                    name = key[2:]
                    base = totals.get(f"{name}_base", math.nan)
                    rows.append((domain, name, base, totals.get(f"{name}_variant", math.nan), value))
        return rows

    def save(self, out_dir: str | Path) -> Path:
        """Write the run folder ``out_dir/<run_id>/`` atomically and return its path.

        Files: ``run.json`` (the record), ``energy.gpkg``, ``mobility_links.gpkg``,
        ``accessibility.gpkg`` (open in QGIS), ``soil_columns.csv``, ``soil.json``
        (the soil totals) and ``diff_<table>.csv`` (the same tables without
        geometry), for the domains that ran.  The folder is written under a
        temporary name and renamed, so a reader never sees half a run.
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        final = out_dir / self.run_id
        tmp = out_dir / f".{self.run_id}.tmp-{os.getpid()}-{time.monotonic_ns()}"
        tmp.mkdir()
        try:
            for key, table in self.results.items():
                if key in _GEO_FILES:
                    pyogrio.write_dataframe(table, tmp / _GEO_FILES[key], layer=key, driver="GPKG")
                else:
                    table.to_csv(tmp / _CSV_FILES.get(key, f"{key}.csv"), index=False)
                plain = pd.DataFrame(table.drop(columns="geometry", errors="ignore"))
                plain.to_csv(tmp / f"diff_{key}.csv", index=False)
            if "soil" in self.totals:
                (tmp / "soil.json").write_text(json.dumps(self.totals["soil"], indent=2, sort_keys=True))
            with (tmp / "run.json").open("w", encoding="utf-8") as f:
                json.dump(_jsonable(self.record), f, indent=2, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            if final.exists():
                old = out_dir / f".{self.run_id}.old-{os.getpid()}-{time.monotonic_ns()}"
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value


def load_run(path: str | Path) -> Run:
    """Read a run folder written by :meth:`Run.save` (or its ``run.json``)."""
    path = Path(path)
    folder = path.parent if path.name == "run.json" else path
    record_path = folder / "run.json"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{folder}: not a run folder (no run.json)") from None
    except (OSError, json.JSONDecodeError) as err:
        raise StoreError(f"{record_path}: unreadable run record ({err})") from None
    if record.get("format") != RECORD_FORMAT:
        raise StoreError(f"{record_path}: not a twin run record (format {record.get('format')!r})")
    results: dict[str, pd.DataFrame] = {}
    for key, name in _GEO_FILES.items():
        if (folder / name).is_file():
            results[key] = pyogrio.read_dataframe(folder / name, layer=key)
    for key, name in _CSV_FILES.items():
        if (folder / name).is_file():
            results[key] = pd.read_csv(folder / name)
    return Run(record=record, results=results)


def slug(name: str) -> str:
    """A file-name-safe, lower-case form of a scenario name (at most 60 characters)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "scenario"


def _results_hash(results: dict[str, pd.DataFrame], totals: dict[str, Any]) -> str:
    parts = {k: table_hash(v) for k, v in sorted(results.items())}
    parts["totals"] = json_hash(_jsonable(totals))
    return json_hash(parts)


def run(
    scenario: Scenario,
    model: CityModel,
    *,
    cache_dir: str | Path | None = None,
    cache: ResultCache | None = None,
    progress: Progress | None = None,
) -> Run:
    """Run ``scenario`` against the base ``model`` (which is never modified).

    Parameters
    ----------
    scenario
        A validated :class:`~scenarios.Scenario`.
    model
        The base model (``scenario.base_model`` is only used by the CLI and
        :func:`scenarios.load_base_model` to find it).
    cache_dir
        Folder for cached baseline results (default: in memory, per process).
    cache
        A :class:`ResultCache` to share between runs (overrides ``cache_dir``).
    progress
        ``progress(step, done, total)`` callback.

    Returns
    -------
    Run

    Raises
    ------
    ScenarioValidationError, UnknownEntityError
        The scenario names ids the model does not have, or a measure's
        parameters are invalid; the message names the field.
    """
    tick = progress or (lambda step, done, total: None)
    store = cache or (ResultCache(cache_dir) if cache_dir else _DEFAULT_CACHE)
    domains = scenario.domains()
    total_steps = 1 + 2 * len(domains)
    timings: dict[str, float] = {}
    versions = code_version()
    base_hash = model_hash(model)

    tick("applying measures", 0, total_steps)
    t0 = time.perf_counter()
    applied = apply_scenario(scenario, model)
    variant = applied.model
    timings["apply"] = time.perf_counter() - t0
    inputs = {"base_model_hash": base_hash, "files": applied.input_files}

    results: dict[str, pd.DataFrame] = {}
    totals: dict[str, dict[str, float]] = {}
    log = list(applied.log)
    step = 1
    for domain in domains:
        sim = getattr(scenario.simulations, domain)
        t0 = time.perf_counter()
        tick(f"{domain}: baseline", step, total_steps)
        if domain == "soil":
            base_soil, var_soil, soil_log = variant_soil(scenario, model, variant, sim)
            log.extend(soil_log)
            key = store.key(base_hash, domain, sim.model_dump(mode="json"), versions)
            base_out = store.get(key)
            if base_out is None:
                base_out = run_soil_outputs(model, base_soil, sim)
                store.put(key, base_out)
            tick(f"{domain}: variant", step + 1, total_steps)
            var_out = run_soil_outputs(variant, var_soil, sim)
            table, tot = diff_soil(base_out, var_out)
            results["soil_columns"] = table
        else:
            runner = run_energy_outputs if domain == "energy" else run_mobility_outputs
            key = store.key(base_hash, domain, sim.model_dump(mode="json"), versions)
            base_out = store.get(key)
            if base_out is None:
                base_out = runner(model, sim)
                store.put(key, base_out)
            tick(f"{domain}: variant", step + 1, total_steps)
            var_out = runner(variant, sim)
            if domain == "energy":
                table, tot = diff_energy(base_out, var_out)
                results["energy"] = table
            else:
                tables, tot = diff_mobility(base_out, var_out, model.links)
                results.update(tables)
        totals[domain] = tot
        timings[domain] = time.perf_counter() - t0
        step += 2
    tick("done", total_steps, total_steps)

    return assemble_run(
        scenario,
        inputs=inputs,
        versions=versions,
        results=results,
        totals=totals,
        applied=log,
        timings=timings,
        variant_model_hash=model_hash(variant),
    )


def assemble_run(
    scenario: Scenario,
    *,
    inputs: dict[str, Any],
    versions: dict[str, str],
    results: dict[str, pd.DataFrame],
    totals: dict[str, dict[str, float]],
    applied: list[dict[str, Any]],
    timings: dict[str, float],
    variant_model_hash: str | None,
) -> Run:
    """A :class:`Run` and its record from the pieces of a run (shared by in-process and Dask runs).

    ``inputs`` holds ``base_model_hash`` and ``files`` (the hashes of files the
    spec reads); the run hash covers them with the canonical spec and
    ``versions``; ``variant_model_hash`` is recorded beside them (None when the
    variant was never assembled as one model, as in tiled runs).
    """
    run_hash = json_hash({"spec": scenario.canonical_json(), "inputs": inputs, "code": versions})
    record = {
        "format": RECORD_FORMAT,
        "run_id": f"{slug(scenario.name)}-{run_hash[:12]}",
        "run_hash": run_hash,
        "results_hash": _results_hash(results, totals),
        "name": scenario.name,
        "description": scenario.description,
        "spec": json.loads(scenario.canonical_json()),
        "inputs": {**inputs, "variant_model_hash": variant_model_hash},
        "code_version": versions,
        "applied": applied,
        "totals": _jsonable(totals),
        "timings_s": timings,
        "status": "done",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return Run(record=record, results=results)


def load_base_model(scenario: Scenario, model_path: str | Path | None = None) -> CityModel:
    """The base model of a scenario: ``model_path`` if given, else the scenario's ``base_model``."""
    if model_path is None:
        if scenario.base_model is None:
            raise TwinError("no base model: give --model MODEL.gpkg or set base_model in the scenario")
        model_path = scenario.resolve_path(scenario.base_model)
    return CityModel.load(model_path)


def sweep(
    scenarios: Sequence[Scenario],
    model: CityModel,
    *,
    cache_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    client: Any = None,
    progress: Progress | None = None,
) -> list[Run]:
    """Run many scenarios on one base model; the baseline of each domain is computed once.

    With a ``dask.distributed.Client`` the scenarios run as tasks on its
    cluster (see :mod:`scenarios.distributed`); otherwise one after another in
    this process.  With ``out_dir`` every run is also saved there.
    """
    if client is not None:
        from scenarios.distributed import sweep_on_dask

        return sweep_on_dask(scenarios, model, client=client, out_dir=out_dir, progress=progress)
    cache = ResultCache(cache_dir, max_items=64)
    runs = []
    for k, scenario in enumerate(scenarios):
        if progress:
            progress(f"scenario {scenario.name}", k, len(scenarios))
        r = run(scenario, model, cache=cache)
        if out_dir is not None:
            r.save(out_dir)
        runs.append(r)
    if progress:
        progress("done", len(scenarios), len(scenarios))
    return runs
