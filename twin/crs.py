"""Coordinate reference systems: parse what files declare, transform explicitly.

Files spell their CRS in many ways (``EPSG:31370``, OGC URNs and URLs,
AdV names in German CityGML, compound horizontal + vertical CRSs).  This
module turns each into a horizontal :class:`pyproj.CRS` and transforms
coordinates with ``always_xy`` order.  Heights are carried unchanged; the
vertical datum a file declares is reported, never silently converted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as _ProjCRSError

from twin.config import DEFAULT_CRS
from twin.errors import CRSError
from twin.typing import CRSLike

__all__ = ["ParsedCRS", "parse_crs", "to_crs", "transform_xyz", "transformation_description"]

# AdV (German surveying) CRS names used by CityGML in Germany: horizontal EPSG
# code by name prefix, vertical EPSG code by height-system suffix.
_ADV_HORIZONTAL = {
    "ETRS89_UTM32": 25832,
    "ETRS89_UTM33": 25833,
    "DE_DHDN_3GK2": 31466,
    "DE_DHDN_3GK3": 31467,
    "DE_DHDN_3GK4": 31468,
}
_ADV_VERTICAL = {"DE_DHHN92_NH": 5783, "DE_DHHN2016_NH": 7837}

_EPSG_IN_TEXT = re.compile(r"EPSG(?:/\d+(?:\.\d+)*)?(?:/|::?)(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedCRS:
    """A declared CRS split into its horizontal part and an optional vertical datum."""

    horizontal: CRS
    vertical_epsg: int | None
    declared: str


def to_crs(value: CRSLike | None) -> CRS:
    """Return a horizontal :class:`pyproj.CRS` for ``value`` (None means the default).

    Examples
    --------
    >>> to_crs(None).to_epsg()
    31370
    >>> to_crs("urn:ogc:def:crs:EPSG::3812").to_epsg()
    3812
    """
    if value is None:
        value = DEFAULT_CRS
    if isinstance(value, CRS):
        return _horizontal(value)
    if isinstance(value, int):
        return _horizontal(_from_user_input(f"EPSG:{value}", str(value)))
    return parse_crs(str(value)).horizontal


def parse_crs(text: str) -> ParsedCRS:
    """Parse a CRS as files declare it.

    Accepts ``EPSG:n``, ``urn:ogc:def:crs:EPSG::n``, OGC URLs
    (``https://www.opengis.net/def/crs/EPSG/0/n``), compound URNs
    (``urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::5783``), AdV names
    (``urn:adv:crs:ETRS89_UTM32*DE_DHHN92_NH``), WKT and PROJ strings.

    Raises
    ------
    CRSError
        When the text names no CRS that PROJ knows.

    Examples
    --------
    >>> p = parse_crs("urn:adv:crs:ETRS89_UTM32*DE_DHHN92_NH")
    >>> p.horizontal.to_epsg(), p.vertical_epsg
    (25832, 5783)
    """
    declared = text.strip()
    if not declared:
        raise CRSError("The CRS is empty; declare one such as 'EPSG:31370'.")
    if declared.lower().startswith("urn:adv:crs:"):
        return _parse_adv(declared)
    codes = [int(c) for c in _EPSG_IN_TEXT.findall(declared)]
    if codes and ("urn:" in declared.lower() or "opengis.net" in declared.lower()):
        crs = _from_user_input(f"EPSG:{codes[0]}", declared)
        vertical = codes[1] if len(codes) > 1 else None
        if crs.is_compound:
            return ParsedCRS(_horizontal(crs), _vertical_epsg(crs), declared)
        return ParsedCRS(_horizontal(crs), vertical, declared)
    crs = _from_user_input(declared, declared)
    return ParsedCRS(_horizontal(crs), _vertical_epsg(crs), declared)


def _parse_adv(declared: str) -> ParsedCRS:
    name = declared[len("urn:adv:crs:") :]
    horizontal_name, _, vertical_name = name.partition("*")
    if horizontal_name not in _ADV_HORIZONTAL:
        raise CRSError(
            f"Unknown AdV CRS {declared!r}: known horizontal names are "
            f"{sorted(_ADV_HORIZONTAL)}. Pass the CRS explicitly (crs='EPSG:...')."
        )
    crs = CRS.from_epsg(_ADV_HORIZONTAL[horizontal_name])
    return ParsedCRS(crs, _ADV_VERTICAL.get(vertical_name), declared)


@lru_cache(maxsize=64)
def _from_user_input(text: str, declared: str) -> CRS:
    try:
        return CRS.from_user_input(text)
    except _ProjCRSError as err:
        raise CRSError(
            f"Unknown CRS {declared!r}: PROJ does not know it. "
            "Declare an EPSG code such as 'EPSG:31370' (Belgian Lambert 72)."
        ) from err


def _horizontal(crs: CRS) -> CRS:
    if crs.is_compound:
        for sub in crs.sub_crs_list:
            if not sub.is_vertical:
                return sub
    if crs.is_vertical:
        raise CRSError(f"CRS {crs.name!r} is vertical only; a horizontal CRS is needed.")
    return crs


def _vertical_epsg(crs: CRS) -> int | None:
    if crs.is_compound:
        for sub in crs.sub_crs_list:
            if sub.is_vertical:
                return sub.to_epsg()
    return None


@lru_cache(maxsize=64)
def _transformer(src_wkt: str, dst_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(src_wkt), CRS.from_wkt(dst_wkt), always_xy=True)


def transformation_description(src: CRS, dst: CRS) -> str:
    """Name the operation PROJ uses from ``src`` to ``dst`` (recorded in model meta)."""
    if src.equals(dst):
        return "identity"
    transformer = _transformer(src.to_wkt(), dst.to_wkt())
    if "unavailable" in (transformer.description or ""):
        # Several candidate operations: PROJ names the one it picks once it has
        # transformed a point; use the centre of the source CRS's area of use
        # (callers that already transformed their data get the operation used).
        area = src.area_of_use
        if area is not None:
            lon, lat = (area.west + area.east) / 2, (area.south + area.north) / 2
            x, y = Transformer.from_crs("EPSG:4326", src, always_xy=True).transform(lon, lat)
            transformer.transform(x, y)
        try:
            return transformer.get_last_used_operation().description
        except Exception:  # pyproj raises ProjError when nothing was transformed yet
            return "PROJ operation chosen per point (several candidates)"
    return transformer.description or "unnamed PROJ operation"


def transform_xyz(xyz: np.ndarray, src: CRS, dst: CRS) -> np.ndarray:
    """Transform (n, 3) float64 coordinates horizontally from ``src`` to ``dst``.

    Heights (the third column) are returned unchanged.

    Raises
    ------
    CRSError
        When the transformation yields non-finite coordinates (points outside
        the area of use of either CRS, or a missing PROJ grid).
    """
    out = np.array(xyz, dtype=np.float64, copy=True, order="C")
    if src.equals(dst) or len(out) == 0:
        return out
    x, y = _transformer(src.to_wkt(), dst.to_wkt()).transform(out[:, 0], out[:, 1])
    out[:, 0] = x
    out[:, 1] = y
    if not np.isfinite(out[:, :2]).all():
        raise CRSError(
            f"Transforming from {src.name!r} to {dst.name!r} produced non-finite coordinates: "
            "the data lies outside the CRS's area of use, or its declared CRS is wrong."
        )
    return out
