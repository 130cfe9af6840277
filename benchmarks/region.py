"""Benchmark: a Region-sized energy sweep, one process against a 2-worker Dask LocalCluster.

A generated region of ``--buildings`` buildings (default 200 000: copies of one
generated district of at most 20 000 buildings, side by side, 200 m apart,
ids prefixed per copy; party walls found once per copy) is written as
partitioned GeoParquet (:func:`twin.partition.write_partitions`, tiles of
``--tile`` buildings) into ``--workdir`` (kept and reused when it already
holds this region).  Then ``--scenarios`` renovation scenarios (default 20:
walls, roofs, floors, windows, ventilation with heat recovery and
airtightness on different selections) run, baseline included, through
:func:`scenarios.distributed.energy_sweep_partitioned` — each task reads its
tile with its halo from disk and writes its result file atomically, so I/O
is inside the timed sweep:

* **single**: every task in this process (``client=None``);
* **dask**: the same tasks on a ``LocalCluster`` of ``--workers`` processes ×
  1 thread (``NUMBA_NUM_THREADS=1``), cluster start timed apart.

Both must write identical files (checked by SHA-256).  Prints wall times,
building-scenario evaluations per second, peak memory of this process and
of each worker (``ru_maxrss``, ``VmHWM``), CPU seconds (this process, each worker: on a busy
machine, CPU seconds show what an idle one would do), and the Dask overhead per task
(``(workers × dask wall − single wall) / tasks``: scheduling, transfers and
idle time, as extra worker-seconds per task).  The last line is one JSON
object ``{"benchmark": "region", ...}``.  Goal (issue #10): the whole sweep,
4 000 000 building-scenario evaluations with I/O, in under 60 s on 2 cores.

Run: ``python benchmarks/region.py [--buildings 200000] [--scenarios 20] [--workers 2]
[--tile 25000] [--workdir /tmp/twin-region]``; quick: ``--buildings 20000 --scenarios 4``.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from scenarios import Scenario
from scenarios.distributed import close_client, energy_sweep_partitioned, make_client
from twin.model import CityModel
from twin.partition import PartitionIndex, write_partitions

_COPY_MAX = 20_000
_GAP_M = 200.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 if sys.platform != "darwin" else 0.0


def _district(n: int, folder: Path) -> CityModel:
    from bim_ingest.cityjson import read_cityjson
    from data import generate_district, write_district

    files = write_district(generate_district(n, seed=0), folder)
    return read_cityjson(files["cityjson"]).with_party_walls()


def _shift(geoms: np.ndarray, dx_m: float) -> np.ndarray:
    has_z = bool(shapely.has_z(geoms).any())
    coords = shapely.get_coordinates(geoms, include_z=has_z)
    coords[:, 0] += dx_m
    return shapely.set_coordinates(geoms.copy(), coords)


def make_region(n_buildings: int, folder: Path) -> CityModel:
    """``ceil(n / 20 000)`` copies of one generated district side by side (ids prefixed ``Rcc-``)."""
    copies = max(1, math.ceil(n_buildings / _COPY_MAX))
    per_copy = math.ceil(n_buildings / copies)
    base = _district(per_copy, folder)
    b0, s0 = base.buildings, base.surfaces
    width = float(b0.total_bounds[2] - b0.total_bounds[0]) + _GAP_M
    bs, ss = [], []
    for c in range(copies):
        prefix = f"R{c:02d}-"
        b = b0.copy()
        b["building_id"] = prefix + b0["building_id"].astype(str)
        b["geometry"] = gpd.GeoSeries(_shift(b0.geometry.to_numpy(), c * width), crs=b0.crs)
        s = s0.copy()
        s["building_id"] = prefix + s0["building_id"].astype(str)
        s["surface_id"] = prefix + s0["surface_id"].astype(str)
        nb = s0["neighbour_id"].astype(str)
        s["neighbour_id"] = np.where(nb != "", prefix + nb, "")
        s["geometry"] = gpd.GeoSeries(_shift(s0.geometry.to_numpy(), c * width), crs=s0.crs)
        bs.append(b)
        ss.append(s)
    return CityModel(
        buildings=gpd.GeoDataFrame(pd.concat(bs, ignore_index=True), geometry="geometry", crs=b0.crs),
        surfaces=gpd.GeoDataFrame(pd.concat(ss, ignore_index=True), geometry="geometry", crs=s0.crs),
        crs=b0.crs,
        name=f"generated region of {copies} × {per_copy} buildings",
    )


def renovation_scenarios(k: int) -> list[Scenario]:
    """``k`` renovation programmes: measure packages × construction-year cut-offs × typologies."""
    packages = [
        [{"measure": "insulate_walls", "target_u_w_m2k": 0.24}],
        [{"measure": "insulate_roof", "target_u_w_m2k": 0.2}],
        [{"measure": "insulate_walls", "thickness_m": 0.12, "conductivity_w_mk": 0.032}],
        [{"measure": "replace_windows", "u_w_m2k": 1.1, "g_value": 0.5}],
        [{"measure": "insulate_floor", "thickness_m": 0.08, "conductivity_w_mk": 0.035}],
        [
            {"measure": "install_mvhr", "heat_recovery_efficiency": 0.85},
            {"measure": "improve_airtightness", "n50_h": 3.0},
        ],
        [
            {"measure": "insulate_walls", "target_u_w_m2k": 0.24, "thermal_bridge_w_m2k": 0.05},
            {"measure": "insulate_roof", "target_u_w_m2k": 0.2},
            {"measure": "replace_windows", "u_w_m2k": 0.9, "g_value": 0.5},
        ],
    ]
    cutoffs = [1918, 1945, 1970, 1990]
    typologies = [None, ["terraced"], ["apartment", "corner"]]
    out = []
    for j in range(k):
        pkg = packages[j % len(packages)]
        year = cutoffs[(j // len(packages)) % len(cutoffs)]
        typ = typologies[(j // 2) % len(typologies)]
        sel: dict = {"year_max": year}
        if typ:
            sel["typology"] = typ
        measures = [{**m, "selection": "target"} for m in pkg]
        out.append(
            Scenario.from_dict(
                {
                    "name": f"programme-{j:02d}",
                    "selections": {"target": sel},
                    "measures": {"energy": measures},
                    "simulations": {"energy": {}},
                }
            )
        )
    return out


def _region_partitions(args: argparse.Namespace) -> tuple[PartitionIndex, float]:
    root = Path(args.workdir) / f"region-{args.buildings}-tile{args.tile}"
    if (root / "index.json").is_file():
        index = PartitionIndex.load(root)
        if index.n_buildings >= args.buildings:
            print(f"region: reusing {root} ({index.n_buildings} buildings, {len(index.tiles)} tiles)")
            return index, 0.0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        region = make_region(args.buildings, Path(tmp))
    t1 = time.perf_counter()
    root.parent.mkdir(parents=True, exist_ok=True)
    index = write_partitions(region, root, target_buildings=args.tile)
    t2 = time.perf_counter()
    print(
        f"region: {len(region.buildings)} buildings, {len(region.surfaces)} surfaces generated in "
        f"{t1 - t0:.1f} s; {len(index.tiles)} tiles written in {t2 - t1:.1f} s"
    )
    return index, t2 - t0


def _file_hashes(out: Path) -> dict[str, str]:
    hashes = {}
    for done in sorted((out / "results").glob("scenario=*/part=*.json")):
        hashes[f"{done.parent.name}/{done.stem}"] = json.loads(done.read_text())["sha256"]
    return hashes


def _worker_peak_rss_mb() -> float:
    """Peak resident memory of this process (``VmHWM``; ``ru_maxrss`` would include the parent's, as
    Linux keeps it across fork and exec)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=200_000)
    parser.add_argument("--scenarios", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tile", type=int, default=25_000, help="buildings per tile")
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "twin-region"))
    parser.add_argument("--skip-single", action="store_true", help="only the Dask run")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    index, setup_s = _region_partitions(args)
    specs = renovation_scenarios(args.scenarios)
    n = index.n_buildings
    runs_dir = Path(args.workdir) / "runs"
    shutil.rmtree(runs_dir, ignore_errors=True)
    report: dict = {
        "benchmark": "region",
        "buildings": n,
        "scenarios": len(specs),
        "tiles": len(index.tiles),
        "workers": args.workers,
        "evaluations": n * len(specs),
        "region_setup_s": round(setup_s, 1),
    }

    single = None
    if not args.skip_single:
        t0, c0 = time.perf_counter(), time.process_time()
        single = energy_sweep_partitioned(index.root, specs, runs_dir / "single")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        report |= {
            "single_wall_s": round(wall, 2),
            "single_cpu_s": round(cpu, 2),
            "single_evaluations_per_s": round(single.building_evaluations / wall),
            "single_peak_rss_mb": round(_peak_rss_mb(), 1),
        }
        print(f"single process: {wall:.1f} s, {single.building_evaluations / wall:,.0f} building-scenarios/s")

    t0 = time.perf_counter()
    client = make_client("local", workers=args.workers)
    start_s = time.perf_counter() - t0
    try:
        cpu0 = client.run(time.process_time)
        t0 = time.perf_counter()
        dask_run = energy_sweep_partitioned(index.root, specs, runs_dir / "dask", client=client)
        wall = time.perf_counter() - t0
        cpu1 = client.run(time.process_time)
        worker_rss = client.run(_worker_peak_rss_mb)
    finally:
        close_client(client)
    report |= {
        "cluster_start_s": round(start_s, 2),
        "dask_wall_s": round(wall, 2),
        "dask_evaluations_per_s": round(dask_run.building_evaluations / wall),
        "tasks": dask_run.tasks + len(index.tiles),
        "worker_peak_rss_mb": sorted(round(v, 1) for v in worker_rss.values()),
        "worker_cpu_s": sorted(round(cpu1[w] - cpu0.get(w, 0.0), 1) for w in cpu1),
        "goal_60s_met": bool(wall < 60.0),
    }
    print(
        f"dask, {args.workers} workers: {wall:.1f} s (+{start_s:.1f} s cluster start), "
        f"{dask_run.building_evaluations / wall:,.0f} building-scenarios/s, "
        f"worker peak RSS {report['worker_peak_rss_mb']} MB, worker CPU {report['worker_cpu_s']} s"
    )
    if single is not None:
        overhead = (args.workers * wall - report["single_wall_s"]) / report["tasks"]
        identical = _file_hashes(runs_dir / "single") == _file_hashes(runs_dir / "dask")
        report |= {
            "speedup": round(report["single_wall_s"] / wall, 2),
            "dask_overhead_ms_per_task": round(1000 * overhead, 1),
            "identical_results": identical,
        }
        print(f"speed-up {report['speedup']}×, identical result files: {identical}")
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
