"""Save a generated sample district as files that GIS and city-model tools open.

:func:`write_district` writes, into one folder:

* ``district.city.json`` -- CityJSON 2.0, LoD2, via
  :func:`twin.cityjson_writer.write_cityjson`, with the activity attributes
  ``residents``, ``jobs`` and ``service`` on every building;
* ``footprints.gpkg`` -- GeoPackage layer ``footprints`` in EPSG:31370;
* ``footprints.geojson`` -- the same table in EPSG:4326 (RFC 7946 requires
  WGS 84 longitude/latitude);
* ``streets.gpkg`` -- layers ``nodes`` and ``links`` of the street graph in
  EPSG:31370.

Every file is written to a temporary file beside its target and renamed over
it, so a reader never sees a half-written file.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from data.district import District
from twin.atomic import atomic_path
from twin.cityjson_writer import write_cityjson
from twin.crs import transform_xyz
from twin.typing import PathLike_

__all__ = ["FOOTPRINT_COLUMNS", "footprints_frame", "write_district"]

#: Attribute columns of the footprint layers, in order.
FOOTPRINT_COLUMNS = (
    "building_id",
    "height_m",
    "n_storeys",
    "year_built",
    "use",
    "typology",
    "ground_z_m",
    "residents",
    "jobs",
    "service",
)

_WGS84 = CRS.from_epsg(4326)


def footprints_frame(district: District) -> gpd.GeoDataFrame:
    """The district's footprints and attributes as a GeoDataFrame in EPSG:31370.

    Columns are :data:`FOOTPRINT_COLUMNS` plus ``geometry``; heights in metres.

    Examples
    --------
    >>> from data.district import generate_district
    >>> gdf = footprints_frame(generate_district(30))
    >>> gdf.crs.to_epsg(), list(gdf.columns)[:3]
    (31370, ['building_id', 'height_m', 'n_storeys'])
    """
    records = district.records
    return gpd.GeoDataFrame(
        {
            "building_id": [r.building_id for r in records],
            "height_m": np.asarray(district.heights_m, dtype=np.float64),
            "n_storeys": np.array([r.n_storeys for r in records], dtype=np.int64),
            "year_built": np.array([r.year_built for r in records], dtype=np.int64),
            "use": [r.use for r in records],
            "typology": [r.typology for r in records],
            "ground_z_m": np.asarray(district.ground_z_m, dtype=np.float64),
            "residents": np.asarray(district.residents, dtype=np.int64),
            "jobs": np.asarray(district.jobs, dtype=np.int64),
            "service": list(district.service),
        },
        geometry=np.asarray(district.footprints, dtype=object),
        crs=district.crs,
    )


def write_district(district: District, out_dir: PathLike_) -> dict[str, Path]:
    """Write the district's CityJSON, footprint and street files into ``out_dir``.

    Parameters
    ----------
    district
        A district from :func:`data.district.generate_district`.
    out_dir
        Target folder; created if missing.  Existing files of the same names
        are replaced atomically.

    Returns
    -------
    dict of str to Path
        ``cityjson``, ``footprints_gpkg``, ``footprints_geojson`` and
        ``streets_gpkg`` to the paths written.

    Notes
    -----
    The GeoJSON coordinates go from EPSG:31370 to EPSG:4326 through
    :func:`twin.crs.transform_xyz`, i.e. the operation PROJ ranks first for
    that pair; :func:`twin.crs.transformation_description` names it.  Several
    BD72 to WGS 84 operations exist, so installations with and without the
    Belgian grid files may differ by up to about a metre.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "cityjson": out / "district.city.json",
        "footprints_gpkg": out / "footprints.gpkg",
        "footprints_geojson": out / "footprints.geojson",
        "streets_gpkg": out / "streets.gpkg",
    }
    extra = [
        {"residents": r, "jobs": j, "service": s}
        for r, j, s in zip(
            np.asarray(district.residents).tolist(),
            np.asarray(district.jobs).tolist(),
            district.service,
            strict=True,
        )
    ]
    write_cityjson(
        paths["cityjson"],
        batch=district.batch,
        records=district.records,
        crs=district.crs,
        extra_attributes=extra,
        lod="2",
        metadata_title=f"Sample Brussels district ({district.n_buildings} buildings)",
    )

    frame = footprints_frame(district)
    with atomic_path(paths["footprints_gpkg"]) as tmp:
        frame.to_file(tmp, layer="footprints", driver="GPKG", engine="pyogrio")
    with atomic_path(paths["footprints_geojson"]) as tmp:
        _to_wgs84(frame).to_file(tmp, driver="GeoJSON", engine="pyogrio", layer_options={"RFC7946": "YES"})

    streets = district.streets
    nodes = gpd.GeoDataFrame(
        streets.nodes.copy(),
        geometry=shapely.points(streets.nodes["x"].to_numpy(), streets.nodes["y"].to_numpy()),
        crs=district.crs,
    )
    links = gpd.GeoDataFrame(streets.links.copy(), geometry=streets.geometry, crs=district.crs)
    with atomic_path(paths["streets_gpkg"]) as tmp:
        nodes.to_file(tmp, layer="nodes", driver="GPKG", engine="pyogrio")
        links.to_file(tmp, layer="links", driver="GPKG", engine="pyogrio", mode="a")
    return paths


def _to_wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject a Lambert 72 frame to EPSG:4326 (longitude, latitude order)."""
    geometry = frame.geometry.to_numpy()
    xy = shapely.get_coordinates(geometry)
    xyz = np.column_stack([xy, np.zeros(len(xy))])
    lonlat = transform_xyz(xyz, CRS.from_user_input(frame.crs), _WGS84)[:, :2]
    geometry = shapely.set_coordinates(geometry.copy(), lonlat)
    return gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=geometry, crs=_WGS84)
