"""Hand-made IFC files for the IFC ingest tests (and checks of the builder itself).

:func:`box_ifc` authors, with IfcOpenShell, a rectangular building whose every
coordinate is known: four walls (outer faces on the rectangle
``[0, width] x [0, depth]``), a ground slab under it, a flat roof slab on
it, optionally a window in the south wall, per storey.  Options choose the
schema (IFC4 / IFC2X3), the length unit, the georeferencing (IFC4
``IfcMapConversion``, IFC2X3 ``ePSet_MapConversion``, ``IfcSite``
latitude/longitude, none) and defects (an element whose geometry cannot be
built, no ``IfcBuilding``, coordinates far from the origin).
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.material
import ifcopenshell.api.project
import ifcopenshell.api.pset
import ifcopenshell.api.spatial
import ifcopenshell.guid
import pytest

_NS = uuid.UUID("5c0e4b52-7a43-4f59-9d0f-3f0e3c3b9a11")


class _Guids:
    def __init__(self, seed: str) -> None:
        self.seed = seed
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return ifcopenshell.guid.compress(uuid.uuid5(_NS, f"{self.seed}/{self.n}").hex)


def _dms(value: float) -> tuple[int, int, int, int]:
    sign = -1 if value < 0 else 1
    v = abs(value)
    d = int(v)
    m = int((v - d) * 60)
    s = int(((v - d) * 60 - m) * 60)
    us = int(round((((v - d) * 60 - m) * 60 - s) * 1e6))
    return (sign * d, sign * m, sign * s, sign * us)


def box_ifc(
    path: Path,
    *,
    schema: str = "IFC4",
    unit: str = "m",
    width: float = 10.0,
    depth: float = 8.0,
    height: float = 6.0,
    storeys: int = 2,
    thickness: float = 0.3,
    window: bool = True,
    georef: str | None = "map",
    eastings: float = 149_000.0,
    northings: float = 168_500.0,
    orthogonal_height: float = 60.0,
    rotation_deg: float = 30.0,
    scale: float | None = None,
    lat_lon: tuple[float, float] | None = None,
    true_north_deg: float = 0.0,
    offset: tuple[float, float] = (0.0, 0.0),
    broken: bool = False,
    building: bool = True,
    u_pset: float | None = None,
    layers: bool = True,
    annex: bool = False,
) -> Path:
    """Write a box building IFC (see the module docstring); lengths in metres.

    ``annex`` adds a second ``IfcBuilding``, a 6 m x ``depth`` one-storey
    box (3 m high) against the east wall.  ``rotation_deg`` is the
    counter-clockwise angle from map east to the local x axis;
    ``true_north_deg`` rotates the context's ``TrueNorth`` clockwise from
    local +y (true north then points that way in local coordinates).
    """
    guid = _Guids(f"{path.name}-{schema}-{unit}-{georef}")
    u = 1000.0 if unit == "mm" else 1.0
    f = ifcopenshell.api.project.create_file(version=schema)

    def point3(x, y, z):
        return f.createIfcCartesianPoint((float(x) * u, float(y) * u, float(z) * u))

    def placement(x=0.0, y=0.0, z=0.0):
        return f.createIfcLocalPlacement(
            None, f.createIfcAxis2Placement3D(point3(x + offset[0], y + offset[1], z), None, None)
        )

    length = f.createIfcSIUnit(None, "LENGTHUNIT", "MILLI" if unit == "mm" else None, "METRE")
    area = f.createIfcSIUnit(None, "AREAUNIT", None, "SQUARE_METRE")
    volume = f.createIfcSIUnit(None, "VOLUMEUNIT", None, "CUBIC_METRE")
    angle = f.createIfcSIUnit(None, "PLANEANGLEUNIT", None, "RADIAN")
    owner = None
    if schema == "IFC2X3":
        person = f.createIfcPerson(None, "Tester", None, None, None, None, None, None)
        org = f.createIfcOrganization(None, "Brussels twin tests", None, None, None)
        pao = f.createIfcPersonAndOrganization(person, org, None)
        app = f.createIfcApplication(org, "0", "tests", "tests")
        owner = f.createIfcOwnerHistory(pao, app, None, "ADDED", None, None, None, 0)
    tn = math.radians(true_north_deg)
    north = f.createIfcDirection((math.sin(tn), math.cos(tn))) if true_north_deg else None
    ctx = f.createIfcGeometricRepresentationContext(
        None,
        "Model",
        3,
        1e-5,
        f.createIfcAxis2Placement3D(f.createIfcCartesianPoint((0.0, 0.0, 0.0)), None, None),
        north,
    )
    body = f.createIfcGeometricRepresentationSubContext(
        "Body", "Model", None, None, None, None, ctx, None, "MODEL_VIEW", None
    )
    project = f.createIfcProject(
        guid(),
        owner,
        "Box project",
        None,
        None,
        None,
        None,
        [ctx],
        f.createIfcUnitAssignment([length, area, volume, angle]),
    )

    site_kwargs = {}
    if lat_lon is not None:
        site_kwargs = {
            "RefLatitude": _dms(lat_lon[0]),
            "RefLongitude": _dms(lat_lon[1]),
            "RefElevation": 50.0 * u,
        }
    site = f.createIfcSite(guid(), owner, "Site", None, None, placement(), None, None, "ELEMENT")
    for key, value in site_kwargs.items():
        setattr(site, key, value)
    ifcopenshell.api.aggregate.assign_object(f, products=[site], relating_object=project)
    parent = site
    if building:
        bldg = f.createIfcBuilding(guid(), owner, "Box house", None, None, placement(), None, None, "ELEMENT")
        ifcopenshell.api.aggregate.assign_object(f, products=[bldg], relating_object=site)
        parent = bldg

    if georef == "map":
        crs = f.createIfcProjectedCRS("EPSG:31370", "Belgian Lambert 72", "BD72", None, None, None, length)
        crs.MapUnit = f.createIfcSIUnit(None, "LENGTHUNIT", None, "METRE")
        r = math.radians(rotation_deg)
        f.createIfcMapConversion(
            ctx,
            crs,
            eastings,
            northings,
            orthogonal_height,
            math.cos(r),
            math.sin(r),
            scale if scale is not None else 1.0 / u,
        )
    elif georef == "epset":
        r = math.radians(rotation_deg)
        conv = ifcopenshell.api.pset.add_pset(f, product=project, name="ePSet_MapConversion")
        ifcopenshell.api.pset.edit_pset(
            f,
            pset=conv,
            properties={
                "Eastings": float(eastings),
                "Northings": float(northings),
                "OrthogonalHeight": float(orthogonal_height),
                "XAxisAbscissa": math.cos(r),
                "XAxisOrdinate": math.sin(r),
                "Scale": float(scale if scale is not None else 1.0 / u),
            },
        )
        crs = ifcopenshell.api.pset.add_pset(f, product=project, name="ePSet_ProjectedCRS")
        ifcopenshell.api.pset.edit_pset(f, pset=crs, properties={"Name": "EPSG:31370"})

    def box(x0, y0, z0, dx, dy, dz):
        profile = f.createIfcRectangleProfileDef(
            "AREA",
            None,
            f.createIfcAxis2Placement2D(
                f.createIfcCartesianPoint(((x0 + dx / 2) * u, (y0 + dy / 2) * u)), None
            ),
            dx * u,
            dy * u,
        )
        solid = f.createIfcExtrudedAreaSolid(
            profile,
            f.createIfcAxis2Placement3D(point3(0, 0, z0), None, None),
            f.createIfcDirection((0.0, 0.0, 1.0)),
            dz * u,
        )
        return f.createIfcProductDefinitionShape(
            None, None, [f.createIfcShapeRepresentation(body, "Body", "SweptSolid", [solid])]
        )

    layer_set = None
    if layers:
        layer_set = ifcopenshell.api.material.add_material_set(
            f, name="Mur / Muur", set_type="IfcMaterialLayerSet"
        )
        for name, t in (
            ("Brique / Baksteen / Brick", 0.19),
            ("Laine minérale / Minerale wol / Mineral wool", 0.10),
            ("Enduit / Pleister / Plaster", 0.01),
        ):
            mat = ifcopenshell.api.material.add_material(f, name=name)
            lay = ifcopenshell.api.material.add_layer(f, layer_set=layer_set, material=mat)
            lay.LayerThickness = t * u

    h = height / storeys
    t = thickness
    for k in range(storeys):
        z = k * h
        storey = f.createIfcBuildingStorey(
            guid(), owner, f"Storey {k}", None, None, placement(0, 0, z), None, None, "ELEMENT", z * u
        )
        ifcopenshell.api.aggregate.assign_object(f, products=[storey], relating_object=parent)
        contained = []
        walls = [
            ("South", (0, 0, 0, width, t, h)),
            ("North", (0, depth - t, 0, width, t, h)),
            ("West", (0, t, 0, t, depth - 2 * t, h)),
            ("East", (width - t, t, 0, t, depth - 2 * t, h)),
        ]
        for name, dims in walls:
            wall_cls = "IfcWallStandardCase" if schema == "IFC2X3" else "IfcWall"
            wall = f.create_entity(
                wall_cls, GlobalId=guid(), OwnerHistory=owner, Name=f"{name} wall {k}",
                ObjectPlacement=placement(0, 0, z), Representation=box(*dims),
            )  # fmt: skip
            pset = ifcopenshell.api.pset.add_pset(f, product=wall, name="Pset_WallCommon")
            props = {"IsExternal": True}
            if u_pset is not None:
                props["ThermalTransmittance"] = u_pset
            ifcopenshell.api.pset.edit_pset(f, pset=pset, properties=props)
            if layer_set is not None:
                ifcopenshell.api.material.assign_material(
                    f, products=[wall], type="IfcMaterialLayerSet", material=layer_set
                )
            contained.append(wall)
            if window and name == "South":
                opening = f.createIfcOpeningElement(
                    guid(), owner, f"Opening {k}", None, None, placement(0, 0, z),
                    box(2.0, -0.1, 1.0, 1.5, t + 0.2, 1.2), None,
                )  # fmt: skip
                f.createIfcRelVoidsElement(guid(), owner, None, None, wall, opening)
                win = f.create_entity(
                    "IfcWindow", GlobalId=guid(), OwnerHistory=owner, Name=f"Window {k}",
                    ObjectPlacement=placement(0, 0, z),
                    Representation=box(2.0, t / 2 - 0.03, 1.0, 1.5, 0.06, 1.2),
                    OverallHeight=1.2 * u, OverallWidth=1.5 * u,
                )  # fmt: skip
                f.createIfcRelFillsElement(guid(), owner, None, None, opening, win)
                contained.append(win)
        if k == 0:
            contained.append(
                f.create_entity(
                    "IfcSlab",
                    GlobalId=guid(),
                    OwnerHistory=owner,
                    Name="Ground slab",
                    ObjectPlacement=placement(0, 0, 0),
                    Representation=box(0, 0, -0.3, width, depth, 0.3),
                    PredefinedType="BASESLAB" if schema != "IFC2X3" else "FLOOR",
                )  # fmt: skip
            )
        if k == storeys - 1:
            contained.append(
                f.create_entity(
                    "IfcSlab",
                    GlobalId=guid(),
                    OwnerHistory=owner,
                    Name="Roof slab",
                    ObjectPlacement=placement(0, 0, z),
                    Representation=box(0, 0, h, width, depth, 0.3),
                    PredefinedType="ROOF",
                )  # fmt: skip
            )
            if broken:
                bad_profile = f.createIfcArbitraryClosedProfileDef(
                    "AREA", None, f.createIfcPolyline([f.createIfcCartesianPoint((0.0, 0.0))] * 2)
                )
                bad = f.createIfcExtrudedAreaSolid(
                    bad_profile, f.createIfcAxis2Placement3D(point3(0, 0, 0), None, None),
                    f.createIfcDirection((0.0, 0.0, 1.0)), 0.0,
                )  # fmt: skip
                contained.append(
                    f.create_entity(
                        "IfcWallStandardCase" if schema == "IFC2X3" else "IfcWall",
                        GlobalId="0BrokenWa11GeometryXyz",
                        OwnerHistory=owner,
                        Name="Broken wall",
                        ObjectPlacement=placement(0, 0, z),
                        Representation=f.createIfcProductDefinitionShape(
                            None, None, [f.createIfcShapeRepresentation(body, "Body", "SweptSolid", [bad])]
                        ),
                    )  # fmt: skip
                )
        ifcopenshell.api.spatial.assign_container(f, products=contained, relating_structure=storey)
    if annex:
        other = f.createIfcBuilding(guid(), owner, "Annex", None, None, placement(), None, None, "ELEMENT")
        ifcopenshell.api.aggregate.assign_object(f, products=[other], relating_object=site)
        storey = f.createIfcBuildingStorey(
            guid(), owner, "Annex storey", None, None, placement(), None, None, "ELEMENT", 0.0
        )
        ifcopenshell.api.aggregate.assign_object(f, products=[storey], relating_object=other)
        x0, w, ha = width, 6.0, 3.0
        parts = [
            ("IfcWall", "Annex south", (x0, 0, 0, w, t, ha)),
            ("IfcWall", "Annex north", (x0, depth - t, 0, w, t, ha)),
            ("IfcWall", "Annex west", (x0, t, 0, t, depth - 2 * t, ha)),
            ("IfcWall", "Annex east", (x0 + w - t, t, 0, t, depth - 2 * t, ha)),
            ("IfcSlab", "Annex slab", (x0, 0, -0.3, w, depth, 0.3)),
            ("IfcSlab", "Annex roof", (x0, 0, ha, w, depth, 0.3)),
        ]
        items = [
            f.create_entity(
                "IfcWallStandardCase" if (cls == "IfcWall" and schema == "IFC2X3") else cls,
                GlobalId=guid(),
                OwnerHistory=owner,
                Name=name,
                ObjectPlacement=placement(),
                Representation=box(*dims),
            )  # fmt: skip
            for cls, name, dims in parts
        ]
        ifcopenshell.api.spatial.assign_container(f, products=items, relating_structure=storey)
    f.write(str(path))
    return path


def test_box_ifc_has_the_elements_it_promises(tmp_path: Path) -> None:
    f = ifcopenshell.open(str(box_ifc(tmp_path / "box.ifc")))
    assert len(f.by_type("IfcBuildingStorey")) == 2
    assert len(f.by_type("IfcWall")) == 8
    assert len(f.by_type("IfcWindow")) == 2
    assert len(f.by_type("IfcSlab")) == 2
    assert f.by_type("IfcMapConversion")[0].TargetCRS.Name == "EPSG:31370"


@pytest.mark.parametrize("schema", ["IFC2X3", "IFC4"])
def test_box_ifc_triangulates_in_millimetres_too(tmp_path: Path, schema: str) -> None:
    import ifcopenshell.geom

    path = box_ifc(tmp_path / "mm.ifc", schema=schema, unit="mm", georef=None)
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    f = ifcopenshell.open(str(path))
    slab = [s for s in f.by_type("IfcSlab") if s.Name == "Ground slab"][0]
    shape = ifcopenshell.geom.create_shape(settings, slab)
    verts = shape.geometry.verts
    xs = verts[0::3]
    assert max(xs) == pytest.approx(10.0) and min(xs) == pytest.approx(0.0)
