"""Shared last step of every geometry reader: read surfaces -> CityModel.

Readers collect surfaces in the source CRS, then call :func:`model_from_surfaces`,
which reprojects the vertices to the model CRS, measures every surface and
building (:func:`twin.envelope.assemble_tables`) and records provenance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from pyproj import CRS

from twin.config import TOLERANCES, Tolerances
from twin.crs import transform_xyz, transformation_description
from twin.envelope import AssemblyReport, BuildingRecord, assemble_tables
from twin.model import CityModel
from twin.surfaces import SurfaceBatch

__all__ = ["model_from_surfaces", "file_sha256", "merge_building_parts"]


def merge_building_parts(
    batch: SurfaceBatch, records: Sequence[BuildingRecord]
) -> tuple[SurfaceBatch, list[BuildingRecord]]:
    """Fold building parts into their top-level building: one row per building.

    A record whose ``parent_id`` is set is a part.  Its surfaces move to the
    root building (following ``parent_id`` through the records); a root that
    has no record of its own (a pure container whose geometry sits on its
    parts) gets one, built from its first part.  The root's attributes list
    the part ids under ``parts``.  Every reader ends with the same rule, so a
    building counts once whatever format it came from.
    """
    if not any(r.parent_id for r in records):
        return batch, list(records)
    by_id = {r.building_id: r for r in records}

    def root_of(rec: BuildingRecord) -> str:
        seen = set()
        while rec.parent_id and rec.parent_id not in seen:
            seen.add(rec.parent_id)
            parent = by_id.get(rec.parent_id)
            if parent is None:
                return rec.parent_id
            rec = parent
        return rec.building_id

    out: list[BuildingRecord] = []
    row_of_root: dict[str, int] = {}
    new_row = np.zeros(len(records), dtype=np.int64)
    for i, rec in enumerate(records):
        root = root_of(rec)
        if root not in row_of_root:
            base = by_id.get(root, rec)
            attrs = dict(base.attributes)
            attrs.setdefault("parts", [])
            out.append(
                replace(
                    base,
                    building_id=root,
                    parent_id="",
                    n_storeys=base.n_storeys if root in by_id else None,
                    heated_floor_area_m2=base.heated_floor_area_m2 if root in by_id else None,
                    attributes=attrs,
                )
            )
            row_of_root[root] = len(out) - 1
        new_row[i] = row_of_root[root]
        if rec.building_id != root:
            out[row_of_root[root]].attributes["parts"].append(rec.building_id)
    for rec in out:
        if not rec.attributes.get("parts"):
            rec.attributes.pop("parts", None)
    merged = SurfaceBatch(
        vertices=batch.vertices,
        ring_offsets=batch.ring_offsets,
        surface_ring_offsets=batch.surface_ring_offsets,
        building_index=new_row[batch.building_index] if batch.n_surfaces else batch.building_index,
        kind=batch.kind,
        boundary=batch.boundary,
    )
    return merged, out


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (streamed)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_from_surfaces(
    batch: SurfaceBatch,
    records: Sequence[BuildingRecord],
    *,
    source_crs: CRS,
    target_crs: CRS,
    path: Path,
    fmt: str,
    lod: str,
    crs_declared: str,
    vertical_epsg: int | None = None,
    extra_source: dict | None = None,
    tolerances: Tolerances = TOLERANCES,
) -> tuple[CityModel, AssemblyReport]:
    """Reproject read surfaces, build the tables and wrap them in a :class:`CityModel`.

    Parameters
    ----------
    batch, records
        What the reader collected, coordinates in ``source_crs``.
    source_crs, target_crs
        Horizontal CRS of the file and of the model.
    path, fmt, lod, crs_declared, vertical_epsg
        Provenance recorded in ``model.sources``.
    extra_source
        More provenance fields (counts of repairs, versions ...).
    """
    batch, records = merge_building_parts(batch, records)
    if not source_crs.equals(target_crs) and len(batch.vertices):
        batch = SurfaceBatch(
            vertices=transform_xyz(batch.vertices, source_crs, target_crs),
            ring_offsets=batch.ring_offsets,
            surface_ring_offsets=batch.surface_ring_offsets,
            building_index=batch.building_index,
            kind=batch.kind,
            boundary=batch.boundary,
        )
    buildings, surfaces, report = assemble_tables(
        batch, records, crs=target_crs, source=path.name, lod=lod, tolerances=tolerances
    )
    source = {
        "path": str(path),
        "format": fmt,
        "sha256": file_sha256(path),
        "crs_declared": crs_declared,
        "vertical_epsg": vertical_epsg,
        "transformations": [transformation_description(source_crs, target_crs)],
        "buildings": int(len(buildings)),
        "lod": lod,
        "repaired_footprints": report.repaired_footprints,
        "skipped_empty_buildings": report.empty_buildings,
    }
    if extra_source:
        source.update(extra_source)
    model = CityModel(
        buildings=buildings, surfaces=surfaces, crs=target_crs, name=path.stem, sources=[source]
    )
    return model, report
