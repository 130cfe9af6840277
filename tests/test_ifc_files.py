"""IFC ingest on every third-party file of ../shared/data/ifc (see its MANIFEST.md).

Each file is read once per session (fast kernel plan, meshes cached in a
session folder); the tests then check the model against what IfcOpenShell
says directly: element counts per class, storeys and elevations, spaces,
the footprint (an independent union of the lowest floor slabs' triangles,
triangulated here with ``ifcopenshell.geom``), and where georeferenced files
land.  Files are read in a projected CRS near them (UTM), so areas are not
distorted by a far-away model CRS.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections import Counter
from pathlib import Path

import ifcopenshell
import ifcopenshell.geom
import ifcopenshell.util.element
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from bim_ingest.ifc import ifc_report, read_ifc
from bim_ingest.ifc.georef import dms_to_degrees
from bim_ingest.ifc.semantics import ELEMENT_CLASSES
from twin.errors import TwinWarning
from twin.model import CityModel

# file -> (model CRS, storeys, spaces)
FILES = {
    "AC20-FZK-Haus.ifc": ("EPSG:25832", 2, 7),
    "duplex.ifc": ("EPSG:32616", 4, 21),
    "IfcOpenHouse_IFC4.ifc": ("EPSG:31370", 1, 0),
    "Office_Building_Architectural_IFC_export.ifc": ("EPSG:25832", 5, 86),
    "AC20-Institute-Var-2.ifc": ("EPSG:25832", 5, 82),
    "geographic-referencing-utm.ifc": ("EPSG:25832", 1, 0),
}


@pytest.fixture(scope="module")
def models(ifc_data: Path, tmp_path_factory) -> dict:
    """Every file read once: (model, warnings, opened file)."""
    cache = tmp_path_factory.mktemp("ifc-cache")
    out = {}
    for name, (crs, _, _) in FILES.items():
        path = ifc_data / name
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = read_ifc(path, crs=crs, cache_dir=cache)
        out[name] = (model, [str(w.message) for w in caught if issubclass(w.category, TwinWarning)], path)
    return out


@pytest.fixture(scope="module")
def files(ifc_data: Path) -> dict:
    return {name: ifcopenshell.open(str(ifc_data / name)) for name in FILES}


names = pytest.mark.parametrize("name", list(FILES))


@names
def test_ingest_gives_one_building_with_envelope_surfaces(models, name) -> None:
    model, _, _ = models[name]
    assert isinstance(model, CityModel)
    assert len(model.buildings) == 1
    assert len(model.surfaces) > 0
    assert set(model.surfaces["provenance"]) <= {"pset", "layers", "typology"}
    assert set(model.surfaces["kind"]) <= {"wall", "roof", "floor", "window", "door"}
    assert set(model.surfaces["boundary"]) <= {"exterior", "ground", "party", "unheated"}
    assert np.all(model.surfaces["area_m2"] > 0)
    assert model.surfaces["u_w_m2k"].between(0.05, 10).all()
    windows = model.surfaces[model.surfaces["kind"] == "window"]
    assert windows["g_value"].between(0, 1).all()
    assert set(model.bim) == {"ifc_elements", "ifc_spaces", "ifc_storeys"}
    for table in model.bim.values():
        assert {"building_id", "global_id"} <= set(table.columns)


@names
def test_element_counts_per_class_equal_ifcopenshell(models, files, name) -> None:
    model, _, _ = models[name]
    f = files[name]
    expected: dict[str, str] = {}
    for cls in ELEMENT_CLASSES:
        try:
            items = f.by_type(cls)
        except RuntimeError:  # not in this schema
            continue
        expected.update({e.GlobalId: e.is_a() for e in items})
    elements = model.bim["ifc_elements"]
    assert Counter(elements["ifc_class"]) == Counter(expected.values())
    assert set(elements["global_id"]) == set(expected)
    for cls in ("IfcWall", "IfcSlab", "IfcWindow", "IfcDoor"):
        n_file = len(f.by_type(cls))
        n_model = sum(f.by_guid(g).is_a(cls) for g in elements["global_id"])
        assert n_model == n_file, cls


@names
def test_storeys_and_elevations_match_the_file(models, files, name) -> None:
    model, _, _ = models[name]
    f = files[name]
    unit = float(ifcopenshell.util.unit.calculate_unit_scale(f))
    storeys = model.bim["ifc_storeys"]
    assert len(storeys) == FILES[name][1]
    expected = {s.GlobalId: (s.Elevation or 0.0) * unit for s in f.by_type("IfcBuildingStorey")}
    got = dict(zip(storeys["global_id"], storeys["elevation_m"], strict=True))
    assert got.keys() == expected.keys()
    for gid, elev in expected.items():
        assert got[gid] == pytest.approx(elev, abs=1e-6)
    assert list(storeys["elevation_m"]) == sorted(storeys["elevation_m"])


@names
def test_spaces_carry_base_quantities_or_geometry(models, files, name) -> None:
    model, _, _ = models[name]
    spaces = model.bim["ifc_spaces"]
    assert len(spaces) == FILES[name][2]
    if not len(spaces):
        return
    f = files[name]
    for row in spaces.itertuples():
        qto = ifcopenshell.util.element.get_psets(f.by_guid(row.global_id), qtos_only=True)
        net = (qto.get("BaseQuantities") or qto.get("Qto_SpaceBaseQuantities") or {}).get("NetFloorArea")
        if net:
            assert row.floor_area_source == "BaseQuantities"
            assert row.net_floor_area_m2 == pytest.approx(net)
        else:
            assert row.floor_area_source == "geometry"
    # geometry is there for every space with a body, and agrees with the quantities where both exist
    assert spaces["floor_area_geom_m2"].notna().all()
    both = spaces[spaces["floor_area_source"] == "BaseQuantities"]
    if len(both):
        ratio = both["floor_area_geom_m2"] / both["net_floor_area_m2"]
        assert ratio.median() == pytest.approx(1.0, abs=0.1)
    b = model.buildings.iloc[0]
    assert b["heated_floor_area_m2"] == pytest.approx(spaces["floor_area_m2"].sum())
    assert "spaces" in model.sources[0]["floor_area_method"][b["building_id"]]


def _independent_footprint(f: ifcopenshell.file) -> float:
    """Union of the plan triangles of the lowest storey's floor slabs (or walls), local m2."""
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    storeys = sorted(f.by_type("IfcBuildingStorey"), key=lambda s: s.Elevation or 0.0)

    def contained(storey, cls):
        out = []
        for rel in storey.ContainsElements or ():
            for e in rel.RelatedElements:
                if e.is_a(cls) and e.Representation is not None:
                    out.append(e)
        return out

    for storey in storeys:
        slabs = [s for s in contained(storey, "IfcSlab") if (s.PredefinedType or "") in ("FLOOR", "BASESLAB")]
        if slabs:
            break
    else:
        slabs = []
    chosen = slabs
    if not chosen:
        for storey in storeys:
            chosen = contained(storey, "IfcWall") + contained(storey, "IfcBuildingElementProxy")
            if chosen:
                break
    polys = []
    for e in chosen:
        shape = ifcopenshell.geom.create_shape(settings, e)
        v = np.asarray(shape.geometry.verts).reshape(-1, 3)[:, :2]
        faces = np.asarray(shape.geometry.faces).reshape(-1, 3)
        tri = v[faces]
        polys.extend(shapely.polygons(np.concatenate([tri, tri[:, :1]], axis=1)))
    union = shapely.union_all([p for p in polys if p.area > 1e-9])
    if not slabs:  # a wall ring: the building fills it
        parts = [union] if union.geom_type == "Polygon" else list(union.geoms)
        union = shapely.union_all([shapely.Polygon(p.exterior) for p in parts])
    return float(union.area)


@names
def test_footprint_within_two_percent_of_an_independent_union(models, files, name) -> None:
    model, _, _ = models[name]
    expected = _independent_footprint(files[name])
    got = float(model.buildings.iloc[0]["footprint_area_m2"])
    assert got == pytest.approx(expected, rel=0.02)
    assert model.buildings.iloc[0].geometry.area == pytest.approx(got)


def _site_lat_lon(f):
    site = f.by_type("IfcSite")[0]
    return dms_to_degrees(site.RefLatitude), dms_to_degrees(site.RefLongitude)


@pytest.mark.parametrize(
    "name",
    [
        "AC20-FZK-Haus.ifc",
        "duplex.ifc",
        "Office_Building_Architectural_IFC_export.ifc",
        "AC20-Institute-Var-2.ifc",
    ],
)
def test_lat_long_georeferenced_files_land_at_their_site(models, files, name) -> None:
    model, _, _ = models[name]
    lat, lon = _site_lat_lon(files[name])
    x, y = Transformer.from_crs("EPSG:4326", model.crs, always_xy=True).transform(lon, lat)
    fp = model.buildings.iloc[0].geometry
    # the site point is the local origin; these buildings lie within ~100 m of it
    assert fp.distance(shapely.Point(x, y)) < 100.0
    assert model.sources[0]["georeferencing"]["method"] == "IfcSite lat/long"


def test_office_placeholder_map_conversion_falls_back_to_lat_long(models) -> None:
    model, caught, _ = models["Office_Building_Architectural_IFC_export.ifc"]
    assert any("Eastings = Northings = 0" in w and "EPSG:3857" in w for w in caught)
    assert model.sources[0]["georeferencing"]["method"] == "IfcSite lat/long"


def test_utm_file_lands_on_its_map_conversion_despite_its_scale(models, files) -> None:
    model, caught, _ = models["geographic-referencing-utm.ifc"]
    conv = files["geographic-referencing-utm.ifc"].by_type("IfcMapConversion")[0]
    centre = model.buildings.iloc[0].geometry.centroid
    # the marker stands on the local origin, which the conversion maps to (E, N)
    assert centre.x == pytest.approx(conv.Eastings, abs=0.05)
    assert centre.y == pytest.approx(conv.Northings, abs=0.05)
    # and its 1 m x 1 m top stays 1 m x 1 m (the stored Scale=1000 would make it 1000 km)
    assert model.buildings.iloc[0]["footprint_area_m2"] == pytest.approx(1.0, rel=0.01)
    assert any("Scale = 1000" in w and "unit mix-up" in w for w in caught)
    geo = model.sources[0]["georeferencing"]
    assert geo["method"] == "IfcMapConversion" and geo["stored_scale"] == 1000.0 and geo["scale"] == 1.0
    # and it agrees with the file's own IfcSite latitude/longitude
    lat, lon = _site_lat_lon(files["geographic-referencing-utm.ifc"])
    e, n = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True).transform(lon, lat)
    assert math.hypot(e - conv.Eastings, n - conv.Northings) < 1.0


def test_no_georeferencing_warns_and_suggests_place(models) -> None:
    model, caught, _ = models["IfcOpenHouse_IFC4.ifc"]
    assert any("no georeferencing" in w and "place=" in w for w in caught)
    assert model.sources[0]["georeferencing"]["method"] == "none"


@names
def test_sources_record_hash_schema_georeferencing_kernel_and_counts(models, files, name) -> None:
    model, _, path = models[name]
    src = model.sources[0]
    assert src["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert src["ifc_schema"] == files[name].schema_identifier
    assert src["kernel"] == "auto"
    assert src["georeferencing"]["method"] in ("IfcMapConversion", "IfcSite lat/long", "none")
    assert set(src["u_value_provenance"]) == {"pset", "layers", "typology"}
    assert sum(src["u_value_provenance"].values()) == len(model.surfaces)
    assert src["floor_area_method"]
    counts = src["counts"]
    f = files[name]
    for cls, row in counts.items():
        assert row["in_file"] == sum(1 for e in f.by_type(cls) if e.is_a() == cls)
    json.dumps(model.sources, default=str)


@names
def test_every_envelope_product_with_a_body_is_triangulated(models, name) -> None:
    model, _, _ = models[name]
    counts = model.sources[0]["counts"]
    for cls in (
        "IfcWall",
        "IfcWallStandardCase",
        "IfcSlab",
        "IfcWindow",
        "IfcDoor",
        "IfcRoof",
        "IfcCovering",
    ):
        if cls in counts:
            assert counts[cls]["meshed"] == counts[cls]["with_body"], cls
    assert model.sources[0]["geometry_failures"] == []


@pytest.mark.parametrize(
    "name",
    [
        "AC20-FZK-Haus.ifc",
        "duplex.ifc",
        "Office_Building_Architectural_IFC_export.ifc",
        "AC20-Institute-Var-2.ifc",
    ],
)
def test_window_area_is_close_to_the_nominal_window_sizes(models, files, name) -> None:
    model, _, _ = models[name]
    f = files[name]
    unit = float(ifcopenshell.util.unit.calculate_unit_scale(f))
    nominal = sum((w.OverallWidth or 0) * (w.OverallHeight or 0) for w in f.by_type("IfcWindow")) * unit**2
    got = model.surfaces.loc[model.surfaces["kind"] == "window", "area_m2"].sum()
    assert got == pytest.approx(nominal, rel=0.2)


def test_u_values_come_from_psets_when_the_file_states_them(models) -> None:
    model, _, _ = models["AC20-FZK-Haus.ifc"]
    assert set(model.surfaces["provenance"]) == {"pset"}
    walls = model.bim["ifc_elements"]
    ext = walls[(walls["ifc_class"] == "IfcWallStandardCase") & walls["on_envelope"]]
    assert set(ext["u_provenance"]) == {"pset"}


def test_u_values_from_layers_for_the_institute_walls(models) -> None:
    model, _, _ = models["AC20-Institute-Var-2.ifc"]
    walls = model.surfaces[
        (model.surfaces["kind"] == "wall") & (model.surfaces["ifc_class"] == "IfcWallStandardCase")
    ]
    layered = walls[walls["provenance"] == "layers"]
    assert len(layered) > 0
    # 30 cm calcium silicate: 1 / (0.13 + 0.30 / 1.0 + 0.04)
    assert (
        layered["u_w_m2k"]
        .round(3)
        .isin([round(1 / (0.13 + 0.30 / 1.0 + 0.04), 3), round(1 / (0.13 + 0.30 / 2.3 + 0.04), 3)])
        .all()
    )


@names
def test_report_sums_up_the_envelope(models, name) -> None:
    model, _, _ = models[name]
    report = ifc_report(model)
    json.dumps(report)
    env = report["envelope_m2"]
    vertical = sum(env[k]["total"] for k in ("wall", "window", "door"))
    assert sum(
        env["by_orientation"][s] for s in ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
    ) == pytest.approx(vertical, abs=0.05)
    assert env["total"] == pytest.approx(model.surfaces["area_m2"].sum(), abs=0.05)
    assert len(report["storeys"]) == FILES[name][1]
    assert report["spaces"]["count"] == FILES[name][2]
    prov = report["u_value_provenance"]
    assert sum(p["surfaces"] for p in prov.values()) == len(model.surfaces)


def test_model_round_trips_through_the_geopackage_store(models, tmp_path: Path) -> None:
    model, _, _ = models["AC20-FZK-Haus.ifc"]
    model.save(tmp_path / "fzk.gpkg")
    back = CityModel.load(tmp_path / "fzk.gpkg")
    assert set(back.bim) == {"ifc_elements", "ifc_spaces", "ifc_storeys"}
    assert len(back.bim["ifc_elements"]) == len(model.bim["ifc_elements"])
    assert back.surfaces["area_m2"].sum() == pytest.approx(model.surfaces["area_m2"].sum())
    assert ifc_report(back)["envelope_m2"]["total"] == pytest.approx(
        ifc_report(model)["envelope_m2"]["total"]
    )
