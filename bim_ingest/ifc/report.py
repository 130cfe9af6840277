"""``ifc_report``: what ``twin info`` prints for a model read from an IFC file.

A plain-data summary (JSON-serialisable dict) of the IFC buildings of a
model: their storeys and spaces, envelope areas by orientation (eight
compass sectors for walls, windows and doors; roofs and floors in total),
boundary conditions, U-value provenance and area-weighted U-values, and the
methods the reader used (georeferencing, kernel, floor area).  Works on a
model straight from :func:`~bim_ingest.ifc.read_ifc`, on one loaded back
from a GeoPackage, and on a district into which IFC buildings were placed
(only the IFC buildings are reported).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from bim_ingest.ifc.roles import SECTORS, sector_of
from twin.model import CityModel

__all__ = ["ifc_report"]

_VERTICAL = ("wall", "window", "door")


def _r(value: float, nd: int = 2) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else round(float(value), nd)


def ifc_report(model: CityModel) -> dict[str, Any]:
    """Summarise the IFC buildings of ``model``.

    Parameters
    ----------
    model
        A model holding IFC buildings (``model.bim`` tables from
        :func:`~bim_ingest.ifc.read_ifc`).

    Returns
    -------
    dict
        ``buildings``, ``storeys``, ``spaces``, ``envelope_m2`` (per kind:
        by sector for walls/windows/doors, totals for roof and floor, plus
        ``by_orientation`` over all vertical kinds with ``roof`` and
        ``floor``), ``boundary_m2``, ``u_value_provenance`` (surface counts
        and areas), ``mean_u_w_m2k`` (area-weighted, by kind) and ``sources``
        (file, schema, georeferencing, kernel, floor-area method).

    Raises
    ------
    ValueError
        When the model holds no IFC data.

    Examples
    --------
    >>> from bim_ingest.ifc import read_ifc, ifc_report   # doctest: +SKIP
    >>> ifc_report(read_ifc("house.ifc"))["envelope_m2"]["by_orientation"]["S"]  # doctest: +SKIP
    """
    elements = model.bim.get("ifc_elements")
    if elements is None:
        raise ValueError(
            f"Model {model.name!r} holds no IFC data (no model.bim['ifc_elements']); "
            "read an IFC file with read_ifc first."
        )
    ids = {i for i in elements["building_id"] if i}
    if not ids:
        ids = {b for b in model.buildings["building_id"] if str(b).startswith("ifc-")}
    buildings = model.buildings[model.buildings["building_id"].isin(ids)]
    surfaces = model.surfaces[model.surfaces["building_id"].isin(ids)]
    storeys = model.bim.get("ifc_storeys", pd.DataFrame())
    spaces = model.bim.get("ifc_spaces", pd.DataFrame())
    ifc_sources = [s for s in model.sources if s.get("format") == "ifc"]

    report: dict[str, Any] = {
        "name": model.name,
        "crs": model.crs.to_string(),
        "buildings": [
            {
                "building_id": row.building_id,
                "name": row.name,
                "footprint_area_m2": _r(row.footprint_area_m2),
                "height_m": _r(row.height_m),
                "n_storeys": int(row.n_storeys),
                "heated_floor_area_m2": _r(row.heated_floor_area_m2),
                "volume_m3": _r(row.volume_m3, 1),
                "provenance": row.provenance,
            }
            for row in buildings.itertuples()
        ],
        "storeys": [
            {
                "building_id": r.building_id,
                "name": r.name,
                "elevation_m": _r(r.elevation_m, 3),
                "n_spaces": int(r.n_spaces),
                "n_elements": int(r.n_elements),
            }
            for r in storeys.itertuples()
        ]
        if len(storeys)
        else [],
        "spaces": _spaces(spaces),
        "envelope_m2": _envelope(surfaces),
        "boundary_m2": {
            str(k): _r(v) for k, v in surfaces.groupby("boundary")["area_m2"].sum().sort_index().items()
        },
        "u_value_provenance": {
            p: {
                "surfaces": int((surfaces["provenance"] == p).sum()),
                "area_m2": _r(surfaces.loc[surfaces["provenance"] == p, "area_m2"].sum()),
            }
            for p in ("pset", "layers", "typology")
        },
        "mean_u_w_m2k": _mean_u(surfaces),
        "elements": {
            "count": int(len(elements)),
            "by_class": {
                str(k): int(v) for k, v in elements["ifc_class"].value_counts().sort_index().items()
            },
            "on_envelope": int(elements["on_envelope"].astype(bool).sum())
            if "on_envelope" in elements
            else 0,
            "geometry_failures": int((elements["geometry_error"].astype(str) != "").sum())
            if "geometry_error" in elements
            else 0,
        },
        "sources": [
            {
                "path": s.get("path"),
                "sha256": s.get("sha256"),
                "schema": s.get("ifc_schema"),
                "georeferencing": (s.get("georeferencing") or {}).get("method"),
                "kernel": s.get("kernel"),
                "floor_area_method": s.get("floor_area_method"),
                "u_value_provenance": s.get("u_value_provenance"),
            }
            for s in ifc_sources
        ],
    }
    return report


def _spaces(spaces: pd.DataFrame) -> dict[str, Any]:
    if spaces is None or not len(spaces):
        return {"count": 0, "floor_area_m2": 0.0, "from_quantities": 0, "from_geometry": 0}
    source = (
        spaces["floor_area_source"].astype(str) if "floor_area_source" in spaces else pd.Series([], dtype=str)
    )
    return {
        "count": int(len(spaces)),
        "floor_area_m2": _r(pd.to_numeric(spaces["floor_area_m2"], errors="coerce").sum()),
        "from_quantities": int((source == "BaseQuantities").sum()),
        "from_geometry": int((source == "geometry").sum()),
        "min_height_m": _r(pd.to_numeric(spaces["height_m"], errors="coerce").min()),
    }


def _envelope(surfaces: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kind = surfaces["kind"].to_numpy()
    area = surfaces["area_m2"].to_numpy()
    sector = sector_of(np.nan_to_num(surfaces["azimuth_deg"].to_numpy(), nan=0.0))
    for k in _VERTICAL:
        sel = kind == k
        out[k] = {s: _r(area[sel & (sector == s)].sum()) for s in SECTORS}
        out[k]["total"] = _r(area[sel].sum())
    out["roof"] = _r(area[kind == "roof"].sum())
    out["floor"] = _r(area[kind == "floor"].sum())
    vertical = np.isin(kind, _VERTICAL)
    by = {s: _r(area[vertical & (sector == s)].sum()) for s in SECTORS}
    by["roof"] = out["roof"]
    by["floor"] = out["floor"]
    out["by_orientation"] = by
    out["total"] = _r(area.sum())
    return out


def _mean_u(surfaces: pd.DataFrame) -> dict[str, float | None]:
    out = {}
    for k in ("wall", "roof", "floor", "window", "door"):
        sel = surfaces[surfaces["kind"] == k]
        a = sel["area_m2"].to_numpy()
        u = sel["u_w_m2k"].to_numpy()
        ok = np.isfinite(u) & (a > 0)
        out[k] = _r((a[ok] * u[ok]).sum() / a[ok].sum(), 3) if ok.any() else None
    return out
