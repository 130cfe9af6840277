"""What each element is to the envelope: its role, the kinds of its faces, its U- and g-value.

An element's *role* decides how its envelope faces are named: windows and
doors (and their parts: the panes and mullions of an ``IfcWindow``, the
plates of an ``IfcCurtainWall``) give ``window``/``door`` faces; roof
elements (``IfcRoof`` and its parts, ``IfcSlab`` ``ROOF``, ``IfcCovering``
``ROOFING``) give ``roof`` faces up to 80 degrees of tilt; frame members on
their own (``IfcMember``, ``IfcBeam``, ``IfcColumn``) close the shell but
are never envelope (rafters inside a roof slab, columns inside a wall);
everything else is named by tilt.  U-values follow
:func:`bim_ingest.ifc.uvalues.surface_u`, parts falling back on their
aggregate's properties and layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bim_ingest.ifc.semantics import ElementInfo
from bim_ingest.ifc.uvalues import UValue, surface_u, typology_u

__all__ = [
    "SECTORS",
    "ROOF_TYPES",
    "FLOOR_SLAB_TYPES",
    "STRUCTURE",
    "WALL_LIKE",
    "Candidate",
    "sector_of",
    "role_of",
    "kinds_by_tilt",
    "default_kind",
    "element_u",
    "element_g",
]

#: Compass sectors of 45 degrees, clockwise from north.
SECTORS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
#: ``PredefinedType`` of slabs and coverings that are roofs.
ROOF_TYPES = {"ROOF"}
#: ``PredefinedType`` of slabs that are floors (for footprints and gross floor areas).
FLOOR_SLAB_TYPES = {"FLOOR", "BASESLAB", "NOTDEFINED", "USERDEFINED", ""}
#: Frame members that close the shell but are never envelope on their own
#: (rafters inside a roof slab, columns inside a wall); as parts of a window,
#: door or curtain wall they are.
STRUCTURE = ("IfcMember", "IfcBeam", "IfcColumn")
#: Classes whose plan outline stands for a footprint when there is no floor slab.
WALL_LIKE = ("IfcWall", "IfcCurtainWall", "IfcColumn", "IfcPlate", "IfcMember", "IfcBuildingElementProxy")


def sector_of(azimuth_deg: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """Compass sector (N, NE, ... NW) of azimuths in degrees clockwise from north.

    Examples
    --------
    >>> sector_of([0.0, 44.0, 180.0, 350.0]).tolist()
    ['N', 'NE', 'S', 'N']
    """
    az = np.asarray(azimuth_deg, dtype=np.float64) % 360.0
    return np.asarray(SECTORS)[np.floor((az + 22.5) / 45.0).astype(int) % 8]


@dataclass
class Candidate:
    """A meshed element that may be envelope: its record, triangles (m, 3, 3) in world metres, role."""

    info: ElementInfo
    tri: npt.NDArray[np.float64]  # (m, 3, 3) world metres, oriented outward
    role: str  # window / door / roof / structure / other


def role_of(info: ElementInfo) -> str:
    """``window``, ``door``, ``roof``, ``structure`` or ``other`` (see the module docstring)."""
    cls = info.role_class
    if cls in ("IfcWindow",):
        return "window"
    if cls in ("IfcDoor",):
        return "door"
    if cls == "IfcCurtainWall" and info.ifc_class == "IfcPlate":
        return "window"
    if cls == "IfcRoof" or info.ifc_class == "IfcRoof":
        return "roof"
    if info.predefined_type in ROOF_TYPES and info.ifc_class in ("IfcSlab", "IfcCovering"):
        return "roof"
    if info.ifc_class == "IfcCovering" and info.predefined_type == "ROOFING":
        return "roof"
    if info.ifc_class in STRUCTURE and cls == info.ifc_class:
        return "structure"
    return "other"


def kinds_by_tilt(role: str, tilt: npt.NDArray[np.float64]) -> npt.NDArray[np.str_]:
    """Envelope kind of each face of an element of ``role``, from the faces' tilt in degrees."""
    if role in ("window", "door"):
        return np.full(len(tilt), role, dtype="<U6")
    roof_limit = 80.0 if role == "roof" else 45.0
    kind = np.full(len(tilt), "wall", dtype="<U6")
    kind[tilt < roof_limit] = "roof"
    kind[tilt > 135.0] = "floor"
    return kind


def default_kind(c: Candidate | None, info: ElementInfo) -> str:
    """The kind an element's U-value is stated for when it has no envelope faces."""
    role = c.role if c is not None else role_of(info)
    if role in ("window", "door", "roof"):
        return role
    return "floor" if info.ifc_class == "IfcSlab" else "wall"


def element_u(info: ElementInfo, parent: ElementInfo | None, kind: str, typology: str, cache: dict) -> UValue:
    """U-value of an element's faces of ``kind``: its pset, else its layers, else the typology.

    A part (a window pane, a roof slab of an ``IfcRoof``) without its own
    value or layers takes its aggregate's.  Results are memoised in ``cache``.
    """
    key = (info.entity_id, kind)
    if key not in cache:
        u_pset = info.u_pset
        layers = info.layers
        if parent is not None:
            if not math.isfinite(u_pset):
                u_pset = parent.u_pset
            if not layers:
                layers = parent.layers
        cache[key] = surface_u(kind, u_pset=u_pset, layers=layers, typology=typology)
    return cache[key]


def element_g(info: ElementInfo, parent: ElementInfo | None, typology: str) -> float:
    """g-value of a window: its (or its aggregate's) ``Pset_DoorWindowGlazingType``, else the typology."""
    for source in (info, parent):
        if source is not None and math.isfinite(source.g_pset):
            return float(source.g_pset)
    return float(typology_u("window", typology)[1])
