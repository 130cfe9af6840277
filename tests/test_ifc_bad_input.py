"""Bad IFC input: one precise, typed error (or warning) per defect, naming the file."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import ifcopenshell
import pytest
from test_ifc_fixtures import box_ifc

from bim_ingest.ifc import read_ifc
from twin.errors import IngestError, SchemaError, TwinWarning


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_missing_file(tmp_path, cache) -> None:
    with pytest.raises(IngestError, match=r"nothere\.ifc: no such file"):
        read_ifc(tmp_path / "nothere.ifc", cache_dir=cache)


def test_not_an_ifc_file(tmp_path, cache) -> None:
    path = tmp_path / "notes.ifc"
    path.write_text("Meeting notes, not a model.\n")
    with pytest.raises(
        IngestError, match=r"notes\.ifc: not an IFC file: it does not start with 'ISO-10303-21;'"
    ):
        read_ifc(path, cache_dir=cache)


def test_empty_file(tmp_path, cache) -> None:
    path = tmp_path / "empty.ifc"
    path.write_bytes(b"")
    with pytest.raises(IngestError, match=r"empty\.ifc: the file is empty"):
        read_ifc(path, cache_dir=cache)


def test_ifcxml_is_named_as_such(tmp_path, cache) -> None:
    path = tmp_path / "model.ifc"
    path.write_text('<?xml version="1.0"?><ifcXML/>')
    with pytest.raises(IngestError, match=r"model\.ifc: this is an XML file \(ifcXML\?\)"):
        read_ifc(path, cache_dir=cache)


def test_truncated_file(tmp_path, cache) -> None:
    full = box_ifc(tmp_path / "full.ifc").read_bytes()
    path = tmp_path / "cut.ifc"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(
        IngestError, match=r"cut\.ifc: the file is truncated: it ends without 'END-ISO-10303-21;'"
    ):
        read_ifc(path, cache_dir=cache)


@pytest.mark.parametrize("schema", ["IFC2X2_FINAL", "IFC4X1"])
def test_unsupported_schema(tmp_path, cache, schema) -> None:
    text = box_ifc(tmp_path / "ok.ifc").read_text()
    path = tmp_path / "old.ifc"
    path.write_text(text.replace("FILE_SCHEMA(('IFC4'))", f"FILE_SCHEMA(('{schema}'))"))
    with pytest.raises(
        SchemaError, match=rf"old\.ifc: IFC schema '{schema}' is not supported: .* IFC2X3, IFC4, IFC4X3_ADD2"
    ):
        read_ifc(path, cache_dir=cache)


def test_no_building(tmp_path, cache) -> None:
    path = box_ifc(tmp_path / "nobuilding.ifc", building=False)
    with pytest.raises(SchemaError, match=r"nobuilding\.ifc: the file has no IfcBuilding"):
        read_ifc(path, cache_dir=cache)


def test_element_with_failing_geometry_is_reported_and_the_rest_ingests(tmp_path, cache) -> None:
    path = box_ifc(tmp_path / "broken.ifc", broken=True)
    with pytest.warns(
        TwinWarning,
        match=r"broken\.ifc: geometry failed for 1 element\(s\): 0BrokenWa11GeometryXyz \(IfcWall",
    ):
        model = read_ifc(path, cache_dir=cache)
    failures = model.sources[0]["geometry_failures"]
    assert [f["global_id"] for f in failures] == ["0BrokenWa11GeometryXyz"]
    elements = model.bim["ifc_elements"].set_index("global_id")
    assert elements.loc["0BrokenWa11GeometryXyz", "geometry_error"]
    assert not elements.loc["0BrokenWa11GeometryXyz", "meshed"]
    assert model.buildings.iloc[0]["footprint_area_m2"] == pytest.approx(80.0)
    assert model.surfaces["area_m2"].sum() == pytest.approx(80 + 80 + 234 + 3.6, rel=1e-3)


def test_unknown_kernel_lists_the_choices(tmp_path, cache) -> None:
    with pytest.raises(ValueError, match="Unknown geometry kernel 'fast'; choose one of auto, opencascade"):
        read_ifc(box_ifc(tmp_path / "k.ifc"), kernel="fast", cache_dir=cache)


def test_bad_place_is_a_value_error(tmp_path, cache) -> None:
    with pytest.raises(ValueError, match=r"place must be \(x, y\) or \(x, y, rotation_deg\)"):
        read_ifc(box_ifc(tmp_path / "p.ifc"), place=(1.0,), cache_dir=cache)


def test_ifczip_is_read_like_the_ifc_inside(tmp_path, cache) -> None:
    path = box_ifc(tmp_path / "house.ifc")
    zipped = tmp_path / "house.ifczip"
    with zipfile.ZipFile(zipped, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(path, "house.ifc")
    model = read_ifc(zipped, cache_dir=cache)
    assert model.buildings.iloc[0]["footprint_area_m2"] == pytest.approx(80.0)
    assert model.sources[0]["path"] == str(zipped)


def test_ifczip_without_an_ifc_member(tmp_path, cache) -> None:
    zipped = tmp_path / "empty.ifczip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    with pytest.raises(IngestError, match=r"empty\.ifczip: the \.ifczip archive holds no \.ifc file"):
        read_ifc(zipped, cache_dir=cache)


def test_not_a_zip(tmp_path, cache) -> None:
    path = tmp_path / "fake.ifczip"
    shutil.copy(box_ifc(tmp_path / "a.ifc"), path)
    with pytest.raises(IngestError, match=r"fake\.ifczip: not a readable \.ifczip archive"):
        read_ifc(path, cache_dir=cache)


def test_file_without_any_envelope_geometry(tmp_path, cache) -> None:
    path = box_ifc(tmp_path / "bare.ifc")
    f = ifcopenshell.open(str(path))
    for e in f.by_type("IfcProduct"):
        if e.is_a("IfcElement"):
            e.Representation = None
    f.write(str(path))
    from twin.errors import GeometryError

    with pytest.raises(GeometryError, match=r"bare\.ifc: no envelope element"):
        read_ifc(path, cache_dir=cache)
