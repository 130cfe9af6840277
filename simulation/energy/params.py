"""Parameters, climate and bundled typology tables of the energy simulation.

:class:`EnergyParams` gathers every constant of the method that a study may
change (set-point, adjustment factors, ground model, window defaults,
dynamic constants, energy carriers).  Its defaults are those of the energy
reference sheet (``shared/reference/energy.md``, "sheet §n").  The climate is
a :class:`Climate` (twelve monthly temperatures and irradiation sums on five
orientations); :func:`uccle_climate` reads the bundled Uccle table
(``data/climate_uccle.csv``, sheet §9).

The bundled tables of ``data/`` are read through :func:`typology_tables`:

* ``energy_typology.csv`` — U-values, g, infiltration, thermal bridges and
  system efficiencies by construction period (TABULA BE, sheet §10.1);
* ``energy_building_types.csv`` — window-to-wall ratio, flat-roof
  construction, heat capacity and ventilation by building type;
* ``energy_uses.csv`` — internal gains, hot water, auxiliaries and PEB scale
  by use;
* ``energy_carriers.csv`` — primary-energy and CO2 factors.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Climate",
    "EnergyParams",
    "PERIOD_LABELS",
    "TypologyTables",
    "period_index",
    "typology_tables",
    "uccle_climate",
]

#: Orientation columns of the climate (same order as :data:`kernels.energy.ORIENTATIONS`).
_ORIENT = ("S", "E", "W", "N", "H")
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Climate:
    """Monthly climate of one site (sheet §9).

    Attributes
    ----------
    name
        Label written into results.
    theta_e_c : (12,) float64, °C
        Monthly mean outdoor temperature, January first.
    i_sol_kwh_m2 : (12, 5) float64, kWh/m²
        Monthly global irradiation on vertical planes facing S, E, W, N and on
        the horizontal (H).
    days : (12,) float64
        Month lengths in days (no leap day).

    Examples
    --------
    >>> c = uccle_climate()
    >>> round(float(c.i_sol_kwh_m2[:, 0].sum()), 1), float(c.hours.sum())
    (752.5, 8760.0)
    """

    name: str
    theta_e_c: npt.NDArray[np.float64]
    i_sol_kwh_m2: npt.NDArray[np.float64]
    days: npt.NDArray[np.float64]

    @property
    def hours(self) -> npt.NDArray[np.float64]:
        """Month lengths in hours, (12,) float64."""
        return 24.0 * self.days

    @property
    def month_names(self) -> tuple[str, ...]:
        """``Jan`` … ``Dec``."""
        return _MONTHS


class ClimateSpec(BaseModel):
    """A user-supplied monthly climate (JSON/YAML form of :class:`Climate`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "custom"
    theta_e_c: list[float] = Field(min_length=12, max_length=12, description="12 monthly means, °C")
    irradiation_kwh_m2: dict[Literal["S", "E", "W", "N", "H"], list[float]] = Field(
        description="monthly global irradiation sums per orientation, kWh/m² (12 values each)"
    )
    days: list[float] = Field(default=list(_DAYS), min_length=12, max_length=12)

    @field_validator("irradiation_kwh_m2")
    @classmethod
    def _five_orientations(cls, v: dict[str, list[float]]) -> dict[str, list[float]]:
        missing = [o for o in _ORIENT if o not in v]
        if missing:
            raise ValueError(f"irradiation is missing orientation(s) {missing}; give all of {list(_ORIENT)}")
        for o, vals in v.items():
            if len(vals) != 12:
                raise ValueError(f"irradiation {o!r} has {len(vals)} values, 12 (Jan..Dec) are needed")
            if any(x < 0 or not np.isfinite(x) for x in vals):
                raise ValueError(f"irradiation {o!r} must be finite and >= 0")
        return v

    def to_climate(self) -> Climate:
        """The :class:`Climate` this spec describes."""
        i_sol = np.array([self.irradiation_kwh_m2[o] for o in _ORIENT], dtype=np.float64).T.copy()
        return Climate(
            name=self.name,
            theta_e_c=np.asarray(self.theta_e_c, dtype=np.float64),
            i_sol_kwh_m2=np.ascontiguousarray(i_sol),
            days=np.asarray(self.days, dtype=np.float64),
        )


def _read_data_csv(name: str, **kwargs) -> pd.DataFrame:
    with resources.files("data").joinpath(name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, comment="#", **kwargs)


@functools.cache
def uccle_climate() -> Climate:
    """The bundled Uccle reference climate (TABULA BE.N / EPB, sheet §9).

    Monthly irradiation sums are the stored daily means × days.

    Returns
    -------
    Climate
    """
    df = _read_data_csv("climate_uccle.csv")
    days = df["days"].to_numpy(dtype=np.float64)
    cols = [f"i_{o.lower()}_kwh_m2_day" for o in _ORIENT]
    i_sol = df[cols].to_numpy(dtype=np.float64) * days[:, None]
    return Climate(
        name="Uccle (TABULA BE.N / EPB)",
        theta_e_c=df["theta_e_c"].to_numpy(dtype=np.float64),
        i_sol_kwh_m2=np.ascontiguousarray(i_sol),
        days=days,
    )


@dataclass(frozen=True)
class TypologyTables:
    """The bundled default tables (see the module docstring), indexed by their key column."""

    periods: pd.DataFrame
    types: pd.DataFrame
    uses: pd.DataFrame
    carriers: pd.DataFrame


@functools.cache
def typology_tables() -> TypologyTables:
    """Read the bundled ``data/energy_*.csv`` tables once.

    Returns
    -------
    TypologyTables
        ``periods`` (one row per TABULA construction period, in order),
        ``types`` indexed by typology, ``uses`` by use, ``carriers`` by carrier.

    Examples
    --------
    >>> t = typology_tables()
    >>> float(t.periods.loc["1946-1970", "u_wall_w_m2k"])
    1.7
    >>> float(t.types.loc["terraced", "window_to_wall_ratio"])
    0.23
    """
    periods = _read_data_csv("energy_typology.csv", dtype={"period": str, "tabula_class": str})
    return TypologyTables(
        periods=periods.set_index("period"),
        types=_read_data_csv("energy_building_types.csv", dtype={"typology": str}).set_index("typology"),
        uses=_read_data_csv("energy_uses.csv", dtype={"use": str}).set_index("use"),
        carriers=_read_data_csv("energy_carriers.csv", dtype={"carrier": str}).set_index("carrier"),
    )


#: Construction-period labels of the typology, oldest first (TABULA BE classes 01…06).
PERIOD_LABELS: tuple[str, ...] = ("<=1945", "1946-1970", "1971-1990", "1991-2005", "2006-2011", ">=2012")


def period_index(years: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Index into :data:`PERIOD_LABELS` of each construction year.

    Examples
    --------
    >>> period_index([1900, 1946, 1990, 1991, 2011, 2012]).tolist()
    [0, 1, 2, 3, 4, 5]
    """
    upper = typology_tables().periods["year_to"].to_numpy()
    return np.searchsorted(upper, np.asarray(years, dtype=np.int64), side="left").clip(0, len(upper) - 1)


_UNHEATED_B = {"wall": 0.5, "floor": 0.5, "roof": 0.9, "window": 0.5, "door": 0.5}


class EnergyParams(BaseModel):
    """Parameters of the energy simulation, with the reference sheet's defaults.

    Every field can be overridden from a scenario (a dict is validated into
    this model; unknown keys are refused with their name).

    Examples
    --------
    >>> EnergyParams().setpoint_c
    20.0
    >>> EnergyParams(setpoint_c=18.0).setpoint_c  # PEB-like intermittent heating (sheet §6)
    18.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    setpoint_c: float = Field(20.0, description="heating set-point θ_int,H, °C, continuous (sheet §6)")
    air_heat_capacity_wh_m3k: float = Field(
        1200.0 / 3600.0, gt=0, description="ρ_a·c_a, Wh/(m³·K) (sheet §3; TABULA uses 0.34)"
    )
    air_volume_factor: float = Field(
        0.8, gt=0, le=1, description="V_air = factor × external heated volume (sheet §3)"
    )
    a_h0: float = Field(1.0, ge=0, description="a_H,0 of the monthly method (sheet §5)")
    tau_h0_h: float = Field(15.0, gt=0, description="τ_H,0 of the monthly method, h (sheet §5)")
    thermal_bridge_w_m2k: float | None = Field(
        None, ge=0, description="ΔU_tb for every building; None = per construction period (typology)"
    )
    party_wall_b: float = Field(
        0.0,
        ge=0,
        le=1,
        description="b of party walls (0 = heated neighbour; 0.5/1 for scenarios, sheet §2.3)",
    )
    unheated_b: dict[Literal["wall", "roof", "floor", "window", "door"], float] = Field(
        default_factory=lambda: dict(_UNHEATED_B),
        description="b of elements towards unheated spaces by kind (sheet §2.3)",
    )
    ground_method: Literal["iso13370", "b_factor"] = Field(
        "iso13370",
        description="ground floors: EN ISO 13370 simplified (sheet §2.2) or U_floor × ground_b (TABULA)",
    )
    ground_b: float = Field(0.5, ge=0, le=1, description="b of ground elements not computed with ISO 13370")
    ground_lambda_w_mk: float = Field(2.0, gt=0, description="ground conductivity λ_g, W/(m·K)")
    wall_thickness_m: float = Field(0.30, ge=0, description="external wall thickness w for ISO 13370, m")
    f_w: float = Field(0.9, ge=0, le=1, description="normal→hemispherical g correction F_w (sheet §4.2)")
    frame_fraction: float = Field(0.3, ge=0, lt=1, description="frame area fraction F_F (sheet §4.2)")
    shading_vertical: float = Field(0.6, ge=0, le=1, description="F_sh,ob of vertical windows (urban)")
    shading_horizontal: float = Field(0.8, ge=0, le=1, description="F_sh,ob of horizontal/roof windows")
    shading_movable: float = Field(1.0, ge=0, le=1, description="F_sh,gl movable shading (winter: 1)")
    default_year_built: int = Field(
        1930, description="construction year assumed when year_built is missing (most Brussels stock <1945)"
    )
    heating_carrier: str = Field("natural_gas", description="carrier of space heating (energy_carriers.csv)")
    dhw_carrier: str = Field("natural_gas", description="carrier of domestic hot water")
    climate: ClimateSpec | None = Field(None, description="monthly climate; None = bundled Uccle table")

    @field_validator("unheated_b")
    @classmethod
    def _complete_b(cls, v: dict[str, float]) -> dict[str, float]:
        out = dict(_UNHEATED_B)
        out.update(v)
        for k, b in out.items():
            if not 0.0 <= b <= 1.0:
                raise ValueError(f"unheated_b[{k!r}] = {b} is outside [0, 1]")
        return out

    @field_validator("heating_carrier", "dhw_carrier")
    @classmethod
    def _known_carrier(cls, v: str) -> str:
        known = list(typology_tables().carriers.index)
        if v not in known:
            raise ValueError(f"unknown carrier {v!r}; choose one of {known} (data/energy_carriers.csv)")
        return v

    def get_climate(self) -> Climate:
        """The climate of the run (:attr:`climate` or the bundled Uccle table)."""
        return self.climate.to_climate() if self.climate is not None else uccle_climate()
