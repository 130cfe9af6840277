"""The city's soil model: a voxel grid of materials below the ground surface, with a sealing mask.

:class:`SoilModel` is what :attr:`twin.model.CityModel.soil` holds.  The grid is regular in the
model CRS (EPSG:31370 by default): ``origin`` is the south-west corner ``(x0, y0)`` [m] of cell
``(j=0, i=0)``, cells are ``dx × dy`` in plan, ``i`` runs east, ``j`` north; layers are ``dz`` thick,
``k = 0`` is the layer just below the ground surface and depth increases with ``k``.  The surface
elevation ``surface_z_m`` [m, TAW where known] is kept per column for reference; the flow problem is
written in depth below the local surface (terrain slope is not represented: each column's top is at
depth 0).

Materials are filled from **horizon surfaces**: an ordered list of ``(material, bottom_depth_m)``
pairs, each ``bottom_depth_m`` a scalar or a ``(ny, nx)`` raster of the depth of the horizon's base;
a cell takes the first horizon whose base lies below its centre (stratigraphic order, sheet §5).
Horizon rasters may come from borehole interpolation (kriging, done outside this package; not
implemented here); by default uniform layers are used.

The **sealing mask** marks surface columns that take no infiltration: building footprints, and
road surfaces taken as each link's centre line buffered by ``lanes × 3.25 m / 2`` on each side
(3.25 m per lane; links carry no width).  A column is sealed when its centre lies inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from simulation.soil.materials import Material, carsel_parrish
from twin.errors import ScenarioValidationError

__all__ = [
    "LANE_WIDTH_M",
    "GreenRoof",
    "SoilModel",
    "brussels_default_horizons",
    "build_soil_model",
    "sealing_mask",
    "cells_in_polygon",
]

#: Width of one traffic lane used to turn links into sealed road surfaces [m].
LANE_WIDTH_M = 3.25


@dataclass(frozen=True)
class GreenRoof:
    """A green roof: a 1D substrate column on the roofs of some buildings (not on the ground grid).

    Attributes
    ----------
    building_ids : tuple of str
    area_m2 : float
        Planted roof area (footprint area of the buildings).
    substrate : Material
    thickness_m : float
        Substrate thickness (0.08–0.3 m typical, sheet §2.3).
    """

    building_ids: tuple[str, ...]
    area_m2: float
    substrate: Material
    thickness_m: float = 0.12


@dataclass(frozen=True)
class SoilModel:
    """Voxel soil model of the city (see the module docstring for the conventions).

    Attributes
    ----------
    origin : (float, float)
        South-west corner of the grid [m] in ``crs``.
    spacing : (float, float, float)
        ``(dx, dy, dz)`` [m].
    shape : (int, int, int)
        ``(nz, ny, nx)``.
    material : (nz, ny, nx) int32
        Index into ``materials`` per cell.
    materials : tuple of Material
    sealed : (ny, nx) bool
        True where the surface takes no infiltration.
    surface_z_m : (ny, nx) float64
        Ground elevation per column [m].
    crs : str
        CRS of ``origin`` (the model's CRS).
    green_roofs : tuple of GreenRoof
    """

    origin: tuple[float, float]
    spacing: tuple[float, float, float]
    shape: tuple[int, int, int]
    material: NDArray[np.int32]
    materials: tuple[Material, ...]
    sealed: NDArray[np.bool_]
    surface_z_m: NDArray[np.float64]
    crs: str = "EPSG:31370"
    green_roofs: tuple[GreenRoof, ...] = field(default=())

    def __post_init__(self) -> None:
        nz, ny, nx = self.shape
        if self.material.shape != (nz, ny, nx):
            raise ScenarioValidationError(
                f"soil.material has shape {self.material.shape}, expected {self.shape}."
            )
        if self.sealed.shape != (ny, nx) or self.surface_z_m.shape != (ny, nx):
            raise ScenarioValidationError(f"soil.sealed and soil.surface_z_m must have shape {(ny, nx)}.")
        if self.material.min() < 0 or self.material.max() >= len(self.materials):
            raise ScenarioValidationError("soil.material holds indices outside the material table.")

    @property
    def cell_centres_xy(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(x, y)`` of the column centres, each ``(ny, nx)`` [m]."""
        nz, ny, nx = self.shape
        dx, dy, _ = self.spacing
        x = self.origin[0] + (np.arange(nx) + 0.5) * dx
        y = self.origin[1] + (np.arange(ny) + 0.5) * dy
        return np.meshgrid(x, y)

    @property
    def depth_m(self) -> NDArray[np.float64]:
        """Depth of the layer centres below the surface [m], ``(nz,)``."""
        return (np.arange(self.shape[0]) + 0.5) * self.spacing[2]

    @property
    def sealed_fraction(self) -> float:
        """Share of sealed surface columns."""
        return float(self.sealed.mean())

    def with_sealed(self, sealed: NDArray[np.bool_]) -> SoilModel:
        """A copy with another sealing mask (the mask is editable this way)."""
        return replace(self, sealed=np.asarray(sealed, dtype=bool).copy())

    def __repr__(self) -> str:
        nz, ny, nx = self.shape
        return (
            f"SoilModel({nz}×{ny}×{nx} cells of {self.spacing} m at {self.origin} {self.crs}, "
            f"{len(self.materials)} materials, {100 * self.sealed_fraction:.0f} % sealed)"
        )


def brussels_default_horizons() -> list[tuple[Material, float]]:
    """Default Brussels profile (sheet §4.2): loess silt loam to 1.5 m over Brussels sands.

    Returns ``[(silt loam, 0.3), (silt loam Ks ÷ 2 subsoil, 1.5), (sand, inf)]``; the loess layers
    (n = 1.41) use the modified van Genuchten model with an air-entry head of −0.02 m (sheet §1).
    """
    silt = replace(carsel_parrish("silt loam"), air_entry_m=-0.02)
    return [
        (replace(silt, name="loess topsoil"), 0.3),
        (silt.scaled(ks_factor=0.5, name="loess subsoil"), 1.5),
        (replace(carsel_parrish("sand"), name="Brussels sands"), float("inf")),
    ]


def _horizon_fill(horizons, shape, dz) -> tuple[NDArray[np.int32], tuple[Material, ...]]:
    nz, ny, nx = shape
    depth = (np.arange(nz) + 0.5) * dz
    mats: list[Material] = []
    mat = np.full(shape, -1, dtype=np.int32)
    for material, bottom in horizons:
        if material not in mats:
            mats.append(material)
        q = mats.index(material)
        base = np.broadcast_to(np.asarray(bottom, dtype=np.float64), (ny, nx))
        take = (mat < 0) & (depth[:, None, None] < base[None, :, :])
        mat[take] = q
    if (mat < 0).any():
        raise ScenarioValidationError(
            "horizons: some cells lie below the deepest horizon base; make the last base float('inf')."
        )
    return mat, tuple(mats)


def _road_surfaces(links, lane_width_m: float) -> BaseGeometry | None:
    if links is None or len(links) == 0:
        return None
    lanes = links["lanes"].fillna(1).clip(lower=1).to_numpy(dtype=float) if "lanes" in links else 1.0
    return shapely.union_all(
        shapely.buffer(links.geometry.to_numpy(), lanes * lane_width_m / 2.0, cap_style="flat")
    )


def sealing_mask(
    model,
    origin: tuple[float, float],
    spacing_xy: tuple[float, float],
    shape_yx: tuple[int, int],
    *,
    lane_width_m: float = LANE_WIDTH_M,
) -> NDArray[np.bool_]:
    """Sealed columns from building footprints and road surfaces (links buffered by lanes × width).

    Parameters
    ----------
    model : CityModel
        Uses ``buildings.geometry`` and ``links.geometry``/``lanes`` (model CRS).
    origin, spacing_xy, shape_yx
        Grid south-west corner [m], ``(dx, dy)`` [m], ``(ny, nx)``.
    lane_width_m
        Road width per lane [m] (3.25).

    Returns
    -------
    (ny, nx) bool
    """
    ny, nx = shape_yx
    x = origin[0] + (np.arange(nx) + 0.5) * spacing_xy[0]
    y = origin[1] + (np.arange(ny) + 0.5) * spacing_xy[1]
    xx, yy = np.meshgrid(x, y)
    mask = np.zeros((ny, nx), dtype=bool)
    parts = []
    if len(model.buildings):
        parts.append(shapely.union_all(model.buildings.geometry.to_numpy()))
    roads = _road_surfaces(model.links, lane_width_m)
    if roads is not None:
        parts.append(roads)
    for geom in parts:
        shapely.prepare(geom)
        mask |= shapely.contains_xy(geom, xx, yy)
    return mask


def cells_in_polygon(soil: SoilModel, polygon: BaseGeometry) -> NDArray[np.bool_]:
    """``(ny, nx)`` mask of the columns whose centre lies in ``polygon`` (model CRS)."""
    xx, yy = soil.cell_centres_xy
    shapely.prepare(polygon)
    return shapely.contains_xy(polygon, xx, yy)


def build_soil_model(
    model,
    *,
    spacing_m: tuple[float, float, float] = (5.0, 5.0, 0.25),
    depth_m: float = 5.0,
    horizons: Sequence[tuple[Material, float | NDArray[np.float64]]] | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    margin_m: float = 10.0,
    lane_width_m: float = LANE_WIDTH_M,
) -> SoilModel:
    """Build the voxel soil model of a city model.

    The grid covers ``bounds`` (``xmin, ymin, xmax, ymax`` in the model CRS; default: the extent of
    buildings and links plus ``margin_m``), ``depth_m`` deep, filled from ``horizons``
    (default :func:`brussels_default_horizons`), with the sealing mask of :func:`sealing_mask`.
    The surface elevation is the buildings' mean ``ground_z_m`` (flat), or 0 without buildings.

    Parameters
    ----------
    model : CityModel
    spacing_m : (dx, dy, dz), m
    depth_m : float, m
    horizons : list of (Material, base depth [m] scalar or (ny, nx) raster)
    bounds : (xmin, ymin, xmax, ymax), m, optional
    margin_m : float, m
    lane_width_m : float, m

    Returns
    -------
    SoilModel

    Raises
    ------
    ScenarioValidationError
        When the model is empty and no bounds are given, or the spacing is not positive.

    Examples
    --------
    >>> from twin.model import CityModel
    >>> soil = build_soil_model(CityModel(), bounds=(0, 0, 50, 20), spacing_m=(5, 5, 0.5), depth_m=2)
    >>> soil.shape, soil.sealed_fraction
    ((4, 4, 10), 0.0)
    """
    if min(spacing_m) <= 0 or depth_m <= 0:
        raise ScenarioValidationError(f"spacing_m and depth_m must be > 0, got {spacing_m}, {depth_m}.")
    if bounds is None:
        geoms = [g for g in (model.buildings.geometry, model.links.geometry) if len(g)]
        if not geoms:
            raise ScenarioValidationError(
                "The model has no buildings or links; pass bounds=(xmin, ymin, xmax, ymax)."
            )
        b = np.array([g.total_bounds for g in geoms])
        bounds = (
            b[:, 0].min() - margin_m,
            b[:, 1].min() - margin_m,
            b[:, 2].max() + margin_m,
            b[:, 3].max() + margin_m,
        )
    dx, dy, dz = (float(s) for s in spacing_m)
    nx = max(1, int(np.ceil((bounds[2] - bounds[0]) / dx)))
    ny = max(1, int(np.ceil((bounds[3] - bounds[1]) / dy)))
    nz = max(1, int(round(depth_m / dz)))
    shape = (nz, ny, nx)
    mat, mats = _horizon_fill(horizons or brussels_default_horizons(), shape, dz)
    origin = (float(bounds[0]), float(bounds[1]))
    sealed = sealing_mask(model, origin, (dx, dy), (ny, nx), lane_width_m=lane_width_m)
    ground = model.buildings["ground_z_m"].mean() if len(model.buildings) else 0.0
    ground = 0.0 if not np.isfinite(ground) else float(ground)
    return SoilModel(
        origin=origin,
        spacing=(dx, dy, dz),
        shape=shape,
        material=mat,
        materials=mats,
        sealed=sealed,
        surface_z_m=np.full((ny, nx), ground),
        crs=model.crs.to_string(),
    )
