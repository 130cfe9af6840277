"""Gravity demand: Furness balancing against a naive loop, and the model-level wrapper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kernels.demand import DETERRENCE_KINDS, deterrence, furness
from simulation.mobility import gravity_demand, od_long, read_od_csv, scale_od
from simulation.mobility.sample import sample_model
from twin.errors import ConvergenceError, ScenarioValidationError, SchemaError


def naive_furness(o, d, f, iterations):
    a, b = np.ones(len(o)), np.ones(len(d))
    for _ in range(iterations):
        a = o / (f @ b)
        b = d / (f.T @ a)
    return a[:, None] * b[None, :] * f


def test_deterrence_functions_equal_their_formulas():
    cost = np.array([[1.0, 2.0, np.inf], [0.0, 5.0, 10.0]])
    np.testing.assert_allclose(
        deterrence(cost, DETERRENCE_KINDS["exponential"], 0.2, 0.0),
        np.where(np.isfinite(cost), np.exp(-0.2 * cost), 0.0),
    )
    with np.errstate(divide="ignore"):
        power = np.where(np.isfinite(cost) & (cost > 0), cost**-2.0, 0.0)
    np.testing.assert_allclose(deterrence(cost, DETERRENCE_KINDS["power"], 0.0, 2.0), power)
    with np.errstate(invalid="ignore"):
        tanner = np.where(np.isfinite(cost) & (cost > 0), cost**0.5 * np.exp(-0.3 * cost), 0.0)
    np.testing.assert_allclose(deterrence(cost, DETERRENCE_KINDS["tanner"], 0.3, 0.5), tanner)


@pytest.mark.parametrize("seed", range(5))
def test_furness_equals_a_naive_loop_and_meets_the_margins(seed):
    rng = np.random.default_rng(seed)
    r = int(rng.integers(2, 12))
    o = rng.uniform(0, 100, r)
    d = rng.uniform(0, 100, r)
    d *= o.sum() / d.sum()
    f = np.exp(-0.1 * rng.uniform(1, 30, (r, r)))
    np.fill_diagonal(f, 0.0)
    trips, _, _, it, err = furness(o, d, f, 1e-12, 10_000)
    assert err <= 1e-12
    np.testing.assert_allclose(trips, naive_furness(o, d, f, it), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(trips.sum(axis=1), o, rtol=1e-11)
    np.testing.assert_allclose(trips.sum(axis=0), d, rtol=1e-11)
    assert (np.diag(trips) == 0).all()


def test_gravity_demand_keeps_productions_and_attractions():
    model = sample_model(160, seed=3)
    od = gravity_demand(model, trip_rate=0.2, tol=1e-10)
    assert od.index.name == "origin" and od.columns.name == "destination"
    assert (od.index == od.columns).all()
    total = 0.2 * model.activities["residents"].sum()
    assert od.to_numpy().sum() == pytest.approx(total, rel=1e-9)
    assert (np.diag(od.to_numpy()) == 0).all()
    assert od.attrs["max_relative_error"] <= 1e-10
    # shorter trips are more frequent: the exponential deterrence favours near destinations
    far = gravity_demand(model, trip_rate=0.2, beta=0.0)
    assert not np.allclose(far.to_numpy(), od.to_numpy())


def test_gravity_demand_errors():
    model = sample_model(60, seed=1)
    with pytest.raises(ScenarioValidationError, match="deterrence"):
        gravity_demand(model, deterrence_function="logit")
    empty = model.copy()
    act = empty.activities.copy()
    act["jobs"] = 0
    empty.activities = act
    with pytest.raises(SchemaError, match="no residents or no jobs"):
        gravity_demand(empty)
    with pytest.raises(ConvergenceError, match="balancing"):
        gravity_demand(model, max_iter=1, tol=1e-15)


def test_od_tables_round_trip_through_csv_and_scale(tmp_path):
    matrix = pd.DataFrame([[0.0, 5.0], [2.0, 0.0]], index=[1, 2], columns=[1, 2])
    long = od_long(matrix)
    long.to_csv(tmp_path / "od.csv", index=False)
    back = read_od_csv(tmp_path / "od.csv")
    pd.testing.assert_frame_equal(back, long)
    assert scale_od(long, 2.0)["flow"].tolist() == [10.0, 4.0]
    assert scale_od(matrix, 0.5).to_numpy().tolist() == [[0.0, 2.5], [1.0, 0.0]]
    (tmp_path / "bad.csv").write_text("from,to\n1,2\n")
    with pytest.raises(SchemaError, match="lacks column"):
        read_od_csv(tmp_path / "bad.csv")
