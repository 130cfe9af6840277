"""Footprints with heights -> LoD1: extrusion values, attribute mapping, bad input."""

from __future__ import annotations

import json
import warnings

import geopandas as gpd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from bim_ingest.footprints import read_footprints
from twin.errors import CRSError, IngestError, SchemaError, TwinWarning
from twin.extrude import extrude_footprint
from twin.surfaces import SurfaceCollector, surface_metrics

X0, Y0 = 149_000.0, 168_500.0


def _write(tmp_path, rows, crs="EPSG:31370", name="fp.gpkg"):
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    path = tmp_path / name
    gdf.to_file(path)
    return path


def test_extrusion_values(tmp_path):
    p = _write(
        tmp_path,
        [
            {"id": "h1", "hauteur": 9.0, "geometry": shapely.box(X0, Y0, X0 + 6, Y0 + 10)},
            {"id": "h2", "nb_etages": 4, "geometry": shapely.box(X0 + 6, Y0, X0 + 12, Y0 + 10)},
        ],
    )
    m = read_footprints(p)
    b = m.buildings.set_index("building_id")
    assert b.loc["h1", "height_m"] == pytest.approx(9.0)
    assert b.loc["h1", "volume_m3"] == pytest.approx(540.0)
    assert b.loc["h2", "height_m"] == pytest.approx(12.0)  # 4 storeys x 3 m
    assert b.loc["h2", "n_storeys"] == 4
    assert "height=storeys_x_3m" in b.loc["h2", "provenance"]
    s = m.surfaces[m.surfaces["building_id"] == "h1"]
    assert s.loc[s["kind"] == "wall", "area_m2"].sum() == pytest.approx(2 * (6 + 10) * 9.0)
    assert s.loc[s["kind"] == "roof", "area_m2"].sum() == pytest.approx(60.0)


def test_wgs84_geojson_is_reprojected(tmp_path):
    box = gpd.GeoSeries([shapely.box(X0, Y0, X0 + 20, Y0 + 10)], crs="EPSG:31370").to_crs(4326)
    p = tmp_path / "fp.geojson"
    p.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"height": 6.0},
                        "geometry": json.loads(gpd.GeoSeries(box).to_json())["features"][0]["geometry"],
                    }
                ],
            }
        )
    )
    m = read_footprints(p)
    assert m.crs.to_epsg() == 31370
    assert m.buildings["footprint_area_m2"].iloc[0] == pytest.approx(200.0, rel=1e-4)
    assert m.buildings.geometry.centroid.x.iloc[0] == pytest.approx(X0 + 10, abs=0.05)


def test_named_fields_and_missing_height(tmp_path):
    p = _write(
        tmp_path,
        [
            {"ref": "a", "h_toit": 7.5, "geometry": shapely.box(X0, Y0, X0 + 5, Y0 + 5)},
            {"ref": "b", "h_toit": None, "geometry": shapely.box(X0 + 10, Y0, X0 + 15, Y0 + 5)},
        ],
    )
    with pytest.raises(SchemaError, match="no height or storey attribute"):
        read_footprints(p)
    with pytest.warns(TwinWarning, match="1 footprint\\(s\\) without height"):
        m = read_footprints(p, height_field="h_toit", id_field="ref")
    assert list(m.buildings["building_id"]) == ["a"]
    m = read_footprints(p, height_field="h_toit", id_field="ref", default_height_m=3.0)
    assert "height=default" in m.buildings.set_index("building_id").loc["b", "provenance"]


def test_self_intersecting_ring_is_repaired_and_counted(tmp_path):
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)])
    p = _write(tmp_path, [{"id": "x", "height": 5.0, "geometry": bowtie}])
    with pytest.warns(TwinWarning, match="1 invalid footprint\\(s\\) repaired"):
        m = read_footprints(p)
    assert m.buildings.geometry.is_valid.all()
    assert m.buildings["footprint_area_m2"].iloc[0] == pytest.approx(50.0)  # two 25 m2 triangles


def test_unclosed_ring_in_geojson(tmp_path):
    p = tmp_path / "open.geojson"
    ring = [[4.35, 50.83], [4.3501, 50.83], [4.3501, 50.8301], [4.35, 50.8301]]  # not closed
    p.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"height": 6},
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                ],
            }
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m = read_footprints(p)
        except IngestError as err:  # GDAL may refuse the ring: then the message names the file
            assert "open.geojson" in str(err)
            return
    assert len(m.buildings) == 1 and m.buildings["footprint_area_m2"].iloc[0] > 0


def test_duplicate_ids_are_counted(tmp_path):
    p = _write(
        tmp_path,
        [
            {"id": "same", "height": 5.0, "geometry": shapely.box(X0, Y0, X0 + 5, Y0 + 5)},
            {"id": "same", "height": 5.0, "geometry": shapely.box(X0 + 5, Y0, X0 + 10, Y0 + 5)},
        ],
    )
    with pytest.warns(TwinWarning, match="1 duplicate id"):
        m = read_footprints(p)
    assert sorted(m.buildings["building_id"]) == ["same", "same-dup1"]


def test_no_crs_refused(tmp_path):
    p = tmp_path / "nocrs.geojson"
    p.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"height": 6},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[0, 0], [5, 0], [5, 5], [0, 5], [0, 0]]],
                        },
                    }
                ],
            }
        )
    )
    # GeoJSON without "crs" is WGS84 by RFC 7946, so GDAL declares EPSG:4326: test a shapefile instead
    gdf = gpd.read_file(p).set_crs(None, allow_override=True)
    shp = tmp_path / "nocrs.shp"
    gdf.to_file(shp)
    with pytest.raises(CRSError, match="source_crs"):
        read_footprints(shp)
    assert len(read_footprints(shp, source_crs="EPSG:31370").buildings) == 1


@pytest.mark.parametrize("content", [b"", b"garbage that is not a vector file"])
def test_unreadable_files(tmp_path, content):
    p = tmp_path / "bad.geojson"
    p.write_bytes(content)
    with pytest.raises(IngestError, match="bad.geojson"):
        read_footprints(p)


@settings(max_examples=40, deadline=None)
@given(
    w=st.floats(0.5, 80.0),
    d=st.floats(0.5, 80.0),
    h=st.floats(0.5, 60.0),
    hole=st.floats(0.0, 0.8),
    z0=st.floats(-10.0, 120.0),
)
def test_extrusion_area_and_volume_properties(w, d, h, hole, z0):
    """A box with a rectangular courtyard: closed-form areas and volume."""
    outer = shapely.box(X0, Y0, X0 + w, Y0 + d)
    hw, hd = hole * w, hole * d
    poly = (
        outer
        if hole < 0.05
        else shapely.Polygon(
            outer.exterior.coords,
            [
                shapely.box(
                    X0 + (w - hw) / 2, Y0 + (d - hd) / 2, X0 + (w + hw) / 2, Y0 + (d + hd) / 2
                ).exterior.coords
            ],
        )
    )
    c = SurfaceCollector()
    extrude_footprint(c, 0, poly, ground_z_m=z0, height_m=h)
    m = surface_metrics(c.to_batch(), [z0])
    area_plan = poly.area
    perimeter = poly.length
    assert m["area_m2"].sum() == pytest.approx(2 * area_plan + perimeter * h, rel=1e-9)
    assert m["z_moment_m3"].sum() == pytest.approx(area_plan * h, rel=1e-9)
