"""GTFS reader (bim_ingest.gtfs), RAPTOR (kernels.raptor), walk + transit (simulation.mobility.transit)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bim_ingest.gtfs import read_gtfs
from simulation.mobility.network import SPEEDS_KMH
from simulation.mobility.transit import build_timetable, transit_times
from twin.errors import IngestError, ScenarioValidationError, TwinWarning

GTFS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gtfs"
CAL = "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"


@pytest.fixture(scope="module")
def gtfs() -> Path:
    """../shared/data/gtfs (skipped when absent, failing under CI=true)."""
    if not GTFS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{GTFS} is missing: CI must run with ../shared beside the checkout.")
        pytest.skip(f"{GTFS} is absent (the shared third-party data sits beside the checkout)")
    return GTFS


def write_feed(d: Path, stops: list[tuple], trips: list[tuple], calendar: str | None = None, extra=None):
    """A small feed: stops (id, lat, lon); trips (trip_id, [(stop, arr, dep[, pickup, dropoff]), ...])."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "stops.txt").write_text(
        "stop_id,stop_name,stop_lat,stop_lon\n" + "".join(f"{s},{s},{la},{lo}\n" for s, la, lo in stops)
    )
    (d / "routes.txt").write_text("route_id,route_type\nR,3\n")
    (d / "trips.txt").write_text("route_id,service_id,trip_id\n" + "".join(f"R,S,{t}\n" for t, _ in trips))
    (d / "calendar.txt").write_text(calendar or CAL + "S,1,1,1,1,1,1,1,20240101,20251231\n")
    rows = []
    for t, calls in trips:
        for seq, c in enumerate(calls, 1):
            s, a, b = c[:3]
            pu, do = (c[3], c[4]) if len(c) > 3 else (0, 0)
            rows.append(f"{t},{a},{b},{s},{seq},{pu},{do}\n")
    (d / "stop_times.txt").write_text(
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type,drop_off_type\n"
        + "".join(rows)
    )
    for name, text in (extra or {}).items():
        (d / name).write_text(text)
    return d


def hms(s: float) -> str:
    s = int(s)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


# ------------------------------------------------------------------------------------- reader
def test_bean_shuttle_reads_whole_with_its_bom(gtfs):
    feed = read_gtfs(gtfs / "bean_shuttle_mdb-859")
    assert feed.problems == []
    assert len(feed.stops) == 6 and len(feed.trips) == 28 and len(feed.stop_times) == 62
    assert feed.services_on("2019-06-03") == {"1"} and feed.services_on("2024-06-03") == set()
    first = feed.stop_times[feed.stop_times["trip_id"] == "CKVIE1"]
    assert first["arrival_s"].tolist() == [8 * 3600.0, 11.5 * 3600.0]
    assert first["pickup"].all()  # pickup_type 2 (phone the agency) is possible, not forbidden


def test_truncated_stib_reports_what_it_drops(gtfs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        feed = read_gtfs(gtfs / "stib_mdb-1857_truncated")
    assert any(
        issubclass(w.category, TwinWarning) and "missing from stops.txt" in str(w.message) for w in caught
    )
    assert any("602 of 999 stop time(s)" in p for p in feed.problems)  # 39.7 % valid, as the MANIFEST says
    assert set(feed.stop_times["stop_id"]) <= set(feed.stops["stop_id"])
    assert set(feed.stop_times["trip_id"]) == set(feed.trips["trip_id"])
    assert len(feed.services_on("2024-12-16")) > 0 and len(feed.routes) == 91


def test_reader_times_interpolation_calendar_dates_and_zip(tmp_path):
    cal_dates = "service_id,date,exception_type\nS,20240603,2\nX,20240603,1\n"
    d = write_feed(
        tmp_path / "f",
        [("A", 50.85, 4.35), ("B", 50.85, 4.36), ("C", 50.85, 4.37)],
        [("T", [("A", "23:50:00", "23:50:00"), ("B", "", ""), ("C", "24:10:00", "24:12:00", 1, 0)])],
        extra={"calendar_dates.txt": cal_dates},
    )
    feed = read_gtfs(d)
    t = feed.stop_times
    assert t["arrival_s"].tolist() == [85800.0, 86400.0, 87000.0]  # B interpolated half-way
    assert t["departure_s"].tolist()[-1] == 87120.0 and t["pickup"].tolist() == [True, True, False]
    assert feed.services_on("2024-06-03") == {"X"}  # S removed that day, X added
    assert feed.services_on("20240604") == {"S"}
    import zipfile

    z = tmp_path / "feed.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in d.iterdir():
            zf.write(f, f.name)
    assert read_gtfs(z).stop_times["arrival_s"].tolist() == t["arrival_s"].tolist()


def test_reader_errors(tmp_path):
    d = write_feed(tmp_path / "f", [("A", 50.85, 4.35)], [("T", [("A", "08:00:00", "08:00:00")])])
    (d / "calendar.txt").unlink()
    with pytest.raises(IngestError, match="neither calendar"):
        read_gtfs(d)
    d = write_feed(tmp_path / "g", [("A", 50.85, 4.35)], [("T", [("A", "8h00", "8h00")])])
    with pytest.raises(IngestError, match="HH:MM:SS"):
        read_gtfs(d)
    (d / "stop_times.txt").unlink()
    with pytest.raises(IngestError, match="stop_times"):
        read_gtfs(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TwinWarning)
        d = write_feed(
            tmp_path / "h",
            [("A", 50.85, 4.35), ("B", 50.85, 4.36)],
            [("T", [("A", "08:00:00", "08:00:00"), ("B", "07:00:00", "07:00:00")])],
        )
        feed = read_gtfs(d)
    assert feed.trips.empty and any("backwards" in p for p in feed.problems)


# ------------------------------------------------------------------------------------ RAPTOR
def reference_arrival(tt, trips, src, t0, speed):
    """Fixpoint over trips and (complete, straight-line) walks: unlimited vehicles, independent of RAPTOR."""
    pos = {s: i for i, s in enumerate(tt.stop_ids)}
    walk = np.hypot(*(tt.xy[:, None, :] - tt.xy[None, :, :]).transpose(2, 0, 1)) / speed
    best = t0 + walk[pos[src]]
    changed = True
    while changed:
        changed = False
        for _, calls in trips:
            on = False
            for s, a, b, pu, do in calls:
                i = pos[s]
                if on and do != 1 and a < best[i]:
                    best[i] = a
                    changed = True
                if pu != 1 and best[i] <= b:
                    on = True
        walked = (best[:, None] + walk).min(axis=0)
        if (walked < best - 1e-9).any():
            best = np.minimum(best, walked)
            changed = True
    return best


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_stops=st.integers(2, 8), n_trips=st.integers(1, 14))
def test_raptor_equals_a_fixpoint_reference(tmp_path_factory, seed, n_stops, n_trips):
    rng = np.random.default_rng(seed)
    stops = [(f"s{i}", 50.80 + rng.uniform(0, 0.08), 4.30 + rng.uniform(0, 0.12)) for i in range(n_stops)]
    lines = [rng.permutation(n_stops)[: rng.integers(2, n_stops + 1)] for _ in range(3)]
    trips = []
    for j in range(n_trips):
        line = lines[rng.integers(0, 3)]
        t = rng.integers(7 * 3600, 8 * 3600)
        calls = []
        for s in line:
            a = t
            t = t + rng.integers(0, 60)
            pu, do = (1 if rng.random() < 0.1 else 0), (1 if rng.random() < 0.1 else 0)
            calls.append((f"s{s}", int(a), int(t), pu, do))
            t = t + rng.integers(60, 900)
        trips.append((f"t{j}", calls))
    d = write_feed(
        tmp_path_factory.mktemp("feed"),
        stops,
        [(tid, [(s, hms(a), hms(b), pu, do) for s, a, b, pu, do in calls]) for tid, calls in trips],
    )
    feed = read_gtfs(d)
    speed = SPEEDS_KMH["walk"] / 3.6
    tt = build_timetable(feed, "2024-06-03", max_transfer_m=1e6)  # every pair: footpaths complete
    src = tt.stop_ids[rng.integers(0, tt.n_stops)]
    t0 = float(rng.integers(7 * 3600, 7 * 3600 + 1800))
    got, rounds = tt.earliest_arrival([list(tt.stop_ids).index(src)], [t0], max_rounds=50)
    ref = reference_arrival(tt, trips, src, t0, speed)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)
    assert (rounds >= 0).all()
    # fewer vehicles never arrive earlier
    one, _ = tt.earliest_arrival([list(tt.stop_ids).index(src)], [t0], max_rounds=1)
    assert (one >= got - 1e-9).all()


def line_feed(tmp_path):
    # A -> B on line 1, C -> D on line 2; B and C 70 m apart (a footpath), D far away
    stops = [("A", 50.8500, 4.3500), ("B", 50.8500, 4.3600), ("C", 50.8500, 4.3610), ("D", 50.8500, 4.4000)]
    trips = [
        ("L1a", [("A", "08:00:00", "08:00:00"), ("B", "08:10:00", "08:10:00")]),
        ("L2a", [("C", "08:12:00", "08:12:00"), ("D", "08:30:00", "08:30:00")]),
        ("L2b", [("C", "08:40:00", "08:40:00"), ("D", "08:58:00", "08:58:00")]),
    ]
    return read_gtfs(write_feed(tmp_path, stops, trips))


def test_transfer_needs_two_rounds_and_a_footpath(tmp_path):
    tt = build_timetable(line_feed(tmp_path), "2024-06-03")
    ids = list(tt.stop_ids)
    a, d = ids.index("A"), ids.index("D")
    best, rounds = tt.earliest_arrival([a], [7.9 * 3600], max_rounds=2)
    assert best[d] == 8.5 * 3600 and rounds[d] == 2
    best1, _ = tt.earliest_arrival([a], [7.9 * 3600], max_rounds=1)
    assert np.isinf(best1[d])
    walk_bc = np.hypot(*(tt.xy[ids.index("B")] - tt.xy[ids.index("C")])) / (SPEEDS_KMH["walk"] / 3.6)
    assert best[ids.index("C")] == pytest.approx(8 * 3600 + 600 + walk_bc)
    # too slow a walk to catch 08:12: the next trip (08:58)
    slow = build_timetable(line_feed(tmp_path), "2024-06-03", walk_kmh=0.3)
    best, _ = slow.earliest_arrival([a], [7.9 * 3600], max_rounds=2)
    assert best[d] == 8 * 3600 + 58 * 60


def test_overtaking_trips_are_split_into_separate_patterns(tmp_path):
    stops = [("A", 50.85, 4.35), ("B", 50.85, 4.40), ("C", 50.85, 4.45)]
    trips = [
        (
            "slow",
            [("A", "08:00:00", "08:00:00"), ("B", "08:30:00", "08:30:00"), ("C", "09:00:00", "09:00:00")],
        ),
        (
            "fast",
            [("A", "08:05:00", "08:05:00"), ("B", "08:15:00", "08:15:00"), ("C", "08:25:00", "08:25:00")],
        ),
    ]
    tt = build_timetable(read_gtfs(write_feed(tmp_path, stops, trips)), "2024-06-03")
    assert tt.n_routes == 2
    ids = list(tt.stop_ids)
    best, _ = tt.earliest_arrival([ids.index("A")], [7.9 * 3600], max_rounds=1)
    assert best[ids.index("C")] == 8 * 3600 + 25 * 60  # waits for the fast one


def test_transit_times_window_statistics_and_direct_walk(tmp_path):
    tt = build_timetable(line_feed(tmp_path), "2024-06-03")
    ids = list(tt.stop_ids)
    a_xy, d_xy = tt.xy[ids.index("A")], tt.xy[ids.index("D")]
    deps = np.array([7.95 * 3600, 8.0 * 3600, 8.1 * 3600])
    each = transit_times(tt, [a_xy], [d_xy, a_xy + [30.0, 0.0]], deps)
    assert each.shape == (3, 1, 2)
    # from 07:57: 33 min; from 08:00 (board at once): 30 min; from 08:06: no transit, walking only
    speed = SPEEDS_KMH["walk"] / 3.6
    walk_ad = np.hypot(*(a_xy - d_xy)) / speed
    np.testing.assert_allclose(each[:, 0, 0], [33 * 60, 30 * 60, walk_ad])
    np.testing.assert_allclose(each[:, 0, 1], 30.0 / speed)  # 30 m away: the direct walk
    med = transit_times(tt, [a_xy], [d_xy], deps, statistic="median")
    low = transit_times(tt, [a_xy], [d_xy], deps, statistic="min")
    assert med[0, 0] == 33 * 60 and low[0, 0] == 30 * 60
    with pytest.raises(ScenarioValidationError):
        transit_times(tt, [a_xy], [d_xy], deps, statistic="mean")
    with pytest.raises(ScenarioValidationError, match="No trip"):
        build_timetable(line_feed(tmp_path), "2030-01-01")


def test_bean_shuttle_krumlov_to_vienna(gtfs):
    feed = read_gtfs(gtfs / "bean_shuttle_mdb-859")
    tt = build_timetable(feed, "2019-06-03", crs="EPSG:3035")  # Austria/Czechia: LAEA Europe
    ids = list(tt.stop_ids)
    krumlov, vienna = tt.xy[ids.index("1")], tt.xy[ids.index("3")]
    minutes = transit_times(tt, [krumlov], [vienna], 8.5 * 3600) / 60  # 08:30: next is CKVIE2 at 09:45
    assert minutes[0, 0] == pytest.approx(13.25 * 60 - 8.5 * 60)


def test_transit_accessibility_on_the_sample_district(tmp_path):
    from pyproj import Transformer
    from shapely import get_coordinates

    from simulation.mobility import transit_accessibility
    from simulation.mobility.sample import sample_model

    model = sample_model(80, seed=2)
    pts = get_coordinates(model.buildings.geometry.representative_point().to_numpy())
    svc = (
        model.activities.set_index("building_id")["service"]
        .reindex(model.buildings["building_id"])
        .to_numpy()
    )
    kind = "school"
    is_k = svc == kind
    gap = np.hypot(pts[:, None, 0] - pts[None, is_k, 0], pts[:, None, 1] - pts[None, is_k, 1]).min(axis=1)
    origin = int(np.argmax(gap))  # the building farthest from every school
    target = int(np.flatnonzero(is_k)[0])
    lon, lat = Transformer.from_crs(model.crs, "EPSG:4326", always_xy=True).transform(
        pts[[origin, target], 0], pts[[origin, target], 1]
    )
    feed = read_gtfs(
        write_feed(
            tmp_path,
            [
                ("O", repr(float(lat[0])), repr(float(lon[0]))),
                ("T", repr(float(lat[1])), repr(float(lon[1]))),
            ],
            [("shuttle", [("O", "08:00:10", "08:00:10"), ("T", "08:00:40", "08:00:40")])],
        )
    )
    tt = build_timetable(feed, "2024-06-03", crs=model.crs)
    acc = transit_accessibility(model, tt, [8 * 3600.0], services=[kind], thresholds_min=[0.7, 10])
    speed_min = SPEEDS_KMH["walk"] / 3.6 * 60  # metres per minute
    walk_only = gap / speed_min
    got = acc[f"transit_{kind}_min"].to_numpy()
    assert walk_only[origin] > 1.0 and got[origin] == pytest.approx(
        40 / 60, abs=1e-4
    )  # wait 10 s, ride 30 s (+ mm of projection)
    assert (got <= walk_only + 1e-9).all()  # walking straight there is always an option
    assert acc[f"transit_{kind}_within_0_7min"].iloc[origin] >= 1
    assert acc["transit_kinds_within_10min"].isin([0, 1]).all()
    # a departure after the shuttle left: walking only
    late = transit_accessibility(model, tt, [8.1 * 3600], services=[kind])
    np.testing.assert_allclose(late[f"transit_{kind}_min"].to_numpy(), walk_only)
