"""Project-wide defaults: the working CRS and the geometric tolerances.

The default CRS is set here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_CRS", "SCHEMA_VERSION", "Tolerances", "TOLERANCES"]

#: Working CRS of every model unless told otherwise: Belgian Lambert 72.
DEFAULT_CRS = "EPSG:31370"

#: Version of the stored model layout (GeoPackage layers and columns).
SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class Tolerances:
    """Numeric tolerances of geometric work, in the units their names state.

    Attributes
    ----------
    party_wall_distance_m
        Two walls of different buildings are one party wall when their planes
        lie within this distance of each other (footprint edges coinciding).
    party_wall_angle_deg
        ... and their horizontal normals are anti-parallel within this angle.
    min_surface_area_m2
        Surfaces (or parts of them) smaller than this are dropped as noise.
    vertical_tilt_deg
        A surface whose tilt departs less than this from 90 degrees is a wall.
    storey_height_m
        Storey height assumed when a source gives a height but no storey count.
    """

    party_wall_distance_m: float = 0.30
    party_wall_angle_deg: float = 10.0
    min_surface_area_m2: float = 0.01
    vertical_tilt_deg: float = 5.0
    storey_height_m: float = 3.0


#: The defaults used throughout the project.
TOLERANCES = Tolerances()
