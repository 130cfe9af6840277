"""Thermal transmittance (U-value) of envelope elements, with its provenance.

Three sources, in order of trust; every surface records which one gave its
value (``provenance``):

``"pset"``
    ``ThermalTransmittance`` from the element's ``Pset_*Common`` (or its
    type's), as the designer stated it -- unless it exceeds
    ``1 / (Rsi + Rse)``, which no wall can, because the exporter left out the
    surface resistances (Revit states 21 W/(m2 K) for 10 cm of concrete):
    then they are added, ``U = 1 / (1/U_stated + Rsi + Rse)``.
``"layers"``
    From the material layer set, EN ISO 6946::

        R = Rsi + sum(d_i / lambda_i) + Rse,   U = 1 / R

    with the surface resistances by direction of heat flow (horizontal:
    Rsi 0.13, Rse 0.04; upward: 0.10, 0.04; downward: 0.17, 0.04 m2 K/W) and
    the conductivity of each layer from the file's own material properties
    (``Pset_MaterialThermal.ThermalConductivity``) or else from the bundled
    table ``data/materials.csv``, matched on the material name in French,
    Dutch, English or German (first matching row wins).  Air layers take a
    fixed resistance.  Unknown layers of at most 5 mm (foils, membranes) are
    neglected; any thicker unknown layer makes the method unusable.
``"typology"``
    The default of ``data/u_value_typology.csv`` for the surface kind
    (``new_build`` by default: the Brussels PEB maxima).

Examples
--------
>>> u = layers_u([("Brique / Baksteen / Brick", 0.19, float("nan"))], "wall")
>>> round(u.u_w_m2k, 3)  # 1 / (0.13 + 0.19/0.80 + 0.04)
2.454
>>> match_material("Laine minérale / Minerale wol").lambda_w_mk
0.035
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = [
    "SURFACE_RESISTANCES",
    "HEAT_FLOW",
    "NEGLIGIBLE_LAYER_M",
    "DEFAULT_TYPOLOGY",
    "Material",
    "UValue",
    "load_materials",
    "load_typology",
    "match_material",
    "normalise_name",
    "layers_u",
    "typology_u",
    "surface_u",
]

#: EN ISO 6946 surface resistances (Rsi, Rse) in m2 K/W by direction of heat flow.
SURFACE_RESISTANCES: dict[str, tuple[float, float]] = {
    "horizontal": (0.13, 0.04),
    "upward": (0.10, 0.04),
    "downward": (0.17, 0.04),
}
#: Direction of heat flow through each envelope kind (heating season).
HEAT_FLOW = {
    "wall": "horizontal",
    "window": "horizontal",
    "door": "horizontal",
    "roof": "upward",
    "floor": "downward",
}
#: Unknown layers up to this thickness (m) are neglected.
NEGLIGIBLE_LAYER_M = 0.005
#: Typology used when a file gives neither a U-value nor usable layers.
DEFAULT_TYPOLOGY = "new_build"


def _data_file(name: str) -> Path:
    return Path(__file__).resolve().parents[2] / "data" / name


@dataclass(frozen=True)
class Material:
    """One row of ``data/materials.csv``."""

    patterns: str
    lambda_w_mk: float
    r_m2k_w: float
    category: str
    source: str
    regex: re.Pattern = field(repr=False, compare=False, default=re.compile("$^"))


@dataclass
class UValue:
    """A U-value and where it came from."""

    u_w_m2k: float
    provenance: str
    detail: dict = field(default_factory=dict)


def normalise_name(name: str) -> str:
    """Lower-case, accents removed (``"Laine minérale"`` -> ``"laine minerale"``)."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.replace("ß", "ss").lower().strip()


def _float(text: str) -> float:
    text = (text or "").strip()
    return float(text) if text else math.nan


@lru_cache(maxsize=4)
def load_materials(path: str | None = None) -> tuple[Material, ...]:
    """Read the conductivity table (``data/materials.csv`` by default), in file order."""
    rows = []
    with open(path or _data_file("materials.csv"), encoding="utf-8", newline="") as fh:
        for rec in csv.reader(fh):
            if not rec or rec[0].startswith("#") or rec[0] == "name_patterns":
                continue
            patterns, lam, r_fixed, category, source = (rec + [""] * 5)[:5]
            rows.append(
                Material(
                    patterns=patterns,
                    lambda_w_mk=_float(lam),
                    r_m2k_w=_float(r_fixed),
                    category=category,
                    source=source,
                    regex=re.compile(patterns),
                )
            )
    return tuple(rows)


@lru_cache(maxsize=4)
def load_typology(path: str | None = None) -> dict[tuple[str, str], tuple[float, float, str]]:
    """Read ``data/u_value_typology.csv``: (typology, kind) -> (U, g, source)."""
    out = {}
    with open(path or _data_file("u_value_typology.csv"), encoding="utf-8", newline="") as fh:
        for rec in csv.reader(fh):
            if not rec or rec[0].startswith("#") or rec[0] == "typology":
                continue
            typology, kind, u, g, source = (rec + [""] * 5)[:5]
            out[(typology, kind)] = (_float(u), _float(g), source)
    return out


def match_material(name: str, table: Sequence[Material] | None = None) -> Material | None:
    """The first table row whose patterns match ``name`` (None if none)."""
    key = normalise_name(name)
    if not key:
        return None
    for row in table if table is not None else load_materials():
        if row.regex.search(key):
            return row
    return None


def layers_u(
    layers: Sequence[tuple[str, float, float]], kind: str, table: Sequence[Material] | None = None
) -> UValue | None:
    """U-value of a layer set, or None when a layer's conductivity is unknown.

    Parameters
    ----------
    layers
        ``(material name, thickness in m, conductivity in W/(m K) or NaN)``,
        the conductivity being the file's own value where it has one.
    kind
        Envelope kind, deciding the direction of heat flow (:data:`HEAT_FLOW`).

    Returns
    -------
    UValue or None
        ``provenance="layers"``; ``detail`` lists each layer's resistance.
    """
    if not layers:
        return None
    rsi, rse = SURFACE_RESISTANCES[HEAT_FLOW.get(kind, "horizontal")]
    total = rsi + rse
    parts = []
    for name, thickness, own_lambda in layers:
        if not (thickness > 0 and math.isfinite(thickness)):
            continue
        if math.isfinite(own_lambda) and own_lambda > 0:
            r = thickness / own_lambda
            parts.append({"material": name, "d_m": thickness, "lambda": own_lambda, "r": r, "from": "file"})
            total += r
            continue
        row = match_material(name, table)
        if row is None:
            if thickness <= NEGLIGIBLE_LAYER_M:
                parts.append({"material": name, "d_m": thickness, "r": 0.0, "from": "neglected"})
                continue
            return None
        if math.isfinite(row.r_m2k_w):
            r = row.r_m2k_w
        elif math.isfinite(row.lambda_w_mk) and row.lambda_w_mk > 0:
            r = thickness / row.lambda_w_mk
        else:
            return None
        parts.append(
            {"material": name, "d_m": thickness, "lambda": row.lambda_w_mk, "r": r, "from": row.source}
        )
        total += r
    if not parts or total <= rsi + rse:
        return None
    return UValue(1.0 / total, "layers", {"rsi": rsi, "rse": rse, "layers": parts})


def typology_u(kind: str, typology: str = DEFAULT_TYPOLOGY) -> tuple[float, float]:
    """Default (U in W/(m2 K), g-value or NaN) for an envelope kind.

    Raises
    ------
    KeyError
        When the typology table has no row for ``(typology, kind)``.
    """
    table = load_typology()
    if (typology, kind) not in table:
        known = sorted({t for t, _ in table})
        raise KeyError(f"No default U-value for typology {typology!r}, kind {kind!r}; typologies: {known}.")
    u, g, _ = table[(typology, kind)]
    return u, g


def surface_u(
    kind: str,
    *,
    u_pset: float,
    layers: Sequence[tuple[str, float, float]],
    typology: str = DEFAULT_TYPOLOGY,
) -> UValue:
    """U-value of one envelope surface: property set, else layers, else typology.

    Parameters
    ----------
    kind
        ``wall``, ``roof``, ``floor``, ``window`` or ``door``.
    u_pset
        ``ThermalTransmittance`` of the element (NaN if absent).
    layers
        Its material layers (see :func:`layers_u`); not used for windows and doors.
    typology
        Row group of ``data/u_value_typology.csv``.
    """
    if math.isfinite(u_pset) and u_pset > 0:
        rsi, rse = SURFACE_RESISTANCES[HEAT_FLOW.get(kind, "horizontal")]
        if u_pset > 1.0 / (rsi + rse):
            # impossible with surface resistances: the exporter left them out
            # (Revit states 21 W/(m2 K) for 10 cm of concrete); add them
            corrected = 1.0 / (1.0 / u_pset + rsi + rse)
            return UValue(corrected, "pset", {"stated": float(u_pset), "surface_resistances_added": True})
        return UValue(float(u_pset), "pset")
    if kind not in ("window", "door"):
        found = layers_u(layers, kind)
        if found is not None:
            return found
    u, _ = typology_u(kind, typology)
    return UValue(u, "typology", {"typology": typology})
