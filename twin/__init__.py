"""Brussels urban digital twin: the city model and its core services.

>>> from twin import CityModel
>>> CityModel().crs.to_epsg()
31370
"""

from twin.config import DEFAULT_CRS, TOLERANCES, Tolerances
from twin.errors import (
    ConvergenceError,
    CRSError,
    CRSMismatchError,
    DuplicateIdError,
    GeometryError,
    IngestError,
    ScenarioValidationError,
    SchemaError,
    StoreError,
    TwinError,
    TwinWarning,
    UnknownEntityError,
)
from twin.model import CityModel

__all__ = [
    "CityModel",
    "DEFAULT_CRS",
    "TOLERANCES",
    "Tolerances",
    "TwinError",
    "CRSError",
    "CRSMismatchError",
    "GeometryError",
    "IngestError",
    "SchemaError",
    "StoreError",
    "DuplicateIdError",
    "ScenarioValidationError",
    "UnknownEntityError",
    "ConvergenceError",
    "TwinWarning",
]
__version__ = "0.1.0"
