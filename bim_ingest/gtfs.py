"""Reader for GTFS static feeds (public-transport timetables), folder or ``.zip``.

GTFS ("General Transit Feed Specification", https://gtfs.org/schedule/reference/)
is a set of CSV tables.  This reader keeps what travel-time computations need:

* ``stops``: ``stop_id, stop_name, lat, lon, location_type, parent_station``;
* ``routes``: ``route_id, route_short_name, route_long_name, route_type``;
* ``trips``: ``trip_id, route_id, service_id``;
* ``stop_times``: ``trip_id, stop_sequence, stop_id, arrival_s, departure_s,
  pickup, dropoff`` with times in seconds after midnight of the service day
  (GTFS times may exceed 24:00:00 for trips running past midnight);
  ``pickup``/``dropoff`` are False only for type 1 ("not available"); types 2
  and 3 (phone the agency / ask the driver) are kept as possible;
* ``calendar`` and ``calendar_dates`` (either may be absent, not both).

Missing arrival/departure times at non-timepoint stops are interpolated
linearly in stop order between the neighbouring timed stops of the trip
(GTFS allows this; the position, not the distance, is used since
``shape_dist_traveled`` is optional).  Trips whose first or last stop has no
time are dropped.

The reader checks references and reports what it had to drop in
:attr:`GtfsFeed.problems` (and as a :class:`~twin.errors.TwinWarning`):
stop times whose stop is unknown, trips without stop times, trips with an
unknown route or service.  Partial feeds (such as the truncated STIB sample in
``shared/data/gtfs``) therefore load, with the losses stated.  A UTF-8 byte
order mark at the start of a file is accepted.

Examples
--------
>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "stops.txt").write_text(
...     "stop_id,stop_name,stop_lat,stop_lon\\nA,a,50.85,4.35\\nB,b,50.86,4.36\\n")
>>> _ = (d / "routes.txt").write_text("route_id,route_type\\nR,3\\n")
>>> _ = (d / "trips.txt").write_text("route_id,service_id,trip_id\\nR,S,T1\\n")
>>> _ = (d / "calendar.txt").write_text(
...     "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\\n"
...     "S,1,1,1,1,1,0,0,20240101,20241231\\n")
>>> _ = (d / "stop_times.txt").write_text(
...     "trip_id,arrival_time,departure_time,stop_id,stop_sequence\\n"
...     "T1,08:00:00,08:00:00,A,1\\nT1,24:10:00,24:10:00,B,2\\n")
>>> feed = read_gtfs(d)
>>> feed.stop_times["arrival_s"].tolist(), sorted(feed.services_on("2024-03-04"))
([28800.0, 87000.0], ['S'])
"""

from __future__ import annotations

import datetime as dt
import io
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from twin.errors import IngestError, TwinWarning
from twin.typing import PathLike_

__all__ = ["GtfsFeed", "parse_gtfs_time", "read_gtfs"]

_REQUIRED = ("stops", "routes", "trips", "stop_times")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class GtfsFeed:
    """The tables of a GTFS feed that travel-time computations use (see the module docstring)."""

    stops: pd.DataFrame
    routes: pd.DataFrame
    trips: pd.DataFrame
    stop_times: pd.DataFrame
    calendar: pd.DataFrame
    calendar_dates: pd.DataFrame
    problems: list[str] = field(default_factory=list)

    def services_on(self, date: str | dt.date) -> set[str]:
        """Service ids running on ``date`` (``calendar`` weekdays and range, then ``calendar_dates``).

        Parameters
        ----------
        date : str or datetime.date
            ``"YYYY-MM-DD"``, ``"YYYYMMDD"`` or a date.
        """
        if isinstance(date, str):
            s = date.replace("-", "")
            date = dt.date(int(s[:4]), int(s[4:6]), int(s[6:8]))
        ymd = date.year * 10000 + date.month * 100 + date.day
        active: set[str] = set()
        cal = self.calendar
        if len(cal):
            day = _DAYS[date.weekday()]
            on = (cal[day] == 1) & (cal["start_date"] <= ymd) & (cal["end_date"] >= ymd)
            active = set(cal.loc[on, "service_id"])
        cd = self.calendar_dates
        if len(cd):
            today = cd[cd["date"] == ymd]
            active |= set(today.loc[today["exception_type"] == 1, "service_id"])
            active -= set(today.loc[today["exception_type"] == 2, "service_id"])
        return active


def parse_gtfs_time(values: pd.Series) -> np.ndarray:
    """``H:MM:SS`` / ``HH:MM:SS`` strings (hours may exceed 23) to seconds; empty -> NaN.

    >>> parse_gtfs_time(pd.Series(["08:01:02", " 7:00:00", "", "25:00:00"])).tolist()
    [28862.0, 25200.0, nan, 90000.0]
    """
    s = values.fillna("").astype(str).str.strip()
    parts = s.str.split(":", expand=True)
    out = np.full(len(s), np.nan)
    if parts.shape[1] != 3:
        if (s != "").any():
            raise IngestError(f"GTFS times must read HH:MM:SS, got e.g. {s[s != ''].iloc[0]!r}.")
        return out
    ok = s != ""
    try:
        h = parts.loc[ok, 0].astype(int).to_numpy()
        m = parts.loc[ok, 1].astype(int).to_numpy()
        sec = parts.loc[ok, 2].astype(int).to_numpy()
    except (ValueError, TypeError) as exc:
        raise IngestError(f"GTFS times must read HH:MM:SS: {exc}") from exc
    if ((m >= 60) | (sec >= 60) | (h < 0) | (m < 0) | (sec < 0)).any():
        raise IngestError("GTFS times have minutes or seconds out of range.")
    out[ok.to_numpy()] = h * 3600.0 + m * 60.0 + sec
    return out


def _tables(path: Path) -> dict[str, pd.DataFrame]:
    """Every ``*.txt`` table of a folder or zip as strings (BOM stripped, blank cells as "")."""
    raw: dict[str, bytes] = {}
    if path.is_dir():
        for f in path.glob("*.txt"):
            raw[f.stem] = f.read_bytes()
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.endswith(".txt"):
                    raw[Path(name).stem] = z.read(name)
    else:
        raise IngestError(f"{path} is neither a folder nor a zip file of GTFS tables.")
    out = {}
    for name, data in raw.items():
        text = data.decode("utf-8-sig")
        if not text.strip():
            out[name] = pd.DataFrame()
            continue
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        frame.columns = [c.strip() for c in frame.columns]
        out[name] = frame
    return out


def _int_column(frame: pd.DataFrame, name: str, default: int) -> pd.Series:
    if name not in frame:
        return pd.Series(default, index=frame.index, dtype=np.int64)
    col = frame[name].str.strip()
    return pd.to_numeric(col.where(col != "", str(default)), errors="raise").astype(np.int64)


def _need(frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise IngestError(f"GTFS {table}.txt lacks required column(s) {missing}.")


def read_gtfs(path: PathLike_) -> GtfsFeed:
    """Read a GTFS feed from a folder or a ``.zip`` (see the module docstring).

    Raises
    ------
    IngestError
        A required table or column is missing, times or coordinates are
        malformed, or neither ``calendar.txt`` nor ``calendar_dates.txt`` exists.
    """
    path = Path(path)
    tables = _tables(path)
    for name in _REQUIRED:
        if name not in tables or tables[name].empty:
            raise IngestError(f"GTFS feed {path} lacks {name}.txt (or it is empty).")
    if tables.get("calendar", pd.DataFrame()).empty and tables.get("calendar_dates", pd.DataFrame()).empty:
        raise IngestError(f"GTFS feed {path} has neither calendar.txt nor calendar_dates.txt.")
    problems: list[str] = []

    st = tables["stops"]
    _need(st, "stops", ("stop_id",))
    lat = pd.to_numeric(
        st.get("stop_lat", pd.Series("", index=st.index)).replace("", np.nan), errors="coerce"
    )
    lon = pd.to_numeric(
        st.get("stop_lon", pd.Series("", index=st.index)).replace("", np.nan), errors="coerce"
    )
    stops = pd.DataFrame(
        {
            "stop_id": st["stop_id"].str.strip(),
            "stop_name": st.get("stop_name", pd.Series("", index=st.index)),
            "lat": lat.to_numpy(dtype=float),
            "lon": lon.to_numpy(dtype=float),
            "location_type": _int_column(st, "location_type", 0),
            "parent_station": st.get("parent_station", pd.Series("", index=st.index)).str.strip(),
        }
    )
    boardable = stops["location_type"].isin([0])
    bad_xy = boardable & (~np.isfinite(stops["lat"]) | ~np.isfinite(stops["lon"]))
    if bad_xy.any():
        raise IngestError(f"GTFS stops without coordinates: {stops.loc[bad_xy, 'stop_id'].head(5).tolist()}.")
    if stops["stop_id"].duplicated().any():
        raise IngestError(
            f"Duplicate GTFS stop_id(s): {stops['stop_id'][stops['stop_id'].duplicated()].head(5).tolist()}."
        )

    ro = tables["routes"]
    _need(ro, "routes", ("route_id", "route_type"))
    routes = pd.DataFrame(
        {
            "route_id": ro["route_id"].str.strip(),
            "route_short_name": ro.get("route_short_name", pd.Series("", index=ro.index)),
            "route_long_name": ro.get("route_long_name", pd.Series("", index=ro.index)),
            "route_type": _int_column(ro, "route_type", 3),
        }
    )

    cal = tables.get("calendar", pd.DataFrame())
    if not cal.empty:
        _need(cal, "calendar", ("service_id", *_DAYS, "start_date", "end_date"))
        calendar = pd.DataFrame({"service_id": cal["service_id"].str.strip()})
        for d in (*_DAYS, "start_date", "end_date"):
            calendar[d] = _int_column(cal, d, 0)
    else:
        calendar = pd.DataFrame(columns=["service_id", *_DAYS, "start_date", "end_date"])
    cd = tables.get("calendar_dates", pd.DataFrame())
    if not cd.empty:
        _need(cd, "calendar_dates", ("service_id", "date", "exception_type"))
        calendar_dates = pd.DataFrame(
            {
                "service_id": cd["service_id"].str.strip(),
                "date": _int_column(cd, "date", 0),
                "exception_type": _int_column(cd, "exception_type", 0),
            }
        )
    else:
        calendar_dates = pd.DataFrame(columns=["service_id", "date", "exception_type"])

    tr = tables["trips"]
    _need(tr, "trips", ("route_id", "service_id", "trip_id"))
    trips = pd.DataFrame(
        {
            "trip_id": tr["trip_id"].str.strip(),
            "route_id": tr["route_id"].str.strip(),
            "service_id": tr["service_id"].str.strip(),
        }
    )
    known_services = set(calendar["service_id"]) | set(calendar_dates["service_id"])
    bad = ~trips["route_id"].isin(set(routes["route_id"])) | ~trips["service_id"].isin(known_services)
    if bad.any():
        problems.append(f"{int(bad.sum())} trip(s) with an unknown route or service dropped")
        trips = trips[~bad]

    sto = tables["stop_times"]
    _need(sto, "stop_times", ("trip_id", "stop_id", "stop_sequence"))
    times = pd.DataFrame(
        {
            "trip_id": sto["trip_id"].str.strip(),
            "stop_sequence": _int_column(sto, "stop_sequence", 0),
            "stop_id": sto["stop_id"].str.strip(),
            "arrival_s": parse_gtfs_time(sto.get("arrival_time", pd.Series("", index=sto.index))),
            "departure_s": parse_gtfs_time(sto.get("departure_time", pd.Series("", index=sto.index))),
            "pickup": _int_column(sto, "pickup_type", 0).to_numpy() != 1,
            "dropoff": _int_column(sto, "drop_off_type", 0).to_numpy() != 1,
        }
    )
    unknown_stop = ~times["stop_id"].isin(set(stops["stop_id"]))
    if unknown_stop.any():
        problems.append(
            f"{int(unknown_stop.sum())} of {len(times)} stop time(s) name a stop missing from "
            "stops.txt: dropped"
        )
        times = times[~unknown_stop]
    unknown_trip = ~times["trip_id"].isin(set(trips["trip_id"]))
    if unknown_trip.any():
        problems.append(f"{int(unknown_trip.sum())} stop time(s) of unknown or dropped trips dropped")
        times = times[~unknown_trip]
    times = _interpolate(times.sort_values(["trip_id", "stop_sequence"], kind="stable"), problems)
    no_times = ~trips["trip_id"].isin(set(times["trip_id"]))
    if no_times.any():
        problems.append(f"{int(no_times.sum())} trip(s) without usable stop times dropped")
        trips = trips[~no_times]
    for p in problems:
        warnings.warn(f"GTFS {path.name}: {p}.", TwinWarning, stacklevel=2)
    return GtfsFeed(
        stops=stops.reset_index(drop=True),
        routes=routes.reset_index(drop=True),
        trips=trips.reset_index(drop=True),
        stop_times=times.reset_index(drop=True),
        calendar=calendar.reset_index(drop=True),
        calendar_dates=calendar_dates.reset_index(drop=True),
        problems=problems,
    )


def _interpolate(times: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
    """Fill missing times linearly by stop position; drop trips whose ends are untimed or go back in time."""
    if times.empty:
        return times
    arr = times["arrival_s"].to_numpy().copy()
    dep = times["departure_s"].to_numpy().copy()
    # a stop with one of the two times uses it for both
    arr = np.where(np.isnan(arr), dep, arr)
    dep = np.where(np.isnan(dep), arr, dep)
    trip = times["trip_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, trip[1:] != trip[:-1]])
    ends = np.r_[starts[1:], len(trip)]
    keep = np.ones(len(trip), dtype=bool)
    n_bad_ends = n_backwards = 0
    for a, b in zip(starts, ends, strict=True):
        t = arr[a:b]
        known = np.flatnonzero(~np.isnan(t))
        if len(known) == 0 or known[0] != 0 or known[-1] != b - a - 1 or b - a < 2:
            keep[a:b] = False
            n_bad_ends += 1
            continue
        if len(known) < b - a:
            pos = np.arange(b - a)
            fill = np.interp(pos, known, t[known])
            missing = np.isnan(t)
            arr[a:b][missing] = fill[missing]
            dep[a:b][missing] = fill[missing]
        if (
            (np.diff(arr[a:b]) < 0).any()
            or (dep[a:b] < arr[a:b]).any()
            or (arr[a + 1 : b] < dep[a : b - 1]).any()
        ):
            keep[a:b] = False
            n_backwards += 1
    if n_bad_ends:
        problems.append(f"{n_bad_ends} trip(s) with fewer than 2 stops or an untimed first/last stop dropped")
    if n_backwards:
        problems.append(f"{n_backwards} trip(s) whose times go backwards dropped")
    out = times.assign(arrival_s=arr, departure_s=dep)
    return out[keep]
