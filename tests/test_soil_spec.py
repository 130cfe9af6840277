"""The soil SPEC contract, the runner's files and the model-side soil (grid, sealing, what-ifs)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely

from simulation.soil import (
    add_green_roof,
    build_soil_model,
    carsel_parrish,
    carsel_parrish_table,
    deseal_polygon,
    diff_storms,
    run_model_storm,
    run_spec,
    uccle_design_storm,
)
from twin.errors import ScenarioValidationError, UnknownEntityError
from twin.model import CityModel


def column_spec(**over):
    spec = {
        "grid": {"nx": 1, "ny": 1, "nz": 40, "dx_m": 1.0, "dy_m": 1.0, "dz_m": 0.025},
        "materials": [
            {"model": "van_genuchten", "texture": "loam"},
            {
                "model": "van_genuchten",
                "theta_r": 0.045,
                "theta_s": 0.43,
                "alpha_1_m": 14.5,
                "n": 2.68,
                "ks_m_s": 8.25e-5,
            },
        ],
        "material": [0] * 20 + [1] * 20,
        "initial": {"head_m": -1.0},
        "top": {"type": "flux", "series": [[0, 2e-5], [1800, 0]]},
        "bottom": {"type": "free_drainage"},
        "duration_s": 3600,
        "output_times_s": [1800, 3600],
    }
    spec.update(over)
    return spec


def test_carsel_parrish_table_is_converted_to_si():
    t = carsel_parrish_table()
    assert len(t) == 12
    assert t["sand"].alpha_1_m == pytest.approx(14.5)
    assert t["sand"].ks_m_s == pytest.approx(712.8 / 100 / 86400)  # cm/d → m/s
    assert t["loamy sand"].alpha_1_m == pytest.approx(12.4)  # the original value, not 0.125
    assert t["silt loam"].ks_m_s * 3.6e6 == pytest.approx(4.5, rel=1e-3)  # mm/h


def test_run_spec_writes_profiles_and_a_balanced_summary(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(column_spec()))
    summary = run_spec(path, tmp_path / "out")
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"profile_1800.csv", "profile_3600.csv", "summary.json"}
    header = (out / "profile_3600.csv").read_text().splitlines()
    assert header[0] == "depth_m,head_m,theta" and len(header) == 41
    assert json.loads((out / "summary.json").read_text()) == summary
    for b in summary["balance"]:
        assert b["mass_balance_error"] < 1e-6
        for key in ("inflow_top_m", "outflow_bottom_m", "runoff_m", "storage_change_m"):
            assert key in b
    assert summary["balance"][-1]["inflow_top_m"] + summary["balance"][-1]["runoff_m"] == pytest.approx(
        2e-5 * 1800, rel=1e-10
    )
    assert set(summary["solver"]) >= {"steps", "rejected_steps", "picard_iterations", "krylov_iterations"}


def test_run_spec_on_a_box_writes_npz_fields(tmp_path):
    spec = column_spec(
        grid={"nx": 3, "ny": 2, "nz": 10, "dx_m": 1.0, "dy_m": 1.0, "dz_m": 0.1},
        material=0,
        top={"type": "head", "head_m": 0.0},
        bottom={"type": "head", "head_m": -1.0},
        output_times_s=[600],
    )
    summary = run_spec(spec, tmp_path)
    with np.load(tmp_path / "fields_600.npz") as f:
        assert f["head_m"].shape == (10, 2, 3)
    assert summary["solver"]["krylov_iterations"] > 0
    assert summary["max_mass_balance_error"] < 1e-6


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"grid": {"nx": 0, "ny": 1, "nz": 4, "dx_m": 1, "dy_m": 1, "dz_m": 0.1}}, "grid.nx"),
        ({"materials": [{"model": "van_genuchten", "theta_r": 0.1}]}, "materials.0"),
        ({"materials": [{"model": "brooks_corey"}]}, "materials.0"),
        ({"top": {"type": "flux", "series": [[10, 1e-6], [5, 0]]}}, "top.flux"),
        ({"bottom": {"type": "head"}}, "bottom"),
        ({"output_times_s": [99999]}, "(spec)"),
        ({"initial": {"head_m": [-1.0, -2.0]}}, "(spec)"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_specs_name_the_field(change, field, tmp_path):
    with pytest.raises(ScenarioValidationError, match=field.replace("(", r"\(").replace(")", r"\)")):
        run_spec(column_spec(**change), tmp_path)


def test_material_indices_and_textures_are_checked(tmp_path):
    with pytest.raises(ScenarioValidationError, match="material"):
        run_spec(column_spec(material=[0, 1, 2]), tmp_path)
    with pytest.raises(ScenarioValidationError, match="texture"):
        run_spec(
            column_spec(materials=[{"model": "van_genuchten", "texture": "moon dust"}], material=0), tmp_path
        )


# ----------------------------------------------------------------------------- model-side soil
@pytest.fixture()
def small_city():
    b = gpd.GeoDataFrame(
        {"building_id": ["a", "b"], "ground_z_m": [80.0, 80.0]},
        geometry=[shapely.box(0, 0, 20, 20), shapely.box(40, 0, 60, 20)],
        crs=31370,
    )
    links = gpd.GeoDataFrame(
        {"link_id": ["l1"], "lanes": [2]}, geometry=[shapely.LineString([(0, 40), (100, 40)])], crs=31370
    )
    m = CityModel(buildings=b, links=links)
    m.soil = build_soil_model(m, bounds=(0, 0, 100, 60), spacing_m=(5, 5, 0.25), depth_m=3)
    return m


def test_sealing_mask_covers_footprints_and_lane_buffered_roads(small_city):
    soil = small_city.soil
    assert soil.shape == (12, 12, 20)
    assert soil.sealed[:4, :4].all() and soil.sealed[:4, 8:12].all()  # the two 20 m footprints
    assert soil.sealed[7:9, :].all()  # 2 lanes × 3.25 m = 6.5 m around y = 40 → rows centred 37.5, 42.5
    assert not soil.sealed[6, :].any() and not soil.sealed[9, :].any()
    assert soil.sealed.sum() == 16 + 16 + 40
    assert [m.name for m in soil.materials] == ["loess topsoil", "loess subsoil", "Brussels sands"]
    assert (soil.material[:1] == 0).all() and (soil.material[6:] == 2).all()


def test_design_storm_deseal_and_green_roof_are_diffed(small_city):
    t, r, d = uccle_design_storm("uccle_1h_100y")
    assert r[0] * d * 1000 == pytest.approx(35.0)
    base = run_model_storm(small_city, storm="uccle_1h_100y")
    assert base["totals"]["mass_balance_error"] < 1e-6
    tot = base["totals"]
    assert tot["rain_m3"] == pytest.approx(0.035 * 100 * 60)
    assert tot["infiltrated_m3"] + tot["runoff_m3"] == pytest.approx(tot["rain_m3"], rel=1e-9)
    # de-seal building a's footprint area (a "car park") with a loam topsoil: 400 m² × 35 mm
    soil2 = deseal_polygon(small_city.soil, shapely.box(0, 0, 20, 20), topsoil=carsel_parrish("loam"))
    assert soil2.sealed.sum() == small_city.soil.sealed.sum() - 16 and small_city.soil.sealed[:4, :4].all()
    var = run_model_storm(small_city, soil=soil2, storm="uccle_1h_100y")
    d = diff_storms(base, var)
    assert d["delta_runoff_m3"] == pytest.approx(-d["delta_infiltrated_m3"], rel=1e-9)
    assert 0.8 * 14.0 < d["delta_infiltrated_m3"] <= 14.0 + 1e-9
    # green roof on building b: less runoff, the difference is retained on the roof
    soil3 = add_green_roof(small_city, small_city.soil, ["b"])
    roof = run_model_storm(small_city, soil=soil3, storm="uccle_1h_100y")
    d3 = diff_storms(base, roof)
    assert d3["delta_runoff_m3"] < 0
    assert d3["delta_green_roof_retained_m3"] == pytest.approx(-d3["delta_runoff_m3"], rel=1e-6)
    with pytest.raises(UnknownEntityError):
        add_green_roof(small_city, small_city.soil, ["nope"])


def test_deseal_outside_the_grid_changes_nothing(small_city):
    soil = small_city.soil
    assert deseal_polygon(soil, shapely.box(500, 500, 510, 510)) is soil


def test_run_model_storm_writes_its_files(small_city, tmp_path):
    res = run_model_storm(small_city, storm="uccle_1h_2y", out_dir=tmp_path, output_times_s=[1800, 3600])
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"summary.json", "columns.csv", "fields_1800.npz", "fields_3600.npz"}
    assert len(res["columns"]) == 12 * 20
