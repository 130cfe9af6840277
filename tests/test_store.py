"""GeoPackage store: lossless round trip, atomic writes, clear errors; GeoParquet export."""

from __future__ import annotations

import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.crs import to_crs
from twin.envelope import BuildingRecord, assemble_tables
from twin.errors import StoreError
from twin.extrude import extrude_footprint
from twin.model import CityModel
from twin.schema import TABLES
from twin.store import load_gpkg, save_gpkg, to_geoparquet
from twin.surfaces import SurfaceCollector


def _assert_same(a: CityModel, b: CityModel) -> None:
    assert a.crs.equals(b.crs)
    assert a.name == b.name and a.sources == b.sources and a.created == b.created
    for table in ("buildings", "surfaces", "nodes", "links", "activities"):
        ta, tb = getattr(a, table), getattr(b, table)
        assert list(ta.columns) == list(tb.columns), table
        assert len(ta) == len(tb), table
        for col in TABLES[table]:
            pd.testing.assert_series_equal(ta[col], tb[col], check_names=False, obj=f"{table}.{col}")
        if "geometry" in ta:
            assert shapely.equals_exact(ta.geometry.to_numpy(), tb.geometry.to_numpy(), tolerance=0).all()
            assert (
                shapely.get_type_id(ta.geometry.to_numpy()) == shapely.get_type_id(tb.geometry.to_numpy())
            ).all()


def _model(boxes, years, names) -> CityModel:
    c = SurfaceCollector()
    records = []
    for i, ((x, y, w, d, h), year, name) in enumerate(zip(boxes, years, names, strict=True)):
        extrude_footprint(c, i, shapely.box(x, y, x + w, y + d), ground_z_m=50.0 + i, height_m=h)
        records.append(BuildingRecord(building_id=f"b{i}", year_built=year, name=name, attributes={"k": i}))
    b, s, _ = assemble_tables(c.to_batch(), records, crs=to_crs(None), source="t", lod="1")
    nodes = gpd.GeoDataFrame({"node_id": [1, 2]}, geometry=shapely.points([[0, 0], [100, 0]]), crs=31370)
    links = gpd.GeoDataFrame(
        {
            "link_id": [7],
            "from_node": [1],
            "to_node": [2],
            "length_m": [100.0],
            "name": ["Rue Haute"],
        },
        geometry=[shapely.LineString([(0, 0), (100, 0)])],
        crs=31370,
    )
    acts = pd.DataFrame(
        {
            "building_id": ["b0"],
            "residents": [3],
            "jobs": [0],
            "service": ["école"],
            "service_capacity": [1],
        }
    )
    return CityModel(
        buildings=b,
        surfaces=s,
        nodes=nodes,
        links=links,
        activities=acts,
        name="round trip",
        sources=[{"path": "x", "sha256": "00"}],
    )


box = st.tuples(
    st.floats(140_000, 160_000),
    st.floats(160_000, 180_000),
    st.floats(1, 50),
    st.floats(1, 50),
    st.floats(1, 80),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    boxes=st.lists(box, min_size=1, max_size=4),
    data=st.data(),
)
def test_round_trip_is_lossless(tmp_path_factory, boxes, data):
    years = data.draw(
        st.lists(st.one_of(st.none(), st.integers(1700, 2025)), min_size=len(boxes), max_size=len(boxes))
    )
    names = data.draw(st.lists(st.text(max_size=12), min_size=len(boxes), max_size=len(boxes)))
    names = [n.replace("\x00", "") for n in names]
    model = _model(boxes, years, names).with_party_walls()
    path = tmp_path_factory.mktemp("rt") / "m.gpkg"
    model.save(path)
    _assert_same(model, CityModel.load(path))


def test_layers_open_with_geopandas_named_as_the_tables(tmp_path):
    model = _model([(149000, 168500, 10, 8, 6), (149010, 168500, 6, 8, 9)], [1900, None], ["a", "b"])
    path = save_gpkg(model.with_party_walls(), tmp_path / "m.gpkg")
    layers = dict(pyogrio.list_layers(path))
    assert {"buildings", "surfaces", "nodes", "links", "activities", "meta"} <= set(layers)
    assert layers["buildings"] == "MultiPolygon" and layers["surfaces"] == "MultiPolygon Z"
    b = gpd.read_file(path, layer="buildings")
    assert b.crs.to_epsg() == 31370
    assert set(TABLES["buildings"]) <= set(b.columns)
    s = gpd.read_file(path, layer="surfaces")
    assert (s["boundary"] == "party").sum() == 2


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path, monkeypatch):
    model = _model([(149000, 168500, 10, 8, 6)], [1900], ["a"])
    path = tmp_path / "m.gpkg"
    model.save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pyogrio, "write_dataframe", boom)
    with pytest.raises(StoreError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gpkg"]


@pytest.mark.parametrize("kind", ["missing", "text", "sqlite", "gpkg_not_model"])
def test_not_a_model_gives_a_clear_error(tmp_path, kind):
    path = tmp_path / "x.gpkg"
    if kind == "text":
        path.write_text("hello")
    elif kind == "sqlite":
        sqlite3.connect(path).execute("create table t (a int)").connection.commit()
    elif kind == "gpkg_not_model":
        gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=31370).to_file(path)
    with pytest.raises(StoreError) as info:
        load_gpkg(path)
    assert "x.gpkg" in str(info.value)


def test_wrong_suffix_and_missing_folder(tmp_path):
    model = CityModel()
    with pytest.raises(StoreError, match="gpkg"):
        model.save(tmp_path / "m.sqlite")
    with pytest.raises(StoreError, match="does not exist"):
        model.save(tmp_path / "nope" / "m.gpkg")


def test_geoparquet_export(tmp_path):
    model = _model([(149000, 168500, 10, 8, 6)], [1900], ["a"])
    out = to_geoparquet(model, tmp_path / "pq")
    b = gpd.read_parquet(out / "buildings.parquet")
    assert b.crs.to_epsg() == 31370 and len(b) == 1
    s = gpd.read_parquet(out / "surfaces.parquet")
    assert np.allclose(s["area_m2"].to_numpy(), model.surfaces["area_m2"].to_numpy())
    assert (out / "meta.json").exists()
