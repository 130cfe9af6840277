"""What-if edits, differences between runs, and the command functions."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from simulation.mobility import (
    accessibility,
    assign,
    diff_accessibility,
    diff_assignments,
    edits,
    gravity_demand,
    network_from_model,
)
from simulation.mobility.sample import sample_model
from twin.cli_mobility import mobility_access, mobility_assign_model
from twin.errors import ScenarioValidationError, UnknownEntityError


@pytest.fixture(scope="module")
def base():
    return sample_model(160, seed=3)


def inner_box(model, shrink=0.15):
    xmin, ymin, xmax, ymax = model.links.total_bounds
    dx, dy = (xmax - xmin) * shrink, (ymax - ymin) * shrink
    return shapely.box(xmin + dx, ymin + dy, xmax - dx, ymax - dy)


def test_edits_never_change_their_input(base):
    before = base.links.copy()
    box = inner_box(base)
    for name, params in [
        ("close_links", {"link_ids": [0]}),
        ("close_area", {"polygon": box}),
        ("set_speed_in_polygon", {"polygon": box, "speed_kmh": 20.0}),
        ("set_lanes", {"link_ids": [0], "lanes": 3}),
        ("add_link", {"from_node": 0, "to_node": 6}),
        ("scale_demand", {"factor": 2.0}),
    ]:
        out = edits.apply_edit(base, name, **params)
        assert out is not base
    pd.testing.assert_frame_equal(base.links, before)


def test_closing_links_to_cars_keeps_them_for_walkers(base):
    out = edits.close_links(base, [0, 1])
    assert out.links["modes"].iloc[:2].tolist() == ["bike,walk", "bike,walk"]
    assert network_from_model(out).n_links == network_from_model(base).n_links - 2
    again = edits.close_links(out, [0, 1])  # idempotent
    pd.testing.assert_frame_equal(again.links, out.links)
    with pytest.raises(UnknownEntityError, match="999999"):
        edits.close_links(base, [999999])


def test_close_area_and_speed_zone_touch_only_links_inside(base):
    box = inner_box(base)
    inside = shapely.within(base.links.geometry.to_numpy(), box)
    assert 0 < inside.sum() < len(inside)
    closed = edits.close_area(base, box)
    assert (~closed.links["modes"][inside].str.contains("car")).all()
    assert (closed.links["modes"][~inside] == base.links["modes"][~inside]).all()
    slow = edits.set_speed_in_polygon(base, box, 20.0, road_classes=["local"])
    changed = slow.links["free_speed_kmh"] != base.links["free_speed_kmh"]
    assert (changed == (inside & (base.links["road_class"] == "local")).to_numpy()).all()
    with pytest.raises(ScenarioValidationError, match="speed_kmh"):
        edits.set_speed_in_polygon(base, box, 0.0)


def test_polygons_in_another_crs_are_reprojected(base):
    box = inner_box(base)
    wgs = gpd.GeoSeries([box], crs=base.crs).to_crs(4326).iloc[0]
    a = edits.close_area(base, box, predicate="intersects")
    b = edits.close_area(base, wgs, crs=4326, predicate="intersects")
    assert (a.links["modes"] == b.links["modes"]).all()


def test_set_lanes_scales_capacity_per_lane(base):
    out = edits.set_lanes(base, [0], 3)
    per_lane = base.links["capacity_veh_h"].iloc[0] / base.links["lanes"].iloc[0]
    assert out.links["lanes"].iloc[0] == 3
    assert out.links["capacity_veh_h"].iloc[0] == pytest.approx(3 * per_lane)
    with pytest.raises(ScenarioValidationError, match="lanes"):
        edits.set_lanes(base, [0], 0)


def test_add_link_appends_directed_links_with_new_ids(base):
    out = edits.add_link(base, 0, 6, both_directions=True, free_speed_kmh=50.0)
    new = out.links.iloc[-2:]
    assert new["link_id"].tolist() == [base.links["link_id"].max() + 1, base.links["link_id"].max() + 2]
    assert new["from_node"].tolist() == [0, 6] and new["to_node"].tolist() == [6, 0]
    assert new["length_m"].iloc[0] == pytest.approx(
        base.nodes.geometry.iloc[0].distance(base.nodes.geometry.iloc[6])
    )
    with pytest.raises(UnknownEntityError):
        edits.add_link(base, 0, 10**9)


def test_scale_demand_scales_residents_and_jobs(base):
    out = edits.scale_demand(base, 2.0)
    assert out.activities["residents"].sum() == 2 * base.activities["residents"].sum()
    some = base.activities["building_id"].iloc[:3].tolist()
    part = edits.scale_demand(base, 0.0, building_ids=some, columns=("jobs",))
    assert part.activities["jobs"].iloc[:3].sum() == 0
    assert part.activities["residents"].equals(base.activities["residents"])


def test_unknown_edits_and_parameters_are_refused_with_the_signature(base):
    with pytest.raises(ScenarioValidationError, match="choose one of"):
        edits.apply_edit(base, "demolish")
    with pytest.raises(ScenarioValidationError, match=r"close_links\(model"):
        edits.apply_edit(base, "close_links", links=[1])


def test_diff_of_a_closure_moves_traffic_and_reports_totals(base):
    od = gravity_demand(base, trip_rate=1.0)
    before = assign(base, od, gap=1e-10)
    # the busiest link is closed to cars in both directions
    busiest = int(before.links["flow"].idxmax())
    row = base.links.set_index("link_id").loc[busiest]
    both = base.links[
        ((base.links["from_node"] == row["from_node"]) & (base.links["to_node"] == row["to_node"]))
        | ((base.links["from_node"] == row["to_node"]) & (base.links["to_node"] == row["from_node"]))
    ]["link_id"].tolist()
    after = assign(edits.close_links(base, both), od, gap=1e-10)
    diff = diff_assignments(before, after)
    links = diff.links
    assert links.loc[busiest, "flow_variant"] == 0.0 and not links.loc[busiest, "in_variant"]
    assert links.loc[busiest, "d_flow"] == pytest.approx(-before.links.loc[busiest, "flow"])
    assert diff.totals["d_veh_h"] == pytest.approx(after.totals["veh_h"] - before.totals["veh_h"])
    assert diff.totals["d_veh_h"] > 0 and diff.totals["links_changed"] > 2
    assert diff.totals["veh_km_base"] == pytest.approx(
        float((before.flows * network_from_model(base).length).sum()) / 1000
    )
    # identical runs differ by nothing
    same = diff_assignments(before, assign(base, od, gap=1e-10))
    assert same.totals["links_changed"] == 0 and abs(same.totals["d_veh_h"]) < 1e-9


def test_accessibility_diff_shows_who_loses(base):
    a = accessibility(base, modes=("walk",), services=("school",))
    schools = base.activities.loc[base.activities["service"] == "school", "building_id"]
    fewer = base.copy()
    act = fewer.activities.copy()
    act.loc[act["building_id"] == schools.iloc[0], "service"] = ""
    fewer.activities = act
    b = accessibility(fewer, modes=("walk",), services=("school",))
    d = diff_accessibility(a, b)
    assert (d["d_walk_school_min"] >= -1e-12).all()
    assert (d["d_walk_school_within_15min"] <= 0).all()
    assert d.attrs["summary"]["walk_school_min"]["worse"] > 0
    assert d.crs == base.crs


def test_command_functions_write_outputs_and_return_lines(base, tmp_path):
    base.save(tmp_path / "model.gpkg")
    r = mobility_assign_model(tmp_path / "model.gpkg", out=tmp_path / "flows.csv", trip_rate=0.5)
    assert r["converged"] and any("vehicle-hours" in line for line in r["lines"])
    flows = pd.read_csv(tmp_path / "flows.csv")
    assert list(flows.columns) == ["link_id", "init_node", "term_node", "flow", "cost"]
    r = mobility_access(tmp_path / "model.gpkg", out=tmp_path / "access.gpkg", modes=("walk",))
    back = gpd.read_file(tmp_path / "access.gpkg", layer="accessibility")
    assert len(back) == len(base.buildings) and r["buildings"] == len(base.buildings)
    assert np.isfinite(back["walk_school_min"]).all()
