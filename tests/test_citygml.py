"""Tests of the CityGML reader (:mod:`bim_ingest.citygml`).

Real samples come from ``../shared/data/city`` (see its MANIFEST.md); the
expected values are computed here, independently of the reader, from the raw
coordinates of the files (Newell areas, prism and plane-over-footprint
volumes).  Tiny hand-written CityGML documents cover the edge cases.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import shapely
import trimesh
from lxml import etree
from pyproj import CRS, Proj, Transformer

from bim_ingest.citygml import LODS, read_citygml
from twin.errors import CRSError, IngestError, SchemaError, TwinWarning
from twin.model import CityModel

pytestmark = pytest.mark.filterwarnings("error::twin.errors.TwinWarning")

DATA_DIR = Path(__file__).parents[1].parent / "shared" / "data" / "city"
FZK = "fzk_haus_lod2_citygml2.gml"
TUM = "tum_main_entrance_lod2_citygml3.gml"

GML2 = "http://www.opengis.net/gml"
GML32 = "http://www.opengis.net/gml/3.2"

# ----------------------------------------------------------------------------- fixtures


def _data_file(name: str) -> Path:
    path = DATA_DIR / name
    if not path.is_file():
        reason = f"shared test data {path} is missing (see shared/data/city/MANIFEST.md)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def fzk_path() -> Path:
    return _data_file(FZK)


@pytest.fixture(scope="module")
def tum_path() -> Path:
    return _data_file(TUM)


@pytest.fixture(scope="module")
def fzk_utm(fzk_path: Path) -> CityModel:
    return read_citygml(fzk_path, crs="EPSG:25832")


@pytest.fixture(scope="module")
def tum_utm(tum_path: Path) -> CityModel:
    return read_citygml(tum_path, crs="EPSG:25832")


# ----------------------------------------------------------------------------- reference maths
def newell_area(ring: np.ndarray) -> float:
    """Area of a planar 3D ring by Newell's method (half the norm of the summed cross products)."""
    local = ring - ring[0]
    return 0.5 * float(np.linalg.norm(np.cross(local, np.roll(local, -1, axis=0)).sum(axis=0)))


def shoelace(xy: np.ndarray) -> float:
    """Signed plan area of a ring (counter-clockwise positive)."""
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def raw_surfaces(path: Path, gml_ns: str) -> list[tuple[str, list[np.ndarray]]]:
    """(thematic surface type, rings) of every thematic surface, straight from the XML."""
    tree = etree.parse(str(path))
    out = []
    for surface in tree.iter(etree.Element):
        local = etree.QName(surface).localname
        if local not in ("WallSurface", "RoofSurface", "GroundSurface"):
            continue
        for polygon in surface.iter(f"{{{gml_ns}}}Polygon"):
            rings = []
            for ring in polygon.iter(f"{{{gml_ns}}}LinearRing"):
                pos_list = ring.find(f"{{{gml_ns}}}posList")
                if pos_list is not None:
                    values = np.array(pos_list.text.split(), dtype=float)
                else:
                    values = np.array(
                        [v for p in ring.iter(f"{{{gml_ns}}}pos") for v in p.text.split()],
                        dtype=float,
                    )
                rings.append(values.reshape(-1, 3))
            out.append((local, rings))
    return out


def polygon_area(rings: list[np.ndarray]) -> float:
    return newell_area(rings[0]) - sum(newell_area(r) for r in rings[1:])


_KIND = {"WallSurface": "wall", "RoofSurface": "roof", "GroundSurface": "floor"}


# ----------------------------------------------------------------------------- FZK-Haus (2.0)
def test_fzk_haus_is_one_building_with_its_attributes(fzk_utm: CityModel) -> None:
    b = fzk_utm.buildings
    assert len(b) == 1
    row = b.iloc[0]
    assert row["building_id"] == "UUID_d281adfc-4901-0f52-540b-4cc1a9325f82"
    assert row["parent_id"] == ""
    assert row["name"] == "AC14-FZK-Haus"
    assert row["year_built"] == 2020
    assert row["n_storeys"] == 2
    assert row["use"] == "1000"
    assert row["lod"] == "2"
    attributes = json.loads(row["attributes_json"])
    assert attributes["measured_height_m"] == pytest.approx(6.52)
    assert attributes["function"] == "1000"
    assert attributes["usage"] == "1000"
    assert attributes["roof_type"] == "1030"
    assert attributes["storeys_below_ground"] == 0
    assert attributes["ConstructionMethod"] == "New Building"
    assert attributes["GrossPlannedArea"] == pytest.approx(120.0)
    assert "Eggenstein-Leopoldshafen" in attributes["address"]
    source = fzk_utm.sources[0]
    assert source["format"] == "citygml"
    assert source["citygml_version"] == "2.0"
    assert source["crs_declared"] == "urn:adv:crs:ETRS89_UTM32*DE_DHHN92_NH"
    assert source["vertical_epsg"] == 5783


def test_fzk_haus_counts_each_polygon_once_despite_the_lod2_solid(fzk_utm: CityModel) -> None:
    kinds = fzk_utm.surfaces["kind"].value_counts().to_dict()
    assert kinds == {"wall": 4, "roof": 2, "floor": 1}
    assert fzk_utm.surfaces.loc[fzk_utm.surfaces["kind"] == "floor", "boundary"].tolist() == ["ground"]
    # the seven lod2Solid members are xlinks to the seven boundedBy polygons
    assert fzk_utm.sources[0]["polygons_shared_by_solid_and_surfaces"] == 7


def test_fzk_haus_areas_match_the_raw_coordinates(fzk_path: Path, fzk_utm: CityModel) -> None:
    raw = raw_surfaces(fzk_path, GML2)
    assert len(raw) == 7
    for semantic, kind in _KIND.items():
        expected = sorted(polygon_area(rings) for s, rings in raw if s == semantic)
        got = sorted(fzk_utm.surfaces.loc[fzk_utm.surfaces["kind"] == kind, "area_m2"])
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_fzk_haus_footprint_is_the_12_by_10_m_ground_surface(fzk_path: Path, fzk_utm: CityModel) -> None:
    (ground,) = [rings for s, rings in raw_surfaces(fzk_path, GML2) if s == "GroundSurface"]
    xy = ground[0][:-1, :2]  # the ring repeats its first vertex
    # by hand from the file: x 457842..457854 (12 m), y 5439083..5439093 (10 m)
    assert np.ptp(xy[:, 0]) == 12.0 and np.ptp(xy[:, 1]) == 10.0
    assert abs(shoelace(xy)) == pytest.approx(120.0, rel=1e-12)
    row = fzk_utm.buildings.iloc[0]
    assert row["footprint_area_m2"] == pytest.approx(120.0, rel=1e-9)
    assert row["geometry"].area == pytest.approx(120.0, rel=1e-9)
    assert row["ground_z_m"] == pytest.approx(111.8)


def test_fzk_haus_volume_matches_the_gable_prism(fzk_path: Path, fzk_utm: CityModel) -> None:
    raw = raw_surfaces(fzk_path, GML2)
    z = np.unique(np.concatenate([r[0][:, 2] for _, r in raw]))
    ground_z, eave_z, ridge_z = z  # three distinct heights in the file
    length, width = 12.0, 10.0  # ridge along x, gables on the 10 m sides
    prism = length * width * (eave_z - ground_z) + 0.5 * width * (ridge_z - eave_z) * length
    assert fzk_utm.buildings.iloc[0]["volume_m3"] == pytest.approx(prism, rel=1e-9)

    # and trimesh's volume of the closed shell (fan-triangulated convex faces)
    vertices, faces = [], []
    for _, rings in raw:
        ring = rings[0][:-1]
        start = len(vertices)
        vertices.extend(ring.tolist())
        faces.extend([start, start + k, start + k + 1] for k in range(1, len(ring) - 1))
    mesh = trimesh.Trimesh(np.array(vertices) - [457842, 5439083, 0], faces, process=True)
    assert mesh.is_watertight
    assert fzk_utm.buildings.iloc[0]["volume_m3"] == pytest.approx(abs(mesh.volume), rel=1e-9)


def test_fzk_haus_height_is_the_measured_height(fzk_utm: CityModel) -> None:
    # measuredHeight is 6.52 m, rounded to cm; the geometry gives 118.3177 - 111.8 = 6.5177 m
    assert fzk_utm.buildings.iloc[0]["height_m"] == pytest.approx(6.52, abs=0.005)


def test_fzk_haus_is_reprojected_to_lambert_72_by_default(fzk_path: Path, fzk_utm: CityModel) -> None:
    model = read_citygml(fzk_path)
    assert model.crs.equals(CRS.from_epsg(31370))
    assert model.buildings.crs.equals(CRS.from_epsg(31370))
    utm_centroid = fzk_utm.buildings.geometry.iloc[0].centroid
    assert (utm_centroid.x, utm_centroid.y) == pytest.approx((457848.0, 5439088.0), abs=1e-9)
    expected = Transformer.from_crs(25832, 31370, always_xy=True).transform(457848.0, 5439088.0)
    centroid = model.buildings.geometry.iloc[0].centroid
    assert np.hypot(centroid.x - expected[0], centroid.y - expected[1]) < 0.01
    # heights are not touched by the horizontal transformation
    assert model.buildings.iloc[0]["ground_z_m"] == pytest.approx(111.8)
    # areas are measured after reprojection: Karlsruhe lies far outside Lambert 72's area of
    # use, so the footprint grows by the ratio of the projections' areal scale factors
    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(457848.0, 5439088.0)
    scale = (
        Proj(CRS.from_epsg(31370)).get_factors(lon, lat).areal_scale
        / Proj(CRS.from_epsg(25832)).get_factors(lon, lat).areal_scale
    )
    assert model.buildings.iloc[0]["footprint_area_m2"] == pytest.approx(120.0 * scale, rel=1e-4)


def test_fzk_haus_keeps_utm_when_asked(fzk_utm: CityModel) -> None:
    assert fzk_utm.crs.equals(CRS.from_epsg(25832))
    assert fzk_utm.sources[0]["transformations"] == ["identity"]
    minx, miny, maxx, maxy = fzk_utm.buildings.total_bounds
    assert (minx, miny, maxx, maxy) == (457842.0, 5439083.0, 457854.0, 5439093.0)


def test_fzk_haus_lod1_is_absent_so_the_building_is_skipped(fzk_path: Path) -> None:
    with pytest.warns(TwinWarning, match="1 building.*without LoD1"):
        model = read_citygml(fzk_path, crs="EPSG:25832", lod="1")
    assert len(model.buildings) == 0 and len(model.surfaces) == 0


# ----------------------------------------------------------------------------- TUM (3.0)
def test_tum_entrance_reads_citygml_3(tum_utm: CityModel) -> None:
    assert len(tum_utm.buildings) == 1
    row = tum_utm.buildings.iloc[0]
    assert row["building_id"] == "DEBY_LOD2_4959457"
    assert row["use"] == "31001_3020"
    assert row["n_storeys"] == 4
    attributes = json.loads(row["attributes_json"])
    assert attributes["measured_height_m"] == pytest.approx(19.408)
    assert attributes["HoeheDach"] == "534.450"  # a StringAttribute stays a string
    assert tum_utm.sources[0]["citygml_version"] == "3.0"
    assert tum_utm.sources[0]["vertical_epsg"] == 7837
    assert row["height_m"] == pytest.approx(19.408, abs=1e-6)
    assert row["ground_z_m"] == pytest.approx(515.042)
    kinds = tum_utm.surfaces["kind"].value_counts().to_dict()
    assert kinds == {"wall": 14, "roof": 2, "floor": 1}


def test_tum_entrance_areas_match_raw_coordinates_and_published_values(
    tum_path: Path, tum_utm: CityModel
) -> None:
    raw = raw_surfaces(tum_path, GML32)
    assert len(raw) == 17
    # surfaces keep the file's order; the ground surface and one roof have a courtyard hole
    expected = [polygon_area(rings) for _, rings in raw]
    np.testing.assert_allclose(tum_utm.surfaces["area_m2"], expected, rtol=1e-9)
    assert tum_utm.surfaces["kind"].tolist() == [_KIND[s] for s, _ in raw]
    # the file's own "Flaeche" attribute per surface, given to 3 decimals by the publisher
    # (computed before coordinates were rounded to cm, hence the 1e-4 tolerance)
    tree = etree.parse(str(tum_path))
    published = [
        float(v)
        for v in tree.xpath(
            "//*[local-name()='StringAttribute'][*[local-name()='name']='Flaeche']"
            "/*[local-name()='value']/text()"
        )
    ]
    np.testing.assert_allclose(tum_utm.surfaces["area_m2"], published, rtol=2e-4)


def test_tum_entrance_volume_is_roof_height_over_the_footprint(tum_path: Path, tum_utm: CityModel) -> None:
    raw = raw_surfaces(tum_path, GML32)
    (ground,) = [rings for s, rings in raw if s == "GroundSurface"]
    ground_z = float(ground[0][0, 2])
    footprint = shapely.Polygon(ground[0][:, :2], [r[:, :2] for r in ground[1:]])
    volume = 0.0
    plan_area = 0.0
    for semantic, rings in raw:
        if semantic != "RoofSurface":
            continue
        # the roof plane z = a x + b y + c, fitted by least squares; the prism under a
        # planar polygon has volume (plan area) x (height of the plane over the plan centroid)
        points = np.vstack(rings)
        a, b, c = np.linalg.lstsq(np.c_[points[:, :2], np.ones(len(points))], points[:, 2])[0]
        plan = shapely.Polygon(rings[0][:, :2], [r[:, :2] for r in rings[1:]])
        plan_area += plan.area
        volume += plan.area * (a * plan.centroid.x + b * plan.centroid.y + c - ground_z)
    assert plan_area == pytest.approx(footprint.area, rel=1e-6)
    row = tum_utm.buildings.iloc[0]
    assert row["footprint_area_m2"] == pytest.approx(footprint.area, rel=1e-9)
    assert row["volume_m3"] == pytest.approx(volume, rel=1e-4)


# ----------------------------------------------------------------------------- tiny documents
NS2 = (
    'xmlns="http://www.opengis.net/citygml/2.0" '
    'xmlns:bldg="http://www.opengis.net/citygml/building/2.0" '
    'xmlns:gen="http://www.opengis.net/citygml/generics/2.0" '
    'xmlns:gml="http://www.opengis.net/gml" xmlns:xlink="http://www.w3.org/1999/xlink"'
)
NS1 = (
    'xmlns="http://www.opengis.net/citygml/1.0" '
    'xmlns:bldg="http://www.opengis.net/citygml/building/1.0" '
    'xmlns:gml="http://www.opengis.net/gml"'
)


def city_model(members: str, *, srs: str | None = "EPSG:31370", ns: str = NS2, doctype="") -> str:
    envelope = (
        f'<gml:boundedBy><gml:Envelope srsName="{srs}" srsDimension="3">'
        "<gml:lowerCorner>0 0 0</gml:lowerCorner><gml:upperCorner>1 1 1</gml:upperCorner>"
        "</gml:Envelope></gml:boundedBy>"
        if srs
        else ""
    )
    header = f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}'
    return f"{header}<CityModel {ns}>{envelope}{members}</CityModel>\n"


def polygon(ring, gid: str | None = None, holes=()) -> str:
    def linear_ring(r) -> str:
        closed = [*r, r[0]]
        return (
            "<gml:LinearRing><gml:posList>"
            + " ".join(f"{x} {y} {z}" for x, y, z in closed)
            + "</gml:posList></gml:LinearRing>"
        )

    attr = f' gml:id="{gid}"' if gid else ""
    interiors = "".join(f"<gml:interior>{linear_ring(h)}</gml:interior>" for h in holes)
    exterior = f"<gml:exterior>{linear_ring(ring)}</gml:exterior>"
    return f"<gml:Polygon{attr}>{exterior}{interiors}</gml:Polygon>"


def box_faces(x0=150000.0, y0=170000.0, z0=20.0, dx=10.0, dy=8.0, dz=6.0) -> dict[str, list]:
    """The six faces of a box, each wound counter-clockwise seen from outside."""
    x1, y1, z1 = x0 + dx, y0 + dy, z0 + dz
    return {
        "ground": [(x0, y0, z0), (x0, y1, z0), (x1, y1, z0), (x1, y0, z0)],
        "roof": [(x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)],
        "south": [(x0, y0, z0), (x1, y0, z0), (x1, y0, z1), (x0, y0, z1)],
        "east": [(x1, y0, z0), (x1, y1, z0), (x1, y1, z1), (x1, y0, z1)],
        "north": [(x1, y1, z0), (x0, y1, z0), (x0, y1, z1), (x1, y1, z1)],
        "west": [(x0, y1, z0), (x0, y0, z0), (x0, y0, z1), (x0, y1, z1)],
    }


def lod1_solid(faces: dict[str, list], *, reverse: bool = False) -> str:
    members = "".join(
        f"<gml:surfaceMember>{polygon(f[::-1] if reverse else f)}</gml:surfaceMember>" for f in faces.values()
    )
    return (
        "<bldg:lod1Solid><gml:Solid><gml:exterior><gml:CompositeSurface>"
        f"{members}</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod1Solid>"
    )


def lod2_surfaces(faces: dict[str, list], prefix: str = "p") -> str:
    types = {"ground": "GroundSurface", "roof": "RoofSurface"}
    return "".join(
        f"<bldg:boundedBy><bldg:{types.get(name, 'WallSurface')}><bldg:lod2MultiSurface>"
        f"<gml:MultiSurface><gml:surfaceMember>{polygon(face, f'{prefix}-{name}')}"
        f"</gml:surfaceMember></gml:MultiSurface></bldg:lod2MultiSurface>"
        f"</bldg:{types.get(name, 'WallSurface')}></bldg:boundedBy>"
        for name, face in faces.items()
    )


def building(inner: str, gid: str | None = "b1", tag: str = "Building") -> str:
    attr = f' gml:id="{gid}"' if gid else ""
    return f"<bldg:{tag}{attr}>{inner}</bldg:{tag}>"


def member(inner: str) -> str:
    return f"<cityObjectMember>{inner}</cityObjectMember>"


def write(tmp_path: Path, text: str, name: str = "tiny.gml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_lod1_solid_box_has_exact_areas_and_volume(tmp_path: Path) -> None:
    attrs = (
        "<gml:name>Box</gml:name><bldg:yearOfConstruction>1931</bldg:yearOfConstruction>"
        "<bldg:function>1010</bldg:function><bldg:storeysAboveGround>2</bldg:storeysAboveGround>"
        '<gen:intAttribute name="flats"><gen:value>4</gen:value></gen:intAttribute>'
        '<gen:doubleAttribute name="ratio"><gen:value>0.5</gen:value></gen:doubleAttribute>'
    )
    path = write(tmp_path, city_model(member(building(attrs + lod1_solid(box_faces())))))
    model = read_citygml(path)
    assert model.crs.to_epsg() == 31370
    row = model.buildings.iloc[0]
    assert (row["building_id"], row["name"], row["year_built"], row["use"]) == (
        "b1",
        "Box",
        1931,
        "1010",
    )
    assert row["lod"] == "1" and row["n_storeys"] == 2
    assert json.loads(row["attributes_json"])["flats"] == 4
    assert json.loads(row["attributes_json"])["ratio"] == 0.5
    assert row["volume_m3"] == pytest.approx(480.0, rel=1e-12)
    assert row["footprint_area_m2"] == pytest.approx(80.0, rel=1e-12)
    assert row["height_m"] == pytest.approx(6.0) and row["ground_z_m"] == pytest.approx(20.0)
    s = model.surfaces
    by_kind = s.groupby("kind")["area_m2"].apply(sorted).to_dict()
    assert by_kind == {
        "floor": [pytest.approx(80.0)],
        "roof": [pytest.approx(80.0)],
        "wall": [
            pytest.approx(48.0),
            pytest.approx(48.0),
            pytest.approx(60.0),
            pytest.approx(60.0),
        ],
    }
    assert s.loc[s["kind"] == "floor", "boundary"].tolist() == ["ground"]
    walls = s[s["kind"] == "wall"]
    assert sorted(walls["azimuth_deg"].round(6)) == [0.0, 90.0, 180.0, 270.0]


def test_inward_wound_lod1_solid_is_turned_outwards(tmp_path: Path) -> None:
    path = write(tmp_path, city_model(member(building(lod1_solid(box_faces(), reverse=True)))))
    with pytest.warns(TwinWarning, match="inward-facing rings"):
        model = read_citygml(path)
    assert model.buildings.iloc[0]["volume_m3"] == pytest.approx(480.0)
    assert sorted(model.surfaces["kind"]) == ["floor", "roof", "wall", "wall", "wall", "wall"]


def test_citygml_1_0_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, city_model(member(building(lod1_solid(box_faces()))), ns=NS1))
    model = read_citygml(path)
    assert model.sources[0]["citygml_version"] == "1.0"
    assert model.buildings.iloc[0]["volume_m3"] == pytest.approx(480.0)


def test_file_without_crs_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, city_model(member(building(lod1_solid(box_faces()))), srs=None))
    with pytest.raises(CRSError, match="declares no CRS") as err:
        read_citygml(path)
    assert path.name in str(err.value)
    assert "source_crs" in str(err.value) and "--source-crs" in str(err.value)


def test_source_crs_is_used_when_the_file_declares_none(tmp_path: Path) -> None:
    path = write(tmp_path, city_model(member(building(lod1_solid(box_faces()))), srs=None))
    model = read_citygml(path, source_crs="EPSG:31370", crs="EPSG:31370")
    assert model.sources[0]["crs_declared"] == "EPSG:31370"
    assert model.buildings.iloc[0]["footprint_area_m2"] == pytest.approx(80.0)
    lambert2008 = read_citygml(path, source_crs=31370, crs=3812)
    assert lambert2008.crs.to_epsg() == 3812
    centroid = lambert2008.buildings.geometry.iloc[0].centroid
    expected = Transformer.from_crs(31370, 3812, always_xy=True).transform(150005.0, 170004.0)
    assert np.hypot(centroid.x - expected[0], centroid.y - expected[1]) < 0.01


def test_source_crs_does_not_override_a_declared_crs(tmp_path: Path) -> None:
    path = write(tmp_path, city_model(member(building(lod1_solid(box_faces())))))
    with pytest.warns(TwinWarning, match="source_crs=EPSG:3812 ignored"):
        model = read_citygml(path, source_crs="EPSG:3812")
    assert model.sources[0]["crs_declared"] == "EPSG:31370"
    assert model.sources[0]["transformations"] == ["identity"]


def test_a_file_declaring_two_crss_is_refused(tmp_path: Path) -> None:
    body = lod1_solid(box_faces()).replace("<gml:Solid>", '<gml:Solid srsName="EPSG:3812">')
    path = write(tmp_path, city_model(member(building(body))))
    with pytest.raises(CRSError, match="several CRSs"):
        read_citygml(path)


def test_truncated_xml_names_the_file_and_the_line(tmp_path: Path) -> None:
    text = city_model(member(building(lod1_solid(box_faces()))))
    path = write(tmp_path, text[: len(text) // 2].replace("><", ">\n<"))
    with pytest.raises(IngestError, match=r"not well-formed XML at line \d+") as err:
        read_citygml(path)
    assert path.name in str(err.value)
    assert "\n" not in str(err.value)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="empty"):
        read_citygml(write(tmp_path, ""))
    with pytest.raises(IngestError, match="not well-formed XML"):
        read_citygml(write(tmp_path, "  \n", name="blank.gml"))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        read_citygml(tmp_path / "nowhere.gml")


def test_json_is_recognised_as_not_citygml(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="CityJSON"):
        read_citygml(write(tmp_path, '{"type": "CityJSON"}', name="x.gml"))


def test_xml_that_is_not_citygml_is_a_schema_error(tmp_path: Path) -> None:
    kml = '<kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>'
    with pytest.raises(SchemaError, match="root element is <kml>") as err:
        read_citygml(write(tmp_path, kml))
    assert "tiny.gml" in str(err.value)
    old = '<CityModel xmlns="http://www.opengis.net/citygml/0.4"/>'
    with pytest.raises(SchemaError, match="unsupported CityModel namespace"):
        read_citygml(write(tmp_path, old, name="old.gml"))


def test_external_entities_are_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a", encoding="utf-8")
    doctype = f'<!DOCTYPE CityModel [ <!ENTITY xxe SYSTEM "{secret.as_uri()}"> ]>\n'
    attrs = (
        "<gml:name>&xxe;</gml:name>"
        '<gen:stringAttribute name="leak"><gen:value>&xxe;</gen:value></gen:stringAttribute>'
    )
    path = write(tmp_path, city_model(member(building(attrs + lod1_solid(box_faces()))), doctype=doctype))
    with pytest.warns(TwinWarning, match="not expanded"):
        model = read_citygml(path)
    assert len(model.buildings) == 1
    text = model.buildings.drop(columns="geometry").astype(str).to_string()
    assert "TOP-SECRET" not in text
    assert "TOP-SECRET" not in json.dumps(model.sources)


def test_billion_laughs_neither_expands_nor_hangs(tmp_path: Path) -> None:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    doctype = "<!DOCTYPE CityModel [" + "".join(entities) + "]>\n"
    inner = "<gml:name>&lol9;</gml:name>" + lod1_solid(box_faces())
    path = write(tmp_path, city_model(member(building(inner)), doctype=doctype))
    # libxml2 either refuses the document (entity amplification limit) or, since entities are
    # not substituted, leaves the reference unexpanded; both end quickly and in little memory.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TwinWarning)
        try:
            model = read_citygml(path)
        except IngestError as err:
            assert path.name in str(err)
            return
    assert len(model.buildings.iloc[0]["name"]) < 100


def test_duplicate_building_ids_get_stable_suffixes(tmp_path: Path) -> None:
    first = building(lod1_solid(box_faces()), gid="dup")
    second = building(lod1_solid(box_faces(x0=150020.0)), gid="dup")
    third = building(lod1_solid(box_faces(x0=150040.0)), gid="dup")
    path = write(tmp_path, city_model(member(first) + member(second) + member(third)))
    with pytest.warns(TwinWarning, match="2 duplicate building gml:id"):
        model = read_citygml(path)
    assert model.buildings["building_id"].tolist() == ["dup", "dup_2", "dup_3"]
    assert model.buildings.geometry.centroid.x.round(3).tolist() == [150005.0, 150025.0, 150045.0]


def test_buildings_without_gml_id_get_ids_from_file_and_position(tmp_path: Path) -> None:
    members = member(building(lod1_solid(box_faces()), gid=None)) + member(
        building(lod1_solid(box_faces(x0=150020.0)), gid=None)
    )
    model = read_citygml(write(tmp_path, city_model(members), name="district.gml"))
    assert model.buildings["building_id"].tolist() == ["district_b0", "district_b1"]


def test_building_parts_fold_into_their_parent_building(tmp_path: Path) -> None:
    part_a = building(lod1_solid(box_faces()), gid="part-a", tag="BuildingPart")
    part_b = building(
        "<bldg:function>2000</bldg:function>" + lod1_solid(box_faces(x0=150010.0, dz=9.0)),
        gid="part-b",
        tag="BuildingPart",
    )
    parent = building(
        "<bldg:yearOfConstruction>1905</bldg:yearOfConstruction>"
        "<bldg:function>1000</bldg:function>"
        f"<bldg:consistsOfBuildingPart>{part_a}</bldg:consistsOfBuildingPart>"
        f"<bldg:consistsOfBuildingPart>{part_b}</bldg:consistsOfBuildingPart>",
        gid="parent",
    )
    model = read_citygml(write(tmp_path, city_model(member(parent))))
    # one building, as in the CityJSON reader: the parts' geometry is the parent's
    b = model.buildings.set_index("building_id")
    assert list(b.index) == ["parent"]
    assert b.loc["parent", "parent_id"] == ""
    assert b.loc["parent", "year_built"] == 1905
    assert json.loads(b.loc["parent", "attributes_json"])["parts"] == ["part-a", "part-b"]
    assert b.loc["parent", "volume_m3"] == pytest.approx(10 * 8 * 6 + 10 * 8 * 9)
    assert set(model.surfaces["building_id"]) == {"parent"}


def test_a_building_with_own_geometry_and_a_part_is_one_building(tmp_path: Path) -> None:
    part = building(lod1_solid(box_faces(x0=150010.0, dz=3.0)), gid="annex", tag="BuildingPart")
    main = building(
        lod1_solid(box_faces()) + f"<bldg:consistsOfBuildingPart>{part}</bldg:consistsOfBuildingPart>",
        gid="main",
    )
    model = read_citygml(write(tmp_path, city_model(member(main))))
    assert model.buildings["building_id"].tolist() == ["main"]
    assert json.loads(model.buildings["attributes_json"].iloc[0])["parts"] == ["annex"]
    assert model.buildings["volume_m3"].tolist() == pytest.approx([480.0 + 240.0])


def test_lod_is_the_highest_available_or_the_one_asked_for(tmp_path: Path) -> None:
    both = building(lod1_solid(box_faces()) + lod2_surfaces(box_faces()), gid="both")
    lod1_only = building(lod1_solid(box_faces(x0=150020.0)), gid="lod1-only")
    path = write(tmp_path, city_model(member(both) + member(lod1_only)))

    highest = read_citygml(path)
    assert highest.buildings["lod"].tolist() == ["2", "1"]
    assert highest.sources[0]["lod"] == "1,2"
    assert len(highest.surfaces) == 12

    lod1 = read_citygml(path, lod="1")
    assert lod1.buildings["lod"].tolist() == ["1", "1"]

    with pytest.warns(TwinWarning, match=r"1 building\(s\) without LoD2 were skipped"):
        lod2 = read_citygml(path, lod="LoD2")
    assert lod2.buildings["building_id"].tolist() == ["both"]
    assert lod2.sources[0]["skipped_missing_lod"] == 1


@pytest.mark.parametrize("bad", ["5", "0", "lod", 2.5, "two"])
def test_unknown_lod_lists_the_choices(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ValueError, match=r"choose one of \['1', '2', '3', '4'\]"):
        read_citygml(tmp_path / "unused.gml", lod=bad)  # type: ignore[arg-type]
    assert LODS == ("1", "2", "3", "4")


def test_lod2_solid_polygons_outside_boundedby_are_classified_by_tilt(tmp_path: Path) -> None:
    faces = box_faces()
    semantic = {k: v for k, v in faces.items() if k in ("roof", "south", "east")}
    solid_members = "".join(f'<gml:surfaceMember xlink:href="#p-{k}"/>' for k in semantic) + "".join(
        f"<gml:surfaceMember>{polygon(v)}</gml:surfaceMember>" for k, v in faces.items() if k not in semantic
    )
    solid = (
        "<bldg:lod2Solid><gml:Solid><gml:exterior><gml:CompositeSurface>"
        f"{solid_members}</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod2Solid>"
    )
    path = write(tmp_path, city_model(member(building(solid + lod2_surfaces(semantic)))))
    model = read_citygml(path)
    s = model.surfaces
    assert len(s) == 6
    assert s["kind"].value_counts().to_dict() == {"wall": 4, "roof": 1, "floor": 1}
    assert s.loc[s["kind"] == "floor", "boundary"].tolist() == ["ground"]
    assert model.buildings.iloc[0]["volume_m3"] == pytest.approx(480.0)
    assert model.sources[0]["polygons_shared_by_solid_and_surfaces"] == 3


def test_xlinks_to_nowhere_are_counted(tmp_path: Path) -> None:
    solid = (
        "<bldg:lod2Solid><gml:Solid><gml:exterior><gml:CompositeSurface>"
        '<gml:surfaceMember xlink:href="#p-roof"/><gml:surfaceMember xlink:href="#nowhere"/>'
        "</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod2Solid>"
    )
    inner = solid + lod2_surfaces(box_faces())
    with pytest.warns(TwinWarning, match="1 xlink:href"):
        model = read_citygml(write(tmp_path, city_model(member(building(inner)))))
    assert len(model.surfaces) == 6
    assert model.sources[0]["unresolved_xlinks"] == 1


def test_closure_surfaces_are_not_envelope(tmp_path: Path) -> None:
    faces = box_faces()
    inner = lod2_surfaces({k: v for k, v in faces.items() if k != "north"}) + (
        "<bldg:boundedBy><bldg:ClosureSurface><bldg:lod2MultiSurface><gml:MultiSurface>"
        f"<gml:surfaceMember>{polygon(faces['north'])}</gml:surfaceMember>"
        "</gml:MultiSurface></bldg:lod2MultiSurface></bldg:ClosureSurface></bldg:boundedBy>"
    )
    model = read_citygml(write(tmp_path, city_model(member(building(inner)))))
    assert len(model.surfaces) == 5
    assert model.sources[0]["non_envelope_surfaces"] == 1


def test_lod3_openings_become_window_surfaces(tmp_path: Path) -> None:
    x0, y0, z0 = 150000.0, 170000.0, 20.0
    hole = [
        (x0 + 2, y0, z0 + 1),
        (x0 + 2, y0, z0 + 2.5),
        (x0 + 4, y0, z0 + 2.5),
        (x0 + 4, y0, z0 + 1),
    ]
    window = hole[::-1]  # the window faces outwards (-y), the hole is wound the other way
    wall = box_faces()["south"]
    inner = (
        "<bldg:boundedBy><bldg:WallSurface><bldg:lod3MultiSurface><gml:MultiSurface>"
        f"<gml:surfaceMember>{polygon(wall, holes=[hole])}</gml:surfaceMember>"
        "</gml:MultiSurface></bldg:lod3MultiSurface>"
        "<bldg:opening><bldg:Window><bldg:lod3MultiSurface><gml:MultiSurface>"
        f"<gml:surfaceMember>{polygon(window)}</gml:surfaceMember>"
        "</gml:MultiSurface></bldg:lod3MultiSurface></bldg:Window></bldg:opening>"
        "</bldg:WallSurface></bldg:boundedBy>"
    )
    model = read_citygml(write(tmp_path, city_model(member(building(inner)))))
    s = model.surfaces.set_index("kind")
    assert model.buildings.iloc[0]["lod"] == "3"
    assert s.loc["wall", "area_m2"] == pytest.approx(60.0 - 3.0)
    assert s.loc["window", "area_m2"] == pytest.approx(3.0)
    assert s.loc["window", "azimuth_deg"] == pytest.approx(180.0)


def test_degenerate_rings_are_dropped_and_counted(tmp_path: Path) -> None:
    faces = box_faces()
    x0, y0, z1 = 150000.0, 170000.0, 26.0
    spike = [(x0, y0, z1), (x0 + 1, y0, z1), (x0, y0, z1)]  # two distinct vertices
    members = (
        "".join(f"<gml:surfaceMember>{polygon(f)}</gml:surfaceMember>" for f in faces.values())
        + f"<gml:surfaceMember>{polygon(spike)}</gml:surfaceMember>"
    )
    solid = (
        "<bldg:lod1Solid><gml:Solid><gml:exterior><gml:CompositeSurface>"
        f"{members}</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod1Solid>"
    )
    with pytest.warns(TwinWarning, match="1 ring.*fewer than 3 distinct vertices"):
        model = read_citygml(write(tmp_path, city_model(member(building(solid)))))
    assert len(model.surfaces) == 6
    assert model.sources[0]["dropped_rings"] == 1


def test_a_lod_with_only_degenerate_rings_falls_back_to_the_next_lower(tmp_path: Path) -> None:
    x0, y0, z = 150000.0, 170000.0, 26.0
    spike = [(x0, y0, z), (x0 + 1, y0, z), (x0, y0, z)]  # two distinct vertices
    broken_lod2 = (
        "<bldg:boundedBy><bldg:RoofSurface><bldg:lod2MultiSurface><gml:MultiSurface>"
        f"<gml:surfaceMember>{polygon(spike)}</gml:surfaceMember>"
        "</gml:MultiSurface></bldg:lod2MultiSurface></bldg:RoofSurface></bldg:boundedBy>"
    )
    inner = lod1_solid(box_faces()) + broken_lod2
    with pytest.warns(TwinWarning, match="fewer than 3 distinct vertices"):
        model = read_citygml(write(tmp_path, city_model(member(building(inner)))))
    assert model.buildings["lod"].tolist() == ["1"]
    assert model.buildings.iloc[0]["volume_m3"] == pytest.approx(480.0)


def test_self_intersecting_polygons_are_kept_and_counted(tmp_path: Path) -> None:
    x0, y0, z = 150000.0, 170000.0, 26.0
    # edges (6,0)-(0,3) and (8,5)-(0,0) cross at (8/3, 5/3): two lobes of opposite winding
    bow_tie = [(x0, y0, z), (x0 + 6, y0, z), (x0, y0 + 3, z), (x0 + 8, y0 + 5, z)]
    inner = (
        "<bldg:boundedBy><bldg:RoofSurface><bldg:lod2MultiSurface><gml:MultiSurface>"
        f"<gml:surfaceMember>{polygon(bow_tie)}</gml:surfaceMember>"
        "</gml:MultiSurface></bldg:lod2MultiSurface></bldg:RoofSurface></bldg:boundedBy>"
    )
    with pytest.warns(TwinWarning, match="1 self-intersecting polygon"):
        model = read_citygml(write(tmp_path, city_model(member(building(inner)))))
    assert len(model.surfaces) == 1
    # kept as read: its area is the net (Newell) area, |shoelace| = 3 m2 by hand
    assert abs(shoelace(np.array(bow_tie)[:, :2])) == pytest.approx(3.0)
    assert model.surfaces.iloc[0]["area_m2"] == pytest.approx(3.0)
    assert model.sources[0]["self_intersecting_polygons"] == 1


def test_pos_lists_and_orientable_surfaces(tmp_path: Path) -> None:
    x0, y0, z = 150000.0, 170000.0, 26.0
    ring = [(x0, y0, z), (x0 + 5, y0, z), (x0 + 5, y0 + 4, z), (x0, y0 + 4, z)]
    pos = "".join(f"<gml:pos>{x} {y} {zz}</gml:pos>" for x, y, zz in [*ring, ring[0]])
    # a downward copy of the roof ring, flipped back up by orientation="-"
    down = [ring[0], *ring[:0:-1]]
    flipped = (
        '<gml:OrientableSurface orientation="-"><gml:baseSurface>'
        f"{polygon([(x + 10, y, zz) for x, y, zz in down])}"
        "</gml:baseSurface></gml:OrientableSurface>"
    )
    inner = (
        "<bldg:lod2MultiSurface><gml:MultiSurface>"
        "<gml:surfaceMember><gml:Polygon><gml:exterior><gml:LinearRing>"
        f"{pos}</gml:LinearRing></gml:exterior></gml:Polygon></gml:surfaceMember>"
        f"<gml:surfaceMember>{flipped}</gml:surfaceMember>"
        "</gml:MultiSurface></bldg:lod2MultiSurface>"
    )
    model = read_citygml(write(tmp_path, city_model(member(building(inner)))))
    assert model.surfaces["area_m2"].tolist() == pytest.approx([20.0, 20.0])
    assert model.surfaces["tilt_deg"].tolist() == pytest.approx([0.0, 0.0])
    assert model.surfaces["kind"].tolist() == ["roof", "roof"]


def test_a_file_without_buildings_gives_an_empty_model(tmp_path: Path) -> None:
    with pytest.warns(TwinWarning, match="no bldg:Building"):
        model = read_citygml(write(tmp_path, city_model("")))
    assert len(model.buildings) == 0 and model.crs.to_epsg() == 31370
