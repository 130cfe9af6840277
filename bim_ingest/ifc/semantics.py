"""Read the non-geometric content of an IFC model.

:func:`read_semantics` walks the spatial structure (project, sites,
buildings, storeys, spaces) and the building elements that make the
envelope and the rooms, and returns plain records: GlobalIds, classes,
names, type names, storey and building, property sets (``IsExternal``,
``ThermalTransmittance``, the window g-value), material layers (names and
thicknesses in metres) and classification references.  Nothing here computes
geometry; lengths from attributes are converted to metres with the file's
length unit.

Elements are assigned to the storey and building that contain them
(``IfcRelContainedInSpatialStructure``), or, for parts of an aggregate (the
slabs of an ``IfcRoof``, the panels of a window), to those of their parent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import ifcopenshell
import ifcopenshell.util.classification
import ifcopenshell.util.element as ue
import ifcopenshell.util.placement
import ifcopenshell.util.unit

__all__ = [
    "ELEMENT_CLASSES",
    "ENVELOPE_CLASSES",
    "Semantics",
    "ElementInfo",
    "SpaceInfo",
    "StoreyInfo",
    "BuildingInfo",
    "read_semantics",
    "body_representations",
    "to_json",
]

#: Element classes listed in ``model.bim["ifc_elements"]`` (with their subtypes).
ELEMENT_CLASSES = (
    "IfcWall",
    "IfcCurtainWall",
    "IfcSlab",
    "IfcRoof",
    "IfcCovering",
    "IfcWindow",
    "IfcDoor",
    "IfcPlate",
    "IfcMember",
    "IfcColumn",
    "IfcBeam",
    "IfcRailing",
    "IfcStair",
    "IfcStairFlight",
    "IfcRamp",
    "IfcRampFlight",
    "IfcFooting",
    "IfcBuildingElementProxy",
    "IfcChimney",
    "IfcShadingDevice",
)

#: Classes whose geometry is triangulated and may form the thermal envelope.
#: Railings, stairs, ramps, footings and furniture are listed but not meshed:
#: they never separate heated space from outside.
ENVELOPE_CLASSES = (
    "IfcWall",
    "IfcCurtainWall",
    "IfcSlab",
    "IfcRoof",
    "IfcCovering",
    "IfcWindow",
    "IfcDoor",
    "IfcPlate",
    "IfcMember",
    "IfcColumn",
    "IfcBeam",
    "IfcBuildingElementProxy",
    "IfcChimney",
)

_AGGREGATE_KINDS = ("IfcWindow", "IfcDoor", "IfcCurtainWall", "IfcRoof")
_SPACE_QTO_SETS = ("Qto_SpaceBaseQuantities", "BaseQuantities")


@dataclass
class BuildingInfo:
    """One ``IfcBuilding``."""

    entity_id: int
    global_id: str
    name: str
    year_built: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class StoreyInfo:
    """One ``IfcBuildingStorey``; ``elevation_m`` in metres (project z)."""

    entity_id: int
    global_id: str
    name: str
    elevation_m: float
    building_gid: str


@dataclass
class SpaceInfo:
    """One ``IfcSpace`` with its BaseQuantities (NaN where absent; m2, m, m3)."""

    entity_id: int
    global_id: str
    name: str
    long_name: str
    storey: str
    storey_gid: str
    building_gid: str
    net_floor_area_m2: float = math.nan
    gross_floor_area_m2: float = math.nan
    height_m: float = math.nan
    net_volume_m3: float = math.nan
    gross_volume_m3: float = math.nan
    has_body: bool = False


@dataclass
class ElementInfo:
    """One building element: identity, placement in the structure, properties."""

    entity_id: int
    global_id: str
    ifc_class: str
    name: str
    type_name: str
    predefined_type: str
    storey: str
    storey_gid: str
    building_gid: str
    parent_gid: str
    parent_class: str
    is_external: bool | None
    u_pset: float
    g_pset: float
    psets: dict[str, dict[str, Any]]
    material: dict[str, Any]
    classification: list[dict[str, str]]
    has_body: bool

    @property
    def role_class(self) -> str:
        """The class that decides the element's envelope kind (the aggregate's for parts)."""
        return self.parent_class if self.parent_class in _AGGREGATE_KINDS else self.ifc_class

    @property
    def layers(self) -> list[tuple[str, float, float]]:
        """Material layers as ``(name, thickness_m, lambda_w_mk or NaN)``."""
        return [
            (str(lay["material"]), float(lay["thickness_m"]), float(lay.get("lambda_w_mk", math.nan)))
            for lay in self.material.get("layers", [])
        ]


@dataclass
class Semantics:
    """Everything :func:`read_semantics` found."""

    schema: str
    length_unit_m: float
    project_name: str
    buildings: list[BuildingInfo]
    storeys: list[StoreyInfo]
    spaces: list[SpaceInfo]
    elements: list[ElementInfo]
    #: opening entity id -> entity id of the element it voids
    opening_host: dict[int, int]
    #: ``IfcSite`` entity ids (for georeferencing)
    site_ids: list[int]


def body_representations(product: ifcopenshell.entity_instance) -> list:
    """The ``Body`` shape representations of a product (empty if none)."""
    rep = getattr(product, "Representation", None)
    if rep is None:
        return []
    return [r for r in rep.Representations if (r.RepresentationIdentifier or "") == "Body"]


def _by_types(f: ifcopenshell.file, classes: Iterable[str]) -> list:
    seen: dict[int, Any] = {}
    for cls in classes:
        try:
            items = f.by_type(cls)
        except RuntimeError:  # class not in this schema (e.g. IfcChimney in IFC2X3)
            continue
        for e in items:
            seen.setdefault(e.id(), e)
    return [seen[k] for k in sorted(seen)]


def _clean_psets(psets: dict) -> dict[str, dict[str, Any]]:
    out = {}
    for name, props in sorted(psets.items()):
        out[name] = {k: _plain(v) for k, v in sorted(props.items()) if k != "id"}
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, ifcopenshell.entity_instance):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _find_common(psets: dict, key: str) -> Any:
    """Value of ``key`` in the first ``Pset_*Common`` set holding it (None if none)."""
    for name in sorted(psets):
        if name.lower().startswith("pset_") and name.lower().endswith("common") and key in psets[name]:
            value = psets[name][key]
            if value is not None:
                return value
    return None


def _positive(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) and v > 0 else math.nan


class _Structure:
    """Cached walk from a spatial element up to its storey and building."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[str, str, str]] = {}

    def locate(self, spatial) -> tuple[str, str, str]:
        """(storey name, storey GlobalId, building GlobalId) of a spatial element."""
        if spatial is None:
            return "", "", ""
        key = spatial.id()
        if key in self._cache:
            return self._cache[key]
        storey_name = storey_gid = building_gid = ""
        node = spatial
        for _ in range(32):
            if node is None:
                break
            if node.is_a("IfcBuildingStorey") and not storey_gid:
                storey_name, storey_gid = node.Name or "", node.GlobalId
            if node.is_a("IfcBuilding"):
                building_gid = node.GlobalId
                break
            node = ue.get_aggregate(node) or ue.get_container(node)
        self._cache[key] = (storey_name, storey_gid, building_gid)
        return self._cache[key]


def _container_of(element) -> Any:
    node = element
    for _ in range(16):
        container = ue.get_container(node)
        if container is not None:
            return container
        parent = ue.get_aggregate(node) or _nest_parent(node)
        if parent is None or _is_spatial(parent):
            return parent
        node = parent
    return None


def _is_spatial(entity) -> bool:
    return bool(entity.is_a("IfcSpatialStructureElement") or entity.is_a("IfcSpatialElement"))


def _nest_parent(element) -> Any:
    for rel in getattr(element, "Nests", None) or ():
        return rel.RelatingObject
    return None


def _material_info(element, length_unit_m: float, thermal: dict[int, float]) -> dict[str, Any]:
    mat = ue.get_material(element, should_skip_usage=True)
    if mat is None:
        return {}
    kind = mat.is_a()
    if mat.is_a("IfcMaterialLayerSet"):
        layers = []
        for lay in mat.MaterialLayers or ():
            m = lay.Material
            thickness = float(lay.LayerThickness or 0.0) * length_unit_m
            entry: dict[str, Any] = {
                "material": (m.Name if m is not None else "") or "",
                "thickness_m": round(thickness, 6),
            }
            lam = thermal.get(m.id()) if m is not None else None
            if lam:
                entry["lambda_w_mk"] = lam
            if getattr(lay, "IsVentilated", None) not in (None, False, "FALSE"):
                entry["ventilated"] = True
            layers.append(entry)
        return {"kind": kind, "name": mat.LayerSetName or "", "layers": layers}
    if mat.is_a("IfcMaterial"):
        return {"kind": kind, "names": [mat.Name or ""]}
    if mat.is_a("IfcMaterialList"):
        return {"kind": kind, "names": [m.Name or "" for m in mat.Materials or ()]}
    if mat.is_a("IfcMaterialConstituentSet"):
        return {
            "kind": kind,
            "name": mat.Name or "",
            "names": [c.Material.Name or "" for c in mat.MaterialConstituents or () if c.Material],
        }
    if mat.is_a("IfcMaterialProfileSet"):
        return {
            "kind": kind,
            "name": mat.Name or "",
            "names": [p.Material.Name or "" for p in mat.MaterialProfiles or () if p.Material],
        }
    return {"kind": kind}


def _thermal_conductivities(f: ifcopenshell.file) -> dict[int, float]:
    """Material entity id -> thermal conductivity (W/(m K)) stated in the file."""
    out: dict[int, float] = {}
    if f.schema == "IFC2X3":
        for props in f.by_type("IfcThermalMaterialProperties"):
            lam = _positive(props.ThermalConductivity)
            if math.isfinite(lam) and props.Material is not None:
                out[props.Material.id()] = lam
        return out
    for m in f.by_type("IfcMaterial"):
        if not getattr(m, "HasProperties", None):
            continue
        for pset in ue.get_psets(m).values():
            lam = _positive(pset.get("ThermalConductivity"))
            if math.isfinite(lam):
                out[m.id()] = lam
                break
    return out


def _classifications(element) -> list[dict[str, str]]:
    refs = []
    try:
        found = ifcopenshell.util.classification.get_references(element)
    except Exception:  # malformed classification relationships are not fatal
        return refs
    for ref in sorted(found, key=lambda r: r.id()):
        ident = getattr(ref, "Identification", None) or getattr(ref, "ItemReference", None) or ""
        source = ""
        src = getattr(ref, "ReferencedSource", None)
        if src is not None:
            source = getattr(src, "Name", "") or ""
        refs.append({"system": str(source), "identification": str(ident), "name": str(ref.Name or "")})
    return refs


def _storey_elevation(storey, length_unit_m: float) -> float:
    if storey.Elevation is not None:
        return float(storey.Elevation) * length_unit_m
    if storey.ObjectPlacement is not None:
        matrix = ifcopenshell.util.placement.get_local_placement(storey.ObjectPlacement)
        return float(matrix[2, 3]) * length_unit_m
    return 0.0


def _space_quantities(space, area_unit: float, volume_unit: float, length_unit: float) -> dict[str, float]:
    qtos = ue.get_psets(space, qtos_only=True)
    out = {
        "net_floor_area_m2": math.nan,
        "gross_floor_area_m2": math.nan,
        "height_m": math.nan,
        "net_volume_m3": math.nan,
        "gross_volume_m3": math.nan,
    }
    keys = {
        "net_floor_area_m2": ("NetFloorArea", area_unit),
        "gross_floor_area_m2": ("GrossFloorArea", area_unit),
        "height_m": ("Height", length_unit),
        "net_volume_m3": ("NetVolume", volume_unit),
        "gross_volume_m3": ("GrossVolume", volume_unit),
    }
    for qset in _SPACE_QTO_SETS:
        props = qtos.get(qset)
        if not props:
            continue
        for col, (key, scale) in keys.items():
            if math.isnan(out[col]):
                value = _positive(props.get(key))
                if math.isfinite(value):
                    out[col] = value * scale
        if math.isnan(out["height_m"]):
            for alt in ("FinishCeilingHeight", "ClearHeight"):
                value = _positive(props.get(alt))
                if math.isfinite(value):
                    out["height_m"] = value * length_unit
                    break
    return out


def _year(value: Any) -> int | None:
    try:
        year = int(str(value)[:4])
    except (TypeError, ValueError):
        return None
    return year if 1000 <= year <= 2200 else None


def read_semantics(f: ifcopenshell.file) -> Semantics:
    """Extract the spatial structure and element records of an IFC model.

    Parameters
    ----------
    f
        An opened model (see :func:`bim_ingest.ifc.open.open_ifc`).

    Returns
    -------
    Semantics
        Records sorted by entity id (deterministic).
    """
    length = float(ifcopenshell.util.unit.calculate_unit_scale(f))
    area = float(ifcopenshell.util.unit.calculate_unit_scale(f, "AREAUNIT"))
    volume = float(ifcopenshell.util.unit.calculate_unit_scale(f, "VOLUMEUNIT"))
    structure = _Structure()
    thermal = _thermal_conductivities(f)

    buildings = []
    for b in sorted(f.by_type("IfcBuilding"), key=lambda e: e.id()):
        psets = ue.get_psets(b, psets_only=True)
        common = psets.get("Pset_BuildingCommon", {})
        buildings.append(
            BuildingInfo(
                entity_id=b.id(),
                global_id=b.GlobalId,
                name=b.Name or b.LongName or "",
                year_built=_year(common.get("YearOfConstruction")),
                attributes={k: _plain(v) for k, v in sorted(common.items()) if k != "id" and v is not None},
            )
        )

    storeys = []
    for s in sorted(f.by_type("IfcBuildingStorey"), key=lambda e: e.id()):
        _, _, bgid = structure.locate(s)
        storeys.append(StoreyInfo(s.id(), s.GlobalId, s.Name or "", _storey_elevation(s, length), bgid))

    spaces = []
    for sp in sorted(f.by_type("IfcSpace"), key=lambda e: e.id()):
        container = ue.get_aggregate(sp) or ue.get_container(sp)
        storey, storey_gid, bgid = structure.locate(container)
        q = _space_quantities(sp, area, volume, length)
        spaces.append(
            SpaceInfo(
                entity_id=sp.id(),
                global_id=sp.GlobalId,
                name=sp.Name or "",
                long_name=sp.LongName or "",
                storey=storey,
                storey_gid=storey_gid,
                building_gid=bgid,
                has_body=bool(body_representations(sp)),
                **q,
            )
        )

    elements = []
    for e in _by_types(f, ELEMENT_CLASSES):
        psets = ue.get_psets(e)
        etype = ue.get_type(e)
        parent = ue.get_aggregate(e) or _nest_parent(e)
        storey, storey_gid, bgid = structure.locate(_container_of(e))
        is_ext = _find_common(psets, "IsExternal")
        g_value = math.nan
        glazing = psets.get("Pset_DoorWindowGlazingType", {})
        for key in ("SolarHeatGainTransmittance", "SolarTransmittance"):
            g_value = _positive(glazing.get(key))
            if math.isfinite(g_value):
                break
        elements.append(
            ElementInfo(
                entity_id=e.id(),
                global_id=e.GlobalId,
                ifc_class=e.is_a(),
                name=e.Name or "",
                type_name=(etype.Name or "") if etype is not None else "",
                predefined_type=str(getattr(e, "PredefinedType", None) or ""),
                storey=storey,
                storey_gid=storey_gid,
                building_gid=bgid,
                parent_gid=parent.GlobalId if parent is not None and hasattr(parent, "GlobalId") else "",
                parent_class=parent.is_a() if parent is not None else "",
                is_external=None if is_ext is None else bool(is_ext),
                u_pset=_positive(_find_common(psets, "ThermalTransmittance")),
                g_pset=g_value if g_value <= 1.0 else math.nan,
                psets=_clean_psets(psets),
                material=_material_info(e, length, thermal),
                classification=_classifications(e),
                has_body=bool(body_representations(e)),
            )
        )

    opening_host: dict[int, int] = {}
    for rel in f.by_type("IfcRelVoidsElement"):
        opening_host[rel.RelatedOpeningElement.id()] = rel.RelatingBuildingElement.id()

    projects = f.by_type("IfcProject")
    return Semantics(
        schema=getattr(f, "schema_identifier", f.schema),
        length_unit_m=length,
        project_name=(projects[0].Name or "") if projects else "",
        buildings=buildings,
        storeys=storeys,
        spaces=spaces,
        elements=elements,
        opening_host=opening_host,
        site_ids=[s.id() for s in sorted(f.by_type("IfcSite"), key=lambda e: e.id())],
    )


def to_json(value: Any) -> str:
    """Deterministic JSON text for the ``*_json`` columns."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
