"""CityJSON reader: real files of ../shared/data/city, CityJSONSeq, and bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from bim_ingest.cityjson import read_cityjson
from twin.errors import CRSError, IngestError, SchemaError, TwinWarning

REAL = {
    # file: (buildings declared by the file, EPSG it declares)
    "brussels_grandplace_urbis_lod2.city.json": (8, 31370),
    "rotterdam_delfshaven.city.json": (853, 28992),
    "zurich_subset_lod2.city.json": (49, 2056),
}


def _independent_areas(doc: dict) -> dict[str, float]:
    """Area per semantic type straight from the JSON (Newell), no project code."""
    t = doc["transform"]
    v = np.asarray(doc["vertices"], float) * t["scale"] + t["translate"]
    out: dict[str, float] = {}
    for obj in doc["CityObjects"].values():
        for g in obj.get("geometry", []):
            sem = g["semantics"]
            for poly, val in zip(g["boundaries"], sem["values"], strict=True):
                kind = sem["surfaces"][val]["type"]
                rings = [v[r] for r in poly]
                a = []
                for ring in rings:
                    c = ring - ring[0]
                    a.append(np.linalg.norm(0.5 * np.cross(c, np.roll(c, -1, axis=0)).sum(axis=0)))
                out[kind] = out.get(kind, 0.0) + a[0] - sum(a[1:])
    return out


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_files_give_declared_count_and_crs(city_data, name):
    n, epsg = REAL[name]
    model = read_cityjson(city_data / name, crs=f"EPSG:{epsg}")
    assert len(model.buildings) == n
    assert model.crs.to_epsg() == epsg
    assert model.sources[0]["crs_declared"].endswith(str(epsg))
    assert model.buildings["building_id"].is_unique
    assert (model.buildings["volume_m3"] > 0).all()
    assert model.buildings.geometry.is_valid.all()


@pytest.mark.parametrize(
    "name", ["brussels_grandplace_urbis_lod2.city.json", "rotterdam_delfshaven.city.json"]
)
def test_surface_areas_match_an_independent_computation(city_data, name):
    doc = json.loads((city_data / name).read_text())
    expected = _independent_areas(doc)
    epsg = REAL[name][1]
    s = read_cityjson(city_data / name, crs=f"EPSG:{epsg}").surfaces
    got = {
        "WallSurface": s.loc[s["kind"] == "wall", "area_m2"].sum(),
        "RoofSurface": s.loc[s["kind"] == "roof", "area_m2"].sum(),
        "GroundSurface": s.loc[s["kind"] == "floor", "area_m2"].sum(),
    }
    for kind, value in got.items():
        # surfaces under 0.01 m2 are dropped as noise: allow that much per surface
        assert value == pytest.approx(expected[kind], rel=1e-3), kind


def test_default_crs_is_lambert72_and_reprojection_recorded(city_data):
    model = read_cityjson(city_data / "zurich_subset_lod2.city.json")
    assert model.crs.to_epsg() == 31370
    assert model.sources[0]["transformations"][0] != "identity"
    # Zurich lies ~ 500 km south-east of Brussels: x far beyond the Belgian range
    assert model.buildings.geometry.centroid.x.min() > 400_000


def test_building_parts_are_merged_into_their_parent(city_data):
    model = read_cityjson(city_data / "zurich_subset_lod2.city.json", crs="EPSG:2056")
    doc = json.loads((city_data / "zurich_subset_lod2.city.json").read_text())
    parts = sum(1 for o in doc["CityObjects"].values() if o["type"] == "BuildingPart")
    n_parts = sum(len(json.loads(a).get("parts", [])) for a in model.buildings["attributes_json"])
    assert n_parts == parts == 161
    # every surface of every part belongs to a parent building row
    assert set(model.surfaces["building_id"]) <= set(model.buildings["building_id"])


def test_lod_selection(city_data, tmp_path):
    doc = _box_doc()
    lod1 = json.loads(json.dumps(doc["CityObjects"]["b1"]["geometry"][0]))
    lod1["lod"] = "1"
    doc["CityObjects"]["b1"]["geometry"].append(lod1)
    doc["CityObjects"]["b1"]["geometry"][0]["lod"] = "2.2"
    p = tmp_path / "two_lods.city.json"
    p.write_text(json.dumps(doc))
    assert read_cityjson(p).buildings["lod"].iloc[0] == "2.2"
    assert read_cityjson(p, lod="1").buildings["lod"].iloc[0] == "1"
    assert read_cityjson(p, lod="2").buildings["lod"].iloc[0] == "2.2"


def _box_doc(version: str = "2.0", crs: str | None = "https://www.opengis.net/def/crs/EPSG/0/31370") -> dict:
    """A 10 x 8 x 6 m box as a CityJSON Solid with semantics, at Lambert 72 (149000, 168500, 60)."""
    verts = [
        [0, 0, 0],
        [10000, 0, 0],
        [10000, 8000, 0],
        [0, 8000, 0],
        [0, 0, 6000],
        [10000, 0, 6000],
        [10000, 8000, 6000],
        [0, 8000, 6000],
    ]
    shell = [
        [[0, 3, 2, 1]],  # ground, facing down
        [[4, 5, 6, 7]],  # roof, facing up
        [[0, 1, 5, 4]],
        [[1, 2, 6, 5]],
        [[2, 3, 7, 6]],
        [[3, 0, 4, 7]],
    ]
    doc = {
        "type": "CityJSON",
        "version": version,
        "transform": {"scale": [0.001, 0.001, 0.001], "translate": [149000.0, 168500.0, 60.0]},
        "CityObjects": {
            "b1": {
                "type": "Building",
                "attributes": {"yearOfConstruction": 1930, "storeysAboveGround": 2},
                "geometry": [
                    {
                        "type": "Solid",
                        "lod": "2",
                        "boundaries": [shell],
                        "semantics": {
                            "surfaces": [
                                {"type": "GroundSurface"},
                                {"type": "RoofSurface"},
                                {"type": "WallSurface"},
                            ],
                            "values": [[0, 1, 2, 2, 2, 2]],
                        },
                    }
                ],
            }
        },
        "vertices": verts,
    }
    if crs:
        doc["metadata"] = {"referenceSystem": crs}
    return doc


def test_solid_box_areas_volume_orientation(tmp_path):
    p = tmp_path / "box.city.json"
    p.write_text(json.dumps(_box_doc()))
    m = read_cityjson(p)
    b = m.buildings.iloc[0]
    assert b["volume_m3"] == pytest.approx(480.0)
    assert b["footprint_area_m2"] == pytest.approx(80.0)
    assert b["height_m"] == pytest.approx(6.0)
    assert b["ground_z_m"] == pytest.approx(60.0)
    assert b["year_built"] == 1930 and b["n_storeys"] == 2
    s = m.surfaces.set_index(m.surfaces["kind"] + m.surfaces["azimuth_deg"].round().astype(str))
    assert s.loc["wall180.0", "area_m2"] == pytest.approx(60.0)  # south face 10 x 6
    assert s.loc["wall90.0", "area_m2"] == pytest.approx(48.0)  # east face 8 x 6
    assert m.surfaces.loc[m.surfaces["kind"] == "roof", "tilt_deg"].iloc[0] == pytest.approx(0.0)
    assert m.surfaces.loc[m.surfaces["kind"] == "floor", "tilt_deg"].iloc[0] == pytest.approx(180.0)


def test_version_1_1_and_urn_crs(tmp_path):
    p = tmp_path / "v11.json"
    p.write_text(json.dumps(_box_doc("1.1", "urn:ogc:def:crs:EPSG::31370")))
    assert len(read_cityjson(p).buildings) == 1


def test_cityjsonseq(tmp_path):
    doc = _box_doc()
    header = {k: v for k, v in doc.items() if k not in ("CityObjects", "vertices")}
    header.update({"CityObjects": {}, "vertices": []})
    lines = [json.dumps(header)]
    for k in range(3):
        feat = {
            "type": "CityJSONFeature",
            "id": f"b{k}",
            "CityObjects": {f"b{k}": doc["CityObjects"]["b1"]},
            "vertices": [[x + 20000 * k, y, z] for x, y, z in doc["vertices"]],
        }
        lines.append(json.dumps(feat))
    p = tmp_path / "row.city.jsonl"
    p.write_text("\n".join(lines) + "\n")
    m = read_cityjson(p)
    assert list(m.buildings["building_id"]) == ["b0", "b1", "b2"]
    assert m.buildings["volume_m3"].tolist() == pytest.approx([480.0] * 3)
    assert m.sources[0]["format"] == "cityjsonseq"


def test_surfaces_without_semantics_are_classified_by_tilt(tmp_path):
    doc = _box_doc()
    del doc["CityObjects"]["b1"]["geometry"][0]["semantics"]
    p = tmp_path / "nosem.city.json"
    p.write_text(json.dumps(doc))
    kinds = read_cityjson(p).surfaces["kind"].value_counts().to_dict()
    assert kinds == {"wall": 4, "roof": 1, "floor": 1}


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("content", "error", "words"),
    [
        ("", IngestError, "empty"),
        ('{"type": "CityJSON", "version": "2.0", "CityObj', IngestError, "not valid JSON"),
        ("this is not json", IngestError, "not valid JSON"),
        ('{"type": "FeatureCollection", "features": []}', SchemaError, "not CityJSON"),
        (
            '{"type": "CityJSON", "version": "3.0", "CityObjects": {}, "vertices": []}',
            SchemaError,
            "version",
        ),
        ("[1, 2, 3]", SchemaError, "not CityJSON"),
    ],
)
def test_bad_files_give_a_precise_error(tmp_path, content, error, words):
    p = tmp_path / "bad.city.json"
    p.write_text(content)
    with pytest.raises(error) as info:
        read_cityjson(p)
    assert "bad.city.json" in str(info.value)
    assert words in str(info.value)


def test_missing_crs_is_refused_unless_given(tmp_path):
    p = tmp_path / "nocrs.city.json"
    p.write_text(json.dumps(_box_doc(crs=None)))
    with pytest.raises(CRSError, match="source_crs"):
        read_cityjson(p)
    assert len(read_cityjson(p, source_crs="EPSG:31370").buildings) == 1


def test_unknown_crs_is_refused(tmp_path):
    p = tmp_path / "badcrs.city.json"
    p.write_text(json.dumps(_box_doc(crs="https://www.opengis.net/def/crs/EPSG/0/99999999")))
    with pytest.raises(CRSError, match="Unknown CRS"):
        read_cityjson(p)


def test_vertex_index_out_of_range(tmp_path):
    doc = _box_doc()
    doc["vertices"] = doc["vertices"][:5]
    p = tmp_path / "broken.city.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match="refers to vertex"):
        read_cityjson(p)


def test_duplicate_ids_are_counted_and_renamed(tmp_path):
    doc = _box_doc()
    body = json.dumps(doc["CityObjects"]["b1"])
    text = json.dumps(doc).replace(f'"b1": {body}', f'"b1": {body}, "b1": {body}')
    p = tmp_path / "dup.city.json"
    p.write_text(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = read_cityjson(p)
    # plain json would keep only one of two equal keys: both are kept and reported
    assert sorted(m.buildings["building_id"]) == ["b1", "b1-dup1"]
    assert m.sources[0]["duplicate_ids"] == ["b1"]
    assert any(issubclass(w.category, TwinWarning) and "duplicate" in str(w.message) for w in caught)
