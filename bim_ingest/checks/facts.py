"""What the permit rules need from an IFC file, gathered in one isolated worker process.

:func:`collect_facts` is the target that :func:`bim_ingest.checks.check_permit`
runs through :func:`bim_ingest.ifc.isolate.run_isolated`: the untrusted file
is parsed, validated against the IDS files and triangulated (by the geometry
worker of :mod:`bim_ingest.ifc.geometry`, itself a further process) away from
the caller, under time and memory limits.  It returns plain, picklable data:

* ``header``: file name, hash, schema, ``FILE_NAME`` fields (authoring tool);
* ``ids``: the IDS results (:func:`bim_ingest.checks.ids_gate.validate_ids`);
* ``model``: the georeferenced :class:`~twin.model.CityModel` of
  :func:`bim_ingest.ifc.read_ifc` (None, with ``model_error``, when the file
  has no building or no envelope geometry);
* ``storeys``, ``spaces``, ``windows``, ``elements``, ``tanks``: records
  (lengths in m, areas in m2, volumes in m3);
* ``meshes``: GlobalId -> (vertices (n, 3) float64 in the file's world
  metres, faces (m, 3) int32) of every triangulated element and space.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["collect_facts", "HABITABLE", "ROOM_FUNCTIONS", "FUNCTION_PSET", "FUNCTION_PROPERTY"]

#: Property set and property that carry the room function (see data/permit/brussels_submission.ids).
FUNCTION_PSET = "BXL_SpacePermit"
FUNCTION_PROPERTY = "RoomFunction"
#: Allowed room functions (RRU 2006 Titre II vocabulary in English upper case).
ROOM_FUNCTIONS = (
    "BEDROOM", "LIVING", "KITCHEN", "LIVING_KITCHEN", "STUDIO", "DINING", "STUDY",
    "BATHROOM", "WC", "CIRCULATION", "STORAGE", "TECHNICAL", "COMMON",
)  # fmt: skip
#: Habitable rooms ("locaux habitables", RRU Titre II art. 2).
HABITABLE = ("BEDROOM", "LIVING", "KITCHEN", "LIVING_KITCHEN", "STUDIO", "DINING", "STUDY")


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def _header(f: Any, path: Path) -> dict[str, Any]:
    from bim_ingest._assemble import file_sha256

    fn = f.header.file_name
    desc = f.header.file_description

    def text(value: Any) -> str:
        if isinstance(value, list | tuple):
            return "; ".join(str(v) for v in value)
        return str(value or "")

    projects = f.by_type("IfcProject")
    return {
        "ifc_project_global_id": str(projects[0].GlobalId) if projects else "",
        "file": path.name,
        "size_bytes": path.stat().st_size,
        "sha256": file_sha256(path),
        "schema": str(getattr(f, "schema_identifier", f.schema)),
        "file_name": text(getattr(fn, "name", "")),
        "time_stamp": text(getattr(fn, "time_stamp", "")),
        "author": text(getattr(fn, "author", "")),
        "organization": text(getattr(fn, "organization", "")),
        "originating_system": text(getattr(fn, "originating_system", "")),
        "preprocessor_version": text(getattr(fn, "preprocessor_version", "")),
        "view_definition": text(getattr(desc, "description", "")),
    }


def _dwelling(space: Any) -> tuple[str, str]:
    """(GlobalId, name) of the IfcZone the space is assigned to ("" when none)."""
    for rel in getattr(space, "HasAssignments", None) or ():
        if rel.is_a("IfcRelAssignsToGroup") and rel.RelatingGroup is not None:
            group = rel.RelatingGroup
            if group.is_a("IfcZone"):
                return str(group.GlobalId), str(group.Name or group.LongName or group.GlobalId)
    return "", ""


def _space_records(f: Any, sem: Any) -> list[dict[str, Any]]:
    import ifcopenshell.util.element as ue

    out = []
    for s in sem.spaces:
        entity = f.by_id(s.entity_id)
        psets = ue.get_psets(entity, psets_only=True)
        function = str(psets.get(FUNCTION_PSET, {}).get(FUNCTION_PROPERTY) or "").strip().upper()
        zone_gid, zone_name = _dwelling(entity)
        out.append(
            {
                "global_id": s.global_id,
                "name": s.name,
                "long_name": s.long_name,
                "storey": s.storey,
                "storey_global_id": s.storey_gid,
                "function": function,
                "dwelling_global_id": zone_gid,
                "dwelling": zone_name,
                "net_floor_area_qto_m2": s.net_floor_area_m2,
                "height_qto_m": s.height_m,
                "has_body": s.has_body,
            }
        )
    return out


def _window_records(f: Any, sem: Any) -> list[dict[str, Any]]:
    length = sem.length_unit_m
    out = []
    for e in sem.elements:
        if e.ifc_class != "IfcWindow":
            continue
        entity = f.by_id(e.entity_id)
        common = e.psets.get("Pset_WindowCommon", {})
        spaces = sorted(
            {
                str(rel.RelatingSpace.GlobalId)
                for rel in getattr(entity, "ProvidesBoundaries", None) or ()
                if rel.RelatingSpace is not None and rel.RelatingSpace.is_a("IfcSpace")
            }
        )
        fraction = _num(common.get("GlazingAreaFraction"))
        out.append(
            {
                "global_id": e.global_id,
                "name": e.name,
                "storey": e.storey,
                "storey_global_id": e.storey_gid,
                "width_m": _num(getattr(entity, "OverallWidth", None)) * length,
                "height_m": _num(getattr(entity, "OverallHeight", None)) * length,
                "glazing_fraction": fraction if 0.0 < fraction <= 1.0 else math.nan,
                "boundary_spaces": spaces,
                "is_roof_window": e.predefined_type in ("SKYLIGHT", "LIGHTDOME"),
            }
        )
    return out


def _element_records(sem: Any) -> list[dict[str, Any]]:
    out = []
    for e in sem.elements:
        qto = e.psets.get("Qto_RoofBaseQuantities", {}) if e.ifc_class == "IfcRoof" else {}
        out.append(
            {
                "global_id": e.global_id,
                "ifc_class": e.ifc_class,
                "name": e.name,
                "predefined_type": e.predefined_type,
                "storey": e.storey,
                "storey_global_id": e.storey_gid,
                "parent_global_id": e.parent_gid,
                "parent_class": e.parent_class,
                "is_external": e.is_external,
                "u_pset_w_m2k": e.u_pset,
                "roof_part": e.ifc_class == "IfcRoof"
                or e.parent_class == "IfcRoof"
                or (e.ifc_class == "IfcSlab" and e.predefined_type == "ROOF"),
                "roof_projected_area_qto_m2": _num(qto.get("ProjectedArea")),
            }
        )
    return out


def _tank_records(f: Any) -> list[dict[str, Any]]:
    import ifcopenshell.util.element as ue
    import ifcopenshell.util.unit

    try:
        tanks = f.by_type("IfcTank")
    except RuntimeError:  # IFC2X3 has no IfcTank
        return []
    volume = float(ifcopenshell.util.unit.calculate_unit_scale(f, "VOLUMEUNIT"))
    out = []
    for t in sorted(tanks, key=lambda e: e.id()):
        psets = ue.get_psets(t)
        capacity = math.nan
        for pset in ("Pset_TankTypeCommon", "Pset_TankOccurrence"):
            for key in ("NominalCapacity", "EffectiveCapacity"):
                capacity = _num(psets.get(pset, {}).get(key))
                if math.isfinite(capacity):
                    break
            if math.isfinite(capacity):
                break
        out.append(
            {
                "global_id": str(t.GlobalId),
                "name": str(t.Name or ""),
                "predefined_type": str(getattr(t, "PredefinedType", "") or ""),
                "capacity_l": capacity * volume * 1000.0,
            }
        )
    return out


def collect_facts(
    path: str,
    ids_paths: Sequence[str] = (),
    *,
    crs: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Parse, IDS-validate and triangulate an IFC file; return what the rules need.

    Run it through :func:`bim_ingest.ifc.isolate.run_isolated` (as
    :func:`bim_ingest.checks.check_permit` does), never on an untrusted file
    in a long-lived process.

    Parameters
    ----------
    path
        The IFC file (``.ifc`` or ``.ifczip``).
    ids_paths
        IDS files to validate the model against.
    crs
        CRS of the georeferenced model (default EPSG:31370).
    progress
        ``progress(step, done, total)``.

    Returns
    -------
    dict
        See the module docstring.

    Raises
    ------
    IngestError
        Not an IFC file, truncated, unreadable.
    IdsError
        An IDS file that is not valid IDS 1.0.
    """
    import ifcopenshell
    import numpy as np

    from bim_ingest.ifc.open import check_spf, open_ifc, unpacked
    from bim_ingest.ifc.read import ifc_meshes, read_ifc
    from bim_ingest.ifc.semantics import read_semantics
    from twin.errors import GeometryError, SchemaError

    from .ids_gate import validate_ids

    src_path = Path(path)
    tick = progress or (lambda step, done, total: None)
    tick("parsing the IFC file", 0, 5)
    with unpacked(src_path) as spf:
        building_error = ""
        try:
            f = open_ifc(src_path, spf).file
        except SchemaError as err:  # no IfcBuilding: IDS can still run, the rules cannot
            check_spf(Path(spf))
            f = ifcopenshell.open(str(spf))
            building_error = str(err)
        header = _header(f, src_path)
        tick("IDS validation", 1, 5)
        ids_results = [validate_ids(f, p) for p in ids_paths]
        sem = read_semantics(f)
        facts: dict[str, Any] = {
            "header": header,
            "ids": ids_results,
            "length_unit_m": sem.length_unit_m,
            "storeys": [
                {"global_id": s.global_id, "name": s.name, "elevation_m": s.elevation_m} for s in sem.storeys
            ],
            "spaces": _space_records(f, sem),
            "windows": _window_records(f, sem),
            "elements": _element_records(sem),
            "tanks": _tank_records(f),
            "model": None,
            "model_error": building_error,
            "meshes": {},
        }
    if building_error:
        return facts
    tick("geometry and georeferencing", 2, 5)
    try:
        facts["model"] = read_ifc(src_path, crs=crs)
    except (SchemaError, GeometryError) as err:
        facts["model_error"] = str(err)
    tick("meshes", 3, 5)
    from bim_ingest.ifc.cache import cache_key, default_cache_dir, load_meshes

    # read_ifc has just triangulated the file and cached the meshes: take them from there
    mesh_set = load_meshes(default_cache_dir(), cache_key(header["sha256"], "auto"))
    if mesh_set is not None:
        for i, eid in enumerate(mesh_set.entity_ids):
            try:
                gid = str(f.by_id(int(eid)).GlobalId)
            except RuntimeError:
                continue
            verts, faces = mesh_set.mesh(i)
            facts["meshes"][gid] = (np.asarray(verts, dtype=np.float64), np.asarray(faces, dtype=np.int32))
    else:  # not cached (a crash during triangulation is never cached): triangulate again
        try:
            meshes = ifc_meshes(src_path)
        except GeometryError as err:
            facts["model_error"] = facts["model_error"] or str(err)
            meshes = {}
        for gid, mesh in meshes.items():
            facts["meshes"][gid] = (
                np.asarray(mesh.vertices, dtype=np.float64),
                np.asarray(mesh.faces, dtype=np.int32),
            )
    tick("facts collected", 5, 5)
    return facts
