"""2D building footprints with a height or storey count -> LoD1 block models.

Reads GeoJSON, GeoPackage, Shapefile, FlatGeobuf (anything pyogrio opens)
and extrudes each footprint from its ground height by its height.  Which
attribute holds the height, the storey count, the ground height and the id is
configurable; by default common names in EN/FR/NL are tried.  A footprint
with neither height nor storeys is skipped and counted (or given
``default_height_m`` with its provenance saying so).  Invalid rings are
repaired with :func:`shapely.make_valid` and counted.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from bim_ingest._assemble import model_from_surfaces
from twin.config import TOLERANCES
from twin.crs import to_crs
from twin.envelope import BuildingRecord
from twin.errors import CRSError, IngestError, SchemaError, TwinWarning
from twin.extrude import extrude_footprint
from twin.model import CityModel
from twin.surfaces import SurfaceCollector
from twin.typing import CRSLike, PathLike_

__all__ = ["FootprintFields", "read_footprints"]


@dataclass(frozen=True)
class FootprintFields:
    """Attribute names to look for, first match wins (case-insensitive)."""

    id: tuple[str, ...] = ("building_id", "id", "identificatie", "gml_id", "capakey", "objectid")
    height: tuple[str, ...] = ("height_m", "height", "hauteur", "hoogte", "measuredheight", "h")
    storeys: tuple[str, ...] = (
        "n_storeys",
        "storeys",
        "storeysaboveground",
        "nb_etages",
        "etages",
        "bouwlagen",
        "levels",
        "building:levels",
    )
    ground_z: tuple[str, ...] = ("ground_z_m", "ground_z", "altitude", "z_ground", "maaiveld")
    year: tuple[str, ...] = (
        "year_built",
        "yearofconstruction",
        "construction_year",
        "annee",
        "bouwjaar",
    )
    use: tuple[str, ...] = ("use", "function", "usage", "fonction", "gebruik")
    typology: tuple[str, ...] = ("typology", "typologie", "building_type")


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def read_footprints(
    path: PathLike_,
    *,
    crs: CRSLike | None = None,
    source_crs: CRSLike | None = None,
    fields: FootprintFields | None = None,
    height_field: str | None = None,
    storeys_field: str | None = None,
    id_field: str | None = None,
    storey_height_m: float = TOLERANCES.storey_height_m,
    default_height_m: float | None = None,
    layer: str | int | None = None,
) -> CityModel:
    """Read footprints and extrude them to LoD1 buildings.

    Parameters
    ----------
    path
        A vector file pyogrio can open (GeoJSON, GeoPackage, Shapefile ...).
    crs, source_crs
        Model CRS (default EPSG:31370); file CRS if the file declares none.
    fields
        Candidate attribute names; ``height_field``, ``storeys_field`` and
        ``id_field`` force one name each.
    storey_height_m
        Height of a storey when only a storey count is given.
    default_height_m
        Height for footprints with neither height nor storeys; ``None`` skips them.
    layer
        Layer of a multi-layer file.

    Raises
    ------
    IngestError, SchemaError, CRSError
        Unreadable file, no polygons or no height information, no CRS.
    """
    path = Path(path)
    fields = fields or FootprintFields()
    if not path.exists():
        raise IngestError(f"{path}: no such file.")
    if path.is_file() and path.stat().st_size == 0:
        raise IngestError(f"{path.name}: the file is empty.")
    try:
        df = pyogrio.read_dataframe(path, layer=layer)
    except Exception as err:  # pyogrio raises DataSourceError, DataLayerError, ...
        raise IngestError(f"{path.name}: cannot read as a vector file: {err}") from err
    if not isinstance(df, gpd.GeoDataFrame) or df.geometry.isna().all():
        raise SchemaError(f"{path.name}: no geometries in the file (layer {layer!r}).")
    if df.crs is None:
        if source_crs is None:
            raise CRSError(
                f"{path.name}: the file declares no CRS; pass it with source_crs= "
                "(CLI: --source-crs EPSG:31370)."
            )
        df = df.set_crs(to_crs(source_crs))
    file_crs = to_crs(df.crs)
    cols = [c for c in df.columns if c != df.geometry.name]
    h_col = height_field or _pick(cols, fields.height)
    s_col = storeys_field or _pick(cols, fields.storeys)
    for forced in (height_field, storeys_field, id_field):
        if forced and forced not in cols:
            raise SchemaError(f"{path.name}: no attribute {forced!r}; attributes are {cols}.")
    if h_col is None and s_col is None and default_height_m is None:
        raise SchemaError(
            f"{path.name}: no height or storey attribute (looked for {fields.height + fields.storeys}); "
            "name one with height_field= / storeys_field= (CLI: --height-field) or give default_height_m."
        )
    id_col = id_field or _pick(cols, fields.id)
    z_col = _pick(cols, fields.ground_z)
    y_col = _pick(cols, fields.year)
    u_col = _pick(cols, fields.use)
    t_col = _pick(cols, fields.typology)

    geoms = df.geometry.to_numpy()
    polygonal = np.isin(shapely.get_type_id(geoms), [3, 6])
    n_not_polygon = int((~polygonal).sum())
    invalid = polygonal & ~shapely.is_valid(geoms)
    n_repaired = int(invalid.sum())
    if n_repaired:
        geoms = geoms.copy()
        geoms[invalid] = [_polygonal(shapely.make_valid(g)) for g in geoms[invalid]]

    heights = pd.to_numeric(df[h_col], errors="coerce").to_numpy(float) if h_col else np.full(len(df), np.nan)
    storeys = pd.to_numeric(df[s_col], errors="coerce").to_numpy(float) if s_col else np.full(len(df), np.nan)
    ground = pd.to_numeric(df[z_col], errors="coerce").to_numpy(float) if z_col else np.zeros(len(df))
    ground = np.where(np.isfinite(ground), ground, 0.0)

    collector = SurfaceCollector()
    records: list[BuildingRecord] = []
    seen: dict[str, int] = {}
    n_no_height = n_duplicates = 0
    for i in range(len(df)):
        g = geoms[i]
        if not polygonal[i] or g is None or g.is_empty:
            continue
        h = heights[i]
        prov = []
        if not np.isfinite(h) or h <= 0:
            if np.isfinite(storeys[i]) and storeys[i] > 0:
                h = storeys[i] * storey_height_m
                prov.append(f"height=storeys_x_{storey_height_m:g}m")
            elif default_height_m is not None:
                h = default_height_m
                prov.append("height=default")
            else:
                n_no_height += 1
                continue
        bid = str(df[id_col].iloc[i]) if id_col and pd.notna(df[id_col].iloc[i]) else _geometry_id(g)
        if bid in seen:
            n_duplicates += 1
            seen[bid] += 1
            bid = f"{bid}-dup{seen[bid] - 1}"
        seen.setdefault(bid, 1)
        extrude_footprint(collector, len(records), g, ground_z_m=float(ground[i]), height_m=float(h))
        attrs = {c: _scalar(df[c].iloc[i]) for c in cols if c not in (id_col,)}
        if prov:
            attrs["_provenance"] = ";".join(prov)
        records.append(
            BuildingRecord(
                building_id=bid,
                year_built=_as_int(df[y_col].iloc[i]) if y_col else None,
                use=str(df[u_col].iloc[i]) if u_col and pd.notna(df[u_col].iloc[i]) else "",
                typology=str(df[t_col].iloc[i]) if t_col and pd.notna(df[t_col].iloc[i]) else "",
                n_storeys=_as_int(storeys[i]),
                attributes=attrs,
            )
        )
    messages = []
    if n_no_height:
        messages.append(f"{n_no_height} footprint(s) without height or storeys were skipped")
    if n_repaired:
        messages.append(f"{n_repaired} invalid footprint(s) repaired with make_valid")
    if n_not_polygon:
        messages.append(f"{n_not_polygon} non-polygon feature(s) ignored")
    if n_duplicates:
        messages.append(f"{n_duplicates} duplicate id(s) renamed with a '-dupN' suffix")
    if messages:
        warnings.warn(f"{path.name}: " + "; ".join(messages) + ".", TwinWarning, stacklevel=2)
    if not records:
        raise SchemaError(f"{path.name}: no usable footprint (all lacked height or were not polygons).")
    model, _ = model_from_surfaces(
        collector.to_batch(),
        records,
        source_crs=file_crs,
        target_crs=to_crs(crs),
        path=path,
        fmt="footprints",
        lod="1",
        crs_declared=file_crs.to_string(),
        extra_source={
            "height_field": h_col,
            "storeys_field": s_col,
            "id_field": id_col,
            "skipped_without_height": n_no_height,
            "repaired_geometries": n_repaired,
            "duplicate_ids": n_duplicates,
        },
    )
    provenance = pd.Series([r.attributes.get("_provenance", "") for r in records])
    if provenance.str.len().any():
        b = model.buildings.copy()
        extra = provenance.to_numpy()[: len(b)]
        b["provenance"] = [
            ";".join(p for p in (a, e) if p) for a, e in zip(b["provenance"], extra, strict=True)
        ]
        model.buildings = b
    return model


def _geometry_id(geom) -> str:
    """A stable id from the footprint's geometry (same shape, same id)."""
    return "fp-" + hashlib.sha1(shapely.to_wkb(shapely.normalize(geom), output_dimension=2)).hexdigest()[:12]


def _polygonal(geom):
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _scalar(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return None if (isinstance(v, float) and np.isnan(v)) else v


def _as_int(value) -> int | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return int(f) if np.isfinite(f) else None
