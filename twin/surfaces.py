"""Planar envelope surfaces as flat arrays, and their measurements.

Every reader (CityJSON, CityGML, footprints, IFC) produces a
:class:`SurfaceBatch`: all polygons of all buildings in CSR layout, so that
areas, normals, orientations and volumes are computed once, vectorised, for
any source.  A polygon is a list of rings (the first one outer, the others
holes); a ring is a run of 3D vertices (closing vertex optional).

Conventions
-----------
* Coordinates are metres in the model CRS; z is height.
* ``azimuth_deg`` is the compass direction the outward normal faces, clockwise
  from grid north (0 = N, 90 = E, 180 = S, 270 = W); NaN for horizontal faces.
* ``tilt_deg`` is the angle between the outward normal and the zenith:
  0 = flat roof facing up, 90 = vertical wall, 180 = floor facing down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import shapely

__all__ = [
    "KINDS",
    "SEMANTIC_KIND",
    "SurfaceBatch",
    "SurfaceCollector",
    "surface_metrics",
    "classify_by_tilt",
]

#: Envelope surface kinds of the ``surfaces`` table.
KINDS = ("wall", "roof", "floor", "window", "door")

#: CityJSON/CityGML semantic surface types -> (kind, boundary).  ``None``
#: marks surfaces that are not part of the thermal envelope.
SEMANTIC_KIND: dict[str, tuple[str, str] | None] = {
    "WallSurface": ("wall", "exterior"),
    "RoofSurface": ("roof", "exterior"),
    "GroundSurface": ("floor", "ground"),
    "OuterCeilingSurface": ("roof", "exterior"),
    "OuterFloorSurface": ("floor", "exterior"),
    "Window": ("window", "exterior"),
    "Door": ("door", "exterior"),
    "ClosureSurface": None,
    "InteriorWallSurface": None,
    "CeilingSurface": None,
    "FloorSurface": None,
}


@dataclass
class SurfaceBatch:
    """All envelope polygons of a set of buildings, in flat (CSR) arrays.

    Attributes
    ----------
    vertices : (m, 3) float64
        Every ring vertex, metres, model CRS.
    ring_offsets : (r + 1,) int64
        Ring ``i`` is ``vertices[ring_offsets[i]:ring_offsets[i + 1]]``.
    surface_ring_offsets : (s + 1,) int64
        Surface ``j`` owns rings ``surface_ring_offsets[j]:surface_ring_offsets[j + 1]``;
        the first is the outer ring.
    building_index : (s,) int64
        Row of the building each surface belongs to.
    kind : (s,) str
        One of :data:`KINDS`.
    boundary : (s,) str
        ``exterior`` or ``ground`` as read; party walls are found later.
    """

    vertices: npt.NDArray[np.float64]
    ring_offsets: npt.NDArray[np.int64]
    surface_ring_offsets: npt.NDArray[np.int64]
    building_index: npt.NDArray[np.int64]
    kind: npt.NDArray[np.str_]
    boundary: npt.NDArray[np.str_]

    @property
    def n_surfaces(self) -> int:
        """Number of surfaces."""
        return len(self.building_index)

    def polygons(self) -> npt.NDArray[np.object_]:
        """Return the surfaces as shapely 3D polygons, shape (s,)."""
        if self.n_surfaces == 0:
            return np.empty(0, dtype=object)
        rings = _closed_ring_geometry(self.vertices, self.ring_offsets)
        return shapely.from_ragged_array(
            shapely.GeometryType.POLYGON,
            rings[0],
            (rings[1], self.surface_ring_offsets),
        )

    def surface_vertex_ranges(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Start and stop vertex of each surface (all its rings), shape (s,) each."""
        starts = self.ring_offsets[self.surface_ring_offsets[:-1]]
        stops = self.ring_offsets[self.surface_ring_offsets[1:]]
        return starts, stops

    @staticmethod
    def concat(batches: Sequence[SurfaceBatch], building_offsets: Sequence[int]) -> SurfaceBatch:
        """Concatenate batches; ``building_offsets[i]`` is added to batch i's building rows."""
        if not batches:
            return SurfaceCollector().to_batch()
        vert_shift = np.cumsum([0] + [len(b.vertices) for b in batches])
        ring_shift = np.cumsum([0] + [len(b.ring_offsets) - 1 for b in batches])
        return SurfaceBatch(
            vertices=np.concatenate([b.vertices for b in batches]),
            ring_offsets=np.concatenate(
                [b.ring_offsets[:-1] + s for b, s in zip(batches, vert_shift, strict=False)]
                + [np.array([vert_shift[-1]], dtype=np.int64)]
            ).astype(np.int64),
            surface_ring_offsets=np.concatenate(
                [b.surface_ring_offsets[:-1] + s for b, s in zip(batches, ring_shift, strict=False)]
                + [np.array([ring_shift[-1]], dtype=np.int64)]
            ).astype(np.int64),
            building_index=np.concatenate(
                [b.building_index + o for b, o in zip(batches, building_offsets, strict=True)]
            ).astype(np.int64),
            kind=np.concatenate([b.kind for b in batches]),
            boundary=np.concatenate([b.boundary for b in batches]),
        )


def _closed_ring_geometry(
    vertices: npt.NDArray[np.float64], ring_offsets: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Coordinates and offsets of the rings with each ring explicitly closed."""
    starts = ring_offsets[:-1]
    stops = ring_offsets[1:]
    first = vertices[starts]
    last = vertices[stops - 1]
    open_ring = np.any(first != last, axis=1)
    lengths = stops - starts + open_ring
    new_offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    out = np.zeros((new_offsets[-1], 3), dtype=np.float64)
    # position of each original vertex in the output
    ring_of_vertex = np.repeat(np.arange(len(starts)), stops - starts)
    pos = np.arange(len(vertices)) - starts[ring_of_vertex] + new_offsets[:-1][ring_of_vertex]
    out[pos] = vertices
    closing = np.flatnonzero(open_ring)
    out[new_offsets[1:][closing] - 1] = first[closing]
    # shapely needs at least 4 coordinates per ring; degenerate rings are padded
    short = np.flatnonzero(lengths < 4)
    if len(short):
        return _pad_short_rings(out, new_offsets, short)
    return out, new_offsets


def _pad_short_rings(
    coords: npt.NDArray[np.float64], offsets: npt.NDArray[np.int64], short: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    pieces = []
    new_offsets = [0]
    short_set = set(short.tolist())
    for i in range(len(offsets) - 1):
        ring = coords[offsets[i] : offsets[i + 1]]
        if i in short_set:
            ring = np.vstack([ring] + [ring[-1:]] * (4 - len(ring))) if len(ring) else np.zeros((4, 3))
        pieces.append(ring)
        new_offsets.append(new_offsets[-1] + len(ring))
    return np.vstack(pieces), np.asarray(new_offsets, dtype=np.int64)


@dataclass
class SurfaceCollector:
    """Accumulate polygons surface by surface, then freeze them into a batch.

    Examples
    --------
    >>> c = SurfaceCollector()
    >>> c.add(0, "roof", "exterior", [[(0, 0, 3), (4, 0, 3), (4, 5, 3), (0, 5, 3)]])
    >>> round(float(surface_metrics(c.to_batch())["area_m2"][0]), 6)
    20.0
    """

    _vertices: list[npt.NDArray[np.float64]] = field(default_factory=list)
    _ring_lengths: list[int] = field(default_factory=list)
    _rings_per_surface: list[int] = field(default_factory=list)
    _building_index: list[int] = field(default_factory=list)
    _kind: list[str] = field(default_factory=list)
    _boundary: list[str] = field(default_factory=list)

    def add(
        self,
        building_index: int,
        kind: str,
        boundary: str,
        rings: Sequence[npt.ArrayLike],
    ) -> None:
        """Add one polygon (outer ring first, then holes) of building row ``building_index``."""
        n_rings = 0
        for ring in rings:
            arr = np.asarray(ring, dtype=np.float64).reshape(-1, 3)
            if len(arr) >= 2 and np.array_equal(arr[0], arr[-1]):
                arr = arr[:-1]
            if len(arr) < 3:
                continue
            self._vertices.append(arr)
            self._ring_lengths.append(len(arr))
            n_rings += 1
        if n_rings == 0:
            return
        self._rings_per_surface.append(n_rings)
        self._building_index.append(building_index)
        self._kind.append(kind)
        self._boundary.append(boundary)

    def __len__(self) -> int:
        return len(self._building_index)

    def to_batch(self) -> SurfaceBatch:
        """Freeze the collected polygons into a :class:`SurfaceBatch`."""
        ring_offsets = np.zeros(len(self._ring_lengths) + 1, dtype=np.int64)
        np.cumsum(self._ring_lengths, out=ring_offsets[1:])
        surf_offsets = np.zeros(len(self._rings_per_surface) + 1, dtype=np.int64)
        np.cumsum(self._rings_per_surface, out=surf_offsets[1:])
        vertices = (
            np.ascontiguousarray(np.vstack(self._vertices))
            if self._vertices
            else np.zeros((0, 3), dtype=np.float64)
        )
        return SurfaceBatch(
            vertices=vertices,
            ring_offsets=ring_offsets,
            surface_ring_offsets=surf_offsets,
            building_index=np.asarray(self._building_index, dtype=np.int64),
            kind=np.asarray(self._kind, dtype="<U6"),
            boundary=np.asarray(self._boundary, dtype="<U8"),
        )


def _ring_vector_areas(
    vertices: npt.NDArray[np.float64], ring_offsets: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Newell vector area of each ring, shape (r, 3): normal times area, m2."""
    n = len(vertices)
    if n == 0:
        return np.zeros((0, 3))
    starts = ring_offsets[:-1]
    stops = ring_offsets[1:]
    nxt = np.arange(1, n + 1, dtype=np.int64)
    nxt[stops - 1] = starts
    # centre each ring on its first vertex for numerical stability with
    # large projected coordinates (Lambert 72 eastings ~ 150 km)
    ring_of_vertex = np.repeat(np.arange(len(starts)), stops - starts)
    local = vertices - vertices[starts][ring_of_vertex]
    cross = np.cross(local, local[nxt])
    return 0.5 * np.add.reduceat(cross, starts, axis=0)


def surface_metrics(batch: SurfaceBatch, ground_z_m: npt.ArrayLike | None = None) -> dict:
    """Area, unit normal, azimuth, tilt and z-moment of every surface.

    Parameters
    ----------
    batch
        The surfaces.
    ground_z_m : (n_buildings,) float64, optional
        Reference height per building row for ``z_moment_m3``.  Defaults to 0.

    Returns
    -------
    dict of arrays, each of shape (s,)
        ``area_m2`` (outer ring minus holes), ``normal`` (s, 3) unit outward
        normal as oriented in the source, ``azimuth_deg``, ``tilt_deg``, and
        ``z_moment_m3`` = the integral of (z - ground_z) n_z dA over the
        surface (its contribution to the enclosed volume by the divergence
        theorem).
    """
    s = batch.n_surfaces
    if s == 0:
        empty = np.zeros(0)
        return {
            "area_m2": empty,
            "normal": np.zeros((0, 3)),
            "azimuth_deg": empty,
            "tilt_deg": empty,
            "z_moment_m3": empty,
        }
    ring_vec = _ring_vector_areas(batch.vertices, batch.ring_offsets)
    ring_area = np.linalg.norm(ring_vec, axis=1)
    outer = batch.surface_ring_offsets[:-1]
    outer_vec = ring_vec[outer]
    outer_area = ring_area[outer]
    hole_area = np.add.reduceat(ring_area, outer) - outer_area
    area = np.maximum(outer_area - hole_area, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        normal = outer_vec / outer_area[:, None]
    normal[~np.isfinite(normal)] = 0.0
    horizontal = np.hypot(normal[:, 0], normal[:, 1])
    azimuth = np.degrees(np.arctan2(normal[:, 0], normal[:, 1])) % 360.0
    azimuth[horizontal < 1e-6] = np.nan
    tilt = np.degrees(np.arccos(np.clip(normal[:, 2], -1.0, 1.0)))

    # z-moment via a fan triangulation of each ring (holes carry their own,
    # opposite orientation, so they subtract naturally)
    z0_b = (
        np.zeros(int(batch.building_index.max()) + 1)
        if ground_z_m is None
        else np.asarray(ground_z_m, dtype=np.float64)
    )
    n = len(batch.vertices)
    starts = batch.ring_offsets[:-1]
    stops = batch.ring_offsets[1:]
    ring_of_vertex = np.repeat(np.arange(len(starts)), stops - starts)
    nxt = np.arange(1, n + 1, dtype=np.int64)
    nxt[stops - 1] = starts
    surface_of_ring = np.repeat(np.arange(s), np.diff(batch.surface_ring_offsets))
    z0 = z0_b[batch.building_index][surface_of_ring][ring_of_vertex]
    a = batch.vertices[starts][ring_of_vertex]
    b = batch.vertices
    c = batch.vertices[nxt]
    area_z = 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    zbar = (a[:, 2] + b[:, 2] + c[:, 2]) / 3.0 - z0
    ring_moment = np.add.reduceat(area_z * zbar, starts)
    z_moment = np.add.reduceat(ring_moment, outer)
    return {
        "area_m2": area,
        "normal": normal,
        "azimuth_deg": azimuth,
        "tilt_deg": tilt,
        "z_moment_m3": z_moment,
    }


def classify_by_tilt(
    tilt_deg: npt.NDArray[np.float64],
    z_min_m: npt.NDArray[np.float64],
    building_ground_z_m: npt.NDArray[np.float64],
    *,
    vertical_tilt_deg: float,
    ground_tolerance_m: float = 0.5,
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.str_]]:
    """Kind and boundary for surfaces without semantics, from their orientation.

    Upward-facing surfaces are roofs, near-vertical ones walls, downward ones
    floors: on the ground (``boundary='ground'``) when they lie within
    ``ground_tolerance_m`` of the building's lowest point, otherwise exterior
    (an overhang's underside).
    """
    kind = np.full(len(tilt_deg), "wall", dtype="<U6")
    boundary = np.full(len(tilt_deg), "exterior", dtype="<U8")
    up = tilt_deg < 90.0 - vertical_tilt_deg
    down = tilt_deg > 90.0 + vertical_tilt_deg
    kind[up] = "roof"
    kind[down] = "floor"
    on_ground = down & (z_min_m - building_ground_z_m <= ground_tolerance_m)
    boundary[on_ground] = "ground"
    return kind, boundary
