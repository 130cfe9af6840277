"""Tests of the sample-district generator, its writers and the CityJSON and IFC exports."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import geopandas as gpd
import ifcopenshell
import ifcopenshell.util.element
import ifcopenshell.util.geolocation
import ifcopenshell.util.placement
import ifcopenshell.validate
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import CRS

from data.district import (
    PERIODS,
    SERVICES,
    TYPOLOGIES,
    USES,
    District,
    generate_district,
)
from data.district_io import FOOTPRINT_COLUMNS, write_district
from data.ifc_building import build_ifc_building, write_ifc_building
from twin.cityjson_writer import SEMANTIC_TYPES, write_cityjson
from twin.envelope import BuildingRecord, assemble_tables
from twin.errors import DuplicateIdError, GeometryError, UnknownEntityError
from twin.surfaces import SurfaceCollector, surface_metrics

LAMBERT72 = CRS.from_epsg(31370)


@pytest.fixture(scope="module")
def district() -> District:
    return generate_district(600, seed=3)


@pytest.fixture(scope="module")
def written(district: District, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_district(district, tmp_path_factory.mktemp("district"))


def _as_array(geoms: list) -> np.ndarray:
    return np.asarray(geoms, dtype=object)


# ----------------------------------------------------------------------------
# generator
# ----------------------------------------------------------------------------


def _fingerprint(d: District) -> tuple:
    return (
        d.batch.vertices.tobytes(),
        d.batch.ring_offsets.tobytes(),
        d.batch.kind.tobytes(),
        tuple((r.building_id, r.year_built, r.use, r.typology, r.n_storeys) for r in d.records),
        tuple(shapely.to_wkb(_as_array(d.footprints)).tolist()),
        d.heights_m.tobytes(),
        d.residents.tobytes(),
        d.jobs.tobytes(),
        tuple(d.service),
        d.streets.links.to_csv(),
        d.streets.nodes.to_csv(),
        d.park.wkb,
    )


def test_the_same_seed_gives_an_identical_district() -> None:
    assert _fingerprint(generate_district(300, seed=7)) == _fingerprint(generate_district(300, seed=7))


def test_another_seed_gives_another_district() -> None:
    a, b = generate_district(300, seed=7), generate_district(300, seed=8)
    assert not np.array_equal(a.heights_m, b.heights_m)
    assert _fingerprint(a) != _fingerprint(b)


@pytest.mark.parametrize("n", [1, 7, 45, 401, 1234])
def test_exactly_the_requested_number_of_buildings_is_generated(n: int) -> None:
    d = generate_district(n, seed=1)
    assert d.n_buildings == len(d.footprints) == len(d.service) == n
    assert len(d.heights_m) == len(d.ground_z_m) == len(d.residents) == len(d.jobs) == n
    assert set(np.unique(d.batch.building_index).tolist()) == set(range(n))
    assert len(set(d.building_ids)) == n
    assert d.records[-1].building_id == f"BXL-{n - 1:06d}"


def test_rejects_a_district_without_buildings() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate_district(0)


def test_attributes_use_the_documented_vocabularies(district: District) -> None:
    assert {r.use for r in district.records} <= set(USES)
    assert {r.typology for r in district.records} <= set(TYPOLOGIES)
    assert set(district.service) <= set(SERVICES)
    assert all(r.name == "" for r in district.records)
    # every kind of building shows up even in a small district
    assert {r.typology for r in district.records} == set(TYPOLOGIES)
    assert {"shop", "school"} <= set(district.service)
    assert district.crs.to_epsg() == 31370
    assert 60.0 <= district.ground_z_m.min() and district.ground_z_m.max() <= 100.0
    assert (district.residents >= 0).all() and (district.jobs >= 0).all()
    offices = np.array([r.use == "office" for r in district.records])
    assert (district.jobs[offices] > 0).all()
    assert district.residents.sum() > 0


def test_footprints_do_not_overlap() -> None:
    d = generate_district(2500, seed=5)
    fps = _as_array(d.footprints)
    assert shapely.is_valid(fps).all()
    a, b = shapely.STRtree(fps).query(fps, predicate="intersects")
    pairs = a < b
    overlap = shapely.area(shapely.intersection(fps[a[pairs]], fps[b[pairs]]))
    assert pairs.sum() > 0  # neighbours do touch
    assert overlap.max() < 1e-6


def test_terraced_neighbours_share_whole_edges_exactly(district: District) -> None:
    fps = _as_array(district.footprints)
    a, b = shapely.STRtree(fps).query(fps, predicate="intersects")
    keep = a != b
    a, b = a[keep], b[keep]
    shared = shapely.intersection(shapely.boundary(fps[a]), shapely.boundary(fps[b]))
    length = shapely.length(shared)
    terraced = np.array([r.typology == "terraced" for r in district.records])
    touching = np.zeros(len(fps), dtype=bool)
    touching[a[length > 3.0]] = True
    assert touching[terraced].mean() > 0.95
    # every shared stretch is a whole edge of both footprints, with identical coordinates
    for i, j in zip(a[length > 1e-9], b[length > 1e-9], strict=True):
        ci = np.asarray(district.footprints[i].exterior.coords)
        cj = np.asarray(district.footprints[j].exterior.coords)
        edges_i = {tuple(map(tuple, sorted(map(tuple, ci[k : k + 2])))) for k in range(4)}
        edges_j = {tuple(map(tuple, sorted(map(tuple, cj[k : k + 2])))) for k in range(4)}
        assert edges_i & edges_j, (district.records[i].building_id, district.records[j].building_id)


def test_some_party_walls_stick_out_above_the_neighbour(district: District) -> None:
    fps = _as_array(district.footprints)
    a, b = shapely.STRtree(fps).query(fps, predicate="touches")
    keep = a < b
    diff = np.abs(
        (district.ground_z_m + district.heights_m)[a[keep]]
        - (district.ground_z_m + district.heights_m)[b[keep]]
    )
    assert (diff > 1.0).mean() > 0.3


def test_construction_periods_follow_the_brussels_stock_shares() -> None:
    d = generate_district(5000, seed=11)
    years = np.array([r.year_built for r in d.records])
    for _, first, last, share in PERIODS:
        observed = ((years >= first) & (years <= last)).mean()
        assert abs(observed - share) <= 0.05, (first, last, observed, share)
    assert years.min() >= PERIODS[0][1] and years.max() <= PERIODS[-1][2]


def test_the_park_holds_no_building(district: District) -> None:
    assert district.park.area > 2000.0
    assert not shapely.intersects(_as_array(district.footprints), district.park).any()


# ----------------------------------------------------------------------------
# LoD2 surfaces
# ----------------------------------------------------------------------------


def test_surfaces_have_area_and_face_outward(district: District) -> None:
    batch = district.batch
    m = surface_metrics(batch, district.ground_z_m)
    assert (m["area_m2"] > 0.0).all()
    kind = batch.kind
    assert (m["tilt_deg"][kind == "roof"] < 90.0).all()
    assert (m["tilt_deg"][kind == "floor"] > 90.0).all()
    walls = kind == "wall"
    assert np.allclose(m["tilt_deg"][walls], 90.0, atol=1e-6)
    # walls face away from their building's footprint centroid
    starts, stops = batch.surface_vertex_ranges()
    centre = shapely.get_coordinates(shapely.centroid(_as_array(district.footprints)))
    wall_idx = np.flatnonzero(walls)
    mid = np.array([batch.vertices[starts[s] : stops[s], :2].mean(axis=0) for s in wall_idx])
    outward = mid - centre[batch.building_index[wall_idx]]
    assert (np.einsum("ij,ij->i", m["normal"][wall_idx, :2], outward) > 0).all()
    # gable roofs have two slopes and two pentagonal gable walls
    gable = np.flatnonzero(district.roof_shape == "gable")
    assert len(gable) > 0.5 * district.n_buildings
    n_vertices = stops - starts
    per_building = np.bincount(batch.building_index[n_vertices == 5], minlength=district.n_buildings)
    assert (per_building[gable] == 2).all()


def test_closed_shells_enclose_the_prism_volume(district: District) -> None:
    m = surface_metrics(district.batch, district.ground_z_m)
    volume = np.bincount(
        district.batch.building_index, weights=m["z_moment_m3"], minlength=district.n_buildings
    )
    area = shapely.area(_as_array(district.footprints))
    rise = district.heights_m - district.eave_heights_m
    expected = area * (district.eave_heights_m + 0.5 * rise)  # box + triangular prism
    np.testing.assert_allclose(volume, expected, rtol=1e-9, atol=1e-6)


def test_twin_assembly_gives_flat_roof_volumes_and_heights(district: District) -> None:
    buildings, surfaces, _ = assemble_tables(
        district.batch, district.records, crs=district.crs, source="sample", lod="2"
    )
    flat = district.roof_shape == "flat"
    area = shapely.area(_as_array(district.footprints))
    np.testing.assert_allclose(
        buildings["volume_m3"].to_numpy()[flat], (area * district.heights_m)[flat], rtol=1e-6
    )
    np.testing.assert_allclose(buildings["height_m"].to_numpy(), district.heights_m, atol=1e-6)
    np.testing.assert_allclose(buildings["ground_z_m"].to_numpy(), district.ground_z_m)
    assert len(surfaces) == district.batch.n_surfaces


def _collector_batch(d: District):
    """Slow twin of the vectorised templates: the same polygons through SurfaceCollector."""
    c = SurfaceCollector()
    for i, fp in enumerate(d.footprints):
        p = np.asarray(fp.exterior.coords)[:4]
        g, e, t = (
            d.ground_z_m[i],
            d.ground_z_m[i] + d.eave_heights_m[i],
            d.ground_z_m[i] + d.heights_m[i],
        )

        def at(points, z):
            return [(x, y, z) for x, y in points]

        c.add(i, "floor", "ground", [at(p[::-1], g)])
        if d.roof_shape[i] == "gable":
            m03, m12 = 0.5 * (p[3] + p[0]), 0.5 * (p[1] + p[2])
            c.add(i, "wall", "exterior", [at([p[0], p[1]], g) + at([p[1], p[0]], e)])
            c.add(
                i,
                "wall",
                "exterior",
                [at([p[1], p[2]], g) + at([p[2]], e) + at([m12], t) + at([p[1]], e)],
            )
            c.add(i, "wall", "exterior", [at([p[2], p[3]], g) + at([p[3], p[2]], e)])
            c.add(
                i,
                "wall",
                "exterior",
                [at([p[3], p[0]], g) + at([p[0]], e) + at([m03], t) + at([p[3]], e)],
            )
            c.add(i, "roof", "exterior", [at([p[0], p[1]], e) + at([m12, m03], t)])
            c.add(i, "roof", "exterior", [at([p[2], p[3]], e) + at([m03, m12], t)])
        else:
            for k in range(4):
                q0, q1 = p[k], p[(k + 1) % 4]
                c.add(i, "wall", "exterior", [at([q0, q1], g) + at([q1, q0], e)])
            c.add(i, "roof", "exterior", [at(p, e)])
    return c.to_batch()


def test_vectorised_surfaces_equal_the_surface_collector_twin() -> None:
    d = generate_district(150, seed=2)
    slow = _collector_batch(d)
    fast = d.batch
    np.testing.assert_array_equal(fast.ring_offsets, slow.ring_offsets)
    np.testing.assert_array_equal(fast.surface_ring_offsets, slow.surface_ring_offsets)
    np.testing.assert_array_equal(fast.building_index, slow.building_index)
    np.testing.assert_array_equal(fast.kind, slow.kind)
    np.testing.assert_array_equal(fast.boundary, slow.boundary)
    np.testing.assert_allclose(fast.vertices, slow.vertices, rtol=0, atol=1e-9)
    assert fast.kind.dtype == slow.kind.dtype and fast.boundary.dtype == slow.boundary.dtype


# ----------------------------------------------------------------------------
# streets
# ----------------------------------------------------------------------------


def test_streets_are_a_directed_graph_with_both_directions(district: District) -> None:
    nodes, links = district.streets.nodes, district.streets.links
    assert nodes["node_id"].is_unique and links["link_id"].is_unique
    assert nodes["node_id"].dtype == np.int64 and links["link_id"].dtype == np.int64
    assert set(links["from_node"]) | set(links["to_node"]) <= set(nodes["node_id"])
    pairs = set(zip(links["from_node"], links["to_node"], strict=True))
    assert all((b, a) in pairs for a, b in pairs)
    geometry = district.streets.geometry
    assert len(geometry) == len(links)
    np.testing.assert_allclose(shapely.length(geometry), links["length_m"])
    axis = links["road_class"] == "axis"
    assert axis.any() and (~axis).any()
    assert (links.loc[axis, "free_speed_kmh"] == 50).all()
    assert (links.loc[~axis, "free_speed_kmh"] == 30).all()
    np.testing.assert_allclose(links["capacity_veh_h"], links["lanes"] * np.where(axis, 900.0, 600.0))
    assert (links["alpha"] == 0.15).all() and (links["beta"] == 4.0).all()
    assert (links["modes"] == "car,bike,walk").all()
    start = shapely.get_coordinates(shapely.get_point(geometry, 0))
    xy = nodes.set_index("node_id").loc[links["from_node"], ["x", "y"]].to_numpy()
    np.testing.assert_allclose(start, xy)


# ----------------------------------------------------------------------------
# CityJSON
# ----------------------------------------------------------------------------


def _check_cityjson_structure(doc: dict) -> None:
    assert doc["type"] == "CityJSON" and doc["version"] == "2.0"
    n_vertices = len(doc["vertices"])
    assert set(doc["transform"]) == {"scale", "translate"}
    for obj in doc["CityObjects"].values():
        for geom in obj.get("geometry", []):
            assert geom["type"] == "MultiSurface"
            boundaries = geom["boundaries"]
            values = geom["semantics"]["values"]
            assert len(values) == len(boundaries)
            assert max(values) < len(geom["semantics"]["surfaces"])
            for surface in boundaries:
                for ring in surface:
                    assert len(ring) >= 3
                    assert all(0 <= v < n_vertices for v in ring)
                    assert all(ring[k] != ring[k - 1] for k in range(len(ring)))


def _decoded_rings(doc: dict, building_id: str) -> list[np.ndarray]:
    scale = np.asarray(doc["transform"]["scale"])
    translate = np.asarray(doc["transform"]["translate"])
    verts = np.asarray(doc["vertices"], dtype=np.int64) * scale + translate
    geom = doc["CityObjects"][building_id]["geometry"][0]
    return [verts[ring] for surface in geom["boundaries"] for ring in surface]


def test_cityjson_export_is_structurally_valid_and_round_trips(
    district: District, written: dict[str, Path]
) -> None:
    doc = json.loads(written["cityjson"].read_text(encoding="utf-8"))
    _check_cityjson_structure(doc)
    assert doc["metadata"]["referenceSystem"] == "https://www.opengis.net/def/crs/EPSG/0/31370"
    assert len(doc["CityObjects"]) == district.n_buildings
    extent = np.asarray(doc["metadata"]["geographicalExtent"])
    lo, hi = district.batch.vertices.min(axis=0), district.batch.vertices.max(axis=0)
    assert np.all(extent[:3] <= lo + 1e-3) and np.all(extent[3:] >= hi - 1e-3)
    batch = district.batch
    starts, stops = batch.ring_offsets[:-1], batch.ring_offsets[1:]
    for i in (0, 1, district.n_buildings // 2, district.n_buildings - 1):
        rec = district.records[i]
        obj = doc["CityObjects"][rec.building_id]
        assert obj["type"] == "Building"
        attrs = obj["attributes"]
        assert attrs["yearOfConstruction"] == rec.year_built
        assert attrs["function"] == rec.use
        assert attrs["storeysAboveGround"] == rec.n_storeys
        assert attrs["typology"] == rec.typology
        assert attrs["residents"] == district.residents[i]
        assert attrs["jobs"] == district.jobs[i]
        assert attrs.get("service", "") == district.service[i]
        rings = _decoded_rings(doc, rec.building_id)
        sro = batch.surface_ring_offsets
        expected = [
            batch.vertices[starts[r] : stops[r]]
            for s in np.flatnonzero(batch.building_index == i)
            for r in range(sro[s], sro[s + 1])
        ]
        assert len(rings) == len(expected)
        for got, want in zip(rings, expected, strict=True):
            assert np.abs(got - want).max() <= 1e-3
        types = [
            obj["geometry"][0]["semantics"]["surfaces"][v]["type"]
            for v in obj["geometry"][0]["semantics"]["values"]
        ]
        kinds = batch.kind[batch.building_index == i]
        mapping = {"wall": "WallSurface", "roof": "RoofSurface", "floor": "GroundSurface"}
        assert types == [mapping[k] for k in kinds]


def _two_buildings() -> tuple:
    """Building 1 first in the batch (unsorted), a floor with a hole, all six semantic kinds."""
    c = SurfaceCollector()
    c.add(1, "roof", "exterior", [[(10, 0, 3), (14, 0, 3), (14, 4, 3), (10, 4, 3)]])
    outer = [(0, 0, 0), (0, 6, 0), (6, 6, 0), (6, 0, 0)]
    hole = [(2, 2, 0), (4, 2, 0), (4, 4, 0), (2, 4, 0)]
    c.add(0, "floor", "ground", [outer, hole])
    c.add(0, "wall", "exterior", [[(0, 0, 0), (6, 0, 0), (6, 0, 3), (0, 0, 3)]])
    c.add(0, "window", "exterior", [[(1, 0, 1), (2, 0, 1), (2, 0, 2), (1, 0, 2)]])
    c.add(0, "door", "exterior", [[(3, 0, 0), (4, 0, 0), (4, 0, 2), (3, 0, 2)]])
    c.add(0, "floor", "exterior", [[(0, 0, 3), (0, -1, 3), (6, -1, 3), (6, 0, 3)]])
    c.add(1, "wall", "exterior", [[(10, 0, 0), (14, 0, 0), (14, 0, 3), (10, 0, 3)]])
    batch = c.to_batch()
    batch.vertices[:, 0] += 149_000.0
    batch.vertices[:, 1] += 168_500.0
    records = [
        BuildingRecord("A", year_built=1900, use="residential", attributes={"note": np.float64(np.nan)}),
        BuildingRecord("A-1", parent_id="P", n_storeys=np.int64(2)),
    ]
    return batch, records


def test_cityjson_writer_keeps_holes_parts_and_semantics(tmp_path: Path) -> None:
    batch, records = _two_buildings()
    out = tmp_path / "two.city.json"
    write_cityjson(out, batch=batch, records=records, crs=LAMBERT72, lod="2.2", metadata_title="two")
    doc = json.loads(out.read_text(encoding="utf-8"))
    _check_cityjson_structure(doc)
    a, part, parent = doc["CityObjects"]["A"], doc["CityObjects"]["A-1"], doc["CityObjects"]["P"]
    assert a["attributes"] == {"yearOfConstruction": 1900, "function": "residential"}
    assert part["type"] == "BuildingPart" and part["parents"] == ["P"]
    assert parent["type"] == "Building" and parent["children"] == ["A-1"]
    assert part["attributes"]["storeysAboveGround"] == 2
    geom = a["geometry"][0]
    assert geom["lod"] == "2.2"
    assert [len(s) for s in geom["boundaries"]] == [2, 1, 1, 1, 1]  # hole kept
    types = [geom["semantics"]["surfaces"][v]["type"] for v in geom["semantics"]["values"]]
    assert types == ["GroundSurface", "WallSurface", "Window", "Door", "OuterFloorSurface"]
    assert [s["type"] for s in geom["semantics"]["surfaces"]] == [
        t for t in SEMANTIC_TYPES if t != "RoofSurface"
    ]
    rings = _decoded_rings(doc, "A")
    np.testing.assert_allclose(
        rings[1], batch.vertices[batch.ring_offsets[2] : batch.ring_offsets[3]], atol=1e-3
    )
    assert doc["metadata"]["title"] == "two"
    assert len(doc["vertices"]) == len(np.unique(np.round(batch.vertices, 3), axis=0))


def test_cityjson_writer_is_atomic(tmp_path: Path) -> None:
    batch, records = _two_buildings()
    out = tmp_path / "two.city.json"
    write_cityjson(out, batch=batch, records=records, crs=LAMBERT72)
    before = out.read_bytes()
    with pytest.raises(TypeError):
        write_cityjson(
            out,
            batch=batch,
            records=records,
            crs=LAMBERT72,
            extra_attributes=[{"bad": object()}, {}],
        )
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.city.json"]


def test_cityjson_writer_refuses_bad_input(tmp_path: Path) -> None:
    batch, records = _two_buildings()
    out = tmp_path / "x.city.json"
    with pytest.raises(DuplicateIdError):
        write_cityjson(out, batch=batch, records=[records[0], records[0]], crs=LAMBERT72)
    with pytest.raises(GeometryError):
        write_cityjson(out, batch=batch, records=records[:1], crs=LAMBERT72)
    with pytest.raises(ValueError, match="extra_attributes"):
        write_cityjson(out, batch=batch, records=records, crs=LAMBERT72, extra_attributes=[{}])
    with pytest.raises(ValueError, match="lod"):
        write_cityjson(out, batch=batch, records=records, crs=LAMBERT72, lod="LoD2")
    assert not out.exists()


# ----------------------------------------------------------------------------
# GeoPackage and GeoJSON
# ----------------------------------------------------------------------------


def test_footprint_and_street_files_open_with_their_crs(district: District, written: dict[str, Path]) -> None:
    gpkg = gpd.read_file(written["footprints_gpkg"])
    assert gpkg.crs.to_epsg() == 31370
    assert list(gpkg.columns) == [*FOOTPRINT_COLUMNS, "geometry"]
    assert len(gpkg) == district.n_buildings
    assert gpkg["building_id"].tolist() == district.building_ids
    np.testing.assert_allclose(gpkg["height_m"], district.heights_m)
    assert shapely.equals_exact(gpkg.geometry.to_numpy(), _as_array(district.footprints), 1e-6).all()

    geojson = gpd.read_file(written["footprints_geojson"])
    assert geojson.crs.to_epsg() == 4326
    assert list(geojson.columns) == [*FOOTPRINT_COLUMNS, "geometry"]
    lon, lat = geojson.geometry.iloc[0].exterior.coords[0]
    assert 4.30 < lon < 4.40 and 50.80 < lat < 50.86  # Saint-Gilles / Ixelles
    raw = json.loads(written["footprints_geojson"].read_text(encoding="utf-8"))
    assert "crs" not in raw  # RFC 7946

    assert sorted(name for name, _ in pyogrio.list_layers(written["streets_gpkg"])) == [
        "links",
        "nodes",
    ]
    links = gpd.read_file(written["streets_gpkg"], layer="links")
    nodes = gpd.read_file(written["streets_gpkg"], layer="nodes")
    assert links.crs.to_epsg() == 31370 and nodes.crs.to_epsg() == 31370
    assert len(links) == len(district.streets.links)
    pd.testing.assert_series_equal(
        links["capacity_veh_h"], district.streets.links["capacity_veh_h"], check_names=False
    )
    assert not list(written["cityjson"].parent.glob(".*"))  # no temporary files left


# ----------------------------------------------------------------------------
# IFC
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ifc_case(district: District, tmp_path_factory: pytest.TempPathFactory):
    # a mid-terrace house with neighbours on both sides
    fps = _as_array(district.footprints)
    touching = shapely.STRtree(fps).query(fps, predicate="touches")
    neighbours = np.bincount(touching[0], minlength=len(fps))
    candidates = [
        i
        for i, r in enumerate(district.records)
        if r.typology == "terraced" and district.roof_shape[i] == "gable" and neighbours[i] == 2
    ]
    i = candidates[0]
    path = write_ifc_building(
        district, district.records[i].building_id, tmp_path_factory.mktemp("ifc") / "house.ifc"
    )
    return i, path, ifcopenshell.open(str(path))


def test_ifc_export_is_a_valid_georeferenced_ifc4_model(district: District, ifc_case) -> None:
    i, _, model = ifc_case
    assert model.schema == "IFC4"
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("test_district.ifc_validate")
    logger.propagate = False
    logger.addHandler(Collect())
    ifcopenshell.validate.validate(model, logger, express_rules=False)
    assert [r.getMessage() for r in records if r.levelno >= logging.ERROR] == []
    # the EXPRESS where-rules too (about 3 s)
    json_log = ifcopenshell.validate.json_logger()
    ifcopenshell.validate.validate(model, json_log, express_rules=True)
    assert json_log.statements == []

    (conversion,) = model.by_type("IfcMapConversion")
    assert conversion.TargetCRS.is_a("IfcProjectedCRS")
    assert conversion.TargetCRS.Name == "EPSG:31370"
    assert conversion.Scale == 1.0
    assert conversion.OrthogonalHeight == pytest.approx(district.ground_z_m[i])
    corner = np.asarray(district.footprints[i].exterior.coords)[0]
    assert (conversion.Eastings, conversion.Northings) == pytest.approx(tuple(corner))
    units = {u.UnitType: u.Name for u in model.by_type("IfcSIUnit")}
    assert units["LENGTHUNIT"] == "METRE" and model.by_type("IfcSIUnit")[0].Prefix is None


def test_ifc_export_has_storeys_spaces_walls_windows_and_roof(district: District, ifc_case) -> None:
    i, _, model = ifc_case
    record = district.records[i]
    storeys = sorted(model.by_type("IfcBuildingStorey"), key=lambda s: s.Elevation)
    assert len(storeys) == record.n_storeys
    np.testing.assert_allclose(
        [s.Elevation for s in storeys], np.arange(record.n_storeys) * district.storey_heights_m[i]
    )
    spaces = model.by_type("IfcSpace")
    assert len(spaces) == record.n_storeys
    qto = ifcopenshell.util.element.get_psets(spaces[0])["Qto_SpaceBaseQuantities"]
    assert 0 < qto["NetFloorArea"] < district.footprints[i].area
    assert qto["Height"] == pytest.approx(district.storey_heights_m[i])

    walls = model.by_type("IfcWall")
    assert len(walls) == 4 * record.n_storeys
    external = []
    for wall in walls:
        # STANDARD lives on the IfcWallType; ifcopenshell clears it on typed occurrences
        assert ifcopenshell.util.element.get_predefined_type(wall) == "STANDARD"
        usage = ifcopenshell.util.element.get_material(wall)
        assert usage.is_a("IfcMaterialLayerSetUsage")
        layers = usage.ForLayerSet.MaterialLayers
        assert len(layers) >= 3 and all(layer.LayerThickness > 0 for layer in layers)
        external.append(ifcopenshell.util.element.get_psets(wall)["Pset_WallCommon"]["IsExternal"])
    # a mid-terrace house: two facades outside, two party walls per storey
    assert sum(external) == 2 * record.n_storeys

    windows = model.by_type("IfcWindow")
    assert len(windows) >= 2 * record.n_storeys
    for window in windows:
        assert window.OverallWidth > 0 and window.OverallHeight > 0
        opening = window.FillsVoids[0].RelatingOpeningElement
        assert opening.VoidsElements[0].RelatingBuildingElement.is_a("IfcWall")
    assert len(model.by_type("IfcRoof")) == 1
    assert [s.PredefinedType for s in model.by_type("IfcSlab")] == ["BASESLAB"]


def test_ifc_local_wall_corners_map_onto_the_district_footprint(district: District, ifc_case) -> None:
    i, _, model = ifc_case
    corners = np.asarray(district.footprints[i].exterior.coords)[:4]
    ground = [
        w for w in model.by_type("IfcWall") if ifcopenshell.util.element.get_container(w).Elevation == 0.0
    ]
    assert len(ground) == 4
    mapped = []
    for wall in ground:
        local = ifcopenshell.util.placement.get_local_placement(wall.ObjectPlacement)
        world = ifcopenshell.util.geolocation.auto_local2global(model, local)
        mapped.append(world[:3, 3])
    mapped = np.asarray(mapped)
    for corner in corners:
        assert np.hypot(*(mapped[:, :2] - corner).T).min() < 0.01
    assert np.allclose(mapped[:, 2], district.ground_z_m[i], atol=0.01)


def test_ifc_export_is_byte_identical_when_repeated(district: District, ifc_case, tmp_path: Path) -> None:
    i, path, _ = ifc_case
    again = write_ifc_building(district, district.records[i].building_id, tmp_path / "again.ifc")
    assert again.read_bytes() == path.read_bytes()
    guids = [
        e.GlobalId for e in build_ifc_building(district, district.records[i].building_id).by_type("IfcRoot")
    ]
    assert len(set(guids)) == len(guids)


def test_ifc_export_rejects_an_unknown_building(district: District, tmp_path: Path) -> None:
    with pytest.raises(UnknownEntityError, match="BXL-999999"):
        write_ifc_building(district, "BXL-999999", tmp_path / "none.ifc")
    assert not list(tmp_path.iterdir())
