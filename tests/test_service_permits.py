"""Permit submissions through the API: architects submit, reviewers see all and decide."""

from __future__ import annotations

import json

import pytest
from service_fixtures import make_client

pytest.importorskip("bim_ingest.checks")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_client(tmp_path_factory.mktemp("permits"), max_upload_mb=20.0, permit_snapshots=False)


@pytest.fixture(scope="module")
def permit(env, ifc_data):
    ifc = ifc_data / "IfcOpenHouse_IFC4.ifc"
    r = env.client.post(
        "/permits", content=ifc.read_bytes(), headers=env.headers["architect"], params={"filename": ifc.name}
    )
    assert r.status_code == 202, r.text
    assert r.json()["job"]["state"] == "queued"
    env.drain()
    return r.json()["id"]


def test_permit_check_and_reports(env, permit):
    h = env.headers["architect"]
    body = env.client.get(f"/permits/{permit}", headers=h).json()
    assert body["job"]["state"] == "done", body
    assert body["status"] in ("pass", "fail") and body["decision"] is None
    report = env.client.get(f"/permits/{permit}/report", headers=h, params={"format": "json"})
    assert report.status_code == 200 and json.loads(report.content)["status"] == body["status"]
    html = env.client.get(f"/permits/{permit}/report", headers=h)
    assert html.status_code == 200 and b"<html" in html.content.lower()
    assert "default-src 'none'" in html.headers["content-security-policy"]
    bcf = env.client.get(f"/permits/{permit}/report", headers=h, params={"format": "bcf"})
    assert bcf.status_code == 200 and bcf.content[:2] == b"PK"
    names = {f["name"] for f in env.client.get(f"/permits/{permit}/files", headers=h).json()["files"]}
    assert {"report.html", "report.json", "findings.bcf"} <= names


def test_permit_visibility_and_decisions(env, permit):
    h = env.headers
    # B12: another architect cannot see or guess it; reviewers and admins can
    for path in (f"/permits/{permit}", f"/permits/{permit}/report", f"/permits/{permit}/files"):
        assert env.client.get(path, headers=h["architect2"]).status_code == 404
        assert env.client.get(path, headers=h["reviewer"]).status_code == 200
    assert env.client.get(f"/permits/{permit}", headers=h["analyst"]).status_code == 403
    assert permit not in [p["id"] for p in env.client.get("/permits", headers=h["architect2"]).json()]
    assert permit in [p["id"] for p in env.client.get("/permits", headers=h["reviewer"]).json()]
    assert permit in [p["id"] for p in env.client.get("/permits", headers=h["architect"]).json()]
    # B15: only reviewers decide; B13: no extra fields
    decision = {"decision": "approved", "comment": "conforms"}
    assert (
        env.client.post(f"/permits/{permit}/decision", json=decision, headers=h["architect"]).status_code
        == 403
    )
    r = env.client.post(
        f"/permits/{permit}/decision", json={**decision, "status": "x"}, headers=h["reviewer"]
    )
    assert r.status_code == 422
    r = env.client.post(f"/permits/{permit}/decision", json=decision, headers=h["reviewer"])
    assert r.status_code == 200 and r.json()["decision"] == "approved"
    assert (
        env.client.get(f"/permits/{permit}", headers=h["architect"]).json()["decision_comment"] == "conforms"
    )
    r = env.client.post("/permits/" + "0" * 32 + "/decision", json=decision, headers=h["reviewer"])
    assert r.status_code == 404
