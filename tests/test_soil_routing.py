"""Surface run-on routing and the parallel/deterministic paths of the Richards kernel.

Hand-checkable strips of columns (``i`` east, one row ``j``): the rain on a sealed column runs on to
its open neighbour and infiltrates there, or goes to the sewer when the sealed column has no open
neighbour; the ponding excess of an open column runs down a slope to the next open column.  Every
run also asserts the global mass-balance error below 1e-6 and the surface balance
``rain = infiltration + sewer``.
"""

from __future__ import annotations

import geopandas as gpd
import numba
import numpy as np
import pytest
import shapely

from kernels.richards import PARALLEL_MIN_CELLS
from simulation.soil import build_soil_model, run_model_storm, run_spec
from simulation.soil.materials import carsel_parrish, params_array
from simulation.soil.solver import RichardsProblem, SolverOptions, run_richards, surface_routing
from twin.errors import ScenarioValidationError
from twin.model import CityModel

MB_TOL = 1e-6
LOAM = carsel_parrish("loam")


def _strip(top, *, rain, duration, routing, surface_z=None, nz=40, dz=0.02, h_i=-1.0, dx=1.0):
    top = np.asarray(top, np.int8)[None, :]
    nx = top.shape[1]
    return RichardsProblem(
        mat=np.zeros((nz, 1, nx), np.int32),
        params=params_array([LOAM]),
        h0=np.full((nz, 1, nx), h_i),
        dx=dx,
        dy=1.0,
        dz=dz,
        top_type=top,
        top_head=np.zeros((1, nx)),
        rain_times_s=np.array([0.0, duration]),
        rain_rates_m_s=np.array([rain, 0.0]),
        bottom_type="free_drainage",
        routing=routing,
        surface_z_m=None if surface_z is None else np.asarray(surface_z, float)[None, :],
    )


def _run(prob, duration):
    r = run_richards(
        prob,
        duration_s=duration,
        output_times_s=[duration],
        options=SolverOptions(dt_initial_s=1.0, dt_max_s=120.0),
    )
    for b in r.balance:
        assert b["mass_balance_error"] < MB_TOL, b
    return r


def test_routing_tables_follow_the_documented_rules():
    top = np.array([[0, 2, 0, 0, 2, 2]], np.int8)
    order, recv, frac = surface_routing(top, None, 1.0, 1.0)
    # sealed 0 -> open 1; sealed 2 -> open 1; sealed 3 -> open 4; flat open columns -> sewer
    assert recv[0].tolist() == [-1, 1, -1, -1] and frac[0].sum() == 1.0
    assert recv[2].tolist() == [1, -1, -1, -1] and frac[2].sum() == 1.0
    assert recv[3].tolist() == [-1, 4, -1, -1]
    assert (recv[[1, 4, 5]] == -1).all() and frac[[1, 4, 5]].sum() == 0.0
    assert set(order[:3].tolist()) == {0, 2, 3}  # donors first
    # a sealed column between two open ones shares its rain equally; downhill by slope
    order, recv, frac = surface_routing(np.array([[2, 0, 2]], np.int8), np.array([[0.0, 0.0, 0.0]]), 1.0, 1.0)
    assert frac[1].tolist() == [0.5, 0.5, 0.0, 0.0]
    order, recv, frac = surface_routing(
        np.array([[2, 0, 2]], np.int8), np.array([[9.0, 10.0, 7.0]]), 1.0, 1.0
    )
    assert frac[1].tolist() == pytest.approx([1 / 4, 3 / 4, 0.0, 0.0])
    order, recv, frac = surface_routing(np.array([[2, 2, 2]], np.int8), np.array([[3.0, 2.0, 1.0]]), 1.0, 1.0)
    assert order.tolist() == [0, 1, 2] and recv[0, 1] == 1 and recv[1, 1] == 2 and (recv[2] == -1).all()
    _, recv, _ = surface_routing(top, None, 1.0, 1.0, "sewer")
    assert (recv == -1).all()


def test_sealed_rain_infiltrates_in_the_open_strip_and_the_isolated_sealed_column_drains_to_the_sewer():
    # [sealed, sealed, open]: column 0 has no open neighbour (sewer), column 1 runs on to column 2;
    # rain 0.3 Ks: the open column takes its own rain + the run-on (0.6 Ks) without ponding.
    rain, duration = 0.3 * LOAM.ks_m_s, 3600.0
    depth = rain * duration  # m of rain per column
    r = _run(_strip([0, 0, 2], rain=rain, duration=duration, routing="neighbours"), duration)
    b = r.balance[-1]
    area = 3.0
    assert b["rain_m"] * area == pytest.approx(3 * depth, rel=1e-12)
    assert b["runon_m"] * area == pytest.approx(depth, rel=1e-12)  # column 1 -> column 2
    assert b["runoff_m"] * area == pytest.approx(depth, rel=1e-9)  # column 0 -> sewer
    assert b["inflow_top_m"] * area == pytest.approx(2 * depth, rel=1e-9)
    np.testing.assert_allclose(r.infiltration_m[0], [0.0, 0.0, 2 * depth], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(r.runon_m[0], [0.0, 0.0, depth], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.sewer_m[0], [depth, 0.0, 0.0], rtol=1e-9, atol=1e-12)
    # the same strip without routing: both sealed columns go to the sewer
    r0 = _run(_strip([0, 0, 2], rain=rain, duration=duration, routing="sewer"), duration)
    assert r0.balance[-1]["runoff_m"] * area == pytest.approx(2 * depth, rel=1e-9)
    assert r0.balance[-1]["runon_m"] == 0.0
    assert r0.infiltration_m[0, 2] == pytest.approx(depth, rel=1e-9)
    # the receiving column is wetter
    assert r.theta[-1][:5, 0, 2].mean() > r0.theta[-1][:5, 0, 2].mean()


def test_ponding_excess_runs_down_the_slope_and_the_balance_closes():
    # two open columns on a slope; heavy rain (5 Ks) ponds the upper one, its excess runs on to the
    # lower one, whose own excess goes to the sewer
    rain, duration = 5 * LOAM.ks_m_s, 1800.0
    prob = _strip([2, 2], rain=rain, duration=duration, routing="neighbours", surface_z=[1.0, 0.0])
    r = _run(prob, duration)
    b = r.balance[-1]
    inf = r.infiltration_m[0]
    assert r.runon_m[0, 0] == 0.0
    # run-on of the lower column = excess of the upper one (rain − infiltration), up to the Picard
    # tolerance (the excess is handed on with the ponded face flux of the last assembled iterate)
    tol = 1e-6 * rain * duration
    assert r.runon_m[0, 1] == pytest.approx(rain * duration - inf[0], abs=tol)
    assert r.sewer_m[0, 0] == pytest.approx(0.0, abs=tol)
    assert r.runon_m[0, 1] > 0.1 * rain * duration
    # surface balance: rain = infiltration + sewer
    assert (b["inflow_top_m"] + b["runoff_m"]) == pytest.approx(b["rain_m"], rel=1e-12)
    assert r.sewer_m.sum() / 2 == pytest.approx(b["runoff_m"], rel=1e-9)
    # the lower column sends to the sewer what it could not take of its rain and run-on
    assert r.sewer_m[0, 1] == pytest.approx(rain * duration + r.runon_m[0, 1] - inf[1], abs=tol)
    assert inf[1] >= inf[0] > 0


def test_parallel_kernel_is_bit_identical_for_one_and_two_threads():
    # a box above the parallel threshold: rows of cells in parallel, per-row partial sums
    nz, ny, nx = 10, 60, 60
    assert nz * ny * nx >= PARALLEL_MIN_CELLS
    rng = np.random.default_rng(3)
    top = (rng.random((ny, nx)) < 0.5).astype(np.int8) * 2
    prob = RichardsProblem(
        mat=(rng.random((nz, ny, nx)) < 0.3).astype(np.int32),
        params=params_array([LOAM, carsel_parrish("sandy loam")]),
        h0=np.full((nz, ny, nx), -1.0),
        dx=2.0,
        dy=2.0,
        dz=0.05,
        top_type=top,
        top_head=np.zeros((ny, nx)),
        rain_times_s=np.array([0.0]),
        rain_rates_m_s=np.array([20e-3 / 3600]),
        bottom_type="free_drainage",
        routing="neighbours",
        surface_z_m=rng.random((ny, nx)),
    )
    opts = SolverOptions(dt_initial_s=10.0, dt_max_s=300.0, eps_h_m=1e-5, eps_theta=1e-6, cg_rtol=1e-10)
    runs = []
    n0 = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            runs.append(run_richards(prob, duration_s=1200.0, output_times_s=[1200.0], options=opts))
    finally:
        numba.set_num_threads(n0)
    for r in runs:
        assert r.balance[-1]["mass_balance_error"] < MB_TOL
        assert r.balance[-1]["runon_m"] > 0
    for r in runs[1:]:
        assert np.array_equal(r.head_m[-1], runs[0].head_m[-1])
        assert r.balance[-1] == runs[0].balance[-1]
        assert r.stats["krylov_iterations"] == runs[0].stats["krylov_iterations"]


@pytest.fixture
def small_city():
    # the flat two-building district of tests/test_soil_spec.py
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


def test_model_storm_routes_roof_and_road_rain_to_adjacent_open_cells(small_city):
    # flat district: of the 72 sealed columns, those with an open
    # 4-neighbour hand their rain on: building a (corner block 4×4) 7, building b 10, the road
    # rows 40; the 15 others drain to the sewer.  15 mm in 1 h on 5 m × 5 m columns.
    base = run_model_storm(small_city, storm="uccle_1h_2y")
    routed = run_model_storm(small_city, storm="uccle_1h_2y", routing="neighbours")
    t, b = routed["totals"], base["totals"]
    assert t["mass_balance_error"] < MB_TOL and b["mass_balance_error"] < MB_TOL
    assert b["runon_m3"] == 0.0
    assert t["runon_m3"] == pytest.approx(57 * 25 * 0.015, rel=1e-9)
    assert t["infiltrated_m3"] + t["runoff_m3"] == pytest.approx(t["rain_m3"], rel=1e-9)
    assert t["infiltrated_m3"] > b["infiltrated_m3"] and t["runoff_m3"] < b["runoff_m3"]
    cols = routed["columns"]
    assert cols["runon_m"].sum() * 25 == pytest.approx(t["runon_m3"], rel=1e-9)
    assert cols["sewer_m"].sum() * 25 == pytest.approx(t["runoff_m3"], rel=1e-6)
    assert (cols.loc[cols["sealed"], "runon_m"] == 0).all()


def test_spec_sealed_columns_and_routing_are_optional_fields(tmp_path):
    spec = {
        "grid": {"nx": 3, "ny": 1, "nz": 20, "dx_m": 1.0, "dy_m": 1.0, "dz_m": 0.05},
        "materials": [{"model": "van_genuchten", "texture": "loam"}],
        "initial": {"head_m": -1.0},
        "top": {
            "type": "flux",
            "series": [[0, 1e-6], [1800, 0]],
            "sealed": [[True, True, False]],
            "routing": "neighbours",
        },
        "bottom": {"type": "free_drainage"},
        "duration_s": 1800,
        "output_times_s": [1800],
    }
    s = run_spec(spec, tmp_path)
    bal = s["balance"][-1]
    assert s["max_mass_balance_error"] < MB_TOL
    assert bal["runon_m"] * 3 == pytest.approx(1e-6 * 1800, rel=1e-12)
    assert bal["runoff_m"] * 3 == pytest.approx(1e-6 * 1800, rel=1e-9)
    with pytest.raises(ScenarioValidationError, match="top.sealed"):
        run_spec({**spec, "top": {**spec["top"], "sealed": [[True, False]]}}, tmp_path)
