"""Export one building of the sample district as a georeferenced IFC4 file.

:func:`build_ifc_building` authors, with ``ifcopenshell.api`` only, a small but
complete IFC4 model of one district building:

* ``IfcProject`` (metres, square and cubic metres, radians) -> ``IfcSite`` ->
  ``IfcBuilding`` -> one ``IfcBuildingStorey`` per storey, each with its
  ``Elevation`` and one ``IfcSpace`` (the footprint inside the walls,
  extruded by the storey height, with ``Qto_SpaceBaseQuantities``);
* per storey one ``IfcWall`` (``STANDARD``) along every footprint edge,
  typed by an ``IfcWallType`` that carries an ``IfcMaterialLayerSet`` (the
  occurrence gets an ``IfcMaterialLayerSetUsage``) and
  ``Pset_WallCommon.IsExternal`` -- ``False`` on party walls, i.e. edges
  shared with a neighbouring footprint;
* ``IfcWindow`` s in the front and back facades (footprint edges 0 and 2),
  each filling an ``IfcOpeningElement`` that voids its wall;
* a ground slab (``IfcSlab`` ``BASESLAB``) and an ``IfcRoof`` (a gable
  prism or a flat slab);
* ``IfcMapConversion`` + ``IfcProjectedCRS`` ``EPSG:31370``: the local origin
  is the footprint's first corner, the local x axis runs along its first edge
  (the street facade) and z = 0 is the building's ground height, so mapping
  the local coordinates through the conversion gives back the district
  footprint in Lambert 72.

The output is deterministic: GlobalIds are UUID5s derived from the building id
and footprint, and the header time stamp is fixed, so the same district gives
a byte-identical file.
"""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.attribute
import ifcopenshell.api.context
import ifcopenshell.api.feature
import ifcopenshell.api.geometry
import ifcopenshell.api.georeference
import ifcopenshell.api.material
import ifcopenshell.api.project
import ifcopenshell.api.pset
import ifcopenshell.api.root
import ifcopenshell.api.spatial
import ifcopenshell.api.type
import ifcopenshell.api.unit
import ifcopenshell.guid
import numpy as np
import numpy.typing as npt
import shapely
from ifcopenshell.util.shape_builder import ShapeBuilder

from data.district import District
from twin.typing import PathLike_

__all__ = [
    "EXTERNAL_WALL_LAYERS",
    "IFC_TIMESTAMP",
    "PARTY_WALL_LAYERS",
    "build_ifc_building",
    "write_ifc_building",
]

#: Layers of the external wall, outside to inside: (name, thickness in metres).
EXTERNAL_WALL_LAYERS: tuple[tuple[str, float], ...] = (
    ("Brique de parement / Gevelsteen / Facing brick", 0.09),
    ("Laine minérale / Minerale wol / Mineral wool", 0.10),
    ("Brique / Baksteen / Brick", 0.19),
    ("Enduit / Pleister / Plaster", 0.015),
)
#: Layers of a party wall (mur mitoyen / gemene muur).
PARTY_WALL_LAYERS: tuple[tuple[str, float], ...] = (
    ("Enduit / Pleister / Plaster", 0.015),
    ("Brique / Baksteen / Brick", 0.28),
    ("Enduit / Pleister / Plaster", 0.015),
)
#: Fixed header time stamp, so that exports are reproducible.
IFC_TIMESTAMP = "2024-01-01T00:00:00"

_GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:brussels-twin:data:ifc_building")
_SLAB_DEPTH_M = 0.30
_WINDOW_WIDTH_M = 1.2
_WINDOW_SILL_M = 0.9
_WINDOW_SPACING_M = 2.4
_MAX_WINDOWS_PER_FACADE = 16
_PARTY_OVERLAP_M = 1.0
#: Relationship attributes that are IFC SETs of entities (order carries no meaning).
_SET_ATTRIBUTES = ("RelatedObjects", "RelatedElements", "RelatedDefinitions")


def write_ifc_building(district: District, building_id: str, path: PathLike_) -> Path:
    """Write one district building as an IFC4 file, atomically.

    Parameters
    ----------
    district
        The district holding the building.
    building_id
        Id of the building, e.g. ``"BXL-000123"``.
    path
        Target ``.ifc`` file; its folder must exist.  It is written to a
        temporary file beside it and renamed over it.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    twin.errors.UnknownEntityError
        When the district has no such building.

    Examples
    --------
    >>> import tempfile
    >>> from data.district import generate_district
    >>> d = generate_district(20)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = write_ifc_building(d, "BXL-000003", Path(tmp) / "house.ifc")
    ...     ifcopenshell.open(str(out)).schema
    'IFC4'
    """
    path = Path(path)
    model = build_ifc_building(district, building_id)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp.ifc")
    try:
        model.write(str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def build_ifc_building(district: District, building_id: str) -> ifcopenshell.file:
    """Author the IFC4 model of one district building (see the module docstring).

    Parameters
    ----------
    district
        The district holding the building.
    building_id
        Id of the building.

    Returns
    -------
    ifcopenshell.file
        The model, in memory.  Local coordinates are metres relative to the
        footprint's first corner at ground height, x along the street facade.
    """
    i = district.index_of(building_id)
    record = district.records[i]
    footprint = district.footprints[i]
    world = np.asarray(footprint.exterior.coords, dtype=np.float64)[:-1, :2]
    origin = world[0]
    edge = world[1] - world[0]
    x_axis = edge / np.hypot(*edge)
    local = _to_local(world, origin, x_axis)
    party = _party_edges(district, i)
    n_storeys = int(record.n_storeys or 1)
    storey_h = float(district.storey_heights_m[i])
    eave = float(district.eave_heights_m[i])
    rise = float(district.heights_m[i] - eave)
    gable = str(district.roof_shape[i]) == "gable"

    f = ifcopenshell.api.project.create_file(version="IFC4")
    f.header.file_name.time_stamp = IFC_TIMESTAMP
    f.header.file_name.name = f"{building_id}.ifc"
    project = ifcopenshell.api.root.create_entity(
        f, ifc_class="IfcProject", name=f"Brussels sample district - {building_id}"
    )
    units = [
        ifcopenshell.api.unit.add_si_unit(f, unit_type="LENGTHUNIT"),
        ifcopenshell.api.unit.add_si_unit(f, unit_type="AREAUNIT"),
        ifcopenshell.api.unit.add_si_unit(f, unit_type="VOLUMEUNIT"),
        ifcopenshell.api.unit.add_si_unit(f, unit_type="PLANEANGLEUNIT"),
    ]
    ifcopenshell.api.unit.assign_unit(f, units=units)
    model_ctx = ifcopenshell.api.context.add_context(f, context_type="Model")
    body = ifcopenshell.api.context.add_context(
        f,
        context_type="Model",
        context_identifier="Body",
        target_view="MODEL_VIEW",
        parent=model_ctx,
    )
    _georeference(f, district, origin, x_axis, float(district.ground_z_m[i]), units[0])

    site = ifcopenshell.api.root.create_entity(f, ifc_class="IfcSite", name="Site / Terrain")
    ifcopenshell.api.aggregate.assign_object(f, products=[site], relating_object=project)
    ifcopenshell.api.geometry.edit_object_placement(f, product=site, matrix=np.eye(4))
    building = ifcopenshell.api.root.create_entity(f, ifc_class="IfcBuilding", name=building_id)
    ifcopenshell.api.aggregate.assign_object(f, products=[building], relating_object=site)
    ifcopenshell.api.geometry.edit_object_placement(f, product=building, matrix=np.eye(4))
    ifcopenshell.api.attribute.edit_attributes(
        f, product=building, attributes={"Description": f"{record.typology}, {record.use}"}
    )

    wall_types = {
        True: _wall_type(f, "Mur de façade / Gevelmuur", EXTERNAL_WALL_LAYERS),
        False: _wall_type(f, "Mur mitoyen / Gemene muur", PARTY_WALL_LAYERS),
    }
    external_t = sum(t for _, t in EXTERNAL_WALL_LAYERS)
    party_t = sum(t for _, t in PARTY_WALL_LAYERS)
    edge_thickness = [party_t if p else external_t for p in party]
    inner = _inset(local, edge_thickness)

    storeys = []
    for k in range(n_storeys):
        storey = ifcopenshell.api.root.create_entity(f, ifc_class="IfcBuildingStorey", name=_storey_name(k))
        ifcopenshell.api.aggregate.assign_object(f, products=[storey], relating_object=building)
        elevation = round(k * storey_h, 6)
        ifcopenshell.api.geometry.edit_object_placement(
            f, product=storey, matrix=_matrix((0.0, 0.0, elevation))
        )
        ifcopenshell.api.attribute.edit_attributes(f, product=storey, attributes={"Elevation": elevation})
        storeys.append(storey)
        _space(f, body, storey, k, inner, storey_h, elevation, float(footprint.area))
        for e in range(len(local)):
            p, q = local[e], local[(e + 1) % len(local)]
            wall = _wall(
                f,
                body,
                storey,
                wall_types[not party[e]],
                p,
                q,
                storey_h,
                elevation,
                edge_thickness[e],
                external=not party[e],
                name=f"Mur {k}.{e} / Muur {k}.{e}",
            )
            if e in (0, 2) and not party[e]:
                _windows(f, body, storey, wall, p, q, storey_h, elevation, edge_thickness[e])

    _ground_slab(f, body, storeys[0], local)
    _roof(f, body, storeys[-1], local, eave, rise, gable)
    _sort_unordered_aggregates(f)
    _fix_global_ids(f, building_id, origin)
    return f


# ----------------------------------------------------------------------------
# geometry helpers
# ----------------------------------------------------------------------------


def _to_local(
    world: npt.NDArray[np.float64], origin: npt.NDArray[np.float64], x_axis: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Lambert 72 plan points -> local (x along ``x_axis``, y to its left)."""
    d = world - origin
    return np.column_stack(
        [d[:, 0] * x_axis[0] + d[:, 1] * x_axis[1], -d[:, 0] * x_axis[1] + d[:, 1] * x_axis[0]]
    )


def _matrix(
    position: tuple[float, float, float], x_dir: tuple[float, float] = (1.0, 0.0)
) -> npt.NDArray[np.float64]:
    """4x4 placement: origin ``position``, x axis ``x_dir`` in plan, z up."""
    m = np.eye(4)
    m[0, 0], m[1, 0] = x_dir
    m[0, 1], m[1, 1] = -x_dir[1], x_dir[0]
    m[:3, 3] = position
    return m


def _party_edges(district: District, i: int) -> list[bool]:
    """For each footprint edge: is it shared with a neighbour over at least 1 m?"""
    fp = district.footprints[i]
    coords = np.asarray(fp.exterior.coords)
    bounds = shapely.bounds(np.asarray(district.footprints, dtype=object))
    x0, y0, x1, y1 = fp.bounds
    near = np.flatnonzero(
        (bounds[:, 0] <= x1 + 0.01)
        & (bounds[:, 2] >= x0 - 0.01)
        & (bounds[:, 1] <= y1 + 0.01)
        & (bounds[:, 3] >= y0 - 0.01)
    )
    near = near[near != i]
    others = shapely.boundary(np.asarray([district.footprints[j] for j in near], dtype=object))
    out = []
    for e in range(len(coords) - 1):
        edge = shapely.LineString(coords[e : e + 2])
        overlap = float(shapely.length(shapely.intersection(edge, others)).sum()) if len(near) else 0.0
        out.append(overlap >= _PARTY_OVERLAP_M)
    return out


def _inset(local: npt.NDArray[np.float64], thickness: list[float]) -> npt.NDArray[np.float64]:
    """Corners of the polygon whose edges are moved inward by ``thickness[e]``."""
    n = len(local)
    lines = []
    for e in range(n):
        p, q = local[e], local[(e + 1) % n]
        d = (q - p) / np.hypot(*(q - p))
        inward = np.array([-d[1], d[0]])  # counter-clockwise ring: interior on the left
        lines.append((p + thickness[e] * inward, d))
    out = np.zeros((n, 2))
    for e in range(n):
        (p1, d1), (p2, d2) = lines[e - 1], lines[e]
        # p1 + s d1 = p2 + t d2
        a = np.column_stack([d1, -d2])
        s, _ = np.linalg.solve(a, p2 - p1)
        out[e] = p1 + s * d1
    return out


# ----------------------------------------------------------------------------
# model authoring helpers (ifcopenshell.api)
# ----------------------------------------------------------------------------


def _georeference(
    f: ifcopenshell.file,
    district: District,
    origin: npt.NDArray[np.float64],
    x_axis: npt.NDArray[np.float64],
    ground_z: float,
    metre: ifcopenshell.entity_instance,
) -> None:
    epsg = district.crs.to_epsg()
    name = f"EPSG:{epsg}"
    ifcopenshell.api.georeference.add_georeferencing(f, ifc_class="IfcMapConversion", name=name)
    ifcopenshell.api.georeference.edit_georeferencing(
        f,
        projected_crs={
            "Name": name,
            "Description": district.crs.name,
            "GeodeticDatum": district.crs.datum.name if district.crs.datum else None,
            "MapUnit": metre,
        },
        coordinate_operation={
            "Eastings": float(origin[0]),
            "Northings": float(origin[1]),
            "OrthogonalHeight": ground_z,
            "XAxisAbscissa": float(x_axis[0]),
            "XAxisOrdinate": float(x_axis[1]),
            "Scale": 1.0,
        },
    )


def _storey_name(k: int) -> str:
    if k == 0:
        return "Rez-de-chaussée / Gelijkvloers"
    return f"Étage {k} / Verdieping {k}"


def _wall_type(
    f: ifcopenshell.file, name: str, layers: tuple[tuple[str, float], ...]
) -> ifcopenshell.entity_instance:
    wall_type = ifcopenshell.api.root.create_entity(
        f, ifc_class="IfcWallType", name=name, predefined_type="STANDARD"
    )
    layer_set = ifcopenshell.api.material.add_material_set(f, name=name, set_type="IfcMaterialLayerSet")
    materials: dict[str, ifcopenshell.entity_instance] = {}
    for material_name, thickness in layers:
        if material_name not in materials:
            existing = [m for m in f.by_type("IfcMaterial") if m.Name == material_name]
            materials[material_name] = (
                existing[0] if existing else (ifcopenshell.api.material.add_material(f, name=material_name))
            )
        layer = ifcopenshell.api.material.add_layer(f, layer_set=layer_set, material=materials[material_name])
        ifcopenshell.api.material.edit_layer(f, layer=layer, attributes={"LayerThickness": thickness})
    ifcopenshell.api.material.assign_material(
        f, products=[wall_type], type="IfcMaterialLayerSet", material=layer_set
    )
    return wall_type


def _wall(
    f: ifcopenshell.file,
    body: ifcopenshell.entity_instance,
    storey: ifcopenshell.entity_instance,
    wall_type: ifcopenshell.entity_instance,
    p: npt.NDArray[np.float64],
    q: npt.NDArray[np.float64],
    height: float,
    elevation: float,
    thickness: float,
    *,
    external: bool,
    name: str,
) -> ifcopenshell.entity_instance:
    """A straight wall from ``p`` to ``q`` whose outer face lies on the footprint edge."""
    length = float(np.hypot(*(q - p)))
    d = (q - p) / length
    wall = ifcopenshell.api.root.create_entity(f, ifc_class="IfcWall", name=name, predefined_type="STANDARD")
    ifcopenshell.api.spatial.assign_container(f, products=[wall], relating_structure=storey)
    ifcopenshell.api.type.assign_type(f, related_objects=[wall], relating_type=wall_type)
    ifcopenshell.api.material.assign_material(f, products=[wall], type="IfcMaterialLayerSetUsage")
    ifcopenshell.api.geometry.edit_object_placement(
        f, product=wall, matrix=_matrix((float(p[0]), float(p[1]), elevation), (d[0], d[1]))
    )
    rep = ifcopenshell.api.geometry.add_wall_representation(
        f, context=body, length=length, height=height, thickness=thickness
    )
    ifcopenshell.api.geometry.assign_representation(f, product=wall, representation=rep)
    pset = ifcopenshell.api.pset.add_pset(f, product=wall, name="Pset_WallCommon")
    ifcopenshell.api.pset.edit_pset(f, pset=pset, properties={"IsExternal": external, "LoadBearing": True})
    return wall


def _windows(
    f: ifcopenshell.file,
    body: ifcopenshell.entity_instance,
    storey: ifcopenshell.entity_instance,
    wall: ifcopenshell.entity_instance,
    p: npt.NDArray[np.float64],
    q: npt.NDArray[np.float64],
    storey_h: float,
    elevation: float,
    thickness: float,
) -> None:
    """Evenly spaced windows in one wall, each filling an opening that voids it."""
    length = float(np.hypot(*(q - p)))
    d = (q - p) / length
    count = int(min(_MAX_WINDOWS_PER_FACADE, max(1, length // _WINDOW_SPACING_M)))
    width = min(_WINDOW_WIDTH_M, length / count - 0.6)
    height = min(1.6, storey_h - _WINDOW_SILL_M - 0.4)
    if width <= 0.3 or height <= 0.3:
        return
    for j in range(count):
        along = length * (j + 0.5) / count - 0.5 * width
        corner = p + along * d
        base = (float(corner[0]), float(corner[1]), elevation + _WINDOW_SILL_M)

        opening = ifcopenshell.api.root.create_entity(
            f,
            ifc_class="IfcOpeningElement",
            predefined_type="OPENING",
            name=f"Baie / Opening {j}",
        )
        ifcopenshell.api.feature.add_feature(f, feature=opening, element=wall)
        shifted = (
            base[0] + 0.05 * d[1],
            base[1] - 0.05 * d[0],
            base[2],
        )  # start 5 cm outside the facade so the void cuts through
        ifcopenshell.api.geometry.edit_object_placement(
            f, product=opening, matrix=_matrix(shifted, (d[0], d[1]))
        )
        rep = ifcopenshell.api.geometry.add_wall_representation(
            f, context=body, length=width, height=height, thickness=thickness + 0.1
        )
        ifcopenshell.api.geometry.assign_representation(f, product=opening, representation=rep)

        window = ifcopenshell.api.root.create_entity(
            f, ifc_class="IfcWindow", predefined_type="WINDOW", name=f"Fenêtre / Raam {j}"
        )
        ifcopenshell.api.spatial.assign_container(f, products=[window], relating_structure=storey)
        ifcopenshell.api.feature.add_filling(f, opening=opening, element=window)
        ifcopenshell.api.attribute.edit_attributes(
            f, product=window, attributes={"OverallWidth": width, "OverallHeight": height}
        )
        ifcopenshell.api.geometry.edit_object_placement(f, product=window, matrix=_matrix(base, (d[0], d[1])))
        rep = ifcopenshell.api.geometry.add_window_representation(
            f,
            context=body,
            overall_width=width,
            overall_height=height,
            partition_type="SINGLE_PANEL",
        )
        ifcopenshell.api.geometry.assign_representation(f, product=window, representation=rep)


def _space(
    f: ifcopenshell.file,
    body: ifcopenshell.entity_instance,
    storey: ifcopenshell.entity_instance,
    k: int,
    inner: npt.NDArray[np.float64],
    storey_h: float,
    elevation: float,
    gross_area: float,
) -> None:
    space = ifcopenshell.api.root.create_entity(
        f, ifc_class="IfcSpace", name=f"{k:02d}", predefined_type="INTERNAL"
    )
    ifcopenshell.api.attribute.edit_attributes(
        f, product=space, attributes={"LongName": f"Espace {k} / Ruimte {k}"}
    )
    ifcopenshell.api.aggregate.assign_object(f, products=[space], relating_object=storey)
    ifcopenshell.api.geometry.edit_object_placement(f, product=space, matrix=_matrix((0.0, 0.0, elevation)))
    polyline = [(float(x), float(y)) for x, y in inner] + [(float(inner[0, 0]), float(inner[0, 1]))]
    rep = ifcopenshell.api.geometry.add_slab_representation(
        f, context=body, depth=storey_h, polyline=polyline
    )
    ifcopenshell.api.geometry.assign_representation(f, product=space, representation=rep)
    qto = ifcopenshell.api.pset.add_qto(f, product=space, name="Qto_SpaceBaseQuantities")
    ifcopenshell.api.pset.edit_qto(
        f,
        qto=qto,
        properties={
            "Height": storey_h,
            "NetFloorArea": float(shapely.Polygon(inner).area),
            "GrossFloorArea": gross_area,
        },
    )


def _ground_slab(
    f: ifcopenshell.file,
    body: ifcopenshell.entity_instance,
    storey: ifcopenshell.entity_instance,
    local: npt.NDArray[np.float64],
) -> None:
    slab = ifcopenshell.api.root.create_entity(
        f, ifc_class="IfcSlab", predefined_type="BASESLAB", name="Dalle de sol / Vloerplaat"
    )
    ifcopenshell.api.spatial.assign_container(f, products=[slab], relating_structure=storey)
    ifcopenshell.api.geometry.edit_object_placement(
        f, product=slab, matrix=_matrix((0.0, 0.0, -_SLAB_DEPTH_M))
    )
    polyline = [(float(x), float(y)) for x, y in local] + [(float(local[0, 0]), float(local[0, 1]))]
    rep = ifcopenshell.api.geometry.add_slab_representation(
        f, context=body, depth=_SLAB_DEPTH_M, polyline=polyline
    )
    ifcopenshell.api.geometry.assign_representation(f, product=slab, representation=rep)
    concrete = ifcopenshell.api.material.add_material(f, name="Béton / Beton / Concrete")
    ifcopenshell.api.material.assign_material(f, products=[slab], type="IfcMaterial", material=concrete)


def _roof(
    f: ifcopenshell.file,
    body: ifcopenshell.entity_instance,
    storey: ifcopenshell.entity_instance,
    local: npt.NDArray[np.float64],
    eave: float,
    rise: float,
    gable: bool,
) -> None:
    """A gable prism (ridge parallel to the facade) or a flat slab under the eave line."""
    roof = ifcopenshell.api.root.create_entity(
        f,
        ifc_class="IfcRoof",
        predefined_type="GABLE_ROOF" if gable and rise > 0 else "FLAT_ROOF",
        name="Toiture / Dak",
    )
    ifcopenshell.api.spatial.assign_container(f, products=[roof], relating_structure=storey)
    if gable and rise > 0:
        ifcopenshell.api.geometry.edit_object_placement(f, product=roof, matrix=_matrix((0.0, 0.0, eave)))
        length = float(np.hypot(*(local[1] - local[0])))
        depth = float(np.hypot(*(local[3] - local[0])))
        builder = ShapeBuilder(f)
        section = builder.polyline([(0.0, 0.0), (depth, 0.0), (0.5 * depth, rise)], closed=True)
        solid = builder.extrude(
            builder.profile(section),
            magnitude=length,
            position_z_axis=(1.0, 0.0, 0.0),
            position_x_axis=(0.0, 1.0, 0.0),
        )
        rep = builder.get_representation(body, [solid])
    else:
        ifcopenshell.api.geometry.edit_object_placement(
            f, product=roof, matrix=_matrix((0.0, 0.0, eave - _SLAB_DEPTH_M))
        )
        polyline = [(float(x), float(y)) for x, y in local] + [(float(local[0, 0]), float(local[0, 1]))]
        rep = ifcopenshell.api.geometry.add_slab_representation(
            f, context=body, depth=_SLAB_DEPTH_M, polyline=polyline
        )
    ifcopenshell.api.geometry.assign_representation(f, product=roof, representation=rep)


def _sort_unordered_aggregates(f: ifcopenshell.file) -> None:
    """Write every unordered (SET) aggregate of entities in entity-id order.

    ``ifcopenshell.api`` collects related objects through Python sets, whose
    order follows object hashes and so varies from run to run; sorting the
    members of these IFC SETs (their order has no meaning) makes the file
    reproducible.
    """
    for rel in f.by_type("IfcRelationship"):
        if rel.is_a("IfcRelNests"):  # RelatedObjects is an ordered LIST there
            continue
        changes = {}
        for name in _SET_ATTRIBUTES:
            members = getattr(rel, name, None)
            if isinstance(members, tuple) and len(members) > 1:
                changes[name] = sorted(members, key=lambda e: e.id())
        if changes:
            ifcopenshell.api.attribute.edit_attributes(f, product=rel, attributes=changes)
    for assignment in f.by_type("IfcUnitAssignment"):
        ordered = sorted(assignment.Units, key=lambda e: e.id())
        ifcopenshell.api.attribute.edit_attributes(f, product=assignment, attributes={"Units": ordered})


def _fix_global_ids(f: ifcopenshell.file, building_id: str, origin: npt.NDArray[np.float64]) -> None:
    """Replace the random GlobalIds with UUID5s of (building, origin, creation order)."""
    seed = f"{building_id}|{origin[0]:.3f}|{origin[1]:.3f}"
    for n, entity in enumerate(sorted(f.by_type("IfcRoot"), key=lambda e: e.id())):
        guid = ifcopenshell.guid.compress(uuid.uuid5(_GUID_NAMESPACE, f"{seed}|{n}").hex)
        ifcopenshell.api.attribute.edit_attributes(f, product=entity, attributes={"GlobalId": guid})
