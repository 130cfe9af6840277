"""Deterministic sample district: Brussels perimeter blocks, streets and a park.

:func:`generate_district` lays out a grid of closed perimeter blocks (the
Brussels *îlots*) in Belgian Lambert 72 (EPSG:31370) around (149 000,
168 500), between Saint-Gilles and Ixelles, and fills them with LoD2
buildings:

* most blocks are lined with terraced houses (plot widths 5-8 m, depths
  9-14 m, 2-4 storeys) whose party walls coincide exactly: neighbours use the
  very same edge coordinates, so their walls lie in one plane, and their
  heights differ, so some gables stick out above the neighbour.  Block
  corners hold one corner building whose two inner edges are the edges of the
  first houses of both streets, so footprints never overlap.  Gardens fill
  the block interior.
* some blocks hold detached and semi-detached houses set back from the
  street, apartment blocks, office blocks, or a school on one side; houses on
  the axis streets have shops on the ground floor (``mixed``) or are shops
  (``retail``).  One block is a park without buildings.
* streets run between the blocks (12 m street space, 16 m on the axes) as a
  directed graph with both directions of each street.

Geometry is built as arrays: every footprint is a rectangle given by four
corners in counter-clockwise order whose first edge is the street facade, and
each building is one of two LoD2 templates (gable roof with gable-end wall
pentagons, or flat roof).  The whole grid is rotated by
:data:`GRID_ROTATION_DEG` so that facades do not face the cardinal directions
exactly.

Everything random comes from one ``np.random.default_rng(seed)``: the same
``n_buildings`` and ``seed`` give identical districts.

Sources and assumptions
-----------------------
* Construction periods (:data:`PERIODS`): approximate shares of the
  Brussels-Capital building stock by construction period (Statbel
  building-stock statistics), rounded; they are not exact figures.
* Residents per dwelling: :data:`HOUSEHOLD_SIZE` = 2.1, about the average
  household size in the Brussels-Capital Region.
* Link capacities (:data:`LANE_CAPACITY_VEH_H`), floor area per job and per
  dwelling, storey heights and roof pitches are planning assumptions for a
  synthetic test district, not measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import CRS

from twin.config import DEFAULT_CRS
from twin.envelope import BuildingRecord
from twin.errors import UnknownEntityError
from twin.surfaces import SurfaceBatch, SurfaceCollector

__all__ = [
    "BLOCK_KINDS",
    "CENTRE_XY",
    "GRID_ROTATION_DEG",
    "HOUSEHOLD_SIZE",
    "LANE_CAPACITY_VEH_H",
    "PERIODS",
    "SERVICES",
    "TYPOLOGIES",
    "USES",
    "District",
    "Streets",
    "generate_district",
    "ground_height_m",
]

#: Centre of the district, Lambert 72 metres (Saint-Gilles / Ixelles).
CENTRE_XY = (149_000.0, 168_500.0)

#: Rotation of the street grid, degrees counter-clockwise from the Lambert x axis.
GRID_ROTATION_DEG = 17.0

#: Construction periods: (label, first year, last year, approximate share of
#: the Brussels-Capital building stock, Statbel building-stock statistics).
PERIODS: tuple[tuple[str, int, int, float], ...] = (
    ("<1919", 1850, 1918, 0.30),
    ("1919-1945", 1919, 1945, 0.25),
    ("1946-1970", 1946, 1970, 0.22),
    ("1971-1990", 1971, 1990, 0.11),
    ("1991-2010", 1991, 2010, 0.08),
    (">2010", 2011, 2023, 0.04),
)

#: Average household size of the Brussels-Capital Region, persons per dwelling.
HOUSEHOLD_SIZE = 2.1

#: Capacity per lane and direction, vehicles per hour (planning assumption):
#: local 30 km/h streets and 50 km/h axes.
LANE_CAPACITY_VEH_H = {"local": 600.0, "axis": 900.0}

#: Building typologies, in the order of their internal codes.
TYPOLOGIES = ("terraced", "semi_detached", "detached", "apartment_block", "office_block", "school")
#: Building uses.
USES = ("residential", "office", "school", "retail", "mixed")
#: Services a building may offer ("" = none).  ``park`` is part of the
#: vocabulary for activity tables; the park itself is :attr:`District.park`
#: and holds no building.
SERVICES = ("", "school", "shop", "doctor", "supermarket", "park")
#: Kinds of block slots in the grid.
BLOCK_KINDS = ("terraced", "detached", "apartment", "office", "school", "park")

_T_TERRACED, _T_SEMI, _T_DETACHED, _T_APARTMENT, _T_OFFICE, _T_SCHOOL = range(6)
_U_RESIDENTIAL, _U_OFFICE, _U_SCHOOL, _U_RETAIL, _U_MIXED = range(5)
_S_NONE, _S_SCHOOL, _S_SHOP, _S_DOCTOR, _S_SUPERMARKET = range(5)

#: Street space between blocks, metres (building line to building line).
_STREET_WIDTH_M = {"local": 12.0, "axis": 16.0}
#: Block sizes drawn per grid column / row, metres (inside the street space).
_BLOCK_WIDTH_M = (70.0, 130.0)
_BLOCK_HEIGHT_M = (60.0, 110.0)
#: Expected buildings per block, only used to shape the grid (columns).
_BUILDINGS_PER_BLOCK = 40.0
#: The first block slots (row-major, park excluded) cycle through these kinds so
#: that even small districts show every kind; later slots are drawn at random.
_FIRST_SLOTS = (
    "terraced",
    "school",
    "terraced",
    "apartment",
    "detached",
    "office",
    "terraced",
    "terraced",
)
_SLOT_P = {"terraced": 0.74, "detached": 0.08, "apartment": 0.08, "office": 0.06, "school": 0.04}


@dataclass(frozen=True)
class _SideSpec:
    """How one side of a perimeter block is divided (internal)."""

    typology: int
    width_m: tuple[float, float] | None  # None: one plot spanning the side
    depth_m: tuple[float, float]


_SIDES = {
    "terraced": _SideSpec(_T_TERRACED, (5.0, 8.0), (9.0, 14.0)),
    "apartment": _SideSpec(_T_APARTMENT, (16.0, 30.0), (12.0, 16.0)),
    "office": _SideSpec(_T_OFFICE, (20.0, 40.0), (14.0, 20.0)),
    "school": _SideSpec(_T_SCHOOL, None, (12.0, 15.0)),
}
#: Side kinds of each perimeter block kind, in the order S, E, N, W.
_BLOCK_SIDES = {
    "terraced": ("terraced",) * 4,
    "apartment": ("apartment",) * 4,
    "office": ("office", "apartment", "office", "apartment"),
    "school": ("school", "terraced", "terraced", "terraced"),
}


@dataclass
class Streets:
    """The street network as plain tables (no GeoDataFrame).

    Attributes
    ----------
    nodes : pandas.DataFrame
        ``node_id`` (int64), ``x``, ``y`` (Lambert 72 metres), ``z_m`` (ground
        height, metres).
    links : pandas.DataFrame
        One row per directed link: ``link_id`` (int64), ``from_node``,
        ``to_node``, ``name``, ``road_class`` (``local`` or ``axis``),
        ``length_m``, ``free_speed_kmh`` (30 local, 50 axis), ``lanes`` (per
        direction: 1 local, 2 axis), ``capacity_veh_h`` (lanes x
        :data:`LANE_CAPACITY_VEH_H`), ``modes`` (``"car,bike,walk"``), BPR
        ``alpha`` = 0.15 and ``beta`` = 4.0.
    geometry : (n_links,) object array of shapely.LineString
        Centreline of each link, from its from-node to its to-node.
    """

    nodes: pd.DataFrame
    links: pd.DataFrame
    geometry: npt.NDArray[np.object_]


@dataclass
class District:
    """A generated sample district (all coordinates EPSG:31370, metres).

    Attributes
    ----------
    batch
        LoD2 envelope surfaces of every building: ground floor (facing down),
        walls (facing out) and roofs (facing up); ``batch.building_index`` is
        the row in ``records``.
    records
        One :class:`~twin.envelope.BuildingRecord` per building
        (``building_id`` like ``BXL-000123``).
    footprints
        Footprint rectangles; the exterior ring starts with the street facade
        and runs counter-clockwise.
    heights_m : (n,) float64
        Height of the highest point (ridge or flat roof) above ``ground_z_m``.
    ground_z_m : (n,) float64
        Ground height of each building, metres.
    eave_heights_m : (n,) float64
        Height of the eaves (top of the walls) above ground.
    storey_heights_m : (n,) float64
        Floor-to-floor height.
    roof_shape : (n,) str
        ``gable`` or ``flat``.
    residents, jobs : (n,) int64
        People living and working in each building.
    service
        Service offered per building, one of :data:`SERVICES`.
    streets
        The street network.
    park
        The park block (no buildings).
    crs
        EPSG:31370.
    """

    batch: SurfaceBatch
    records: list[BuildingRecord]
    footprints: list[shapely.Polygon]
    heights_m: npt.NDArray[np.float64]
    ground_z_m: npt.NDArray[np.float64]
    eave_heights_m: npt.NDArray[np.float64]
    storey_heights_m: npt.NDArray[np.float64]
    roof_shape: npt.NDArray[np.str_]
    residents: npt.NDArray[np.int64]
    jobs: npt.NDArray[np.int64]
    service: list[str]
    streets: Streets
    park: shapely.Polygon
    crs: CRS = field(default_factory=lambda: CRS.from_user_input(DEFAULT_CRS))

    @property
    def n_buildings(self) -> int:
        """Number of buildings."""
        return len(self.records)

    @property
    def building_ids(self) -> list[str]:
        """``building_id`` of every building, in row order."""
        return [r.building_id for r in self.records]

    def index_of(self, building_id: str) -> int:
        """Row of ``building_id``.

        Raises
        ------
        twin.errors.UnknownEntityError
            When no building has that id.
        """
        for i, rec in enumerate(self.records):
            if rec.building_id == building_id:
                return i
        raise UnknownEntityError(
            f"No building {building_id!r} in this district of {self.n_buildings} buildings; "
            f"ids run from {self.records[0].building_id!r} to {self.records[-1].building_id!r}."
            if self.records
            else f"No building {building_id!r}: the district is empty."
        )


def ground_height_m(x: npt.ArrayLike, y: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Ground height of the synthetic terrain at Lambert 72 points, metres.

    A gentle slope rising to the east-south-east (about 0.9 % near the centre),
    flattened with ``tanh`` so that it stays between 60 and 100 m however large
    the district.

    Examples
    --------
    >>> float(ground_height_m(149_000.0, 168_500.0))
    80.0
    """
    dx = np.asarray(x, dtype=np.float64) - CENTRE_XY[0]
    dy = np.asarray(y, dtype=np.float64) - CENTRE_XY[1]
    return 80.0 + 20.0 * np.tanh((0.008 * dx - 0.004 * dy) / 20.0)


def generate_district(n_buildings: int = 400, seed: int = 0) -> District:
    """Generate a deterministic sample district of exactly ``n_buildings`` buildings.

    Parameters
    ----------
    n_buildings
        Number of buildings, >= 1.  Blocks are filled row by row; the last block
        may be left partly built.
    seed
        Seed of ``np.random.default_rng``; the same ``n_buildings`` and ``seed``
        give an identical district.

    Returns
    -------
    District
        Surfaces, records, footprints, heights, activities and streets in
        EPSG:31370.

    Notes
    -----
    Construction years are drawn per building from :data:`PERIODS` (approximate
    shares of the Brussels-Capital stock by construction period, Statbel);
    apartment and office blocks draw from the periods after 1945 only.
    Dwellings: one per terraced or detached house of up to two residential
    floors, one to n for taller houses, one per 85 m2 of residential floor
    (80 % of gross) in corner and apartment buildings.  Residents are Poisson
    draws with mean :data:`HOUSEHOLD_SIZE` per dwelling.  Jobs (planning
    assumptions): one per 25 m2 of office floor, one per 100 m2 of school
    floor, one per 30 m2 of shop floor (15 m2 for supermarkets), at least one
    per ground-floor shop and two per doctor's practice.

    Examples
    --------
    >>> d = generate_district(60, seed=1)
    >>> d.n_buildings, d.records[0].building_id, d.crs.to_epsg()
    (60, 'BXL-000000', 31370)
    """
    n = int(n_buildings)
    if n < 1:
        raise ValueError(f"n_buildings must be at least 1, got {n_buildings!r}.")
    rng = np.random.default_rng(seed)
    layout = _layout(rng, n)
    attrs = _attributes(rng, layout)
    corners_xy = layout.corners  # (n, 4, 2) Lambert 72
    batch = _lod2_batch(corners_xy, attrs["ground_z_m"], attrs["eave_m"], attrs["height_m"], attrs["gable"])
    footprints = list(shapely.polygons(corners_xy))
    typ = attrs["typology"]
    use = attrs["use"]
    records = [
        BuildingRecord(
            building_id=_building_id(i),
            year_built=y,
            use=USES[u],
            typology=TYPOLOGIES[t],
            n_storeys=s,
            name="",
        )
        for i, (y, u, t, s) in enumerate(
            zip(
                attrs["year"].tolist(),
                use.tolist(),
                typ.tolist(),
                attrs["n_storeys"].tolist(),
                strict=True,
            )
        )
    ]
    return District(
        batch=batch,
        records=records,
        footprints=footprints,
        heights_m=attrs["height_m"],
        ground_z_m=attrs["ground_z_m"],
        eave_heights_m=attrs["eave_m"],
        storey_heights_m=attrs["storey_m"],
        roof_shape=np.where(attrs["gable"], "gable", "flat").astype("<U5"),
        residents=attrs["residents"],
        jobs=attrs["jobs"],
        service=[SERVICES[s] for s in attrs["service"].tolist()],
        streets=layout.streets,
        park=layout.park,
        crs=CRS.from_user_input(DEFAULT_CRS),
    )


def _building_id(i: int) -> str:
    return f"BXL-{i:06d}"


# ----------------------------------------------------------------------------
# layout: blocks, plots, streets
# ----------------------------------------------------------------------------


@dataclass
class _Layout:
    corners: npt.NDArray[np.float64]  # (n, 4, 2) Lambert 72
    typology: npt.NDArray[np.int64]  # (n,)
    is_corner: npt.NDArray[np.bool_]  # (n,)
    faces_axis: npt.NDArray[np.bool_]  # (n,)
    streets: Streets
    park: shapely.Polygon


def _side_corners(
    side: str,
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    line0: npt.ArrayLike,
    line1: npt.ArrayLike,
) -> npt.NDArray[np.float64]:
    """Footprint corners (k, 4, 2) of plots ``a..b`` along one block side.

    ``line0`` is the street-facing building line, ``line1`` the rear line.  The
    corners run counter-clockwise starting with the street facade.  Only the
    given numbers are copied into place (no arithmetic), so plots that share a
    boundary share its coordinates bit for bit.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    l0 = np.broadcast_to(np.asarray(line0, dtype=np.float64), a.shape)
    l1 = np.broadcast_to(np.asarray(line1, dtype=np.float64), a.shape)
    if side == "S":
        xs, ys = (a, b, b, a), (l0, l0, l1, l1)
    elif side == "E":
        xs, ys = (l0, l0, l1, l1), (a, b, b, a)
    elif side == "N":
        xs, ys = (b, a, a, b), (l0, l0, l1, l1)
    else:  # "W"
        xs, ys = (l0, l0, l1, l1), (b, a, a, b)
    return np.stack([np.stack(xs, axis=1), np.stack(ys, axis=1)], axis=2)


def _split(
    rng: np.random.Generator, start: float, stop: float, width: tuple[float, float] | None
) -> npt.NDArray[np.float64]:
    """Plot boundaries from ``start`` to ``stop`` (both exact), widths about ``width``."""
    length = stop - start
    if width is None or length <= width[0]:
        return np.array([start, stop])
    k = max(1, int(round(length / (0.5 * (width[0] + width[1])))))
    w = rng.uniform(width[0], width[1], k)
    pos = start + length * np.cumsum(w[:-1]) / w.sum()
    return np.concatenate([[start], np.round(pos, 2), [stop]])


def _perimeter_block(
    rng: np.random.Generator,
    box: tuple[float, float, float, float],
    sides: tuple[str, str, str, str],
    axis: tuple[bool, bool, bool, bool],
) -> tuple[list[npt.NDArray[np.float64]], list[npt.NDArray[np.int64]], list, list]:
    """Plots of a closed perimeter block; corner plots belong to the side they start."""
    x0, y0, x1, y1 = box
    specs = [_SIDES[s] for s in sides]
    d = [round(float(rng.uniform(*sp.depth_m)), 2) for sp in specs]  # S, E, N, W depths
    xa, xb = x0 + d[3], x1 - d[1]
    ya, yb = y0 + d[0], y1 - d[2]
    # (side, corner a..b, street line, rear line, regular a..b, reverse order)
    geometry = (
        ("S", (x0, xa), y0, ya, (xa, xb), False),
        ("E", (y0, ya), x1, xb, (ya, yb), False),
        ("N", (xb, x1), y1, yb, (xa, xb), True),
        ("W", (yb, y1), x0, xa, (ya, yb), True),
    )
    corners, typology, is_corner, faces_axis = [], [], [], []
    for k, (side, corner, line0, line1, regular, reverse) in enumerate(geometry):
        spec = specs[k]
        bounds = _split(rng, regular[0], regular[1], spec.width_m)
        a = np.concatenate([[corner[0]], bounds[:-1][::-1] if reverse else bounds[:-1]])
        b = np.concatenate([[corner[1]], bounds[1:][::-1] if reverse else bounds[1:]])
        corners.append(_side_corners(side, a, b, line0, line1))
        typology.append(np.full(len(a), spec.typology, dtype=np.int64))
        flag = np.zeros(len(a), dtype=bool)
        flag[0] = True
        is_corner.append(flag)
        faces_axis.append(np.full(len(a), axis[k], dtype=bool))
    return corners, typology, is_corner, faces_axis


def _detached_block(
    rng: np.random.Generator, box: tuple[float, float, float, float]
) -> tuple[list[npt.NDArray[np.float64]], list[npt.NDArray[np.int64]], list, list]:
    """Detached and semi-detached houses set back along the S and N streets."""
    x0, y0, x1, y1 = box
    corners, typology = [], []
    for side in ("S", "N"):
        bounds = _split(rng, x0, x1, (14.0, 22.0))
        k = len(bounds) - 1
        mid = np.round(0.5 * (bounds[:-1] + bounds[1:]), 2)
        room = bounds[1:] - bounds[:-1] - 4.0  # 2 m side gardens at least
        semi = rng.random(k) < 0.35
        depth = np.round(rng.uniform(8.0, 11.0, k), 2)
        setback = np.round(rng.uniform(3.0, 6.0, k), 2)
        half = np.round(
            np.minimum(
                np.where(semi, rng.uniform(6.5, 8.5, k), 0.5 * rng.uniform(8.0, 11.0, k)),
                0.5 * room,
            ),
            2,
        )
        street = (y0 + setback) if side == "S" else (y1 - setback)
        rear = (street + depth) if side == "S" else (street - depth)
        # detached: one house mid-half..mid+half; semi: mid-half..mid and mid..mid+half
        left_a, left_b = mid - half, np.where(semi, mid, mid + half)
        parts_a = [left_a, mid[semi]]
        parts_b = [left_b, (mid + half)[semi]]
        parts_l0 = [street, street[semi]]
        parts_l1 = [rear, rear[semi]]
        order_key = [np.arange(k) * 2, np.flatnonzero(semi) * 2 + 1]
        a = np.concatenate(parts_a)
        b = np.concatenate(parts_b)
        l0 = np.concatenate(parts_l0)
        l1 = np.concatenate(parts_l1)
        order = np.argsort(np.concatenate(order_key), kind="stable")
        if side == "N":
            order = order[::-1]
        typ = np.concatenate([np.where(semi, _T_SEMI, _T_DETACHED), np.full(semi.sum(), _T_SEMI)])
        corners.append(_side_corners(side, a[order], b[order], l0[order], l1[order]))
        typology.append(typ[order].astype(np.int64))
    is_corner = [np.zeros(len(t), dtype=bool) for t in typology]
    faces_axis = [np.zeros(len(t), dtype=bool) for t in typology]
    return corners, typology, is_corner, faces_axis


def _street_lines(sizes: npt.NDArray[np.float64], axis: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Centreline positions of the streets around consecutive blocks of given sizes."""
    width = np.where(axis, _STREET_WIDTH_M["axis"], _STREET_WIDTH_M["local"])
    pos = np.zeros(len(sizes) + 1)
    np.cumsum(0.5 * width[:-1] + sizes + 0.5 * width[1:], out=pos[1:])
    return pos


def _is_axis(k: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Every fourth street line (2, 6, 10, ...) is an axis."""
    return np.asarray(k) % 4 == 2


def _layout(rng: np.random.Generator, n: int) -> _Layout:
    ncols = max(1, math.ceil(math.sqrt(n / _BUILDINGS_PER_BLOCK)))
    est_rows = max(1, math.ceil(n / _BUILDINGS_PER_BLOCK / ncols))
    park_slot = (1 if est_rows > 1 else 0, ncols // 2)
    col_axis = _is_axis(np.arange(ncols + 1))
    widths = np.round(rng.uniform(*_BLOCK_WIDTH_M, ncols), 1)
    cx = _street_lines(widths, col_axis)
    half_col = np.where(col_axis, _STREET_WIDTH_M["axis"], _STREET_WIDTH_M["local"]) / 2
    mean_row = 0.5 * sum(_BLOCK_HEIGHT_M) + _STREET_WIDTH_M["local"]
    origin = (0.5 * cx[-1], 0.5 * est_rows * mean_row)

    corners, typology, is_corner, faces_axis = [], [], [], []
    cy = [0.0]
    count = 0
    slot = 0
    park_box = None
    row = 0
    while count < n:
        height = round(float(rng.uniform(*_BLOCK_HEIGHT_M)), 1)
        below, above = _is_axis(row), _is_axis(row + 1)
        half_below = _STREET_WIDTH_M["axis" if below else "local"] / 2
        half_above = _STREET_WIDTH_M["axis" if above else "local"] / 2
        cy.append(cy[-1] + half_below + height + half_above)
        y0, y1 = cy[-2] + half_below, cy[-1] - half_above
        for col in range(ncols):
            if count >= n:
                break
            box = (float(cx[col] + half_col[col]), y0, float(cx[col + 1] - half_col[col + 1]), y1)
            if (row, col) == park_slot:
                park_box = box
                continue
            kind = (
                _FIRST_SLOTS[slot]
                if slot < len(_FIRST_SLOTS)
                else str(rng.choice(list(_SLOT_P), p=list(_SLOT_P.values())))
            )
            slot += 1
            if kind == "detached":
                parts = _detached_block(rng, box)
            else:
                axis = (bool(below), bool(col_axis[col + 1]), bool(above), bool(col_axis[col]))
                parts = _perimeter_block(rng, box, _BLOCK_SIDES[kind], axis)
            for acc, new in zip((corners, typology, is_corner, faces_axis), parts, strict=True):
                acc.extend(new)
            count += sum(len(t) for t in parts[1])
        row += 1
    if park_box is None:  # the rows stopped before the park's slot: put it in the next row
        height = round(float(rng.uniform(*_BLOCK_HEIGHT_M)), 1)
        below, above = _is_axis(row), _is_axis(row + 1)
        half_below = _STREET_WIDTH_M["axis" if below else "local"] / 2
        half_above = _STREET_WIDTH_M["axis" if above else "local"] / 2
        cy.append(cy[-1] + half_below + height + half_above)
        col = park_slot[1]
        park_box = (
            float(cx[col] + half_col[col]),
            cy[-2] + half_below,
            float(cx[col + 1] - half_col[col + 1]),
            cy[-1] - half_above,
        )

    local = np.concatenate(corners)[:n]
    to_lambert = _Rotation(origin)
    park_local = np.array(
        [
            [park_box[0], park_box[1]],
            [park_box[2], park_box[1]],
            [park_box[2], park_box[3]],
            [park_box[0], park_box[3]],
        ]
    )
    return _Layout(
        corners=to_lambert(local),
        typology=np.concatenate(typology)[:n],
        is_corner=np.concatenate(is_corner)[:n],
        faces_axis=np.concatenate(faces_axis)[:n],
        streets=_streets(cx, np.asarray(cy), to_lambert),
        park=shapely.Polygon(to_lambert(park_local)),
    )


class _Rotation:
    """Grid frame -> Lambert 72: rotate about the grid's centre, move it to CENTRE_XY."""

    def __init__(self, origin: tuple[float, float]) -> None:
        self.origin = origin
        t = math.radians(GRID_ROTATION_DEG)
        self.cos, self.sin = math.cos(t), math.sin(t)

    def __call__(self, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x = xy[..., 0] - self.origin[0]
        y = xy[..., 1] - self.origin[1]
        out = np.zeros(xy.shape, dtype=np.float64)
        out[..., 0] = CENTRE_XY[0] + (self.cos * x - self.sin * y)
        out[..., 1] = CENTRE_XY[1] + (self.sin * x + self.cos * y)
        return out


def _streets(cx: npt.NDArray[np.float64], cy: npt.NDArray[np.float64], to_lambert: _Rotation) -> Streets:
    """Directed street graph on the grid of centrelines (both directions)."""
    nc, nr = len(cx), len(cy)
    gx, gy = np.meshgrid(cx, cy)  # (nr, nc)
    xy = to_lambert(np.stack([gx, gy], axis=-1)).reshape(-1, 2)
    node_id = np.arange(nr * nc, dtype=np.int64)
    nodes = pd.DataFrame(
        {
            "node_id": node_id,
            "x": xy[:, 0],
            "y": xy[:, 1],
            "z_m": np.round(ground_height_m(xy[:, 0], xy[:, 1]), 2),
        }
    )
    ids = node_id.reshape(nr, nc)
    # street segments: along rows (horizontal line i) and along columns (vertical line j)
    h_from, h_to = ids[:, :-1].ravel(), ids[:, 1:].ravel()
    h_line = np.repeat(np.arange(nr), nc - 1)
    v_from, v_to = ids[:-1, :].ravel(), ids[1:, :].ravel()
    v_line = np.tile(np.arange(nc), nr - 1)
    seg_from = np.concatenate([h_from, v_from])
    seg_to = np.concatenate([h_to, v_to])
    seg_axis = np.concatenate([_is_axis(h_line), _is_axis(v_line)])
    seg_name = [
        f"Chaussée H{i} / H{i}-steenweg" if _is_axis(i) else f"Rue H{i} / H{i}-straat"
        for i in h_line.tolist()
    ] + [f"Avenue V{j} / V{j}-laan" if _is_axis(j) else f"Rue V{j} / V{j}-straat" for j in v_line.tolist()]
    # both directions
    frm = np.concatenate([seg_from, seg_to])
    to = np.concatenate([seg_to, seg_from])
    is_axis = np.concatenate([seg_axis, seg_axis])
    names = seg_name + seg_name
    p, q = xy[frm], xy[to]
    length = np.hypot(q[:, 0] - p[:, 0], q[:, 1] - p[:, 1])
    lanes = np.where(is_axis, 2, 1).astype(np.int64)
    per_lane = np.where(is_axis, LANE_CAPACITY_VEH_H["axis"], LANE_CAPACITY_VEH_H["local"])
    links = pd.DataFrame(
        {
            "link_id": np.arange(len(frm), dtype=np.int64),
            "from_node": frm.astype(np.int64),
            "to_node": to.astype(np.int64),
            "name": names,
            "road_class": np.where(is_axis, "axis", "local").astype(object),
            "length_m": length,
            "free_speed_kmh": np.where(is_axis, 50.0, 30.0),
            "lanes": lanes,
            "capacity_veh_h": lanes * per_lane,
            "modes": "car,bike,walk",
            "alpha": 0.15,
            "beta": 4.0,
        }
    )
    geometry = shapely.linestrings(np.stack([p, q], axis=1))
    return Streets(nodes=nodes, links=links, geometry=np.asarray(geometry, dtype=object))


# ----------------------------------------------------------------------------
# attributes (vectorised over buildings)
# ----------------------------------------------------------------------------


def _attributes(rng: np.random.Generator, layout: _Layout) -> dict[str, npt.NDArray]:
    n = len(layout.typology)
    typ = layout.typology
    corner = layout.is_corner
    axis = layout.faces_axis
    c = layout.corners
    front = np.hypot(*(c[:, 1] - c[:, 0]).T)
    depth = np.hypot(*(c[:, 3] - c[:, 0]).T)
    area = front * depth

    # construction year: stock shares; apartment and office blocks after 1945
    shares = np.array([p[3] for p in PERIODS])
    late = shares.copy()
    late[:2] = 0.0
    late /= late.sum()
    u = rng.random(n)
    modern = (typ == _T_APARTMENT) | (typ == _T_OFFICE)
    period = np.where(
        modern,
        np.searchsorted(np.cumsum(late), u, side="right"),
        np.searchsorted(np.cumsum(shares), u, side="right"),
    ).clip(0, len(PERIODS) - 1)
    first = np.array([p[1] for p in PERIODS])[period]
    last = np.array([p[2] for p in PERIODS])[period]
    year = first + (rng.random(n) * (last - first + 1)).astype(np.int64)

    # storeys by typology
    storeys = np.zeros(n, dtype=np.int64)
    draws = {
        _T_TERRACED: rng.choice([2, 3, 4], size=n, p=[0.3, 0.45, 0.25]),
        _T_SEMI: rng.choice([2, 3], size=n, p=[0.7, 0.3]),
        _T_DETACHED: rng.choice([2, 3], size=n, p=[0.6, 0.4]),
        _T_APARTMENT: rng.integers(5, 10, size=n),
        _T_OFFICE: rng.integers(4, 11, size=n),
        _T_SCHOOL: rng.integers(2, 5, size=n),
    }
    for t, d in draws.items():
        storeys[typ == t] = d[typ == t]
    corner_terraced = corner & (typ == _T_TERRACED)
    storeys[corner_terraced] = np.maximum(storeys[corner_terraced], 3)

    storey_m = np.select(
        [typ == _T_SCHOOL, typ == _T_OFFICE, year < 1919, year < 1946],
        [3.6, 3.5, 3.3, 3.1],
        2.9,
    )
    eave = np.round(storeys * storey_m, 2)
    # gable roofs on most houses; corners and large blocks are flat
    u_roof = rng.random(n)
    house = (typ == _T_TERRACED) | (typ == _T_SEMI) | (typ == _T_DETACHED)
    p_gable = np.where(typ == _T_TERRACED, np.where(year < 1971, 0.9, 0.5), 0.9)
    gable = house & ~corner & (u_roof < p_gable)
    pitch = np.radians(rng.uniform(30.0, 42.0, n))
    rise = np.where(gable, np.round(0.5 * depth * np.tan(pitch), 2), 0.0)
    height = eave + rise
    centre = c.mean(axis=1)
    ground = np.round(ground_height_m(centre[:, 0], centre[:, 1]), 2)

    # use and service
    use = np.full(n, _U_RESIDENTIAL, dtype=np.int64)
    service = np.full(n, _S_NONE, dtype=np.int64)
    u_use = rng.random(n)
    terr = typ == _T_TERRACED
    retail = terr & ((axis & ~corner & (u_use < 0.10)) | (axis & corner & (u_use < 0.5)))
    shop = (
        terr
        & ~retail
        & ((axis & (u_use < 0.55)) | (~axis & corner & (u_use < 0.35)) | (~axis & (u_use < 0.03)))
    )
    doctor = terr & ~retail & ~shop & (u_use > 0.985)
    apt_shop = (typ == _T_APARTMENT) & axis & (u_use < 0.3)
    use[retail] = _U_RETAIL
    use[shop | doctor | apt_shop] = _U_MIXED
    use[typ == _T_OFFICE] = _U_OFFICE
    use[typ == _T_SCHOOL] = _U_SCHOOL
    supermarket = retail & corner
    service[retail] = _S_SHOP
    service[supermarket] = _S_SUPERMARKET
    service[shop | apt_shop] = _S_SHOP
    service[doctor] = _S_DOCTOR
    service[typ == _T_SCHOOL] = _S_SCHOOL

    # dwellings, residents, jobs
    res_floors = np.where(use == _U_MIXED, storeys - 1, storeys)
    res_floors = np.where((use == _U_RESIDENTIAL) | (use == _U_MIXED), res_floors, 0)
    house_dw = np.where(res_floors <= 2, 1, rng.integers(1, np.maximum(res_floors, 2) + 1))
    big = corner | (typ == _T_APARTMENT)
    flat_dw = np.maximum(1, np.floor(area * res_floors * 0.8 / 85.0)).astype(np.int64)
    dwellings = np.where(res_floors > 0, np.where(big, flat_dw, house_dw), 0)
    residents = rng.poisson(HOUSEHOLD_SIZE * dwellings).astype(np.int64)
    gfa = area * storeys
    jobs = np.zeros(n, dtype=np.int64)
    jobs = np.where(use == _U_OFFICE, np.round(gfa / 25.0), jobs)
    jobs = np.where(use == _U_SCHOOL, np.maximum(5, np.round(gfa / 100.0)), jobs)
    jobs = np.where(service == _S_SHOP, np.maximum(1, np.round(area / 30.0)), jobs)
    jobs = np.where(service == _S_SUPERMARKET, np.maximum(10, np.round(area / 15.0)), jobs)
    jobs = np.where(service == _S_DOCTOR, 2, jobs)
    return {
        "typology": typ,
        "year": year.astype(np.int64),
        "n_storeys": storeys,
        "storey_m": storey_m.astype(np.float64),
        "eave_m": eave.astype(np.float64),
        "height_m": np.round(height, 2).astype(np.float64),
        "ground_z_m": ground.astype(np.float64),
        "gable": gable,
        "use": use,
        "service": service,
        "residents": residents,
        "jobs": jobs.astype(np.int64),
    }


# ----------------------------------------------------------------------------
# LoD2 surfaces from footprint corners (vectorised templates)
# ----------------------------------------------------------------------------

# Point table per building: 0-3 footprint corners at ground, 4-7 at the eaves,
# 8 ridge above the middle of edge 3-0, 9 ridge above the middle of edge 1-2.
# Each template lists (kind, boundary, point refs) with rings oriented outward.
_GABLE = (
    ("floor", "ground", (3, 2, 1, 0)),
    ("wall", "exterior", (0, 1, 5, 4)),
    ("wall", "exterior", (1, 2, 6, 9, 5)),
    ("wall", "exterior", (2, 3, 7, 6)),
    ("wall", "exterior", (3, 0, 4, 8, 7)),
    ("roof", "exterior", (4, 5, 9, 8)),
    ("roof", "exterior", (6, 7, 8, 9)),
)
_FLAT = (
    ("floor", "ground", (3, 2, 1, 0)),
    ("wall", "exterior", (0, 1, 5, 4)),
    ("wall", "exterior", (1, 2, 6, 5)),
    ("wall", "exterior", (2, 3, 7, 6)),
    ("wall", "exterior", (3, 0, 4, 7)),
    ("roof", "exterior", (4, 5, 6, 7)),
)


def _points(
    corners: npt.NDArray[np.float64],
    ground: npt.NDArray[np.float64],
    eave: npt.NDArray[np.float64],
    top: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Point table (n, 10, 3) of the templates (see ``_GABLE``)."""
    n = len(corners)
    pts = np.zeros((n, 10, 3))
    pts[:, 0:4, :2] = corners
    pts[:, 0:4, 2] = ground[:, None]
    pts[:, 4:8, :2] = corners
    pts[:, 4:8, 2] = (ground + eave)[:, None]
    pts[:, 8, :2] = 0.5 * (corners[:, 3] + corners[:, 0])
    pts[:, 9, :2] = 0.5 * (corners[:, 1] + corners[:, 2])
    pts[:, 8:10, 2] = (ground + top)[:, None]
    return pts


def _lod2_batch(
    corners: npt.NDArray[np.float64],
    ground: npt.NDArray[np.float64],
    eave: npt.NDArray[np.float64],
    top: npt.NDArray[np.float64],
    gable: npt.NDArray[np.bool_],
) -> SurfaceBatch:
    """Assemble the surfaces of every building, in building order, as one batch.

    The result is what adding the template polygons building by building to a
    :class:`~twin.surfaces.SurfaceCollector` gives (the tests check this), but
    built with array operations.
    """
    n = len(corners)
    if n == 0:
        return SurfaceCollector().to_batch()
    pts = _points(corners, ground, eave, top)
    templates = (_FLAT, _GABLE)
    which = gable.astype(np.int64)
    n_vert = np.array([sum(len(s[2]) for s in t) for t in templates])
    n_surf = np.array([len(t) for t in templates])
    v_count = n_vert[which]
    s_count = n_surf[which]
    v_start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(v_count, out=v_start[1:])
    s_start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(s_count, out=s_start[1:])
    n_s = int(s_start[-1])

    vertices = np.zeros((int(v_start[-1]), 3))
    ring_len = np.zeros(n_s, dtype=np.int64)
    kind = np.zeros(n_s, dtype="<U6")
    boundary = np.zeros(n_s, dtype="<U8")
    for t, template in enumerate(templates):
        rows = np.flatnonzero(which == t)
        if len(rows) == 0:
            continue
        refs = np.concatenate([s[2] for s in template])
        dest_v = v_start[rows][:, None] + np.arange(len(refs))
        vertices[dest_v.ravel()] = pts[rows][:, refs, :].reshape(-1, 3)
        dest_s = (s_start[rows][:, None] + np.arange(len(template))).ravel()
        ring_len[dest_s] = np.tile([len(s[2]) for s in template], len(rows))
        kind[dest_s] = np.tile([s[0] for s in template], len(rows))
        boundary[dest_s] = np.tile([s[1] for s in template], len(rows))
    ring_offsets = np.zeros(n_s + 1, dtype=np.int64)
    np.cumsum(ring_len, out=ring_offsets[1:])
    return SurfaceBatch(
        vertices=np.ascontiguousarray(vertices),
        ring_offsets=ring_offsets,
        surface_ring_offsets=np.arange(n_s + 1, dtype=np.int64),
        building_index=np.repeat(np.arange(n, dtype=np.int64), s_count),
        kind=kind,
        boundary=boundary,
    )
