"""The embedded model store: one GeoPackage, and GeoParquet exports.

A model is saved as one GeoPackage (SQLite) that opens in QGIS as it is:
``buildings`` (footprint polygons), ``surfaces`` (3D envelope polygons),
``nodes`` and ``links`` (street network), ``activities`` and ``meta``
(attribute tables), plus ``ifc_*`` element tables for BIM buildings.  Every
write goes to a temporary file in the target folder that is renamed into
place, so a failed write never leaves half a file.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from twin.atomic import atomic_path
from twin.config import SCHEMA_VERSION
from twin.errors import StoreError
from twin.model import CityModel
from twin.schema import GEOMETRY_TYPES, conform

__all__ = ["save_gpkg", "load_gpkg", "to_geoparquet", "atomic_path", "MODEL_FORMAT"]

#: Marker stored in ``meta`` that identifies a file as a twin model.
MODEL_FORMAT = "brussels-twin-model"
_CORE = ("buildings", "surfaces", "nodes", "links", "activities")


def _meta_table(model: CityModel) -> pd.DataFrame:
    meta = {
        "format": MODEL_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "name": model.name,
        "crs": model.crs.to_string(),
        "crs_wkt": model.crs.to_wkt(),
        "created": model.created,
        "sources": json.dumps(model.sources, sort_keys=True, default=str),
    }
    return pd.DataFrame({"key": list(meta), "value": list(meta.values())})


def save_gpkg(model: CityModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to a GeoPackage at ``path`` atomically.

    Raises
    ------
    StoreError
        When the folder does not exist or the write fails; nothing is left behind.
    """
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise StoreError(f"Cannot save a model to {path}: the store is a GeoPackage, use a '.gpkg' name.")
    try:
        with atomic_path(path) as tmp:
            for name in _CORE:
                table = getattr(model, name)
                if name in GEOMETRY_TYPES:
                    pyogrio.write_dataframe(
                        table,
                        tmp,
                        layer=name,
                        driver="GPKG",
                        geometry_type=GEOMETRY_TYPES[name],
                        promote_to_multi=name in ("buildings", "surfaces"),
                    )
                else:
                    pyogrio.write_dataframe(table, tmp, layer=name, driver="GPKG")
            for name, table in sorted(model.bim.items()):
                pyogrio.write_dataframe(_plain(table), tmp, layer=name, driver="GPKG")
            pyogrio.write_dataframe(_meta_table(model), tmp, layer="meta", driver="GPKG")
    except StoreError:
        raise
    except Exception as err:  # GDAL and sqlite raise many types
        raise StoreError(f"Writing {path} failed: {err}") from err
    return path


def _plain(table: pd.DataFrame) -> pd.DataFrame:
    """Attribute tables hold scalars: lists and dicts are stored as JSON text."""
    out = table.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, list | dict)).any():
            out[col] = out[col].map(lambda v: json.dumps(v) if isinstance(v, list | dict) else v)
    return out


def _check_is_model(path: Path) -> dict[str, str]:
    if not path.exists():
        raise StoreError(f"{path}: no such file.")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head != b"SQLite format 3\x00":
        raise StoreError(f"{path} is not a twin model: it is not a GeoPackage (SQLite) file.")
    try:
        layers = {str(r[0]) for r in pyogrio.list_layers(path)}
    except Exception as err:
        raise StoreError(f"{path} is not a readable GeoPackage: {err}") from err
    if "meta" not in layers:
        raise StoreError(f"{path} is a GeoPackage but not a twin model (no 'meta' layer).")
    meta_df = pyogrio.read_dataframe(path, layer="meta")
    meta = dict(zip(meta_df["key"], meta_df["value"], strict=True))
    if meta.get("format") != MODEL_FORMAT:
        raise StoreError(f"{path} is a GeoPackage but not a twin model (meta.format missing).")
    if meta.get("schema_version", "").split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise StoreError(
            f"{path} has model schema {meta.get('schema_version')!r}; this version reads {SCHEMA_VERSION!r}."
        )
    meta["_layers"] = json.dumps(sorted(layers))
    return meta


def load_gpkg(path: str | os.PathLike) -> CityModel:
    """Read a model written by :func:`save_gpkg`.

    Raises
    ------
    StoreError
        When the file is missing, not a GeoPackage or not a twin model.
    """
    path = Path(path)
    try:
        meta = _check_is_model(path)
    except sqlite3.DatabaseError as err:
        raise StoreError(f"{path} is not a readable GeoPackage: {err}") from err
    crs = CRS.from_wkt(meta["crs_wkt"])
    layers = set(json.loads(meta["_layers"]))
    tables: dict[str, pd.DataFrame] = {}
    for name in _CORE:
        if name not in layers:
            continue
        df = pyogrio.read_dataframe(path, layer=name, read_geometry=name in GEOMETRY_TYPES)
        if name in GEOMETRY_TYPES:
            df = df.set_crs(crs, allow_override=True)
            if name in ("buildings", "surfaces"):
                df = df.set_geometry(_demote_single_multi(df.geometry.to_numpy()), crs=crs)
        tables[name] = conform(name, df)
    bim = {
        name: pyogrio.read_dataframe(path, layer=name, read_geometry=False)
        for name in sorted(layers)
        if name.startswith("ifc_")
    }
    return CityModel(
        buildings=tables.get("buildings"),
        surfaces=tables.get("surfaces"),
        nodes=tables.get("nodes"),
        links=tables.get("links"),
        activities=tables.get("activities"),
        crs=crs,
        name=meta.get("name", path.stem),
        sources=json.loads(meta.get("sources", "[]")),
        created=meta.get("created"),
        bim=bim,
    )


def _demote_single_multi(geoms: np.ndarray) -> np.ndarray:
    """MultiPolygons of one part become Polygons again (the in-memory canonical form)."""
    out = geoms.copy()
    multi = shapely.get_type_id(geoms) == 6
    single = multi & (shapely.get_num_geometries(geoms) == 1)
    out[single] = shapely.get_geometry(geoms[single], 0)
    return out


def to_geoparquet(model: CityModel, path: str | os.PathLike) -> Path:
    """Export the model as a folder of GeoParquet files, one per table, plus ``meta.json``.

    Written atomically: the folder appears complete or not at all.
    """
    path = Path(path)
    try:
        with atomic_path(path, directory=True) as tmp:
            for name in _CORE:
                table = getattr(model, name)
                if isinstance(table, gpd.GeoDataFrame):
                    table.to_parquet(tmp / f"{name}.parquet", index=False)
                else:
                    table.to_parquet(tmp / f"{name}.parquet", index=False)
            for name, table in model.bim.items():
                _plain(table).to_parquet(tmp / f"{name}.parquet", index=False)
            (tmp / "meta.json").write_text(json.dumps(model.meta, indent=2, default=str))
    except StoreError:
        raise
    except Exception as err:
        raise StoreError(f"Writing GeoParquet to {path} failed: {err}") from err
    return path
