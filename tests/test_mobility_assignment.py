"""User-equilibrium assignment: BPR kernels, line search, small networks with hand solutions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq, minimize_scalar

from kernels.assignment import beckmann, conjugate_target, line_search, link_costs
from simulation.mobility import AssignmentNetwork, assign, beckmann_objective, relative_gap
from twin.errors import ConvergenceError, ScenarioValidationError, SchemaError, UnknownEntityError

ALGOS = ["b", "bfw", "cfw", "fw"]


def make_net(tails, heads, fft, b, power, capacity, *, n=None, const=None, no_through=None, name="toy"):
    tails = np.asarray(tails, dtype=np.int64)
    heads = np.asarray(heads, dtype=np.int64)
    n = n or int(max(tails.max(), heads.max()) + 1)
    m = len(tails)
    return AssignmentNetwork(
        name=name,
        node_ids=np.arange(1, n + 1, dtype=np.int64),
        link_ids=np.arange(1, m + 1, dtype=np.int64),
        tails=tails,
        heads=heads,
        fft=np.asarray(fft, float),
        b=np.asarray(b, float),
        power=np.asarray(power, float),
        capacity=np.asarray(capacity, float),
        const=np.zeros(m) if const is None else np.asarray(const, float),
        length=np.ones(m),
        no_through=np.zeros(n, bool) if no_through is None else np.asarray(no_through, bool),
        zone_nodes=np.arange(n, dtype=np.int64),
    )


def od(*rows):
    return pd.DataFrame(rows, columns=["origin", "destination", "flow"])


# ------------------------------------------------------------------- kernels vs naive formulas
def naive_cost(x, fft, b, p, cap, k):
    return fft * (1 + b * (x / cap) ** p) + k


@pytest.fixture()
def random_links():
    rng = np.random.default_rng(3)
    m = 50
    return {
        "x": rng.uniform(0, 3000, m),
        "fft": rng.uniform(0, 5, m),
        "b": np.where(rng.random(m) < 0.2, 0.0, rng.uniform(0, 1, m)),
        "power": rng.choice([0.0, 1.0, 2.0, 4.0, 4.118, 16.83], m),
        "cap": rng.uniform(100, 2000, m),
        "const": rng.uniform(0, 1, m),
    }


def test_bpr_costs_and_derivatives_equal_the_formula(random_links):
    r = random_links
    cost, deriv = np.zeros(50), np.zeros(50)
    link_costs(r["x"], r["fft"], r["b"], r["power"], r["cap"], r["const"], cost, deriv)
    np.testing.assert_allclose(
        cost, naive_cost(r["x"], r["fft"], r["b"], r["power"], r["cap"], r["const"]), rtol=1e-13
    )
    h = 1e-4
    numeric = (
        naive_cost(r["x"] + h, r["fft"], r["b"], r["power"], r["cap"], 0)
        - naive_cost(r["x"] - h, r["fft"], r["b"], r["power"], r["cap"], 0)
    ) / (2 * h)
    np.testing.assert_allclose(deriv, numeric, rtol=1e-6, atol=1e-10)


def test_beckmann_equals_numerical_integration(random_links):
    r = random_links
    got = beckmann(r["x"], r["fft"], r["b"], r["power"], r["cap"], r["const"])
    ref = sum(
        quad(
            lambda w, a=a: naive_cost(w, r["fft"][a], r["b"][a], r["power"][a], r["cap"][a], r["const"][a]),
            0,
            r["x"][a],
            epsabs=0,
            epsrel=1e-12,
        )[0]
        for a in range(50)
    )
    assert got == pytest.approx(ref, rel=1e-10)


def test_line_search_finds_the_minimum_along_the_direction(random_links):
    r = random_links
    rng = np.random.default_rng(5)
    y = rng.uniform(0, 3000, 50)
    d = y - r["x"]
    lam = line_search(r["x"], d, r["fft"], r["b"], r["power"], r["cap"], r["const"], 1e-13)

    def f(t):
        return beckmann(r["x"] + t * d, r["fft"], r["b"], r["power"], r["cap"], r["const"])

    ref = minimize_scalar(f, bounds=(0, 1), method="bounded", options={"xatol": 1e-12}).x
    assert lam == pytest.approx(ref, abs=1e-6)
    assert f(lam) <= f(ref) + 1e-9 * abs(f(ref))


def test_line_search_returns_the_ends_when_the_slope_does_not_change_sign():
    x = np.array([10.0])
    one = np.ones(1)
    assert line_search(x, np.array([5.0]), one, 0 * one, one, one, 0 * one, 1e-12) == 0.0  # uphill
    assert line_search(x, np.array([5.0]), one, 0 * one, one, one, -2 * one, 1e-12) == 1.0  # downhill


def naive_conjugate(x, y, s1, s2, tau, hess, cost, mode, delta):
    """Conjugate / bi-conjugate targets with numpy.linalg, as the kernel docstring states them."""
    H = np.diag(hess)
    d1, d2, g = s1 - x, tau * s1 + (1 - tau) * s2 - x, y - x
    if mode == 2:
        A = np.array([[d1 @ H @ d1, d2 @ H @ d1], [d1 @ H @ d2, d2 @ H @ d2]])
        a, b = np.linalg.solve(A, -np.array([g @ H @ d1, g @ H @ d2]))
        b0 = 1 / (1 + a + b)
        b1, b2 = (a + b * tau) * b0, b * (1 - tau) * b0
        if 1 + a + b > 0 and b0 >= delta and b1 >= 0 and b2 >= 0:
            s = b0 * y + b1 * s1 + b2 * s2
            return (s, 2) if (s - x) @ cost < 0 else (y, 0)
    alpha = np.clip((g @ H @ d1) / ((y - s1) @ H @ d1), 0, 1 - delta)
    s = alpha * s1 + (1 - alpha) * y
    return (s, 1) if (s - x) @ cost < 0 else (y, 0)


@pytest.mark.parametrize("seed", range(12))
def test_conjugate_targets_equal_the_linear_algebra(seed):
    rng = np.random.default_rng(seed)
    m = 30
    x, s1, s2 = (rng.uniform(0, 100, m) for _ in range(3))
    hess = rng.uniform(0.01, 1, m)
    cost = rng.uniform(1, 2, m)
    y = x - rng.uniform(0, 10, m) * cost  # a descent direction
    for mode in (1, 2):
        s, used = conjugate_target(x, y, s1, s2, 0.3, hess, cost, mode, 1e-6)
        ref, ref_used = naive_conjugate(x, y, s1, s2, 0.3, hess, cost, mode, 1e-6)
        assert used == ref_used
        np.testing.assert_allclose(s, ref, rtol=1e-9, atol=1e-9)
        assert (s - x) @ cost < 0
        if used == 2:  # conjugate to both previous directions
            d2 = 0.3 * s1 + 0.7 * s2 - x
            scale = np.abs((s - x) * hess).sum() * np.abs(s1 - x).sum()
            assert abs(((s - x) * hess) @ (s1 - x)) <= 1e-9 * scale
            assert abs(((s - x) * hess) @ d2) <= 1e-9 * scale


# ---------------------------------------------------------------------------- small networks
def braess(with_bridge: bool) -> AssignmentNetwork:
    """Braess (1968) in BPR form: 1-2 and 3-4 cost 10 + 10x, 1-3 and 2-4 cost 50 + x, 2-3 costs 10 + x."""
    tails, heads = [0, 0, 1, 2], [1, 2, 3, 3]
    fft, b, cap = [10.0, 50.0, 50.0, 10.0], [1.0] * 4, [1.0, 50.0, 50.0, 1.0]
    if with_bridge:
        tails, heads, fft, b, cap = tails + [1], heads + [2], fft + [10.0], b + [1.0], cap + [10.0]
    return make_net(tails, heads, fft, b, [1.0] * len(tails), cap, n=4, name="Braess")


@pytest.mark.parametrize("algorithm", ALGOS)
def test_braess_network_matches_the_hand_solution(algorithm):
    # with the bridge: paths 1-2-4 and 1-3-4 carry 36/13, 1-2-3-4 carries 6/13, every path costs 95 1/13
    demand = od((1, 4, 6.0))
    gap = 1e-12 if algorithm == "b" else 1e-6
    res = assign(braess(True), demand, algorithm=algorithm, gap=gap)
    f, g = 36 / 13, 6 / 13
    tol = 1e-8 if algorithm == "b" else 1e-3
    np.testing.assert_allclose(res.flows, [f + g, f, f, f + g, g], atol=tol)
    rel = 1e-9 if algorithm == "b" else 1e-5
    assert res.sptt / 6.0 == pytest.approx(95 + 1 / 13, rel=rel)
    # Braess's paradox: without the bridge everyone is better off (93 per trip)
    res0 = assign(braess(False), demand, algorithm=algorithm, gap=gap)
    np.testing.assert_allclose(res0.flows, [3, 3, 3, 3], atol=tol)
    assert res0.sptt / 6.0 == pytest.approx(93.0, rel=rel)


@pytest.mark.parametrize("algorithm", ALGOS)
def test_two_route_network_matches_the_analytical_equilibrium(algorithm):
    net = make_net([0, 0], [1, 1], [10.0, 12.0], [0.15, 0.15], [4.0, 4.0], [1000.0, 1500.0], n=2)
    demand = 3000.0

    def t(k, x):
        return naive_cost(x, net.fft[k], net.b[k], net.power[k], net.capacity[k], 0.0)

    x1 = brentq(lambda v: t(0, v) - t(1, demand - v), 0, demand, xtol=1e-12)
    gap = 1e-12 if algorithm == "b" else 1e-7
    res = assign(net, od((1, 2, demand)), algorithm=algorithm, gap=gap)
    tol = 1e-6 if algorithm == "b" else 0.5
    np.testing.assert_allclose(res.flows, [x1, demand - x1], atol=tol)
    assert res.converged and res.relative_gap <= gap


def test_paths_never_pass_through_centroids():
    # 1 -> 2 -> 3 is cheap but node 2 is a centroid (first thru node 3): traffic must take 1 -> 4 -> 3
    net = make_net(
        [0, 1, 0, 3],
        [1, 2, 3, 2],
        [1.0, 1.0, 5.0, 5.0],
        [0.15] * 4,
        [4] * 4,
        [100.0] * 4,
        no_through=[True, True, False, False],
    )
    net = AssignmentNetwork(**{**net.__dict__, "zone_nodes": np.array([0, 1, 2])})
    res = assign(net, od((1, 3, 50.0)))
    np.testing.assert_allclose(res.flows, [0, 0, 50, 50])


def test_handles_zero_free_flow_times_constant_links_and_non_integer_powers():
    # three routes: zero-fft BPR link (+ constant connector), constant-cost link, power 4.3 link
    net = make_net(
        [0, 3, 0, 0],
        [3, 1, 1, 1],
        [0.0, 2.0, 6.0, 1.0],
        [1.0, 0.0, 0.0, 2.0],
        [2.0, 0.0, 0.0, 4.3],
        [100.0, 1.0, 1.0, 50.0],
        n=4,
    )
    res = assign(net, od((1, 2, 300.0)), gap=1e-12)
    assert res.relative_gap <= 1e-12
    used = res.flows[[0, 2, 3]] > 1e-9
    route_cost = np.array([res.costs[0] + res.costs[1], res.costs[2], res.costs[3]])
    np.testing.assert_allclose(route_cost[used], route_cost[used].min(), rtol=1e-9)
    assert (route_cost[~used] >= route_cost[used].min() - 1e-9).all()
    assert res.flows[0] == pytest.approx(res.flows[1])
    assert res.flows.sum() - res.flows[1] == pytest.approx(300.0)


def test_relative_gap_of_an_equilibrium_is_recomputed_independently():
    net = braess(True)
    res = assign(net, od((1, 4, 6.0)), gap=1e-12)
    assert relative_gap(net, od((1, 4, 6.0)), res.flows) == pytest.approx(res.relative_gap, abs=1e-14)
    assert relative_gap(net, od((1, 4, 6.0)), res.links.reset_index()) <= 1e-12
    # all-on-one-route is far from equilibrium
    assert relative_gap(net, od((1, 4, 6.0)), np.array([6, 0, 6, 0, 0.0])) > 0.01
    assert beckmann_objective(net, res) == pytest.approx(res.beckmann)


def test_intrazonal_demand_is_reported_but_never_assigned():
    res = assign(braess(False), od((1, 4, 6.0), (1, 1, 100.0)))
    assert res.intrazonal == 100.0 and res.demand_total == 6.0


def test_result_tables_and_csv(tmp_path):
    res = assign(braess(True), od((1, 4, 6.0)), gap=1e-12)
    links = res.links
    assert list(links.columns) == [
        "init_node",
        "term_node",
        "flow",
        "cost",
        "free_flow_cost",
        "voc",
        "length",
    ]
    assert links.index.name == "link_id"
    np.testing.assert_allclose(links["voc"], res.flows / braess(True).capacity)
    assert res.totals["tstt"] == pytest.approx(float(np.dot(res.flows, res.costs)))
    res.to_csv(tmp_path / "flows.csv")
    back = pd.read_csv(tmp_path / "flows.csv")
    assert list(back.columns) == ["init_node", "term_node", "flow", "cost"]
    np.testing.assert_allclose(back["flow"], res.flows, rtol=1e-11)
    assert back["init_node"].tolist() == [1, 1, 2, 3, 2]


def test_gap_history_decreases_to_the_target_with_algorithm_b():
    res = assign(braess(True), od((1, 4, 6.0)), gap=1e-12)
    assert res.gap_history[-1] <= 1e-12 < res.gap_history[0]
    assert res.iterations == len(res.gap_history) - 1


def test_errors_name_what_is_wrong():
    net = braess(True)
    with pytest.raises(ScenarioValidationError, match="choose one of"):
        assign(net, od((1, 4, 6.0)), algorithm="tapas")
    with pytest.raises(ScenarioValidationError, match="gap"):
        assign(net, od((1, 4, 6.0)), gap=0)
    with pytest.raises(UnknownEntityError, match="99"):
        assign(net, od((1, 99, 6.0)))
    with pytest.raises(SchemaError, match="no path"):
        assign(net, od((4, 1, 6.0)))
    with pytest.raises(SchemaError, match=">= 0"):
        assign(net, od((1, 4, -6.0)))
    with pytest.raises(ConvergenceError, match="max_iter"):
        assign(net, od((1, 4, 6.0)), algorithm="fw", gap=1e-14, max_iter=3)
    with pytest.warns(match="stopped after 3"):
        res = assign(net, od((1, 4, 6.0)), algorithm="fw", gap=1e-14, max_iter=3, raise_on_max_iter=False)
    assert not res.converged and res.iterations == 3


def test_progress_reports_every_iteration():
    seen = []
    res = assign(braess(True), od((1, 4, 6.0)), algorithm="bfw", gap=1e-8, progress=lambda *a: seen.append(a))
    assert len(seen) == res.iterations and all(isinstance(m, str) for m, _, _ in seen)


def test_square_matrix_demand_is_accepted():
    matrix = pd.DataFrame(np.zeros((4, 4)), index=[1, 2, 3, 4], columns=[1, 2, 3, 4])
    matrix.loc[1, 4] = 6.0
    res = assign(braess(True), matrix, gap=1e-12)
    np.testing.assert_allclose(res.flows[4], 6 / 13, atol=1e-8)
