"""Viewer without pixels: colour scales, result tables, scenes, cameras, glTF and HTML exports."""

from __future__ import annotations

import base64
import json
import re
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest


@lru_cache(maxsize=1)
def _district(tmp: str = "/tmp/twin-viewer-tests-scene"):
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
    return _district(str(tmp_path_factory.getbasetemp() / "viewer-scene"))


def _results(model) -> pd.DataFrame:
    ids = model.buildings["building_id"].astype(str).to_numpy()
    k = np.arange(len(ids))
    classes = np.array(["A", "B", "C", "D", "E", "F", "G", "n/a"])
    return pd.DataFrame(
        {"building_id": ids, "heating_need_kwh_m2": 40.0 + 25.0 * k, "peb_class_estimate": classes[k % 8]}
    )


# ------------------------------------------------------------------ colours
def test_sequential_scale_interpolates_between_stops_by_hand():
    from viewer.colors import ColorScale

    s = ColorScale.sequential("heating_need_kwh_m2", vmin=0.0, vmax=400.0)
    # 5 stops at 0, 100, 200, 300, 400; 50 is halfway between #fff7bc and #fdc35a
    expected_50 = [round((255 + 253) / 2), round((247 + 195) / 2), round((188 + 90) / 2)]
    got = s.rgb([0.0, 50.0, 100.0, 400.0, 1e9, -5.0, None])
    assert got[0].tolist() == [255, 247, 188]
    assert got[1].tolist() == expected_50
    assert got[2].tolist() == [0xFD, 0xC3, 0x5A]
    assert got[3].tolist() == [0x7A, 0x0C, 0x17]
    assert got[4].tolist() == got[3].tolist()  # clipped above
    assert got[5].tolist() == got[0].tolist()  # clipped below
    assert got[6].tolist() == [190, 190, 190]  # missing
    assert s.units == "kWh/(m²·yr)" and s.title == "heating need [kWh/(m²·yr)]"


def test_diverging_scale_is_symmetric_and_white_at_zero():
    from viewer.colors import ColorScale

    s = ColorScale.for_values("d_heating_need_kwh_m2", [-37.0, 12.0, 3.0])
    assert s.kind == "diverging" and (s.vmin, s.vmax) == (-50.0, 50.0)  # |−37| rounded up to 50
    assert s.rgb([0.0]).tolist() == [[0xF4, 0xF4, 0xF4]]
    lo, hi = s.rgb([-50.0, 50.0])
    assert lo[2] > lo[0] and hi[0] > hi[2]  # blue for decreases, red for increases


def test_peb_classes_get_the_fixed_palette_in_class_order():
    from viewer.colors import PEB_CLASS_LETTERS, PEB_PALETTE, ColorScale, hex_to_rgb

    s = ColorScale.for_values("peb_class_estimate", ["G", "C", "n/a", "C"])
    assert s.kind == "categorical"
    assert s.categories[: len(PEB_CLASS_LETTERS)] == PEB_CLASS_LETTERS and s.categories[-1] == "n/a"
    assert s.rgb(["C", "G", "zzz"]).tolist() == [
        list(hex_to_rgb(PEB_PALETTE["C"])),
        list(hex_to_rgb(PEB_PALETTE["G"])),
        [190, 190, 190],
    ]
    # the same classes always get the same colours, whatever the data holds
    assert ColorScale.for_values("peb_class_estimate", ["A"]).rgb(["G"]).tolist() == s.rgb(["G"]).tolist()


def test_sequential_range_uses_nice_rounded_percentiles():
    from viewer.colors import ColorScale

    values = np.arange(0.0, 101.0)  # 101 values: 2nd/98th percentiles are 2 and 98
    s = ColorScale.for_values("height_m", values)
    assert (s.vmin, s.vmax) == (0.0, 100.0)  # 2..98 rounded outwards to steps of 20
    few = ColorScale.for_values("height_m", [3.0, 7.5])
    assert (few.vmin, few.vmax) == (3.0, 8.0)  # under 20 values: the full range, rounded to steps of 1
    assert ColorScale.for_values("v_c", [0.1]).title == "volume / capacity"


# ------------------------------------------------------------------ tables
def test_read_results_from_gpkg_csv_parquet_and_folder(tmp_path, model):
    import pyogrio

    from viewer.tables import UnknownColumnError, building_values, link_values, read_results

    res = _results(model)
    res.to_csv(tmp_path / "energy.csv", index=False)
    gdf = model.buildings[["building_id", "geometry"]].merge(res, on="building_id")
    pyogrio.write_dataframe(gdf, tmp_path / "energy.gpkg", layer="energy", driver="GPKG")
    flows = pd.DataFrame({"link_id": model.links["link_id"], "flow_base": 10.0 * np.arange(len(model.links))})
    flows.to_parquet(tmp_path / "flows.parquet")
    for path in (tmp_path / "energy.csv", tmp_path / "energy.gpkg"):
        t = read_results(path)
        v = building_values(model, t.buildings, "heating_need_kwh_m2")
        assert v.to_numpy().tolist() == res["heating_need_kwh_m2"].tolist()
    model.save(tmp_path / "district.gpkg")  # a model beside its results is not a result table
    folder = read_results(tmp_path)
    assert folder.buildings is not None and folder.links is not None
    assert sorted(p.name for p in folder.sources) == ["energy.csv", "energy.gpkg", "flows.parquet"]
    vc = link_values(model, folder.links, "v_c")
    cap = model.links["capacity_veh_h"].to_numpy(float)
    np.testing.assert_allclose(vc.to_numpy(), 10.0 * np.arange(len(model.links)) / cap)
    # model columns work without results; unknown columns name the choices
    assert building_values(model, None, "height_m").tolist() == model.buildings["height_m"].tolist()
    with pytest.raises(UnknownColumnError, match="heating_need_kwh_m2"):
        building_values(model, folder.buildings, "no_such_column")


def test_read_results_errors_name_the_file(tmp_path):
    from twin.errors import IngestError
    from viewer.tables import read_results

    with pytest.raises(IngestError, match="missing.gpkg"):
        read_results(tmp_path / "missing.gpkg")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(IngestError, match=r"x\.txt"):
        read_results(tmp_path / "x.txt")
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "nokey.csv", index=False)
    with pytest.raises(IngestError, match="building_id or link_id"):
        read_results(tmp_path)


# ------------------------------------------------------------------ scene and cameras
def test_scene_meshes_anchor_on_roofs_and_colours_by_results(model):
    from viewer.colors import ColorScale
    from viewer.scene import build_scene

    res = _results(model)
    scene = build_scene(model, res, "heating_need_kwh_m2")
    b = scene.buildings
    assert list(b.ids) == model.buildings["building_id"].tolist()
    assert set(np.unique(b.face_building)) == set(range(len(b.ids)))
    expected = ColorScale.for_values("heating_need_kwh_m2", res["heating_need_kwh_m2"]).rgb(
        res["heating_need_kwh_m2"]
    )
    np.testing.assert_array_equal(b.colors, expected)
    # local coordinates: origin = floor of the south-west-bottom corner
    x0, y0, _, _ = model.buildings.total_bounds
    assert scene.origin[:2] == (np.floor(x0), np.floor(y0))
    # anchors lie on the building's roof: ground + height for flat roofs, and never above the top
    top = model.buildings["ground_z_m"].to_numpy() + model.buildings["height_m"].to_numpy() - scene.origin[2]
    for k in range(len(b.ids)):
        verts = b.vertices[np.unique(b.faces[b.face_building == k])]
        assert b.anchor[k, 2] <= verts[:, 2].max() + 1e-6
        assert b.anchor[k, 2] >= verts[:, 2].min() + 2.0  # on a roof, not the floor
    assert np.all(b.anchor[:, 2] <= top + 1e-3)


def test_camera_presets_frame_the_scene(model):
    from viewer.camera import Camera, CameraError, camera_for, parse_camera
    from viewer.scene import build_scene

    scene = build_scene(model, None, "height_m", link_color_by="capacity_veh_h")
    lo, hi = scene.bounds
    cam = camera_for(scene, "overview", aspect=1.5)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    view = cam.view_matrix() @ np.c_[corners, np.ones(8)].T
    depth = -view[2]
    t = np.tan(np.radians(cam.view_angle_deg) / 2)
    assert np.all(depth > 0)
    assert np.all(np.abs(view[1] / depth) <= t + 1e-9)  # every corner inside the vertical field
    assert np.all(np.abs(view[0] / depth) <= 1.5 * t + 1e-9)
    assert (
        max(np.abs(view[1] / depth).max() / t, np.abs(view[0] / depth).max() / (1.5 * t)) > 0.9
    )  # and tight
    street = camera_for(scene, "street")
    ground = scene.terrain.height(np.array([street.position[:2]]))[0]
    assert street.position[2] == pytest.approx(ground + 1.7)
    plan = camera_for(scene, "plan")
    assert plan.position[:2] == pytest.approx(plan.focal_point[:2]) and plan.view_up == (0.0, 1.0, 0.0)
    one = camera_for(scene, f"building:{scene.buildings.ids[3]}")
    assert isinstance(one, Camera)
    with pytest.raises(CameraError):
        parse_camera("bird")
    from twin.errors import UnknownEntityError

    with pytest.raises(UnknownEntityError):
        camera_for(scene, "building:nope")


# ------------------------------------------------------------------ exports
def test_glb_validates_with_one_node_and_mesh_per_building(model, tmp_path):
    import pygltflib

    from viewer.gltf import write_glb
    from viewer.scene import build_scene

    res = _results(model)
    scene = build_scene(model, res, "peb_class_estimate", link_color_by="capacity_veh_h")
    path = write_glb(scene, tmp_path / "scene.glb")
    g = pygltflib.GLTF2().load(str(path))
    buildings = [n for n in g.nodes if (n.extras or {}).get("layer") == "building"]
    assert len(buildings) == len(model.buildings) == len(g.nodes[0].children)
    assert len({n.mesh for n in buildings}) == len(buildings)
    assert len(g.meshes) == len(model.buildings) + 1  # + the links
    by_id = {n.name: n for n in buildings}
    row = res.iloc[5]
    extras = by_id[row["building_id"]].extras
    assert extras["attributes"]["heating_need_kwh_m2"] == pytest.approx(row["heating_need_kwh_m2"])
    assert extras["attributes"]["peb_class_estimate"] == row["peb_class_estimate"]
    assert extras["attributes"]["height_m"] == pytest.approx(model.buildings["height_m"].iloc[5])
    ex = g.scenes[0].extras
    assert ex["crs"].endswith("31370") and ex["color_by"] == "peb_class_estimate"
    assert ex["columns"]["peb_class_estimate"]["kind"] == "categorical"
    # geometry round trip: y-up positions are the local mesh coordinates (x, z, -y)
    blob = g.binary_blob()
    node = by_id[row["building_id"]]
    acc = g.accessors[g.meshes[node.mesh].primitives[0].attributes.POSITION]
    view = g.bufferViews[acc.bufferView]
    pos = np.frombuffer(blob, np.float32, acc.count * 3, view.byteOffset).reshape(-1, 3)
    k = list(scene.buildings.ids).index(row["building_id"])
    verts = scene.buildings.vertices[np.unique(scene.buildings.faces[scene.buildings.face_building == k])]
    np.testing.assert_allclose(pos[:, 1].max(), verts[:, 2].max(), atol=1e-3)
    np.testing.assert_allclose(-pos[:, 2].min(), verts[:, 1].max(), atol=1e-3)
    colour = g.accessors[g.meshes[node.mesh].primitives[0].attributes.COLOR_0]
    rgba = np.frombuffer(blob, np.uint8, 4, g.bufferViews[colour.bufferView].byteOffset)
    assert rgba[:3].tolist() == scene.buildings.colors[k].tolist()
    links = next(n for n in g.nodes if (n.extras or {}).get("layer") == "links")
    assert links.extras["link_id"] == model.links["link_id"].tolist()


def test_standalone_html_embeds_script_and_scene(model, tmp_path):
    import pygltflib

    from viewer.html import write_html
    from viewer.scene import build_scene

    scene = build_scene(model, _results(model), "heating_need_kwh_m2", title="test district")
    text = write_html(scene, tmp_path / "scene.html").read_text(encoding="utf-8")
    assert (
        "<script src=" not in text
        and "<link " not in text
        and "http://" not in text
        and "https://" not in text
    )
    assert "function parseGlb" in text  # the renderer is inline
    m = re.search(r'<script id="twin-scene" type="application/octet-stream">([A-Za-z0-9+/=]+)</script>', text)
    assert m is not None
    g = pygltflib.GLTF2.load_from_bytes(base64.b64decode(m.group(1)))
    ids = [n.name for n in g.nodes if (n.extras or {}).get("layer") == "building"]
    assert ids == model.buildings["building_id"].tolist()
    config = re.search(r"window.TWIN_VIEWER_CONFIG = (\{.*?\});", text)
    assert json.loads(config.group(1)) == {"mode": "standalone"}


def test_ground_layer_takes_the_nearest_building_within_reach(model):
    import shapely

    from viewer.scene import ground_layer

    ids = model.buildings["building_id"].astype(str).to_numpy()
    values = pd.Series(np.arange(len(ids), dtype=float) * 2.0, index=ids, name="walk_school_min")
    g = ground_layer(model, values, cell_m=5.0, reach_m=20.0)
    assert g.scale.units == "min" and g.colors.shape == (len(g.y), len(g.x), 3)
    pts = shapely.point_on_surface(model.buildings.geometry.to_numpy())
    origin = np.floor(model.buildings.total_bounds[:2])
    bxy = np.c_[shapely.get_x(pts), shapely.get_y(pts)] - origin
    # brute force over every cell: nearest representative point, masked beyond the reach
    gx, gy = np.meshgrid(g.x, g.y)
    d = np.hypot(gx[..., None] - bxy[:, 0], gy[..., None] - bxy[:, 1])
    nearest = d.argmin(axis=-1)
    np.testing.assert_array_equal(g.mask, d.min(axis=-1) <= 20.0)
    np.testing.assert_array_equal(g.colors[g.mask], g.scale.rgb(values.to_numpy()[nearest[g.mask]]))
