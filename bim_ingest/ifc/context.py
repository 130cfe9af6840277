"""The lookups every step of the model assembly shares.

:class:`Context` bundles the opened file, its semantics, its meshes, its
georeferencing and the model CRS, with the indexes built once: entity id to
mesh row, GlobalId to element, building GlobalId to building row.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pyproj import CRS

from bim_ingest.ifc.geometry import MeshSet
from bim_ingest.ifc.georef import Georeference
from bim_ingest.ifc.open import IfcSource
from bim_ingest.ifc.semantics import Semantics
from twin.crs import transform_xyz

__all__ = ["Context"]


class Context:
    """Everything the assembly steps share.

    Parameters
    ----------
    src, sem, meshes, geo
        The opened file, its semantics, its meshes (world metres) and its georeferencing.
    target_crs
        The model CRS.
    typology
        Default U-value typology (``data/u_value_typology.csv``).
    """

    def __init__(
        self,
        src: IfcSource,
        sem: Semantics,
        meshes: MeshSet,
        geo: Georeference,
        target_crs: CRS,
        typology: str,
    ) -> None:
        self.src = src
        self.sem = sem
        self.meshes = meshes
        self.geo = geo
        self.crs = target_crs
        self.typology = typology
        self.mesh_row = meshes.index()
        self.by_id = {e.entity_id: e for e in sem.elements}
        self.by_gid = {e.global_id: e for e in sem.elements}
        self.building_row = {b.global_id: i for i, b in enumerate(sem.buildings)}
        self.storey_elev = {s.global_id: s.elevation_m for s in sem.storeys}

    def building_of(self, gid: str) -> int | None:
        """Row of the building with GlobalId ``gid`` (the only building when unknown), or None."""
        if gid in self.building_row:
            return self.building_row[gid]
        return 0 if len(self.sem.buildings) == 1 else None

    def tris(self, entity_id: int) -> npt.NDArray[np.float64]:
        """Triangles (m, 3, 3) of a product, world metres (empty if not meshed)."""
        row = self.mesh_row.get(entity_id)
        return self.meshes.triangles(row) if row is not None else np.zeros((0, 3, 3))

    def to_model_xy(self, xyz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Local world points (n, 3) to model-CRS coordinates (n, 3)."""
        return transform_xyz(self.geo.apply(xyz), self.geo.crs, self.crs)
