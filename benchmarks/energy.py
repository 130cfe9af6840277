"""Benchmark: the monthly heat-balance kernels on a Region-sized stock, against numpy and TEASER.

One run, side by side, on the same seeded arrays of ``--buildings`` buildings
(default 1 000 000, a Brussels-like mix: 70 % terraced houses, apartment
blocks, detached and semi-detached houses, offices, schools; construction
periods in the shares of the Brussels stock; about 9.5 surfaces per
building: ground floor, facades, windows per facade, roof planes, party
walls) × 12 months:

* **kernel**: :func:`kernels.energy.building_coefficients` +
  :func:`kernels.energy.monthly_heat_balance` (numba, parallel over
  buildings) — the first call, on a handful of buildings, is timed apart
  (JIT compilation with the cache off in a separate process, and loading the
  on-disk cache), then the best of three warm calls on the whole stock;
  once with every thread, once with one;
* **numpy**: a straightforward vectorised numpy implementation of the same
  equations (``np.bincount`` per building and kind, (N, 12) month arrays);
  its results must agree with the kernel's to 1e-9 relative;
* **TEASER** (if ``import teaser`` works): the per-building time of TEASER's
  Python part on a few terraced houses (archetype generation +
  ``calc_all_buildings``: RC parameters and static heat load) — the peer
  anchor for "how long does an urban-energy tool spend per building"; it is
  not the same computation (TEASER leaves the annual simulation to Modelica).

Each implementation runs in its own process so that its peak memory
(``ru_maxrss``, which includes Python, numpy and numba themselves) is its
own.  Prints buildings/s, ratios and peak memory; the last line is one JSON
object.  Goals (issue #4): ≥ 1 000 000 buildings/s on 2 cores, ≤ 2 GB peak
for 1 M buildings.

Run: ``python benchmarks/energy.py [--buildings 1000000] [--seed 0] [--teaser 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# slots of the surface template: 0 floor, 1-4 walls (front, back, left, right),
# 5-8 windows on those facades, 9-10 roof planes
_SLOTS = 11
_TYPES = ("terraced", "semi_detached", "detached", "apartment_block", "office_block", "school")
_TYPE_P = (0.70, 0.05, 0.05, 0.12, 0.05, 0.03)
# TABULA periods (<=1945 … >=2012) with the shares of the Brussels stock (data.district.PERIODS, regrouped)
_PERIOD_P = (0.55, 0.22, 0.11, 0.06, 0.03, 0.03)


def generate(n: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded kernel inputs for ``n`` buildings (CSR surfaces, per-building values, Uccle climate)."""
    from simulation.energy import typology_tables, uccle_climate

    rng = np.random.default_rng(seed)
    tab = typology_tables()
    per = tab.periods.reset_index()
    typ = rng.choice(len(_TYPES), size=n, p=_TYPE_P)
    period = rng.choice(len(per), size=n, p=_PERIOD_P)
    house = typ <= 2
    width = np.where(house, rng.uniform(5, 8, n), rng.uniform(12, 30, n))
    depth = np.where(house, rng.uniform(9, 14, n), rng.uniform(10, 20, n))
    storeys = np.where(house, rng.integers(2, 5, n), rng.integers(4, 9, n))
    height = 3.0 * storeys
    front_az = rng.uniform(0, 360, n)
    wwr = np.array([0.23, 0.20, 0.17, 0.25, 0.40, 0.30])[typ]

    exists = np.ones((n, _SLOTS), dtype=bool)
    party_left = typ <= 1  # terraced and semi-detached
    party_right = typ == 0
    exists[:, 7] = ~party_left  # no windows on party walls
    exists[:, 8] = ~party_right
    exists[:, 10] = house  # flat single roof on blocks
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(exists.sum(axis=1), out=offsets[1:])

    def take(values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(values[exists])

    kind = np.broadcast_to(np.array([2, 0, 0, 0, 0, 3, 3, 3, 3, 1, 1], dtype=np.int8), (n, _SLOTS))
    kind = take(kind)
    facade = np.column_stack([width, width, depth, depth]) * height[:, None]
    area = np.zeros((n, _SLOTS))
    area[:, 0] = width * depth
    area[:, 1:5] = facade * (1.0 - wwr[:, None])
    area[:, 5:9] = facade * wwr[:, None]
    area[:, 3] = np.where(party_left, facade[:, 2], area[:, 3])  # party walls carry no windows
    area[:, 4] = np.where(party_right, facade[:, 3], area[:, 4])
    roof = width * depth / np.where(house, np.cos(np.radians(35.0)), 1.0)
    area[:, 9] = np.where(house, 0.5 * roof, roof)
    area[:, 10] = 0.5 * roof
    area = take(area)

    # ground floor: EN ISO 13370 with the exposed perimeter (front + rear for a mid-terrace house)
    perim = 2 * width + depth * (~party_left).astype(float) + depth * (~party_right).astype(float)
    bp = width * depth / (0.5 * perim)
    r_f = 1.0 / per["u_floor_w_m2k"].to_numpy()[period] - 0.21
    d_t = 0.3 + 2.0 * (0.21 + r_f)
    u_g = np.where(
        d_t < bp, 4.0 / (np.pi * bp + d_t) * np.log(np.pi * bp / d_t + 1.0), 2.0 / (0.457 * bp + d_t)
    )
    u = np.zeros((n, _SLOTS))
    u[:, 0] = u_g
    u[:, 1:5] = per["u_wall_w_m2k"].to_numpy()[period][:, None]
    u[:, 5:9] = per["u_window_w_m2k"].to_numpy()[period][:, None]
    u[:, 9:11] = np.where(
        house,
        per["u_roof_pitched_w_m2k"].to_numpy()[period],
        per["u_roof_flat_concrete_w_m2k"].to_numpy()[period],
    )[:, None]
    u = take(u)
    b = np.ones((n, _SLOTS))
    b[:, 3] = np.where(party_left, 0.0, 1.0)
    b[:, 4] = np.where(party_right, 0.0, 1.0)
    b = take(b)
    az = np.column_stack([front_az, front_az + 180, front_az + 90, front_az + 270]) % 360
    sector = np.select(
        [(az >= 45) & (az < 135), (az >= 135) & (az < 225), (az >= 225) & (az < 315)], [1, 0, 2], 3
    )
    orient = np.full((n, _SLOTS), 4, dtype=np.int8)
    orient[:, 1:5] = sector
    orient[:, 5:9] = sector
    orient = take(orient)
    sol = np.zeros((n, _SLOTS))
    sol[:, 5:9] = (0.6 * 0.9 * 0.7 * per["g_window"].to_numpy()[period])[:, None]
    sol = take(sol)

    a_f = 0.85 * width * depth * storeys
    recent = period == len(per) - 1
    mvhr = recent & (rng.random(n) < 0.5)
    return {
        "offsets": offsets,
        "kind": kind,
        "area": area,
        "u": u,
        "b": b,
        "orient": orient,
        "sol": sol,
        "tb": np.full(n, 0.10),
        "v_air": 0.8 * width * depth * height,
        "n_inf": per["air_change_inf_h"].to_numpy()[period].astype(np.float64),
        "n_vent": np.where(typ >= 4, 0.6, 0.4),
        "eta_hr": np.where(mvhr, 0.8, 0.0),
        "phi": np.where(typ == 4, 6.0, np.where(typ == 5, 5.0, 3.0)) * a_f,
        "c_m": np.where(house, 165_000.0, 260_000.0) * a_f,
        "theta_int": np.full(n, 20.0),
        "theta_e": uccle_climate().theta_e_c.copy(),
        "i_sol": np.ascontiguousarray(uccle_climate().i_sol_kwh_m2),
        "hours": uccle_climate().hours.copy(),
    }


def run_kernel(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The numba path: coefficients then the monthly balance (outputs allocated here)."""
    from kernels.energy import ANNUAL_FIELDS, building_coefficients, monthly_heat_balance

    n = len(d["offsets"]) - 1
    h_parts, a_sol, a_env, h_ve = np.zeros((n, 6)), np.zeros((n, 5)), np.zeros(n), np.zeros(n)
    building_coefficients(
        d["offsets"], d["kind"], d["area"], d["u"], d["b"], d["orient"], d["sol"], d["tb"], d["v_air"],
        d["n_inf"], d["n_vent"], d["eta_hr"], 1200.0 / 3600.0, h_parts, a_sol, a_env, h_ve,
    )  # fmt: skip
    h_tr = np.ascontiguousarray(h_parts.sum(axis=1))
    q_nd, annual = np.zeros((n, 12)), np.zeros((n, len(ANNUAL_FIELDS)))
    monthly_heat_balance(
        h_tr, h_ve, a_sol, d["phi"], d["c_m"], d["theta_int"], d["theta_e"], d["i_sol"], d["hours"],
        1.0, 15.0, q_nd, annual, np.zeros((0, 12, 17)),
    )  # fmt: skip
    return {"h_tr": h_tr, "h_ve": h_ve, "q_nd": q_nd, "need": annual[:, 0]}


def run_numpy(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same equations written with whole-array numpy operations."""
    n = len(d["offsets"]) - 1
    owner = np.repeat(np.arange(n), np.diff(d["offsets"]))
    h_parts = np.bincount(
        owner * 6 + d["kind"], weights=d["b"] * d["u"] * d["area"], minlength=6 * n
    ).reshape(n, 6)
    a_env = np.bincount(owner, weights=np.where(d["b"] > 0, d["area"], 0.0), minlength=n)
    h_parts[:, 5] = d["tb"] * a_env
    a_sol = np.bincount(owner * 5 + d["orient"], weights=d["sol"] * d["area"], minlength=5 * n).reshape(n, 5)
    del owner, a_env
    h_tr = h_parts.sum(axis=1)
    h_ve = 1200.0 / 3600.0 * d["v_air"] * (d["n_inf"] + d["n_vent"] * (1.0 - d["eta_hr"]))
    h = h_tr + h_ve
    t = d["hours"][None, :]
    q_ht = h[:, None] * (d["theta_int"][:, None] - d["theta_e"][None, :]) * t / 1000.0
    q_gn = a_sol @ d["i_sol"].T + d["phi"][:, None] * t / 1000.0
    a = (1.0 + d["c_m"] / 3600.0 / h / 15.0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        gamma = q_gn / q_ht
        eta = np.where(
            gamma <= 0,
            1.0,
            np.where(
                np.abs(gamma - 1.0) < 1e-9, a / (a + 1.0), (1.0 - gamma**a) / (1.0 - gamma ** (a + 1.0))
            ),
        )
        q_nd = np.where(q_ht > 0, np.maximum(0.0, q_ht - eta * q_gn), 0.0)
    return {"h_tr": h_tr, "h_ve": h_ve, "q_nd": q_nd, "need": q_nd.sum(axis=1)}


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(mode: str, n: int, seed: int, out: str) -> None:
    """One implementation in this process; prints a JSON line with timings and peak memory."""
    t0 = time.perf_counter()
    d = generate(n, seed)
    gen_s = time.perf_counter() - t0
    rss_inputs = _rss_mb()
    report: dict = {"mode": mode, "n": n, "surfaces": int(d["offsets"][-1]), "generate_s": gen_s}
    run = run_kernel if mode == "kernel" else run_numpy
    if mode == "kernel":
        import numba

        report["threads"] = numba.get_num_threads()
        small = dict(d)
        k = 8
        small["offsets"] = d["offsets"][: k + 1]
        for key in ("tb", "v_air", "n_inf", "n_vent", "eta_hr", "phi", "c_m", "theta_int"):
            small[key] = np.ascontiguousarray(d[key][:k])
        t0 = time.perf_counter()
        run(small)
        report["first_call_s"] = time.perf_counter() - t0
    times = []
    for _ in range(3 if mode == "kernel" else 1):
        t0 = time.perf_counter()
        res = run(d)
        times.append(time.perf_counter() - t0)
    report["best_s"] = min(times)
    report["peak_rss_mb"] = _rss_mb()
    report["rss_after_inputs_mb"] = rss_inputs
    np.savez(out, **res)
    sys.stdout.write(json.dumps(report) + "\n")


TEASER_CHILD = r"""
import json, sys, time, warnings, logging
warnings.simplefilter("ignore")
logging.disable(logging.WARNING)
try:
    from teaser.project import Project
    from teaser.data.utilities import ConstructionData, GeometryData
except ImportError as err:
    print(json.dumps({"error": f"teaser not importable: {err}"}))
    sys.exit(0)
k = int(sys.argv[1])
prj = Project()
def add(i):
    prj.add_residential(construction_data=ConstructionData.tabula_de_standard,
                        geometry_data=GeometryData.TabulaDeTerracedHouse, name=f"h{i}",
                        year_of_construction=1955, number_of_floors=3, height_of_floors=3.0,
                        net_leased_area=150.0)
add(0); prj.calc_all_buildings()          # warm-up: data loading, first-use costs
prj = Project()
t0 = time.perf_counter()
for i in range(k):
    add(i)
t1 = time.perf_counter()
prj.calc_all_buildings()
t2 = time.perf_counter()
import teaser
print(json.dumps({"k": k, "per_building_s": (t2 - t0) / k, "generate_per_building_s": (t1 - t0) / k,
                  "calc_per_building_s": (t2 - t1) / k, "version": getattr(teaser, "__version__", "?")}))
"""


def _spawn(args: list[str], env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=True, env=env, cwd=str(ROOT)
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the comparison and print the table and the JSON summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teaser", type=int, default=5, help="buildings for the TEASER anchor (0: skip)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.buildings, args.seed, args.child[1])
        return

    me = str(Path(__file__).resolve())
    common = ["--buildings", str(args.buildings), "--seed", str(args.seed)]
    with tempfile.TemporaryDirectory() as tmp:
        res_k = f"{tmp}/kernel.npz"
        kern = _spawn([me, *common, "--child", "kernel", res_k])
        env1 = dict(os.environ, NUMBA_NUM_THREADS="1")
        kern1 = _spawn([me, *common, "--child", "kernel", f"{tmp}/kernel1.npz"], env=env1)
        # compilation from scratch: on-disk cache off, a tiny stock
        env0 = dict(os.environ, TWIN_NUMBA_CACHE="0")
        cold = _spawn([me, "--buildings", "100", "--child", "kernel", f"{tmp}/cold.npz"], env=env0)
        res_n = f"{tmp}/numpy.npz"
        nump = _spawn([me, *common, "--child", "numpy", res_n])
        a, b = np.load(res_k), np.load(res_n)
        rel = {}
        for key in ("h_tr", "h_ve", "need"):
            scale = np.maximum(np.abs(b[key]), 1e-300)
            rel[key] = float(np.max(np.abs(a[key] - b[key]) / scale))
        # monthly values: relative to the building's annual need (summer months can be ~0)
        rel["q_nd_monthly"] = float(
            np.max(np.abs(a["q_nd"] - b["q_nd"]) / np.maximum(np.abs(b["need"]), 1e-300)[:, None])
        )
        agree = max(rel.values())
    teaser = _spawn(["-c", TEASER_CHILD, str(args.teaser)]) if args.teaser > 0 else {"error": "skipped"}

    n = args.buildings
    bps = n / kern["best_s"]
    bps1 = n / kern1["best_s"]
    rows = [
        ("buildings × months", f"{n:,} × 12 ({kern['surfaces']:,} surfaces)"),
        ("input generation (not timed below)", f"{kern['generate_s']:.2f} s"),
        ("kernel first call, JIT compile (cache off)", f"{cold['first_call_s']:.2f} s"),
        ("kernel first call, loading the on-disk cache", f"{kern['first_call_s']:.2f} s"),
        (f"kernel, {kern['threads']} threads (best of 3)", f"{kern['best_s']:.3f} s  {bps:,.0f} buildings/s"),
        ("kernel, 1 thread (best of 3)", f"{kern1['best_s']:.3f} s  {bps1:,.0f} buildings/s"),
        ("numpy, same equations", f"{nump['best_s']:.3f} s  {n / nump['best_s']:,.0f} buildings/s"),
        ("ratio numpy / kernel", f"{nump['best_s'] / kern['best_s']:.1f} x"),
        ("max relative difference kernel vs numpy", f"{agree:.2e} (limit 1e-9)"),
        (
            "peak RSS kernel process / numpy process",
            f"{kern['peak_rss_mb']:.0f} MB / {nump['peak_rss_mb']:.0f} MB",
        ),
    ]
    out: dict = {
        "benchmark": "energy",
        "buildings": n,
        "surfaces": kern["surfaces"],
        "threads": kern["threads"],
        "buildings_per_s": round(bps),
        "buildings_per_s_1_thread": round(bps1),
        "kernel_s": kern["best_s"],
        "first_call_s": kern["first_call_s"],
        "compile_s": cold["first_call_s"],
        "numpy_s": nump["best_s"],
        "ratio_vs_numpy": nump["best_s"] / kern["best_s"],
        "max_rel_diff_vs_numpy": agree,
        "agrees_1e-9": agree <= 1e-9,
        "peak_rss_mb_kernel": kern["peak_rss_mb"],
        "peak_rss_mb_numpy": nump["peak_rss_mb"],
        "goal_buildings_per_s_met": bps >= 1_000_000,
        "goal_peak_2gb_met": kern["peak_rss_mb"] <= 2048,
    }
    if "per_building_s" in teaser:
        tps = teaser["per_building_s"]
        rows.append(
            (
                f"TEASER {teaser['version']} per building (archetype + calc, {teaser['k']} houses)",
                f"{tps * 1e3:.1f} ms  {1 / tps:,.0f} buildings/s",
            )
        )
        rows.append(("ratio TEASER / kernel, per building", f"{tps * bps:,.0f} x"))
        out.update(
            {"teaser_s_per_building": tps, "ratio_vs_teaser": tps * bps, "teaser_version": teaser["version"]}
        )
    else:
        rows.append(("TEASER", teaser.get("error", "n/a")))
        out.update({"teaser_s_per_building": None, "ratio_vs_teaser": None})
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
