"""The service's endpoints through TestClient: models, buildings, roles, uploads, errors."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from service_fixtures import cancel_queued, demo_gpkg, make_client, upload_model  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_client(tmp_path_factory.mktemp("svc"))


@pytest.fixture(scope="module")
def model(env, demo_gpkg):  # noqa: F811
    model_id, job_id = upload_model(env, demo_gpkg)
    return model_id


def uploads_left(env) -> list[str]:
    return sorted(p.name for p in (env.settings.data_dir / "uploads").iterdir() if p.suffix == ".part")


def test_health(env):
    r = env.client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["backend"] == "sqlite"


@pytest.mark.parametrize(
    "path", ["/models", "/scenarios", "/runs", "/permits", "/jobs/x", "/models/x/buildings"]
)
def test_missing_or_wrong_key_is_401_never_422(env, path):
    assert env.client.get(path).status_code == 401
    r = env.client.get(path, headers={"Authorization": "Bearer twk_not-a-key"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert env.client.get(path, headers={"Authorization": "Basic abc"}).status_code == 401


def test_model_upload_ingest_and_buildings(env, model):
    r = env.client.get(f"/models/{model}", headers=env.headers["analyst"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["job"]["state"] == "done" and body["summary"]["buildings"] == 40
    assert body["original_name"] == "district.gpkg" and body["format"] == "gpkg"
    r = env.client.get(f"/models/{model}/buildings", headers=env.headers["analyst"], params={"limit": 10})
    fc = r.json()
    assert r.status_code == 200 and fc["type"] == "FeatureCollection"
    assert fc["numberMatched"] == 40 and fc["numberReturned"] == 10 and "offset=10" in fc["next"]
    lon0, lat0, lon1, lat1 = fc["bbox"]
    assert 4.0 < lon0 <= lon1 < 5.0 and 50.0 < lat0 <= lat1 < 51.5
    first = fc["features"][0]
    r = env.client.get(f"/models/{model}/buildings/{first['id']}", headers=env.headers["analyst"])
    assert r.status_code == 200 and r.json()["properties"]["building_id"] == first["id"]
    # bbox filter: a box around the first building only finds a few
    g = first["geometry"]["coordinates"][0]
    xs, ys = [p[0] for p in g], [p[1] for p in g]
    r = env.client.get(
        f"/models/{model}/buildings",
        headers=env.headers["analyst"],
        params={"bbox": f"{min(xs)},{min(ys)},{max(xs)},{max(ys)}"},
    )
    assert 1 <= r.json()["numberMatched"] < 40
    assert first["id"] in [f["id"] for f in r.json()["features"]]
    # attribute filters
    years = [f["properties"].get("year_built") for f in fc["features"] if f["properties"].get("year_built")]
    if years:
        r = env.client.get(
            f"/models/{model}/buildings",
            headers=env.headers["analyst"],
            params={"year_max": min(years), "limit": 1000},
        )
        assert all(f["properties"]["year_built"] <= min(years) for f in r.json()["features"])
    r = env.client.get(
        f"/models/{model}/buildings", headers=env.headers["analyst"], params={"use": "no-such-use"}
    )
    assert r.json()["numberMatched"] == 0


def test_buildings_caps_and_bad_input(env, model):
    h = env.headers["analyst"]
    assert env.client.get(f"/models/{model}/buildings", headers=h, params={"limit": 5000}).status_code == 422
    assert (
        env.client.get(f"/models/{model}/buildings", headers=h, params={"bbox": "1,2,3"}).status_code == 422
    )
    assert (
        env.client.get(f"/models/{model}/buildings", headers=h, params={"bbox": "a,b,c,d"}).status_code == 422
    )
    assert (
        env.client.get(f"/models/{model}/buildings", headers=h, params={"bbox": "nan,1,2,3"}).status_code
        == 422
    )
    assert env.client.get(f"/models/{model}/buildings/nope", headers=h).status_code == 404


def test_role_rules_and_id_guessing(env, model):
    h = env.headers
    # B12: another analyst neither sees nor guesses the model
    assert env.client.get(f"/models/{model}", headers=h["analyst2"]).status_code == 404
    assert env.client.get(f"/models/{model}/buildings", headers=h["analyst2"]).status_code == 404
    assert model not in [m["id"] for m in env.client.get("/models", headers=h["analyst2"]).json()]
    assert env.client.get("/models/0123456789abcdef0123456789abcdef", headers=h["analyst"]).status_code == 404
    # admin sees everything
    assert env.client.get(f"/models/{model}", headers=h["admin"]).status_code == 200
    # B15: roles per endpoint
    assert env.client.post("/models", content=b"ISO-10303-21;", headers=h["architect"]).status_code == 403
    assert env.client.post("/models", content=b"ISO-10303-21;", headers=h["reviewer"]).status_code == 403
    assert env.client.get("/scenarios", headers=h["architect"]).status_code == 403
    assert env.client.get("/runs", headers=h["reviewer"]).status_code == 403
    assert env.client.post("/permits", content=b"ISO-10303-21;", headers=h["analyst"]).status_code == 403
    assert env.client.get("/permits", headers=h["analyst"]).status_code == 403
    r = env.client.post("/permits/0123/decision", json={"decision": "approved"}, headers=h["architect"])
    assert r.status_code == 403
    # a job of someone else is invisible
    job_id = env.client.get(f"/models/{model}", headers=h["analyst"]).json()["job"]["id"]
    assert env.client.get(f"/jobs/{job_id}", headers=h["analyst"]).status_code == 200
    assert env.client.get(f"/jobs/{job_id}", headers=h["analyst2"]).status_code == 404
    assert env.client.get(f"/jobs/{job_id}", headers=h["architect"]).status_code == 404


def test_admin_models_are_shared(env, demo_gpkg):  # noqa: F811
    r = env.client.post("/models", content=demo_gpkg.read_bytes(), headers=env.headers["admin"])
    model_id = r.json()["model_id"]
    assert env.client.get(f"/models/{model_id}", headers=env.headers["analyst2"]).json()["shared"] is True
    cancel_queued(env)


def test_b5_upload_limit_declared_and_chunked(env):
    big = b"ISO-10303-21;\n" + b"x" * (2 * 1024 * 1024)
    r = env.client.post("/models", content=big, headers=env.headers["analyst"])
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    def chunks():
        yield b"ISO-10303-21;\n"
        for _ in range(40):
            yield b"y" * 65536

    r = env.client.post("/models", content=chunks(), headers=env.headers["analyst"])
    assert r.status_code == 413
    assert uploads_left(env) == []


def _zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    "case,members",
    [
        ("bomb", {"a.ifc": b"ISO-10303-21;\n" + b"\0" * (3 * 1024 * 1024)}),
        ("many", {f"m{i}.txt": b"x" for i in range(150)} | {"a.ifc": b"ISO-10303-21;"}),
        ("traversal", {"../../x.ifc": b"ISO-10303-21;"}),
        ("absolute", {"/etc/x.ifc": b"ISO-10303-21;"}),
        ("no ifc", {"readme.txt": b"hello"}),
        ("nested", {"inner.zip": b"PK\x03\x04", "a.ifc": b"ISO-10303-21;"}),
    ],
)
def test_b6_ifczip_rejected(env, case, members):
    before = sorted(p.name for p in (env.settings.data_dir / "uploads").iterdir())
    r = env.client.post("/permits", content=_zip(members), headers=env.headers["architect"])
    assert r.status_code == 422, (case, r.text)
    assert r.json()["detail"].startswith("archive rejected")
    assert sorted(p.name for p in (env.settings.data_dir / "uploads").iterdir()) == before


def test_b6_encrypted_zip_rejected(env):
    data = bytearray(_zip({"a.ifc": b"ISO-10303-21;"}, compression=zipfile.ZIP_STORED))
    # set the "encrypted" flag bit in the local and central headers
    data[6] |= 1
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 1
    r = env.client.post("/permits", content=bytes(data), headers=env.headers["architect"])
    assert r.status_code == 422 and "encrypted" in r.json()["detail"]


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0"><name>&xxe;</name></core:CityModel>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<CityModel>&lol2;</CityModel>"""


@pytest.mark.parametrize(
    "payload", [XXE, LAUGHS, XXE.replace(b"file:///etc/passwd", b"http://169.254.169.254/")]
)
def test_b7_xml_entities_rejected(env, payload):
    r = env.client.post("/models", content=payload, headers=env.headers["analyst"])
    assert r.status_code == 422
    assert "root:" not in r.text


def test_b8_hostile_file_names_stored_under_uuid(env):
    ifc = (
        b"ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION((''),'2;1');\nFILE_NAME('','',(''),(''),'','','');\n"
        b"FILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\nENDSEC;\nEND-ISO-10303-21;\n"
    )
    names = ["../../etc/passwd", "con.ifc", "a\x00b.ifc", "x" * 4096, "evil\u202etxt.ifc"]
    for name in names:
        r = env.client.post(
            "/permits", content=ifc, headers=env.headers["architect"], params={"filename": name}
        )
        assert r.status_code in (202, 422), r.text
    stored = [p.name for p in (env.settings.data_dir / "uploads").iterdir()]
    assert all(len(Path(n).stem.split(".")[0]) == 32 for n in stored), stored
    assert not (env.settings.data_dir.parent / "etc").exists()
    r = env.client.post(
        "/models", content=ifc, headers=env.headers["analyst"], params={"filename": "evil\u202etxt/../x.ifc"}
    )
    meta = env.client.get(f"/models/{r.json()['model_id']}", headers=env.headers["analyst"]).json()
    assert "\u202e" not in meta["original_name"] and "/" not in meta["original_name"]
    cancel_queued(env)


@pytest.mark.parametrize(
    "payload,code",
    [
        (b"%PDF-1.7\n...", 415),
        (b"\x7fELF\x02\x01\x01", 415),
        (b'{"type": "FeatureCollection"}', 415),
        (b"\x00\x01garbage", 415),
    ],
)
def test_b9_magic_sniff(env, payload, code):
    r = env.client.post(
        "/models", content=payload, headers=env.headers["analyst"], params={"filename": "x.ifc"}
    )
    assert r.status_code == code, r.text


def test_b13_mass_assignment_refused(env):
    h = env.headers
    r = env.client.post("/runs", json={"model_id": "x", "spec": {}, "owner": "someone"}, headers=h["analyst"])
    assert r.status_code == 422
    r = env.client.post(
        "/scenarios", json={"name": "x", "spec": {}, "status": "approved"}, headers=h["analyst"]
    )
    assert r.status_code == 422
    r = env.client.post(
        "/permits/x/decision", json={"decision": "approved", "owner": "me"}, headers=h["reviewer"]
    )
    assert r.status_code == 422


def test_b17_cors_trace_and_generic_errors(tmp_path):
    env = make_client(tmp_path, cors_origins=["https://twin.example.brussels"])
    pre = {"Access-Control-Request-Method": "GET"}
    r = env.client.options("/models", headers={"Origin": "https://evil.example", **pre})
    assert "access-control-allow-origin" not in r.headers
    r = env.client.options("/models", headers={"Origin": "https://twin.example.brussels", **pre})
    assert r.headers["access-control-allow-origin"] == "https://twin.example.brussels"
    assert env.client.request("TRACE", "/health").status_code == 405
    assert env.client.request("TRACE", "/models").status_code == 405

    @env.client.app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals /etc/shadow")

    r = env.client.get("/boom")
    assert r.status_code == 500
    assert "secret" not in r.text and "Traceback" not in r.text and r.json()["detail"].startswith("internal")


def test_f7_store_unavailable_gives_503(tmp_path):
    from twin.service.store import JobStore

    env = make_client(tmp_path / "ok")
    env.client.app.state.store = JobStore(tmp_path / "missing-folder" / "jobs.sqlite")
    env.client.app.state.key_cache._entries.clear()
    r = env.client.get("/health")
    assert r.status_code == 503 and r.json()["status"] == "degraded" and r.headers["retry-after"]
    r = env.client.get("/models", headers=env.headers["analyst"])
    assert r.status_code == 503 and r.headers["retry-after"] == "5"


def test_f10_corrupt_result_detected_and_recomputed(env, model):
    model_id = model
    job_id = env.client.get(f"/models/{model_id}", headers=env.headers["analyst"]).json()["job"]["id"]
    result = env.store.get_result(job_id)
    path = env.settings.data_dir / result["path"] / "model.gpkg"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    r = env.client.get(f"/models/{model_id}/buildings", headers=env.headers["analyst"])
    assert r.status_code == 503 and "integrity" in r.json()["detail"] and r.headers["retry-after"]
    job = env.store.get_job(job_id)
    assert job.state == "queued" and env.store.count_results(job_id) == 0
    env.drain()
    assert env.store.get_job(job_id).state == "done" and env.store.count_results(job_id) == 1
    r = env.client.get(f"/models/{model_id}/buildings", headers=env.headers["analyst"])
    assert r.status_code == 200


def test_failed_ingest_reports_reason(env):
    r = env.client.post(
        "/models", content=b"ISO-10303-21;\nHEADER;\nDATA;\n#1=IFCWALL(", headers=env.headers["analyst"]
    )
    assert r.status_code == 202
    env.drain()
    body = env.client.get(f"/models/{r.json()['model_id']}", headers=env.headers["analyst"]).json()
    assert body["job"]["state"] == "failed" and body["job"]["error"]
    assert "Traceback" not in body["job"]["error"]
    r = env.client.get(f"/models/{r.json()['model_id']}/buildings", headers=env.headers["analyst"])
    assert r.status_code == 409


def test_openapi_is_complete(env):
    spec = env.client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in (
        "/models",
        "/models/{model_id}/buildings",
        "/scenarios",
        "/runs",
        "/runs/{run_id}/results",
        "/permits",
        "/permits/{permit_id}/decision",
        "/health",
    ):
        assert p in paths
    assert json.dumps(spec).count('"401"') >= 10
