"""Column contracts of the city model's tables (ARCHITECTURE.md, "The city model").

Each table is described once here: its columns, their dtypes and units (in
the names).  Readers produce these columns, the store writes and restores
them with their dtypes, and simulations rely on them.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

__all__ = ["TABLES", "GEOMETRY_TYPES", "empty_table", "conform", "TABLE_KEYS"]

#: Table name -> {column: dtype}.  ``geometry`` columns are listed in GEOMETRY_TYPES.
TABLES: dict[str, dict[str, str]] = {
    "buildings": {
        "building_id": "str",
        "parent_id": "str",
        "name": "str",
        "ground_z_m": "float64",
        "height_m": "float64",
        "n_storeys": "int64",
        "year_built": "Int64",
        "use": "str",
        "typology": "str",
        "footprint_area_m2": "float64",
        "heated_floor_area_m2": "float64",
        "volume_m3": "float64",
        "source": "str",
        "lod": "str",
        "provenance": "str",
        "attributes_json": "str",
    },
    "surfaces": {
        "surface_id": "str",
        "building_id": "str",
        "kind": "str",
        "area_m2": "float64",
        "azimuth_deg": "float64",
        "tilt_deg": "float64",
        "u_w_m2k": "float64",
        "g_value": "float64",
        "boundary": "str",
        "neighbour_id": "str",
        "provenance": "str",
    },
    "nodes": {
        "node_id": "int64",
        "z_m": "float64",
    },
    "links": {
        "link_id": "int64",
        "from_node": "int64",
        "to_node": "int64",
        "name": "str",
        "road_class": "str",
        "length_m": "float64",
        "free_speed_kmh": "float64",
        "capacity_veh_h": "float64",
        "lanes": "int64",
        "modes": "str",
        "alpha": "float64",
        "beta": "float64",
    },
    "activities": {
        "building_id": "str",
        "residents": "int64",
        "jobs": "int64",
        "service": "str",
        "service_capacity": "int64",
    },
    "meta": {
        "key": "str",
        "value": "str",
    },
}

#: Geometry type of each spatial table; tables absent here are attribute tables.
GEOMETRY_TYPES: dict[str, str] = {
    "buildings": "MultiPolygon",
    "surfaces": "MultiPolygon Z",
    "nodes": "Point",
    "links": "LineString",
}

#: The key column of each table.
TABLE_KEYS: dict[str, str] = {
    "buildings": "building_id",
    "surfaces": "surface_id",
    "nodes": "node_id",
    "links": "link_id",
    "activities": "building_id",
    "meta": "key",
}

_FILL = {"str": "", "float64": np.nan, "int64": 0, "Int64": pd.NA}


def empty_table(name: str, crs=None) -> pd.DataFrame:
    """An empty table with the contract's columns and dtypes."""
    cols = TABLES[name]
    data = {c: pd.Series([], dtype=_pandas_dtype(d)) for c, d in cols.items()}
    if name in GEOMETRY_TYPES:
        return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    return pd.DataFrame(data)


def _pandas_dtype(d: str):
    return object if d == "str" else d


def conform(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with every contract column present, in order, with its dtype.

    Missing columns are added with their fill value (empty string, NaN, 0 or
    NA); extra columns are kept after the contract's columns.
    """
    cols = TABLES[name]
    out = frame.copy()
    for col, dtype in cols.items():
        if col not in out.columns:
            out[col] = _FILL[dtype]
        if dtype == "str":
            out[col] = out[col].where(out[col].notna(), "").astype(str).astype(object)
        elif dtype == "Int64":
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
        else:
            values = pd.to_numeric(out[col], errors="coerce")
            if dtype == "int64":
                values = values.fillna(0)
            out[col] = values.astype(dtype)
    ordered = list(cols) + [c for c in out.columns if c not in cols]
    return out[ordered]
