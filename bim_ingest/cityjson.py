"""CityJSON 1.0 / 1.1 / 2.0 and CityJSONSeq (``.city.jsonl``) buildings.

Reads ``Building`` and ``BuildingPart`` city objects.  A Building and all its
parts become **one** row of ``buildings`` (the parts' ids are kept in
``attributes_json`` under ``parts``), because a building is the unit of
energy balances, permits and party walls; parts touching each other are
therefore never mistaken for neighbours.  Geometry: ``MultiSurface``,
``CompositeSurface``, ``Solid`` (outer shell), ``MultiSolid`` and
``CompositeSolid``; quantised vertices with ``transform`` are decoded.
Semantic surfaces give the kind (RoofSurface -> roof ...); without semantics
the kind follows the surface's tilt.  By default each object's highest LoD
is read; ``lod="1"`` or ``"2"`` (or an exact ``"2.2"``) chooses.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bim_ingest._assemble import model_from_surfaces
from twin.config import TOLERANCES
from twin.crs import parse_crs, to_crs
from twin.envelope import BuildingRecord
from twin.errors import CRSError, IngestError, SchemaError, TwinWarning
from twin.model import CityModel
from twin.surfaces import SEMANTIC_KIND, SurfaceBatch, classify_by_tilt, surface_metrics
from twin.typing import CRSLike, PathLike_

__all__ = ["read_cityjson", "SUPPORTED_VERSIONS"]

#: CityJSON versions this reader accepts.
SUPPORTED_VERSIONS = ("1.0", "1.1", "2.0")
_BUILDING_TYPES = ("Building", "BuildingPart")


def read_cityjson(
    path: PathLike_,
    *,
    crs: CRSLike | None = None,
    source_crs: CRSLike | None = None,
    lod: str | None = None,
) -> CityModel:
    """Read the buildings of a CityJSON file (or CityJSONSeq) into a :class:`CityModel`.

    Parameters
    ----------
    path
        ``.json`` / ``.city.json`` (CityJSON) or ``.jsonl`` / ``.city.jsonl`` (CityJSONSeq).
    crs
        CRS of the model (default EPSG:31370); the file's vertices are reprojected.
    source_crs
        CRS of the file when its ``metadata.referenceSystem`` is missing.
    lod
        Level of detail to read (``"1"``, ``"2"``, ``"2.2"`` ...); default the highest per object.

    Raises
    ------
    IngestError
        Empty, truncated or non-JSON file.
    SchemaError
        JSON that is not CityJSON, an unsupported version, or broken references.
    CRSError
        No CRS in the file and none given.

    Examples
    --------
    >>> m = read_cityjson("district.city.json")  # doctest: +SKIP
    """
    path = Path(path)
    doc, features = _load(path)
    version = str(doc.get("version", ""))
    if version not in SUPPORTED_VERSIONS:
        raise SchemaError(
            f"{path.name}: CityJSON version {version!r} is not supported; "
            f"supported versions are {', '.join(SUPPORTED_VERSIONS)}."
        )
    declared = _declared_crs(doc)
    if declared:
        parsed = parse_crs(declared)
        file_crs, vertical = parsed.horizontal, parsed.vertical_epsg
    elif source_crs is not None:
        file_crs, vertical, declared = to_crs(source_crs), None, f"given: {source_crs}"
    else:
        raise CRSError(
            f"{path.name}: no metadata.referenceSystem in the file; "
            "pass the file's CRS with source_crs= (CLI: --source-crs EPSG:31370)."
        )
    target = to_crs(crs)
    reader = _Reader(path, doc.get("transform"), lod)
    reader.is_seq = bool(doc.get("_seq"))
    reader.duplicates.extend(doc.get("_duplicates", []))
    for objects, vertices in features:
        reader.add_objects(objects, vertices)
    batch, records, unknown = reader.finish()
    batch = _classify_unknown(batch, unknown)
    model, _ = model_from_surfaces(
        batch,
        records,
        source_crs=file_crs,
        target_crs=target,
        path=path,
        fmt="cityjsonseq" if reader.is_seq else "cityjson",
        lod=reader.lod_label(),
        crs_declared=declared,
        vertical_epsg=vertical,
        extra_source={
            "cityjson_version": version,
            "skipped_surfaces": reader.skipped_surfaces,
            "duplicate_ids": reader.duplicates,
        },
    )
    return model


# --------------------------------------------------------------------- loading
def _load(path: Path) -> tuple[dict, Iterator[tuple[dict, list]]]:
    """The CityJSON document and an iterator of (CityObjects, vertices) chunks."""
    if not path.exists():
        raise IngestError(f"{path}: no such file.")
    if path.stat().st_size == 0:
        raise IngestError(f"{path.name}: the file is empty.")
    if path.name.endswith(".jsonl"):
        return _load_seq(path)
    duplicates: list[str] = []
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh, object_pairs_hook=_dict_recording_duplicates(duplicates))
    except json.JSONDecodeError as err:
        raise IngestError(
            f"{path.name}: not valid JSON (truncated or corrupt?) at line {err.lineno}, "
            f"column {err.colno}: {err.msg}."
        ) from err
    except UnicodeDecodeError as err:
        raise IngestError(f"{path.name}: not a UTF-8 text file ({err.reason}).") from err
    if not isinstance(doc, dict) or doc.get("type") != "CityJSON":
        raise SchemaError(f'{path.name}: JSON but not CityJSON (no "type": "CityJSON").')
    if "CityObjects" not in doc or "vertices" not in doc:
        raise SchemaError(f"{path.name}: CityJSON without 'CityObjects' or 'vertices'.")
    doc["_duplicates"] = duplicates
    return doc, iter([(doc["CityObjects"], doc["vertices"])])


def _dict_recording_duplicates(duplicates: list[str]):
    """A JSON object hook that keeps repeated keys as ``key-dupN`` and records them.

    Plain ``json.load`` silently keeps the last of two equal keys: a second
    city object with the same id would vanish.
    """

    def hook(pairs: list[tuple[str, Any]]) -> dict:
        out = dict(pairs)
        if len(out) == len(pairs):
            return out
        out = {}
        for k, v in pairs:
            key, n = k, 0
            while key in out:
                n += 1
                key = f"{k}-dup{n}"
            if n:
                duplicates.append(k)
            out[key] = v
        return out

    return hook


def _load_seq(path: Path) -> tuple[dict, Iterator[tuple[dict, list]]]:
    fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the generator
    first = fh.readline()
    try:
        header = json.loads(first)
    except json.JSONDecodeError as err:
        fh.close()
        raise IngestError(f"{path.name}: line 1 is not valid JSON: {err.msg}.") from err
    if not isinstance(header, dict) or header.get("type") != "CityJSON":
        fh.close()
        raise SchemaError(f"{path.name}: CityJSONSeq must start with a CityJSON header object.")
    header["_duplicates"] = []

    def features() -> Iterator[tuple[dict, list]]:
        with fh:
            for lineno, line in enumerate(fh, start=2):
                if not line.strip():
                    continue
                try:
                    feat = json.loads(line)
                except json.JSONDecodeError as err:
                    raise IngestError(
                        f"{path.name}: line {lineno} is not valid JSON (truncated?): {err.msg}."
                    ) from err
                if feat.get("type") != "CityJSONFeature":
                    raise SchemaError(f"{path.name}: line {lineno} is not a CityJSONFeature.")
                yield feat.get("CityObjects", {}), feat.get("vertices", [])

    header["_seq"] = True
    return header, features()


def _declared_crs(doc: dict) -> str | None:
    meta = doc.get("metadata") or {}
    ref = meta.get("referenceSystem") or meta.get("crs")
    if isinstance(ref, dict):  # CityJSON 1.0 variant {"epsg": n}
        ref = f"EPSG:{ref.get('epsg')}" if ref.get("epsg") else None
    return str(ref) if ref else None


# ------------------------------------------------------------------ geometry
class _Reader:
    """Walks city objects and collects their surfaces as flat index lists."""

    def __init__(self, path: Path, transform: dict | None, lod: str | None) -> None:
        self.path = path
        self.lod = lod
        self.scale = np.asarray(transform["scale"], dtype=np.float64) if transform else np.ones(3)
        self.translate = np.asarray(transform["translate"], dtype=np.float64) if transform else np.zeros(3)
        self.is_seq = False
        self.records: list[BuildingRecord] = []
        self.index_of: dict[str, int] = {}
        self.vertex_chunks: list[np.ndarray] = []
        self.n_vertices = 0
        self.ring_idx: list[list[int]] = []
        self.ring_offset_chunks: list[int] = []
        self.rings_per_surface: list[int] = []
        self.surface_building: list[int] = []
        self.surface_kind: list[str] = []
        self.surface_boundary: list[str] = []
        self.surface_unknown: list[bool] = []
        self.flat_idx: list[int] = []
        self.ring_lengths: list[int] = []
        self.lods_used: set[str] = set()
        self.skipped_surfaces = 0
        self.duplicates: list[str] = []
        self.no_lod: list[str] = []

    def add_objects(self, objects: dict, vertices: list) -> None:
        base = self.n_vertices
        verts = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
        self.vertex_chunks.append(verts * self.scale + self.translate)
        self.n_vertices += len(verts)
        n_local = len(verts)
        for obj_id, obj in objects.items():
            if obj.get("type") != "Building":
                continue
            row = self._add_building(obj_id, obj, objects)
            self._add_geometry(row, obj_id, obj, base, n_local)
            for child_id in obj.get("children", []):
                child = objects.get(child_id)
                if child is None:
                    raise SchemaError(
                        f"{self.path.name}: Building {obj_id!r} lists child {child_id!r}, "
                        "which is not a city object."
                    )
                if child.get("type") in _BUILDING_TYPES:
                    self._add_geometry(row, child_id, child, base, n_local)

    def _add_building(self, obj_id: str, obj: dict, objects: dict) -> int:
        attrs = dict(obj.get("attributes") or {})
        parts = [c for c in obj.get("children", []) if objects.get(c, {}).get("type") == "BuildingPart"]
        if parts:
            attrs["parts"] = parts
        building_id = str(obj_id)
        if building_id in self.index_of:
            k = 1
            while f"{building_id}-dup{k}" in self.index_of:
                k += 1
            self.duplicates.append(building_id)
            building_id = f"{building_id}-dup{k}"
        year = attrs.get("yearOfConstruction")
        storeys = attrs.get("storeysAboveGround")
        rec = BuildingRecord(
            building_id=building_id,
            name=str(attrs.get("name", "") or ""),
            year_built=_as_int(year),
            use=str(attrs.get("function", attrs.get("usage", "")) or ""),
            typology=str(attrs.get("typology", "") or ""),
            n_storeys=_as_int(storeys),
            attributes=attrs,
        )
        self.index_of[building_id] = len(self.records)
        self.records.append(rec)
        return len(self.records) - 1

    def _choose(self, geometries: list[dict]) -> dict | None:
        usable = [g for g in geometries if "boundaries" in g and g.get("type") != "GeometryInstance"]
        if not usable:
            return None
        if self.lod is None:
            return max(usable, key=lambda g: float(g.get("lod", 0)))
        exact = [g for g in usable if str(g.get("lod")) == self.lod]
        if exact:
            return exact[0]
        major = [g for g in usable if str(g.get("lod")).split(".")[0] == self.lod]
        return max(major, key=lambda g: float(g.get("lod", 0))) if major else None

    def _add_geometry(self, row: int, obj_id: str, obj: dict, base: int, n_local: int) -> None:
        geometries = obj.get("geometry") or []
        if not geometries:
            return
        geom = self._choose(geometries)
        if geom is None:
            self.no_lod.append(obj_id)
            return
        self.lods_used.add(str(geom.get("lod")))
        gtype = geom["type"]
        boundaries = geom["boundaries"]
        sem = geom.get("semantics") or {}
        sem_surfaces = sem.get("surfaces", [])
        values = sem.get("values")
        if gtype in ("MultiSurface", "CompositeSurface"):
            surfaces = [(boundaries, values)]
        elif gtype == "Solid":
            surfaces = [(boundaries[0], values[0] if values else None)] if boundaries else []
        elif gtype in ("MultiSolid", "CompositeSolid"):
            surfaces = [
                (solid[0], values[k][0] if values else None) for k, solid in enumerate(boundaries) if solid
            ]
        else:
            raise SchemaError(f"{self.path.name}: object {obj_id!r} has unsupported geometry {gtype!r}.")
        for polys, vals in surfaces:
            for k, polygon in enumerate(polys):
                sem_index = vals[k] if vals is not None and k < len(vals) else None
                self._add_polygon(row, obj_id, polygon, sem_index, sem_surfaces, base, n_local)

    def _add_polygon(self, row, obj_id, polygon, sem_index, sem_surfaces, base, n_local) -> None:
        unknown = sem_index is None
        kind, boundary = "wall", "exterior"
        if not unknown:
            stype = sem_surfaces[sem_index].get("type", "")
            mapped = SEMANTIC_KIND.get(stype, ("wall", "exterior"))
            if mapped is None:
                self.skipped_surfaces += 1
                return
            kind, boundary = mapped
        n_rings = 0
        for ring in polygon:
            if len(ring) < 3:
                continue
            if max(ring) >= n_local or min(ring) < 0:
                raise SchemaError(
                    f"{self.path.name}: object {obj_id!r} refers to vertex {max(ring)} but the file "
                    f"has {n_local} vertices."
                )
            self.flat_idx.extend(v + base for v in ring)
            self.ring_lengths.append(len(ring))
            n_rings += 1
        if n_rings == 0:
            self.skipped_surfaces += 1
            return
        self.rings_per_surface.append(n_rings)
        self.surface_building.append(row)
        self.surface_kind.append(kind)
        self.surface_boundary.append(boundary)
        self.surface_unknown.append(unknown)

    def lod_label(self) -> str:
        return ",".join(sorted(self.lods_used)) or (self.lod or "")

    def finish(self) -> tuple[SurfaceBatch, list[BuildingRecord], np.ndarray]:
        if self.duplicates:
            warnings.warn(
                f"{self.path.name}: {len(self.duplicates)} duplicate building id(s) renamed with a "
                f"'-dupN' suffix, e.g. {self.duplicates[:3]}.",
                TwinWarning,
                stacklevel=3,
            )
        if self.no_lod:
            warnings.warn(
                f"{self.path.name}: {len(self.no_lod)} object(s) have no geometry at LoD {self.lod}, "
                f"e.g. {self.no_lod[:3]}; they were skipped.",
                TwinWarning,
                stacklevel=3,
            )
        vertices = np.vstack(self.vertex_chunks) if self.vertex_chunks else np.zeros((0, 3))
        flat = np.asarray(self.flat_idx, dtype=np.int64)
        ring_offsets = np.zeros(len(self.ring_lengths) + 1, dtype=np.int64)
        np.cumsum(self.ring_lengths, out=ring_offsets[1:])
        surf_offsets = np.zeros(len(self.rings_per_surface) + 1, dtype=np.int64)
        np.cumsum(self.rings_per_surface, out=surf_offsets[1:])
        batch = SurfaceBatch(
            vertices=np.ascontiguousarray(vertices[flat]),
            ring_offsets=ring_offsets,
            surface_ring_offsets=surf_offsets,
            building_index=np.asarray(self.surface_building, dtype=np.int64),
            kind=np.asarray(self.surface_kind, dtype="<U6"),
            boundary=np.asarray(self.surface_boundary, dtype="<U8"),
        )
        return batch, self.records, np.asarray(self.surface_unknown, dtype=bool)


def _classify_unknown(batch: SurfaceBatch, unknown: np.ndarray) -> SurfaceBatch:
    """Give surfaces without semantics a kind from their tilt."""
    if not unknown.any():
        return batch
    metrics = surface_metrics(batch)
    starts, stops = batch.surface_vertex_ranges()
    z = batch.vertices[:, 2]
    zmin = np.minimum.reduceat(z, starts)
    n_b = int(batch.building_index.max()) + 1
    ground = np.full(n_b, np.inf)
    np.minimum.at(ground, batch.building_index, zmin)
    kind, boundary = classify_by_tilt(
        metrics["tilt_deg"],
        zmin,
        ground[batch.building_index],
        vertical_tilt_deg=TOLERANCES.vertical_tilt_deg,
    )
    batch.kind = np.where(unknown, kind, batch.kind)
    batch.boundary = np.where(unknown, boundary, batch.boundary)
    return batch


def _as_int(value: Any) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
