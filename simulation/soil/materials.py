"""Soil materials: van Genuchten–Mualem, Haverkamp and Gardner parameter sets in SI units.

A :class:`Material` is one row of the kernel's material table (:mod:`kernels.richards`).
Texture-class defaults come from the bundled Carsel & Parrish (1988) table
(``data/soil_carsel_parrish.csv``, in the published units α [1/cm], Ks [cm/d], converted here:
α × 100 → 1/m, Ks / 8.64e6 → m/s; soil reference sheet §4.1).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kernels.richards import MODEL_GARDNER, MODEL_HAVERKAMP, MODEL_VAN_GENUCHTEN
from twin.errors import ScenarioValidationError

__all__ = ["Material", "carsel_parrish", "carsel_parrish_table", "params_array", "TEXTURES"]

_CSV = Path(__file__).resolve().parents[2] / "data" / "soil_carsel_parrish.csv"
_MODELS = {"van_genuchten": MODEL_VAN_GENUCHTEN, "haverkamp": MODEL_HAVERKAMP, "gardner": MODEL_GARDNER}


@dataclass(frozen=True)
class Material:
    """Hydraulic parameters of one soil material (SI units).

    Attributes
    ----------
    name : str
    model : {"van_genuchten", "haverkamp", "gardner"}
    theta_r, theta_s : float
        Residual and saturated water content [m³/m³].
    ks_m_s : float
        Saturated conductivity [m/s].
    alpha_1_m : float
        vG or Gardner α [1/m] (for Haverkamp: ``A_θ`` for head in metres).
    n : float
        vG n (> 1); Haverkamp β.
    l : float
        vG–Mualem pore connectivity (0.5); Haverkamp ``A_K`` (head in metres).
    gamma : float
        Haverkamp γ (unused otherwise).
    air_entry_m : float
        vG air-entry head h_s ≤ 0 [m] of the modified model (Vogel et al. 2001; HYDRUS; sheet §1);
        0 (default) is the standard van Genuchten–Mualem model.  About −0.02 m is advised for
        n < ~1.5 (silt loams, clays), whose standard K(h) has an unbounded slope at saturation.

    Examples
    --------
    >>> m = carsel_parrish("loam")
    >>> round(m.alpha_1_m, 6), round(m.ks_m_s * 3.6e6, 2)   # 1/m and mm/h
    (3.6, 10.4)
    """

    name: str
    model: str
    theta_r: float
    theta_s: float
    ks_m_s: float
    alpha_1_m: float
    n: float = 2.0
    l: float = 0.5  # noqa: E741 - the literature's symbol
    gamma: float = 0.0
    air_entry_m: float = 0.0

    def __post_init__(self) -> None:
        where = f"material {self.name!r}"
        if self.model not in _MODELS:
            raise ScenarioValidationError(f"{where}: model={self.model!r}; choose one of {sorted(_MODELS)}.")
        if not 0.0 <= self.theta_r < self.theta_s <= 1.0:
            raise ScenarioValidationError(
                f"{where}: need 0 <= theta_r < theta_s <= 1, got {self.theta_r}, {self.theta_s}."
            )
        if not self.ks_m_s > 0:
            raise ScenarioValidationError(f"{where}: ks_m_s must be > 0 m/s, got {self.ks_m_s}.")
        if not self.alpha_1_m > 0:
            raise ScenarioValidationError(f"{where}: alpha must be > 0, got {self.alpha_1_m}.")
        if self.model == "van_genuchten" and not self.n > 1.0:
            raise ScenarioValidationError(f"{where}: van Genuchten n must be > 1, got {self.n}.")
        if self.air_entry_m > 0 or (self.air_entry_m != 0 and self.model != "van_genuchten"):
            raise ScenarioValidationError(f"{where}: air_entry_m must be <= 0 and only for van_genuchten.")
        if self.model == "haverkamp" and not (self.n > 0 and self.l > 0 and self.gamma > 0):
            raise ScenarioValidationError(f"{where}: Haverkamp beta, a and gamma must be > 0.")

    @classmethod
    def van_genuchten(
        cls,
        name: str,
        theta_r: float,
        theta_s: float,
        alpha_1_m: float,
        n: float,
        ks_m_s: float,
        l: float = 0.5,  # noqa: E741
        air_entry_m: float = 0.0,
    ) -> Material:  # noqa: E741
        """A van Genuchten–Mualem material (van Genuchten 1980; Mualem 1976), optionally modified."""
        return cls(name, "van_genuchten", theta_r, theta_s, ks_m_s, alpha_1_m, n, l, 0.0, air_entry_m)

    @classmethod
    def haverkamp(
        cls,
        name: str,
        theta_r: float,
        theta_s: float,
        alpha: float,
        beta: float,
        a: float,
        gamma: float,
        ks_m_s: float,
    ) -> Material:
        """A Haverkamp et al. (1977) material; ``alpha`` (A_θ) and ``a`` (A_K) for head in metres."""
        return cls(name, "haverkamp", theta_r, theta_s, ks_m_s, alpha, beta, a, gamma)

    @classmethod
    def gardner(cls, name: str, theta_r: float, theta_s: float, alpha_1_m: float, ks_m_s: float) -> Material:
        """A Gardner (1958) exponential material (used by the Tracy 2006 solutions)."""
        return cls(name, "gardner", theta_r, theta_s, ks_m_s, alpha_1_m)

    def scaled(self, *, ks_factor: float = 1.0, name: str | None = None) -> Material:
        """A copy with Ks multiplied by ``ks_factor`` (e.g. compacted layers: 0.1)."""
        return replace(self, ks_m_s=self.ks_m_s * ks_factor, name=name or self.name)

    def row(self) -> NDArray[np.float64]:
        """The kernel row ``[model, θr, θs, Ks, p1, p2, p3, p4]``."""
        return np.array(
            [
                _MODELS[self.model],
                self.theta_r,
                self.theta_s,
                self.ks_m_s,
                self.alpha_1_m,
                self.n,
                self.l,
                self.gamma if self.model == "haverkamp" else self.air_entry_m,
            ],
            dtype=np.float64,
        )


@cache
def carsel_parrish_table() -> dict[str, Material]:
    """The 12 USDA texture classes of Carsel & Parrish (1988), WRR 24(5):755, converted to SI.

    Returns
    -------
    dict
        Texture name (lower case, e.g. ``"silt loam"``) → :class:`Material`.
    """
    out: dict[str, Material] = {}
    with _CSV.open(newline="") as f:
        for row in csv.DictReader(f):
            name = row["texture"]
            out[name] = Material.van_genuchten(
                name,
                theta_r=float(row["theta_r"]),
                theta_s=float(row["theta_s"]),
                alpha_1_m=float(row["alpha_1_cm"]) * 100.0,
                n=float(row["n"]),
                ks_m_s=float(row["ks_cm_d"]) / 8.64e6,
            )
    return out


TEXTURES = tuple(carsel_parrish_table())


def carsel_parrish(texture: str) -> Material:
    """The Carsel & Parrish (1988) mean parameters of a USDA texture class (SI units).

    Raises
    ------
    ScenarioValidationError
        For an unknown texture (the message lists the known ones).
    """
    key = texture.strip().lower().replace("_", " ")
    table = carsel_parrish_table()
    if key not in table:
        raise ScenarioValidationError(f"Unknown texture {texture!r}; choose one of {sorted(table)}.")
    return table[key]


def params_array(materials: list[Material] | tuple[Material, ...]) -> NDArray[np.float64]:
    """Stack materials into the kernel's ``(n_materials, 8)`` float64 table."""
    if not materials:
        raise ScenarioValidationError("materials: at least one material is required.")
    return np.ascontiguousarray(np.vstack([m.row() for m in materials]))
