"""Shared fixtures: the third-party data in ../shared/data, a terraced row."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import shapely

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _shared(sub: str) -> Path:
    folder = SHARED_DATA / sub
    if not folder.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{folder} is missing: CI must run with ../shared beside the checkout.")
        pytest.skip(f"{folder} is absent (the shared third-party data sits beside the checkout)")
    return folder


@pytest.fixture(scope="session")
def city_data() -> Path:
    """../shared/data/city (skipped when absent, failing under CI=true)."""
    return _shared("city")


@pytest.fixture(scope="session")
def ifc_data() -> Path:
    """../shared/data/ifc (skipped when absent, failing under CI=true)."""
    return _shared("ifc")


#: A row of three terraced houses along x (depth 10 m), different heights.
ROW = [("A", 0.0, 6.0, 9.0), ("B", 6.0, 11.0, 6.0), ("C", 11.0, 18.0, 12.0)]


@pytest.fixture()
def terraced_row():
    """Model of three terraced houses: A (6 m wide, 9 m high), B (5 m, 6 m), C (7 m, 12 m)."""
    from twin.crs import to_crs
    from twin.envelope import BuildingRecord, assemble_tables
    from twin.extrude import extrude_footprint
    from twin.model import CityModel
    from twin.surfaces import SurfaceCollector

    x0, y0, z0 = 149_000.0, 168_500.0, 60.0
    c = SurfaceCollector()
    for i, (_, xa, xb, h) in enumerate(ROW):
        extrude_footprint(c, i, shapely.box(x0 + xa, y0, x0 + xb, y0 + 10.0), ground_z_m=z0, height_m=h)
    records = [BuildingRecord(building_id=name, typology="terraced") for name, *_ in ROW]
    b, s, _ = assemble_tables(c.to_batch(), records, crs=to_crs(None), source="row", lod="1")
    return CityModel(buildings=b, surfaces=s, name="terraced row")
