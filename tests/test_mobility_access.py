"""Accessibility per building and isochrones against a naive per-building search."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra as sp_dijkstra

from simulation.mobility import accessibility, check_connectivity, isochrone, mode_graph
from simulation.mobility.accessibility import snap_to_graph
from simulation.mobility.sample import sample_model
from twin.errors import ScenarioValidationError


@pytest.fixture(scope="module")
def model():
    return sample_model(160, seed=3)


def naive_access(model, mode, kind, thresholds):
    """One scipy Dijkstra from every building (the slow, obvious way)."""
    g = mode_graph(model, mode)
    pts = shapely.get_coordinates(model.buildings.geometry.representative_point().to_numpy())
    node, acc = snap_to_graph(g, pts)
    n = g.n_nodes
    best = {}
    for t, h, w in zip(g.tails.tolist(), g.heads.tolist(), g.time_s.tolist(), strict=True):
        best[(t, h)] = min(best.get((t, h), np.inf), w)
    keys = np.array(list(best))
    mat = csr_matrix((np.array(list(best.values())), (keys[:, 0], keys[:, 1])), shape=(n, n))
    dist = sp_dijkstra(mat, directed=True, indices=node)
    act = model.activities.set_index("building_id")
    ids = model.buildings["building_id"].to_numpy()
    is_kind = act.reindex(ids)["service"].to_numpy() == kind
    service_rows = np.flatnonzero(is_kind)
    total = dist[:, node[service_rows]] + acc[:, None] + acc[service_rows][None, :]
    nearest = total.min(axis=1) / 60.0
    counts = np.stack([(total <= t * 60.0).sum(axis=1) for t in thresholds], axis=1)
    return nearest, counts


@pytest.mark.parametrize("mode", ["walk", "bike"])
def test_accessibility_equals_a_search_from_every_building(model, mode):
    kinds = sorted(set(model.activities["service"]) - {""})
    acc = accessibility(model, modes=(mode,), thresholds_min=(3, 5))
    for kind in kinds:
        nearest, counts = naive_access(model, mode, kind, (3, 5))
        np.testing.assert_allclose(acc[f"{mode}_{kind}_min"], nearest, rtol=1e-12)
        np.testing.assert_array_equal(acc[f"{mode}_{kind}_within_3min"], counts[:, 0])
        np.testing.assert_array_equal(acc[f"{mode}_{kind}_within_5min"], counts[:, 1])
    score = sum((acc[f"{mode}_{k}_min"] <= 5).astype(int) for k in kinds)
    np.testing.assert_array_equal(acc[f"{mode}_kinds_within_5min"], score)


def test_accessibility_returns_one_row_per_building_with_the_model_crs(model):
    acc = accessibility(model, modes=("walk",), services=("school",))
    assert isinstance(acc, gpd.GeoDataFrame)
    assert acc.crs == model.crs
    assert acc["building_id"].tolist() == model.buildings["building_id"].tolist()
    assert list(acc.columns[2:]) == [
        "walk_school_min",
        "walk_school_within_10min",
        "walk_school_within_15min",
        "walk_kinds_within_10min",
        "walk_kinds_within_15min",
    ]


def test_cycling_is_never_slower_than_walking_on_a_two_way_grid(model):
    acc = accessibility(model, modes=("walk", "bike"), services=("doctor",))
    assert (acc["bike_doctor_min"] <= acc["walk_doctor_min"] + 1e-9).all()


def test_unknown_services_and_bad_thresholds_are_refused(model):
    with pytest.raises(ScenarioValidationError, match="No building offers"):
        accessibility(model, services=("opera",))
    with pytest.raises(ScenarioValidationError, match="thresholds"):
        accessibility(model, thresholds_min=(0,))
    with pytest.raises(ScenarioValidationError, match="mode"):
        accessibility(model, modes=("tram",))


def test_buildings_far_from_the_network_are_unreachable(model):
    far = model.copy()
    b = far.buildings.copy()
    b.loc[0, "geometry"] = shapely.MultiPolygon([shapely.box(0, 0, 10, 10)])
    far.buildings = b
    acc = accessibility(far, modes=("walk",), services=("school",))
    assert np.isnan(acc["walk_school_min"].iloc[0]) and acc["walk_school_within_15min"].iloc[0] == 0


def test_isochrones_grow_with_time_and_contain_the_start(model):
    c = model.nodes.geometry.iloc[7]
    iso = isochrone(model, c.x + 3, c.y + 3, [1, 2, 10], "walk")
    assert iso["minutes"].tolist() == [1.0, 2.0, 10.0]
    areas = iso["area_m2"].to_numpy()
    assert areas[0] < areas[1] <= areas[2] + 1e-6
    assert iso.geometry.iloc[0].contains(shapely.Point(c.x + 3, c.y + 3))
    assert iso.geometry.iloc[0].within(iso.geometry.iloc[2].buffer(1e-6))
    # nodes reached agree with a bounded search
    g = mode_graph(model, "walk")
    node, acc = snap_to_graph(g, [[c.x + 3, c.y + 3]])
    best = {}
    for t, h, w in zip(g.tails.tolist(), g.heads.tolist(), g.time_s.tolist(), strict=True):
        best[(t, h)] = min(best.get((t, h), np.inf), w)
    keys = np.array(list(best))
    mat = csr_matrix((np.array(list(best.values())), (keys[:, 0], keys[:, 1])), shape=(g.n_nodes, g.n_nodes))
    dist = sp_dijkstra(mat, indices=int(node[0])) + acc[0]
    assert iso["n_nodes"].tolist() == [int((dist <= m * 60).sum()) for m in (1, 2, 10)]


def test_isochrone_refuses_points_off_the_network(model):
    with pytest.raises(ScenarioValidationError, match="from the walk network"):
        isochrone(model, 0.0, 0.0, 5, "walk")


def test_connectivity_report_names_isolated_nodes(model):
    g = mode_graph(model, "car")
    report = check_connectivity(g)
    assert report["n_nodes"].iloc[0] == g.n_nodes  # the sample grid is strongly connected
    closed = model.copy()
    links = closed.links.copy()
    first = int(links["from_node"].iloc[0])
    touching = (links["from_node"] == first) | (links["to_node"] == first)
    links.loc[touching, "modes"] = "walk"
    closed.links = links
    report = check_connectivity(mode_graph(closed, "car"))
    assert report["isolated"].iloc[-1] and report["node_ids"].iloc[-1] == [first]
