"""A small terraced house authored with ifcopenshell.api for the permit-check tests.

``build_house(passing)`` writes one dwelling in the gap of the ``terraced_row``
fixture (building B: x 6..11 m, y 0..10 m of the row, ground z 60 m in
EPSG:31370).  Every dimension is chosen so that the expected value of each
rule is a hand calculation (see HAND below): the passing variant satisfies
every rule, the failing one breaks each of them once.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.attribute
import ifcopenshell.api.context
import ifcopenshell.api.geometry
import ifcopenshell.api.georeference
import ifcopenshell.api.group
import ifcopenshell.api.project
import ifcopenshell.api.pset
import ifcopenshell.api.root
import ifcopenshell.api.spatial
import ifcopenshell.api.unit
import ifcopenshell.guid
import numpy as np
from ifcopenshell.util.shape_builder import ShapeBuilder

ROW_ORIGIN = (149_006.0, 168_500.0, 60.0)  # the row's x0 + 6 m (building B's corner), y0, z0
WIDTH_M = 5.0
WINDOW = (1.5, 1.5, 0.8)  # width, height, GlazingAreaFraction -> 1.8 m2 net per window

#: (name, function, storey, x-size, y-size, height, windows) per variant; the attic is separate.
ROOMS = {
    True: [
        ("Séjour", "LIVING", 0, 4.5, 4.8, 2.60, 3),
        ("Cuisine", "KITCHEN", 0, 4.5, 2.0, 2.60, 1),
        ("Chambre 1", "BEDROOM", 1, 4.5, 3.4, 2.60, 2),
        ("Chambre 2", "BEDROOM", 1, 4.5, 2.2, 2.60, 2),
        ("Salle de bain", "BATHROOM", 1, 4.5, 1.5, 2.25, 0),
    ],
    False: [
        ("Séjour", "LIVING", 0, 4.5, 4.2, 2.40, 2),
        ("Cuisine", "KITCHEN", 0, 4.5, 1.7, 2.60, 1),
        ("Chambre 1", "BEDROOM", 1, 4.5, 3.0, 2.60, 2),
        ("Chambre 2", "BEDROOM", 1, 4.5, 1.9, 2.60, 2),
        ("Salle de bain", "BATHROOM", 1, 4.5, 1.5, 2.10, 0),
    ],
}
#: Attic study under a sloped ceiling: x 4.5 m, floor y 0..5 m, ceiling from LOW to HIGH (m).
ATTIC = {True: (1.5, 3.5), False: (1.0, 3.0)}
#: Depth (m), total height (m), wall U, roof U (W/m2K), tank capacity (m3).
SHELL = {True: (10.0, 10.0, 0.20, 0.18, 2.0), False: (12.0, 13.0, 0.30, 0.28, 1.5)}
STOREY_ELEVATIONS_M = (0.0, 3.0, 6.0)


def _m(pos, x=(1.0, 0.0, 0.0), z=(0.0, 0.0, 1.0)) -> np.ndarray:
    m = np.eye(4)
    x, z = np.asarray(x, float), np.asarray(z, float)
    m[:3, 0], m[:3, 2] = x, z
    m[:3, 1] = np.cross(z, x)
    m[:3, 3] = pos
    return m


def build_house(passing: bool, path: Path) -> Path:
    """Author and write the passing or failing house; return ``path``."""
    depth, height, u_wall, u_roof, tank_m3 = SHELL[passing]
    f = ifcopenshell.api.project.create_file(version="IFC4")
    f.header.file_name.time_stamp = "2026-11-28T00:00:00"  # byte-identical files share the mesh cache
    project = ifcopenshell.api.root.create_entity(f, ifc_class="IfcProject", name="Permit test house")
    units = [
        ifcopenshell.api.unit.add_si_unit(f, unit_type=t) for t in ("LENGTHUNIT", "AREAUNIT", "VOLUMEUNIT")
    ]
    ifcopenshell.api.unit.assign_unit(f, units=units)
    model = ifcopenshell.api.context.add_context(f, context_type="Model")
    body = ifcopenshell.api.context.add_context(
        f, context_type="Model", context_identifier="Body", target_view="MODEL_VIEW", parent=model
    )
    ifcopenshell.api.georeference.add_georeferencing(f, ifc_class="IfcMapConversion", name="EPSG:31370")
    ifcopenshell.api.georeference.edit_georeferencing(
        f,
        projected_crs={"Name": "EPSG:31370", "MapUnit": units[0]},
        coordinate_operation={
            "Eastings": ROW_ORIGIN[0], "Northings": ROW_ORIGIN[1], "OrthogonalHeight": ROW_ORIGIN[2],
            "XAxisAbscissa": 1.0, "XAxisOrdinate": 0.0, "Scale": 1.0,
        },
    )  # fmt: skip
    site = ifcopenshell.api.root.create_entity(f, ifc_class="IfcSite", name="Site")
    ifcopenshell.api.aggregate.assign_object(f, products=[site], relating_object=project)
    building = ifcopenshell.api.root.create_entity(f, ifc_class="IfcBuilding", name="Maison")
    ifcopenshell.api.aggregate.assign_object(f, products=[building], relating_object=site)
    for p in (site, building):
        ifcopenshell.api.geometry.edit_object_placement(f, product=p, matrix=np.eye(4))
    storeys = []
    for k, z in enumerate(STOREY_ELEVATIONS_M):
        s = ifcopenshell.api.root.create_entity(f, ifc_class="IfcBuildingStorey", name=f"Niveau {k}")
        ifcopenshell.api.aggregate.assign_object(f, products=[s], relating_object=building)
        ifcopenshell.api.geometry.edit_object_placement(f, product=s, matrix=_m((0, 0, z)))
        ifcopenshell.api.attribute.edit_attributes(f, product=s, attributes={"Elevation": z})
        storeys.append(s)

    # shell: front (y=0) and back (y=depth) external walls, party walls on x=0 and x=5, base and roof slabs
    walls = [
        ((0.0, 0.0), (1, 0, 0), WIDTH_M, True),
        ((WIDTH_M, depth), (-1, 0, 0), WIDTH_M, True),
        ((WIDTH_M, 0.0), (0, 1, 0), depth, False),
        ((0.0, depth), (0, -1, 0), depth, False),
    ]
    for n, ((x, y), d, length, external) in enumerate(walls):
        w = ifcopenshell.api.root.create_entity(
            f, ifc_class="IfcWall", name=f"Mur {n}", predefined_type="STANDARD"
        )
        ifcopenshell.api.spatial.assign_container(f, products=[w], relating_structure=storeys[0])
        ifcopenshell.api.geometry.edit_object_placement(f, product=w, matrix=_m((x, y, 0.0), d))
        rep = ifcopenshell.api.geometry.add_wall_representation(
            f, context=body, length=length, height=height, thickness=0.3
        )
        ifcopenshell.api.geometry.assign_representation(f, product=w, representation=rep)
        pset = ifcopenshell.api.pset.add_pset(f, product=w, name="Pset_WallCommon")
        props = {"IsExternal": external}
        if external:
            props["ThermalTransmittance"] = u_wall
        ifcopenshell.api.pset.edit_pset(f, pset=pset, properties=props)
    outline = [(0.0, 0.0), (WIDTH_M, 0.0), (WIDTH_M, depth), (0.0, depth), (0.0, 0.0)]
    for name, kind, z in (("Dalle", "BASESLAB", 0.0), ("Toiture", "ROOF", height - 0.3)):
        slab = ifcopenshell.api.root.create_entity(f, ifc_class="IfcSlab", name=name, predefined_type=kind)
        container = storeys[0] if kind == "BASESLAB" else storeys[-1]
        ifcopenshell.api.spatial.assign_container(f, products=[slab], relating_structure=container)
        ifcopenshell.api.geometry.edit_object_placement(f, product=slab, matrix=_m((0, 0, z)))
        rep = ifcopenshell.api.geometry.add_slab_representation(f, context=body, depth=0.3, polyline=outline)
        ifcopenshell.api.geometry.assign_representation(f, product=slab, representation=rep)
        pset = ifcopenshell.api.pset.add_pset(f, product=slab, name="Pset_SlabCommon")
        props = {"IsExternal": kind == "ROOF"}
        if kind == "ROOF":
            props["ThermalTransmittance"] = u_roof
        ifcopenshell.api.pset.edit_pset(f, pset=pset, properties=props)

    tank = ifcopenshell.api.root.create_entity(
        f, ifc_class="IfcTank", name="Citerne", predefined_type="STORAGE"
    )
    ifcopenshell.api.spatial.assign_container(f, products=[tank], relating_structure=storeys[0])
    pset = ifcopenshell.api.pset.add_pset(f, product=tank, name="Pset_TankTypeCommon")
    ifcopenshell.api.pset.edit_pset(f, pset=pset, properties={"NominalCapacity": tank_m3})

    zone = ifcopenshell.api.root.create_entity(f, ifc_class="IfcZone", name="Logement 1")
    zoned = []

    def space(name, function, storey, x0, y0, polyline_or_profile, height_or_none, qto):
        sp = ifcopenshell.api.root.create_entity(
            f, ifc_class="IfcSpace", name=name, predefined_type="INTERNAL"
        )
        ifcopenshell.api.aggregate.assign_object(f, products=[sp], relating_object=storeys[storey])
        z = STOREY_ELEVATIONS_M[storey]
        if height_or_none is not None:
            ifcopenshell.api.geometry.edit_object_placement(f, product=sp, matrix=_m((x0, y0, z)))
            rep = ifcopenshell.api.geometry.add_slab_representation(
                f, context=body, depth=height_or_none, polyline=polyline_or_profile
            )
        else:  # sloped ceiling: profile in the (y, z) plane extruded along x
            ifcopenshell.api.geometry.edit_object_placement(f, product=sp, matrix=_m((x0, y0, z)))
            builder = ShapeBuilder(f)
            solid = builder.extrude(
                builder.profile(builder.polyline(polyline_or_profile, closed=True)),
                magnitude=4.5,
                position_z_axis=(1.0, 0.0, 0.0),
                position_x_axis=(0.0, 1.0, 0.0),
            )
            rep = builder.get_representation(body, [solid])
        ifcopenshell.api.geometry.assign_representation(f, product=sp, representation=rep)
        pset = ifcopenshell.api.pset.add_pset(f, product=sp, name="BXL_SpacePermit")
        ifcopenshell.api.pset.edit_pset(f, pset=pset, properties={"RoomFunction": function})
        q = ifcopenshell.api.pset.add_qto(f, product=sp, name="Qto_SpaceBaseQuantities")
        ifcopenshell.api.pset.edit_qto(f, qto=q, properties=qto)
        return sp

    y_at = {0: 0.3, 1: 0.3}
    for name, function, storey, sx, sy, h, n_windows in ROOMS[passing]:
        y0 = y_at[storey]
        y_at[storey] += sy
        area = sx * sy
        qto_area = area * (1.10 if (not passing and function == "LIVING") else 1.0)
        sp = space(name, function, storey, 0.25, y0, [(0, 0), (sx, 0), (sx, sy), (0, sy), (0, 0)], h,
                   {"NetFloorArea": qto_area, "Height": h})  # fmt: skip
        zoned.append(sp)
        for j in range(n_windows):
            win = ifcopenshell.api.root.create_entity(f, ifc_class="IfcWindow", name=f"Fenêtre {name} {j}")
            ifcopenshell.api.spatial.assign_container(f, products=[win], relating_structure=storeys[storey])
            ifcopenshell.api.attribute.edit_attributes(
                f, product=win, attributes={"OverallWidth": WINDOW[0], "OverallHeight": WINDOW[1]}
            )
            pw = ifcopenshell.api.pset.add_pset(f, product=win, name="Pset_WindowCommon")
            ifcopenshell.api.pset.edit_pset(f, pset=pw, properties={"GlazingAreaFraction": WINDOW[2]})
            rel = ifcopenshell.api.root.create_entity(f, ifc_class="IfcRelSpaceBoundary")
            ifcopenshell.api.attribute.edit_attributes(
                f, product=rel,
                attributes={"RelatingSpace": sp, "RelatedBuildingElement": win,
                            "PhysicalOrVirtualBoundary": "PHYSICAL",
                            "InternalOrExternalBoundary": "EXTERNAL"},
            )  # fmt: skip
    low, high = ATTIC[passing]
    profile = [(0, 0), (5.0, 0), (5.0, high), (0, low)]
    attic = space("Bureau sous combles", "STUDY", 2, 0.25, 0.3, profile, None, {"NetFloorArea": 4.5 * 5.0})
    for j in range(3):
        win = ifcopenshell.api.root.create_entity(f, ifc_class="IfcWindow", name=f"Fenêtre combles {j}")
        ifcopenshell.api.spatial.assign_container(f, products=[win], relating_structure=storeys[2])
        ifcopenshell.api.attribute.edit_attributes(
            f, product=win, attributes={"OverallWidth": WINDOW[0], "OverallHeight": WINDOW[1]}
        )
        pw = ifcopenshell.api.pset.add_pset(f, product=win, name="Pset_WindowCommon")
        ifcopenshell.api.pset.edit_pset(f, pset=pw, properties={"GlazingAreaFraction": WINDOW[2]})
        rel = ifcopenshell.api.root.create_entity(f, ifc_class="IfcRelSpaceBoundary")
        ifcopenshell.api.attribute.edit_attributes(
            f, product=rel, attributes={"RelatingSpace": attic, "RelatedBuildingElement": win}
        )
    if passing:
        zoned.append(attic)
    ifcopenshell.api.group.assign_group(f, products=zoned, group=zone)
    for n, e in enumerate(sorted(f.by_type("IfcRoot"), key=lambda e: e.id())):
        guid = uuid.uuid5(uuid.NAMESPACE_URL, f"permit-test-house|{passing}|{n}")
        ifcopenshell.api.attribute.edit_attributes(
            f, product=e, attributes={"GlobalId": ifcopenshell.guid.compress(guid.hex)}
        )
    f.write(str(path))
    return path


def cache_dir(tmp_path_factory) -> str:
    """One triangulation cache for all permit tests of a session (same file bytes, same meshes)."""
    return str(tmp_path_factory.getbasetemp() / "permit-mesh-cache")


def terraced_row_model():
    """The ``terraced_row`` fixture's model (A, B, C along x), for module-scoped fixtures."""
    import shapely
    from conftest import ROW

    from twin.crs import to_crs
    from twin.envelope import BuildingRecord, assemble_tables
    from twin.extrude import extrude_footprint
    from twin.model import CityModel
    from twin.surfaces import SurfaceCollector

    x0, y0, z0 = 149_000.0, 168_500.0, 60.0
    c = SurfaceCollector()
    for i, (_, xa, xb, h) in enumerate(ROW):
        extrude_footprint(c, i, shapely.box(x0 + xa, y0, x0 + xb, y0 + 10.0), ground_z_m=z0, height_m=h)
    records = [BuildingRecord(building_id=name, typology="terraced") for name, *_ in ROW]
    b, s, _ = assemble_tables(c.to_batch(), records, crs=to_crs(None), source="row", lod="1")
    return CityModel(buildings=b, surfaces=s, name="terraced row")
