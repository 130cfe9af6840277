"""Energy renovation measures: selections, arithmetic, provenance, purity (issue #4 item 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from simulation.energy import fill_envelope, prepare, run_energy
from simulation.measures_energy import (
    MEASURES,
    apply_measure,
    apply_measures,
    improve_airtightness,
    install_mvhr,
    insulate_floor,
    insulate_roof,
    insulate_walls,
    replace_windows,
    select_buildings,
)
from twin.errors import ScenarioValidationError, UnknownEntityError
from twin.model import CityModel


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> CityModel:
    from bim_ingest.cityjson import read_cityjson
    from data import generate_district, write_district

    folder = tmp_path_factory.mktemp("district_m")
    return read_cityjson(write_district(generate_district(60, seed=2), folder)["cityjson"]).with_party_walls()


@pytest.fixture(scope="module")
def baseline(district):
    return run_energy(district).results.set_index("building_id")


def _need(model: CityModel) -> pd.Series:
    return run_energy(model).results.set_index("building_id")["heating_need_kwh"]


# ------------------------------------------------------------------ selections


def test_selection_criteria_combine_with_and(district):
    b = district.buildings
    old = set(b.loc[(b["year_built"] <= 1945).fillna(False), "building_id"])
    assert set(select_buildings(district, {"year_max": 1945})) == old
    terraced_old = set(select_buildings(district, {"year_max": 1945, "typology": "terraced"}))
    assert terraced_old == old & set(b.loc[b["typology"] == "terraced", "building_id"])
    assert list(select_buildings(district)) == list(b["building_id"])
    ids = list(b["building_id"].iloc[[3, 1]])
    assert list(select_buildings(district, {"ids": ids})) == sorted(ids, key=list(b["building_id"]).index)
    res = set(select_buildings(district, {"use": ["residential", "mixed"]}))
    assert res == set(b.loc[b["use"].isin(["residential", "mixed"]), "building_id"])


def test_polygon_selection_takes_wkt_geojson_and_geometries(district):
    fp = district.buildings.geometry.iloc[0]
    poly = shapely.buffer(shapely.Point(fp.centroid), 0.5)
    by_geom = select_buildings(district, {"polygon": poly})
    assert district.buildings["building_id"].iloc[0] in set(by_geom)
    assert list(select_buildings(district, {"polygon": poly.wkt})) == list(by_geom)
    assert list(select_buildings(district, {"polygon": shapely.geometry.mapping(poly)})) == list(by_geom)


def test_bad_selections_are_reported(district):
    with pytest.raises(UnknownEntityError, match="nope"):
        select_buildings(district, {"ids": ["nope"]})
    with pytest.raises(ScenarioValidationError, match="year_min"):
        select_buildings(district, {"year_min": 2000, "year_max": 1900})
    with pytest.raises(ScenarioValidationError, match="colour"):
        select_buildings(district, {"colour": "red"})


# -------------------------------------------------------------- insulation


def test_adding_insulation_follows_the_resistance_sum(district):
    sel = {"year_min": 1946, "year_max": 1970}
    new = insulate_walls(district, selection=sel, thickness_m=0.12, conductivity_w_mk=0.035)
    ids = set(select_buildings(district, sel))
    assert ids
    s = new.surfaces
    walls = s[s["building_id"].isin(ids) & (s["kind"] == "wall") & (s["boundary"] != "party")]
    expected = 1.0 / (1.0 / 1.7 + 0.12 / 0.035)  # 1946-1970 wall U 1.7 (sheet §10.1)
    np.testing.assert_allclose(walls["u_w_m2k"], expected, rtol=1e-12)
    assert walls["provenance"].str.contains(r"measure:insulate_walls\(d=0.12m,lambda=0.035\)").all()
    party = s[s["building_id"].isin(ids) & (s["boundary"] == "party")]
    assert (party["u_w_m2k"] == 1.7).all() and not party["provenance"].str.contains("measure").any()
    others = s[~s["building_id"].isin(ids)]
    assert not others["provenance"].str.contains("measure").any()


def test_insulating_to_a_target_never_worsens_and_is_idempotent(district):
    once = insulate_roof(district, target_u_w_m2k=0.25)
    twice = insulate_roof(once, target_u_w_m2k=0.25)
    pd.testing.assert_frame_equal(pd.DataFrame(once.surfaces), pd.DataFrame(twice.surfaces))
    roofs = once.surfaces[once.surfaces["kind"] == "roof"]
    assert (roofs["u_w_m2k"] <= 0.25 + 1e-12).all()
    before = fill_envelope(district).surfaces.set_index("surface_id")["u_w_m2k"]
    recent = roofs[roofs["u_w_m2k"] < 0.25]  # >= 2012 roofs (0.21) stay as they were
    np.testing.assert_allclose(recent["u_w_m2k"], before.loc[recent["surface_id"]], rtol=0)
    assert not recent["provenance"].str.contains("measure").any()


def test_insulating_the_floor_lowers_the_iso_13370_ground_u(district, baseline):
    new = insulate_floor(district, target_u_w_m2k=0.3, thermal_bridge_w_m2k=0.05)
    r = run_energy(new).results.set_index("building_id")
    assert (r["u_ground_w_m2k"] <= baseline["u_ground_w_m2k"] + 1e-12).all()
    assert (r["u_ground_w_m2k"] < baseline["u_ground_w_m2k"]).any()
    assert new.buildings["provenance"].str.contains(r"measure:insulate_floor\(dU_tb=0.05\)").all()
    np.testing.assert_allclose(r["h_thermal_bridges_w_k"], 0.05 * r["envelope_area_m2"], rtol=1e-12)


def test_measures_are_pure(district):
    snapshot = district.copy()
    insulate_walls(district, target_u_w_m2k=0.2)
    install_mvhr(district)
    for name in ("buildings", "surfaces"):
        pd.testing.assert_frame_equal(
            pd.DataFrame(getattr(district, name)), pd.DataFrame(getattr(snapshot, name))
        )


def test_insulation_needs_exactly_one_way(district):
    with pytest.raises(ScenarioValidationError, match="either"):
        insulate_walls(district)
    with pytest.raises(ScenarioValidationError, match="either"):
        insulate_walls(district, target_u_w_m2k=0.2, thickness_m=0.1, conductivity_w_mk=0.04)
    with pytest.raises(ScenarioValidationError, match="go together"):
        insulate_walls(district, thickness_m=0.1)
    with pytest.raises(ScenarioValidationError, match="target_u_w_m2k"):
        insulate_walls(district, target_u_w_m2k=-1)


# ------------------------------------------------------ windows, air, registry


def test_replacing_windows_sets_u_and_g(district, baseline):
    new = replace_windows(district, selection={"typology": "terraced"}, u_w_m2k=1.1, g_value=0.5)
    s = new.surfaces
    ids = set(select_buildings(district, {"typology": "terraced"}))
    win = s[(s["kind"] == "window") & s["building_id"].isin(ids)]
    assert len(win) and (win["u_w_m2k"] == 1.1).all() and (win["g_value"] == 0.5).all()
    assert win["provenance"].str.contains(r"measure:replace_windows\(u=1.1,g=0.5\)").all()
    r = run_energy(new).results.set_index("building_id")
    np.testing.assert_allclose(
        r.loc[list(ids), "h_windows_w_k"], 1.1 * r.loc[list(ids), "window_area_m2"], rtol=1e-12
    )


def test_mvhr_applies_recovery_to_the_ventilation_air_change(district, baseline):
    new = install_mvhr(district, heat_recovery_efficiency=0.8, air_change_vent_h=0.5)
    arrays = prepare(new)
    assert (arrays.eta_hr == 0.8).all() and (arrays.n_vent == 0.5).all()
    r = run_energy(new).results.set_index("building_id")
    expected = 1200 / 3600 * arrays.v_air * (arrays.n_inf + 0.5 * 0.2)
    np.testing.assert_allclose(r["h_ve_w_k"], expected, rtol=1e-12)
    assert new.buildings["provenance"].str.contains(r"measure:install_mvhr\(eta=0.8,n=0.5\)").all()
    assert "heat_recovery_efficiency" in prepare(new).info["energy_provenance"].iloc[0]


def test_airtightness_only_lowers_infiltration(district):
    new = improve_airtightness(district, n50_h=3.0)  # n_inf = 3 / 20 = 0.15 1/h
    arrays = prepare(new)
    base = prepare(district)
    np.testing.assert_allclose(arrays.n_inf, np.minimum(base.n_inf, 0.15), rtol=1e-12)
    untouched = base.n_inf <= 0.15
    assert untouched.any() and (~untouched).any()
    prov = new.buildings.set_index("building_id")["provenance"]
    assert not prov.loc[base.building_id[untouched]].str.contains("airtightness").any()
    assert prov.loc[base.building_id[~untouched]].str.contains(r"improve_airtightness\(n_inf=0.15\)").all()
    with pytest.raises(ScenarioValidationError, match="exactly one"):
        improve_airtightness(district)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("insulate_walls", {"thickness_m": 0.1, "conductivity_w_mk": 0.035}),
        ("insulate_roof", {"target_u_w_m2k": 0.2}),
        ("insulate_floor", {"thickness_m": 0.06, "conductivity_w_mk": 0.03}),
        ("replace_windows", {"u_w_m2k": 1.0, "g_value": 0.5}),
        ("install_mvhr", {"heat_recovery_efficiency": 0.85}),
        ("improve_airtightness", {"air_change_inf_h": 0.1}),
    ],
)
def test_every_measure_lowers_or_keeps_every_heating_need(district, baseline, name, kwargs):
    new = apply_measure(district, name, selection={"year_max": 1990}, **kwargs)
    need = _need(new)
    assert (need <= baseline["heating_need_kwh"] * (1 + 1e-12)).all()
    old = set(select_buildings(district, {"year_max": 1990}))
    assert (need.loc[list(old)] < baseline.loc[list(old), "heating_need_kwh"]).all()
    young = [i for i in need.index if i not in old]
    np.testing.assert_allclose(need.loc[young], baseline.loc[young, "heating_need_kwh"], rtol=1e-12)


def test_registry_names_every_measure_and_refuses_unknown_ones(district):
    assert set(MEASURES) == {
        "insulate_walls",
        "insulate_roof",
        "insulate_floor",
        "replace_windows",
        "install_mvhr",
        "improve_airtightness",
    }
    with pytest.raises(ScenarioValidationError, match="valid measures"):
        apply_measure(district, "paint_it_green")
    with pytest.raises(ScenarioValidationError, match="insulate_walls"):
        apply_measure(district, "insulate_walls", thicknes_m=0.1)


def test_measures_survive_the_model_store(district, tmp_path):
    new = install_mvhr(insulate_walls(district, target_u_w_m2k=0.24), heat_recovery_efficiency=0.8)
    new.save(tmp_path / "renovated.gpkg")
    back = CityModel.load(tmp_path / "renovated.gpkg")
    a, b = run_energy(new).results, run_energy(back).results
    np.testing.assert_allclose(b["heating_need_kwh"], a["heating_need_kwh"], rtol=1e-9)


def test_a_list_of_measures_applies_in_order_and_names_the_bad_step(district):
    steps = [
        {"measure": "insulate_roof", "selection": {"year_max": 1970}, "target_u_w_m2k": 0.2},
        {"measure": "replace_windows", "u_w_m2k": 1.1, "g_value": 0.5},
    ]
    both = apply_measures(district, steps)
    by_hand = replace_windows(
        insulate_roof(district, selection={"year_max": 1970}, target_u_w_m2k=0.2), u_w_m2k=1.1, g_value=0.5
    )
    pd.testing.assert_frame_equal(pd.DataFrame(both.surfaces), pd.DataFrame(by_hand.surfaces))
    with pytest.raises(ScenarioValidationError, match=r"measures\[1\]"):
        apply_measures(district, [steps[0], {"measure": "insulate_walls"}])
    with pytest.raises(ScenarioValidationError, match=r"measures\[0\] needs"):
        apply_measures(district, [{"target_u_w_m2k": 0.2}])
