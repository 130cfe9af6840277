"""Off-screen images: the coloured buildings are where the model puts them, in their legend colours."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

SIZE = (640, 480)


@lru_cache(maxsize=1)
def _district(tmp: str):
    import pathlib

    import geopandas as gpd

    from bim_ingest.cityjson import read_cityjson
    from bim_ingest.network import read_network_layers
    from data import generate_district, write_district

    folder = pathlib.Path(tmp)
    folder.mkdir(parents=True, exist_ok=True)
    files = write_district(generate_district(12, seed=0), folder)
    model = read_cityjson(files["cityjson"])
    nodes, links = read_network_layers(files["streets_gpkg"], crs=model.crs)
    model.nodes = gpd.GeoDataFrame(nodes, geometry="geometry", crs=model.crs)
    model.links = gpd.GeoDataFrame(links, geometry="geometry", crs=model.crs)
    return model


@pytest.fixture()
def model(tmp_path_factory):
    return _district(str(tmp_path_factory.getbasetemp() / "viewer-render"))


def _results(model, offset: float = 0.0) -> pd.DataFrame:
    ids = model.buildings["building_id"].astype(str).to_numpy()
    return pd.DataFrame(
        {"building_id": ids, "heating_need_kwh_m2": 40.0 + 30.0 * np.arange(len(ids)) + offset}
    )


def _project_with_vtk_camera(plotter, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (column, row from the top) and view distance of points, from the camera's own matrices."""
    w, h = plotter.window_size
    cam = plotter.camera
    m = cam.GetCompositeProjectionTransformMatrix(w / h, -1, 1)
    mat = np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])
    clip = mat @ np.c_[points, np.ones(len(points))].T
    ndc = clip[:3] / clip[3]
    col = (ndc[0] + 1) / 2 * w
    row = h - (ndc[1] + 1) / 2 * h
    eye = np.asarray(cam.position)
    fwd = np.asarray(cam.focal_point) - eye
    fwd /= np.linalg.norm(fwd)
    return np.c_[col, row], (points - eye) @ fwd


def _sample(img: np.ndarray, col: float, row: float) -> np.ndarray:
    r, c = int(row), int(col)
    patch = img[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].reshape(-1, 3).astype(float)
    return np.median(patch, axis=0)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cos, -1, 1))))


@pytest.mark.parametrize("preset", ["plan", "overview"])
def test_buildings_show_their_legend_colour_at_their_roof(model, preset):
    """Each visible roof point shows its legend colour (times the white lighting's brightness factor)."""
    from viewer.render import BACKGROUND, make_plotter, project
    from viewer.scene import build_scene

    scene = build_scene(model, _results(model), "heating_need_kwh_m2")
    plotter = make_plotter(scene, preset, window_size=SIZE)
    try:
        img = np.asarray(plotter.screenshot(return_img=True))[..., :3]
        depth = np.asarray(plotter.get_image_depth())
        px, dist = _project_with_vtk_camera(plotter, scene.buildings.anchor)
        np.testing.assert_allclose(project(plotter, scene.buildings.anchor), px - [0, 1], atol=1.0)
    finally:
        plotter.close()
    assert img.shape == (SIZE[1], SIZE[0], 3)
    checked, flat = 0, 0
    for k, (col, row) in enumerate(px):
        assert 0 <= col < SIZE[0] and 0 <= row < SIZE[1], "a building is outside the view"
        seen = -depth[int(row), int(col)]
        if not np.isfinite(seen) or abs(seen - dist[k]) > 0.5:  # hidden behind another building
            continue
        got, want = _sample(img, col, row), scene.buildings.colors[k].astype(float)
        assert np.abs(got - np.asarray(BACKGROUND)).max() > 5
        assert _angle_deg(got, want) < 2.5, (scene.buildings.ids[k], got, want)
        ratio = np.linalg.norm(got) / np.linalg.norm(want)
        assert 0.6 < ratio < 1.02
        flat += bool(np.abs(got - want).max() <= 2)  # flat roofs: exactly the legend colour
        checked += 1
    assert checked >= 0.75 * len(px)
    assert flat >= 2  # the district has flat-roofed buildings


def test_png_has_legend_and_title(model, tmp_path):
    from PIL import Image

    from viewer.render import render_png
    from viewer.scene import build_scene

    scene = build_scene(model, _results(model), "heating_need_kwh_m2", title="heat")
    path = render_png(scene, tmp_path / "heat.png", "plan", window_size=SIZE)
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape == (SIZE[1] + 44, SIZE[0] + 300, 3)
    legend = img[44:, SIZE[0] :]
    top, bottom = scene.buildings.scale.rgb([scene.buildings.scale.vmax, scene.buildings.scale.vmin])
    # the ramp (x 16..46 of the panel) runs from the vmax colour at its top to the vmin colour at its bottom
    ramp = legend[:, 30]
    rows = np.where(np.abs(ramp.astype(int) - top.astype(int)).max(axis=1) <= 3)[0]
    rows_low = np.where(np.abs(ramp.astype(int) - bottom.astype(int)).max(axis=1) <= 3)[0]
    assert len(rows) and len(rows_low) and rows.min() < rows_low.max()
    # the interactive window's own legends (scalar bar, class boxes) build off-screen too
    from viewer.render import make_plotter

    peb = build_scene(model, _results(model).assign(peb_class_estimate="C"), "peb_class_estimate")
    for s in (scene, peb):
        plotter = make_plotter(s, "overview", window_size=(200, 150), scalar_bars=True)
        try:
            assert np.asarray(plotter.screenshot(return_img=True)).std() > 5
        finally:
            plotter.close()


def test_before_after_share_camera_and_scale(model, tmp_path):
    from PIL import Image

    from viewer.colors import ColorScale
    from viewer.render import side_by_side_png
    from viewer.scene import build_scene

    before, after = _results(model), _results(model, offset=-100.0)
    scale = ColorScale.for_values("heating_need_kwh_m2", pd.concat([before, after])["heating_need_kwh_m2"])
    scenes = [build_scene(model, r, "heating_need_kwh_m2", scale=scale) for r in (before, after)]
    path = side_by_side_png(scenes, ["before", "after"], tmp_path / "ba.png", "plan", window_size=SIZE)
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    left, right = img[44:, : SIZE[0]], img[44:, SIZE[0] : 2 * SIZE[0]]
    # same camera: the silhouettes (non-background, non-ground pixels) coincide
    diff_mask = np.abs(left - right).max(axis=2) > 0
    assert diff_mask.mean() < 0.25
    # where the values differ the colours differ, and the "after" roofs are lighter (lower need)
    assert left.sum() < right.sum()


def test_soil_gif_has_one_frame_per_time(model, tmp_path):
    import imageio.v3 as iio

    from viewer.render import soil_gif
    from viewer.scene import build_scene, soil_layer

    class Grid:  # the soil simulation's grid, duck-typed
        origin = tuple(model.buildings.total_bounds[:2] - 10.0)
        spacing = (10.0, 10.0, 0.5)
        shape = (4, 6, 12)
        surface_z_m = np.full((6, 12), float(model.buildings["ground_z_m"].min()))

    frames = [np.full(Grid.shape, 0.2 + 0.05 * t) for t in range(3)]
    scenes = [build_scene(model, None, None, soil=soil_layer(model, Grid, f)) for f in frames]
    path = soil_gif(scenes, ["0 min", "10 min", "20 min"], tmp_path / "storm.gif", window_size=(320, 240))
    stack = iio.imread(path, index=None)
    assert stack.shape[0] == 3
    # wetter frames are darker blue (the θ ramp darkens with water content): the frames differ
    assert stack[0].astype(int).sum() > stack[2].astype(int).sum()
    # voxels and iso-surfaces draw too
    from viewer.render import BACKGROUND, render_image

    field = np.linspace(0.1, 0.4, Grid.shape[0])[:, None, None] * np.ones(Grid.shape)
    for mode in ("voxels", "iso"):
        scene = build_scene(model, None, None, soil=soil_layer(model, Grid, field, mode=mode))
        img = render_image(scene, "overview", window_size=(160, 120)).astype(int)
        assert (np.abs(img - np.asarray(BACKGROUND)).max(axis=2) > 12).mean() > 0.05, mode


def test_cli_view_screenshot_and_exports(model, tmp_path):
    from typer.testing import CliRunner

    from twin.cli import app

    gpkg = tmp_path / "m.gpkg"
    model.save(gpkg)
    _results(model).to_csv(tmp_path / "energy.csv", index=False)
    runner = CliRunner()
    args = ["view", str(gpkg), "--run", str(tmp_path / "energy.csv"), "--color-by", "heating_need_kwh_m2"]
    r = runner.invoke(app, [*args, "--screenshot", str(tmp_path / "a.png"), "--size", "320x240",
                            "--export", str(tmp_path / "a.glb")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a.png").stat().st_size > 1000 and (tmp_path / "a.glb").read_bytes()[:4] == b"glTF"
    bad = runner.invoke(app, [*args[:4], "--color-by", "nope", "--export", str(tmp_path / "b.html")])
    assert bad.exit_code == 1 and "No column 'nope'" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "b.html").exists()
    cam = runner.invoke(app, [*args, "--camera", "bird", "--export", str(tmp_path / "c.glb")])
    assert cam.exit_code == 1 and "Unknown camera" in cam.output


_RENDER_ONCE = """
from viewer.render import quiet_vtk
quiet_vtk()
from vtkmodules.vtkRenderingCore import vtkRenderWindow, vtkRenderer
import vtkmodules.vtkRenderingOpenGL2  # registers the OpenGL / EGL render windows
w = vtkRenderWindow(); w.SetOffScreenRendering(1); w.AddRenderer(vtkRenderer()); w.SetSize(32, 24); w.Render()
"""


@pytest.mark.skipif(
    bool(os.environ.get("DISPLAY")), reason="the X fallback warning only exists without a display"
)
def test_headless_render_prints_no_x_warning():
    """VTK's 'bad X server connection' line (its fallback to EGL) is silenced by quiet_vtk, kept with
    TWIN_VTK_VERBOSE=1.  Two fresh processes, run side by side: VTK warns only on a process's first window."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "TWIN_VTK_VERBOSE")}
    cmd = [sys.executable, "-c", _RENDER_ONCE]
    quiet = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    loud = subprocess.Popen(cmd, env={**env, "TWIN_VTK_VERBOSE": "1"}, stderr=subprocess.PIPE, text=True)
    quiet_err, loud_err = quiet.communicate(timeout=60)[1], loud.communicate(timeout=60)[1]
    assert quiet.returncode == 0 and loud.returncode == 0, quiet_err + loud_err
    if "bad X server" not in loud_err:
        pytest.skip("this VTK build does not try X first")
    assert "bad X server" not in quiet_err


def test_demo_images_are_written(model, tmp_path):
    from PIL import Image

    from viewer.demo_images import write_demo_images

    ids = model.buildings["building_id"].astype(str).to_numpy()
    energy = _results(model).assign(peb_class_estimate=np.where(np.arange(len(ids)) % 2, "C", "F"))
    after = _results(model, offset=-30.0)
    flows = pd.DataFrame({"link_id": model.links["link_id"], "flow_base": 5.0 + np.arange(len(model.links)),
                          "d_flow": np.linspace(-3, 3, len(model.links))})  # fmt: skip
    paths = write_demo_images(model, energy, flows, energy, after, tmp_path, window_size=(240, 160))
    names = [p.name for p in paths]
    assert names == [
        "heat_need.png",
        "peb_class.png",
        "traffic_flow.png",
        "traffic_change.png",
        "renovation_before_after.png",
        "renovation_change.png",
    ]
    for p in paths:
        img = np.asarray(Image.open(p).convert("RGB"))
        assert img.std() > 10, f"{p.name} is blank"
