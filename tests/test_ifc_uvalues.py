"""U-values: property set, else EN ISO 6946 from the layers, else the typology default."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_ifc_fixtures import box_ifc

from bim_ingest.ifc import read_ifc
from bim_ingest.ifc.uvalues import (
    SURFACE_RESISTANCES,
    layers_u,
    load_materials,
    match_material,
    surface_u,
    typology_u,
)

NAN = float("nan")


@pytest.mark.parametrize(
    ("name", "lam"),
    [
        ("Brique / Baksteen / Brick", 0.80),
        ("Ziegel", 0.80),
        ("Backstein, Mauerziegel", 0.80),
        ("Brique de parement", 0.90),
        ("béton", 2.0),
        ("Beton, Ortbeton grau", 2.0),
        ("Concrete - Cast In Situ", 2.0),
        ("Stahlbeton 2747937872", 2.3),
        ("béton armé", 2.3),
        ("gewapend beton", 2.3),
        ("Porenbeton", 0.16),
        ("béton cellulaire", 0.16),
        ("Laine minérale", 0.035),
        ("minerale wol", 0.035),
        ("Mineralwolle", 0.035),
        ("Rock Wool", 0.035),
        ("EPS 100", 0.035),
        ("XPS", 0.034),
        ("Perimeterdämmung", 0.034),
        ("PIR board", 0.023),
        ("PUR", 0.023),
        ("bois", 0.13),
        ("hout", 0.13),
        ("Holz", 0.13),
        ("Wood - Dimensional Lumber", 0.13),
        ("plâtre", 0.40),
        ("gips", 0.40),
        ("Plasterboard", 0.25),
        ("Gipskarton", 0.25),
        ("Kalkzementputz", 0.80),
        ("Enduit", 0.80),
        ("Kalksandstein 2816491304", 1.0),
        ("Glas", 1.0),
    ],
)
def test_materials_match_in_four_languages(name: str, lam: float) -> None:
    row = match_material(name)
    assert row is not None, name
    assert row.lambda_w_mk == pytest.approx(lam)
    assert row.source


def test_air_layers_take_a_fixed_resistance() -> None:
    for name in ("Luftschicht", "lame d'air", "luchtspouw", "Misc. Air Layers - Air Space"):
        row = match_material(name)
        assert row is not None and math.isnan(row.lambda_w_mk) and row.r_m2k_w == pytest.approx(0.18), name


def test_unknown_materials_do_not_match() -> None:
    for name in ("Standard - Wand", "Leer", "3D-Schnittmaterial", "Solid 397409098", ""):
        assert match_material(name) is None, name


def test_table_rows_have_values_and_sources() -> None:
    rows = load_materials()
    assert len(rows) > 30
    for row in rows:
        assert math.isfinite(row.lambda_w_mk) or math.isfinite(row.r_m2k_w)
        assert row.source


@pytest.mark.parametrize(
    ("kind", "direction"), [("wall", "horizontal"), ("roof", "upward"), ("floor", "downward")]
)
def test_layers_follow_en_iso_6946_by_direction_of_heat_flow(kind: str, direction: str) -> None:
    layers = [("Brique", 0.19, NAN), ("Laine minérale", 0.10, NAN), ("Enduit", 0.01, NAN)]
    rsi, rse = SURFACE_RESISTANCES[direction]
    expected = 1.0 / (rsi + 0.19 / 0.80 + 0.10 / 0.035 + 0.01 / 0.80 + rse)
    got = layers_u(layers, kind)
    assert got is not None and got.provenance == "layers"
    assert got.u_w_m2k == pytest.approx(expected)


def test_surface_resistances_are_the_iso_values() -> None:
    assert SURFACE_RESISTANCES == {
        "horizontal": (0.13, 0.04),
        "upward": (0.10, 0.04),
        "downward": (0.17, 0.04),
    }


def test_the_files_own_conductivity_wins() -> None:
    got = layers_u([("Mystery board", 0.1, 0.05)], "wall")
    assert got.u_w_m2k == pytest.approx(1.0 / (0.13 + 2.0 + 0.04))


def test_a_thin_unknown_layer_is_neglected_a_thick_one_is_not() -> None:
    assert layers_u([("Brique", 0.2, NAN), ("foil 123", 0.002, NAN)], "wall") is not None
    assert layers_u([("Brique", 0.2, NAN), ("Standard - Wand", 0.1, NAN)], "wall") is None


def test_order_pset_then_layers_then_typology() -> None:
    layers = [("Brique", 0.2, NAN)]
    assert surface_u("wall", u_pset=0.3, layers=layers).provenance == "pset"
    assert surface_u("wall", u_pset=NAN, layers=layers).provenance == "layers"
    fallback = surface_u("wall", u_pset=NAN, layers=[("Standard - Wand", 0.24, NAN)])
    assert fallback.provenance == "typology"
    assert fallback.u_w_m2k == typology_u("wall")[0] == pytest.approx(0.24)
    assert surface_u("window", u_pset=NAN, layers=layers).provenance == "typology"


def test_a_stated_u_without_surface_resistances_is_corrected() -> None:
    # 10 cm of concrete: d/lambda = 0.0476 -> 21 W/(m2 K) as Revit states it
    got = surface_u("roof", u_pset=21.0, layers=[])
    assert got.provenance == "pset"
    assert got.u_w_m2k == pytest.approx(1.0 / (1 / 21.0 + 0.10 + 0.04))
    assert got.detail["stated"] == 21.0


def test_typology_defaults_are_the_peb_maxima() -> None:
    assert typology_u("wall") == (pytest.approx(0.24), pytest.approx(math.nan, nan_ok=True))
    u, g = typology_u("window")
    assert u == pytest.approx(1.5) and g == pytest.approx(0.5)
    with pytest.raises(KeyError, match="typology 'nowhere'"):
        typology_u("wall", "nowhere")


def test_ingest_uses_layers_then_typology_with_provenance(tmp_path: Path) -> None:
    model = read_ifc(box_ifc(tmp_path / "box.ifc"), cache_dir=tmp_path / "c")
    s = model.surfaces
    walls = s[s["kind"] == "wall"]
    expected = 1.0 / (0.13 + 0.19 / 0.80 + 0.10 / 0.035 + 0.01 / 0.80 + 0.04)
    layered = walls[walls["ifc_class"] == "IfcWall"]
    assert set(layered["provenance"]) == {"layers"}
    assert layered["u_w_m2k"].to_numpy() == pytest.approx(expected)
    assert set(s.loc[s["kind"] == "window", "provenance"]) == {"typology"}
    assert s.loc[s["kind"] == "window", "g_value"].to_numpy() == pytest.approx(0.5)
    slabs = s[s["ifc_class"] == "IfcSlab"]
    assert set(slabs["provenance"]) == {"typology"}
    counts = model.sources[0]["u_value_provenance"]
    assert counts["layers"] == len(layered) and counts["pset"] == 0
    assert counts["typology"] == len(s) - len(layered)


def test_ingest_prefers_the_stated_thermal_transmittance(tmp_path: Path) -> None:
    model = read_ifc(box_ifc(tmp_path / "box.ifc", u_pset=0.21), cache_dir=tmp_path / "c")
    walls = model.surfaces[model.surfaces["ifc_class"] == "IfcWall"]
    assert set(walls["provenance"]) == {"pset"}
    assert walls["u_w_m2k"].to_numpy() == pytest.approx(0.21)
    elements = model.bim["ifc_elements"]
    ext = elements[elements["ifc_class"] == "IfcWall"]
    assert set(ext["u_provenance"]) == {"pset"} and ext["u_w_m2k"].to_numpy() == pytest.approx(0.21)
