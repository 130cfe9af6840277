"""Benchmark: a 3D storm on the sample district's soil, numba Picard–PCG against a scipy anchor.

The soil model of the generated district (400 buildings, seed 0; 5 m × 5 m × 0.1 m cells,
default 100 × 100 × 50 = 500,000 cells, Brussels default horizons, sealing from footprints and
lane-buffered links) receives the 10-year 24-hour Uccle design storm (55 mm in 24 h, block).
Each side runs in a fresh process so that its peak memory is its own:

* **ours**: :func:`simulation.soil.run_model_storm` for the whole day (adaptive steps,
  kernel :mod:`kernels.richards`: fused constitutive laws, lazy property updates, matrix-free
  z-line (vertical Thomas) block-Jacobi PCG in numba, parallel over rows of cells with
  deterministic per-row partial sums; ``cg_rtol = 1e-6``, the storm default).  The first call of
  the kernel (JIT compile or cache load) is timed separately on a 4³ problem.  Threads:
  ``NUMBA_NUM_THREADS`` (default: all cores).
* **fixed steps**: ours and the anchor each advance ``--steps`` steps of ``--dt`` seconds from the
  same initial state at the start of the storm; the anchor is the straightforward
  ``scipy.sparse`` implementation of the same discretisation (NumPy assembly, CSR matrix,
  unpreconditioned ``scipy.sparse.linalg.cg``; ``tests/test_soil_reference.py``).  The ratio is
  the anchor's time per step over ours; the max head difference checks they solve the same thing.
  Both use ``cg_rtol = 1e-10``; ours runs :func:`kernels.richards.picard_step` (no lazy updates).

Prints cells × steps per second, Picard and Krylov iterations per step, peak RSS and the ratio; the
last line is one JSON object.  Run: ``python benchmarks/soil.py [--shape 50 100 100] [--steps 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _soil(shape):
    import geopandas as gpd

    from data import generate_district
    from simulation.soil import build_soil_model
    from twin.model import CityModel

    d = generate_district(400, seed=0)
    b = gpd.GeoDataFrame(
        {"building_id": [str(x) for x in d.building_ids], "ground_z_m": d.ground_z_m},
        geometry=list(d.footprints),
        crs=31370,
    )
    links = gpd.GeoDataFrame(
        d.streets.links.drop(columns="geometry", errors="ignore"),
        geometry=list(d.streets.geometry),
        crs=31370,
    )
    m = CityModel(buildings=b, links=links)
    nz, ny, nx = shape
    dx = dy = 5.0
    x0, y0, x1, y1 = b.total_bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bounds = (cx - nx * dx / 2, cy - ny * dy / 2, cx + nx * dx / 2, cy + ny * dy / 2)
    return m, build_soil_model(m, bounds=bounds, spacing_m=(dx, dy, 0.1), depth_m=nz * 0.1)


def child(mode: str, shape, steps: int, dt: float) -> dict:
    import numba
    import numpy as np

    from kernels.richards import STAT_FIELDS, picard_step
    from simulation.soil import SolverOptions, prepare_storm, run_model_storm, uccle_design_storm
    from tests.test_soil_reference import props_multi, reference_step

    out: dict = {}
    m, soil = _soil(shape)
    ncell = int(np.prod(soil.shape))
    out["cells"] = ncell
    out["sealed_fraction"] = soil.sealed_fraction
    times, rates, duration = uccle_design_storm("uccle_24h_10y")
    prob = prepare_storm(soil, times, rates)
    z = prob.z
    ss = 1e-6
    h_n = prob.h0.copy()
    th_n = props_multi(h_n, prob.mat, prob.params, ss)[0]
    rain = float(rates[0])
    opts = dict(eps_h=1e-5, eps_theta=1e-6, max_picard=25)
    if mode == "ours":
        # first call (compile or cache load) on a tiny problem
        t0 = time.perf_counter()
        tiny = np.full((4, 4, 4), -1.0)
        picard_step(
            tiny,
            props_multi(tiny, np.zeros((4, 4, 4), np.int32), prob.params, ss)[0],
            tiny.copy(),
            np.zeros((4, 4, 4)),
            np.zeros((4, 4, 4), np.int32),
            prob.params,
            ss,
            z[:4],
            1.0,
            1.0,
            1.0,
            1.0,
            np.full((4, 4), 2, np.int8),
            np.zeros((4, 4)),
            1e-6,
            0.0,
            np.zeros((4, 4), np.int8),
            1,
            0.0,
            0,
            0.0,
            0,
            1e-5,
            1e-6,
            25,
            1e-10,
            1000,
            np.zeros((4, 4)),
            np.zeros(len(STAT_FIELDS)),
        )
        out["first_call_s"] = time.perf_counter() - t0
        # fixed steps
        h = h_n.copy()
        th = th_n.copy()
        pic = kry = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            hn, thn = h.copy(), th.copy()
            st = np.zeros(len(STAT_FIELDS))
            picard_step(
                hn,
                thn,
                h,
                th,
                prob.mat,
                prob.params,
                ss,
                z,
                prob.dx,
                prob.dy,
                prob.dz,
                dt,
                prob.top_type,
                prob.top_head,
                rain,
                0.0,
                np.zeros(prob.top_type.shape, np.int8),
                1,
                0.0,
                0,
                0.0,
                0,
                opts["eps_h"],
                opts["eps_theta"],
                opts["max_picard"],
                1e-10,
                20000,
                np.zeros(prob.top_type.shape),
                st,
            )
            assert st[0] == 1.0
            pic += int(st[1])
            kry += int(st[2])
        out["fixed"] = {
            "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            "picard": pic,
            "krylov": kry,
        }
        np.save(ROOT / "benchmarks" / ".soil_fixed_ours.npy", h)
        # the whole day
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_model_storm(
            m,
            soil=soil,
            storm="uccle_24h_10y",
            options=SolverOptions(
                dt_initial_s=10.0, dt_max_s=900.0, eps_h_m=1e-5, eps_theta=1e-6, cg_rtol=1e-6
            ),
        )
        out["day"] = {
            "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            **res["solver"],
            **res["totals"],
        }
    else:
        h = h_n.copy()
        pic = kry = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            h, ok, p, k = reference_step(
                h,
                prob.mat,
                prob.params,
                ss,
                z,
                prob.dx,
                prob.dy,
                prob.dz,
                dt,
                prob.top_type,
                prob.top_head,
                rain,
                1,
                0.0,
                eps_h=opts["eps_h"],
                eps_theta=opts["eps_theta"],
                max_picard=opts["max_picard"],
                solver="cg",
                rtol=1e-10,
            )
            assert ok
            pic += p
            kry += k
        out["fixed"] = {
            "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            "picard": pic,
            "krylov": kry,
        }
        ours = np.load(ROOT / "benchmarks" / ".soil_fixed_ours.npy")
        out["max_head_diff_m"] = float(np.abs(ours - h).max())
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["threads"] = numba.get_num_threads()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs=3, default=[50, 100, 100], metavar=("NZ", "NY", "NX"))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--dt", type=float, default=300.0)
    ap.add_argument("--child", choices=["ours", "anchor"])
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, tuple(a.shape), a.steps, a.dt)))
        return
    res = {}
    load0 = os.getloadavg()[0]
    for mode in ("ours", "anchor"):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--shape",
            *map(str, a.shape),
            "--steps",
            str(a.steps),
            "--dt",
            str(a.dt),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        res[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    (ROOT / "benchmarks" / ".soil_fixed_ours.npy").unlink(missing_ok=True)
    load1 = os.getloadavg()[0]
    o, r = res["ours"], res["anchor"]
    n = o["cells"]
    day = o["day"]
    print(
        f"grid {a.shape[0]}×{a.shape[1]}×{a.shape[2]} = {n:,} cells, "
        f"{100 * o['sealed_fraction']:.0f} % sealed; storm uccle_24h_10y (55 mm / 24 h)"
    )
    print(
        f"first kernel call (compile or cache load): {o['first_call_s']:.2f} s; {o['threads']} numba threads"
    )
    print(
        f"ours, whole day: {day['wall_s']:.1f} s wall, {day['cpu_s']:.1f} s CPU, {int(day['steps'])} steps "
        f"({int(day['rejected_steps'])} rejected), {n * day['steps'] / day['wall_s']:,.0f} cell-steps/s, "
        f"Picard/step {day['picard_iterations'] / day['steps']:.2f}, "
        f"Krylov/step {day['krylov_iterations'] / day['steps']:.1f}, "
        f"mass-balance error {day['mass_balance_error']:.1e}, peak RSS {o['peak_rss_mb']:.0f} MB"
    )
    print(
        f"  rain {day['rain_m3']:.0f} m³, infiltrated {day['infiltrated_m3']:.0f} m³, "
        f"runoff {day['runoff_m3']:.0f} m³, recharge {day['recharge_m3']:.1f} m³"
    )
    fo, fr = o["fixed"], r["fixed"]
    rows = [
        ("ours (numba z-line PCG)", fo, o["peak_rss_mb"]),
        ("anchor (scipy CSR + CG)", fr, r["peak_rss_mb"]),
    ]
    print(f"{a.steps} fixed steps of {a.dt:g} s:")
    print("| side | wall s | CPU s | cell-steps/s | Picard/step | Krylov/step | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, f, rss in rows:
        print(
            f"| {name} | {f['wall_s']:.2f} | {f['cpu_s']:.2f} | {n * a.steps / f['wall_s']:,.0f} | "
            f"{f['picard'] / a.steps:.2f} | {f['krylov'] / a.steps:.1f} | {rss:.0f} |"
        )
    ratio = fr["wall_s"] / fo["wall_s"]
    print(
        f"anchor / ours (time per step): {ratio:.1f}×; max |h_ours − h_anchor| = {r['max_head_diff_m']:.2e} m"
    )
    print(
        json.dumps(
            {
                "benchmark": "soil",
                "cells": n,
                "day_steps": int(day["steps"]),
                "day_wall_s": round(day["wall_s"], 2),
                "day_cpu_s": round(day["cpu_s"], 2),
                "threads": o["threads"],
                "day_cell_steps_per_s": round(n * day["steps"] / day["wall_s"]),
                "day_picard_per_step": round(day["picard_iterations"] / day["steps"], 2),
                "day_krylov_per_step": round(day["krylov_iterations"] / day["steps"], 1),
                "day_mass_balance_error": day["mass_balance_error"],
                "peak_rss_mb": round(o["peak_rss_mb"], 1),
                "fixed_cell_steps_per_s": round(n * a.steps / fo["wall_s"]),
                "anchor_cell_steps_per_s": round(n * a.steps / fr["wall_s"]),
                "anchor_peak_rss_mb": round(r["peak_rss_mb"], 1),
                "ratio_vs_anchor": round(ratio, 2),
                "max_head_diff_m": r["max_head_diff_m"],
                "first_call_s": round(o["first_call_s"], 2),
                "load_avg_1min": [round(load0, 2), round(load1, 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
