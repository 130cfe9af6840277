"""Scenarios and runs through the API: the same results as the Python API, idempotent submits, roles."""

from __future__ import annotations

import hashlib
import io
import threading

import pytest
from service_fixtures import demo_gpkg, make_client, upload_model, wait_for  # noqa: F401

scenarios = pytest.importorskip("scenarios")

SPEC = {
    "schema_version": "1.0",
    "name": "renovate-old-terraced",
    "selections": {"old": {"typology": "terraced", "year_max": 1944}},
    "measures": {
        "energy": [
            {"measure": "insulate_walls", "selection": "old", "target_u_w_m2k": 0.24},
            {"measure": "insulate_roof", "selection": "old", "target_u_w_m2k": 0.24},
        ]
    },
    "simulations": {"energy": {}},
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_client(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def model_id(env, demo_gpkg):  # noqa: F811
    return upload_model(env, demo_gpkg)[0]


@pytest.fixture(scope="module")
def done_run(env, model_id):
    h = env.headers["analyst"]
    r = env.client.post("/scenarios", json={"name": "old terraced", "spec": SPEC}, headers=h)
    assert r.status_code == 201, r.text
    scenario_id = r.json()["id"]
    answers: list = []
    barrier = threading.Barrier(5)

    def submit() -> None:
        barrier.wait()
        answers.append(
            env.client.post(
                "/runs",
                json={"model_id": model_id, "scenario_id": scenario_id},
                headers={**h, "Idempotency-Key": "run-1"},
            )
        )

    threads = [threading.Thread(target=submit) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [202] * 5
    run_ids = {a.json()["run_id"] for a in answers}
    assert len(run_ids) == 1  # F9: one job for five concurrent submissions
    env.drain()
    return run_ids.pop(), scenario_id


def test_scenario_validate_schema_and_store(env, done_run):
    h = env.headers["analyst"]
    assert env.client.post("/scenarios/validate", json=SPEC, headers=h).json() == {
        "valid": True,
        "error": None,
    }
    bad = {
        **SPEC,
        "measures": {"energy": [{"measure": "insulate_walls", "selection": "old", "target_u_w_m2k": -3}]},
    }
    out = env.client.post("/scenarios/validate", json=bad, headers=h).json()
    assert out["valid"] is False and "target_u_w_m2k" in out["error"]
    r = env.client.post("/scenarios", json={"spec": {**SPEC, "bogus_field": 1}}, headers=h)
    assert r.status_code == 422 and "bogus_field" in r.json()["detail"]
    assert "properties" in env.client.get("/scenarios/schema", headers=h).json()
    # no server path reaches the file system through a spec
    for extra in (
        {"base_model": "/etc/passwd"},
        {"measures": {"bim": [{"bim": "add_ifc", "file": "../../uploads/other.ifc"}]}},
    ):
        r = env.client.post("/scenarios", json={"spec": {**SPEC, **extra}}, headers=h)
        assert r.status_code == 422 and "invalid scenario" in r.json()["detail"], r.text
    _, scenario_id = done_run
    assert env.client.get(f"/scenarios/{scenario_id}", headers=h).json()["spec"]["name"] == SPEC["name"]
    assert scenario_id in [s["id"] for s in env.client.get("/scenarios", headers=h).json()]
    assert env.client.get(f"/scenarios/{scenario_id}", headers=env.headers["analyst2"]).status_code == 404


def test_run_results_match_the_python_api(env, done_run, model_id):
    from twin.model import CityModel

    run_id, _ = done_run
    h = env.headers["analyst"]
    body = env.client.get(f"/runs/{run_id}", headers=h).json()
    assert body["job"]["state"] == "done", body
    model_path = env.settings.data_dir / env.store.get_job(run_id).payload["model_path"]
    direct = scenarios.run(scenarios.Scenario.model_validate(SPEC), CityModel.load(model_path))
    assert body["summary"]["run_hash"] == direct.record["run_hash"]
    listing = env.client.get(f"/runs/{run_id}/results", headers=h).json()
    files = {f["name"].rsplit("/", 1)[-1]: f for f in listing["files"]}
    assert {"run.json", "energy.gpkg", "diff_energy.csv"} <= set(files)
    gpkg = files["energy.gpkg"]
    r = env.client.get(gpkg["url"], headers=h)
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == gpkg["sha256"]
    assert r.headers["etag"] == f'"{gpkg["sha256"]}"'
    r = env.client.get(gpkg["url"], headers=h, params={"format": "geojson"})
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 40
    import pandas as pd

    csv = pd.read_csv(io.StringIO(env.client.get(gpkg["url"], headers=h, params={"format": "csv"}).text))
    assert len(csv) == 40 and "building_id" in csv
    r = env.client.get(files["diff_energy.csv"]["url"], headers=h)
    assert r.status_code == 200 and "building_id" in r.text.splitlines()[0]
    r = env.client.get(files["run.json"]["url"], headers=h, params={"format": "geojson"})
    assert r.status_code == 422
    assert env.client.get(f"/runs/{run_id}/results/../../jobs.sqlite", headers=h).status_code == 404


def test_runs_are_private(env, done_run):
    run_id, scenario_id = done_run
    other = env.headers["analyst2"]
    for path in (f"/runs/{run_id}", f"/runs/{run_id}/results", f"/runs/{run_id}/results/run.json"):
        assert env.client.get(path, headers=other).status_code == 404
    assert env.client.post(f"/runs/{run_id}/cancel", headers=other).status_code == 404
    assert run_id not in [r["run_id"] for r in env.client.get("/runs", headers=other).json()]
    assert env.client.get(f"/runs/{run_id}", headers=env.headers["admin"]).status_code == 200
    # a model or scenario of someone else cannot be used either
    r = env.client.post("/runs", json={"model_id": "f" * 32, "scenario_id": scenario_id}, headers=other)
    assert r.status_code == 404


def test_submit_errors_and_cancel(env, model_id, done_run):
    h = env.headers["analyst"]
    assert env.client.post("/runs", json={"model_id": model_id}, headers=h).status_code == 422
    r = env.client.post(
        "/runs",
        json={"model_id": model_id, "spec": {**SPEC, "name": "x"}},
        headers={**h, "Idempotency-Key": "run-1"},
    )
    assert r.status_code == 409  # the key is taken by another request
    r = env.client.post("/runs", json={"model_id": model_id, "spec": {**SPEC, "name": "queued"}}, headers=h)
    run_id = r.json()["run_id"]
    assert env.client.post(f"/runs/{run_id}/cancel", headers=h).json()["state"] == "cancelled"
    assert env.client.get(f"/runs/{run_id}/results", headers=h).status_code == 409


def test_cancel_running_job_stops_its_child(env):
    job, _ = env.store.submit("test_sleep", env.principals["analyst"], {"seconds": 20})
    w = env.worker()
    t = threading.Thread(target=w.run_once)
    t.start()
    wait_for(lambda: env.store.get_job(job.id).state == "running", 10)
    env.store.cancel(job.id)
    t.join(10)
    assert not t.is_alive()
    final = env.store.get_job(job.id)
    assert final.state == "cancelled" and final.finished - final.started < 10


def test_viewer_provider(env, done_run, model_id):
    from twin.errors import UnknownEntityError
    from twin.service.app import ServiceProvider
    from twin.service.auth import Principal

    provider = ServiceProvider(env.client.app)
    me = Principal(env.principals["analyst"], "analyst", "analyst")
    other = Principal(env.principals["analyst2"], "analyst2", "analyst")
    assert len(provider.get_model(model_id, me).buildings) == 40
    with pytest.raises(UnknownEntityError):
        provider.get_model(model_id, other)
    table = provider.get_results(done_run[0], me)
    assert table is not None and "building_id" in table.columns and len(table) == 40
    with pytest.raises(UnknownEntityError):
        provider.get_results(done_run[0], other)
