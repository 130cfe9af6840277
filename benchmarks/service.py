"""Load test of ``twin serve`` on loopback (the service sheet's L1-L3) and a scenario's end-to-end time.

Starts ``twin serve`` (uvicorn + 1 worker process) on the generated demo district and drives it
with an open-loop asyncio/httpx load generator on 127.0.0.1:

* **L1** mixed reads (80 % building GETs -- one building or a bbox page -- and 20 % small scenario
  queries: list scenarios, run status, spec validation) at ``--rate`` req/s for ``--l1-s`` s
  while the worker keeps running scenario jobs, so the other core is busy with simulation;
* **L2** scenario-run submissions (``POST /runs``, each with its own ``Idempotency-Key``) at
  ``--submit-rate``/s for ``--l2-s`` s: latency, every 202 traced to exactly one job row, and the
  backlog drain rate; the backlog is then cancelled;
* **L3** ``--uploads`` concurrent uploads of ``--upload-mb`` MB each, while L1 traffic runs:
  L1 latency meanwhile and the API process's RSS (uploads are streamed, not buffered);
* a scenario run (the example spec of ``scenarios/examples``) submitted and polled to ``done``.

Usage::

    python benchmarks/service.py            # the full run (about 3 minutes)
    python benchmarks/service.py --quick    # a short smoke run

The last line printed is one JSON object ``{"benchmark": "service", ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_model(out: Path, n_buildings: int) -> Path:
    """The demo district (buildings, activities, street network) as a twin GeoPackage."""
    import geopandas as gpd

    from bim_ingest.activities import activities_from_attributes
    from bim_ingest.network import read_network_layers
    from bim_ingest.registry import read
    from data import generate_district, write_district

    files = write_district(generate_district(n_buildings, seed=0), out / "inputs")
    model = read(files["cityjson"])
    model.name = f"sample district ({n_buildings} buildings, seed 0)"
    model.activities = activities_from_attributes(model)
    nodes, links = read_network_layers(files["streets_gpkg"], crs=model.crs)
    model.nodes = gpd.GeoDataFrame(nodes, geometry="geometry", crs=model.crs)
    model.links = gpd.GeoDataFrame(links, geometry="geometry", crs=model.crs)
    model = model.with_party_walls()
    path = out / "district.gpkg"
    model.save(path)
    return path


def example_spec() -> dict[str, Any]:
    import yaml

    return yaml.safe_load((ROOT / "scenarios" / "examples" / "renovate_pre1945_terraced.yaml").read_text())


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000.0 if values else float("nan")


class Load:
    """Open-loop request generator: requests start on schedule (a thread pool sends them), whatever
    the previous ones do; latency is measured from the moment a request is sent."""

    def __init__(self, url: str, headers: dict[str, str], threads: int = 32) -> None:
        self.url, self.headers, self.threads = url, headers, threads
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.sent = 0
        self.responses: list[httpx.Response] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self.achieved = 0.0

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(base_url=self.url, headers=self.headers, timeout=10)
            self._local.client = client
        return client

    def one(self, method: str, url: str, kw: dict[str, Any]) -> None:
        t0 = time.perf_counter()
        try:
            r = self._client().request(method, url, **kw)
        except httpx.HTTPError as err:
            with self._lock:
                self.errors[type(err).__name__] = self.errors.get(type(err).__name__, 0) + 1
            return
        dt = time.perf_counter() - t0
        with self._lock:
            self.latencies.append(dt)
            self.responses.append(r)
            if r.status_code >= 400:
                self.errors[str(r.status_code)] = self.errors.get(str(r.status_code), 0) + 1

    def run(self, rate: float, seconds: float, make: Any) -> float:
        from concurrent.futures import ThreadPoolExecutor, wait

        n = int(rate * seconds)
        start = time.perf_counter()
        with ThreadPoolExecutor(self.threads) as pool:
            futures = []
            for i in range(n):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                method, url, kw = make(i)
                futures.append(pool.submit(self.one, method, url, kw))
                self.sent += 1
            wait(futures)
        self.achieved = n / (time.perf_counter() - start)
        return self.achieved

    def summary(self, achieved: float | None = None) -> dict[str, Any]:
        return {
            "requests": self.sent,
            "achieved_rps": round(self.achieved if achieved is None else achieved, 1),
            "p50_ms": round(pct(self.latencies, 50), 1),
            "p99_ms": round(pct(self.latencies, 99), 1),
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
        }


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            try:
                self.samples.append(self.proc.memory_info().rss / 2**20)
            except psutil.Error:
                return


class Busy(threading.Thread):
    """Keeps the worker busy: submits a scenario run whenever the previous one ended."""

    def __init__(self, url: str, headers: dict[str, str], body: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.url, self.headers, self.body = url, headers, body
        self.stop = threading.Event()
        self.completed = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as c:
            while not self.stop.is_set():
                spec = dict(self.body["spec"], name=f"busy-{uuid.uuid4().hex[:8]}")
                r = c.post("/runs", json={"model_id": self.body["model_id"], "spec": spec})
                if r.status_code != 202:
                    time.sleep(1)
                    continue
                run_id = r.json()["run_id"]
                while not self.stop.is_set():
                    state = c.get(f"/runs/{run_id}").json()["job"]["state"]
                    if state in ("done", "failed", "cancelled"):
                        self.completed += state == "done"
                        break
                    time.sleep(0.5)
                if self.stop.is_set():
                    c.post(f"/runs/{run_id}/cancel")


def wait_job(client: httpx.Client, path: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(path).json()
        job = body.get("job", body)
        if job["state"] in ("done", "failed", "cancelled"):
            return body
        time.sleep(0.2)
    raise TimeoutError(path)


def mixed_reads(url: str, headers: dict[str, str], ctx: dict[str, Any], rate: float, seconds: float) -> Load:
    load = Load(url, headers)
    rng = random.Random(1)
    ids, boxes, mid = ctx["building_ids"], ctx["boxes"], ctx["model_id"]

    def make(i: int) -> tuple[str, str, dict[str, Any]]:
        u = rng.random()
        if u < 0.5:
            return "GET", f"/models/{mid}/buildings/{rng.choice(ids)}", {}
        if u < 0.8:
            return "GET", f"/models/{mid}/buildings", {"params": {"bbox": rng.choice(boxes), "limit": 50}}
        if u < 0.9:
            return "GET", f"/runs/{ctx['run_id']}", {}
        if u < 0.95:
            return "GET", "/scenarios", {"params": {"limit": 20}}
        return "POST", "/scenarios/validate", {"json": ctx["spec"]}

    load.run(rate, seconds, make)
    return load


def submissions(url: str, headers: dict[str, str], body: dict[str, Any], rate: float, seconds: float) -> Load:
    load = Load(url, headers)

    def make(i: int) -> tuple[str, str, dict[str, Any]]:
        return "POST", "/runs", {"json": body, "headers": {"Idempotency-Key": f"l2-{uuid.uuid4().hex}"}}

    load.run(rate, seconds, make)
    return load


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--buildings", type=int, default=400)
    parser.add_argument("--rate", type=float, default=200.0, help="L1 requests/s")
    parser.add_argument("--l1-s", type=float, default=60.0)
    parser.add_argument("--submit-rate", type=float, default=50.0, help="L2 submissions/s")
    parser.add_argument("--l2-s", type=float, default=30.0)
    parser.add_argument("--uploads", type=int, default=4)
    parser.add_argument("--upload-mb", type=float, default=50.0)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.rate, args.l1_s = 50.0, 8.0
        args.submit_rate, args.l2_s, args.uploads, args.upload_mb = 10.0, 4.0, 2, 5.0

    data = args.data_dir or Path(tempfile.mkdtemp(prefix="twin-bench-service-"))
    data.mkdir(parents=True, exist_ok=True)
    from twin.service.auth import create_key
    from twin.service.store import open_store

    t0 = time.perf_counter()
    gpkg = build_model(data / "demo", args.buildings)
    print(f"demo district of {args.buildings} buildings built in {time.perf_counter() - t0:.1f} s")
    (data / "service").mkdir(exist_ok=True)
    store = open_store(data / "service" / "jobs.sqlite")
    _, admin = create_key(store, "admin", "bench admin")
    _, analyst = create_key(store, "analyst", "bench analyst")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TWIN_MAX_UPLOAD_MB": str(max(args.upload_mb * 1.2, 10)), "TWIN_WORKERS": "1"}
    log = open(data / "serve.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "twin", "serve", "--port", str(port), "--data-dir", str(data / "service")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    result: dict[str, Any] = {
        "benchmark": "service",
        "buildings": args.buildings,
        "quick": args.quick,
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            for _ in range(300):
                try:
                    if c.get("/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            ha = {"Authorization": f"Bearer {admin}"}
            hs = {"Authorization": f"Bearer {analyst}"}
            r = c.post("/models", content=gpkg.read_bytes(), headers=ha, params={"filename": gpkg.name})
            r.raise_for_status()
            model_id = r.json()["model_id"]
            t = time.perf_counter()
            c.headers["Authorization"] = f"Bearer {admin}"
            model = wait_job(c, f"/models/{model_id}", 300)
            c.headers["Authorization"] = f"Bearer {analyst}"
            result["ingest_s"] = round(time.perf_counter() - t, 2)
            assert model["job"]["state"] == "done", model
            fc = c.get(f"/models/{model_id}/buildings", headers=hs, params={"limit": 1000}).json()
            ids = [f["id"] for f in fc["features"]]
            boxes = []
            for f in fc["features"][:50]:
                ring = np.asarray(f["geometry"]["coordinates"][0])
                lo, hi = ring.min(axis=0) - 0.001, ring.max(axis=0) + 0.001
                boxes.append(f"{lo[0]},{lo[1]},{hi[0]},{hi[1]}")
            spec = example_spec()
            # scenario end to end
            t = time.perf_counter()
            r = c.post("/runs", json={"model_id": model_id, "spec": spec}, headers=hs)
            r.raise_for_status()
            run_id = r.json()["run_id"]
            run = wait_job(c, f"/runs/{run_id}", 600)
            result["scenario_end_to_end_s"] = round(time.perf_counter() - t, 2)
            result["scenario_state"] = run["job"]["state"]
            print(
                f"scenario run: {run['job']['state']} in {result['scenario_end_to_end_s']} s "
                f"(run_hash {(run.get('summary') or {}).get('run_hash')}) {run['job']['error'] or ''}"
            )
            ctx = {
                "model_id": model_id,
                "building_ids": ids,
                "boxes": boxes,
                "run_id": run_id,
                "spec": {**spec, "name": "probe"},
            }
            rss = RssSampler(server.pid)
            rss.start()
            # L1 with the worker kept busy
            busy = Busy(url, hs, {"model_id": model_id, "spec": spec})
            busy.start()
            time.sleep(2)
            cpu0 = psutil.cpu_percent(None)
            l1 = mixed_reads(url, hs, ctx, args.rate, args.l1_s)
            cpu = psutil.cpu_percent(None)
            busy.stop.set()
            busy.join(30)
            result["L1"] = l1.summary() | {
                "target_rps": args.rate,
                "seconds": args.l1_s,
                "busy_runs_completed": busy.completed,
                "machine_cpu_percent": cpu,
                "_": cpu0 * 0,
            }
            result["L1"].pop("_")
            print("L1", json.dumps(result["L1"]))
            # L2 submissions
            body = {"model_id": model_id, "spec": {**spec, "name": "l2"}}
            before = time.time()
            l2 = submissions(url, hs, body, args.submit_rate, args.l2_s)
            run_ids = [r.json()["run_id"] for r in l2.responses if r.status_code == 202]
            time.sleep(5)
            l2_jobs = [j for j in store.list_jobs(["scenario_run"], limit=1_000_000) if j.created >= before]
            drained = sum(1 for j in l2_jobs if j.state in ("done", "failed"))
            elapsed = time.time() - before
            cancelled = 0
            for j in l2_jobs:
                if j.state in ("queued", "running"):
                    store.cancel(j.id)
                    cancelled += 1
            result["L2"] = l2.summary() | {
                "target_rps": args.submit_rate,
                "seconds": args.l2_s,
                "accepted_202": len(run_ids),
                "distinct_jobs": len(set(run_ids)),
                "job_rows": len(l2_jobs),
                "drained_jobs_per_s": round(drained / elapsed, 2),
                "backlog_cancelled": cancelled,
            }
            print("L2", json.dumps(result["L2"]))
            # L3 uploads under L1 traffic
            payload = b"ISO-10303-21;\nHEADER;\nENDSEC;\nDATA;\n" + b"/* padding */\n" * int(
                args.upload_mb * 2**20 / 14
            )
            rss_before = max(rss.samples[-5:] or [0])

            def upload() -> tuple[int, float]:
                t = time.perf_counter()
                with httpx.Client(base_url=url, timeout=120) as uc:
                    r = uc.post("/models", content=payload, headers=ha)
                if r.status_code == 202:
                    uc2 = httpx.Client(base_url=url, timeout=30)
                    uc2.post(f"/runs/{r.json()['job_id']}/cancel", headers=ha)  # not a run: 404, harmless
                    uc2.close()
                return r.status_code, time.perf_counter() - t

            n_rss = len(rss.samples)
            outcomes: list[tuple[int, float]] = []
            threads = [
                threading.Thread(target=lambda: outcomes.append(upload())) for _ in range(args.uploads)
            ]
            for th in threads:
                th.start()
            l3 = mixed_reads(url, hs, ctx, args.rate, max(args.l1_s / 4, 5.0))
            for th in threads:
                th.join()
            during = rss.samples[n_rss:] or [rss_before]
            result["L3"] = {
                "uploads": args.uploads,
                "upload_mb": args.upload_mb,
                "upload_status": sorted(s for s, _ in outcomes),
                "upload_s_max": round(max(d for _, d in outcomes), 2),
                "reads_during": l3.summary(),
                "api_rss_mb_before": round(rss_before, 1),
                "api_rss_mb_peak": round(max(during), 1),
            }
            print("L3", json.dumps(result["L3"]))
            # the ingest jobs of the padding uploads would fail anyway; cancel through the store
            for job in store.list_jobs(["ingest"]):
                if job.state in ("queued", "running"):
                    store.cancel(job.id)
            rss.stop.set()
            result["api_rss_mb_max"] = round(max(rss.samples or [0]), 1)
            result["load_average_at_end"] = round(os.getloadavg()[0], 2)
            result["L1_goal_met"] = bool(result["L1"]["p99_ms"] < 250 and result["L1"]["errors"] == 0)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
