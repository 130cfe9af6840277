"""Spatially partitioned models: GeoParquet tiles, a tile index, and tiles read with a halo.

A region does not have to fit in one process: :func:`write_partitions` cuts a
:class:`~twin.model.CityModel` into **tiles** of about ``target_buildings``
buildings each and writes, under one folder::

    index.json                      format, CRS, tiles (bounds, counts, SHA-256 of every file)
    global/nodes.parquet            tables that do not partition (street network), GeoParquet
    global/links.parquet
    tiles/part-00000/buildings.parquet   the tile's buildings (GeoParquet, footprints)
    tiles/part-00000/surfaces.parquet    their envelope surfaces (GeoParquet, 3D polygons)
    tiles/part-00000/activities.parquet  their activities (and ``ifc_*`` tables, if any)

Tiles are **ranges of the Hilbert curve** through the footprint centres
(:func:`hilbert_index`), cut every ``target_buildings`` buildings: compact
tiles of even size, whatever the density of the city.  Every row carries its
position in the original model (``model_row``), so reading tiles back restores
the model's row order exactly, and results computed tile by tile can be put
back in the order of a whole-model run.

:func:`read_partition` reads one tile with a **halo**: the buildings of
neighbouring tiles whose footprints lie within ``halo_m`` of a footprint of
the tile.  Party walls (:func:`twin.party_walls.detect_party_walls`) and
exposed perimeters of the tile's own buildings only depend on buildings
within the party-wall tolerance (``TOLERANCES.party_wall_distance_m``,
0.30 m), so with a halo at least that wide they come out the same as on the
whole model.  :func:`split_model` makes the same tiles in memory, for a model
that is already loaded.

The whole folder is written atomically (temporary folder, then rename);
:func:`verify_partitions` checks the files against the index's checksums.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq
import shapely
from pyproj import CRS

from twin.atomic import atomic_path
from twin.config import SCHEMA_VERSION, TOLERANCES
from twin.errors import StoreError, TwinError
from twin.model import CityModel
from twin.party_walls import detect_party_walls

__all__ = [
    "DEFAULT_HALO_M",
    "PARTITION_FORMAT",
    "PartitionError",
    "PartitionIndex",
    "Tile",
    "TileInfo",
    "hilbert_index",
    "plan_tiles",
    "read_partition",
    "read_partitioned_model",
    "split_model",
    "verify_partitions",
    "write_partitions",
]

#: Format marker of ``index.json``.
PARTITION_FORMAT = "brussels-twin-partitions/1"
#: Default halo width, m: wider than the party-wall tolerance (0.30 m), so party walls and
#: exposed perimeters of a tile's buildings are found as on the whole model.
DEFAULT_HALO_M = 1.0
#: Column holding a row's position in the original model.
ROW_COLUMN = "model_row"
_PER_BUILDING = ("buildings", "surfaces", "activities")
_GLOBAL = ("nodes", "links")
_HILBERT_ORDER = 16


class PartitionError(StoreError):
    """A partition folder is missing, incomplete, corrupt or inconsistent with its index."""


@dataclass(frozen=True)
class TileInfo:
    """One tile of the index.

    Attributes
    ----------
    key : int
        Tile number, 0 … n_tiles − 1 (in Hilbert order).
    name : str
        Folder name under ``tiles/`` (``part-00000``).
    bounds_m : tuple of 4 floats
        (xmin, ymin, xmax, ymax) of the tile's footprints, model CRS, m.
    n_buildings, n_surfaces : int
        Rows of the tile's own buildings and surfaces (halo excluded).
    files : dict of str → str
        File name (relative to the tile folder) → SHA-256 of its bytes.
    """

    key: int
    name: str
    bounds_m: tuple[float, float, float, float]
    n_buildings: int
    n_surfaces: int
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "bounds_m": list(self.bounds_m),
            "n_buildings": self.n_buildings,
            "n_surfaces": self.n_surfaces,
            "files": dict(sorted(self.files.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TileInfo:
        return cls(
            key=int(data["key"]),
            name=str(data["name"]),
            bounds_m=tuple(float(v) for v in data["bounds_m"]),  # type: ignore[arg-type]
            n_buildings=int(data["n_buildings"]),
            n_surfaces=int(data["n_surfaces"]),
            files={str(k): str(v) for k, v in data["files"].items()},
        )


@dataclass(frozen=True)
class PartitionIndex:
    """The index of a partition folder (``index.json``).

    Attributes
    ----------
    root : Path
        The partition folder.
    crs : pyproj.CRS
        The model's CRS.
    name : str
        The model's name.
    tiles : list of TileInfo
    target_buildings : int
        The tile size asked for when writing.
    global_files : dict of str → str
        ``global/`` file → SHA-256.
    meta : dict
        The model's ``meta`` (sources, created, schema version).
    """

    root: Path
    crs: CRS
    name: str
    tiles: list[TileInfo]
    target_buildings: int
    global_files: dict[str, str]
    meta: dict[str, Any]

    @property
    def n_buildings(self) -> int:
        """Buildings of all tiles."""
        return sum(t.n_buildings for t in self.tiles)

    @property
    def content_hash(self) -> str:
        """SHA-256 over the checksums of every file: identifies the partitioned content."""
        parts = {t.name: t.files for t in self.tiles} | {"global": self.global_files}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def tile(self, key: int) -> TileInfo:
        """The tile numbered ``key``.

        Raises
        ------
        PartitionError
            No such tile.
        """
        if not 0 <= key < len(self.tiles):
            raise PartitionError(f"{self.root}: no tile {key} (the index has tiles 0–{len(self.tiles) - 1}).")
        return self.tiles[key]

    @classmethod
    def load(cls, root: str | os.PathLike) -> PartitionIndex:
        """Read ``root/index.json``.

        Raises
        ------
        PartitionError
            Missing or unreadable index, or not a partition folder of this format.
        """
        root = Path(root)
        path = root / "index.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PartitionError(f"{root}: not a partitioned model (no index.json).") from None
        except (OSError, json.JSONDecodeError) as err:
            raise PartitionError(f"{path}: unreadable tile index ({err}).") from None
        if data.get("format") != PARTITION_FORMAT:
            raise PartitionError(
                f"{path}: format {data.get('format')!r} is not {PARTITION_FORMAT!r}; write it again with "
                "twin.partition.write_partitions."
            )
        return cls(
            root=root,
            crs=CRS.from_wkt(data["crs_wkt"]),
            name=str(data["name"]),
            tiles=[TileInfo.from_json(t) for t in data["tiles"]],
            target_buildings=int(data["target_buildings"]),
            global_files={str(k): str(v) for k, v in data["global_files"].items()},
            meta=dict(data.get("meta", {})),
        )


@dataclass
class Tile:
    """One tile as a model: its own buildings (the core) plus the halo.

    Attributes
    ----------
    key : int
        Tile number.
    model : CityModel
        Core and halo buildings with their surfaces and activities, in the
        original model's row order; nodes and links only when asked for.
    core_ids : ndarray of object
        ``building_id`` of the tile's own buildings, in model order.
    """

    key: int
    model: CityModel
    core_ids: npt.NDArray[np.object_]

    @property
    def core_mask(self) -> npt.NDArray[np.bool_]:
        """True for the rows of ``model.buildings`` that belong to the tile (not the halo)."""
        return self.model.buildings["building_id"].isin(set(self.core_ids.tolist())).to_numpy()

    @property
    def n_halo(self) -> int:
        """Number of halo buildings."""
        return len(self.model.buildings) - len(self.core_ids)


# ------------------------------------------------------------------ tiling


def hilbert_index(
    x_m: npt.ArrayLike,
    y_m: npt.ArrayLike,
    bounds_m: tuple[float, float, float, float],
    *,
    order: int = _HILBERT_ORDER,
) -> npt.NDArray[np.int64]:
    """Position of points along a Hilbert curve of ``2**order`` × ``2**order`` cells over ``bounds_m``.

    Points close along the curve are close in space, so consecutive ranges
    of the sorted positions are compact tiles.

    Parameters
    ----------
    x_m, y_m : (N,) float
        Coordinates, m (model CRS).
    bounds_m
        (xmin, ymin, xmax, ymax) covered by the curve (points outside are clamped).
    order
        Cells per side = 2**order (1–31).

    Returns
    -------
    (N,) int64, 0 … 4**order − 1

    Examples
    --------
    >>> hilbert_index([0.5, 0.5, 1.5, 1.5], [0.5, 1.5, 1.5, 0.5], (0, 0, 2, 2), order=1).tolist()
    [0, 1, 2, 3]
    """
    if not 1 <= order <= 31:
        raise ValueError(f"order must be within 1–31, got {order}.")
    x = np.asarray(x_m, dtype=np.float64)
    y = np.asarray(y_m, dtype=np.float64)
    xmin, ymin, xmax, ymax = (float(v) for v in bounds_m)
    side = np.int64(1) << order
    span = max(xmax - xmin, ymax - ymin, 1e-9)
    xi = np.clip(((x - xmin) / span * side).astype(np.int64), 0, side - 1)
    yi = np.clip(((y - ymin) / span * side).astype(np.int64), 0, side - 1)
    d = np.zeros(x.shape, dtype=np.int64)
    s = side >> 1
    while s > 0:
        rx = (xi & s) > 0
        ry = (yi & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        # rotate the quadrant so the curve stays continuous
        flip = ~ry
        mirror = flip & rx
        xi = np.where(mirror, side - 1 - xi, xi)
        yi = np.where(mirror, side - 1 - yi, yi)
        xi, yi = np.where(flip, yi, xi), np.where(flip, xi, yi)
        s >>= 1
    return d


def plan_tiles(buildings: gpd.GeoDataFrame, *, target_buildings: int) -> npt.NDArray[np.int64]:
    """Tile number of every building: Hilbert ranges of about ``target_buildings`` buildings.

    The number of tiles is ``ceil(N / target_buildings)``; tiles differ in size
    by at most one building.  Deterministic: ties along the curve are broken by
    ``building_id``.

    Raises
    ------
    PartitionError
        ``target_buildings`` < 1.
    """
    if target_buildings < 1:
        raise PartitionError(f"target_buildings must be at least 1, got {target_buildings}.")
    n = len(buildings)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    geoms = buildings.geometry.to_numpy()
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        ids = buildings.loc[bad, "building_id"].tolist()[:5]
        raise PartitionError(
            f"{int(bad.sum())} building(s) have no footprint (e.g. {ids}); cannot tile them."
        )
    bx = shapely.bounds(geoms)
    cx, cy = 0.5 * (bx[:, 0] + bx[:, 2]), 0.5 * (bx[:, 1] + bx[:, 3])
    total = (float(bx[:, 0].min()), float(bx[:, 1].min()), float(bx[:, 2].max()), float(bx[:, 3].max()))
    h = hilbert_index(cx, cy, total)
    order = np.lexsort((buildings["building_id"].astype(str).to_numpy(), h))
    n_tiles = -(-n // target_buildings)
    tile_of_rank = (np.arange(n) * n_tiles) // n
    tiles = np.empty(n, dtype=np.int64)
    tiles[order] = tile_of_rank
    return tiles


def _halo_ids(core: gpd.GeoDataFrame, others: gpd.GeoDataFrame, halo_m: float) -> set[str]:
    """Ids of ``others`` whose footprint is within ``halo_m`` of a footprint of ``core``."""
    if not len(core) or not len(others):
        return set()
    tree = shapely.STRtree(core.geometry.to_numpy())
    hit, _ = tree.query(others.geometry.to_numpy(), predicate="dwithin", distance=halo_m)
    return set(others["building_id"].to_numpy()[np.unique(hit)].tolist())


def _check_halo(halo_m: float) -> None:
    if not np.isfinite(halo_m) or halo_m < TOLERANCES.party_wall_distance_m:
        raise PartitionError(
            f"halo_m = {halo_m!r} m is narrower than the party-wall tolerance "
            f"({TOLERANCES.party_wall_distance_m} m): party walls across tile borders would be missed."
        )


def split_model(model: CityModel, *, target_buildings: int, halo_m: float = DEFAULT_HALO_M) -> list[Tile]:
    """Cut a loaded model into tiles with halos, in memory (no files).

    Each tile's model holds its own buildings and the halo, with their
    surfaces, activities and BIM tables, rows in the order of ``model``.
    Nodes and links are not copied (they do not partition).

    Parameters
    ----------
    model
        The whole model (not modified).
    target_buildings
        About this many buildings per tile.
    halo_m
        Width of the halo, m (at least the party-wall tolerance).

    Returns
    -------
    list of Tile
        In Hilbert order; every building is in the core of exactly one tile.
    """
    _check_halo(halo_m)
    b = model.buildings
    tiles = plan_tiles(b, target_buildings=target_buildings)
    geoms = b.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    ids = b["building_id"].to_numpy()
    out = []
    for key in range(int(tiles.max()) + 1 if len(tiles) else 0):
        core_rows = np.flatnonzero(tiles == key)
        near = tree.query(geoms[core_rows], predicate="dwithin", distance=halo_m)[1]
        rows = np.union1d(core_rows, near)  # sorted: the model's row order
        out.append(Tile(key=key, model=_subset(model, rows), core_ids=ids[core_rows].astype(object)))
    return out


def _subset(model: CityModel, rows: npt.NDArray[np.int64]) -> CityModel:
    """The buildings at ``rows`` (sorted) with their surfaces, activities and BIM rows, in model order."""
    ids = set(model.buildings["building_id"].to_numpy()[rows].tolist())

    def keep(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["building_id"].isin(ids).to_numpy()]

    return CityModel(
        buildings=model.buildings.iloc[rows],
        surfaces=keep(model.surfaces),
        activities=keep(model.activities),
        crs=model.crs,
        name=model.name,
        sources=model.sources,
        created=model.created,
        bim={k: keep(v) for k, v in model.bim.items() if "building_id" in v.columns},
    )


# ------------------------------------------------------------------ writing


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_table(table: pd.DataFrame, path: Path) -> str:
    if isinstance(table, gpd.GeoDataFrame):
        table.to_parquet(path, index=False, write_covering_bbox=False)
    else:
        pd.DataFrame(table).to_parquet(path, index=False)
    return _sha256(path)


def _plain(table: pd.DataFrame) -> pd.DataFrame:
    """BIM attribute tables may hold lists or dicts: stored as JSON text (as in the GeoPackage)."""
    out = table.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, list | dict)).any():
            out[col] = out[col].map(lambda v: json.dumps(v) if isinstance(v, list | dict) else v)
    return out


def write_partitions(
    model: CityModel, out_dir: str | os.PathLike, *, target_buildings: int = 25_000
) -> PartitionIndex:
    """Write ``model`` as GeoParquet tiles with a tile index, atomically.

    Parameters
    ----------
    model
        The model to partition (not modified).  Party walls already in its
        surfaces are kept as they are.
    out_dir
        Folder to create (replaced if it exists; its parent must exist).
    target_buildings
        About this many buildings per tile (25 000 buildings is about 0.3 s of
        energy kernel time: a good Dask task size).

    Returns
    -------
    PartitionIndex

    Raises
    ------
    PartitionError
        Bad tile size or a building without footprint.
    StoreError
        The write failed (nothing is left behind).
    """
    out_dir = Path(out_dir)
    b = model.buildings.reset_index(drop=True)
    tiles = plan_tiles(b, target_buildings=target_buildings)
    n_tiles = int(tiles.max()) + 1 if len(tiles) else 0
    bid = b["building_id"].to_numpy()
    tile_of_id = pd.Series(tiles, index=bid)
    per_building: dict[str, pd.DataFrame] = {
        name: getattr(model, name).reset_index(drop=True) for name in _PER_BUILDING
    }
    per_building |= {k: _plain(v).reset_index(drop=True) for k, v in model.bim.items() if "building_id" in v}
    tile_rows: dict[str, npt.NDArray[np.int64]] = {}
    for name, table in per_building.items():
        table = table.assign(**{ROW_COLUMN: np.arange(len(table), dtype=np.int64)})
        per_building[name] = table
        owner = table["building_id"].map(tile_of_id)
        if owner.isna().any():
            orphan = table.loc[owner.isna(), "building_id"].astype(str).unique().tolist()[:5]
            raise PartitionError(
                f"{name}: {int(owner.isna().sum())} row(s) belong to no building of the model "
                f"(e.g. building_id={orphan}); drop them before partitioning."
            )
        tile_rows[name] = owner.to_numpy(dtype=np.int64)
    bounds = shapely.bounds(b.geometry.to_numpy())
    infos: list[TileInfo] = []
    try:
        with atomic_path(out_dir, directory=True) as tmp:
            (tmp / "global").mkdir()
            (tmp / "tiles").mkdir()
            global_files = {
                f"{name}.parquet": _write_table(getattr(model, name), tmp / "global" / f"{name}.parquet")
                for name in _GLOBAL
            }
            for key in range(n_tiles):
                name = f"part-{key:05d}"
                folder = tmp / "tiles" / name
                folder.mkdir()
                files = {}
                for table_name, table in per_building.items():
                    part = table[tile_rows[table_name] == key]
                    files[f"{table_name}.parquet"] = _write_table(part, folder / f"{table_name}.parquet")
                mine = tiles == key
                bx = bounds[mine]
                infos.append(
                    TileInfo(
                        key=key,
                        name=name,
                        bounds_m=(
                            float(bx[:, 0].min()),
                            float(bx[:, 1].min()),
                            float(bx[:, 2].max()),
                            float(bx[:, 3].max()),
                        ),
                        n_buildings=int(mine.sum()),
                        n_surfaces=int((tile_rows["surfaces"] == key).sum()),
                        files=files,
                    )
                )
            meta = {k: v for k, v in model.meta.items() if k != "crs_name"}
            index = {
                "format": PARTITION_FORMAT,
                "schema_version": SCHEMA_VERSION,
                "name": model.name,
                "crs_wkt": model.crs.to_wkt(),
                "target_buildings": int(target_buildings),
                "tiling": "hilbert-ranges",
                "hilbert_order": _HILBERT_ORDER,
                "row_column": ROW_COLUMN,
                "global_files": global_files,
                "meta": meta,
                "tiles": [t.to_json() for t in infos],
            }
            with (tmp / "index.json").open("w", encoding="utf-8") as f:
                json.dump(index, f, indent=1, sort_keys=True, default=str)
                f.flush()
                os.fsync(f.fileno())
    except TwinError:
        raise
    except Exception as err:  # arrow and the OS raise many types
        raise StoreError(f"Writing partitions to {out_dir} failed: {err}") from err
    return PartitionIndex.load(out_dir)


# ------------------------------------------------------------------ reading


def _read(path: Path, *, ids: set[str] | None = None) -> pd.DataFrame:
    """One tile table; with ``ids`` only the rows of those buildings."""
    try:
        info = pq.read_metadata(path)
        meta = info.metadata or {}
        empty = info.num_rows == 0  # an empty column has arrow type null: no filter applies
        filters = [("building_id", "in", sorted(ids))] if ids is not None and not empty else None
        if b"geo" in meta:
            return gpd.read_parquet(path, filters=filters)
        return pd.read_parquet(path, filters=filters)
    except FileNotFoundError:
        raise PartitionError(f"{path}: missing tile file (the partition folder is incomplete).") from None
    except Exception as err:  # arrow raises many types for a damaged file
        raise PartitionError(f"{path}: unreadable tile file ({err}).") from None


def _tables(index: PartitionIndex, info: TileInfo, ids: set[str] | None = None) -> dict[str, pd.DataFrame]:
    folder = index.root / "tiles" / info.name
    return {Path(f).stem: _read(folder / f, ids=ids) for f in sorted(info.files)}


def _assemble(
    index: PartitionIndex, parts: list[dict[str, pd.DataFrame]], *, with_network: bool
) -> CityModel:
    """Concatenate tile tables, restore the model's row order, build the model."""
    tables: dict[str, pd.DataFrame] = {}
    names = sorted({k for p in parts for k in p})
    for name in names:
        frames = [p[name] for p in parts if name in p]
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        df = df.sort_values(ROW_COLUMN, kind="stable").drop(columns=ROW_COLUMN).reset_index(drop=True)
        if isinstance(frames[0], gpd.GeoDataFrame):
            df = gpd.GeoDataFrame(df, geometry=frames[0].geometry.name, crs=index.crs)
        tables[name] = df
    network = {}
    if with_network:
        for name in _GLOBAL:
            path = index.root / "global" / f"{name}.parquet"
            network[name] = gpd.GeoDataFrame(_read(path), crs=index.crs) if path.is_file() else None
    return CityModel(
        buildings=tables.get("buildings"),
        surfaces=tables.get("surfaces"),
        activities=tables.get("activities"),
        nodes=network.get("nodes"),
        links=network.get("links"),
        crs=index.crs,
        name=index.name,
        sources=index.meta.get("sources", []),
        created=index.meta.get("created"),
        bim={k: v for k, v in tables.items() if k.startswith("ifc_")},
    )


def _as_index(root: str | os.PathLike | PartitionIndex) -> PartitionIndex:
    return root if isinstance(root, PartitionIndex) else PartitionIndex.load(root)


def read_partition(
    root: str | os.PathLike | PartitionIndex,
    key: int,
    *,
    halo_m: float = DEFAULT_HALO_M,
    party_walls: bool = False,
    with_network: bool = False,
) -> Tile:
    """Read tile ``key`` with the buildings of neighbouring tiles within ``halo_m``.

    Only the neighbouring tiles whose bounds come within ``halo_m`` of this
    tile's bounds are opened, and only the halo buildings' rows are read
    from their surfaces (a Parquet filter).

    Parameters
    ----------
    root
        The partition folder (or its loaded index).
    key
        Tile number.
    halo_m
        Width of the halo, m (at least the party-wall tolerance, 0.30 m).
    party_walls
        Detect party walls on the tile and its halo
        (:func:`twin.party_walls.detect_party_walls`): the tile's own
        buildings then get the party walls they have in the whole model.
    with_network
        Also read the global nodes and links.

    Returns
    -------
    Tile

    Raises
    ------
    PartitionError
        No such tile, a missing or damaged file, or a halo narrower than the tolerance.
    """
    _check_halo(halo_m)
    index = _as_index(root)
    info = index.tile(key)
    own = _tables(index, info)
    core = own["buildings"]
    parts = [own]
    x0, y0, x1, y1 = info.bounds_m
    for other in index.tiles:
        if other.key == key or other.n_buildings == 0:
            continue
        ox0, oy0, ox1, oy1 = other.bounds_m
        if ox0 > x1 + halo_m or ox1 < x0 - halo_m or oy0 > y1 + halo_m or oy1 < y0 - halo_m:
            continue
        candidates = _read(index.root / "tiles" / other.name / "buildings.parquet")
        ids = _halo_ids(core, candidates, halo_m)
        if ids:
            parts.append(_tables(index, other, ids))
    model = _assemble(index, parts, with_network=with_network)
    if party_walls:
        model.surfaces = detect_party_walls(model.surfaces)
    return Tile(key=key, model=model, core_ids=core["building_id"].to_numpy().astype(object))


def read_partitioned_model(root: str | os.PathLike | PartitionIndex) -> CityModel:
    """All tiles (and the network) as one model, rows in the original order."""
    index = _as_index(root)
    parts = [_tables(index, t) for t in index.tiles]
    if not parts:
        return CityModel(crs=index.crs, name=index.name)
    return _assemble(index, parts, with_network=True)


def verify_partitions(root: str | os.PathLike | PartitionIndex) -> list[str]:
    """Check every file of a partition folder against the index's SHA-256.

    Returns
    -------
    list of str
        One message per missing or changed file; empty when all is well.
    """
    index = _as_index(root)
    problems = []
    checks = [(index.root / "global" / f, h) for f, h in index.global_files.items()]
    checks += [(index.root / "tiles" / t.name / f, h) for t in index.tiles for f, h in t.files.items()]
    for path, expected in checks:
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif _sha256(path) != expected:
            problems.append(f"{path}: content changed (SHA-256 differs from the index)")
    return problems
