"""Shared last step of every geometry reader: read surfaces -> CityModel.

Readers collect surfaces in the source CRS, then call :func:`model_from_surfaces`,
which reprojects the vertices to the model CRS, measures every surface and
building (:func:`twin.envelope.assemble_tables`) and records provenance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from pyproj import CRS

from twin.config import TOLERANCES, Tolerances
from twin.crs import transform_xyz, transformation_description
from twin.envelope import AssemblyReport, BuildingRecord, assemble_tables
from twin.model import CityModel
from twin.surfaces import SurfaceBatch

__all__ = ["model_from_surfaces", "file_sha256"]


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
