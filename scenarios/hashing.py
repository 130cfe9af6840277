"""Content hashes of models, files and results: what makes a run reproducible and cacheable.

A hash covers the *content* (values, dtypes, geometries as WKB, the CRS), not
the object identity or the time a model was created, so the same inputs give
the same hash in any process on any machine with the same library versions.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from twin.model import CityModel

__all__ = ["file_hash", "json_hash", "model_hash", "table_hash"]

_TABLES = ("buildings", "surfaces", "nodes", "links", "activities")


def _update_column(h: Any, values: pd.Series) -> None:
    if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) and values.dtype.name == "geometry":
        arr = np.asarray(values.array, dtype=object)
        wkb = shapely.to_wkb(arr, output_dimension=3, include_srid=False)
        for item in wkb:
            b = b"" if item is None else item
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
        return
    h.update(pd.util.hash_pandas_object(values, index=False).to_numpy().tobytes())


def table_hash(table: pd.DataFrame | None) -> str:
    """SHA-256 of a table's columns, dtypes, values (geometries as 3D WKB) and CRS, in row order."""
    h = hashlib.sha256()
    if table is None:
        return h.hexdigest()
    crs = getattr(table, "crs", None)
    h.update(json.dumps([list(map(str, table.columns)), [str(t) for t in table.dtypes]]).encode())
    h.update(str(crs.to_wkt() if crs is not None else None).encode())
    h.update(len(table).to_bytes(8, "little"))
    for col in table.columns:
        h.update(str(col).encode())
        _update_column(h, table[col])
    return h.hexdigest()


def model_hash(model: CityModel) -> str:
    """SHA-256 over the model's tables (not its name or creation time)."""
    h = hashlib.sha256()
    h.update(str(model.crs.to_wkt() if model.crs is not None else None).encode())
    for name in _TABLES:
        h.update(name.encode())
        h.update(table_hash(getattr(model, name)).encode())
    return h.hexdigest()


def json_hash(value: Any) -> str:
    """SHA-256 of canonical JSON (sorted keys; floats as Python writes them)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
