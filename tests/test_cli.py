"""The ``twin`` CLI as a user runs it: exit codes, one-line errors, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from typer.testing import CliRunner

from twin.cli import app

runner = CliRunner()
CITY_FILES = {
    "brussels_grandplace_urbis_lod2.city.json": (8, "EPSG/0/31370"),
    "rotterdam_delfshaven.city.json": (853, "EPSG/0/28992"),
    "zurich_subset_lod2.city.json": (49, "EPSG/0/2056"),
    "fzk_haus_lod2_citygml2.gml": (1, "ETRS89_UTM32"),
    "tum_main_entrance_lod2_citygml3.gml": (1, "ETRS89_UTM32"),
}


@pytest.mark.parametrize("name", sorted(CITY_FILES))
def test_ingest_then_info_on_every_shared_city_file(city_data, tmp_path, name):
    n, declared = CITY_FILES[name]
    out = tmp_path / "m.gpkg"
    r = runner.invoke(app, ["ingest", str(city_data / name), "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["info", str(out), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["buildings"] == n
    assert info["crs"] == "EPSG:31370"
    assert declared in info["sources"][0]["crs_declared"]
    assert {"buildings", "surfaces", "links", "crs", "sources"} <= set(info)
    layers = gpd.list_layers(out)["name"].tolist()
    assert {"buildings", "surfaces", "nodes", "links", "activities", "meta"} <= set(layers)


def test_info_human_readable(city_data, tmp_path):
    out = tmp_path / "m.gpkg"
    runner.invoke(
        app, ["ingest", str(city_data / "brussels_grandplace_urbis_lod2.city.json"), "-o", str(out)]
    )
    r = runner.invoke(app, ["info", str(out)])
    assert r.exit_code == 0
    assert "EPSG:31370" in r.output and "wall/party" in r.output


def test_several_inputs_are_merged_and_exported(city_data, tmp_path):
    out = tmp_path / "m.gpkg"
    r = runner.invoke(
        app,
        [
            "ingest",
            str(city_data / "brussels_grandplace_urbis_lod2.city.json"),
            str(city_data / "fzk_haus_lod2_citygml2.gml"),
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    info = json.loads(runner.invoke(app, ["info", str(out), "--json"]).output)
    assert info["buildings"] == 9 and len(info["sources"]) == 2
    for fmt, target in (("cityjson", "x.city.json"), ("geoparquet", "pq"), ("gpkg", "copy.gpkg")):
        r = runner.invoke(app, ["export", str(out), "--format", fmt, "--out", str(tmp_path / target)])
        assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "x.city.json").read_text())
    assert doc["version"] == "2.0" and len(doc["CityObjects"]) == 9
    assert (tmp_path / "pq" / "buildings.parquet").exists()


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "twin", *args], capture_output=True, text=True, timeout=300)


def test_errors_are_one_line_exit_1_and_write_nothing(tmp_path):
    bad = tmp_path / "bad.city.json"
    bad.write_text('{"type": "CityJSON", "version": "2.0", "Ci')
    out = tmp_path / "m.gpkg"
    r = _run("ingest", str(bad), "--out", str(out))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("twin: error: bad.city.json")
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == [bad]


def test_usage_errors_exit_2(tmp_path):
    assert _run("ingest").returncode == 2
    assert _run("export", "x.gpkg", "--format", "obj", "--out", "y").returncode == 2
    assert _run("nonsense").returncode == 2


def test_info_on_a_non_model(tmp_path):
    p = tmp_path / "x.gpkg"
    p.write_text("not sqlite")
    r = _run("info", str(p))
    assert r.returncode == 1 and "not a twin model" in r.stderr


def test_demo_writes_what_it_says(tmp_path):
    out = tmp_path / "demo"
    r = runner.invoke(app, ["demo", "--out", str(out), "--buildings", "60", "--seed", "3"])
    assert r.exit_code == 0, r.output
    model = out / "district.gpkg"
    assert model.exists() and str(model) in r.output.replace("\n", "")
    info = json.loads(runner.invoke(app, ["info", str(model), "--json"]).output)
    assert info["buildings"] == 60
    assert info["party_walls"] > 0 and info["links"] > 0


def test_energy_building_prints_the_monthly_balance():
    example = Path(__file__).resolve().parents[1] / "data" / "examples" / "energy_building.json"
    r = _run("energy", "building", str(example))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert len(result["months"]) == 12
    assert {"heating_need_kwh", "heating_need_kwh_m2", "h_tr_w_k", "h_ve_w_k"} <= set(result["annual"])


def test_energy_on_a_model_with_a_renovation_scenario(tmp_path):
    assert runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--buildings", "40"]).exit_code == 0
    model = tmp_path / "d" / "district.gpkg"
    base = tmp_path / "base.gpkg"
    r = runner.invoke(app, ["energy", str(model), "--out", str(base)])
    assert r.exit_code == 0, r.output
    res = gpd.read_file(base, layer="energy")
    assert {"building_id", "heating_need_kwh_m2", "peb_class_estimate"} <= set(res.columns)
    scenario = tmp_path / "renovate.yaml"
    scenario.write_text(
        "measures:\n"
        "  - measure: insulate_walls\n    selection: {year_max: 1945}\n    target_u_w_m2k: 0.24\n"
        "  - measure: insulate_roof\n    selection: {year_max: 1945}\n    target_u_w_m2k: 0.24\n"
    )
    renovated = tmp_path / "renovated.csv"
    r = runner.invoke(app, ["energy", str(model), "--out", str(renovated), "--scenario", str(scenario)])
    assert r.exit_code == 0, r.output
    import pandas as pd

    after = pd.read_csv(renovated)
    assert after["heating_need_kwh"].sum() < res["heating_need_kwh"].sum()
    bad = tmp_path / "bad.yaml"
    bad.write_text("measures:\n  - measure: paint_it_green\n")
    r = _run("energy", str(model), "--out", str(tmp_path / "x.csv"), "--scenario", str(bad))
    assert r.returncode == 1 and "paint_it_green" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.csv").exists()


def test_soil_run_spec_writes_profiles_and_a_balanced_summary(tmp_path):
    # 1 m of loam (modified van Genuchten, air entry -2 cm), head -10 m, ponded top 0.1 m, 1 h.
    spec = {
        "grid": {"nx": 1, "ny": 1, "nz": 50, "dx_m": 1.0, "dy_m": 1.0, "dz_m": 0.02},
        "materials": [{"model": "van_genuchten", "texture": "loam", "air_entry_m": -0.02}],
        "material": 0,
        "initial": {"head_m": -10.0},
        "top": {"type": "head", "head_m": 0.1},
        "bottom": {"type": "free_drainage"},
        "duration_s": 3600,
        "output_times_s": [1800, 3600],
    }
    path = tmp_path / "column.json"
    path.write_text(json.dumps(spec))
    out = tmp_path / "soil"
    r = _run("soil", "run", str(path), "--out", str(out))
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert len(list(out.glob("profile_*.csv"))) == 2
    early, late = summary["balance"]
    for b in (early, late):
        assert b["storage_change_m"] == pytest.approx(b["inflow_top_m"] - b["outflow_bottom_m"], rel=1e-6)
        assert abs(b["mass_balance_error"]) < 1e-6
    # ponded infiltration is sorptivity-dominated early on (Philip): I(2t)/I(t) ~ sqrt(2), a bit more
    # with the gravity term
    assert 1.40 < late["inflow_top_m"] / early["inflow_top_m"] < 1.6
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**spec, "grid": {**spec["grid"], "nz": 0}}))
    r = _run("soil", "run", str(bad), "--out", str(tmp_path / "bad_out"))
    assert r.returncode == 1 and "grid.nz" in r.stderr


def test_soil_run_reproduces_the_celia_1990_profile(tmp_path):
    spec = Path(__file__).resolve().parents[1] / "data" / "examples" / "soil_celia1990.json"
    r = _run("soil", "run", str(spec), "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    import pandas as pd

    profile = pd.read_csv(tmp_path / "profile_360.csv")
    assert list(profile.columns) == ["depth_m", "head_m", "theta"]
    # Celia et al. (1990), Fig. 3: at 360 s the wetting front (h = -40 cm) lies at 15-16 cm depth
    front = float(np.interp(-0.40, profile["head_m"][::-1], profile["depth_m"][::-1]))
    assert 0.150 <= front <= 0.160
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert all(abs(b["mass_balance_error"]) < 1e-6 for b in summary["balance"])
