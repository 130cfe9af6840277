"""An IFC building of the sample district, read back and placed into the district.

``data.ifc_building.write_ifc_building`` exports one terraced house of
``data.district.generate_district`` as a georeferenced IFC4 file
(``IfcMapConversion`` to EPSG:31370).  Reading it must give back the
district footprint, and placing it must replace the district's house and
recompute the party walls with the neighbours.
"""

from __future__ import annotations

import numpy as np
import pytest

from bim_ingest.ifc import ifc_report, place_ifc_building, read_ifc
from bim_ingest.ifc.place import overlapped_buildings
from twin.envelope import assemble_tables
from twin.errors import TwinWarning, UnknownEntityError
from twin.model import CityModel

district_mod = pytest.importorskip("data.district")
ifc_building = pytest.importorskip("data.ifc_building")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = district_mod.generate_district(40, seed=1)
    b, s, _ = assemble_tables(d.batch, d.records, crs=d.crs, source="district", lod="2")
    district = CityModel(buildings=b, surfaces=s, name="district").with_party_walls()
    party = district.surfaces[district.surfaces["boundary"] == "party"]
    # a terraced house with neighbours on both sides
    bid = party.groupby("building_id")["neighbour_id"].nunique().sort_index().idxmax()
    tmp = tmp_path_factory.mktemp("district-ifc")
    path = ifc_building.write_ifc_building(d, bid, tmp / f"{bid}.ifc")
    bim = read_ifc(path, cache_dir=tmp / "cache")
    return district, bid, bim


def test_the_exported_house_reads_back_onto_its_district_footprint(case) -> None:
    district, bid, bim = case
    original = district.buildings.set_index("building_id").loc[bid]
    fp = bim.buildings.geometry.iloc[0]
    assert fp.intersection(original.geometry).area / fp.union(original.geometry).area > 0.999
    assert bim.sources[0]["georeferencing"]["method"] == "IfcMapConversion"
    assert bim.buildings.iloc[0]["n_storeys"] == original["n_storeys"]
    assert bim.buildings.iloc[0]["ground_z_m"] == pytest.approx(original["ground_z_m"], abs=0.35)


def test_walls_the_file_says_are_not_external_become_party_walls(case) -> None:
    _, _, bim = case
    s = bim.surfaces
    assert (s["boundary"] == "party").any()
    assert set(s.loc[s["boundary"] == "party", "kind"]) == {"wall"}
    assert set(s["provenance"]) <= {"layers", "typology"}
    walls = s[(s["kind"] == "wall") & (s["ifc_class"] == "IfcWall")]
    assert set(walls["provenance"]) == {"layers"}


def test_placing_replaces_the_overlapped_house_and_finds_party_walls(case) -> None:
    district, bid, bim = case
    assert overlapped_buildings(district, bim) == [bid]
    before = district.buildings.copy()
    new = place_ifc_building(district, bim)
    ifc_id = bim.buildings.iloc[0]["building_id"]
    ids = set(new.buildings["building_id"])
    assert bid not in ids and ifc_id in ids
    assert len(new.buildings) == len(district.buildings)
    assert district.buildings.equals(before)  # the district is untouched
    s = new.surfaces
    ours = s[s["building_id"] == ifc_id]
    theirs = s[s["neighbour_id"] == ifc_id]
    assert len(theirs) > 0, "the neighbours' walls must face the new house as party walls"
    assert set(ours.loc[ours["boundary"] == "party", "neighbour_id"]) & set(theirs["building_id"])
    # the neighbours' party area towards the new house is about what it was towards the old one
    old_party = district.surfaces[district.surfaces["neighbour_id"] == bid]["area_m2"].sum()
    assert theirs["area_m2"].sum() == pytest.approx(old_party, rel=0.25)
    assert set(new.bim) == {"ifc_elements", "ifc_spaces", "ifc_storeys"}
    assert new.sources[-1]["replaced"] == [bid]
    report = ifc_report(new)
    assert [b["building_id"] for b in report["buildings"]] == [ifc_id]
    assert report["boundary_m2"]["party"] > 0


def test_explicit_replacement_and_errors(case) -> None:
    district, bid, bim = case
    others = [b for b in district.buildings["building_id"] if b != bid][:1]
    new = place_ifc_building(district, bim, replace=[bid, *others])
    assert len(new.buildings) == len(district.buildings) - 1
    with pytest.raises(UnknownEntityError, match="NOPE"):
        place_ifc_building(district, bim, replace=["NOPE"])


def test_placing_on_free_ground_warns(case) -> None:
    district, bid, bim = case
    far = read_ifc_far(bim)
    with pytest.warns(TwinWarning, match="overlaps no building"):
        new = place_ifc_building(district, far)
    assert len(new.buildings) == len(district.buildings) + 1


def read_ifc_far(bim: CityModel) -> CityModel:
    """The same IFC building moved 1 km east (a copy)."""
    import shapely

    moved = bim.copy()
    b = moved.buildings.copy()
    b["geometry"] = [shapely.affinity.translate(g, 1000.0) for g in b.geometry]
    s = moved.surfaces.copy()
    s["geometry"] = [shapely.affinity.translate(g, 1000.0) for g in s.geometry]
    moved.buildings = b
    moved.surfaces = s
    return moved


def test_surface_geometry_is_planar_and_oriented_outward(case) -> None:
    _, _, bim = case
    import shapely

    for geom, az, tilt in zip(
        bim.surfaces.geometry, bim.surfaces["azimuth_deg"], bim.surfaces["tilt_deg"], strict=True
    ):
        xyz = shapely.get_coordinates(geom, include_z=True)
        centred = xyz - xyz.mean(axis=0)
        # planar: the smallest singular value is ~0
        assert np.linalg.svd(centred, compute_uv=False)[-1] < 1e-3
        assert 0.0 <= tilt <= 180.0
        assert np.isnan(az) or 0.0 <= az < 360.0
