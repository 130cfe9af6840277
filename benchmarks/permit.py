"""Benchmark: the full permit pre-check of the largest IFC file of ../shared/data/ifc.

One run of :func:`bim_ingest.checks.check_permit` with the Brussels submission
IDS, the bundled rule set, snapshots and all three reports, on an empty
triangulation cache (so the geometry is computed, as for a new submission).
Reported apart:

* ``ingest_s`` -- the isolated child process: parse, IDS validation,
  semantics, geometry (its own worker process), georeferencing;
* ``rules_s``, ``snapshots_s``, ``reports_s`` -- the rest, in this process;
* ``wall_s`` and ``cpu_s`` (this process and its children);
* ``peak_rss_mb`` -- the largest resident set of the process tree, sampled
  every 50 ms with psutil (parent + isolated child + geometry worker), and
  ``peak_child_rss_mb`` from ``getrusage(RUSAGE_CHILDREN)``.

Goal (issue #9): under 60 s on 2 cores for a 10 MB model.  The last line of
output is one JSON object.

Usage::

    python benchmarks/permit.py [FILE] [--out DIR] [--no-snapshots]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout, not an installed copy
DATA = REPO.parent / "shared" / "data" / "ifc"
GOAL_S = 60.0


class TreeMemory:
    """Peak RSS (MiB) of this process and all its descendants, sampled in a thread."""

    def __init__(self, period_s: float = 0.05) -> None:
        import psutil

        self.proc = psutil.Process()
        self.period_s = period_s
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for p in [self.proc, *self.proc.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self._stop.wait(self.period_s)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "file", nargs="?", type=Path, help="IFC file (default: the largest in ../shared/data/ifc)"
    )
    parser.add_argument("--out", type=Path, help="report folder (default: a temporary one)")
    parser.add_argument("--no-snapshots", action="store_true")
    args = parser.parse_args()
    path = args.file or max(DATA.glob("*.ifc"), key=lambda p: p.stat().st_size)
    out = args.out or Path(tempfile.mkdtemp(prefix="permit-bench-"))
    os.environ["TWIN_CACHE_DIR"] = tempfile.mkdtemp(prefix="permit-bench-cache-")  # cold: geometry computed

    from bim_ingest.checks import DEFAULT_IDS, check_permit

    print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, cores available {os.cpu_count()}")
    cpu0 = os.times()
    t0 = time.perf_counter()
    with TreeMemory() as mem:
        report = check_permit(path, ids_paths=[DEFAULT_IDS], out_dir=out, snapshots=not args.no_snapshots)
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    cpu += (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    t = report.provenance["timings_s"]
    c = report.counts
    print(
        f"status {report.status}: {c['fail']} fail, {c['not_checkable']} not checkable, {c['pass']} pass, "
        f"{c['topics']} BCF topics"
    )
    print(
        f"ingest (isolated) {t['ingest_isolated']:.1f} s, rules {t['rules']:.2f} s, snapshots "
        f"{t['snapshots']:.1f} s, reports {t['reports']:.2f} s; wall {wall:.1f} s, CPU {cpu:.1f} s"
    )
    print(
        f"peak RSS of the process tree {mem.peak_mb:.0f} MiB (largest child {child_peak:.0f} MiB); "
        f"reports in {out}"
    )
    print(
        json.dumps(
            {
                "benchmark": "permit",
                "file": path.name,
                "size_mb": round(path.stat().st_size / 1e6, 2),
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "ingest_s": t["ingest_isolated"],
                "rules_s": t["rules"],
                "snapshots_s": t["snapshots"],
                "reports_s": t["reports"],
                "findings": c["pass"] + c["fail"] + c["not_checkable"],
                "topics": c["topics"],
                "peak_rss_mb": round(mem.peak_mb, 1),
                "peak_child_rss_mb": round(child_peak, 1),
                "goal_s": GOAL_S,
                "goal_met": wall < GOAL_S,
            }
        )
    )


if __name__ == "__main__":
    main()
