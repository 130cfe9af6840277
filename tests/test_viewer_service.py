"""The /viewer routes (FastAPI, fake provider) and the page in real headless Chromium."""

from __future__ import annotations

import socket
import threading
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.browser import CHROMIUM_ARGS, chromium_or_skip

KEY = "test-key-123"


@lru_cache(maxsize=1)
def _district(tmp: str):
    from bim_ingest.cityjson import read_cityjson
    from data import generate_district, write_district

    folder = Path(tmp)
    folder.mkdir(parents=True, exist_ok=True)
    return read_cityjson(write_district(generate_district(12, seed=0), folder)["cityjson"])


class FakeProvider:
    """Model ``m1`` for everyone, ``secret`` for nobody; run ``r1`` holds energy-like results."""

    def __init__(self, model):
        self.model = model
        ids = model.buildings["building_id"].astype(str).to_numpy()
        self.results = pd.DataFrame(
            {
                "building_id": ids,
                "heating_need_kwh_m2": 50.0 + 20.0 * np.arange(len(ids)),
                "peb_class_estimate": "D",
            }
        )

    def get_model(self, model_id, principal):
        from twin.errors import UnknownEntityError

        assert principal == "alice"
        if model_id != "m1":
            raise UnknownEntityError(f"no model {model_id}")
        return self.model

    def get_results(self, run_id, principal):
        from twin.errors import UnknownEntityError

        if run_id != "r1":
            raise UnknownEntityError(f"no run {run_id}")
        return self.results


def _app(model):
    from fastapi import FastAPI, Header, HTTPException

    from twin.service.routers.viewer import make_viewer_router

    def auth(authorization: str | None = Header(default=None)) -> str:
        if authorization != f"Bearer {KEY}":
            raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"})
        return "alice"

    provider = FakeProvider(model)
    app = FastAPI()
    app.include_router(make_viewer_router(provider, auth))
    return app, provider


@pytest.fixture()
def model(tmp_path_factory):
    return _district(str(tmp_path_factory.getbasetemp() / "viewer-service"))


def test_viewer_routes(model):
    import pygltflib
    from fastapi.testclient import TestClient

    app, provider = _app(model)
    c = TestClient(app)
    page = c.get("/viewer")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '"api": "/viewer/api"' in page.text and 'src="/viewer/static/viewer.js"' in page.text
    js = c.get("/viewer/static/viewer.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and "parseGlb" in js.text
    for bad in (
        "../html.py",
        "..%2Fhtml.py",
        "%2e%2e/html.py",
        "web/../../html.py",
        ".hidden",
        "nope.js",
        "",
    ):
        assert c.get(f"/viewer/static/{bad}").status_code == 404, bad
    # data routes need the key
    assert c.get("/viewer/api/scene.glb?model=m1").status_code == 401
    assert c.get("/viewer/api/buildings/BXL-000001?model=m1").status_code == 401
    h = {"Authorization": f"Bearer {KEY}"}
    assert c.get("/viewer/api/scene.glb?model=secret", headers=h).status_code == 404
    assert c.get("/viewer/api/scene.glb?model=m1&run=r9", headers=h).status_code == 404
    assert c.get("/viewer/api/scene.glb?model=m1&color_by=nope", headers=h).status_code == 422
    r = c.get("/viewer/api/scene.glb?model=m1&run=r1", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "model/gltf-binary"
    g = pygltflib.GLTF2.load_from_bytes(r.content)
    nodes = [n for n in g.nodes if (n.extras or {}).get("layer") == "building"]
    assert len(nodes) == len(model.buildings) == len(g.meshes)
    assert g.scenes[0].extras["color_by"] == "heating_need_kwh_m2"  # the run's default column
    row = provider.results.iloc[4]
    b = c.get(f"/viewer/api/buildings/{row['building_id']}?model=m1&run=r1", headers=h)
    assert b.status_code == 200
    body = b.json()
    assert body["results"]["heating_need_kwh_m2"] == pytest.approx(row["heating_need_kwh_m2"])
    assert body["attributes"]["height_m"] == pytest.approx(model.buildings["height_m"].iloc[4])
    assert c.get("/viewer/api/buildings/NOPE?model=m1", headers=h).status_code == 404


@pytest.fixture()
def server(model):
    import uvicorn

    app, provider = _app(model)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", provider
    srv.should_exit = True
    thread.join(timeout=5)


def test_page_in_headless_chromium_draws_and_picks(server, model, tmp_path):
    """The page loads, draws the district, recolours, and a click on a building shows its id and results."""
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    base, provider = server
    ids = model.buildings["building_id"].astype(str).tolist()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 640})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(f"{base}/viewer#key={KEY}&model=m1&run=r1")
            page.wait_for_selector("body[data-ready]", timeout=15000)
            assert page.get_attribute("body", "data-ready") == "1", page.inner_text("#status")
            assert page.inner_text("#status") == f"{len(ids)} buildings"
            # the canvas drew the model: many pixels differ from the background
            shot = page.locator("#view").screenshot()
            import io

            from PIL import Image

            img = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)
            background = np.array([247, 247, 244])
            drawn = (np.abs(img - background).max(axis=2) > 12).mean()
            assert drawn > 0.02, f"only {drawn:.1%} of the canvas differs from the background"
            # the colour choice lists the run's columns and the legend follows it
            options = page.eval_on_selector_all("#color-by option", "els => els.map(e => e.value)")
            assert "heating_need_kwh_m2" in options and "height_m" in options
            assert "heating need" in page.inner_text("#legend")
            page.select_option("#color-by", "peb_class_estimate")
            assert "G" in page.inner_text("#legend")
            # click the tallest building's roof point, projected with the page's own camera matrix
            anchors = {i: page.evaluate("id => twinViewer.anchor(id)", i) for i in ids}
            target = max(ids, key=lambda i: anchors[i][1])  # y is up in glTF
            vp = np.array(page.evaluate("Array.from(twinViewer.viewProjection())")).reshape(4, 4).T
            w, h = page.evaluate("twinViewer.canvasSize()")
            clip = vp @ np.r_[anchors[target], 1.0]
            x = (clip[0] / clip[3] + 1) / 2 * w
            y = (1 - clip[1] / clip[3]) / 2 * h
            box = page.locator("#view").bounding_box()
            assert 0 < x < w and 0 < y < h
            page.mouse.click(box["x"] + x, box["y"] + y)
            page.wait_for_selector("#info:not([hidden])", timeout=5000)
            assert page.inner_text("#info-title") == f"Building {target}"
            assert page.get_attribute("#info", "data-building-id") == target
            k = ids.index(target)
            need = provider.results["heating_need_kwh_m2"].iloc[k]
            assert f"{need:g}" in page.inner_text("#info-table")
            assert not errors, errors
            assert all(u.startswith(base) for u in requests), "the page fetched something outside the app"
            # the standalone export opens from disk, with no server and no network
            from viewer.html import write_html
            from viewer.scene import build_scene

            html = write_html(build_scene(model, provider.results, "peb_class_estimate"), tmp_path / "s.html")
            requests.clear()
            page.goto(html.as_uri())
            page.wait_for_selector("body[data-ready]", timeout=15000)
            assert page.inner_text("#status") == f"{len(ids)} buildings"
            assert page.eval_on_selector("#color-by", "e => e.value") == "peb_class_estimate"
            assert requests == [html.as_uri()] and not errors, (requests, errors)
        finally:
            browser.close()
