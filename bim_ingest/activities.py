"""Residents, jobs and services per building from source attributes.

City files often carry these as building attributes (the sample district
writes ``residents``, ``jobs`` and ``service``).  This lifts them into the
model's ``activities`` table; buildings without them get none.
"""

from __future__ import annotations

import json

import pandas as pd

from twin.model import CityModel

__all__ = ["activities_from_attributes"]


def activities_from_attributes(model: CityModel) -> pd.DataFrame:
    """An ``activities`` table from the ``residents``/``jobs``/``service`` attributes."""
    rows = []
    for bid, text in zip(model.buildings["building_id"], model.buildings["attributes_json"], strict=True):
        if not text:
            continue
        attrs = json.loads(text)
        if not any(k in attrs for k in ("residents", "jobs", "service")):
            continue
        rows.append(
            {
                "building_id": bid,
                "residents": int(attrs.get("residents") or 0),
                "jobs": int(attrs.get("jobs") or 0),
                "service": str(attrs.get("service") or ""),
                "service_capacity": int(attrs.get("service_capacity") or (1 if attrs.get("service") else 0)),
            }
        )
    return pd.DataFrame(rows, columns=["building_id", "residents", "jobs", "service", "service_capacity"])
