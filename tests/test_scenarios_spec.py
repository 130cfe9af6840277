"""Scenario files: validation messages name the field; the schema is a real contract."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios import SCHEMA_VERSION, Scenario, schema
from twin.errors import ScenarioValidationError

EXAMPLE = Path(__file__).parents[1] / "scenarios" / "examples" / "renovate_pre1945_terraced.yaml"


def _spec(**measures) -> dict:
    return {"name": "t", "measures": measures, "simulations": {"energy": {}}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_spec(energy=[{"measure": "insulate_walls", "target_u_w_m2k": 24}]), "target_u_w_m2k"),
        (_spec(energy=[{"measure": "insulate_wall", "target_u_w_m2k": 0.2}]), "measures.energy[0]"),
        (_spec(energy=[{"measure": "insulate_roof"}]), "give target_u_w_m2k"),
        (
            _spec(energy=[{"measure": "insulate_roof", "target_u_w_m2k": 0.2, "thickness_m": 0.1}]),
            "not both",
        ),
        (_spec(energy=[{"measure": "insulate_walls", "selection": "x", "target_u_w_m2k": 0.2}]), "'x'"),
        (_spec(mobility=[{"edit": "close_links"}]), "measures.mobility[0].close_links.link_ids"),
        (
            _spec(mobility=[{"edit": "set_speed_in_polygon", "polygon": "POINT(0 0)", "speed_kmh": 300}]),
            "speed",
        ),
        (_spec(soil=[{"soil": "deseal", "polygon": "POINT(0 0)", "topsoil_depth_m": -1}]), "topsoil_depth_m"),
        ({"name": "t", "colour": "red"}, "colour: unknown field"),
        ({"name": "t", "schema_version": "7.0"}, "schema_version"),
        ({"name": "t", "simulations": {}}, "at least one"),
        ({"name": "../../etc"}, "name"),
        ({"name": "t", "selections": {"a": {"year_min": 2000, "year_max": 1900}}}, "year_min 2000"),
    ],
)
def test_invalid_specs_name_the_field(data, expected):
    with pytest.raises(ScenarioValidationError) as err:
        Scenario.from_dict(data, source="spec.yaml")
    assert expected in str(err.value)
    assert str(err.value).startswith("spec.yaml: invalid scenario")


def test_example_file_validates_against_the_exported_schema():
    data = yaml.safe_load(EXAMPLE.read_text())
    jsonschema.validate(data, schema())  # the JSON Schema accepts what pydantic accepts
    spec = Scenario.from_file(EXAMPLE)
    assert spec.schema_version == SCHEMA_VERSION
    assert [m.measure for m in spec.measures.energy] == ["insulate_walls", "insulate_roof"]
    assert spec.measures.mobility[0].link_ids == [5, 45]
    assert spec.domains() == ["energy", "mobility"]


def test_schema_rejects_what_pydantic_rejects():
    bad = _spec(energy=[{"measure": "insulate_walls", "target_u_w_m2k": 24}])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema())


def test_from_file_errors(tmp_path):
    with pytest.raises(ScenarioValidationError, match="cannot read"):
        Scenario.from_file(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioValidationError, match="not valid YAML"):
        Scenario.from_file(broken)
    listy = tmp_path / "list.json"
    listy.write_text("[1, 2]")
    with pytest.raises(ScenarioValidationError, match="a scenario is a mapping"):
        Scenario.from_file(listy)


def test_relative_paths_resolve_against_the_file(tmp_path):
    path = tmp_path / "sub" / "s.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"name": "rel", "base_model": "m.gpkg"}))
    spec = Scenario.from_file(path)
    assert spec.resolve_path(spec.base_model) == path.parent.resolve() / "m.gpkg"


u_values = st.floats(min_value=0.06, max_value=6.0, allow_nan=False)
years = st.integers(min_value=1800, max_value=2030)


@settings(max_examples=60, deadline=None)
@given(
    u=u_values,
    y0=years,
    span=st.integers(0, 100),
    name=st.from_regex(r"[a-z][a-z0-9\-]{0,20}", fullmatch=True),
)
def test_round_trip_and_canonical_json_are_stable(u, y0, span, name):
    data = {
        "name": name,
        "selections": {"s": {"year_min": y0, "year_max": y0 + span, "typology": "terraced"}},
        "measures": {"energy": [{"measure": "insulate_roof", "selection": "s", "target_u_w_m2k": u}]},
    }
    spec = Scenario.from_dict(data)
    again = Scenario.from_dict(json.loads(spec.canonical_json()))
    assert again == spec
    assert again.canonical_json() == spec.canonical_json()
    jsonschema.validate(json.loads(spec.canonical_json()), schema())


@settings(max_examples=40, deadline=None)
@given(u=st.one_of(st.floats(max_value=0.05), st.floats(min_value=6.0001, max_value=1e6)))
def test_implausible_u_values_are_always_rejected(u):
    with pytest.raises(ScenarioValidationError, match="target_u_w_m2k"):
        Scenario.from_dict(_spec(energy=[{"measure": "insulate_walls", "target_u_w_m2k": u}]))
