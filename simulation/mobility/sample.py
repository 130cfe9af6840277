"""A light sample model for examples, tests and benchmarks of the mobility simulation.

:func:`sample_model` turns the deterministic sample district of :mod:`data`
(buildings, residents, jobs, services and the street graph) straight into a
:class:`~twin.model.CityModel` without writing and re-reading files: building
footprints, ``activities`` and the ``nodes``/``links`` network.  The full
ingest path (CityJSON, GeoPackage streets) is what ``twin demo`` runs; both
give the same network and activities.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.model import CityModel

__all__ = ["sample_model"]


def sample_model(n_buildings: int = 400, *, seed: int = 0) -> CityModel:
    """The generated sample district as a model with buildings, activities and streets.

    Parameters
    ----------
    n_buildings : int
        Number of buildings of the district.
    seed : int
        Seed of the generator (same seed, same district).

    Returns
    -------
    CityModel
        EPSG:31370; ``buildings`` (footprints), ``activities`` (residents,
        jobs, service), ``nodes`` and ``links`` (30 km/h local streets, 50 km/h
        axes, both directions).

    Examples
    --------
    >>> m = sample_model(60, seed=1)
    >>> len(m.buildings), len(m.links) > 0, sorted(set(m.activities["service"]) - {""})[:2]
    (60, True, ['doctor', 'school'])
    """
    from data import generate_district

    district = generate_district(n_buildings, seed=seed)
    crs = district.crs
    ids = district.building_ids
    buildings = gpd.GeoDataFrame(
        {"building_id": ids, "source": "sample district"},
        geometry=[shapely.MultiPolygon([p]) for p in district.footprints],
        crs=crs,
    )
    activities = pd.DataFrame(
        {
            "building_id": ids,
            "residents": np.asarray(district.residents, dtype=np.int64),
            "jobs": np.asarray(district.jobs, dtype=np.int64),
            "service": list(district.service),
            "service_capacity": [1 if s else 0 for s in district.service],
        }
    )
    streets = district.streets
    nodes = gpd.GeoDataFrame(
        streets.nodes[["node_id", "z_m"]].copy(),
        geometry=shapely.points(streets.nodes["x"].to_numpy(), streets.nodes["y"].to_numpy()),
        crs=crs,
    )
    links = gpd.GeoDataFrame(streets.links.copy(), geometry=list(streets.geometry), crs=crs)
    return CityModel(
        buildings=buildings,
        activities=activities,
        nodes=nodes,
        links=links,
        crs=crs,
        name=f"sample district ({n_buildings} buildings, seed {seed})",
    )
