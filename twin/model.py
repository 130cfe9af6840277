"""The city model: one object, typed tables, an explicit CRS.

:class:`CityModel` holds the tables of ARCHITECTURE.md as (Geo)DataFrames
(``buildings``, ``surfaces``, ``nodes``, ``links``, ``activities``, ``soil``,
``meta``; ``meshes`` is derived lazily from ``surfaces``).  It is a thin
facade: derived things (spatial index, meshes) are cached and dropped when a
table is replaced; the work is done by functions in ``twin``.
"""

from __future__ import annotations

import copy as _copy
import html
import warnings
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from twin.config import DEFAULT_CRS, SCHEMA_VERSION, TOLERANCES, Tolerances
from twin.crs import to_crs, transform_xyz, transformation_description
from twin.errors import CRSMismatchError, DuplicateIdError, TwinWarning, UnknownEntityError
from twin.party_walls import detect_party_walls
from twin.schema import GEOMETRY_TYPES, conform, empty_table
from twin.typing import CRSLike

__all__ = ["CityModel"]

_TABLES = ("buildings", "surfaces", "nodes", "links", "activities")
OnDuplicate = Literal["error", "replace", "keep"]


class CityModel:
    """A spatial model of (part of) the city.

    Parameters
    ----------
    buildings, surfaces, nodes, links, activities
        Tables following :data:`twin.schema.TABLES`; missing ones are empty.
        Spatial tables must carry ``crs`` (or none, then ``crs`` is set).
    crs
        The model's horizontal CRS (default EPSG:31370, Belgian Lambert 72).
        Tables in another CRS are refused: reproject them first.
    soil
        Voxel soil model (filled by the soil simulation; ``None`` here).
    name
        Human-readable model name.
    sources
        Provenance of the data: one dict per source file (``path``,
        ``format``, ``sha256``, ``crs_declared``, ``transformation`` ...).

    Examples
    --------
    >>> m = CityModel(name="empty")
    >>> m.crs.to_epsg(), len(m.buildings)
    (31370, 0)
    """

    def __init__(
        self,
        *,
        buildings: gpd.GeoDataFrame | None = None,
        surfaces: gpd.GeoDataFrame | None = None,
        nodes: gpd.GeoDataFrame | None = None,
        links: gpd.GeoDataFrame | None = None,
        activities: pd.DataFrame | None = None,
        soil: Any = None,
        crs: CRSLike | None = None,
        name: str = "city model",
        sources: Sequence[dict] = (),
        created: str | None = None,
        bim: dict[str, pd.DataFrame] | None = None,
    ) -> None:
        self._crs = to_crs(crs if crs is not None else DEFAULT_CRS)
        self.name = name
        self.sources: list[dict] = [dict(s) for s in sources]
        self.created = created or datetime.now(UTC).replace(microsecond=0).isoformat()
        self.soil = soil
        #: Element-level BIM tables (``ifc_storeys``, ``ifc_spaces``,
        #: ``ifc_elements``), each keyed by ``building_id`` + IFC ``global_id``.
        self.bim: dict[str, pd.DataFrame] = {k: v.reset_index(drop=True) for k, v in (bim or {}).items()}
        self._cache: dict[str, Any] = {}
        self._tables: dict[str, pd.DataFrame] = {}
        for table, value in zip(_TABLES, (buildings, surfaces, nodes, links, activities), strict=True):
            self._set_table(table, value)

    # ------------------------------------------------------------------ tables
    def _set_table(self, name: str, value: pd.DataFrame | None) -> None:
        if value is None:
            value = empty_table(name, self._crs)
        if name in GEOMETRY_TYPES:
            if not isinstance(value, gpd.GeoDataFrame):
                raise TypeError(f"Table {name!r} must be a GeoDataFrame, got {type(value).__name__}.")
            if value.crs is None:
                value = value.set_crs(self._crs)
            elif not CRS(value.crs).equals(self._crs):
                raise CRSMismatchError(
                    f"Table {name!r} is in {CRS(value.crs).name!r} but the model is in "
                    f"{self._crs.name!r}; reproject it with .to_crs({self._crs.to_string()!r}) first."
                )
            value = gpd.GeoDataFrame(conform(name, value), geometry=value.geometry.name, crs=self._crs)
        else:
            value = conform(name, value)
        self._tables[name] = value.reset_index(drop=True)
        self._cache.clear()

    @property
    def crs(self) -> CRS:
        """The model's horizontal CRS."""
        return self._crs

    @property
    def buildings(self) -> gpd.GeoDataFrame:
        """One row per building: footprint geometry and attributes."""
        return self._tables["buildings"]

    @buildings.setter
    def buildings(self, value: gpd.GeoDataFrame) -> None:
        self._set_table("buildings", value)

    @property
    def surfaces(self) -> gpd.GeoDataFrame:
        """One row per envelope surface (3D polygon) with area, orientation, boundary."""
        return self._tables["surfaces"]

    @surfaces.setter
    def surfaces(self, value: gpd.GeoDataFrame) -> None:
        self._set_table("surfaces", value)

    @property
    def nodes(self) -> gpd.GeoDataFrame:
        """Street network nodes."""
        return self._tables["nodes"]

    @nodes.setter
    def nodes(self, value: gpd.GeoDataFrame) -> None:
        self._set_table("nodes", value)

    @property
    def links(self) -> gpd.GeoDataFrame:
        """Directed street network links."""
        return self._tables["links"]

    @links.setter
    def links(self, value: gpd.GeoDataFrame) -> None:
        self._set_table("links", value)

    @property
    def activities(self) -> pd.DataFrame:
        """Residents, jobs and services per building."""
        return self._tables["activities"]

    @activities.setter
    def activities(self, value: pd.DataFrame) -> None:
        self._set_table("activities", value)

    @property
    def meta(self) -> dict[str, Any]:
        """Model metadata: name, CRS, sources, created, schema version."""
        return {
            "name": self.name,
            "crs": self._crs.to_string(),
            "crs_name": self._crs.name,
            "created": self.created,
            "schema_version": SCHEMA_VERSION,
            "sources": self.sources,
        }

    @property
    def meshes(self) -> pd.Series:
        """Triangle meshes (trimesh) per ``building_id``, built from ``surfaces`` on first use."""
        if "meshes" not in self._cache:
            from twin.meshing import meshes_from_surfaces

            self._cache["meshes"] = meshes_from_surfaces(self.surfaces)
        return self._cache["meshes"]

    def copy(self) -> CityModel:
        """A deep copy: edits to the copy never reach this model."""
        new = CityModel.__new__(CityModel)
        new._crs = self._crs
        new.name = self.name
        new.sources = _copy.deepcopy(self.sources)
        new.created = self.created
        new.soil = _copy.deepcopy(self.soil)
        new.bim = {k: v.copy() for k, v in self.bim.items()}
        new._cache = {}
        new._tables = {k: v.copy() for k, v in self._tables.items()}
        return new

    # ------------------------------------------------------------- look-ups
    def building(self, building_id: str) -> pd.Series:
        """The row of one building.

        Raises
        ------
        UnknownEntityError
            When no building has this id.
        """
        idx = self._id_index().get(building_id)
        if idx is None:
            raise UnknownEntityError(
                f"No building with building_id={building_id!r} in model {self.name!r} "
                f"({len(self.buildings)} buildings)."
            )
        return self.buildings.iloc[idx]

    def surfaces_of(self, building_id: str) -> gpd.GeoDataFrame:
        """The envelope surfaces of one building."""
        self.building(building_id)
        return self.surfaces[self.surfaces["building_id"] == building_id]

    def _id_index(self) -> dict[str, int]:
        if "ids" not in self._cache:
            ids = self.buildings["building_id"].to_numpy()
            self._cache["ids"] = {b: i for i, b in enumerate(ids)}
        return self._cache["ids"]

    # ------------------------------------------------------- spatial queries
    def _tree(self) -> shapely.STRtree:
        if "tree" not in self._cache:
            self._cache["tree"] = shapely.STRtree(self.buildings.geometry.to_numpy())
        return self._cache["tree"]

    def query_bbox(self, xmin: float, ymin: float, xmax: float, ymax: float) -> gpd.GeoDataFrame:
        """Buildings whose footprint intersects the box (model CRS, metres)."""
        return self.query_polygon(shapely.box(xmin, ymin, xmax, ymax))

    def query_polygon(
        self, polygon: BaseGeometry, *, crs: CRSLike | None = None, predicate: str = "intersects"
    ) -> gpd.GeoDataFrame:
        """Buildings whose footprint satisfies ``predicate`` with ``polygon``.

        ``crs`` is the polygon's CRS (default: the model's); it is reprojected.
        """
        if crs is not None and not to_crs(crs).equals(self._crs):
            polygon = gpd.GeoSeries([polygon], crs=to_crs(crs)).to_crs(self._crs).iloc[0]
        idx = self._tree().query(polygon, predicate=predicate)
        return self.buildings.iloc[np.sort(idx)]

    def nearest(self, x: float, y: float, *, k: int = 1, crs: CRSLike | None = None) -> gpd.GeoDataFrame:
        """The ``k`` buildings nearest to a point, closest first, with ``distance_m``."""
        point = shapely.Point(x, y)
        if crs is not None and not to_crs(crs).equals(self._crs):
            point = gpd.GeoSeries([point], crs=to_crs(crs)).to_crs(self._crs).iloc[0]
        n = len(self.buildings)
        if n == 0:
            return self.buildings.assign(distance_m=pd.Series(dtype=float))
        k = min(k, n)
        radius = 50.0
        while True:
            idx = self._tree().query(point, predicate="dwithin", distance=radius)
            if len(idx) >= k or radius > 1e7:
                break
            radius *= 4
        if len(idx) < k:
            idx = np.arange(n)
        dist = shapely.distance(self.buildings.geometry.to_numpy()[idx], point)
        order = np.lexsort((self.buildings["building_id"].to_numpy()[idx], dist))[:k]
        return self.buildings.iloc[idx[order]].assign(distance_m=dist[order])

    # ------------------------------------------------------------ transforms
    def to_crs(self, crs: CRSLike) -> CityModel:
        """A copy of the model reprojected to ``crs`` (heights unchanged).

        The transformation used is recorded in ``sources``.
        """
        target = to_crs(crs)
        if target.equals(self._crs):
            return self.copy()
        new = self.copy()
        new._crs = target
        for name in GEOMETRY_TYPES:
            table = self._tables[name]
            geoms = table.geometry.to_numpy()
            if len(geoms):
                has_z = bool(shapely.has_z(geoms).any())
                coords = shapely.get_coordinates(geoms, include_z=has_z)
                if not has_z:
                    coords = np.column_stack([coords, np.zeros(len(coords))])
                moved = transform_xyz(coords, self._crs, target)
                geoms = shapely.set_coordinates(geoms.copy(), moved if has_z else moved[:, :2])
            moved_table = table.copy()
            moved_table[table.geometry.name] = gpd.GeoSeries(geoms, index=table.index, crs=target)
            new._tables[name] = gpd.GeoDataFrame(moved_table, geometry=table.geometry.name, crs=target)
        description = transformation_description(self._crs, target)
        for src in new.sources:
            src.setdefault("transformations", []).append(description)
        return new

    # ------------------------------------------------------------------ merge
    def merge(self, *others: CityModel, on_duplicate: OnDuplicate = "error") -> CityModel:
        """Combine models into a new one in this model's CRS.

        Other models are reprojected.  ``on_duplicate`` decides what happens
        when a ``building_id`` occurs twice: ``"error"`` raises
        :class:`DuplicateIdError`, ``"replace"`` keeps the later model's
        building, ``"keep"`` keeps the earlier one.  Party walls are not
        recomputed here: call :meth:`with_party_walls`.
        """
        models = [self] + [o.to_crs(self._crs) for o in others]
        tables = {t: [m._tables[t] for m in models] for t in _TABLES}
        buildings = pd.concat(tables["buildings"], ignore_index=True)
        dup = buildings["building_id"].duplicated(keep=False)
        if dup.any():
            ids = sorted(set(buildings.loc[dup, "building_id"]))
            if on_duplicate == "error":
                raise DuplicateIdError(
                    f"{len(ids)} building_id(s) occur in more than one source, e.g. {ids[:5]}; "
                    "pass on_duplicate='replace' or 'keep' (CLI: --on-duplicate)."
                )
            keep = "last" if on_duplicate == "replace" else "first"
            owner = np.concatenate([np.full(len(m.buildings), k) for k, m in enumerate(models)])
            kept = ~buildings["building_id"].duplicated(keep=keep).to_numpy()
            winner = dict(zip(buildings["building_id"][kept], owner[kept], strict=True))
            for t in ("surfaces", "activities"):
                tables[t] = [
                    df[df["building_id"].map(winner).fillna(k).to_numpy() == k]
                    for k, df in enumerate(tables[t])
                ]
            buildings = buildings[kept]
            warnings.warn(
                f"{len(ids)} duplicate building_id(s) resolved with on_duplicate={on_duplicate!r}, "
                f"e.g. {ids[:5]}.",
                TwinWarning,
                stacklevel=2,
            )
        merged = CityModel(
            buildings=gpd.GeoDataFrame(buildings, geometry="geometry", crs=self._crs),
            surfaces=_concat_geo(tables["surfaces"], self._crs),
            nodes=_concat_geo(tables["nodes"], self._crs),
            links=_concat_geo(tables["links"], self._crs),
            activities=pd.concat(tables["activities"], ignore_index=True),
            crs=self._crs,
            name=self.name,
            sources=[s for m in models for s in m.sources],
            bim=_merge_bim([m.bim for m in models], set(buildings["building_id"])),
        )
        return merged

    def with_party_walls(self, *, tolerances: Tolerances = TOLERANCES) -> CityModel:
        """A copy with walls shared by touching buildings marked ``boundary='party'``."""
        new = self.copy()
        new.surfaces = detect_party_walls(self.surfaces, tolerances=tolerances)
        return new

    def drop_buildings(self, building_ids: Iterable[str]) -> CityModel:
        """A copy without the given buildings (and their surfaces and activities)."""
        ids = set(building_ids)
        unknown = ids - set(self.buildings["building_id"])
        if unknown:
            raise UnknownEntityError(f"Unknown building_id(s): {sorted(unknown)[:5]}.")
        new = self.copy()
        new.buildings = self.buildings[~self.buildings["building_id"].isin(ids)]
        surf = self.surfaces[~self.surfaces["building_id"].isin(ids)].copy()
        # party walls towards removed buildings become exterior again
        gone = surf["neighbour_id"].isin(ids)
        surf.loc[gone, "boundary"] = "exterior"
        surf.loc[gone, "neighbour_id"] = ""
        new.surfaces = surf
        new.activities = self.activities[~self.activities["building_id"].isin(ids)]
        new.bim = {k: v[~v["building_id"].isin(ids)].reset_index(drop=True) for k, v in self.bim.items()}
        return new

    # ----------------------------------------------------------------- store
    def save(self, path) -> None:
        """Write the model to one GeoPackage (atomic; see :mod:`twin.store`)."""
        from twin.store import save_gpkg

        save_gpkg(self, path)

    @classmethod
    def load(cls, path) -> CityModel:
        """Read a model written by :meth:`save`."""
        from twin.store import load_gpkg

        return load_gpkg(path)

    # ------------------------------------------------------------------ info
    def summary(self) -> dict[str, Any]:
        """Counts, CRS, extent and sources as plain data (what ``twin info`` prints)."""
        b, s = self.buildings, self.surfaces
        extent = [float(v) for v in b.total_bounds] if len(b) else None
        by_boundary = s.groupby(["kind", "boundary"])["area_m2"].sum().round(2)
        return {
            "name": self.name,
            "crs": self._crs.to_string(),
            "crs_name": self._crs.name,
            "buildings": int(len(b)),
            "surfaces": int(len(s)),
            "nodes": int(len(self.nodes)),
            "links": int(len(self.links)),
            "activities": int(len(self.activities)),
            "extent": extent,
            "party_walls": int((s["boundary"] == "party").sum()),
            "surface_area_m2": {f"{k}/{bd}": float(v) for (k, bd), v in by_boundary.items()},
            "sources": [
                {
                    k: v
                    for k, v in src.items()
                    if k in ("path", "format", "sha256", "buildings", "crs_declared")
                }
                for src in self.sources
            ],
        }

    def __repr__(self) -> str:
        return (
            f"<CityModel {self.name!r}: {len(self.buildings)} buildings, {len(self.surfaces)} surfaces, "
            f"{len(self.links)} links, CRS {self._crs.to_string()}>"
        )

    def _repr_html_(self) -> str:
        info = self.summary()
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(info[k]))}</td></tr>"
            for k in ("name", "crs", "buildings", "surfaces", "links", "party_walls", "extent")
        )
        return f"<table><caption>CityModel</caption>{rows}</table>"


def _concat_geo(frames: list[gpd.GeoDataFrame], crs: CRS) -> gpd.GeoDataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return None  # type: ignore[return-value]
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)


def _merge_bim(tables: list[dict[str, pd.DataFrame]], kept_ids: set) -> dict[str, pd.DataFrame]:
    names = sorted({k for t in tables for k in t})
    out = {}
    for name in names:
        frames = [t[name] for t in tables if name in t and len(t[name])]
        if frames:
            df = pd.concat(frames, ignore_index=True)
            out[name] = df[df["building_id"].isin(kept_ids)].reset_index(drop=True)
    return out
