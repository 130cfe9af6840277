"""``place_ifc_building``: put a BIM building into a district model.

A permit application replaces one (or a few) existing buildings of the city
model by a designed one.  :func:`place_ifc_building` drops the district
buildings that the IFC building's footprint overlaps (or the ones named),
merges the IFC model (its buildings, surfaces and ``model.bim`` element
tables) into the district, and recomputes party walls, so that the new
building's walls against its neighbours become ``boundary="party"`` -- and
the neighbours' walls that faced the demolished building are matched
against the new one.  The district itself is not modified.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely

from twin.errors import TwinWarning
from twin.model import CityModel

__all__ = [
    "OVERLAP_SHARE",
    "OVERLAP_MIN_M2",
    "orient_like_table",
    "overlapped_buildings",
    "place_ifc_building",
]

#: A district building is replaced when the overlap with the IFC footprint
#: exceeds this share of the smaller of the two footprints ...
OVERLAP_SHARE = 0.05
#: ... and this area (m2): touching neighbours share an edge, not an area.
OVERLAP_MIN_M2 = 1.0


def overlapped_buildings(district: CityModel, bim: CityModel) -> list[str]:
    """Ids of the district buildings whose footprint overlaps an IFC building's.

    Parameters
    ----------
    district
        The city model.
    bim
        The IFC model (any CRS; reprojected to the district's).

    Returns
    -------
    list of str
        Sorted building ids.
    """
    ifc = bim.to_crs(district.crs) if not bim.crs.equals(district.crs) else bim
    found: set[str] = set()
    for geom in ifc.buildings.geometry:
        if geom is None or geom.is_empty:
            continue
        near = district.query_polygon(geom)
        for bid, other in zip(near["building_id"], near.geometry, strict=True):
            if other is None or other.is_empty:
                continue
            inter = shapely.area(shapely.intersection(shapely.make_valid(other), shapely.make_valid(geom)))
            if inter > max(OVERLAP_MIN_M2, OVERLAP_SHARE * min(other.area, geom.area)):
                found.add(str(bid))
    return sorted(found)


def place_ifc_building(
    district: CityModel, bim: CityModel, *, replace: Sequence[str] | None = None
) -> CityModel:
    """A new model: ``district`` with ``bim``'s buildings in place of those they overlap.

    Parameters
    ----------
    district
        The city model (not modified).
    bim
        A model read from an IFC file (:func:`~bim_ingest.ifc.read_ifc`).
    replace
        Ids of the district buildings to remove; default: those the IFC
        footprint overlaps (:func:`overlapped_buildings`).  An empty list
        removes none.

    Returns
    -------
    CityModel
        In the district's CRS, party walls recomputed; ``sources`` records
        the operation and the replaced ids.

    Raises
    ------
    UnknownEntityError
        When ``replace`` names a building the district does not have.
    DuplicateIdError
        When an IFC building id already exists in the district (and is not replaced).

    Warns
    -----
    TwinWarning
        When nothing was replaced (the IFC building lands on free ground).

    Examples
    --------
    >>> new = place_ifc_building(district, read_ifc("design.ifc"))   # doctest: +SKIP
    >>> new.surfaces.query("boundary == 'party'").building_id.unique()  # doctest: +SKIP
    """
    ids = overlapped_buildings(district, bim) if replace is None else sorted({str(r) for r in replace})
    if replace is None and not ids:
        warnings.warn(
            f"{bim.name}: the IFC footprint overlaps no building of {district.name!r}; "
            "it is added without replacing any (is it georeferenced? pass place= to read_ifc).",
            TwinWarning,
            stacklevel=2,
        )
    base = district.drop_buildings(ids) if ids else district.copy()
    merged = base.merge(bim, on_duplicate="error")
    merged.surfaces = orient_like_table(merged.surfaces)
    result = merged.with_party_walls()
    result.name = district.name
    result.sources.append(
        {
            "operation": "place_ifc_building",
            "replaced": ids,
            "ifc_buildings": [str(b) for b in bim.buildings["building_id"]],
            "replace_given": replace is not None,
        }
    )
    return result


def orient_like_table(surfaces: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Surfaces whose polygon winding disagrees with their azimuth and tilt, reversed.

    Party-wall detection derives each wall's outward normal from its ring
    order; walls that an earlier party-wall split left wound against their
    recorded orientation would never pair with a new neighbour.  The
    ``azimuth_deg``/``tilt_deg`` columns are the reference.
    """
    if surfaces.empty:
        return surfaces
    geoms = surfaces.geometry.to_numpy()
    az = np.radians(surfaces["azimuth_deg"].to_numpy(dtype=float))
    tilt = np.radians(surfaces["tilt_deg"].to_numpy(dtype=float))
    expected = np.column_stack(
        [np.sin(np.nan_to_num(az)) * np.sin(tilt), np.cos(np.nan_to_num(az)) * np.sin(tilt), np.cos(tilt)]
    )
    rings = shapely.get_exterior_ring(shapely.get_geometry(geoms, 0))  # first part of a multi-part
    coords, index = shapely.get_coordinates(rings, include_z=True, return_index=True)
    n = len(geoms)
    if len(coords) < 2:
        return surfaces
    start = np.zeros((n, 3))
    start[index[::-1]] = coords[::-1]  # the first vertex of each ring
    local = coords - start[index]
    same = index[:-1] == index[1:]  # rings are closed: consecutive vertices of one ring are its edges
    cross = np.cross(local[:-1][same], local[1:][same])
    owner = index[:-1][same]
    newell = np.column_stack([np.bincount(owner, cross[:, k], minlength=n) for k in range(3)])
    flip = np.einsum("ij,ij->i", newell, expected) < 0
    flip &= np.isfinite(tilt)
    if not flip.any():
        return surfaces
    out = surfaces.copy()
    fixed = geoms.copy()
    fixed[flip] = shapely.reverse(geoms[flip])
    return out.set_geometry(gpd.GeoSeries(fixed, index=out.index, crs=surfaces.crs))
