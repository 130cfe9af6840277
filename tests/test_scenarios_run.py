"""Running scenarios: diffs equal independent runs of the simulations, runs are reproducible."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from typer.testing import CliRunner

import scenarios
from bim_ingest.activities import activities_from_attributes
from bim_ingest.network import read_network_layers
from bim_ingest.registry import read
from data import generate_district, write_district, write_ifc_building
from scenarios import Scenario, load_run, model_hash, run
from simulation.energy import run_energy
from simulation.measures_energy import apply_measures
from twin.cli import app
from twin.errors import UnknownEntityError

EXAMPLES = Path(__file__).parents[1] / "scenarios" / "examples"


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    folder = tmp_path_factory.mktemp("district")
    generated = generate_district(100, seed=1)
    files = write_district(generated, folder)
    model = read(files["cityjson"])
    model.activities = activities_from_attributes(model)
    nodes, links = read_network_layers(files["streets_gpkg"], crs=model.crs)
    model.nodes = gpd.GeoDataFrame(nodes, geometry="geometry", crs=model.crs)
    model.links = gpd.GeoDataFrame(links, geometry="geometry", crs=model.crs)
    model = model.with_party_walls()
    path = folder / "district.gpkg"
    model.save(path)
    return {"model": model, "generated": generated, "gpkg": path, "folder": folder}


def _renovation(year_max=1944, **extra) -> Scenario:
    data = {
        "name": "renovate",
        "selections": {"old": {"typology": "terraced", "year_max": year_max}},
        "measures": {
            "energy": [
                {"measure": "insulate_walls", "selection": "old", "target_u_w_m2k": 0.24},
                {"measure": "insulate_roof", "selection": "old", "target_u_w_m2k": 0.24},
            ]
        },
        "simulations": {"energy": {}},
    }
    data.update(extra)
    return Scenario.from_dict(data)


def test_energy_diff_equals_an_independent_run(district):
    base = district["model"]
    before = model_hash(base)
    result = run(_renovation(), base)
    assert model_hash(base) == before  # the base model is never changed

    b = base.buildings
    selected = set(b.loc[(b["typology"] == "terraced") & (b["year_built"] <= 1944), "building_id"])
    assert 0 < len(selected) < len(b)
    # the same measures applied by hand through the simulation layer
    steps = [
        {"measure": "insulate_walls", "selection": {"ids": sorted(selected)}, "target_u_w_m2k": 0.24},
        {"measure": "insulate_roof", "selection": {"ids": sorted(selected)}, "target_u_w_m2k": 0.24},
    ]
    expected = run_energy(apply_measures(base, steps)).results.set_index("building_id")
    baseline = run_energy(base).results.set_index("building_id")
    table = result.results["energy"].set_index("building_id")
    np.testing.assert_allclose(
        table["heating_need_kwh_variant"], expected.loc[table.index, "heating_need_kwh"], rtol=1e-12
    )
    np.testing.assert_allclose(
        table["heating_need_kwh_base"], baseline.loc[table.index, "heating_need_kwh"], rtol=1e-12
    )
    changed = set(table.index[np.abs(table["d_heating_need_kwh"]) > 1e-9])
    assert changed == selected  # exactly the selected buildings change, all of them for the better
    assert (table.loc[sorted(selected), "d_heating_need_kwh"] < 0).all()
    t = result.totals["energy"]
    assert t["d_heating_need_kwh"] == pytest.approx(
        expected["heating_need_kwh"].sum() - baseline["heating_need_kwh"].sum(), rel=1e-12
    )
    area = baseline["heated_floor_area_m2"].sum()
    assert t["heating_need_kwh_m2_variant"] == pytest.approx(
        expected["heating_need_kwh"].sum() / area, rel=1e-9
    )
    ranks = {c: k for k, c in enumerate(("A++", "A+", "A", "B", "C", "D", "E", "F", "G"))}
    better = sum(
        ranks.get(expected.loc[i, "peb_class_estimate"], 99)
        < ranks.get(baseline.loc[i, "peb_class_estimate"], -1)
        for i in selected
    )
    assert t["buildings_improving_class"] == better
    assert [a["buildings"] for a in result.record["applied"]] == [len(selected)] * 2


def test_same_spec_same_hashes_and_identical_results(district, tmp_path):
    a = run(_renovation(), district["model"], cache_dir=tmp_path / "cache")
    b = run(_renovation(), district["model"].copy(), cache_dir=tmp_path / "cache")
    assert a.run_hash == b.run_hash and a.record["results_hash"] == b.record["results_hash"]
    c = run(_renovation(year_max=1970), district["model"])
    assert c.run_hash != a.run_hash and c.record["results_hash"] != a.record["results_hash"]
    assert len(list((tmp_path / "cache").glob("*.pkl"))) == 1  # one baseline, cached and reused


def test_save_and_load_round_trip(district, tmp_path):
    result = run(_renovation(), district["model"])
    folder = result.save(tmp_path)
    again = result.save(tmp_path)  # re-saving the same run replaces it atomically
    assert folder == again and folder.name == result.run_id
    assert sorted(p.name for p in tmp_path.iterdir()) == [result.run_id]  # no temporary leftovers
    loaded = load_run(folder)
    assert loaded.record["results_hash"] == result.record["results_hash"]
    assert loaded.results["energy"].crs.to_epsg() == 31370
    np.testing.assert_allclose(
        loaded.results["energy"]["d_heating_need_kwh"], result.results["energy"]["d_heating_need_kwh"]
    )
    record = json.loads((folder / "run.json").read_text())
    assert record["format"] == scenarios.RECORD_FORMAT
    assert record["inputs"]["base_model_hash"] == model_hash(district["model"])
    assert record["code_version"]["brussels-twin"]


def test_unknown_ids_fail_before_any_work(district):
    spec = Scenario.from_dict(
        {"name": "bad", "selections": {"s": {"ids": ["nope"]}}, "simulations": {"energy": {}}}
    )
    with pytest.raises(UnknownEntityError, match=r"selections\.s\.ids"):
        run(spec, district["model"])
    spec = Scenario.from_dict(
        {
            "name": "bad",
            "measures": {"mobility": [{"edit": "close_links", "link_ids": [99999]}]},
            "simulations": {"energy": {}},
        }
    )
    with pytest.raises(UnknownEntityError, match=r"measures\.mobility\[0\]\.link_ids"):
        run(spec, district["model"])


def test_closing_a_street_moves_traffic(district):
    model = district["model"]
    links = model.links
    degree = links["from_node"].value_counts()
    inner = links[links["from_node"].map(degree).ge(3) & links["to_node"].map(degree).ge(3)]
    first = inner.iloc[len(inner) // 2]  # a street segment between two crossings
    back = links[(links["from_node"] == first["to_node"]) & (links["to_node"] == first["from_node"])]
    ids = [int(first["link_id"]), *map(int, back["link_id"])]
    spec = Scenario.from_dict(
        {
            "name": "close",
            "measures": {"mobility": [{"edit": "close_links", "link_ids": ids}]},
            "simulations": {"mobility": {"accessibility": False}},
        }
    )
    result = run(spec, model)
    links = result.results["mobility_links"].set_index("link_id")
    assert (links.loc[ids, "flow_variant"].fillna(0.0) == 0.0).all()  # closed to cars
    t = result.totals["mobility"]
    assert t["relative_gap_base"] <= 1e-9 and t["relative_gap_variant"] <= 1e-9
    # the totals are the flow-weighted sums of the per-link table (independent aggregation)
    cost = links["cost_variant"].fillna(0.0) * links["flow_variant"].fillna(0.0)
    assert t["tstt_variant"] == pytest.approx(cost.sum(), rel=1e-9)
    assert t["d_tstt"] >= -1e-9  # removing capacity never lowers the equilibrium travel time here


def test_soil_desealing_infiltrates_more(district):
    model = district["model"]
    street = model.links[model.links["road_class"] == "axis"].geometry.iloc[0]
    square = street.buffer(10.0, cap_style="flat")
    spec = Scenario.from_dict(
        {
            "name": "deseal",
            "measures": {"soil": [{"soil": "deseal", "polygon": square.wkt}]},
            "simulations": {"soil": {"spacing_m": [10.0, 10.0, 0.5], "depth_m": 3.0}},
        }
    )
    result = run(spec, model)
    t = result.totals["soil"]
    assert t["delta_infiltrated_m3"] > 0 and t["delta_runoff_m3"] < 0
    assert t["mass_balance_error_variant"] < 1e-6
    cols = result.results["soil_columns"]
    opened = cols["sealed_base"] & ~cols["sealed_variant"]
    assert opened.sum() > 0
    assert result.record["applied"][-1]["desealed_m2"] == pytest.approx(opened.sum() * 100.0)
    # the water balance closes column by column: infiltration gained where the ground was opened
    assert (cols.loc[opened, "d_infiltration_m"] > 0).all()


def test_cross_domain_ifc_building(district, tmp_path):
    """A new IFC building: its own heat demand, more trips, and it seals the ground."""
    model = district["model"]
    target = str(model.buildings.loc[model.buildings["typology"] == "terraced", "building_id"].iloc[0])
    ifc = write_ifc_building(district["generated"], target, tmp_path / "new.ifc")
    spec_path = tmp_path / "new_building.yaml"
    spec_path.write_text(
        json.dumps(
            {
                "name": "new-building",
                "measures": {
                    "bim": [{"bim": "add_ifc", "file": Path(ifc).name, "replace": [target], "residents": 400}]
                },
                "simulations": {
                    "energy": {},
                    "mobility": {"accessibility": False},
                },
            }
        )
    )
    result = run(Scenario.from_file(spec_path), model)
    applied = result.record["applied"][0]
    assert applied["replaced"] == [target] and len(applied["added"]) == 1
    new_id = applied["added"][0]
    energy = result.results["energy"].set_index("building_id")
    assert (
        np.isnan(energy.loc[new_id, "heating_need_kwh_base"])
        and energy.loc[new_id, "heating_need_kwh_variant"] > 0
    )
    assert np.isnan(energy.loc[target, "heating_need_kwh_variant"])
    m = result.totals["mobility"]
    assert m["trips_veh_h_variant"] > m["trips_veh_h_base"]  # 400 residents make more trips
    assert result.record["inputs"]["files"][Path(ifc).name] == scenarios.hashing.file_hash(ifc)


def test_cli_run_diff_list_schema(district, tmp_path):
    runner = CliRunner()
    spec = tmp_path / "s.json"
    spec.write_text(_renovation().canonical_json())
    res = runner.invoke(
        app, ["scenario", "run", str(spec), "--model", str(district["gpkg"]), "--out", str(tmp_path / "runs")]
    )
    assert res.exit_code == 0, res.output
    assert "heating_need_kwh" in res.output
    spec2 = tmp_path / "s2.json"
    spec2.write_text(_renovation(year_max=1990).canonical_json().replace('"renovate"', '"renovate-more"'))
    assert (
        runner.invoke(
            app, ["scenario", "run", str(spec2), "-m", str(district["gpkg"]), "-o", str(tmp_path / "runs")]
        ).exit_code
        == 0
    )
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2
    res = runner.invoke(app, ["scenario", "diff", str(folders[0]), str(folders[1])])
    assert res.exit_code == 0 and "results differ" in res.output
    res = runner.invoke(app, ["scenario", "list", str(tmp_path / "runs"), "--json"])
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert {r["name"] for r in rows} == {"renovate", "renovate-more"}
    res = runner.invoke(app, ["scenario", "schema"])
    assert json.loads(res.output)["title"].startswith("Brussels twin scenario")
    # bad inputs: one line, exit 1, no run written
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmeasures: {energy: [{measure: insulate_walls, target_u_w_m2k: 24}]}\n")
    res = runner.invoke(
        app, ["scenario", "run", str(bad), "-m", str(district["gpkg"]), "-o", str(tmp_path / "r2")]
    )
    assert res.exit_code == 1 and "target_u_w_m2k" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r2").exists()
    res = runner.invoke(app, ["scenario", "run", str(spec), "-o", str(tmp_path / "r3")])
    assert res.exit_code == 1 and "no base model" in res.output


def test_example_script_runs(tmp_path, monkeypatch, capsys):
    """The documented example, as a user runs it (on the 400-building demo district it builds)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["run_scenario.py", "--out", "runs"])
    runpy.run_path(str(EXAMPLES / "run_scenario.py"), run_name="__main__")
    text = capsys.readouterr().out
    assert "renovate-pre1945-terraced-close-rue-h1" in text and "buildings improve" in text
    (folder,) = (tmp_path / "runs").iterdir()
    record = load_run(folder).record
    assert [a.get("links_changed") for a in record["applied"]][-1] == 2
    assert record["totals"]["energy"]["d_heating_need_kwh"] < 0
    assert record["totals"]["mobility"]["d_veh_km"] > 0  # the closed street makes detours


def test_sweep_reuses_the_baseline(district, tmp_path):
    specs = [_renovation(year_max=y).model_copy(update={"name": f"r{y}"}) for y in (1900, 1944, 1970)]
    runs = scenarios.sweep(specs, district["model"], out_dir=tmp_path)
    assert [r.record["name"] for r in runs] == ["r1900", "r1944", "r1970"]
    saved = [-r.totals["energy"]["d_heating_need_kwh"] for r in runs]
    assert saved == sorted(saved)  # renovating more buildings saves more
    singles = [run(s, district["model"]).record["results_hash"] for s in specs]
    assert [r.record["results_hash"] for r in runs] == singles
