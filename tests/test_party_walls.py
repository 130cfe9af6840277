"""Party walls: hand-computed terraced row, idempotence, real Brussels data."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from twin.crs import to_crs
from twin.envelope import BuildingRecord, assemble_tables
from twin.extrude import extrude_footprint
from twin.model import CityModel
from twin.surfaces import SurfaceCollector


def _party(model: CityModel) -> dict[tuple[str, str], float]:
    s = model.surfaces
    p = s[s["boundary"] == "party"]
    return p.groupby(["building_id", "neighbour_id"])["area_m2"].sum().to_dict()


def test_terraced_row_party_areas_match_hand_values(terraced_row):
    # A|B share a 10 m deep wall up to B's 6 m: 60 m2; B|C likewise 10 x 6 = 60 m2.
    m = terraced_row.with_party_walls()
    party = _party(m)
    expected = {("A", "B"): 60.0, ("B", "A"): 60.0, ("B", "C"): 60.0, ("C", "B"): 60.0}
    assert party.keys() == expected.keys()
    for key, value in expected.items():
        assert party[key] == pytest.approx(value, rel=0.01)


def test_wall_above_lower_neighbour_stays_exterior(terraced_row):
    m = terraced_row.with_party_walls()
    s = m.surfaces
    walls = s[s["kind"] == "wall"]
    # A's east wall: 10 m x 9 m = 90 m2, of which 60 party and 30 (above B) exterior
    a_east = walls[(walls["building_id"] == "A") & np.isclose(walls["azimuth_deg"], 90.0)]
    assert a_east["area_m2"].sum() == pytest.approx(90.0)
    assert a_east.loc[a_east["boundary"] == "exterior", "area_m2"].sum() == pytest.approx(30.0)
    # C's west wall: 10 x 12 = 120 m2, 60 party, 60 exterior above B
    c_west = walls[(walls["building_id"] == "C") & np.isclose(walls["azimuth_deg"], 270.0)]
    assert c_west.loc[c_west["boundary"] == "exterior", "area_m2"].sum() == pytest.approx(60.0)
    # B is fully enclosed on both sides: no exterior east/west wall left
    b_side = walls[(walls["building_id"] == "B") & np.isin(np.round(walls["azimuth_deg"]), [90, 270])]
    assert (b_side["boundary"] == "party").all()
    # total wall area is conserved by the split
    assert walls["area_m2"].sum() == pytest.approx(
        terraced_row.surfaces.query("kind == 'wall'")["area_m2"].sum()
    )


def test_party_wall_geometry_matches_its_area(terraced_row):
    s = terraced_row.with_party_walls().surfaces
    p = s[s["boundary"] == "party"]
    from twin.meshing import triangulate_polygon_3d

    for geom, area in zip(p.geometry, p["area_m2"], strict=True):
        v, f = triangulate_polygon_3d(geom)
        tri_area = (
            0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum()
        )
        assert tri_area == pytest.approx(area, rel=1e-9)


def test_detection_is_idempotent(terraced_row):
    once = terraced_row.with_party_walls()
    twice = once.with_party_walls()
    assert sorted(once.surfaces["surface_id"]) == sorted(twice.surfaces["surface_id"])
    assert _party(once) == pytest.approx(_party(twice))


def test_different_ground_heights_overlap_only_in_height():
    # Two houses on a slope: A from z=50 to 59, B from z=52 to 58 -> overlap 6 m over 8 m depth.
    c = SurfaceCollector()
    extrude_footprint(c, 0, shapely.box(0, 0, 5, 8), ground_z_m=50.0, height_m=9.0)
    extrude_footprint(c, 1, shapely.box(5, 0, 10, 8), ground_z_m=52.0, height_m=6.0)
    b, s, _ = assemble_tables(
        c.to_batch(),
        [BuildingRecord("A"), BuildingRecord("B")],
        crs=to_crs(None),
        source="t",
        lod="1",
    )
    party = _party(CityModel(buildings=b, surfaces=s).with_party_walls())
    assert party[("A", "B")] == pytest.approx(48.0)
    assert party[("B", "A")] == pytest.approx(48.0)


def test_partly_shared_edge_and_small_gap():
    # B is shifted 4 m along the shared edge and 0.1 m away (inside the 0.3 m tolerance):
    # shared length 6 m (y 4..10) x height 5 m.
    c = SurfaceCollector()
    extrude_footprint(c, 0, shapely.box(0, 0, 5, 10), ground_z_m=0.0, height_m=5.0)
    extrude_footprint(c, 1, shapely.box(5.1, 4, 9, 14), ground_z_m=0.0, height_m=7.0)
    b, s, _ = assemble_tables(
        c.to_batch(),
        [BuildingRecord("A"), BuildingRecord("B")],
        crs=to_crs(None),
        source="t",
        lod="1",
    )
    party = _party(CityModel(buildings=b, surfaces=s).with_party_walls())
    assert party[("A", "B")] == pytest.approx(30.0)
    assert party[("B", "A")] == pytest.approx(30.0)


def test_buildings_apart_have_no_party_walls():
    c = SurfaceCollector()
    extrude_footprint(c, 0, shapely.box(0, 0, 5, 10), ground_z_m=0.0, height_m=5.0)
    extrude_footprint(c, 1, shapely.box(6, 0, 9, 10), ground_z_m=0.0, height_m=5.0)
    b, s, _ = assemble_tables(
        c.to_batch(),
        [BuildingRecord("A"), BuildingRecord("B")],
        crs=to_crs(None),
        source="t",
        lod="1",
    )
    assert _party(CityModel(buildings=b, surfaces=s).with_party_walls()) == {}


def test_brussels_grand_place_row_houses_share_walls(city_data):
    from bim_ingest.cityjson import read_cityjson

    m = read_cityjson(city_data / "brussels_grandplace_urbis_lod2.city.json").with_party_walls()
    party = _party(m)
    # Independent check from the footprints alone: every pair of buildings whose
    # footprints share more than 1 m of boundary must have a party wall both ways.
    fp = dict(zip(m.buildings["building_id"], m.buildings.geometry, strict=True))
    touching = {
        (a, b)
        for a in fp
        for b in fp
        if a != b and fp[a].boundary.intersection(fp[b].buffer(0.3)).length > 1.0
    }
    assert len(touching) >= 8  # 4 shared edges among the 8 Grand-Place buildings, both ways
    assert touching <= set(party)
    # a shared wall is seen from both sides with (nearly) the same area
    for (a, b), area in party.items():
        assert (b, a) in party
        assert party[(b, a)] == pytest.approx(area, rel=0.05, abs=0.5)
    # party area never exceeds the building's wall area
    s = m.surfaces
    walls = s[s["kind"] == "wall"].groupby("building_id")["area_m2"].sum()
    p = s[s["boundary"] == "party"].groupby("building_id")["area_m2"].sum()
    assert (p <= walls.loc[p.index] + 1e-6).all()


def test_split_pieces_keep_the_outward_winding_of_their_wall(terraced_row):
    from twin.surfaces import SurfaceCollector, surface_metrics

    s = terraced_row.with_party_walls().surfaces
    walls = s[s["kind"] == "wall"]
    c = SurfaceCollector()
    for geom in walls.geometry:
        for poly in getattr(geom, "geoms", [geom]):
            c.add(0, "wall", "exterior", [np.asarray(poly.exterior.coords)])
    azimuth = surface_metrics(c.to_batch())["azimuth_deg"]
    assert np.allclose(azimuth, walls["azimuth_deg"].to_numpy())
