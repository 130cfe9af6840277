"""Benchmark: our full IFC ingest against the bare IfcOpenShell geometry iterator.

Side by side in one run, on the largest IFC file of ../shared/data/ifc (or
the file given):

* ``bare``  -- ``ifcopenshell.geom.iterator`` with default settings and the
  default kernel (OpenCASCADE), world coordinates, 2 threads, all products:
  the geometry alone, which is what an ingest costs;
* ``ours``  -- :func:`bim_ingest.ifc.read_ifc` with the ``"auto"`` kernel plan
  and an empty cache: parsing, geometry, envelope, U-values, tables;
* ``warm``  -- the same again with the cache filled (reported, not compared);
* ``reference`` -- ``read_ifc`` with ``kernel="opencascade"`` (every product
  by the reference kernel), to check that the envelope areas by kind and
  orientation of the fast plan stay within 1 % of it.

Each run is a fresh Python process, so its wall time, CPU time (its own and
its children's, i.e. the geometry worker's) and peak resident memory are its
own.  The last line of output is one JSON object.

Usage::

    python benchmarks/ingest_ifc.py [FILE] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout, not an installed copy
DATA = REPO.parent / "shared" / "data" / "ifc"
SECTORS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def _usage() -> dict:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        "peak_rss_mb": max(me.ru_maxrss, kids.ru_maxrss) / 1024.0,
    }


def _child_bare(path: str, threads: int) -> dict:
    import ifcopenshell
    import ifcopenshell.geom

    t0 = time.perf_counter()
    f = ifcopenshell.open(path)
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    it = ifcopenshell.geom.iterator(settings, f, threads)
    n = triangles = 0
    if it.initialize():
        while True:
            shape = it.get()
            n += 1
            triangles += len(shape.geometry.faces) // 3
            if not it.next():
                break
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "elements": n, "triangles": triangles, **_usage()}


def _areas(model) -> dict:
    import numpy as np

    from bim_ingest.ifc.roles import sector_of

    s = model.surfaces
    kind = s["kind"].to_numpy()
    sector = np.where(np.isin(kind, ["wall", "window", "door"]), sector_of(s["azimuth_deg"].fillna(0.0)), "-")
    out: dict[str, float] = {}
    for k, sec, a in zip(kind, sector, s["area_m2"].to_numpy(), strict=True):
        out[f"{k}/{sec}"] = out.get(f"{k}/{sec}", 0.0) + float(a)
    return out


def _child_ours(path: str, kernel: str, cache: str, repeat: int) -> dict:
    import warnings

    from bim_ingest.ifc import read_ifc

    runs = []
    model = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = read_ifc(path, kernel=kernel, cache_dir=Path(cache))
        runs.append(time.perf_counter() - t0)
    src = model.sources[0]
    geometry = src["geometry"]
    return {
        "wall_s": runs[0],
        "warm_wall_s": runs[-1] if repeat > 1 else None,
        "elements": int(sum(geometry.get("meshes_by_kernel", {}).values())),
        "meshes_by_kernel": geometry.get("meshes_by_kernel"),
        "geometry_failures": len(src["geometry_failures"]),
        "surfaces": len(model.surfaces),
        "envelope_m2": float(model.surfaces["area_m2"].sum()),
        "areas": _areas(model),
        "timings": src["timings"],
        **_usage(),
    }


def _run(args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args[:2]} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _largest() -> Path:
    files = sorted(DATA.glob("*.ifc"), key=lambda p: p.stat().st_size)
    if not files:
        raise SystemExit(f"No IFC file in {DATA}; pass one.")
    return files[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs="+")
    parser.add_argument("--no-reference", action="store_true", help="skip the opencascade reference run")
    args = parser.parse_args()

    if args.child:
        role, path = args.child[0], args.child[1]
        if role == "bare":
            result = _child_bare(path, args.threads)
        else:
            result = _child_ours(path, kernel=args.child[2], cache=args.child[3], repeat=int(args.child[4]))
        print(json.dumps(result))
        return

    path = (args.file or _largest()).resolve()
    print(f"file: {path.name} ({path.stat().st_size / 1e6:.1f} MB), iterator threads: {args.threads}")
    with tempfile.TemporaryDirectory(prefix="twin-bench-ifc-") as tmp:
        bare = _run(["--child", "bare", str(path), "--threads", str(args.threads)])
        ours = _run(["--child", "ours", str(path), "auto", str(Path(tmp) / "auto"), "2"])
        ref = None
        if not args.no_reference:
            ref = _run(["--child", "ours", str(path), "opencascade", str(Path(tmp) / "occ"), "1"])

    rows = [("bare iterator (opencascade, all products)", bare), ("ours: read_ifc, auto, cold cache", ours)]
    if ref is not None:
        rows.append(("ours: read_ifc, opencascade only", ref))
    print(f"{'run':44s} {'wall s':>8s} {'CPU s':>8s} {'elements':>9s} {'elem/s':>8s} {'peak MB':>8s}")
    for label, r in rows:
        print(
            f"{label:44s} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} {r['elements']:9d} "
            f"{r['elements'] / r['wall_s']:8.1f} {r['peak_rss_mb']:8.0f}"
        )
    print(f"ours, warm cache: {ours['warm_wall_s']:.2f} s wall; stages (cold): {ours['timings']}")
    print(
        f"ours meshes by kernel: {ours['meshes_by_kernel']}; geometry failures: {ours['geometry_failures']}"
    )
    ratio = ours["wall_s"] / bare["wall_s"]
    print(f"ratio ours / bare (wall): {ratio:.3f}; CPU: {ours['cpu_s'] / bare['cpu_s']:.3f}")

    diff_max = None
    if ref is not None:
        total = sum(ref["areas"].values())
        keys = sorted(set(ref["areas"]) | set(ours["areas"]))
        print(f"{'envelope bin':16s} {'auto m2':>10s} {'occ m2':>10s} {'diff %':>8s}")
        rel = []
        for k in keys:
            a, b = ours["areas"].get(k, 0.0), ref["areas"].get(k, 0.0)
            d = (a - b) / b * 100 if b else float("inf") if a else 0.0
            print(f"{k:16s} {a:10.2f} {b:10.2f} {d:8.3f}")
            if b >= 0.01 * total:  # bins with at least 1 % of the envelope
                rel.append(abs(a - b) / b)
        diff_max = max(rel) if rel else 0.0
        total_diff = abs(sum(ours["areas"].values()) - total) / total
        print(f"max relative difference over bins >= 1 % of the envelope: {diff_max:.4%}")
        print(f"difference of the total envelope area: {total_diff:.4%}")

    print(
        json.dumps(
            {
                "benchmark": "ingest_ifc",
                "file": path.name,
                "threads": args.threads,
                "ours_wall_s": round(ours["wall_s"], 3),
                "bare_wall_s": round(bare["wall_s"], 3),
                "ours_cpu_s": round(ours["cpu_s"], 3),
                "bare_cpu_s": round(bare["cpu_s"], 3),
                "ratio": round(ratio, 3),
                "warm_wall_s": round(ours["warm_wall_s"], 3),
                "elements": ours["elements"],
                "bare_elements": bare["elements"],
                "ours_peak_rss_mb": round(ours["peak_rss_mb"], 1),
                "bare_peak_rss_mb": round(bare["peak_rss_mb"], 1),
                "reference_wall_s": round(ref["wall_s"], 3) if ref else None,
                "area_diff_max_rel": round(diff_max, 5) if diff_max is not None else None,
            }
        )
    )


if __name__ == "__main__":
    main()
