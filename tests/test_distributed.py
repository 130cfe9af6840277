"""Sweeps on a 2-worker Dask LocalCluster: identical results to the single-process sweep, worker loss."""

from __future__ import annotations

import os
import signal
import time

import geopandas as gpd
import pandas as pd
import pytest

pytest.importorskip("distributed")

from bim_ingest.activities import activities_from_attributes  # noqa: E402
from bim_ingest.cityjson import read_cityjson  # noqa: E402
from bim_ingest.network import read_network_layers  # noqa: E402
from data import generate_district, write_district  # noqa: E402
from scenarios import Scenario, sweep  # noqa: E402
from scenarios.distributed import (  # noqa: E402
    DistributedError,
    close_client,
    energy_sweep_partitioned,
    make_client,
    partitionable,
    scenario_id,
    warm_workers,
)
from twin.partition import write_partitions  # noqa: E402


@pytest.fixture(scope="module")
def client():
    c = make_client("local", workers=2)
    yield c
    close_client(c)


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    folder = tmp_path_factory.mktemp("district")
    files = write_district(generate_district(100, seed=0), folder)
    model = read_cityjson(files["cityjson"])
    model.activities = activities_from_attributes(model)
    nodes, links = read_network_layers(files["streets_gpkg"], crs=model.crs)
    model.nodes = gpd.GeoDataFrame(nodes, geometry="geometry", crs=model.crs)
    model.links = gpd.GeoDataFrame(links, geometry="geometry", crs=model.crs)
    return model.with_party_walls()


def _specs(model) -> list[Scenario]:
    some_ids = model.buildings["building_id"].iloc[::7].tolist()
    walls = {"measure": "insulate_walls", "selection": "old", "target_u_w_m2k": 0.24}
    return [
        Scenario.from_dict(
            {
                "name": "walls-and-roofs-pre-1945",
                "selections": {"old": {"year_max": 1944}},
                "measures": {
                    "energy": [
                        walls,
                        {"measure": "insulate_roof", "target_u_w_m2k": 0.2},
                        {
                            "measure": "insulate_floor",
                            "thickness_m": 0.08,
                            "conductivity_w_mk": 0.035,
                            "thermal_bridge_w_m2k": 0.05,
                        },
                    ]
                },
            }
        ),
        Scenario.from_dict(
            {
                "name": "windows-listed-ids",
                "selections": {"listed": {"ids": some_ids}},
                "measures": {
                    "energy": [
                        {"measure": "replace_windows", "selection": "listed", "u_w_m2k": 1.1, "g_value": 0.5},
                        {"measure": "install_mvhr", "selection": "listed", "heat_recovery_efficiency": 0.85},
                        {"measure": "improve_airtightness", "n50_h": 3.0},
                    ]
                },
                "simulations": {"energy": {"setpoint_c": 20.0}},
            }
        ),
        # a mobility edit makes it a whole-model task
        Scenario.from_dict(
            {
                "name": "whole-model",
                "selections": {"old": {"year_max": 1944}},
                "measures": {
                    "energy": [walls],
                    "mobility": [{"edit": "scale_demand", "factor": 1.1}],
                },
            }
        ),
    ]


def _hashes(runs) -> list[str]:
    return [r.record["results_hash"] for r in runs]


@pytest.fixture(scope="module")
def single(district):
    return sweep(_specs(district), district)


def test_workers_run_numba_single_threaded(client):
    env = client.run(lambda: os.environ.get("NUMBA_NUM_THREADS"))
    assert list(env.values()) == ["1", "1"]
    info = warm_workers(client)
    assert [v["numba_threads"] for v in info.values()] == [1, 1]
    assert all(v["threading_layer"] != "none" for v in info.values())  # the parallel kernels ran


def test_dask_sweep_equals_single_process(client, district, single, tmp_path):
    specs = _specs(district)
    assert [partitionable(s) for s in specs] == [True, True, False]
    runs = sweep(specs, district, client=client, out_dir=tmp_path)
    assert _hashes(runs) == _hashes(single)
    tiled = runs[0]
    assert tiled.record["execution"]["partitioned"] and tiled.record["execution"]["tiles"] >= 2
    assert tiled.record["run_hash"] == single[0].record["run_hash"]
    assert tiled.record["applied"] == single[0].record["applied"]
    assert runs[1].record["applied"] == single[1].record["applied"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(tiled.results["energy"]), pd.DataFrame(single[0].results["energy"])
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(r.run_id for r in runs)


def test_cli_sweep_on_a_running_cluster_matches_in_process(client, district, tmp_path):
    import json

    from typer.testing import CliRunner

    from scenarios import load_run
    from twin.cli import app

    model_path = tmp_path / "district.gpkg"
    district.save(model_path)
    files = []
    for k, spec in enumerate(_specs(district)[:2]):
        files.append(tmp_path / f"spec{k}.json")
        files[-1].write_text(json.dumps(spec.model_dump(mode="json")))
    args = ["scenario", "sweep", *map(str, files), "--model", str(model_path)]
    runner = CliRunner()
    here = runner.invoke(app, [*args, "--out", str(tmp_path / "here")])
    assert here.exit_code == 0, here.output
    address = client.scheduler.address
    there = runner.invoke(app, [*args, "--out", str(tmp_path / "there"), "--cluster", address])
    assert there.exit_code == 0, there.output
    assert "2 run(s) saved" in there.output
    a = sorted((tmp_path / "here").iterdir())
    b = sorted((tmp_path / "there").iterdir())
    assert [p.name for p in a] == [p.name for p in b] and len(a) == 2
    for x, y in zip(a, b, strict=True):
        assert load_run(x).record["results_hash"] == load_run(y).record["results_hash"]
    with pytest.raises(DistributedError, match="cannot reach the Dask scheduler"):
        make_client("tcp://127.0.0.1:9", timeout_s=1.0)


def _no_restart(dask_worker) -> None:
    """On a nanny: do not start a new worker when this one dies (the scheduler still sees it die)."""
    from distributed.core import Status

    dask_worker.status = Status.closing_gracefully


def test_worker_killed_mid_sweep_is_rescheduled(client, district, single):
    """SIGKILL one of the two workers after the first task; its nanny does not restart it, so every
    remaining task must be rescheduled onto the survivor."""
    specs = _specs(district)[1:2]
    victim, pid = sorted(client.run(os.getpid).items())[0]
    client.run(_no_restart, workers=[victim], nanny=True)
    killed = []

    def kill_once(step, done, total):
        if done == 1 and not killed:
            os.kill(pid, signal.SIGKILL)
            killed.append(step)

    runs = sweep(specs, district, client=client, progress=kill_once)
    assert killed
    assert _hashes(runs) == _hashes(single)[1:2]
    deadline = time.monotonic() + 30
    while victim in client.scheduler_info()["workers"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(client.scheduler_info()["workers"]) != [victim]
    assert len(client.scheduler_info()["workers"]) == 1


def test_partitioned_energy_sweep_writes_resumable_files(client, district, single, tmp_path):
    specs = _specs(district)[:2]
    parts = write_partitions(district, tmp_path / "parts", target_buildings=50)
    # the model path in this process is the reference for the array path on the cluster
    local = energy_sweep_partitioned(parts.root, specs, tmp_path / "local", method="model")
    on_dask = energy_sweep_partitioned(parts.root, specs, tmp_path / "dask", client=client)
    assert local.tasks == on_dask.tasks == 3 * len(parts.tiles) == 6
    assert local.building_evaluations == 2 * len(district.buildings)
    for sid in ["baseline", *(scenario_id(s) for s in specs)]:
        for info in parts.tiles:
            name = f"scenario={sid}/part={info.key}.parquet"
            a = pd.read_parquet(tmp_path / "local" / "results" / name)
            b = pd.read_parquet(tmp_path / "dask" / "results" / name)
            pd.testing.assert_frame_equal(a, b, check_exact=True)
            assert len(a) == info.n_buildings
    # per building equal to the whole-model single-process runs
    for spec, run_ in zip(specs, single, strict=False):
        whole = run_.results["energy"].set_index("building_id")
        files = sorted((tmp_path / "dask" / "results" / f"scenario={scenario_id(spec)}").glob("*.parquet"))
        got = pd.concat([pd.read_parquet(f) for f in files]).set_index("building_id")
        assert (got["heating_need_kwh"] == whole.loc[got.index, "heating_need_kwh_variant"]).all()
    # resume: nothing to redo; a damaged file is redone
    again = energy_sweep_partitioned(parts.root, specs, tmp_path / "dask", client=client)
    assert again.tasks == 0 and again.skipped == on_dask.tasks
    damaged = files[0]
    damaged.write_bytes(damaged.read_bytes()[:-10])
    fixed = energy_sweep_partitioned(parts.root, specs, tmp_path / "dask", client=client)
    assert fixed.tasks == 1
    assert fixed.totals == on_dask.totals == local.totals


def test_non_energy_scenario_is_refused_for_partitions(district, tmp_path):
    parts = write_partitions(district, tmp_path / "p", target_buildings=80)
    with pytest.raises(DistributedError, match="only energy scenarios"):
        energy_sweep_partitioned(parts.root, _specs(district)[2:], tmp_path / "out")
