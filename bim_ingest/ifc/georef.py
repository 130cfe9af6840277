"""Place an IFC model's local coordinates on the map.

:func:`georeference` decides, in this order, how the file's world
(engineering) coordinates -- metres as the geometry iterator returns them --
map to a projected CRS:

1. an explicit ``place=(x, y, rotation_deg)`` from the caller (in the model
   CRS; it overrides whatever the file says);
2. IFC4 / IFC4X3 ``IfcMapConversion`` (+ ``IfcProjectedCRS``) of the 3D
   ``Model`` context, or IFC2X3 ``ePSet_MapConversion`` +
   ``ePSet_ProjectedCRS`` (on ``IfcProject`` or ``IfcSite``);
3. ``IfcSite`` ``RefLatitude`` / ``RefLongitude`` / ``RefElevation`` with the
   context's ``TrueNorth``: a transverse Mercator projection centred on the
   site (scale 1 there), which PROJ then carries to the model CRS;
4. none: a :class:`~twin.errors.TwinWarning` and the local coordinates taken
   as model coordinates -- unless they are huge (beyond
   :data:`HUGE_LOCAL_M`), which is a :class:`~twin.errors.CRSError`.

The map conversion is (IFC4 documentation, ``IfcMapConversion``)::

    E = Eastings  + s * (a * x - b * y)
    N = Northings + s * (b * x + a * y)
    H = OrthogonalHeight + z

with (a, b) the normalised ``XAxisAbscissa``/``XAxisOrdinate``, x, y, z in
project length units and ``Scale`` converting them to map units (0.001 for a
millimetre model on a metre map).  Two defects of real files are detected:

* a *suspicious scale*: ``s`` far from 1 (more than 2 %, while real grid
  scale factors differ from 1 by well under 0.1 %), e.g.
  ``geographic-referencing-utm.ifc`` stores ``Scale=1000`` with millimetre
  units (it should be 0.001), which would put a point 1 m from the origin
  1000 km away.  The scale is treated as a unit mix-up and 1 is used, with
  a warning naming both values;
* a *placeholder conversion*: ``Eastings = Northings = 0`` (Revit writes
  ``EPSG:3857`` with E=N=0 when no survey point is set), which places the
  building at the CRS's false origin.  It is ignored with a warning and the
  site latitude/longitude are used instead.

Examples
--------
>>> import numpy as np
>>> g = Georeference("explicit placement", to_crs("EPSG:31370"), (150000.0, 170000.0, 0.0), 90.0, 1.0)
>>> g.apply(np.array([[1.0, 0.0, 2.0]])).round(6).tolist()
[[150000.0, 170001.0, 2.0]]
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import ifcopenshell
import ifcopenshell.util.element as ue
import ifcopenshell.util.placement
import ifcopenshell.util.unit
import numpy as np
import numpy.typing as npt
from pyproj import CRS

from twin.crs import to_crs
from twin.errors import CRSError, TwinWarning

__all__ = [
    "HUGE_LOCAL_M",
    "SCALE_TOLERANCE",
    "Georeference",
    "georeference",
    "site_lat_lon",
    "dms_to_degrees",
]

#: Local coordinates farther than this from the origin (m) are "huge":
#: without georeferencing they are refused rather than guessed.
HUGE_LOCAL_M = 20_000.0
#: Largest departure of the map-conversion scale from 1 taken as genuine.
SCALE_TOLERANCE = 0.02


@dataclass
class Georeference:
    """A similarity transform from local metres to a projected CRS.

    ``E, N = origin + scale * R(rotation_deg) @ (x - x0, y - y0)``; ``H = origin_z + z``,
    with ``(x0, y0)`` = :attr:`pre_origin` (the site or world-system origin).

    Attributes
    ----------
    method
        ``"IfcMapConversion"``, ``"ePSet_MapConversion"``, ``"IfcSite lat/long"``,
        ``"explicit placement"`` or ``"none"``.
    crs
        CRS of the output coordinates (converted to the model CRS later).
    origin
        Map coordinates (E, N, H) of the local origin.
    rotation_deg
        Counter-clockwise angle from the map's east axis to the local x axis.
    scale
        Map units per local metre (1 for a metre CRS).
    notes
        What was detected or assumed (also issued as warnings).
    details
        Raw parameters, recorded in the model's sources.
    """

    method: str
    crs: CRS
    origin: tuple[float, float, float]
    rotation_deg: float
    scale: float
    notes: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    pre_origin: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def apply(self, xyz: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map (n, 3) local metres to (n, 3) coordinates in :attr:`crs`."""
        pts = np.asarray(xyz, dtype=np.float64).reshape(-1, 3) - np.asarray(self.pre_origin)
        a = math.cos(math.radians(self.rotation_deg))
        b = math.sin(math.radians(self.rotation_deg))
        out = np.empty_like(pts)
        out[:, 0] = self.origin[0] + self.scale * (a * pts[:, 0] - b * pts[:, 1])
        out[:, 1] = self.origin[1] + self.scale * (b * pts[:, 0] + a * pts[:, 1])
        out[:, 2] = self.origin[2] + pts[:, 2]
        return out

    def record(self) -> dict:
        """Plain-data description for ``model.sources``."""
        return {
            "method": self.method,
            "crs": self.crs.to_string(),
            "origin": [round(v, 4) for v in self.origin],
            "rotation_deg": round(self.rotation_deg, 6),
            "scale": self.scale,
            "notes": list(self.notes),
            **self.details,
        }


def dms_to_degrees(value) -> float | None:
    """IFC compound plane angle (deg, min, sec[, millionths]) to decimal degrees.

    Examples
    --------
    >>> dms_to_degrees((50, 50, 48, 0))
    50.84666666666667
    >>> round(dms_to_degrees((-87, -38, -21, -839999)), 6)
    -87.6394
    """
    if value is None:
        return None
    parts = [float(v) for v in value]
    if not parts:
        return None
    sign = -1.0 if any(p < 0 for p in parts) else 1.0
    parts = [abs(p) for p in parts] + [0.0] * (4 - len(parts))
    return sign * (parts[0] + parts[1] / 60.0 + parts[2] / 3600.0 + parts[3] / 3.6e9)


def site_lat_lon(f: ifcopenshell.file) -> tuple[float, float, float, object] | None:
    """(latitude, longitude, elevation in metres, site) of the first site that has them."""
    length = float(ifcopenshell.util.unit.calculate_unit_scale(f))
    for site in sorted(f.by_type("IfcSite"), key=lambda s: s.id()):
        lat = dms_to_degrees(site.RefLatitude)
        lon = dms_to_degrees(site.RefLongitude)
        if lat is None or lon is None:
            continue
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            continue
        elevation = float(site.RefElevation or 0.0) * length
        return lat, lon, elevation, site
    return None


def _model_context(f: ifcopenshell.file):
    contexts = [
        c
        for c in f.by_type("IfcGeometricRepresentationContext", include_subtypes=False)
        if (c.ContextType or "") == "Model"
    ] or list(f.by_type("IfcGeometricRepresentationContext", include_subtypes=False))
    return contexts[0] if contexts else None


def _true_north_xy(f: ifcopenshell.file) -> tuple[float, float]:
    ctx = _model_context(f)
    tn = getattr(ctx, "TrueNorth", None) if ctx is not None else None
    if tn is None:
        return 0.0, 1.0
    x, y = (float(v) for v in tn.DirectionRatios[:2])
    norm = math.hypot(x, y)
    return (x / norm, y / norm) if norm > 0 else (0.0, 1.0)


def _wcs_offset(f: ifcopenshell.file, length: float) -> tuple[tuple[float, float, float], float]:
    """Origin (m) and rotation (deg, ccw) of the model context's world coordinate system."""
    ctx = _model_context(f)
    wcs = getattr(ctx, "WorldCoordinateSystem", None) if ctx is not None else None
    if wcs is None or not wcs.is_a("IfcAxis2Placement3D"):
        return (0.0, 0.0, 0.0), 0.0
    matrix = ifcopenshell.util.placement.get_axis2placement(wcs)
    origin = tuple(float(v) * length for v in matrix[:3, 3])
    rotation = math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))
    return origin, rotation  # type: ignore[return-value]


def _map_unit_m(unit, crs: CRS) -> float:
    if unit is not None:
        try:
            if unit.is_a("IfcSIUnit"):
                return (
                    float(ifcopenshell.util.unit.get_prefix_multiplier(unit.Prefix)) if unit.Prefix else 1.0
                )
            if unit.is_a("IfcConversionBasedUnit"):
                return float(unit.ConversionFactor.ValueComponent.wrappedValue)
        except Exception:  # malformed unit: fall back to the CRS's own unit
            pass
    try:
        return float(crs.axis_info[0].unit_conversion_factor)
    except (IndexError, AttributeError, TypeError):
        return 1.0


def _crs_from_name(name: str | None, file_name: str, where: str) -> CRS:
    if not name:
        raise CRSError(
            f"{file_name}: {where} has no CRS name; it needs e.g. 'EPSG:31370' to be placed. "
            "Pass place=(x, y, rotation_deg) to place the building yourself."
        )
    try:
        return to_crs(name.strip())
    except CRSError as err:
        raise CRSError(
            f"{file_name}: {where} names CRS {name!r}, which PROJ does not know. "
            "Use an EPSG name such as 'EPSG:31370', or pass place=(x, y, rotation_deg)."
        ) from err


def _map_conversion(f: ifcopenshell.file, file_name: str) -> dict | None:
    """Raw map-conversion parameters (IFC4+ entity or IFC2X3 property sets), or None."""
    if f.schema == "IFC2X3":
        for holder in list(f.by_type("IfcProject")) + list(f.by_type("IfcSite")):
            psets = ue.get_psets(holder, psets_only=True)
            conv = psets.get("ePSet_MapConversion")
            if not conv:
                continue
            crs_pset = psets.get("ePSet_ProjectedCRS", {})
            return {
                "method": "ePSet_MapConversion",
                "crs_name": crs_pset.get("Name"),
                "map_unit": None,
                "eastings": float(conv.get("Eastings") or 0.0),
                "northings": float(conv.get("Northings") or 0.0),
                "height": float(conv.get("OrthogonalHeight") or 0.0),
                "abscissa": float(conv.get("XAxisAbscissa") or 0.0),
                "ordinate": float(conv.get("XAxisOrdinate") or 0.0),
                "scale": conv.get("Scale"),
                "factors": (1.0, 1.0),
                "where": f"ePSet_MapConversion on {holder.is_a()}",
            }
        return None
    ctx = _model_context(f)
    ops = list(getattr(ctx, "HasCoordinateOperation", None) or ()) if ctx is not None else []
    if not ops:
        ops = [op for op in f.by_type("IfcMapConversion")]
    for op in ops:
        if not op.is_a("IfcMapConversion"):
            continue
        target = op.TargetCRS
        factors = (1.0, 1.0)
        if op.is_a("IfcMapConversionScaled"):
            factors = (float(op.FactorX or 1.0), float(op.FactorY or 1.0))
        return {
            "method": "IfcMapConversion",
            "crs_name": getattr(target, "Name", None),
            "map_unit": getattr(target, "MapUnit", None),
            "eastings": float(op.Eastings or 0.0),
            "northings": float(op.Northings or 0.0),
            "height": float(op.OrthogonalHeight or 0.0),
            "abscissa": float(op.XAxisAbscissa if op.XAxisAbscissa is not None else 1.0),
            "ordinate": float(op.XAxisOrdinate if op.XAxisOrdinate is not None else 0.0),
            "scale": op.Scale,
            "factors": factors,
            "where": "IfcMapConversion",
        }
    return None


def georeference(
    f: ifcopenshell.file,
    *,
    file_name: str,
    model_crs: CRS,
    place: tuple[float, ...] | None = None,
    local_extent_m: float = 0.0,
) -> Georeference:
    """Decide how the file's local coordinates map to a projected CRS.

    Parameters
    ----------
    f
        The opened model.
    file_name
        For messages.
    model_crs
        The model CRS (used for an explicit placement and when the file has
        no georeferencing).
    place
        ``(x, y)`` or ``(x, y, rotation_deg)`` in the model CRS: where the
        local origin goes and the counter-clockwise angle from east to the
        local x axis.  Overrides the file's georeferencing.
    local_extent_m
        Largest horizontal distance of the geometry from the local origin;
        refused as "huge" when there is no georeferencing.

    Returns
    -------
    Georeference

    Raises
    ------
    CRSError
        Unknown CRS name in the file, or huge local coordinates without any
        georeferencing and without ``place``.
    """
    length = float(ifcopenshell.util.unit.calculate_unit_scale(f))
    if place is not None:
        values = [float(v) for v in place]
        if len(values) not in (2, 3) or not all(math.isfinite(v) for v in values):
            raise ValueError(f"place must be (x, y) or (x, y, rotation_deg) numbers, got {place!r}.")
        x, y = values[:2]
        rot = values[2] if len(values) == 3 else 0.0
        return Georeference(
            "explicit placement",
            model_crs,
            (x, y, 0.0),
            rot,
            1.0,
            details={"place": values},
        )

    notes: list[str] = []
    conv = _map_conversion(f, file_name)
    if conv is not None:
        placeholder = conv["eastings"] == 0.0 and conv["northings"] == 0.0
        if placeholder:
            notes.append(
                f"{file_name}: {conv['where']} to {conv['crs_name']} has Eastings = Northings = 0 "
                "(an exporter default such as Revit's, not a survey point); it is ignored"
                + (" and IfcSite RefLatitude/RefLongitude are used." if site_lat_lon(f) else ".")
            )
        else:
            crs = _crs_from_name(conv["crs_name"], file_name, conv["where"])
            map_unit = _map_unit_m(conv["map_unit"], crs)
            stored = float(conv["scale"]) if conv["scale"] not in (None, 0, 0.0) else 1.0
            # map units per model metre, and the same as a dimensionless ratio
            scale = stored / length
            ratio = scale * map_unit
            if abs(ratio - 1.0) > SCALE_TOLERANCE:
                notes.append(
                    f"{file_name}: {conv['where']}.Scale = {stored:g} with a project length unit of "
                    f"{length:g} m and a map unit of {map_unit:g} m would stretch the model "
                    f"{ratio:g} times; real grid scale factors are within {SCALE_TOLERANCE:.0%} of 1, "
                    "so it is taken as a unit mix-up (the Scale for this file should be "
                    f"{length / map_unit:g}) and no stretching is applied."
                )
                scale = 1.0 / map_unit
            else:
                scale *= (conv["factors"][0] + conv["factors"][1]) / 2.0
            a, b = conv["abscissa"], conv["ordinate"]
            if a == 0.0 and b == 0.0:
                a = 1.0
            wcs_origin, wcs_rot = _wcs_offset(f, length)
            origin = (conv["eastings"], conv["northings"], conv["height"] * map_unit)
            geo = Georeference(
                conv["method"],
                crs,
                origin,
                math.degrees(math.atan2(b, a)) - wcs_rot,
                scale,
                notes=notes,
                details={
                    "declared_crs": conv["crs_name"],
                    "stored_scale": stored,
                    "x_axis": [conv["abscissa"], conv["ordinate"]],
                },
                pre_origin=wcs_origin,
            )
            _warn(notes)
            return geo

    site = site_lat_lon(f)
    if site is not None:
        lat, lon, elevation, site_entity = site
        tx, ty = _true_north_xy(f)
        # local x maps to (east, north) = (ty, tx): east is true north turned 90 deg clockwise
        rotation = math.degrees(math.atan2(tx, ty))
        site_origin = (0.0, 0.0, 0.0)
        if site_entity.ObjectPlacement is not None:
            matrix = ifcopenshell.util.placement.get_local_placement(site_entity.ObjectPlacement)
            site_origin = tuple(float(v) * length for v in matrix[:3, 3])
        crs = CRS.from_proj4(
            f"+proj=tmerc +lat_0={lat!r} +lon_0={lon!r} +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
        )
        geo = Georeference(
            "IfcSite lat/long",
            crs,
            (0.0, 0.0, elevation),
            rotation,
            1.0,
            notes=notes,
            details={
                "latitude": lat,
                "longitude": lon,
                "ref_elevation_m": elevation,
                "true_north": [tx, ty],
            },
            pre_origin=(site_origin[0], site_origin[1], 0.0),
        )
        if local_extent_m > HUGE_LOCAL_M:
            notes.append(
                f"{file_name}: local coordinates reach {local_extent_m / 1000:.1f} km from the origin, "
                "yet only IfcSite RefLatitude/RefLongitude georeference the file, and they locate the "
                "origin: the building lands that far from the site point. Check the placement, or pass "
                "place=(x, y, rotation_deg)."
            )
        _warn(notes)
        return geo

    if local_extent_m > HUGE_LOCAL_M:
        raise CRSError(
            f"{file_name}: local coordinates reach {local_extent_m / 1000:.1f} km from the origin but "
            "the file has no georeferencing (no IfcMapConversion / ePSet_MapConversion, no IfcSite "
            "RefLatitude/RefLongitude), so where they lie is unknown. If they are already "
            f"{model_crs.name} coordinates pass place=(0, 0, 0); otherwise pass "
            "place=(x, y, rotation_deg) for the local origin (CLI: --place X,Y[,ROT])."
        )
    notes.append(
        f"{file_name}: no georeferencing (no IfcMapConversion / ePSet_MapConversion, no IfcSite "
        f"RefLatitude/RefLongitude): local coordinates are used as {model_crs.name} coordinates, "
        "so the building sits near the CRS origin. Pass place=(x, y, rotation_deg) "
        "(CLI: --place X,Y[,ROT]) to put it where it belongs."
    )
    _warn(notes)
    return Georeference("none", model_crs, (0.0, 0.0, 0.0), 0.0, 1.0, notes=notes)


def _warn(notes: list[str]) -> None:
    for note in notes:
        warnings.warn(note, TwinWarning, stacklevel=4)
