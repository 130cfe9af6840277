"""Read the buildings of a CityGML file (3.0, 2.0 or 1.0) into a :class:`CityModel`.

CityGML is the OGC's XML encoding of 3D city models.  This reader keeps what
the twin needs from it: every ``bldg:Building`` and ``bldg:BuildingPart``, its
envelope polygons with their semantics, and its attributes.  It ends, like
every reader, with :func:`bim_ingest._assemble.model_from_surfaces`.

How a file becomes tables
-------------------------
*Parsing.*  The file is streamed with ``lxml.etree.iterparse`` using safe
options (no entity expansion, no network, no DTD loading, libxml2's default
size limits), one top-level building subtree at a time; processed subtrees are
freed, so memory grows with the largest building, not with the file.  A file
that declares entities in a DTD loads, but its entities stay unexpanded (a
warning says so): external entities (XXE) are never read and entity bombs
are never expanded.

*Buildings.*  Each ``Building`` and each ``BuildingPart`` that has geometry
of its own at the chosen LoD is read with its ``parent_id`` (the nearest
enclosing ``Building``/``BuildingPart``); parts inherit the parent's
``year_built`` and ``use`` when they lack them
(``attributes["inherited_from_parent"]`` names what was inherited).  Then,
as for every reader, :func:`bim_ingest._assemble.merge_building_parts` folds
the parts into their top-level building: one row per building, the part ids
listed in ``attributes["parts"]``.  Ids are ``gml:id``; a building without
one gets ``<file stem>_b<n>`` (``n`` = its position among the file's
buildings and parts); a repeated id gets a stable suffix (``<id>_2``,
``<id>_3`` ...) and a warning.

*Geometry.*  Per building the highest LoD with a usable polygon is read
(``lod=None``) or the one asked for; a building without it is skipped and
counted.  Surfaces
come from

- the thematic surfaces (``boundedBy`` in 1.0/2.0, ``boundary`` in 3.0):
  ``WallSurface``, ``RoofSurface``, ``GroundSurface``, ``OuterCeilingSurface``,
  ``OuterFloorSurface`` and openings (``Window``/``Door``,
  ``WindowSurface``/``DoorSurface``) with their ``lod<n>MultiSurface``; kinds
  follow :data:`twin.surfaces.SEMANTIC_KIND`.  ``ClosureSurface`` and interior
  surfaces are not envelope and are left out;
- the building's own ``lod<n>Solid`` / ``lod<n>MultiSurface``.  Polygons they
  reference by ``xlink:href`` (or contain) that already came with a thematic
  surface are not counted twice; the others have no semantics and are
  classified by tilt (:func:`twin.surfaces.classify_by_tilt`).  When a
  building has only such surfaces and they enclose a negative volume (rings
  wound inwards), they are reversed, and a warning counts it.

Polygons may be ``gml:Polygon``, ``Triangle``, ``Rectangle``,
``PolygonPatch`` (of a ``gml:Surface``) or ``OrientableSurface`` (its
orientation is applied), in ``MultiSurface``, ``CompositeSurface``,
``Shell``, ``Solid`` (exterior shell only), ``CompositeSolid`` and
``MultiSolid``.  Ring coordinates may be ``gml:posList``, ``gml:pos`` lists
or GML 2 ``gml:coordinates``, three-dimensional.  A repeated closing vertex
and repeated consecutive vertices are dropped; rings with fewer than three
distinct vertices, or with unreadable coordinates, are dropped and counted
(a polygon whose outer ring goes is dropped).  Self-intersecting polygons are
kept as read; their Newell area is the net signed area, and a warning counts
them.  An ``xlink:href`` is resolved within the top-level building that holds
it; a link to anywhere else is counted as unresolved.

*CRS.*  The source CRS is the ``srsName`` the file declares (on the root
``gml:Envelope`` or on any geometry; AdV names such as
``urn:adv:crs:ETRS89_UTM32*DE_DHHN92_NH`` are understood, see
:func:`twin.crs.parse_crs`).  ``source_crs`` is used only when the file
declares none; a file declaring several different CRSs is refused.

Not supported: implicit geometries (``lod<n>ImplicitRepresentation``),
building installations, rooms and interior shells of solids, LoD0
footprints, appearances, and xlinks between buildings.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely
from lxml import etree
from pyproj import CRS

from bim_ingest._assemble import file_sha256, model_from_surfaces
from twin.config import TOLERANCES
from twin.crs import ParsedCRS, parse_crs, to_crs, transformation_description
from twin.envelope import BuildingRecord
from twin.errors import CRSError, IngestError, SchemaError, TwinWarning
from twin.model import CityModel
from twin.surfaces import (
    SEMANTIC_KIND,
    SurfaceBatch,
    SurfaceCollector,
    classify_by_tilt,
    surface_metrics,
)
from twin.typing import CRSLike, PathLike_

__all__ = ["CITYGML_VERSIONS", "LODS", "read_citygml"]

#: CityGML core namespace -> version, for the versions this reader supports.
CITYGML_VERSIONS: dict[str, str] = {
    "http://www.opengis.net/citygml/1.0": "1.0",
    "http://www.opengis.net/citygml/2.0": "2.0",
    "http://www.opengis.net/citygml/3.0": "3.0",
}

#: Levels of detail that ``read_citygml(lod=...)`` accepts.
LODS = ("1", "2", "3", "4")

#: lxml options: entities are never expanded (no XXE, no entity bombs), no
#: network access, no DTD loading, libxml2's default size and depth limits.
_PARSER_OPTIONS: dict[str, bool] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}

_GML_ID_ATTRIBUTES = ("{http://www.opengis.net/gml}id", "{http://www.opengis.net/gml/3.2}id")
_GML_NAMESPACES = ("http://www.opengis.net/gml", "http://www.opengis.net/gml/3.2")
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_BUILDING_NS_PREFIX = "http://www.opengis.net/citygml/building/"
_CITYGML_NS_PREFIX = "http://www.opengis.net/citygml/"

_LOD_GEOMETRY = re.compile(r"lod([1-4])(Solid|MultiSurface)")
_LOD_SURFACE = re.compile(r"lod([1-4])MultiSurface")
_POLYGON_TAGS = frozenset({"Polygon", "Triangle", "Rectangle", "PolygonPatch"})
_OPENING_TYPES = {
    "Window": "Window",
    "Door": "Door",
    "WindowSurface": "Window",
    "DoorSurface": "Door",
}
_PART_PROPERTIES = frozenset({"consistsOfBuildingPart", "buildingPart"})
_SURFACE_PROPERTIES = frozenset({"boundedBy", "boundary"})
_MAX_XLINK_HOPS = 32  # longer chains of xlinks are treated as unresolved
_XML_POSITION = re.compile(r",? line \d+, column \d+$")


# --------------------------------------------------------------------------- reading state
@dataclass
class _Polygon:
    """One read polygon: its building row, semantics and cleaned rings (open, (k, 3))."""

    building: int
    semantic: str | None
    rings: list[npt.NDArray[np.float64]]


@dataclass
class _Counts:
    """What was repaired, skipped or ignored while reading (reported as warnings)."""

    dropped_rings: int = 0
    dropped_polygons: int = 0
    unresolved_xlinks: int = 0
    shared_polygons: int = 0
    non_envelope_surfaces: int = 0
    interior_shells: int = 0
    reoriented_buildings: int = 0
    self_intersecting: int = 0
    unknown_surfaces: dict[str, int] = field(default_factory=dict)
    duplicate_ids: list[str] = field(default_factory=list)
    missing_lod: list[str] = field(default_factory=list)
    no_valid_geometry: list[str] = field(default_factory=list)
    dtd_entities: int = 0


@dataclass
class _State:
    """Everything collected from one file."""

    path: Path
    lod: str | None
    version: str = ""
    srs_names: dict[str, None] = field(default_factory=dict)
    records: list[BuildingRecord] = field(default_factory=list)
    record_lods: list[str] = field(default_factory=list)
    polygons: list[_Polygon] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)
    n_elements: int = 0
    counts: _Counts = field(default_factory=_Counts)


# --------------------------------------------------------------------------- public API
def read_citygml(
    path: PathLike_,
    *,
    crs: CRSLike | None = None,
    source_crs: CRSLike | None = None,
    lod: str | int | None = None,
) -> CityModel:
    """Read the buildings of a CityGML 3.0, 2.0 or 1.0 file into a city model.

    Parameters
    ----------
    path
        The ``.gml``/``.xml`` file.
    crs
        CRS of the returned model; ``None`` means the twin's default
        (EPSG:31370, Belgian Lambert 72).  Coordinates are transformed
        horizontally; heights are kept as read (the declared vertical datum is
        recorded in ``model.sources``).
    source_crs
        CRS of the file's coordinates, used **only** when the file declares
        none (no ``srsName`` anywhere).  If the file declares one, it wins and
        a differing ``source_crs`` is ignored with a warning.
    lod
        Level of detail to read: ``"1"``, ``"2"``, ``"3"`` or ``"4"`` (also
        ``2`` or ``"LoD2"``).  ``None`` reads the highest LoD each building
        has.  Buildings lacking the chosen LoD are skipped (a warning counts
        them).

    Returns
    -------
    CityModel
        ``buildings`` (one row per building or building part with geometry;
        ``lod`` per row) and ``surfaces`` (wall/roof/floor/window/door) in
        ``crs``.  ``model.sources[0]`` records the file hash, the declared
        CRS, the transformation and the counts of repairs.

    Raises
    ------
    IngestError
        The file is missing, empty or not well-formed XML (the message gives
        the line and column).
    SchemaError
        The XML is not a CityGML ``CityModel`` of a supported version.
    CRSError
        The file declares no CRS and ``source_crs`` is not given, declares an
        unknown CRS, or declares several different ones.
    ValueError
        ``lod`` is not one of :data:`LODS`.

    Warns
    -----
    TwinWarning
        For everything repaired, skipped or ignored (dropped rings, duplicate
        ids, buildings without the chosen LoD, unresolved xlinks, unexpanded
        DTD entities ...), one warning per kind with counts and examples.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> gml = '''<CityModel xmlns="http://www.opengis.net/citygml/2.0"
    ...   xmlns:bldg="http://www.opengis.net/citygml/building/2.0"
    ...   xmlns:gml="http://www.opengis.net/gml">
    ...  <cityObjectMember><bldg:Building gml:id="b1">
    ...   <bldg:boundedBy><bldg:RoofSurface><bldg:lod2MultiSurface><gml:MultiSurface>
    ...    <gml:surfaceMember><gml:Polygon srsName="EPSG:31370"><gml:exterior><gml:LinearRing>
    ...     <gml:posList>150000 170000 6 150010 170000 6 150010 170008 6 150000 170008 6
    ...     </gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></gml:surfaceMember>
    ...   </gml:MultiSurface></bldg:lod2MultiSurface></bldg:RoofSurface></bldg:boundedBy>
    ...  </bldg:Building></cityObjectMember></CityModel>'''
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     file = pathlib.Path(tmp) / "roof.gml"
    ...     _ = file.write_text(gml)
    ...     model = read_citygml(file)
    >>> model.buildings[["building_id", "lod", "footprint_area_m2"]].values.tolist()
    [['b1', '2', 80.0]]
    >>> model.surfaces["kind"].tolist()
    ['roof']
    """
    path = Path(path)
    wanted = _normalise_lod(lod)
    target = to_crs(crs)
    if not path.is_file():
        raise IngestError(f"{path}: no such file; check the path.")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: the file is empty; expected a CityGML document.")

    state = _State(path=path, lod=wanted)
    _parse(state)
    parsed = _source_crs(path, list(state.srs_names), source_crs)
    batch = _finish_surfaces(state)
    _warn(state)

    lods = sorted(set(state.record_lods))
    lod_label = ",".join(lods) if lods else (wanted or "")
    counts = state.counts
    extra_source = {
        "citygml_version": state.version,
        "lod_requested": wanted or "highest",
        "dropped_rings": counts.dropped_rings,
        "dropped_polygons": counts.dropped_polygons,
        "self_intersecting_polygons": counts.self_intersecting,
        "unresolved_xlinks": counts.unresolved_xlinks,
        "polygons_shared_by_solid_and_surfaces": counts.shared_polygons,
        "non_envelope_surfaces": counts.non_envelope_surfaces,
        "reoriented_buildings": counts.reoriented_buildings,
        "duplicate_ids": len(counts.duplicate_ids),
        "skipped_missing_lod": len(counts.missing_lod),
    }
    if not state.records:
        # nothing to assemble: an empty model that still records where it came from
        return _empty_model(path, parsed, target, lod_label, extra_source)
    model, _report = model_from_surfaces(
        batch,
        state.records,
        source_crs=parsed.horizontal,
        target_crs=target,
        path=path,
        fmt="citygml",
        lod=lod_label,
        crs_declared=parsed.declared,
        vertical_epsg=parsed.vertical_epsg,
        extra_source=extra_source,
    )
    if len(lods) > 1:
        pairs = zip(state.records, state.record_lods, strict=True)
        lod_of = {record.building_id: record_lod for record, record_lod in pairs}
        buildings = model.buildings.copy()
        buildings["lod"] = buildings["building_id"].map(lod_of)
        model.buildings = buildings
    return model


def _empty_model(
    path: Path, parsed: ParsedCRS, target: CRS, lod_label: str, extra_source: dict[str, object]
) -> CityModel:
    """A model without buildings, with the same provenance record as a full one."""
    source: dict[str, object] = {
        "path": str(path),
        "format": "citygml",
        "sha256": file_sha256(path),
        "crs_declared": parsed.declared,
        "vertical_epsg": parsed.vertical_epsg,
        "transformations": [transformation_description(parsed.horizontal, target)],
        "buildings": 0,
        "lod": lod_label,
        "repaired_footprints": 0,
        "skipped_empty_buildings": 0,
        **extra_source,
    }
    return CityModel(crs=target, name=path.stem, sources=[source])


def _normalise_lod(lod: str | int | None) -> str | None:
    if lod is None:
        return None
    text = str(lod).strip().lower().removeprefix("lod")
    if text not in LODS:
        raise ValueError(f"lod={lod!r} is not supported; choose one of {list(LODS)} or None (highest).")
    return text


# --------------------------------------------------------------------------- XML streaming
def _parse(state: _State) -> None:
    """Stream the file and collect every top-level building subtree."""
    path = state.path
    root = None
    try:
        context = etree.iterparse(str(path), events=("start", "end"), **_PARSER_OPTIONS)
        for event, elem in context:
            if event == "start":
                if root is None:
                    root = elem
                    state.version = _check_root(path, elem)
                    state.counts.dtd_entities = _count_dtd_entities(elem)
                srs = elem.get("srsName")
                if srs and srs.strip():
                    state.srs_names.setdefault(srs.strip(), None)
                continue
            if _is_building(elem) and _enclosing_building(elem) is None:
                _read_building_tree(state, elem)
                _release(elem)
    except etree.XMLSyntaxError as err:
        line, column = err.position if err.position else (err.lineno, 0)
        message = _XML_POSITION.sub("", (err.msg or str(err)).strip()).rstrip(".")
        hint = ""
        if line <= 1 and _starts_like_json(path):
            hint = " It looks like JSON: use the CityJSON reader for .city.json files."
        raise IngestError(
            f"{path}: not well-formed XML at line {line}, column {column}: {message}.{hint}"
        ) from err
    if root is None:
        raise IngestError(f"{path}: no XML element found; expected a CityGML document.")


def _check_root(path: Path, root: etree._Element) -> str:
    namespace, local = _split(root.tag)
    if local != "CityModel":
        raise SchemaError(
            f"{path}: not CityGML: the root element is <{local}> "
            f"(namespace {namespace or 'none'!r}), expected a CityGML <CityModel>."
        )
    if namespace not in CITYGML_VERSIONS:
        raise SchemaError(
            f"{path}: unsupported CityModel namespace {namespace or 'none'!r}; supported CityGML "
            f"versions are {sorted(CITYGML_VERSIONS.values())} ({sorted(CITYGML_VERSIONS)})."
        )
    return CITYGML_VERSIONS[namespace]


def _count_dtd_entities(root: etree._Element) -> int:
    dtd = root.getroottree().docinfo.internalDTD
    return 0 if dtd is None else sum(1 for _ in dtd.iterentities())


def _starts_like_json(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] in (b"{", b"[")


def _release(elem: etree._Element) -> None:
    """Free a processed building subtree and the top-level members before it."""
    elem.clear(keep_tail=False)
    node = elem
    while node.getparent() is not None and node.getparent().getparent() is not None:
        node = node.getparent()
    parent = node.getparent()
    if parent is not None:
        while node.getprevious() is not None:
            del parent[0]


# --------------------------------------------------------------------------- element helpers
@lru_cache(maxsize=1024)
def _split(tag: object) -> tuple[str, str]:
    """Namespace and local name of a tag (``("", "")`` for comments and entities)."""
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _local(elem: etree._Element) -> str:
    return _split(elem.tag)[1]


def _children(elem: etree._Element) -> Iterator[etree._Element]:
    """Element children only (no entity references)."""
    for child in elem:
        if isinstance(child.tag, str):
            yield child


def _text(elem: etree._Element) -> str:
    return (elem.text or "").strip()


def _is_building(elem: etree._Element) -> bool:
    namespace, local = _split(elem.tag)
    return local in ("Building", "BuildingPart") and namespace.startswith(_BUILDING_NS_PREFIX)


def _enclosing_building(elem: etree._Element) -> etree._Element | None:
    node = elem.getparent()
    while node is not None:
        if _is_building(node):
            return node
        node = node.getparent()
    return None


def _gml_id(elem: etree._Element) -> str | None:
    for attribute in _GML_ID_ATTRIBUTES:
        value = elem.get(attribute)
        if value:
            return value.strip()
    return None


# --------------------------------------------------------------------------- buildings
def _read_building_tree(state: _State, top: etree._Element) -> None:
    """Read a top-level building and its parts (``href`` targets resolve inside it)."""
    index: dict[str, etree._Element] = {}
    for elem in top.iter(etree.Element):
        gid = _gml_id(elem)
        if gid and gid not in index:
            index[gid] = elem
    _read_building(state, top, "", None, index)


def _read_building(
    state: _State,
    elem: etree._Element,
    parent_id: str,
    parent: BuildingRecord | None,
    index: dict[str, etree._Element],
) -> None:
    state.n_elements += 1
    building_id = _unique_id(state, elem)
    record = _record(elem, building_id, parent_id, parent)
    geometry = _geometry_properties(elem)
    parts = [
        part
        for prop in _children(elem)
        if _local(prop) in _PART_PROPERTIES
        for part in _children(prop)
        if _is_building(part)
    ]
    available = sorted((n for n, (semantic, plain) in geometry.items() if semantic or plain), reverse=True)
    candidates = [state.lod] if state.lod is not None else [str(n) for n in available]
    row = len(state.records)
    had_polygons = False
    for candidate in candidates:
        found = _lod_polygons(state, geometry.get(int(candidate), ([], [])), index)
        had_polygons = had_polygons or bool(found)
        read = [
            _Polygon(row, semantic, rings)
            for semantic, polygon, reverse in found
            if (rings := _polygon_rings(state, polygon, reverse, index))
        ]
        if read:  # else fall back to the next lower LoD (lod=None only)
            state.polygons.extend(read)
            state.records.append(record)
            state.record_lods.append(candidate)
            break
    else:
        if had_polygons:
            state.counts.no_valid_geometry.append(building_id)
        elif available or not parts:
            # a pure container (no geometry of its own, only parts) is represented by its parts
            state.counts.missing_lod.append(building_id)
    for part in parts:
        _read_building(state, part, building_id, record, index)


def _unique_id(state: _State, elem: etree._Element) -> str:
    base = _gml_id(elem) or f"{state.path.stem}_b{state.n_elements - 1}"
    building_id = base
    if building_id in state.seen_ids:
        state.counts.duplicate_ids.append(base)
        k = 2
        while f"{base}_{k}" in state.seen_ids:
            k += 1
        building_id = f"{base}_{k}"
    state.seen_ids.add(building_id)
    return building_id


_Geometry = dict[int, tuple[list[tuple[str, etree._Element]], list[etree._Element]]]


def _geometry_properties(elem: etree._Element) -> _Geometry:
    """Per LoD: (semantic type, lod<n>MultiSurface) pairs and plain geometry properties."""
    out: _Geometry = {}

    def slot(n: int) -> tuple[list[tuple[str, etree._Element]], list[etree._Element]]:
        return out.setdefault(n, ([], []))

    for prop in _children(elem):
        local = _local(prop)
        match = _LOD_GEOMETRY.fullmatch(local)
        if match:
            slot(int(match[1]))[1].append(prop)
            continue
        if local not in _SURFACE_PROPERTIES:
            continue
        for surface in _children(prop):
            surface_type = _local(surface)
            for child in _children(surface):
                child_local = _local(child)
                match = _LOD_SURFACE.fullmatch(child_local)
                if match:
                    slot(int(match[1]))[0].append((surface_type, child))
                elif child_local in ("opening", "fillingSurface"):
                    for opening in _children(child):
                        kind = _OPENING_TYPES.get(_local(opening), _local(opening))
                        for geom in _children(opening):
                            match = _LOD_SURFACE.fullmatch(_local(geom))
                            if match:
                                slot(int(match[1]))[0].append((kind, geom))
    return out


def _lod_polygons(
    state: _State,
    properties: tuple[list[tuple[str, etree._Element]], list[etree._Element]],
    index: dict[str, etree._Element],
) -> list[tuple[str | None, etree._Element, bool]]:
    """Polygons of one LoD: semantic ones first, then unseen ones of solids and multi-surfaces."""
    semantic, plain = properties
    used: set[etree._Element] = set()
    out: list[tuple[str | None, etree._Element, bool]] = []
    for surface_type, prop in semantic:
        for polygon, reverse in _walk(state, prop, False, index, set()):
            if polygon in used:
                continue
            used.add(polygon)
            if surface_type not in SEMANTIC_KIND:
                unknown = state.counts.unknown_surfaces
                unknown[surface_type] = unknown.get(surface_type, 0) + 1
            elif SEMANTIC_KIND[surface_type] is None:
                state.counts.non_envelope_surfaces += 1
            else:
                out.append((surface_type, polygon, reverse))
    for prop in plain:
        for polygon, reverse in _walk(state, prop, False, index, set()):
            if polygon in used:
                state.counts.shared_polygons += 1
                continue
            used.add(polygon)
            out.append((None, polygon, reverse))
    return out


def _walk(
    state: _State,
    elem: etree._Element,
    reverse: bool,
    index: dict[str, etree._Element],
    visiting: set[str],
) -> Iterator[tuple[etree._Element, bool]]:
    """Yield (polygon element, reversed?) under a geometry element, following xlinks."""
    href = elem.get(_XLINK_HREF)
    if href is not None:
        target_id = href.strip().lstrip("#")
        target = index.get(target_id)
        if target is None or len(visiting) >= _MAX_XLINK_HOPS:
            state.counts.unresolved_xlinks += 1
            return
        if target_id in visiting:  # a cycle of links
            return
        yield from _walk(state, target, reverse, index, visiting | {target_id})
        return
    local = _local(elem)
    if local in _POLYGON_TAGS:
        yield elem, reverse
        return
    if local == "OrientableSurface":
        flip = elem.get("orientation", "+").strip() == "-"
        for child in _children(elem):
            if _local(child) == "baseSurface":
                yield from _walk(state, child, reverse != flip, index, visiting)
        return
    for child in _children(elem):
        if local == "Solid" and _local(child) == "interior":
            state.counts.interior_shells += 1
            continue
        yield from _walk(state, child, reverse, index, visiting)


# --------------------------------------------------------------------------- rings
def _polygon_rings(
    state: _State,
    polygon: etree._Element,
    reverse: bool,
    index: dict[str, etree._Element],
) -> list[npt.NDArray[np.float64]]:
    """Cleaned rings of a polygon, outer first; empty when the outer ring is unusable."""
    outer: list[etree._Element] = []
    holes: list[etree._Element] = []
    for child in _children(polygon):
        local = _local(child)
        if local in ("exterior", "outerBoundaryIs"):
            outer.extend(_children(child))
        elif local in ("interior", "innerBoundaryIs"):
            holes.extend(_children(child))
    rings: list[npt.NDArray[np.float64]] = []
    for position, ring_elem in enumerate(outer[:1] + holes):
        target = index.get(ring_elem.get(_XLINK_HREF, "").lstrip("#"), ring_elem)
        ring = _clean_ring(_ring_coordinates(target))
        if ring is None:
            state.counts.dropped_rings += 1
            if position == 0:
                state.counts.dropped_polygons += 1
                return []
            continue
        rings.append(ring[::-1] if reverse else ring)
    if not rings:
        state.counts.dropped_polygons += 1
    return rings


def _srs_dimension(elem: etree._Element) -> int:
    node: etree._Element | None = elem
    while node is not None:
        value = node.get("srsDimension")
        if value:
            try:
                return int(value)
            except ValueError:
                return -1
        node = node.getparent()
    return 3


def _ring_coordinates(ring: etree._Element) -> npt.NDArray[np.float64] | None:
    """(k, 3) vertices of a LinearRing, or None when they cannot be read."""
    try:
        for child in _children(ring):
            if _local(child) == "posList":
                dim = _srs_dimension(child)
                values = np.array(_text(child).split(), dtype=np.float64)
                return values.reshape(-1, 3) if dim == 3 and len(values) % 3 == 0 else None
            if _local(child) == "coordinates":
                decimal = child.get("decimal", ".")
                cs, ts = child.get("cs", ","), child.get("ts", " ")
                tuples = [t for t in _text(child).replace(decimal, ".").split(ts) if t.strip()]
                points = [[float(v) for v in t.split(cs)] for t in tuples]
                if not all(len(p) == 3 for p in points):
                    return None
                return np.array(points, dtype=np.float64)
        points = []
        for pos in ring.iter(etree.Element):
            if _local(pos) == "pos":
                values = [float(v) for v in _text(pos).split()]
                if len(values) != 3 or _srs_dimension(pos) != 3:
                    return None
                points.append(values)
        return np.array(points, dtype=np.float64).reshape(-1, 3)
    except ValueError:
        return None


def _clean_ring(xyz: npt.NDArray[np.float64] | None) -> npt.NDArray[np.float64] | None:
    """Drop repeated consecutive and closing vertices; None if < 3 distinct vertices remain."""
    if xyz is None or len(xyz) < 3 or not np.isfinite(xyz).all():
        return None
    repeated = np.all(xyz[1:] == xyz[:-1], axis=1)
    if repeated.any():
        xyz = xyz[np.concatenate(([True], ~repeated))]
    if len(xyz) > 1 and np.array_equal(xyz[0], xyz[-1]):
        xyz = xyz[:-1]
    if len(xyz) < 3 or len(set(map(tuple, xyz.tolist()))) < 3:
        return None
    return np.ascontiguousarray(xyz)


# --------------------------------------------------------------------------- attributes
def _record(
    elem: etree._Element, building_id: str, parent_id: str, parent: BuildingRecord | None
) -> BuildingRecord:
    """A :class:`BuildingRecord` from the direct attribute children of a building element."""
    name = ""
    year: int | None = None
    storeys: int | None = None
    functions: list[str] = []
    usages: list[str] = []
    standard: dict[str, object] = {}
    generic: dict[str, object] = {}
    for child in _children(elem):
        namespace, local = _split(child.tag)
        text = _text(child)
        if namespace in _GML_NAMESPACES:
            if local == "name" and text and not name:
                name = text
            elif local == "description" and text:
                standard["description"] = " ".join(text.split())
        elif local == "yearOfConstruction" or local == "dateOfConstruction":
            year = _to_int(text[:4])
            if year is None and text:
                standard[local] = text
        elif local in ("yearOfDemolition", "dateOfDemolition") and text:
            standard["year_demolished"] = _to_int(text[:4]) or text
        elif local == "function" and text:
            functions.append(text)
        elif local == "usage" and text:
            usages.append(text)
        elif local == "class" and text:
            standard["class"] = text
        elif local == "roofType" and text:
            standard["roof_type"] = text
        elif local == "measuredHeight" and text:
            standard["measured_height_m"] = _to_float(text) if _to_float(text) is not None else text
        elif local == "storeysAboveGround":
            storeys = _to_int(text)
        elif local == "storeysBelowGround" and text:
            standard["storeys_below_ground"] = _to_int(text)
        elif local == "height":
            standard.update(_height(child))
        elif local == "address":
            words = [t.strip() for t in child.itertext(tag=etree.Element) if t.strip()]
            if words:
                standard["address"] = " ".join(words)
        elif local == "creationDate" and text:
            standard["creation_date"] = text
        elif local == "genericAttribute" or (
            namespace.startswith(_CITYGML_NS_PREFIX + "generics/")
            and local.lower().endswith(("attribute", "attributeset"))
        ):
            _generic_attributes(child, generic, "")
    if functions:
        standard["function"] = ";".join(functions)
    if usages:
        standard["usage"] = ";".join(usages)
    use = ";".join(functions) or ";".join(usages)
    inherited = []
    if parent is not None:
        if year is None and parent.year_built is not None:
            year = parent.year_built
            inherited.append("year_built")
        if not use and parent.use:
            use = parent.use
            inherited.append("use")
    if inherited:
        standard["inherited_from_parent"] = ",".join(inherited)
    attributes = {(f"generic_{k}" if k in standard else k): v for k, v in generic.items()}
    attributes.update(standard)
    return BuildingRecord(
        building_id=building_id,
        parent_id=parent_id,
        name=name,
        year_built=year,
        use=use,
        n_storeys=storeys,
        attributes=attributes,
    )


def _height(elem: etree._Element) -> dict[str, object]:
    """CityGML 3.0 ``con:height/con:Height``: value by its status (measured, estimated ...)."""
    out: dict[str, object] = {}
    for height in _children(elem):
        fields = {_local(c): _text(c) for c in _children(height)}
        value = _to_float(fields.get("value", ""))
        if value is None:
            continue
        status = fields.get("status") or "measured"
        key = "measured_height_m" if status == "measured" else f"{status}_height_m"
        out.setdefault(key, value)
        references = (fields.get("lowReference"), fields.get("highReference"))
        if all(references):
            out.setdefault(key.removesuffix("_m") + "_reference", "->".join(references))
    return out


def _generic_attributes(elem: etree._Element, out: dict[str, object], prefix: str) -> None:
    """Flatten CityGML 1.0/2.0 (``gen:stringAttribute name=..``) and 3.0 generic attributes."""
    local = _local(elem)
    lowered = local.lower()
    if lowered in ("genericattribute", "value"):  # 3.0 property wrappers
        for child in _children(elem):
            _generic_attributes(child, out, prefix)
        return
    name = elem.get("name") or next((_text(c) for c in _children(elem) if _local(c) == "name"), "")
    if not name:
        return
    if lowered.endswith("attributeset"):
        for child in _children(elem):
            if _local(child) != "name":
                _generic_attributes(child, out, f"{prefix}{name}.")
        return
    raw = next((_text(c) for c in _children(elem) if _local(c) == "value"), "")
    value: object = raw
    if lowered.startswith("int"):
        converted_int = _to_int(raw)
        value = raw if converted_int is None else converted_int
    elif lowered.startswith(("double", "measure")):
        converted = _to_float(raw)
        value = raw if converted is None else converted
    out[f"{prefix}{name}"] = value


def _to_int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _to_float(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if np.isfinite(value) else None


# --------------------------------------------------------------------------- CRS
def _source_crs(path: Path, declared: list[str], override: CRSLike | None) -> ParsedCRS:
    """The CRS the file declares, else ``override``, else a :class:`CRSError`."""
    if not declared:
        if override is None:
            raise CRSError(
                f"{path}: the file declares no CRS (no srsName on its gml:Envelope or on any "
                "geometry). Pass source_crs='EPSG:...' (CLI: --source-crs EPSG:...) naming "
                "the CRS of its coordinates."
            )
        if isinstance(override, CRS):
            return ParsedCRS(to_crs(override), None, override.to_string())
        text = f"EPSG:{override}" if isinstance(override, int) else str(override)
        return _parse_declared(path, text)
    parsed = [_parse_declared(path, text) for text in declared]
    first = parsed[0]
    for other in parsed[1:]:
        if not other.horizontal.equals(first.horizontal):
            raise CRSError(
                f"{path}: the file declares several CRSs ({first.declared!r} and "
                f"{other.declared!r}); one file must use one CRS. Split or reproject it first."
            )
    vertical = next((p.vertical_epsg for p in parsed if p.vertical_epsg is not None), None)
    if override is not None and not to_crs(override).equals(first.horizontal):
        warnings.warn(
            f"{path.name}: source_crs={override!s} ignored: the file declares {first.declared!r}.",
            TwinWarning,
            stacklevel=3,
        )
    return ParsedCRS(first.horizontal, vertical, first.declared)


def _parse_declared(path: Path, text: str) -> ParsedCRS:
    try:
        return parse_crs(text)
    except CRSError as err:
        raise CRSError(f"{path}: {err}") from err


# --------------------------------------------------------------------------- surfaces
def _finish_surfaces(state: _State) -> SurfaceBatch:
    """Freeze the read polygons (in file order) and give kinds to those without semantics.

    Surfaces without semantics are classified by tilt against the lowest point of
    their building.  A building made only of such surfaces that encloses a
    negative volume (rings wound inwards) has all its rings reversed first.
    """
    polygons = state.polygons
    collector = SurfaceCollector()
    for p in polygons:  # rings are already cleaned: add() keeps every one of them
        collector.add(p.building, "wall", "exterior", p.rings)
    batch = collector.to_batch()
    if batch.n_surfaces == 0:
        return batch
    n_buildings = len(state.records)
    building = batch.building_index
    starts, _stops = batch.surface_vertex_ranges()
    z_min = np.minimum.reduceat(batch.vertices[:, 2], starts)
    ground = np.full(n_buildings, np.inf)
    np.minimum.at(ground, building, z_min)
    metrics = surface_metrics(batch, ground)
    state.counts.self_intersecting = _count_self_intersecting(batch, metrics["normal"])

    plain = np.array([p.semantic is None for p in polygons], dtype=bool)
    kind = np.full(batch.n_surfaces, "wall", dtype="<U6")
    boundary = np.full(batch.n_surfaces, "exterior", dtype="<U8")
    for i in np.flatnonzero(~plain):
        kind[i], boundary[i] = SEMANTIC_KIND[polygons[i].semantic]  # type: ignore[index,misc]
    if plain.any():
        tilt = metrics["tilt_deg"].copy()
        has_semantic = np.zeros(n_buildings, dtype=bool)
        has_semantic[building[~plain]] = True
        volume = np.zeros(n_buildings)
        np.add.at(volume, building[plain], metrics["z_moment_m3"][plain])
        flip_building = (volume < -1e-9) & ~has_semantic
        flip = plain & flip_building[building]
        if flip.any():
            state.counts.reoriented_buildings = int(flip_building.sum())
            tilt[flip] = 180.0 - tilt[flip]
            _reverse_rings(batch, np.flatnonzero(flip))
        kind[plain], boundary[plain] = classify_by_tilt(
            tilt[plain],
            z_min[plain],
            ground[building[plain]],
            vertical_tilt_deg=TOLERANCES.vertical_tilt_deg,
        )
    batch.kind = kind
    batch.boundary = boundary
    return batch


def _reverse_rings(batch: SurfaceBatch, surfaces: npt.NDArray[np.int64]) -> None:
    """Reverse, in place, the vertex order of every ring of the given surfaces."""
    offsets = batch.ring_offsets
    for j in surfaces:
        for r in range(batch.surface_ring_offsets[j], batch.surface_ring_offsets[j + 1]):
            a, b = offsets[r], offsets[r + 1]
            batch.vertices[a:b] = batch.vertices[a:b][::-1].copy()


def _count_self_intersecting(batch: SurfaceBatch, normal: npt.NDArray[np.float64]) -> int:
    """Number of surfaces with a ring that crosses itself, seen along its normal."""
    n_rings = len(batch.ring_offsets) - 1
    surface_of_ring = np.repeat(np.arange(batch.n_surfaces), np.diff(batch.surface_ring_offsets))
    ring_of_vertex = np.repeat(np.arange(n_rings), np.diff(batch.ring_offsets))
    # project each polygon on the coordinate plane most orthogonal to its normal
    dropped_axis = np.argmax(np.abs(normal), axis=1)[surface_of_ring][ring_of_vertex]
    kept_axes = np.array([[1, 2], [0, 2], [0, 1]])[dropped_axis]
    local = batch.vertices - batch.vertices[batch.ring_offsets[:-1]][ring_of_vertex]
    plane = np.take_along_axis(local, kept_axes, axis=1)
    rings = shapely.linearrings(plane, indices=ring_of_vertex)
    return len(np.unique(surface_of_ring[~shapely.is_simple(rings)]))


# --------------------------------------------------------------------------- warnings
def _warn(state: _State) -> None:
    """One :class:`TwinWarning` per kind of repair or omission."""
    c = state.counts
    name = state.path.name

    def examples(ids: list[str]) -> str:
        return ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")

    messages = []
    if c.dtd_entities:
        messages.append(
            f"the DTD declares {c.dtd_entities} entit(y/ies); they were not expanded "
            "(external and nested entities are never read)"
        )
    if state.n_elements == 0:
        messages.append("no bldg:Building or bldg:BuildingPart found")
    if c.duplicate_ids:
        messages.append(
            f"{len(c.duplicate_ids)} duplicate building gml:id(s) got a suffix _2, _3 ... "
            f"(e.g. {examples(c.duplicate_ids)})"
        )
    if c.missing_lod:
        what = f"LoD{state.lod}" if state.lod else "geometry at LoD1-4"
        messages.append(
            f"{len(c.missing_lod)} building(s) without {what} were skipped (e.g. {examples(c.missing_lod)})"
        )
    if c.no_valid_geometry:
        messages.append(
            f"{len(c.no_valid_geometry)} building(s) without any valid polygon were skipped "
            f"(e.g. {examples(c.no_valid_geometry)})"
        )
    if c.dropped_rings:
        messages.append(
            f"{c.dropped_rings} ring(s) with fewer than 3 distinct vertices or unreadable "
            f"coordinates were dropped ({c.dropped_polygons} polygon(s) lost their outer ring)"
        )
    if c.self_intersecting:
        messages.append(
            f"{c.self_intersecting} self-intersecting polygon(s) were kept as read; "
            "their area is the net signed (Newell) area"
        )
    if c.unresolved_xlinks:
        messages.append(
            f"{c.unresolved_xlinks} xlink:href(s) point outside their building (or along a "
            f"chain of more than {_MAX_XLINK_HOPS} links) and were ignored"
        )
    if c.unknown_surfaces:
        listed = ", ".join(f"{k} ({v})" for k, v in sorted(c.unknown_surfaces.items()))
        messages.append(f"unknown thematic surface types were ignored: {listed}")
    if c.reoriented_buildings:
        messages.append(f"{c.reoriented_buildings} building(s) had inward-facing rings and were reversed")
    if c.interior_shells:
        messages.append(f"{c.interior_shells} interior shell(s) of solids were ignored")
    for message in messages:
        warnings.warn(f"{name}: {message}.", TwinWarning, stacklevel=3)
