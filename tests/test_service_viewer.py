"""End to end as a user: `twin serve`, upload a model, run a scenario, open /viewer, click a building."""

from __future__ import annotations

import httpx
import numpy as np

from tests.browser import CHROMIUM_ARGS, chromium_or_skip
from tests.service_fixtures import LiveServer, demo_gpkg, make_client, wait_for  # noqa: F401

SPEC = {
    "name": "walls-pre-1945",
    "selections": {"old": {"year_max": 1944}},
    "measures": {"energy": [{"measure": "insulate_walls", "selection": "old", "target_u_w_m2k": 0.24}]},
    "simulations": {"energy": {}},
}


def test_served_viewer_shows_the_model_and_a_runs_results(demo_gpkg, tmp_path):  # noqa: F811
    chromium = chromium_or_skip()
    env = make_client(tmp_path)  # creates the data dir, the job store and one key per role
    key = env.headers["analyst"]["Authorization"].removeprefix("Bearer ")
    server = LiveServer(tmp_path, env={"TWIN_JOB_TIMEOUT_S": "120", "TWIN_JOB_MEMORY_MB": "4096"}).start()
    try:
        h = {"Authorization": f"Bearer {key}"}
        r = httpx.post(
            f"{server.url}/models", content=demo_gpkg.read_bytes(), headers=h, params={"filename": "d.gpkg"}
        )
        assert r.status_code == 202, r.text
        model_id = r.json()["model_id"]
        wait_for(
            lambda: httpx.get(f"{server.url}/models/{model_id}", headers=h).json()["job"]["state"] == "done",
            90,
        )
        r = httpx.post(f"{server.url}/runs", json={"model_id": model_id, "spec": SPEC}, headers=h)
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        wait_for(
            lambda: httpx.get(f"{server.url}/runs/{run_id}", headers=h).json()["job"]["state"] == "done", 120
        )

        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 900, "height": 640})
                page.goto(f"{server.url}/viewer#key={key}&model={model_id}&run={run_id}")
                page.wait_for_selector("body[data-ready]", timeout=30000)
                assert page.get_attribute("body", "data-ready") == "1", page.inner_text("#status")
                assert page.inner_text("#status") == "40 buildings"
                options = page.eval_on_selector_all("#color-by option", "els => els.map(e => e.value)")
                assert "d_heating_need_kwh" in options  # the run's per-building diff is there to colour by
                import pyogrio

                names = pyogrio.read_dataframe(demo_gpkg, layer="buildings", read_geometry=False)[
                    "building_id"
                ]
                names = names.astype(str).tolist()
                anchors = page.evaluate("ids => ids.map(id => twinViewer.anchor(id))", names)
                target = names[int(np.argmax([a[1] for a in anchors]))]  # the tallest roof (y is up)
                vp = np.array(page.evaluate("Array.from(twinViewer.viewProjection())")).reshape(4, 4).T
                w, hgt = page.evaluate("twinViewer.canvasSize()")
                clip = vp @ np.r_[anchors[names.index(target)], 1.0]
                box = page.locator("#view").bounding_box()
                x = (clip[0] / clip[3] + 1) / 2 * w
                y = (1 - clip[1] / clip[3]) / 2 * hgt
                page.mouse.click(box["x"] + x, box["y"] + y)
                page.wait_for_selector("#info:not([hidden])", timeout=10000)
                assert page.get_attribute("#info", "data-building-id") == target
                assert "heating_need_kwh_m2_variant" in page.inner_text("#info-table")
            finally:
                browser.close()
    finally:
        server.stop()
