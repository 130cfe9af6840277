"""Result tables for the viewer: read them from files and pick the values to colour by.

The simulations write their results as tables keyed by the model's ids
(``building_id`` for energy and accessibility, ``link_id`` for traffic
flows): GeoPackages, CSV or (Geo)Parquet files, or a run folder holding
several of them.  :func:`read_results` reads any of these into two tables,
one per key; :func:`building_values` and :func:`link_values` then return the
values of one column in the model's row order, whether the column comes from
the results or from the model itself (``height_m``, ``year_built`` ...).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from twin.errors import IngestError, TwinError

if TYPE_CHECKING:
    from twin.model import CityModel

__all__ = [
    "ResultTables",
    "UnknownColumnError",
    "read_table",
    "read_results",
    "building_values",
    "link_values",
    "numeric_columns",
]

_SUFFIXES = (".gpkg", ".csv", ".parquet")
_NOT_COLOURS = frozenset(
    ("geometry", "attributes_json", "provenance", "energy_provenance", "name", "source", "ground_z_m")
)


class UnknownColumnError(TwinError, KeyError):
    """A column asked for colouring exists neither in the results nor in the model."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass
class ResultTables:
    """Results keyed by building and by link (either may be ``None``).

    Attributes
    ----------
    buildings : pandas.DataFrame or None
        One row per ``building_id`` (the index), no geometry.
    links : pandas.DataFrame or None
        One row per ``link_id`` (the index), no geometry.
    sources : list of pathlib.Path
        Files read.
    """

    buildings: pd.DataFrame | None = None
    links: pd.DataFrame | None = None
    sources: tuple[Path, ...] = ()


def read_table(path: str | os.PathLike, *, layer: str | None = None) -> pd.DataFrame:
    """Read one result table (GeoPackage layer, CSV or Parquet) without its geometry.

    For a GeoPackage without ``layer`` the first layer holding a ``building_id`` or
    ``link_id`` column is read.

    Raises
    ------
    IngestError
        The file is missing, of another type, unreadable, or has no keyed layer.
    """
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"Result table {path} does not exist.")
    ext = path.suffix.lower()
    try:
        if ext == ".csv":
            table = pd.read_csv(path)
        elif ext == ".parquet":
            table = pd.read_parquet(path)
        elif ext == ".gpkg":
            import pyogrio

            layers = [str(row[0]) for row in pyogrio.list_layers(path)]
            if layer is None:
                layer = next(
                    (
                        name
                        for name in layers
                        if {"building_id", "link_id"} & set(pyogrio.read_info(path, layer=name)["fields"])
                    ),
                    None,
                )
                if layer is None:
                    raise IngestError(
                        f"{path} has no layer with a building_id or link_id column (layers: {layers})."
                    )
            table = pyogrio.read_dataframe(path, layer=layer, read_geometry=False)
        else:
            raise IngestError(f"Cannot read results from {path}: use one of {list(_SUFFIXES)}.")
    except TwinError:
        raise
    except Exception as err:  # GDAL, arrow and the CSV parser raise many types
        raise IngestError(f"Reading results from {path} failed: {err}") from err
    geom = [c for c in table.columns if c in ("geometry", "geom")]
    return pd.DataFrame(table.drop(columns=geom))


def _keyed(tables: list[pd.DataFrame], key: str) -> pd.DataFrame | None:
    out: pd.DataFrame | None = None
    for t in tables:
        t = t.copy()
        if key == "link_id":
            t[key] = pd.to_numeric(t[key], errors="raise").astype(np.int64)
        else:
            t[key] = t[key].astype(str)
        t = t.drop_duplicates(key).set_index(key)
        if out is None:
            out = t
        else:
            out = out.join(t[[c for c in t.columns if c not in out.columns]], how="outer")
    return out


def read_results(path: str | os.PathLike | None) -> ResultTables:
    """Read a result file or a run folder into building- and link-keyed tables.

    Parameters
    ----------
    path
        A ``.gpkg``/``.csv``/``.parquet`` table, or a folder: every such file in it
        (sorted by name, not recursive) that has a ``building_id`` or ``link_id``
        column is read, except model GeoPackages (with a ``meta`` layer); columns of
        later files that an earlier file already has are ignored.  ``None`` gives
        empty results.

    Raises
    ------
    IngestError
        Missing path, an unreadable file, or a folder without any keyed table.
    """
    if path is None:
        return ResultTables()
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in _SUFFIXES and p.is_file())
    elif path.exists():
        files = [path]
    else:
        raise IngestError(f"Results {path} do not exist.")
    by_building, by_link, used = [], [], []
    for f in files:
        if path.is_dir() and _is_model_store(f):
            continue  # the model itself often sits in the run folder: not a result table
        try:
            t = read_table(f)
        except IngestError:
            if path.is_dir():  # a folder may hold other files (the model itself, ...)
                continue
            raise
        if "building_id" in t.columns:
            by_building.append(t)
            used.append(f)
        elif "link_id" in t.columns:
            by_link.append(t)
            used.append(f)
    if not used:
        raise IngestError(f"{path} holds no table with a building_id or link_id column.")
    return ResultTables(_keyed(by_building, "building_id"), _keyed(by_link, "link_id"), tuple(used))


def _is_model_store(path: Path) -> bool:
    """A twin model GeoPackage (it has the store's ``meta`` layer)."""
    if path.suffix.lower() != ".gpkg":
        return False
    try:
        import pyogrio

        return "meta" in {str(row[0]) for row in pyogrio.list_layers(path)}
    except Exception:  # unreadable: read_table reports it
        return False


def _as_frame(results: pd.DataFrame | None, key: str) -> pd.DataFrame | None:
    if results is None:
        return None
    if key in results.columns:
        results = results.drop_duplicates(key).set_index(key)
    if results.index.name != key:
        raise IngestError(f"Result table has no {key} column or index (columns: {list(results.columns)}).")
    results = pd.DataFrame(results.drop(columns=[c for c in ("geometry",) if c in results.columns]))
    return results


def numeric_columns(table: pd.DataFrame | None) -> list[str]:
    """Columns that can colour a scene: numbers, PEB-like classes and short text categories."""
    if table is None:
        return []
    cols = []
    for c in table.columns:
        if c in _NOT_COLOURS or str(c).endswith("_id"):
            continue
        s = table[c]
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            cols.append(str(c))
        elif s.nunique(dropna=True) <= 24 and s.astype(str).str.len().max() <= 24:
            cols.append(str(c))
    return cols


def building_values(model: CityModel, results: pd.DataFrame | None, column: str) -> pd.Series:
    """Values of ``column`` for every building of ``model``, in ``model.buildings`` order.

    The column is looked up in ``results`` first (keyed by ``building_id``, as column or
    index), then in ``model.buildings``.  Buildings without a result get NaN (or None).

    Raises
    ------
    UnknownColumnError
        The column is in neither table; the message lists the available columns.
    """
    ids = model.buildings["building_id"].astype(str)
    table = _as_frame(results, "building_id")
    if table is not None and column in table.columns:
        table.index = table.index.astype(str)
        return pd.Series(table[column].reindex(ids.to_numpy()).to_numpy(), index=ids.to_numpy(), name=column)
    if column in model.buildings.columns and column != "geometry":
        return pd.Series(model.buildings[column].to_numpy(), index=ids.to_numpy(), name=column)
    available = sorted(set(numeric_columns(table)) | set(numeric_columns(model.buildings)))
    raise UnknownColumnError(
        f"No column {column!r} in the results or the buildings table; choose one of {available}."
    )


def link_values(model: CityModel, results: pd.DataFrame | None, column: str) -> pd.Series:
    """Values of ``column`` per link of ``model`` (``model.links`` order), from results or the model.

    ``v_c`` (volume/capacity) is derived when the results have a flow column
    (``flow_veh_h``, ``flow`` or ``flow_base``) and the model links have ``capacity_veh_h``.
    """
    ids = model.links["link_id"].astype(np.int64).to_numpy()
    table = _as_frame(results, "link_id")
    if table is not None:
        table.index = table.index.astype(np.int64)
    if table is not None and column in table.columns:
        return pd.Series(table[column].reindex(ids).to_numpy(), index=ids, name=column)
    if column == "v_c" and table is not None:
        flow = next((c for c in ("flow_veh_h", "flow", "flow_base") if c in table.columns), None)
        if flow is not None and "capacity_veh_h" in model.links.columns:
            cap = model.links["capacity_veh_h"].to_numpy(float)
            f = table[flow].reindex(ids).to_numpy(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                return pd.Series(np.where(cap > 0, f / cap, np.nan), index=ids, name="v_c")
    if column in model.links.columns and column != "geometry":
        return pd.Series(model.links[column].to_numpy(), index=ids, name=column)
    available = sorted(set(numeric_columns(table)) | set(numeric_columns(model.links)))
    raise UnknownColumnError(
        f"No link column {column!r} in the results or the links table; choose one of {available}."
    )
