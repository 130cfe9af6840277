"""The element-level tables of ``model.bim``: ``ifc_elements``, ``ifc_spaces``, ``ifc_storeys``.

Each row carries ``building_id`` and the IFC ``global_id``.  Elements: class,
names, storey, ``IsExternal`` (from the property set, else geometry),
whether and how much they are envelope (by compass sector, up, down, m2),
U-value and its provenance, g-value, the kernel that triangulated them or
why that failed, property sets, materials and classifications as JSON
text.  Spaces: net floor area from BaseQuantities and from geometry, height
and volume (quantities where present, else geometry).  Storeys: name and
elevation (m), counts.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import numpy.typing as npt
import pandas as pd

from bim_ingest.ifc.context import Context
from bim_ingest.ifc.roles import SECTORS, default_kind, element_u
from bim_ingest.ifc.semantics import to_json
from bim_ingest.ifc.shell import triangle_normals

__all__ = ["elements_table", "spaces_table", "storeys_table", "space_geometry", "mesh_volume"]


def mesh_volume(tri: npt.NDArray[np.float64]) -> float:
    """Enclosed volume (m3) of a closed mesh (m, 3, 3), NaN when it is not plausibly closed."""
    if len(tri) == 0:
        return math.nan
    c = tri.reshape(-1, 3).mean(axis=0)
    t = tri - c
    vol = abs(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6.0)
    box = np.prod(tri.reshape(-1, 3).max(axis=0) - tri.reshape(-1, 3).min(axis=0))
    return float(vol) if 0 < vol <= box * 1.001 + 1e-9 else math.nan


def space_geometry(tri: npt.NDArray[np.float64]) -> dict[str, float]:
    """Floor area (m2, downward faces projected), height (m) and volume (m3) of a space mesh."""
    if len(tri) == 0:
        return {"floor_area_m2": math.nan, "height_m": math.nan, "volume_m3": math.nan}
    normal, area = triangle_normals(tri)
    down = normal[:, 2] < -0.7
    floor = float((area[down] * -normal[down, 2]).sum())
    z = tri[..., 2]
    return {"floor_area_m2": floor, "height_m": float(z.max() - z.min()), "volume_m3": mesh_volume(tri)}


def elements_table(ctx, cands, elem_area, env_area, accepted, override, kind_area) -> pd.DataFrame:
    """The ``ifc_elements`` table: a row per element of :data:`~bim_ingest.ifc.semantics.ELEMENT_CLASSES`."""
    cand_of = {c.info.entity_id: k for k, c in enumerate(cands)}
    u_cache: dict = {}
    rows = []
    for info in ctx.sem.elements:
        k = cand_of.get(info.entity_id)
        b = ctx.building_of(info.building_gid)
        mesh_row = ctx.mesh_row.get(info.entity_id)
        tri = ctx.meshes.triangles(mesh_row) if mesh_row is not None else np.zeros((0, 3, 3))
        on_env = bool(k is not None and accepted[k] and env_area[k] > 0)
        if info.is_external is not None:
            ext, ext_src = bool(info.is_external), "pset"
        else:
            ext, ext_src = on_env, ("geometry" if mesh_row is not None else "")
        areas_by_kind = kind_area[k] if k is not None else {}
        main_kind = (
            max(areas_by_kind, key=areas_by_kind.get)
            if areas_by_kind
            else default_kind(cands[k] if k is not None else None, info)
        )
        parent = ctx.by_gid.get(info.parent_gid)
        u_val = element_u(info, parent, main_kind, ctx.typology, u_cache)
        row = {
            "building_id": f"ifc-{ctx.sem.buildings[b].global_id}" if b is not None else "",
            "global_id": info.global_id,
            "ifc_class": info.ifc_class,
            "name": info.name,
            "type_name": info.type_name,
            "predefined_type": info.predefined_type,
            "storey": info.storey,
            "storey_global_id": info.storey_gid,
            "parent_global_id": info.parent_gid,
            "is_external": ext,
            "is_external_source": ext_src,
            "is_external_pset": "" if info.is_external is None else str(bool(info.is_external)).lower(),
            "on_envelope": on_env,
            "pset_overridden": bool(k is not None and override[k]),
            "envelope_kind": main_kind if on_env else "",
            "u_w_m2k": u_val.u_w_m2k,
            "u_provenance": u_val.provenance,
            "g_value": info.g_pset,
            "has_body": info.has_body,
            "meshed": mesh_row is not None,
            "kernel": str(ctx.meshes.kernels[mesh_row]) if mesh_row is not None else "",
            "geometry_error": ctx.meshes.failures.get(info.entity_id, ""),
            "surface_area_m2": float(triangle_normals(tri)[1].sum()) if len(tri) else math.nan,
            "volume_m3": mesh_volume(tri),
            "envelope_area_m2": float(sum(areas_by_kind.values())) if on_env else 0.0,
        }
        areas = elem_area[k] if k is not None and on_env else np.zeros(len(SECTORS) + 2)
        for s, name in enumerate(SECTORS):
            row[f"area_{name.lower()}_m2"] = float(areas[s])
        row["area_up_m2"] = float(areas[8])
        row["area_down_m2"] = float(areas[9])
        row["psets_json"] = to_json(info.psets)
        row["materials_json"] = to_json(info.material)
        row["classification_json"] = to_json(info.classification)
        rows.append(row)
    return pd.DataFrame(rows)


def spaces_table(ctx: Context) -> pd.DataFrame:
    """The ``ifc_spaces`` table: quantities and geometry of every ``IfcSpace``."""
    rows = []
    for s in ctx.sem.spaces:
        b = ctx.building_of(s.building_gid)
        geom = space_geometry(ctx.tris(s.entity_id))
        rows.append(
            {
                "building_id": f"ifc-{ctx.sem.buildings[b].global_id}" if b is not None else "",
                "global_id": s.global_id,
                "name": s.name,
                "long_name": s.long_name,
                "storey": s.storey,
                "storey_global_id": s.storey_gid,
                "net_floor_area_m2": s.net_floor_area_m2,
                "gross_floor_area_m2": s.gross_floor_area_m2,
                "floor_area_geom_m2": geom["floor_area_m2"],
                "floor_area_m2": s.net_floor_area_m2
                if math.isfinite(s.net_floor_area_m2)
                else geom["floor_area_m2"],
                "floor_area_source": "BaseQuantities" if math.isfinite(s.net_floor_area_m2) else "geometry",
                "height_m": s.height_m if math.isfinite(s.height_m) else geom["height_m"],
                "height_qto_m": s.height_m,
                "height_geom_m": geom["height_m"],
                "volume_m3": s.net_volume_m3 if math.isfinite(s.net_volume_m3) else geom["volume_m3"],
                "volume_qto_m3": s.net_volume_m3,
                "volume_geom_m3": geom["volume_m3"],
            }
        )
    cols = [
        "building_id", "global_id", "name", "long_name", "storey", "storey_global_id",
        "net_floor_area_m2", "gross_floor_area_m2", "floor_area_geom_m2", "floor_area_m2",
        "floor_area_source", "height_m", "height_qto_m", "height_geom_m", "volume_m3",
        "volume_qto_m3", "volume_geom_m3",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def storeys_table(ctx: Context) -> pd.DataFrame:
    """The ``ifc_storeys`` table: name and elevation (m) of every storey, by elevation."""
    n_spaces = Counter(s.storey_gid for s in ctx.sem.spaces)
    n_elements = Counter(e.storey_gid for e in ctx.sem.elements)
    rows = []
    for s in sorted(ctx.sem.storeys, key=lambda s: (s.elevation_m, s.entity_id)):
        b = ctx.building_of(s.building_gid)
        rows.append(
            {
                "building_id": f"ifc-{ctx.sem.buildings[b].global_id}" if b is not None else "",
                "global_id": s.global_id,
                "name": s.name,
                "elevation_m": s.elevation_m,
                "n_spaces": int(n_spaces.get(s.global_id, 0)),
                "n_elements": int(n_elements.get(s.global_id, 0)),
            }
        )
    return pd.DataFrame(
        rows, columns=["building_id", "global_id", "name", "elevation_m", "n_spaces", "n_elements"]
    )
