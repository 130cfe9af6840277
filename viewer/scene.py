"""A renderer-independent scene: building meshes, links, ground and soil layers with their colours.

:func:`build_scene` gathers what every output of the viewer needs (PyVista
images, glTF, the HTML page) from a :class:`~twin.model.CityModel` and result
tables: triangle meshes per building (the model's lazy ``meshes``, from its
envelope surfaces, or footprints extruded to ``height_m`` where a building has
none), the value of the colouring column per building and its
:class:`~viewer.colors.ColorScale`, link polylines coloured and sized by a link
column, and optional ground (accessibility) and soil layers.

Coordinates are **local**: model CRS minus :attr:`Scene.origin` (the
south-west-bottom corner of the buildings, metres), so that float32 GPU
buffers keep centimetre precision; z is up.

Examples
--------
>>> import tempfile, pathlib
>>> from data import generate_district, write_district
>>> from bim_ingest.cityjson import read_cityjson
>>> p = write_district(generate_district(4, seed=0), pathlib.Path(tempfile.mkdtemp()))["cityjson"]
>>> scene = build_scene(read_cityjson(p), color_by="height_m")
>>> len(scene.buildings.ids), scene.buildings.colors.shape, scene.buildings.scale.units
(4, (4, 3), 'm')
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from viewer.colors import ColorScale
from viewer.tables import building_values, link_values, numeric_columns

if TYPE_CHECKING:
    from twin.model import CityModel

__all__ = [
    "BuildingLayer",
    "LinkLayer",
    "GroundLayer",
    "SoilLayer",
    "Scene",
    "Terrain",
    "build_scene",
    "terrain_of",
    "ground_layer",
    "soil_layer",
]


@dataclass
class BuildingLayer:
    """All buildings as one triangle soup with a building index per face.

    Attributes
    ----------
    ids : (n,) object
        ``building_id`` per building, model order.
    vertices : (v, 3) float64
        Local coordinates [m].
    faces : (f, 3) int64
    face_building : (f,) int64
        Index into ``ids`` of each face.
    anchor : (n, 3) float64
        A point on each roof (footprint representative point at the building top), local [m]:
        where a click or a pixel probe lands on the building.
    values : pandas.Series
        Colouring values (index ``ids``), or None.
    colors : (n, 3) uint8
    scale : ColorScale or None
    attributes : pandas.DataFrame
        Model attributes joined with results, index ``building_id`` (for pick / glTF extras).
    """

    ids: npt.NDArray[np.object_]
    vertices: npt.NDArray[np.float64]
    faces: npt.NDArray[np.int64]
    face_building: npt.NDArray[np.int64]
    anchor: npt.NDArray[np.float64]
    values: pd.Series | None
    colors: npt.NDArray[np.uint8]
    scale: ColorScale | None
    attributes: pd.DataFrame


@dataclass
class LinkLayer:
    """Network links as polylines, coloured and sized by one column.

    ``points`` holds all vertices (local [m], z slightly above the ground); link ``k``
    uses ``points[offsets[k]:offsets[k + 1]]``.
    """

    ids: npt.NDArray[np.int64]
    points: npt.NDArray[np.float64]
    offsets: npt.NDArray[np.int64]
    values: pd.Series
    colors: npt.NDArray[np.uint8]
    widths_m: npt.NDArray[np.float64]
    scale: ColorScale


@dataclass
class Terrain:
    """Ground surface under the scene: heights on a regular grid (local [m]).

    Interpolated linearly between the buildings' ``ground_z_m`` (nearest value outside their
    hull), so buildings stand on it and links and the ground layer are draped over it.
    """

    x: npt.NDArray[np.float64]  # (nx,)
    y: npt.NDArray[np.float64]  # (ny,)
    z: npt.NDArray[np.float64]  # (ny, nx)

    def height(self, xy: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Terrain height at local points ``(n, 2)`` (bilinear, clamped at the edges)."""
        from scipy.interpolate import RegularGridInterpolator

        p = np.atleast_2d(np.asarray(xy, float))
        px = np.clip(p[:, 0], self.x[0], self.x[-1])
        py = np.clip(p[:, 1], self.y[0], self.y[-1])
        return RegularGridInterpolator((self.y, self.x), self.z)(np.column_stack([py, px]))


@dataclass
class GroundLayer:
    """A coloured raster on the ground (e.g. accessibility minutes), cell centres in local [m]."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    z: npt.NDArray[np.float64]  # (ny, nx) height of each cell centre
    colors: npt.NDArray[np.uint8]  # (ny, nx, 3)
    mask: npt.NDArray[np.bool_]  # (ny, nx) True where a value exists
    scale: ColorScale


@dataclass
class SoilLayer:
    """Voxel values below the ground (e.g. water content θ), cell centres in local [m].

    ``centres`` has shape ``(nz, ny, nx, 3)`` and ``values`` ``(nz, ny, nx)``.
    """

    centres: npt.NDArray[np.float64]
    spacing: tuple[float, float, float]
    values: npt.NDArray[np.float64]
    scale: ColorScale
    mode: str = "slices"


@dataclass
class Scene:
    """Everything a renderer draws, in local coordinates (see the module docstring)."""

    origin: tuple[float, float, float]
    crs: str
    buildings: BuildingLayer
    links: LinkLayer | None = None
    ground: GroundLayer | None = None
    soil: SoilLayer | None = None
    title: str = ""
    columns: dict[str, ColorScale] = field(default_factory=dict)
    terrain: Terrain | None = None

    @property
    def bounds(self) -> npt.NDArray[np.float64]:
        """``[[xmin, ymin, zmin], [xmax, ymax, zmax]]`` of the buildings (local)."""
        v = self.buildings.vertices
        if len(v) == 0:
            return np.zeros((2, 3))
        return np.vstack([v.min(axis=0), v.max(axis=0)])

    @property
    def scales(self) -> list[ColorScale]:
        """Scales of the drawn layers, for the legend (buildings first)."""
        out = [
            self.buildings.scale,
            *(lay.scale if lay else None for lay in (self.links, self.ground, self.soil)),
        ]
        return [s for s in out if s is not None]


def _extruded(footprint: shapely.Geometry, z0: float, height: float) -> tuple[np.ndarray, np.ndarray]:
    """Prism of a footprint (fallback mesh of a building without surfaces)."""
    import trimesh

    polys = list(footprint.geoms) if footprint.geom_type == "MultiPolygon" else [footprint]
    vs, fs, off = [], [], 0
    for p in polys:
        m = trimesh.creation.extrude_polygon(shapely.force_2d(p), max(height, 0.1))
        vs.append(m.vertices + [0.0, 0.0, z0])
        fs.append(m.faces + off)
        off += len(m.vertices)
    return np.vstack(vs), np.vstack(fs)


def _building_geometry(model, origin: np.ndarray):
    b = model.buildings
    meshes = model.meshes if len(model.surfaces) else pd.Series(dtype=object)
    vs, fs, fb, off = [], [], [], 0
    for k, row in enumerate(b.itertuples(index=False)):
        mesh = meshes.get(row.building_id)
        if mesh is not None and len(mesh.faces):
            v, f = np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int64)
        else:
            z0 = float(row.ground_z_m) if pd.notna(row.ground_z_m) else 0.0
            h = float(row.height_m) if pd.notna(row.height_m) else 3.0
            v, f = _extruded(row.geometry, z0, h)
        vs.append(v - origin)
        fs.append(f + off)
        fb.append(np.full(len(f), k, dtype=np.int64))
        off += len(v)
    if not vs:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros(0, np.int64)
    return np.vstack(vs), np.vstack(fs), np.concatenate(fb)


def _roof_z(
    xy: np.ndarray, vertices: np.ndarray, faces: np.ndarray, face_building: np.ndarray, n: int
) -> np.ndarray:
    """Height of the highest face of each building above its point ``xy`` (a vertical ray cast)."""
    out = np.zeros(n)
    if not len(faces):
        return out
    tri = vertices[faces]  # (f, 3, 3)
    p = xy[face_building]  # (f, 2)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    ok = np.abs(det) > 1e-9  # vertical faces have no footprint
    safe = np.where(ok, det, 1.0)
    u = ((p[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (p[:, 1] - a[:, 1])) / safe
    v = ((b[:, 0] - a[:, 0]) * (p[:, 1] - a[:, 1]) - (p[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])) / safe
    inside = ok & (u >= -1e-9) & (v >= -1e-9) & (u + v <= 1 + 1e-9)
    z = a[:, 2] + u * (b[:, 2] - a[:, 2]) + v * (c[:, 2] - a[:, 2])
    best = np.full(n, -np.inf)
    np.maximum.at(best, face_building[inside], z[inside])
    top = np.full(n, -np.inf)
    np.maximum.at(top, face_building, tri[:, :, 2].max(axis=1))
    return np.where(np.isfinite(best), best, np.where(np.isfinite(top), top, 0.0))


def _origin(model) -> np.ndarray:
    b = model.buildings
    if len(b) == 0:
        if len(model.links):
            x0, y0, _, _ = model.links.total_bounds
            return np.array([np.floor(x0), np.floor(y0), 0.0])
        return np.zeros(3)
    x0, y0, _, _ = b.total_bounds
    z = pd.to_numeric(b["ground_z_m"], errors="coerce")
    z0 = float(z.min()) if z.notna().any() else 0.0
    return np.array([np.floor(x0), np.floor(y0), np.floor(z0)])


def terrain_of(
    model: CityModel, origin: npt.ArrayLike | None = None, *, pad_m: float = 40.0, cells: int = 64
) -> Terrain:
    """The terrain under the model's buildings (see :class:`Terrain`), local to ``origin``."""
    from scipy.interpolate import griddata

    origin = _origin(model) if origin is None else np.asarray(origin, float)
    b = model.buildings
    key = (id(b), id(model.links), tuple(origin), pad_m, cells)
    hit = _TERRAINS.get(key)
    if hit is not None and hit[0]() is b:
        return hit[1]
    terrain = _terrain(model, origin, pad_m, cells, griddata)
    _TERRAINS.clear()  # one entry: scenes of one model in a row (before/after, GIF frames) share it
    _TERRAINS[key] = (weakref.ref(b), terrain)
    return terrain


_TERRAINS: dict[tuple, tuple[weakref.ref, Terrain]] = {}


def _terrain(model, origin: np.ndarray, pad_m: float, cells: int, griddata) -> Terrain:
    b = model.buildings
    z = pd.to_numeric(b["ground_z_m"], errors="coerce").to_numpy(float) if len(b) else np.zeros(0)
    ok = np.isfinite(z)
    if len(b):
        x0, y0, x1, y1 = b.total_bounds
    elif len(model.links):
        x0, y0, x1, y1 = model.links.total_bounds
    else:
        x0 = y0 = x1 = y1 = 0.0
    if len(model.links):
        lx0, ly0, lx1, ly1 = model.links.total_bounds
        x0, y0, x1, y1 = min(x0, lx0), min(y0, ly0), max(x1, lx1), max(y1, ly1)
    x = np.linspace(x0 - pad_m, x1 + pad_m, cells) - origin[0]
    y = np.linspace(y0 - pad_m, y1 + pad_m, cells) - origin[1]
    gx, gy = np.meshgrid(x, y)
    if ok.sum() == 0:
        return Terrain(x, y, np.zeros_like(gx))
    pts = shapely.point_on_surface(b.geometry.to_numpy()[ok])
    xy = np.column_stack([shapely.get_x(pts), shapely.get_y(pts)]) - origin[:2]
    zz = z[ok] - origin[2]
    grid = np.full(gx.shape, np.nan)
    if ok.sum() >= 3:
        try:
            grid = griddata(xy, zz, (gx, gy), method="linear")
        except Exception:  # collinear points (a single row of buildings): nearest only
            grid = np.full(gx.shape, np.nan)
    near = griddata(xy, zz, (gx, gy), method="nearest")
    return Terrain(x, y, np.where(np.isfinite(grid), grid, near))


def _attributes(model, results: pd.DataFrame | None) -> pd.DataFrame:
    keep = [c for c in model.buildings.columns if c not in ("geometry", "attributes_json")]
    attrs = pd.DataFrame(model.buildings[keep]).set_index("building_id", drop=False)
    attrs.index = attrs.index.astype(str)
    if results is not None and len(results):
        r = results.set_index("building_id") if "building_id" in results.columns else results
        r = pd.DataFrame(r.drop(columns=[c for c in ("geometry",) if c in r.columns]))
        r.index = r.index.astype(str)
        new = [c for c in r.columns if c not in attrs.columns]
        attrs = attrs.join(r[new], how="left")
    return attrs


def build_scene(
    model: CityModel,
    results: pd.DataFrame | None = None,
    color_by: str | None = "height_m",
    *,
    scale: ColorScale | None = None,
    kind: str | None = None,
    link_results: pd.DataFrame | None = None,
    link_color_by: str | None = None,
    link_scale: ColorScale | None = None,
    ground: GroundLayer | None = None,
    soil: SoilLayer | None = None,
    title: str = "",
    building_color: str = "#d9d4cc",
) -> Scene:
    """Build the scene of a model coloured by a building column (and optionally links by a link column).

    Parameters
    ----------
    model : CityModel
    results
        Building results keyed by ``building_id`` (column or index), e.g. an energy table.
    color_by
        Building column to colour by (results first, then the model); ``None``: plain buildings.
    scale
        A fixed scale (before/after images share one); default :meth:`ColorScale.for_values`.
    kind
        Force ``"sequential"``, ``"diverging"`` or ``"categorical"``.
    link_results, link_color_by, link_scale
        Link results keyed by ``link_id`` and the column that colours and sizes the links
        (``flow_veh_h``, ``v_c``, ``d_flow`` ...); no links are drawn when ``link_color_by`` is None.
    ground, soil
        Layers made by :func:`ground_layer` and :func:`soil_layer` (same origin: pass ``origin=``).
    building_color
        Colour of buildings when ``color_by`` is None.

    Raises
    ------
    viewer.tables.UnknownColumnError
        ``color_by`` or ``link_color_by`` is not a column.
    """
    from viewer.colors import hex_to_rgb

    origin = _origin(model)
    vertices, faces, face_building = _building_geometry(model, origin)
    b = model.buildings
    ids = b["building_id"].astype(str).to_numpy(dtype=object)
    n = len(ids)
    anchor = np.zeros((n, 3))
    if n:
        pts = shapely.point_on_surface(b.geometry.to_numpy())
        anchor[:, 0] = shapely.get_x(pts) - origin[0]
        anchor[:, 1] = shapely.get_y(pts) - origin[1]
        anchor[:, 2] = _roof_z(anchor[:, :2], vertices, faces, face_building, n)
    attributes = _attributes(model, results)
    values = None
    if color_by is not None:
        values = building_values(model, results, color_by)
        scale = scale or ColorScale.for_values(color_by, values, kind=kind)
        colors = scale.rgb(values.to_numpy())
    else:
        scale = None
        colors = np.tile(np.asarray(hex_to_rgb(building_color), np.uint8), (n, 1))
    columns: dict[str, ColorScale] = {}
    for c in numeric_columns(attributes):
        if c in ("ground_z_m",) or attributes[c].isna().all():
            continue
        columns[c] = ColorScale.for_values(c, attributes[c])
    if color_by is not None and scale is not None:
        columns[color_by] = scale
    layer = BuildingLayer(ids, vertices, faces, face_building, anchor, values, colors, scale, attributes)
    terrain = terrain_of(model, origin)
    links = None
    if link_color_by is not None and len(model.links):
        links = _link_layer(model, link_results, link_color_by, link_scale, origin, terrain)
    return Scene(
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
        crs=str(model.crs.to_string()),
        buildings=layer,
        links=links,
        ground=ground,
        soil=soil,
        title=title,
        columns=columns,
        terrain=terrain,
    )


def _link_layer(
    model, results, column: str, scale: ColorScale | None, origin: np.ndarray, terrain: Terrain
) -> LinkLayer:
    values = link_values(model, results, column)
    scale = scale or ColorScale.for_values(column, values)
    x = pd.to_numeric(values, errors="coerce").to_numpy(float)
    mag = np.abs(x)
    top = np.nanmax(mag) if np.isfinite(mag).any() else 1.0
    widths = 1.0 + 7.0 * np.nan_to_num(mag / (top or 1.0))  # 1 m (no flow) to 8 m (largest)
    geoms = model.links.geometry.to_numpy()
    pts, offsets = [], [0]
    for g, w in zip(geoms, widths, strict=True):
        if g is not None and not g.is_empty:
            # directed links: draw each on the right-hand side of its street, so both directions show
            moved = shapely.offset_curve(g, -(w / 2.0 + 0.3))
            g = moved if moved.geom_type == "LineString" and not moved.is_empty else g
            g = shapely.segmentize(g, 10.0)  # follow the terrain between vertices
        xy = shapely.get_coordinates(g) - origin[:2] if g is not None else np.zeros((0, 2))
        p = np.column_stack([xy, terrain.height(xy) + 0.3 if len(xy) else np.zeros(0)])
        pts.append(p)
        offsets.append(offsets[-1] + len(p))
    return LinkLayer(
        ids=model.links["link_id"].to_numpy(np.int64),
        points=np.vstack(pts) if pts else np.zeros((0, 3)),
        offsets=np.asarray(offsets, np.int64),
        values=values,
        colors=scale.rgb(x),
        widths_m=widths,
        scale=scale,
    )


def ground_layer(
    model: CityModel,
    values: pd.Series,
    *,
    column: str | None = None,
    cell_m: float = 5.0,
    reach_m: float = 40.0,
    scale: ColorScale | None = None,
) -> GroundLayer:
    """A ground raster from per-building values (e.g. minutes to the nearest school).

    Each cell takes the value of the nearest building footprint within ``reach_m``
    (nearest-neighbour on representative points); farther cells are empty.

    Parameters
    ----------
    values
        Values indexed by ``building_id`` (see :func:`viewer.tables.building_values`).
    """
    from scipy.spatial import cKDTree

    origin = _origin(model)
    b = model.buildings
    column = column or str(values.name or "value")
    pts = shapely.point_on_surface(b.geometry.to_numpy())
    xy = np.column_stack([shapely.get_x(pts), shapely.get_y(pts)]) - origin[:2]
    v = pd.to_numeric(values.reindex(b["building_id"].astype(str).to_numpy()), errors="coerce").to_numpy(
        float
    )
    ok = np.isfinite(v)
    x0, y0, x1, y1 = (
        b.total_bounds - np.r_[origin[:2], origin[:2]] + np.r_[-reach_m, -reach_m, reach_m, reach_m]
    )
    x = np.arange(x0 + cell_m / 2, x1, cell_m)
    y = np.arange(y0 + cell_m / 2, y1, cell_m)
    gx, gy = np.meshgrid(x, y)
    scale = scale or ColorScale.for_values(column, v)
    if ok.sum() == 0:
        mask = np.zeros(gx.shape, bool)
        colors = np.zeros((*gx.shape, 3), np.uint8)
    else:
        dist, idx = cKDTree(xy[ok]).query(np.column_stack([gx.ravel(), gy.ravel()]))
        mask = (dist <= reach_m).reshape(gx.shape)
        colors = scale.rgb(v[ok][idx]).reshape(*gx.shape, 3)
    terrain = terrain_of(model, origin)
    z = terrain.height(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    return GroundLayer(x, y, z + 0.15, colors, mask, scale)


def soil_layer(
    model: CityModel,
    soil: Any,
    values: npt.ArrayLike,
    *,
    column: str = "theta",
    depth_m: npt.ArrayLike | None = None,
    scale: ColorScale | None = None,
    mode: str = "slices",
    depth_scale: float = 1.0,
) -> SoilLayer:
    """A voxel layer below the buildings from a soil grid and one value per cell.

    Parameters
    ----------
    soil
        Any object with ``origin`` (x, y of the south-west corner), ``spacing`` ``(dx, dy, dz)``,
        ``shape`` ``(nz, ny, nx)`` and ``surface_z_m`` ``(ny, nx)`` (the soil simulation's grid).
    values
        ``(nz, ny, nx)`` cell values, e.g. volumetric water content θ [m³/m³].
    depth_m
        Depth of the cell centres below the surface ``(nz,)``; default ``(k + ½)·dz``.
    mode
        ``"slices"`` (the top layer and two vertical slices through the middle), ``"voxels"`` or
        ``"iso"`` (iso-surfaces).
    depth_scale
        Vertical exaggeration of the soil below the surface (soil grids are a few metres deep
        under hundreds of metres of city; say so in the image's title when not 1).
    """
    origin = _origin(model)
    nz, ny, nx = (int(s) for s in soil.shape)
    dx, dy, dz = (float(s) for s in soil.spacing)
    vals = np.asarray(values, float).reshape(nz, ny, nx)
    depth = np.asarray(depth_m, float) if depth_m is not None else (np.arange(nz) + 0.5) * dz
    depth = depth * float(depth_scale)
    dz = dz * float(depth_scale)
    x = soil.origin[0] + (np.arange(nx) + 0.5) * dx - origin[0]
    y = soil.origin[1] + (np.arange(ny) + 0.5) * dy - origin[1]
    surface = np.asarray(soil.surface_z_m, float) - origin[2]
    centres = np.empty((nz, ny, nx, 3))
    centres[..., 0] = x[None, None, :]
    centres[..., 1] = y[None, :, None]
    centres[..., 2] = surface[None, :, :] - depth[:, None, None]
    if scale is None:
        scale = ColorScale.sequential(column, vmin=float(np.nanmin(vals)), vmax=float(np.nanmax(vals)))
        scale = ColorScale(
            column, "sequential", scale.units, scale.vmin, scale.vmax,
            ("#f6e8c3", "#c7eae5", "#5ab4ac", "#2166ac", "#053061"),
        )  # fmt: skip
    return SoilLayer(centres, (dx, dy, dz), vals, scale, mode)
