"""Benchmark: ingest of the generated district as CityJSON, against a bare load.

For each size (default 10k and 100k buildings) the district is generated and
written as CityJSON 2.0 once; then, each in a fresh process so that peak
memory is its own:

* **bare**: ``json.load`` + decoding the quantised vertices with numpy — the
  least any reader must do (the anchor);
* **ours**: :func:`bim_ingest.cityjson.read_cityjson` — buildings and
  surfaces tables with areas, orientations, footprints, volumes;
* **ours + party walls**: the same followed by party-wall detection, i.e.
  what ``twin ingest`` does.

Prints buildings/s, wall and CPU seconds, peak RSS and the ratios to the
bare load; the last line is one JSON object.

Run: ``python benchmarks/ingest_city.py [--sizes 10000 100000]``
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

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
path, mode = sys.argv[1], sys.argv[2]
t0, c0 = time.perf_counter(), time.process_time()
if mode == "bare":
    with open(path) as fh:
        doc = json.load(fh)
    t = doc["transform"]
    v = np.asarray(doc["vertices"], dtype=np.float64) * t["scale"] + t["translate"]
    n = sum(1 for o in doc["CityObjects"].values() if o["type"] == "Building")
else:
    from bim_ingest.cityjson import read_cityjson
    m = read_cityjson(path)
    if mode == "party":
        m = m.with_party_walls()
    n = len(m.buildings)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"n": n, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss_mb}}))
"""


def _run(path: Path, mode: str) -> dict:
    code = CHILD.format(root=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), mode], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from data import generate_district, write_district

    summary: dict = {"benchmark": "ingest_city"}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            t0 = time.perf_counter()
            files = write_district(generate_district(n, seed=args.seed), Path(tmp) / f"d{n}")
            path = Path(files["cityjson"])
            gen_s = time.perf_counter() - t0
            size_mb = path.stat().st_size / 1e6
            bare, ours, party = _run(path, "bare"), _run(path, "ours"), _run(path, "party")
            assert bare["n"] == ours["n"] == party["n"] == n, (bare["n"], ours["n"], n)
            print(f"\n{n:,} buildings, CityJSON {size_mb:.1f} MB (generated and written in {gen_s:.1f} s)")
            print(f"{'':24}{'wall s':>9}{'CPU s':>9}{'bldg/s':>10}{'peak MB':>9}{'x bare':>8}")
            for label, r in (
                ("bare json+numpy", bare),
                ("ours: read", ours),
                ("ours: read+party walls", party),
            ):
                print(
                    f"{label:24}{r['wall_s']:9.2f}{r['cpu_s']:9.2f}{n / r['wall_s']:10,.0f}"
                    f"{r['peak_rss_mb']:9.0f}{r['wall_s'] / bare['wall_s']:8.2f}"
                )
            key = f"{n // 1000}k"
            summary[f"buildings_per_s_{key}"] = round(n / ours["wall_s"], 1)
            summary[f"buildings_per_s_with_party_walls_{key}"] = round(n / party["wall_s"], 1)
            summary[f"bare_buildings_per_s_{key}"] = round(n / bare["wall_s"], 1)
            summary[f"ratio_vs_bare_{key}"] = round(ours["wall_s"] / bare["wall_s"], 2)
            summary[f"ratio_with_party_walls_vs_bare_{key}"] = round(party["wall_s"] / bare["wall_s"], 2)
            summary[f"peak_rss_mb_{key}"] = round(party["peak_rss_mb"], 1)
            summary[f"bare_peak_rss_mb_{key}"] = round(bare["peak_rss_mb"], 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
