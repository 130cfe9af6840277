"""Bundled reference data and the deterministic sample-district generator.

``generate_district`` builds a synthetic Brussels district (perimeter blocks,
streets, a park) in EPSG:31370; ``write_district`` saves it as CityJSON,
GeoPackage and GeoJSON; ``write_ifc_building`` exports one of its buildings as
an IFC4 file.  The names are imported lazily, so ``import data`` stays cheap
for code that only reads the bundled tables.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data.district import District, Streets, generate_district
    from data.district_io import write_district
    from data.ifc_building import write_ifc_building

__all__ = ["District", "Streets", "generate_district", "write_district", "write_ifc_building"]

_HOME = {
    "District": "data.district",
    "Streets": "data.district",
    "generate_district": "data.district",
    "write_district": "data.district_io",
    "write_ifc_building": "data.ifc_building",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
