"""Street networks from OpenStreetMap (``.osm``, ``.osm.pbf``) and from plain line layers.

:func:`read_osm` reads the ways tagged ``highway=*`` with pyosmium (the
``osmium`` package, an optional dependency: ``pip install osmium``), splits
them at junctions and returns the model's ``nodes`` and ``links`` tables
(one row per *directed* link) in the requested CRS (default EPSG:31370).
:func:`read_street_lines` does the same for a GeoJSON / GeoPackage layer of
street centrelines with attributes.

Interpretation of OSM tags (documented defaults, Brussels first):

* **modes** — by ``highway`` class (:data:`HIGHWAY_CLASSES`): motorways and
  trunks are car only; footways, paths, steps and pedestrian streets walk
  only (bike where ``bicycle=yes/designated``); cycleways bike (walk where
  ``foot=yes/designated``); other roads car, bike and walk.  ``access=no`` /
  ``private`` and ``motor_vehicle=no`` remove cars, ``foot=no`` walkers,
  ``bicycle=no`` cyclists.
* **direction** — ``oneway=yes/1/true``, ``oneway=-1``, ``junction=roundabout``
  and motorways are one-way *for cars*; the opposite direction stays open to
  walkers, and to cyclists where ``oneway:bicycle=no`` or ``cycleway=opposite*``
  (Brussels' "sens unique limité").
* **speed** — ``maxspeed`` when tagged (``30``, ``50 mph``, ``BE:urban``,
  ``BE-BRU:zone30``, ``walk``); otherwise the class default.  Brussels has
  been a 30 km/h region since 1 January 2021 ("Ville 30"), so urban classes
  default to 30 km/h; only motorways, trunks and primary roads default higher.
* **lanes** — ``lanes`` (split between directions on two-way roads,
  ``lanes:forward``/``lanes:backward`` when tagged), else the class default;
  capacity is lanes x the class's capacity per lane (planning values).
* BPR ``alpha = 0.15``, ``beta = 4`` (Bureau of Public Roads 1964).

Links keep ``osm_way_id`` and the way's ``name``; ``road_class`` is the
``highway`` value.  Node ids are OSM node ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.crs import to_crs
from twin.errors import IngestError, SchemaError
from twin.typing import CRSLike, PathLike_

__all__ = ["HIGHWAY_CLASSES", "RoadClass", "parse_maxspeed", "read_osm", "read_street_lines"]


@dataclass(frozen=True)
class RoadClass:
    """Defaults of one ``highway`` class.

    Attributes
    ----------
    modes : str
        Modes allowed by default (``"car,bike,walk"`` ...).
    speed_kmh : float
        Free speed when ``maxspeed`` is not tagged (0 for classes without cars).
    lanes : int
        Lanes per direction when ``lanes`` is not tagged.
    capacity_per_lane_veh_h : float
        Planning capacity of one lane, vehicles per hour.
    """

    modes: str
    speed_kmh: float
    lanes: int
    capacity_per_lane_veh_h: float


#: Defaults by OSM ``highway`` class (Brussels: 30 km/h unless tagged; capacities are planning values).
HIGHWAY_CLASSES: dict[str, RoadClass] = {
    "motorway": RoadClass("car", 120.0, 2, 1800.0),
    "motorway_link": RoadClass("car", 70.0, 1, 1500.0),
    "trunk": RoadClass("car", 70.0, 2, 1500.0),
    "trunk_link": RoadClass("car", 50.0, 1, 1200.0),
    "primary": RoadClass("car,bike,walk", 50.0, 2, 900.0),
    "primary_link": RoadClass("car,bike,walk", 50.0, 1, 900.0),
    "secondary": RoadClass("car,bike,walk", 30.0, 1, 800.0),
    "secondary_link": RoadClass("car,bike,walk", 30.0, 1, 800.0),
    "tertiary": RoadClass("car,bike,walk", 30.0, 1, 700.0),
    "tertiary_link": RoadClass("car,bike,walk", 30.0, 1, 700.0),
    "unclassified": RoadClass("car,bike,walk", 30.0, 1, 600.0),
    "residential": RoadClass("car,bike,walk", 30.0, 1, 600.0),
    "living_street": RoadClass("car,bike,walk", 20.0, 1, 300.0),
    "service": RoadClass("car,bike,walk", 20.0, 1, 300.0),
    "road": RoadClass("car,bike,walk", 30.0, 1, 600.0),
    "pedestrian": RoadClass("walk", 0.0, 1, 0.0),
    "footway": RoadClass("walk", 0.0, 1, 0.0),
    "steps": RoadClass("walk", 0.0, 1, 0.0),
    "path": RoadClass("walk", 0.0, 1, 0.0),
    "track": RoadClass("bike,walk", 0.0, 1, 0.0),
    "cycleway": RoadClass("bike", 0.0, 1, 0.0),
    "bridleway": RoadClass("walk", 0.0, 1, 0.0),
}

_ZONE_SPEEDS = {
    "urban": 50.0,
    "rural": 90.0,
    "motorway": 120.0,
    "walk": 6.0,
    "living_street": 20.0,
    "zone30": 30.0,
}
_YES = {"yes", "true", "1", "designated", "permissive"}
_NO = {"no", "private"}


def parse_maxspeed(value: str | None) -> float | None:
    """A ``maxspeed`` tag in km/h, or ``None`` when absent or not understood.

    Examples
    --------
    >>> [parse_maxspeed(v) for v in ("30", "50 mph", "BE:urban", "BE-BRU:zone30", "walk", "none", None)]
    [30.0, 80.4672, 50.0, 30.0, 6.0, None, None]
    """
    if not value:
        return None
    v = value.strip().lower().split(";")[0]
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(mph|km/h|kmh)?", v)
    if m:
        speed = float(m.group(1))
        return speed * 1.609344 if m.group(2) == "mph" else speed
    m = re.search(r"zone\s*(\d+)", v)
    if m:
        return float(m.group(1))
    key = v.split(":")[-1]
    return _ZONE_SPEEDS.get(key)


def _modes(tags: dict[str, str], cls: RoadClass) -> set[str]:
    modes = set(cls.modes.split(","))
    if tags.get("bicycle") in _YES:
        modes.add("bike")
    if tags.get("foot") in _YES:
        modes.add("walk")
    if tags.get("access") in _NO or tags.get("motor_vehicle") in _NO or tags.get("motorcar") in _NO:
        modes.discard("car")
    if tags.get("bicycle") in _NO:
        modes.discard("bike")
    if tags.get("foot") in _NO:
        modes.discard("walk")
    return modes


def _oneway(tags: dict[str, str], highway: str) -> int:
    """1 forward only, -1 backward only, 0 both ways (for cars)."""
    v = tags.get("oneway", "")
    if v in ("yes", "true", "1"):
        return 1
    if v == "-1" or v == "reverse":
        return -1
    if v in ("no", "false", "0"):
        return 0
    if tags.get("junction") in ("roundabout", "circular") or highway in ("motorway", "motorway_link"):
        return 1
    return 0


def _bike_contraflow(tags: dict[str, str]) -> bool:
    return (
        tags.get("oneway:bicycle") == "no"
        or tags.get("cycleway", "").startswith("opposite")
        or any(tags.get(k, "").startswith("opposite") for k in ("cycleway:left", "cycleway:right"))
    )


def _lanes(tags: dict[str, str], cls: RoadClass, oneway: int) -> tuple[int, int]:
    """Lanes (forward, backward) for cars."""

    def num(key: str) -> int | None:
        try:
            return max(1, int(float(tags[key].split(";")[0])))
        except (KeyError, ValueError):
            return None

    total = num("lanes")
    fwd, bwd = num("lanes:forward"), num("lanes:backward")
    if oneway != 0:
        n = total or cls.lanes
        return (n, 0) if oneway == 1 else (0, n)
    if fwd is None and bwd is None:
        half = max(1, (total + 1) // 2) if total else cls.lanes
        return half, half
    return fwd or cls.lanes, bwd or cls.lanes


@dataclass
class _Way:
    way_id: int
    refs: list[int]
    lonlat: list[tuple[float, float]]
    tags: dict[str, str]


def _collect_ways(path: Path) -> list[_Way]:
    try:
        import osmium
    except ImportError as err:  # optional dependency
        raise ImportError(
            "Reading OpenStreetMap files needs pyosmium: `pip install osmium` (PyPI package 'osmium')."
        ) from err
    ways: list[_Way] = []

    class Handler(osmium.SimpleHandler):
        def way(self, w: Any) -> None:
            highway = w.tags.get("highway")
            if highway not in HIGHWAY_CLASSES or w.tags.get("area") == "yes":
                return
            refs, pts = [], []
            for nd in w.nodes:
                if not nd.location.valid():
                    continue
                refs.append(int(nd.ref))
                pts.append((nd.location.lon, nd.location.lat))
            if len(refs) >= 2:
                ways.append(_Way(int(w.id), refs, pts, {t.k: t.v for t in w.tags}))

    try:
        Handler().apply_file(str(path), locations=True)
    except RuntimeError as err:
        raise IngestError(f"{path.name}: cannot read as OpenStreetMap data: {err}") from err
    return ways


def read_osm(path: PathLike_, *, crs: CRSLike | None = None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Read the street network of an OpenStreetMap file into ``nodes`` and ``links`` tables.

    Parameters
    ----------
    path : path
        ``.osm`` (XML) or ``.osm.pbf`` file.
    crs : CRS-like, optional
        Output CRS (default EPSG:31370).  Lengths are measured in it.

    Returns
    -------
    nodes : geopandas.GeoDataFrame
        ``node_id`` (OSM id), ``z_m`` (NaN), points.
    links : geopandas.GeoDataFrame
        One row per directed link: ``link_id``, ``from_node``, ``to_node``,
        ``name``, ``road_class``, ``length_m``, ``free_speed_kmh``,
        ``capacity_veh_h``, ``lanes``, ``modes``, ``alpha``, ``beta``,
        ``osm_way_id``, geometry.

    Raises
    ------
    ImportError
        When pyosmium is not installed.
    IngestError
        When the file is missing or unreadable.
    SchemaError
        When it holds no usable ``highway`` way.
    """
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: no such file.")
    ways = _collect_ways(path)
    if not ways:
        raise SchemaError(f"{path.name}: no way tagged highway=* with node locations.")
    records = []
    for w in ways:
        cls = HIGHWAY_CLASSES[w.tags["highway"]]
        records.append(
            {
                "refs": w.refs,
                "coords": w.lonlat,
                "way_id": w.way_id,
                "tags": w.tags,
                "highway": w.tags["highway"],
                "cls": cls,
            }
        )
    return _build(records, source_crs="EPSG:4326", crs=crs, name=path.name)


def _build(
    records: list[dict[str, Any]], *, source_crs: CRSLike, crs: CRSLike | None, name: str
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Split polylines at shared nodes and make directed links with attributes."""
    target = to_crs(crs)
    usage: dict[int, int] = {}
    coords: dict[int, tuple[float, float]] = {}
    for rec in records:
        refs = rec["refs"]
        for k, (ref, xy) in enumerate(zip(refs, rec["coords"], strict=True)):
            usage[ref] = usage.get(ref, 0) + (2 if k in (0, len(refs) - 1) else 1)
            coords[ref] = xy
    # project every vertex once
    ids = np.fromiter(coords.keys(), dtype=np.int64, count=len(coords))
    xy = np.array([coords[i] for i in ids.tolist()], dtype=float).reshape(-1, 2)
    projected = gpd.GeoSeries(shapely.points(xy), crs=to_crs(source_crs)).to_crs(target)
    pxy = dict(zip(ids.tolist(), shapely.get_coordinates(projected.to_numpy()).tolist(), strict=True))
    rows: list[dict[str, Any]] = []
    for rec in records:
        refs = rec["refs"]
        tags, cls, highway = rec["tags"], rec["cls"], rec["highway"]
        modes = _modes(tags, cls)
        if not modes:
            continue
        oneway = _oneway(tags, highway) if "car" in modes else 0
        lanes_f, lanes_b = _lanes(tags, cls, oneway)
        speed = parse_maxspeed(tags.get("maxspeed")) or cls.speed_kmh
        start = 0
        for k in range(1, len(refs)):
            if k < len(refs) - 1 and usage[refs[k]] < 2:
                continue
            seg = refs[start : k + 1]
            start = k
            if seg[0] == seg[-1] and len(seg) <= 2:
                continue
            line = shapely.LineString([pxy[r] for r in seg])
            base = {
                "name": tags.get("name", ""),
                "road_class": highway,
                "length_m": float(line.length),
                "alpha": 0.15,
                "beta": 4.0,
                "osm_way_id": rec["way_id"],
            }
            for direction in (1, -1):
                car = "car" in modes and (oneway == 0 or oneway == direction)
                others = {m for m in modes if m != "car"}
                if oneway != 0 and oneway != direction and "bike" in others and not _bike_contraflow(tags):
                    others.discard("bike")
                link_modes = ([("car")] if car else []) + [m for m in ("bike", "walk") if m in others]
                if not link_modes:
                    continue
                lanes = max(int(lanes_f if direction == 1 else lanes_b), 1) if car else 1
                rows.append(
                    {
                        **base,
                        "from_node": seg[0] if direction == 1 else seg[-1],
                        "to_node": seg[-1] if direction == 1 else seg[0],
                        "free_speed_kmh": float(speed if speed > 0 else 30.0),
                        "lanes": lanes,
                        "capacity_veh_h": float(lanes * (cls.capacity_per_lane_veh_h or 600.0)),
                        "modes": ",".join(link_modes),
                        "geometry": line if direction == 1 else shapely.reverse(line),
                    }
                )
    if not rows:
        raise SchemaError(f"{name}: no street segment could be built.")
    links = gpd.GeoDataFrame(rows, geometry="geometry", crs=target)
    links.insert(0, "link_id", np.arange(len(links), dtype=np.int64))
    order = [
        "link_id",
        "from_node",
        "to_node",
        "name",
        "road_class",
        "length_m",
        "free_speed_kmh",
        "capacity_veh_h",
        "lanes",
        "modes",
        "alpha",
        "beta",
        "osm_way_id",
        "geometry",
    ]
    links = links[order]
    used = np.unique(np.concatenate([links["from_node"].to_numpy(), links["to_node"].to_numpy()]))
    nodes = gpd.GeoDataFrame(
        {"node_id": used.astype(np.int64), "z_m": np.nan},
        geometry=shapely.points(np.array([pxy[i] for i in used.tolist()])),
        crs=target,
    )
    return nodes, links


def read_street_lines(
    path: PathLike_,
    *,
    crs: CRSLike | None = None,
    layer: str | None = None,
    snap_m: float = 0.5,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Street centrelines (GeoJSON, GeoPackage ...) into ``nodes`` and ``links`` tables.

    Each line becomes links between its end points, which are merged into
    nodes when closer than ``snap_m``.  Attributes are read when present
    (``highway`` or ``road_class``, ``name``, ``maxspeed`` or
    ``free_speed_kmh``, ``lanes``, ``oneway``, ``modes``, ``capacity_veh_h``)
    and otherwise filled from :data:`HIGHWAY_CLASSES` (``residential`` when
    no class is given) exactly as for OSM.

    Parameters
    ----------
    path : path
        A vector file with (multi)line features.
    crs : CRS-like, optional
        Output CRS (default EPSG:31370); the file must declare its own CRS.
    layer : str, optional
        Layer to read (GeoPackage).
    snap_m : float
        End points closer than this are the same node, metres.

    Returns
    -------
    nodes, links : geopandas.GeoDataFrame
        As :func:`read_osm` (``osm_way_id`` holds the feature's row number).

    Raises
    ------
    IngestError
        When the file cannot be read or has no CRS.
    SchemaError
        When it holds no lines.
    """
    path = Path(path)
    try:
        frame = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as err:  # pyogrio raises several types for unreadable files
        raise IngestError(f"{path.name}: cannot read as a vector file: {err}") from err
    if frame.crs is None:
        raise IngestError(f"{path.name}: the layer has no CRS; declare one (e.g. EPSG:31370) and retry.")
    target = to_crs(crs)
    frame = frame.to_crs(target).explode(index_parts=False)
    frame = frame[frame.geometry.geom_type == "LineString"].reset_index(drop=True)
    if frame.empty:
        raise SchemaError(f"{path.name}: no line features.")
    ends = np.array([[*ln.coords[0], *ln.coords[-1]] for ln in frame.geometry], dtype=float)
    keys = np.round(np.vstack([ends[:, :2], ends[:, 2:]]) / snap_m).astype(np.int64)
    _, node_of = np.unique(keys, axis=0, return_inverse=True)
    node_of = node_of.ravel()
    n = len(frame)
    records = []
    for k, row in frame.iterrows():
        tags = {str(c): str(v) for c, v in row.items() if c != "geometry" and pd.notna(v) and str(v) != ""}
        highway = tags.get("highway") or tags.get("road_class") or "residential"
        cls = HIGHWAY_CLASSES.get(highway, HIGHWAY_CLASSES["residential"])
        if "modes" in tags:
            cls = RoadClass(tags["modes"], cls.speed_kmh, cls.lanes, cls.capacity_per_lane_veh_h)
        if "free_speed_kmh" in tags and "maxspeed" not in tags:
            tags["maxspeed"] = tags["free_speed_kmh"]
        coords = list(row.geometry.coords)
        refs = (
            [int(node_of[k])]
            + [-(k * 1_000_000 + j + 1) for j in range(1, len(coords) - 1)]
            + [int(node_of[k + n])]
        )
        records.append(
            {"refs": refs, "coords": coords, "way_id": int(k), "tags": tags, "highway": highway, "cls": cls}
        )
    nodes, links = _build(records, source_crs=target, crs=target, name=path.name)
    if "capacity_veh_h" in frame.columns:
        cap = pd.to_numeric(frame["capacity_veh_h"], errors="coerce").to_numpy()
        given = cap[links["osm_way_id"].to_numpy()]
        links["capacity_veh_h"] = np.where(np.isfinite(given), given, links["capacity_veh_h"].to_numpy())
    return nodes, links
