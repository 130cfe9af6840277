"""Colour scales of the viewer: sequential, diverging and categorical (PEB-like classes).

A :class:`ColorScale` turns the values of one column into 8-bit RGB colours
and describes its own legend (title, units, ticks or classes).  Every
renderer of the package uses the same scale: the PyVista images, the glTF
export (vertex colours) and the browser page, which receives
:meth:`ColorScale.to_dict` and interpolates the same stops, so a building has
the same colour everywhere.

Colours are linear interpolations between a few hand-picked stops (sRGB);
values outside ``[vmin, vmax]`` are clipped and missing values get
``nan_color``.

Examples
--------
>>> s = ColorScale.sequential("heating_need_kwh_m2", vmin=0.0, vmax=200.0)
>>> s.units
'kWh/(m²·yr)'
>>> s.rgb([0.0, 200.0, float("nan")]).tolist()
[[255, 247, 188], [122, 12, 23], [190, 190, 190]]
>>> ColorScale.for_values("peb_class_estimate", ["A", "G", "n/a"]).rgb(["A", "G", "n/a"]).tolist()
[[40, 160, 70], [220, 40, 40], [190, 190, 190]]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "PEB_CLASS_LETTERS",
    "PEB_PALETTE",
    "SEQUENTIAL_STOPS",
    "DIVERGING_STOPS",
    "QUALITATIVE",
    "NAN_COLOR",
    "ColorScale",
    "units_for",
    "label_for",
    "hex_to_rgb",
    "rgb_to_hex",
]

#: PEB-like classes, best first (the Brussels residential scale; kept here so the viewer
#: does not import the simulation layer).
PEB_CLASS_LETTERS: tuple[str, ...] = ("A++", "A+", "A", "B", "C", "D", "E", "F", "G")

#: Fixed class palette: green (A++) through yellow (C/D) to red (G), the usual certificate colours.
PEB_PALETTE: dict[str, str] = {
    "A++": "#0b7a3b",
    "A+": "#1a9446",
    "A": "#28a046",
    "B": "#8cc63e",
    "C": "#d7df23",
    "D": "#fcd116",
    "E": "#f7941d",
    "F": "#ef5a24",
    "G": "#dc2828",
    "n/a": "#bebebe",
}

#: Sequential stops (light yellow → dark red), low to high.
SEQUENTIAL_STOPS: tuple[str, ...] = ("#fff7bc", "#fdc35a", "#f07c2c", "#c8361d", "#7a0c17")
#: Diverging stops (blue = decrease, white = no change, red = increase).
DIVERGING_STOPS: tuple[str, ...] = ("#2b5fa8", "#8fb3d9", "#f4f4f4", "#e6927a", "#b2182b")
#: Qualitative palette for other categorical columns (cycled, in sorted category order).
QUALITATIVE: tuple[str, ...] = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#86bcb6",
)
#: Colour of missing values.
NAN_COLOR = "#bebebe"

# suffix → units, longest suffix first wins
_UNITS: tuple[tuple[str, str], ...] = (
    ("_kwh_m2_estimate", "kWh/(m²·yr)"),
    ("_kg_m2_estimate", "kg/(m²·yr)"),
    ("_kwh_estimate", "kWh/yr"),
    ("_kg_estimate", "kg/yr"),
    ("_kwh_m2", "kWh/(m²·yr)"),
    ("_w_m2k", "W/(m²·K)"),
    ("_w_k", "W/K"),
    ("_veh_km", "veh·km"),
    ("_veh_h", "veh/h"),
    ("_kwh", "kWh"),
    ("_mwh", "MWh"),
    ("_kmh", "km/h"),
    ("_min", "min"),
    ("_m2", "m²"),
    ("_m3", "m³"),
    ("_mm", "mm"),
    ("_km", "km"),
    ("_kg", "kg"),
    ("_pct", "%"),
    ("_deg", "°"),
    ("_m", "m"),
    ("_s", "s"),
    ("_h", "h"),
)
_SPECIAL_UNITS = {"year_built": "year", "n_storeys": "storeys", "v_c": "v/c", "voc": "v/c", "theta": "m³/m³"}


def units_for(column: str) -> str:
    """Units of a column from its name (the project writes units into names); ``""`` if unknown.

    Flow columns named ``flow``/``flow_base``/``d_flow`` (the mobility tables) are in veh/h.

    Examples
    --------
    >>> units_for("heating_need_kwh_m2"), units_for("flow_veh_h"), units_for("d_flow"), units_for("use")
    ('kWh/(m²·yr)', 'veh/h', 'veh/h', '')
    """
    name = column.lower()
    if name in _SPECIAL_UNITS:
        return _SPECIAL_UNITS[name]
    base = name[2:] if name.startswith("d_") else name[6:] if name.startswith("delta_") else name
    if base in _SPECIAL_UNITS:
        return _SPECIAL_UNITS[base]
    for suffix, units in _UNITS:
        if base.endswith(suffix):
            return units
    if base == "flow" or base.startswith("flow_"):
        return "veh/h"
    return ""


def label_for(column: str, units: str | None = None) -> str:
    """Legend title: the column name in words, with units in brackets.

    Examples
    --------
    >>> label_for("heating_need_kwh_m2"), label_for("d_flow"), label_for("peb_class_estimate")
    ('heating need [kWh/(m²·yr)]', 'change of flow [veh/h]', 'peb class estimate')
    """
    units = units_for(column) if units is None else units
    if column.lower() in ("v_c", "voc"):
        return "volume / capacity"
    base, change = column, False
    if column.startswith(("d_", "delta_")):
        base, change = column.split("_", 1)[1], True
    for suffix, _ in _UNITS:
        if base.lower().endswith(suffix) and len(base) > len(suffix):
            base = base[: -len(suffix)] + ("" if "estimate" not in suffix else " estimate")
            break
    words = ("change of " if change else "") + base.replace("_", " ")
    return f"{words} [{units}]" if units else words


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """``'#rrggbb'`` → ``(r, g, b)`` integers 0–255."""
    c = color.lstrip("#")
    if len(c) != 6:
        raise ValueError(f"Colour {color!r} is not of the form #rrggbb.")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def rgb_to_hex(rgb: Sequence[int]) -> str:
    """``(r, g, b)`` → ``'#rrggbb'``."""
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb[:3]))


def _nice(x: float) -> float:
    """Round up to 1, 2, 2.5 or 5 × 10^k (legend ranges that read well)."""
    if not math.isfinite(x) or x <= 0:
        return 1.0
    e = math.floor(math.log10(x))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * 10**e >= x * (1 - 1e-12):
            return m * 10**e
    return 10.0 ** (e + 1)  # pragma: no cover


@dataclass(frozen=True)
class ColorScale:
    """Map the values of one column to colours, and describe the legend.

    Attributes
    ----------
    column : str
        Column the scale colours.
    kind : {"sequential", "diverging", "categorical"}
    units : str
        Units of the values (legend), ``""`` when unknown or categorical.
    vmin, vmax : float
        Range of the numeric scales (values are clipped to it).
    stops : tuple of str
        Hex colours spread evenly over ``[vmin, vmax]`` (numeric scales).
    categories : tuple of str
        Classes in legend order (categorical scales).
    category_colors : tuple of str
        One hex colour per category.
    nan_color : str
        Colour of missing values and unknown categories.
    title : str
        Legend title (defaults to :func:`label_for`).
    """

    column: str
    kind: Literal["sequential", "diverging", "categorical"]
    units: str = ""
    vmin: float = 0.0
    vmax: float = 1.0
    stops: tuple[str, ...] = SEQUENTIAL_STOPS
    categories: tuple[str, ...] = ()
    category_colors: tuple[str, ...] = ()
    nan_color: str = NAN_COLOR
    title: str = field(default="")

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", label_for(self.column, self.units))
        if self.kind == "categorical" and len(self.categories) != len(self.category_colors):
            raise ValueError("A categorical scale needs one colour per category.")
        if self.kind != "categorical" and not (self.vmax > self.vmin):
            object.__setattr__(self, "vmax", self.vmin + 1.0)

    # ------------------------------------------------------------ constructors
    @classmethod
    def sequential(
        cls, column: str, *, vmin: float, vmax: float, units: str | None = None, stops: Sequence[str] = ()
    ) -> ColorScale:
        """Light (low) to dark (high) over ``[vmin, vmax]``."""
        return cls(
            column,
            "sequential",
            units_for(column) if units is None else units,
            float(vmin),
            float(vmax),
            tuple(stops) or SEQUENTIAL_STOPS,
        )

    @classmethod
    def diverging(cls, column: str, *, vmax: float, units: str | None = None) -> ColorScale:
        """Blue (−vmax) — white (0) — red (+vmax): changes against a baseline."""
        vmax = abs(float(vmax)) or 1.0
        return cls(
            column, "diverging", units_for(column) if units is None else units, -vmax, vmax, DIVERGING_STOPS
        )

    @classmethod
    def categorical(cls, column: str, categories: Iterable[Any]) -> ColorScale:
        """Fixed PEB palette when the categories are PEB classes, else a cycled qualitative palette."""
        cats = [str(c) for c in pd.unique(pd.Series(list(categories), dtype=object).dropna())]
        if cats and set(cats) <= set(PEB_PALETTE):
            ordered = [c for c in (*PEB_CLASS_LETTERS, "n/a") if c in cats or c in PEB_CLASS_LETTERS]
            colors = [PEB_PALETTE[c] for c in ordered]
        else:
            ordered = sorted(cats)
            colors = [QUALITATIVE[i % len(QUALITATIVE)] for i in range(len(ordered))]
        return cls(column, "categorical", "", 0.0, 1.0, (), tuple(ordered), tuple(colors))

    @classmethod
    def for_values(
        cls,
        column: str,
        values: Iterable[Any],
        *,
        kind: str | None = None,
        vmin: float | None = None,
        vmax: float | None = None,
    ) -> ColorScale:
        """The scale that suits a column: its kind from the dtype and name, its range from the values.

        Strings (and booleans) are categorical; columns named ``d_*``, ``delta_*`` or ``*_diff`` are
        diverging around 0 (symmetric, ``vmax`` = the largest absolute change, rounded up to a nice
        number); others are sequential over the 2nd–98th percentile of the finite values (the
        full range below 20 values), rounded outwards to nice numbers.
        """
        series = pd.Series(list(values) if not isinstance(values, pd.Series) else values)
        is_text = not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)
        if is_text and series.dtype == object:  # numbers stored as objects (e.g. with None) stay numeric
            is_text = pd.to_numeric(series, errors="coerce").isna().sum() > series.isna().sum()
        if kind == "categorical" or (kind is None and is_text):
            return cls.categorical(column, series.astype(object).where(series.notna(), None).dropna())
        x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        name = column.lower()
        diverging = name.startswith(("d_", "delta_")) or name.endswith("_diff")
        if kind == "diverging" or (kind is None and diverging):
            top = vmax if vmax is not None else (_nice(float(np.max(np.abs(x)))) if len(x) else 1.0)
            return cls.diverging(column, vmax=top)
        if len(x) == 0:
            lo, hi = 0.0, 1.0
        elif len(x) < 20:
            lo, hi = float(x.min()), float(x.max())
        else:
            lo, hi = (float(v) for v in np.percentile(x, [2.0, 98.0]))
        if vmin is None:
            step = _nice((hi - lo) / 5.0) if hi > lo else 1.0
            lo = math.floor(lo / step) * step
        if vmax is None and hi > lo:
            step = _nice((hi - lo) / 5.0)
            hi = math.ceil(hi / step) * step
        return cls.sequential(column, vmin=lo if vmin is None else vmin, vmax=hi if vmax is None else vmax)

    # ------------------------------------------------------------------ colours
    def rgb(self, values: Iterable[Any]) -> npt.NDArray[np.uint8]:
        """Colours of ``values``: ``(n, 3)`` uint8."""
        if self.kind == "categorical":
            lut = {c: hex_to_rgb(h) for c, h in zip(self.categories, self.category_colors, strict=True)}
            nan = hex_to_rgb(self.nan_color)
            out = [lut.get(str(v), nan) if v is not None and not _isnan(v) else nan for v in values]
            return np.asarray(out, dtype=np.uint8).reshape(-1, 3)
        x = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(dtype=float)
        stops = np.asarray([hex_to_rgb(s) for s in self.stops], dtype=float)
        t = np.clip((x - self.vmin) / (self.vmax - self.vmin), 0.0, 1.0)
        pos = np.linspace(0.0, 1.0, len(stops))
        rgb = np.column_stack([np.interp(np.nan_to_num(t), pos, stops[:, k]) for k in range(3)])
        out = np.rint(rgb).astype(np.uint8)
        out[~np.isfinite(x)] = hex_to_rgb(self.nan_color)
        return out

    def ticks(self, n: int = 5) -> list[float]:
        """Tick values of a numeric legend (``n`` evenly spaced, ends included)."""
        return [float(v) for v in np.linspace(self.vmin, self.vmax, n)]

    def legend_entries(self) -> list[tuple[str, tuple[int, int, int]]]:
        """``(label, rgb)`` per legend row: classes, or ticks from high to low for numeric scales."""
        if self.kind == "categorical":
            return [(c, hex_to_rgb(h)) for c, h in zip(self.categories, self.category_colors, strict=True)]
        ticks = self.ticks()[::-1]
        colors = self.rgb(ticks)
        return [(format_value(t), tuple(int(v) for v in c)) for t, c in zip(ticks, colors, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description, read by the browser page to colour and draw the legend."""
        return {
            "column": self.column,
            "kind": self.kind,
            "units": self.units,
            "title": self.title,
            "vmin": self.vmin,
            "vmax": self.vmax,
            "stops": list(self.stops),
            "categories": list(self.categories),
            "category_colors": list(self.category_colors),
            "nan_color": self.nan_color,
        }


def format_value(v: float) -> str:
    """Short legend label of a number (no trailing zeros, thousands separated)."""
    if not math.isfinite(v):
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v - round(v)) < 1e-9:
        return f"{v:.0f}"
    return f"{v:.3g}"


def _isnan(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
