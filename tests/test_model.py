"""CityModel: CRS rules, spatial queries, merge, copies, unknown ids."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from twin.crs import parse_crs, to_crs
from twin.errors import CRSError, CRSMismatchError, DuplicateIdError, UnknownEntityError
from twin.model import CityModel


def test_default_crs_and_crs_spellings():
    assert CityModel().crs.to_epsg() == 31370
    assert to_crs("urn:ogc:def:crs:EPSG::3812").to_epsg() == 3812
    assert to_crs("http://www.opengis.net/def/crs/EPSG/0/4326").to_epsg() == 4326
    p = parse_crs("urn:ogc:def:crs,crs:EPSG::31370,crs:EPSG::5710")
    assert (p.horizontal.to_epsg(), p.vertical_epsg) == (31370, 5710)
    with pytest.raises(CRSError):
        to_crs("EPSG:0")
    with pytest.raises(CRSError, match="empty"):
        parse_crs("  ")


def test_tables_in_another_crs_are_refused(terraced_row):
    b = terraced_row.buildings.to_crs(3812)
    with pytest.raises(CRSMismatchError, match="Lambert 2008"):
        CityModel(buildings=b)


def test_to_crs_matches_pyproj_and_keeps_heights(terraced_row):
    m = terraced_row.to_crs("EPSG:3812")
    t = Transformer.from_crs(31370, 3812, always_xy=True)
    c0 = terraced_row.buildings.geometry.iloc[0].centroid
    x, y = t.transform(c0.x, c0.y)
    c1 = m.buildings.geometry.iloc[0].centroid
    assert (c1.x, c1.y) == pytest.approx((x, y), abs=1e-3)
    z0 = shapely.get_coordinates(terraced_row.surfaces.geometry, include_z=True)[:, 2]
    z1 = shapely.get_coordinates(m.surfaces.geometry, include_z=True)[:, 2]
    assert np.array_equal(z0, z1)
    assert m.sources == [] or "transformations" in m.sources[0]
    back = m.to_crs(31370)
    # BD72 <-> ETRS89 goes through a Helmert approximation both ways: sub-mm round trip
    assert back.buildings.geometry.iloc[0].centroid.x == pytest.approx(c0.x, abs=1e-3)


def test_spatial_queries(terraced_row):
    x0, y0 = 149_000.0, 168_500.0
    assert list(terraced_row.query_bbox(x0 + 6.5, y0 + 1, x0 + 7, y0 + 2)["building_id"]) == ["B"]
    # a polygon in WGS84 around building C only
    c = terraced_row.building("C").geometry.buffer(-0.5)
    c84 = gpd.GeoSeries([c], crs=31370).to_crs(4326).iloc[0]
    assert list(terraced_row.query_polygon(c84, crs="EPSG:4326")["building_id"]) == ["C"]
    near = terraced_row.nearest(x0 + 30, y0 + 5, k=2)
    assert list(near["building_id"]) == ["C", "B"]
    assert near["distance_m"].tolist() == pytest.approx([12.0, 19.0])


def test_unknown_id_is_a_clear_key_error(terraced_row):
    with pytest.raises(UnknownEntityError, match="building_id='Z'") as info:
        terraced_row.building("Z")
    assert isinstance(info.value, KeyError)
    with pytest.raises(UnknownEntityError):
        terraced_row.drop_buildings(["Z"])


def test_copy_is_independent(terraced_row):
    c = terraced_row.copy()
    b = c.buildings
    b.loc[0, "height_m"] = 99.0
    c.buildings = b
    assert terraced_row.buildings.loc[0, "height_m"] != 99.0


def test_merge_duplicates_and_reprojection(terraced_row):
    other = terraced_row.to_crs("EPSG:3812")
    with pytest.raises(DuplicateIdError, match="on_duplicate"):
        terraced_row.merge(other)
    with pytest.warns(UserWarning, match="duplicate"):
        merged = terraced_row.merge(other, on_duplicate="replace")
    assert merged.crs.to_epsg() == 31370
    assert len(merged.buildings) == 3
    assert len(merged.surfaces) == len(terraced_row.surfaces)


def test_drop_buildings_turns_party_walls_exterior(terraced_row):
    m = terraced_row.with_party_walls().drop_buildings(["B"])
    assert "B" not in set(m.surfaces["building_id"])
    assert (m.surfaces["boundary"] != "party").all()


def test_summary_and_repr(terraced_row):
    s = terraced_row.with_party_walls().summary()
    assert s["buildings"] == 3 and s["crs"] == "EPSG:31370" and s["party_walls"] == 4
    assert "3 buildings" in repr(terraced_row)
    assert "<table>" in terraced_row._repr_html_()
