"""Georeferencing of hand-made IFC files whose map coordinates are computed by hand.

The box building (see ``test_ifc_fixtures.box_ifc``) has its outer wall faces
on the rectangle [0, 10] x [0, 8] m.  With an ``IfcMapConversion`` to
EPSG:31370 at E = 149 000, N = 168 500 and the local x axis 30 degrees
counter-clockwise from east, the local corner (x, y) lands at::

    E = 149000 + x cos 30 - y sin 30,   N = 168500 + x sin 30 + y cos 30
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import ifcopenshell
import numpy as np
import pytest
import shapely
from pyproj import Proj, Transformer
from test_ifc_fixtures import box_ifc

from bim_ingest.ifc import read_ifc
from bim_ingest.ifc.georef import dms_to_degrees, georeference
from twin.crs import to_crs
from twin.errors import CRSError, TwinWarning

CORNERS = [(0.0, 0.0), (10.0, 0.0), (10.0, 8.0), (0.0, 8.0)]


def _by_hand(x: float, y: float, e0=149_000.0, n0=168_500.0, rot=30.0) -> tuple[float, float]:
    c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
    return e0 + x * c - y * s, n0 + x * s + y * c


def _corners(model) -> np.ndarray:
    return np.asarray(model.buildings.geometry.iloc[0].exterior.coords)[:-1]


def _assert_same_ring(got: np.ndarray, expected: list[tuple[float, float]], tol: float) -> None:
    for ex in expected:
        assert np.min(np.hypot(*(got - np.asarray(ex)).T)) < tol, ex


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.mark.parametrize(
    ("schema", "unit", "georef"),
    [("IFC4", "m", "map"), ("IFC4", "mm", "map"), ("IFC2X3", "m", "epset"), ("IFC2X3", "mm", "epset")],
)
def test_map_conversion_places_the_corners_where_computed_by_hand(
    tmp_path, cache, schema, unit, georef
) -> None:
    path = box_ifc(tmp_path / "box.ifc", schema=schema, unit=unit, georef=georef)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TwinWarning)  # a clean georeferenced file warns about nothing
        model = read_ifc(path, cache_dir=cache)
    assert model.crs.to_epsg() == 31370
    _assert_same_ring(_corners(model), [_by_hand(x, y) for x, y in CORNERS], tol=1e-3)
    b = model.buildings.iloc[0]
    assert b["footprint_area_m2"] == pytest.approx(80.0, rel=1e-6)
    # heights: OrthogonalHeight 60 m + local z; the ground slab's underside is at z = -0.3
    assert b["ground_z_m"] == pytest.approx(59.7, abs=1e-6)
    assert b["height_m"] == pytest.approx(6.6, abs=1e-6)
    expected_method = "IfcMapConversion" if georef == "map" else "ePSet_MapConversion"
    assert model.sources[0]["georeferencing"]["method"] == expected_method


def test_orientation_follows_the_map_rotation(tmp_path, cache) -> None:
    model = read_ifc(box_ifc(tmp_path / "box.ifc"), cache_dir=cache)
    windows = model.surfaces[model.surfaces["kind"] == "window"]
    # the window is in the local south wall (normal -y); rotated 30 degrees ccw the
    # normal points to azimuth 180 + 30... clockwise from north: 180 - 30 = 150
    assert np.allclose(windows["azimuth_deg"], 150.0, atol=0.5)
    walls = model.surfaces[(model.surfaces["kind"] == "wall") & (model.surfaces["area_m2"] > 5)]
    assert set(np.round(walls["azimuth_deg"]).astype(int) % 360) == {150, 330, 60, 240}


def test_explicit_placement_overrides_and_rotates(tmp_path, cache) -> None:
    path = box_ifc(tmp_path / "box.ifc")
    model = read_ifc(path, place=(150_000.0, 170_000.0, 90.0), cache_dir=cache)
    expected = [_by_hand(x, y, 150_000.0, 170_000.0, 90.0) for x, y in CORNERS]
    _assert_same_ring(_corners(model), expected, tol=1e-3)
    assert model.sources[0]["georeferencing"]["method"] == "explicit placement"


def test_lat_long_and_true_north_place_the_origin_and_axes(tmp_path, cache) -> None:
    lat, lon, north = 50.8467, 4.3525, 20.0  # Grand-Place; true north 20 degrees clockwise of local +y
    path = box_ifc(tmp_path / "box.ifc", georef=None, lat_lon=(lat, lon), true_north_deg=north)
    model = read_ifc(path, cache_dir=cache)
    f = ifcopenshell.open(str(path))
    site = f.by_type("IfcSite")[0]
    lat_file, lon_file = dms_to_degrees(site.RefLatitude), dms_to_degrees(site.RefLongitude)
    to_lambert = Transformer.from_crs("EPSG:4326", "EPSG:31370", always_xy=True)
    x0, y0 = to_lambert.transform(lon_file, lat_file)
    got = _corners(model)
    assert np.min(np.hypot(got[:, 0] - x0, got[:, 1] - y0)) < 0.01  # the local origin is a corner
    # true north lies 20 degrees clockwise of local +y, so local +x has the true azimuth
    # 90 - 20 = 70 degrees; on the Lambert grid, corrected by the meridian convergence
    gamma = Proj("EPSG:31370").get_factors(lon_file, lat_file).meridian_convergence
    corner = np.array(_by_hand(10.0, 0.0, x0, y0, 90.0 - (70.0 - gamma)))
    assert np.min(np.hypot(*(got - corner).T)) < 0.01
    assert model.buildings.iloc[0]["ground_z_m"] == pytest.approx(49.7, abs=1e-6)  # RefElevation 50 m


def test_no_georeferencing_warns_and_keeps_local_coordinates(tmp_path, cache) -> None:
    path = box_ifc(tmp_path / "box.ifc", georef=None)
    with pytest.warns(TwinWarning, match="no georeferencing"):
        model = read_ifc(path, cache_dir=cache)
    _assert_same_ring(_corners(model), CORNERS, tol=1e-6)


def test_huge_local_coordinates_without_georeferencing_are_refused(tmp_path, cache) -> None:
    path = box_ifc(tmp_path / "huge.ifc", georef=None, offset=(151_000.0, 171_000.0))
    with pytest.raises(CRSError, match=r"huge\.ifc: local coordinates reach .* km .* place=\(0, 0, 0\)"):
        read_ifc(path, cache_dir=cache)
    model = read_ifc(path, place=(0.0, 0.0, 0.0), cache_dir=cache)
    _assert_same_ring(_corners(model), [(151_000.0 + x, 171_000.0 + y) for x, y in CORNERS], tol=1e-6)


def test_suspicious_scale_is_taken_as_a_unit_mix_up(tmp_path, cache) -> None:
    path = box_ifc(tmp_path / "mm.ifc", unit="mm", scale=1000.0)  # should be 0.001
    with pytest.warns(TwinWarning, match=r"Scale = 1000 .* unit mix-up .* should be 0\.001"):
        model = read_ifc(path, cache_dir=cache)
    _assert_same_ring(_corners(model), [_by_hand(x, y) for x, y in CORNERS], tol=1e-3)
    assert model.sources[0]["georeferencing"]["stored_scale"] == 1000.0


def test_a_real_grid_scale_factor_is_honoured(tmp_path, cache) -> None:
    path = box_ifc(tmp_path / "s.ifc", scale=1.0004)
    model = read_ifc(path, cache_dir=cache)
    e, n = _by_hand(10.0 * 1.0004, 0.0)
    _assert_same_ring(_corners(model), [(e, n)], tol=1e-3)


def test_placeholder_map_conversion_falls_back_to_the_site(tmp_path) -> None:
    path = box_ifc(tmp_path / "p.ifc", eastings=0.0, northings=0.0, lat_lon=(50.85, 4.35))
    f = ifcopenshell.open(str(path))
    with pytest.warns(TwinWarning, match="Eastings = Northings = 0"):
        geo = georeference(f, file_name="p.ifc", model_crs=to_crs(None))
    assert geo.method == "IfcSite lat/long"


def test_unknown_crs_name_is_a_crs_error(tmp_path) -> None:
    path = box_ifc(tmp_path / "x.ifc")
    f = ifcopenshell.open(str(path))
    f.by_type("IfcProjectedCRS")[0].Name = "Somewhere local"
    with pytest.raises(CRSError, match=r"x\.ifc: IfcMapConversion names CRS 'Somewhere local'"):
        georeference(f, file_name="x.ifc", model_crs=to_crs(None))


def test_dms_conversion_handles_signs_and_millionths() -> None:
    assert dms_to_degrees((50, 50, 48, 0)) == pytest.approx(50 + 50 / 60 + 48 / 3600)
    assert dms_to_degrees((-87, -38, -21, -839999)) == pytest.approx(-(87 + 38 / 60 + 21.839999 / 3600))
    assert dms_to_degrees(None) is None


def test_model_crs_can_be_chosen(tmp_path, cache) -> None:
    model = read_ifc(box_ifc(tmp_path / "box.ifc"), crs="EPSG:3812", cache_dir=cache)
    assert model.crs.to_epsg() == 3812
    lam72 = Transformer.from_crs("EPSG:31370", "EPSG:3812", always_xy=True)
    expected = [lam72.transform(*_by_hand(x, y)) for x, y in CORNERS]
    _assert_same_ring(_corners(model), expected, tol=0.01)
    assert shapely.area(model.buildings.geometry.iloc[0]) == pytest.approx(80.0, rel=1e-3)


def test_two_buildings_in_one_file_become_two_rows(tmp_path, cache) -> None:
    model = read_ifc(box_ifc(tmp_path / "two.ifc", annex=True), cache_dir=cache)
    assert len(model.buildings) == 2
    names = dict(zip(model.buildings["name"], model.buildings["footprint_area_m2"], strict=True))
    assert names["Box house"] == pytest.approx(80.0)
    assert names["Annex"] == pytest.approx(48.0)
    elements = model.bim["ifc_elements"]
    annex_id = model.buildings.loc[model.buildings["name"] == "Annex", "building_id"].iloc[0]
    assert set(elements.loc[elements["name"].str.startswith("Annex"), "building_id"]) == {annex_id}
    s = model.surfaces
    assert s.loc[s["building_id"] == annex_id, "area_m2"].sum() > 0
    # the walls where the two touch face no outside air: they are not envelope
    main = s[(s["building_id"] != annex_id) & (s["kind"] == "wall")]
    assert main["area_m2"].sum() < 234.0


def test_huge_coordinates_with_only_a_site_location_warn(tmp_path, cache) -> None:
    path = box_ifc(tmp_path / "far.ifc", georef=None, lat_lon=(50.85, 4.35), offset=(151_000.0, 171_000.0))
    with pytest.warns(TwinWarning, match=r"far\.ifc: local coordinates reach .* km .* RefLatitude"):
        read_ifc(path, cache_dir=cache)
