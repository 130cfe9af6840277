"""Exports of a model to exchange formats (CityJSON 2.0).

GeoPackage and GeoParquet live in :mod:`twin.store`.
"""

from __future__ import annotations

import json
import os

import numpy as np
import shapely

from twin.cityjson_writer import write_cityjson
from twin.envelope import BuildingRecord
from twin.errors import StoreError
from twin.model import CityModel
from twin.surfaces import SurfaceBatch

__all__ = ["to_cityjson", "surfaces_to_batch"]


def surfaces_to_batch(model: CityModel) -> SurfaceBatch:
    """The model's surfaces as a :class:`SurfaceBatch` (multi-part surfaces split into parts)."""
    surfaces = model.surfaces
    geoms = shapely.force_3d(surfaces.geometry.to_numpy())
    row_of_building = {b: i for i, b in enumerate(model.buildings["building_id"])}
    if len(geoms) == 0:
        return SurfaceBatch(
            np.zeros((0, 3)),
            np.zeros(1, np.int64),
            np.zeros(1, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, "<U6"),
            np.zeros(0, "<U8"),
        )
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    _, coords, (ring_offsets, polygon_offsets) = shapely.to_ragged_array(parts, include_z=True)
    # shapely closes rings; SurfaceBatch rings are stored open
    starts, stops = ring_offsets[:-1], ring_offsets[1:]
    keep = np.ones(len(coords), dtype=bool)
    keep[stops - 1] = False
    lengths = stops - starts - 1
    new_ring_offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_ring_offsets[1:])
    b_index = np.array([row_of_building.get(b, -1) for b in surfaces["building_id"]], dtype=np.int64)
    # party pieces keep their kind/boundary; the writer maps them to semantics
    return SurfaceBatch(
        vertices=np.ascontiguousarray(coords[keep]),
        ring_offsets=new_ring_offsets,
        surface_ring_offsets=np.asarray(polygon_offsets, dtype=np.int64),
        building_index=b_index[part_of],
        kind=surfaces["kind"].to_numpy().astype("<U6")[part_of],
        boundary=surfaces["boundary"].to_numpy().astype("<U8")[part_of],
    )


def to_cityjson(model: CityModel, path: str | os.PathLike) -> None:
    """Write the model's buildings as CityJSON 2.0 (LoD as read, semantic surfaces).

    Raises
    ------
    StoreError
        When the file cannot be written (nothing is left behind).
    """
    batch = surfaces_to_batch(model)
    records = []
    for row in model.buildings.itertuples(index=False):
        attrs = json.loads(row.attributes_json) if row.attributes_json else {}
        attrs.pop("parts", None)
        records.append(
            BuildingRecord(
                building_id=row.building_id,
                name=row.name,
                year_built=None
                if row.year_built is None or row.year_built is np.nan or str(row.year_built) == "<NA>"
                else int(row.year_built),
                use=row.use,
                typology=row.typology,
                n_storeys=int(row.n_storeys),
                attributes=attrs,
            )
        )
    # one geometry LoD per file: the highest numeric LoD read (IFC buildings are written at it too)
    parts = (p for v in model.buildings["lod"] for p in str(v).split(","))
    numeric = [p for p in parts if p.replace(".", "", 1).isdigit()]
    lod = max(numeric, key=float) if numeric else "2"
    try:
        write_cityjson(
            path,
            batch=batch,
            records=records,
            crs=model.crs,
            lod=lod,
            metadata_title=model.name,
        )
    except OSError as err:
        raise StoreError(f"Writing CityJSON to {path} failed: {err}") from err
