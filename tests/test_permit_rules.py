"""Each rule on a hand-built house (tests/permit_house.py): one variant passes it, one fails it.

Expected values are hand calculations from the dimensions authored in the
test model (metres, m2, W/m2K, litres), not the checker's own output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from permit_house import build_house, cache_dir

from bim_ingest.checks import RuleSetError, load_rules
from bim_ingest.checks.context import neighbour_context
from bim_ingest.checks.facts import collect_facts
from bim_ingest.checks.rules import run_rules


@pytest.fixture(scope="module")
def facts(tmp_path_factory) -> dict[bool, dict]:
    tmp = tmp_path_factory.mktemp("permit_rules")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TWIN_CACHE_DIR", cache_dir(tmp_path_factory))
        return {p: collect_facts(str(build_house(p, tmp / f"house_{p}.ifc"))) for p in (True, False)}


@pytest.fixture()
def findings(facts, terraced_row):
    rules = load_rules()

    def run(passing: bool):
        ctx = neighbour_context(terraced_row, facts[passing]["model"])
        return run_rules(rules, facts[passing], ctx)

    return {p: run(p) for p in (True, False)}


def _by(findings, rule_id: str) -> dict[str, object]:
    return {f.subject: f for f in findings if f.rule_id == rule_id}


def test_passing_house_passes_every_rule(findings) -> None:
    bad = [(f.rule_id, f.subject, f.status) for f in findings[True] if f.status != "pass"]
    assert bad == []
    assert len({f.rule_id for f in findings[True]}) == 14  # every rule of the rule set produced a verdict


def test_ceiling_height_of_habitable_rooms(findings) -> None:
    ok = _by(findings[True], "RRU-II-HEIGHT-HABITABLE")["room 'Séjour'"]
    bad = _by(findings[False], "RRU-II-HEIGHT-HABITABLE")["room 'Séjour'"]
    assert (ok.status, ok.measured) == ("pass", pytest.approx(2.60, abs=1e-6))
    assert (bad.status, bad.measured, bad.threshold) == ("fail", pytest.approx(2.40, abs=1e-6), 2.50)
    # the attic study is judged by the rooms-under-the-roof rule, not this one
    assert "room 'Bureau sous combles'" not in _by(findings[True], "RRU-II-HEIGHT-HABITABLE")


def test_ceiling_height_under_the_roof(findings) -> None:
    # ceiling z = low + (high - low) * y / 5 m; >= 2.30 - 0.01 m from y = 1.975 (pass) / 3.225 (fail);
    # sampled at 0.1 m cell centres: 30 / 50 and 18 / 50 of the depth.
    ok = _by(findings[True], "RRU-II-HEIGHT-ROOF")["room 'Bureau sous combles' under the roof"]
    bad = _by(findings[False], "RRU-II-HEIGHT-ROOF")["room 'Bureau sous combles' under the roof"]
    assert ok.status == "pass" and ok.measured == pytest.approx(0.60, abs=1e-9)
    assert bad.status == "fail" and bad.measured == pytest.approx(0.36, abs=1e-9)
    assert bad.values["max_clear_height_m"] == pytest.approx(3.0 - 0.4 * 0.05, abs=1e-6)


def test_ceiling_height_of_non_habitable_rooms(findings) -> None:
    ok = _by(findings[True], "RRU-II-HEIGHT-NONHABITABLE")["room 'Salle de bain'"]
    bad = _by(findings[False], "RRU-II-HEIGHT-NONHABITABLE")["room 'Salle de bain'"]
    assert (ok.status, bad.status) == ("pass", "fail")
    assert bad.measured == pytest.approx(2.10, abs=1e-6) and bad.threshold == 2.20


def test_bedroom_areas_first_14_others_9(findings) -> None:
    ok = _by(findings[True], "RRU-II-AREA-BEDROOM")
    bad = _by(findings[False], "RRU-II-AREA-BEDROOM")
    assert ok["first (largest) bedroom 'Chambre 1'"].measured == pytest.approx(4.5 * 3.4)
    assert ok["further bedroom 'Chambre 2'"].measured == pytest.approx(4.5 * 2.2)
    first, other = bad["first (largest) bedroom 'Chambre 1'"], bad["further bedroom 'Chambre 2'"]
    assert (first.status, first.measured, first.threshold) == ("fail", pytest.approx(13.5), 14.0)
    assert (other.status, other.measured, other.threshold) == ("fail", pytest.approx(8.55), 9.0)
    assert first.values["area_ifc_m2"] == pytest.approx(13.5)  # both sources reported


def test_living_and_kitchen_areas(findings) -> None:
    ok = _by(findings[True], "RRU-II-AREA-ROOMS")
    bad = _by(findings[False], "RRU-II-AREA-ROOMS")
    assert ok["living 'Séjour'"].measured == pytest.approx(21.6)
    assert ok["kitchen 'Cuisine'"].measured == pytest.approx(9.0)
    assert (bad["living 'Séjour'"].status, bad["living 'Séjour'"].measured) == ("fail", pytest.approx(18.9))
    assert (bad["kitchen 'Cuisine'"].status, bad["kitchen 'Cuisine'"].threshold) == ("fail", 8.0)


def test_dwelling_area_draft_rule_and_rooms_outside_a_dwelling(findings) -> None:
    ok = _by(findings[True], "GL-III-11-DWELLING-AREA")["dwelling 'Logement 1'"]
    assert ok.measured == pytest.approx(21.6 + 9.0 + 15.3 + 9.9 + 6.75 + 22.5) and ok.threshold == 70.0
    bad = _by(findings[False], "GL-III-11-DWELLING-AREA")
    d = bad["dwelling 'Logement 1'"]
    assert (d.status, d.measured, d.severity) == (
        "fail",
        pytest.approx(18.9 + 7.65 + 13.5 + 8.55 + 6.75),
        "info",
    )
    assert not d.failing  # a rule not in force never makes the report fail
    assert bad["1 room(s) outside any dwelling"].status == "not_checkable"


def test_natural_light_ratio(findings) -> None:
    net = 1.5 * 1.5 * 0.8
    ok = _by(findings[True], "RRU-II-LIGHT")
    assert ok["room 'Séjour'"].measured == pytest.approx(3 * net / 21.6)
    assert ok["room 'Cuisine'"].measured == pytest.approx(net / 9.0)  # exactly 1/5: passes
    bad = _by(findings[False], "RRU-II-LIGHT")["room 'Séjour'"]
    assert (bad.status, bad.measured) == ("fail", pytest.approx(2 * net / 18.9))


def test_u_values_against_peb_maximum(findings) -> None:
    for passing, wall, roof, status in ((True, 0.20, 0.18, "pass"), (False, 0.30, 0.28, "fail")):
        walls = _by(findings[passing], "PEB-U-WALL")
        assert sorted(walls) == ["external wall 'Mur 0'", "external wall 'Mur 1'"]  # party walls excluded
        assert {(f.status, round(f.measured, 6)) for f in walls.values()} == {(status, wall)}
        r = _by(findings[passing], "PEB-U-ROOF")["roof 'Toiture'"]
        assert (r.status, r.measured, r.threshold) == (status, pytest.approx(roof), 0.24)


def test_rainwater_cistern_from_roof_plan_area(findings) -> None:
    ok = _by(findings[True], "RRU-I-16-RAINWATER")["rainwater cistern"]
    bad = _by(findings[False], "RRU-I-16-RAINWATER")["rainwater cistern"]
    assert ok.values["roof_area_geometry_m2"] == pytest.approx(5.0 * 10.0, rel=1e-6)
    assert (ok.status, ok.measured, ok.threshold) == ("pass", pytest.approx(2000.0), pytest.approx(33 * 50.0))
    assert (bad.status, bad.measured, bad.threshold) == (
        "fail",
        pytest.approx(1500.0),
        pytest.approx(33 * 60.0),
    )


def test_quantities_more_than_5_percent_off_are_a_finding(findings) -> None:
    assert all(f.status == "pass" for f in findings[True] if f.rule_id == "QTY-CONSISTENCY")
    bad = _by(findings[False], "QTY-CONSISTENCY")
    f = bad["floor area of room 'Séjour'"]
    assert (f.status, f.measured) == ("fail", pytest.approx(0.10))
    assert f.values["ifc"] == pytest.approx(18.9 * 1.1) and f.values["geometry"] == pytest.approx(18.9)
    assert sum(x.status == "fail" for x in bad.values()) == 1


def test_titre_i_against_the_two_neighbours(findings) -> None:
    # row: A 9 m high and C 12 m high, both 10 m deep; the house replaces B
    for passing, depth, height, status in ((True, 10.0, 10.0, "pass"), (False, 12.0, 13.0, "fail")):
        by_rule = {
            f.rule_id: f
            for f in findings[passing]
            if f.rule_id.startswith("RRU-I-") and "16" not in f.rule_id
        }
        d, h, r = by_rule["RRU-I-4-DEPTH"], by_rule["RRU-I-5-HEIGHT"], by_rule["RRU-I-6-ROOF"]
        assert (d.status, d.measured, d.threshold) == (
            status,
            pytest.approx(depth, abs=1e-3),
            pytest.approx(10.0),
        )
        assert (h.status, h.measured) == (status, pytest.approx(height, abs=1e-3))
        assert (r.status, r.measured, r.threshold) == (
            status,
            pytest.approx(height, abs=1e-3),
            pytest.approx(12.0),
        )
        assert d.values["replaced_buildings"] == ["B"]
        assert sorted(n["building_id"] for n in d.values["neighbours"]) == ["A", "C"]


def test_without_context_titre_i_is_not_checkable(facts) -> None:
    out = run_rules(load_rules(), facts[True], None)
    titre_i = [f for f in out if f.rule_id in ("RRU-I-4-DEPTH", "RRU-I-5-HEIGHT", "RRU-I-6-ROOF")]
    assert [f.status for f in titre_i] == ["not_checkable"] * 3
    assert "--context" in titre_i[0].message


def test_missing_functions_are_not_checkable_never_pass(facts) -> None:
    stripped = {**facts[True], "spaces": [{**s, "function": ""} for s in facts[True]["spaces"]]}
    out = run_rules(load_rules(), stripped, None)
    area = [f for f in out if f.rule_id == "RRU-II-AREA-BEDROOM"]
    assert [(f.status, len(f.global_ids)) for f in area] == [("not_checkable", 6)]


def test_rule_set_errors_name_the_file_and_rule(tmp_path: Path) -> None:
    src = Path(load_rules().path).read_text(encoding="utf-8")
    bad = tmp_path / "rules.yaml"
    bad.write_text(src.replace("check: u_value", "check: u_valu", 1), encoding="utf-8")
    with pytest.raises(RuleSetError, match=r"rules.yaml: rule PEB-U-WALL: unknown check 'u_valu'"):
        load_rules(bad)
    bad.write_text(src.replace("status: M", "status: X", 1), encoding="utf-8")
    with pytest.raises(RuleSetError, match="status must be S or M"):
        load_rules(bad)
    with pytest.raises(RuleSetError, match="no such rule-set file"):
        load_rules(tmp_path / "none.yaml")


def _box(x0, y0, z0, x1, y1, z1):
    v = np.array([[x, y, z] for z in (z0, z1) for y in (y0, y1) for x in (x0, x1)], dtype=float)
    f = np.array([[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
                  [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]],
                 dtype=np.int32)  # fmt: skip
    return v, f


def test_windows_without_space_boundaries_light_the_nearest_room() -> None:
    """Two 4 x 5 m rooms side by side; a 1.2 x 1.5 m window in the outer wall of the first (no boundaries)."""
    from bim_ingest.checks.rules import Facts, _window_spaces

    space = {"name": "", "long_name": "", "storey": "", "storey_global_id": "", "function": "BEDROOM",
             "dwelling_global_id": "", "dwelling": "", "net_floor_area_qto_m2": float("nan"),
             "height_qto_m": float("nan"), "has_body": True}  # fmt: skip
    window = {"global_id": "W", "name": "", "storey": "", "storey_global_id": "", "width_m": 1.2,
              "height_m": 1.5, "glazing_fraction": 0.75, "boundary_spaces": [],
              "is_roof_window": False}  # fmt: skip
    facts = Facts(
        {
            "spaces": [{**space, "global_id": "S1"}, {**space, "global_id": "S2"}],
            "windows": [window],
            "elements": [],
            "meshes": {
                "S1": _box(0, 0, 0, 4, 5, 2.6),
                "S2": _box(4.2, 0, 0, 8.2, 5, 2.6),
                "W": _box(1.0, -0.3, 0.9, 2.2, -0.25, 2.4),  # 0.25 m outside S1, 2.0 m from S2's box
            },
        }
    )
    lit = _window_spaces(facts, 0.6)
    assert [w["global_id"] for w in lit["S1"]] == ["W"] and "S2" not in lit
    assert facts.area({"global_id": "S1", "net_floor_area_qto_m2": float("nan")}) == (
        pytest.approx(20.0),
        "geometry",
    )
