"""Energy renovation measures: pure edits of a city model, for what-if scenarios.

Each measure takes a model and keyword parameters and returns a **new**
model (the input is never modified, so a scenario can diff the variant
against its baseline).  It acts on a selection of buildings
(:class:`Selection`: ids, a polygon, a construction-year range, typologies,
uses — all criteria given must hold) and records what it did:

* surface measures write the new ``u_w_m2k`` (and ``g_value``) of the
  affected surfaces and append ``measure:<name>(...)`` to their
  ``provenance``;
* building measures write the override columns read by the energy
  simulation (``heat_recovery_efficiency``, ``air_change_vent_h``,
  ``air_change_inf_h``, ``thermal_bridge_w_m2k``; see
  :data:`simulation.energy.BUILDING_OVERRIDES`) and append
  ``measure:<name>(...)`` to the building's ``provenance``.

Surfaces of city data have no U-values or windows yet: a measure first
completes the selected buildings from the typology
(:func:`simulation.energy.fill_envelope`), so "add 12 cm of insulation"
starts from the U of the construction period.

The arithmetic is the sheet's §2.1: adding insulation of thickness d and
conductivity λ gives ``U_new = 1/(1/U_old + d/λ)``; insulating "to a target
U" sets ``U_new = min(U_old, U_target)`` (a measure never makes an element
worse, and applying it twice changes nothing); windows get the new U_w and
g_gl,n; mechanical ventilation with heat recovery applies η_hr to the
ventilation air change (§3); airtightness lowers only the infiltration air
change, from a value or a blower-door n50 (``n_inf ≈ n50/20``).

Measures are found by name in :data:`MEASURES` (what a scenario file refers
to) and applied with :func:`apply_measure`.

Examples
--------
>>> import tempfile, pathlib
>>> from data import generate_district, write_district
>>> from bim_ingest.cityjson import read_cityjson
>>> p = write_district(generate_district(6, seed=0), pathlib.Path(tempfile.mkdtemp()))["cityjson"]
>>> base = read_cityjson(p).with_party_walls()
>>> new = apply_measure(base, "insulate_walls", selection={"year_max": 1970},
...                     thickness_m=0.12, conductivity_w_mk=0.035)
>>> new.surfaces["provenance"].str.contains("measure:insulate_walls").any()
np.True_
>>> base.surfaces["u_w_m2k"].isna().all()   # the baseline is untouched
np.True_
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from simulation.energy.envelope import building_defaults, fill_envelope
from simulation.energy.params import EnergyParams
from simulation.energy.prepare import _params
from twin.errors import ScenarioValidationError, UnknownEntityError
from twin.model import CityModel
from twin.typing import CRSLike

__all__ = [
    "MEASURES",
    "Selection",
    "apply_measure",
    "apply_measures",
    "improve_airtightness",
    "install_mvhr",
    "insulate_floor",
    "insulate_roof",
    "insulate_walls",
    "replace_windows",
    "select_buildings",
]


class Selection(BaseModel):
    """Which buildings a measure applies to; every criterion given must hold (AND).

    Attributes
    ----------
    ids
        Building ids (unknown ids are an error).
    polygon
        Footprints intersecting this polygon: a shapely geometry, WKT text or
        a GeoJSON-like dict, in ``polygon_crs`` (default: the model's CRS).
    year_min, year_max
        Construction-year range, inclusive; buildings without a year are not
        selected when a bound is given.
    typology, use
        One value or a list (e.g. ``"terraced"``, ``["residential", "mixed"]``).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    ids: list[str] | None = None
    polygon: Any = None
    polygon_crs: CRSLike | None = None
    year_min: int | None = None
    year_max: int | None = None
    typology: list[str] | None = None
    use: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("typology", "use", "ids"):
                if isinstance(data.get(key), str):
                    data[key] = [data[key]]
        return data

    @model_validator(mode="after")
    def _range(self) -> Selection:
        if self.year_min is not None and self.year_max is not None and self.year_min > self.year_max:
            raise ValueError(f"year_min {self.year_min} is after year_max {self.year_max}")
        return self


def _geometry(polygon: Any) -> shapely.Geometry:
    if isinstance(polygon, shapely.Geometry):
        return polygon
    if isinstance(polygon, str):
        return shapely.from_wkt(polygon)
    if isinstance(polygon, dict):
        return shapely.geometry.shape(polygon)
    raise ScenarioValidationError(
        "selection.polygon must be a shapely geometry, WKT text or a GeoJSON dict, "
        f"got {type(polygon).__name__}."
    )


def _selection(selection: Selection | dict | None) -> Selection:
    if selection is None:
        return Selection()
    if isinstance(selection, Selection):
        return selection
    try:
        return Selection.model_validate(selection)
    except ValidationError as err:
        msg = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'selection'}: {e['msg']}" for e in err.errors())
        raise ScenarioValidationError(f"invalid selection: {msg}") from err


def select_buildings(model: CityModel, selection: Selection | dict | None = None) -> npt.NDArray[np.object_]:
    """Ids of the buildings matching ``selection`` (all buildings when it is ``None``), in model order.

    Raises
    ------
    UnknownEntityError
        ``ids`` names a building that is not in the model.
    ScenarioValidationError
        The selection itself is invalid.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> m = CityModel(buildings=gpd.GeoDataFrame(
    ...     {"building_id": ["a", "b"], "year_built": [1900, 1990], "typology": ["terraced"] * 2,
    ...      "use": ["residential"] * 2}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(5, 0, 6, 1)],
    ...     crs=31370))
    >>> select_buildings(m, {"year_max": 1945}).tolist()
    ['a']
    >>> select_buildings(m, {"polygon": "POLYGON((4 0, 7 0, 7 1, 4 0))"}).tolist()
    ['b']
    """
    sel = _selection(selection)
    b = model.buildings
    keep = np.ones(len(b), dtype=bool)
    if sel.ids is not None:
        known = set(b["building_id"])
        unknown = [i for i in sel.ids if i not in known]
        if unknown:
            raise UnknownEntityError(
                f"selection.ids names {len(unknown)} building(s) not in model {model.name!r}, "
                f"e.g. {unknown[:5]}."
            )
        keep &= b["building_id"].isin(set(sel.ids)).to_numpy()
    if sel.polygon is not None:
        hit = model.query_polygon(_geometry(sel.polygon), crs=sel.polygon_crs)
        keep &= b["building_id"].isin(set(hit["building_id"])).to_numpy()
    year = pd.array(b["year_built"], dtype="Int64")
    if sel.year_min is not None:
        keep &= np.asarray((year >= sel.year_min).fillna(False), dtype=bool)
    if sel.year_max is not None:
        keep &= np.asarray((year <= sel.year_max).fillna(False), dtype=bool)
    if sel.typology is not None:
        keep &= b["typology"].isin(sel.typology).to_numpy()
    if sel.use is not None:
        keep &= b["use"].isin(sel.use).to_numpy()
    return b["building_id"].to_numpy()[keep].astype(object)


def _append_provenance(values: pd.Series, mask: npt.NDArray[np.bool_], text: str) -> pd.Series:
    out = values.astype(str).to_numpy().astype(object)
    for i in np.flatnonzero(mask):
        out[i] = f"{out[i]};{text}" if out[i] else text
    return pd.Series(out, index=values.index)


def _check_positive(name: str, value: float | None, *, upper: float | None = None) -> None:
    if value is None:
        return
    if not np.isfinite(value) or value <= 0 or (upper is not None and value > upper):
        bound = f" and <= {upper}" if upper is not None else ""
        raise ScenarioValidationError(f"{name} = {value!r} must be a finite number > 0{bound}.")


def _insulate(
    model: CityModel,
    measure: str,
    kinds: Sequence[str],
    selection: Selection | dict | None,
    target_u_w_m2k: float | None,
    thickness_m: float | None,
    conductivity_w_mk: float | None,
    thermal_bridge_w_m2k: float | None,
    params: EnergyParams | dict | None,
) -> CityModel:
    by_target = target_u_w_m2k is not None
    by_layer = thickness_m is not None or conductivity_w_mk is not None
    if by_target == by_layer:
        raise ScenarioValidationError(
            f"{measure}: give either target_u_w_m2k, or thickness_m with conductivity_w_mk "
            "(not both, not neither)."
        )
    if by_layer and (thickness_m is None or conductivity_w_mk is None):
        raise ScenarioValidationError(f"{measure}: thickness_m and conductivity_w_mk go together.")
    _check_positive("target_u_w_m2k", target_u_w_m2k)
    _check_positive("thickness_m", thickness_m)
    _check_positive("conductivity_w_mk", conductivity_w_mk)
    if thermal_bridge_w_m2k is not None and (
        not np.isfinite(thermal_bridge_w_m2k) or thermal_bridge_w_m2k < 0
    ):
        raise ScenarioValidationError(f"thermal_bridge_w_m2k = {thermal_bridge_w_m2k!r} must be >= 0.")
    ids = select_buildings(model, selection)
    p = _params(params)
    new = fill_envelope(model, p, building_ids=ids)
    s = new.surfaces.copy()
    hit = (
        s["building_id"].isin(set(ids)).to_numpy()
        & s["kind"].isin(list(kinds)).to_numpy()
        & (s["boundary"] != "party").to_numpy()
    )
    u_old = s["u_w_m2k"].to_numpy(dtype=np.float64)
    if by_target:
        assert target_u_w_m2k is not None
        u_new = np.minimum(u_old, target_u_w_m2k)
        label = f"measure:{measure}(target_u={target_u_w_m2k:g})"
    else:
        assert thickness_m is not None and conductivity_w_mk is not None
        delta_r = thickness_m / conductivity_w_mk
        with np.errstate(divide="ignore"):
            u_new = 1.0 / (1.0 / u_old + delta_r)
        label = f"measure:{measure}(d={thickness_m:g}m,lambda={conductivity_w_mk:g})"
    changed = hit & (u_new < u_old)
    s.loc[changed, "u_w_m2k"] = u_new[changed]
    s["provenance"] = _append_provenance(s["provenance"], changed, label)
    new.surfaces = s
    if thermal_bridge_w_m2k is not None:
        new = _set_building_column(
            new,
            ids,
            {"thermal_bridge_w_m2k": thermal_bridge_w_m2k},
            f"measure:{measure}(dU_tb={thermal_bridge_w_m2k:g})",
        )
    return new


def insulate_walls(
    model: CityModel,
    *,
    selection: Selection | dict | None = None,
    target_u_w_m2k: float | None = None,
    thickness_m: float | None = None,
    conductivity_w_mk: float | None = None,
    thermal_bridge_w_m2k: float | None = None,
    params: EnergyParams | dict | None = None,
) -> CityModel:
    """Insulate the walls (exterior, towards unheated spaces or the ground; not party walls).

    Parameters
    ----------
    model
        The baseline (not modified).
    selection
        Buildings to renovate (default: all).
    target_u_w_m2k
        Bring every wall to at most this U, W/(m²·K) …
    thickness_m, conductivity_w_mk
        … or add this insulation layer (m, W/(m·K)): ``U = 1/(1/U + d/λ)``.
    thermal_bridge_w_m2k
        Optionally also set the buildings' ΔU_tb (e.g. 0.05 for careful
        detailing, sheet §2).
    params
        Energy parameters (typology default year) for completing the envelope.

    Returns
    -------
    CityModel
        A new model; changed surfaces carry ``measure:insulate_walls(...)``.

    Raises
    ------
    ScenarioValidationError
        Neither or both ways of insulating given, or a non-positive value.
    """
    return _insulate(
        model,
        "insulate_walls",
        ("wall",),
        selection,
        target_u_w_m2k,
        thickness_m,
        conductivity_w_mk,
        thermal_bridge_w_m2k,
        params,
    )


def insulate_roof(
    model: CityModel,
    *,
    selection: Selection | dict | None = None,
    target_u_w_m2k: float | None = None,
    thickness_m: float | None = None,
    conductivity_w_mk: float | None = None,
    thermal_bridge_w_m2k: float | None = None,
    params: EnergyParams | dict | None = None,
) -> CityModel:
    """Insulate the roofs; parameters as :func:`insulate_walls` (records ``measure:insulate_roof``)."""
    return _insulate(
        model,
        "insulate_roof",
        ("roof",),
        selection,
        target_u_w_m2k,
        thickness_m,
        conductivity_w_mk,
        thermal_bridge_w_m2k,
        params,
    )


def insulate_floor(
    model: CityModel,
    *,
    selection: Selection | dict | None = None,
    target_u_w_m2k: float | None = None,
    thickness_m: float | None = None,
    conductivity_w_mk: float | None = None,
    thermal_bridge_w_m2k: float | None = None,
    params: EnergyParams | dict | None = None,
) -> CityModel:
    """Insulate the floors (on the ground, over cellars, over outside air).

    Parameters as :func:`insulate_walls`.  For floors on the ground the U
    edited is the floor construction's; the heat balance turns it into the
    EN ISO 13370 U_g (sheet §2.2).  Records ``measure:insulate_floor``.
    """
    return _insulate(
        model,
        "insulate_floor",
        ("floor",),
        selection,
        target_u_w_m2k,
        thickness_m,
        conductivity_w_mk,
        thermal_bridge_w_m2k,
        params,
    )


def replace_windows(
    model: CityModel,
    *,
    selection: Selection | dict | None = None,
    u_w_m2k: float,
    g_value: float,
    params: EnergyParams | dict | None = None,
) -> CityModel:
    """Replace every window of the selected buildings by one with ``u_w_m2k`` and ``g_value`` (g_gl,n).

    Typical values (sheet §10.1): double low-e 1.1–1.7 / 0.60, triple 0.9–1.1 / 0.50.

    Returns
    -------
    CityModel
        A new model; replaced windows carry ``measure:replace_windows(u=…,g=…)``.

    Raises
    ------
    ScenarioValidationError
        U not > 0 or g outside (0, 1].
    """
    _check_positive("u_w_m2k", u_w_m2k)
    _check_positive("g_value", g_value, upper=1.0)
    ids = select_buildings(model, selection)
    p = _params(params)
    new = fill_envelope(model, p, building_ids=ids)
    s = new.surfaces.copy()
    hit = s["building_id"].isin(set(ids)).to_numpy() & (s["kind"] == "window").to_numpy()
    changed = hit & ~(
        np.isclose(s["u_w_m2k"].to_numpy(dtype=np.float64), u_w_m2k)
        & np.isclose(s["g_value"].to_numpy(dtype=np.float64), g_value)
    )
    s.loc[changed, "u_w_m2k"] = u_w_m2k
    s.loc[changed, "g_value"] = g_value
    s["provenance"] = _append_provenance(
        s["provenance"], changed, f"measure:replace_windows(u={u_w_m2k:g},g={g_value:g})"
    )
    new.surfaces = s
    return new


def _set_building_column(
    model: CityModel, ids: npt.ArrayLike, values: dict[str, float], label: str
) -> CityModel:
    b = model.buildings.copy()
    hit = b["building_id"].isin(set(np.asarray(ids).tolist())).to_numpy()
    changed = np.zeros(len(b), dtype=bool)
    for col, value in values.items():
        if col not in b.columns:
            b[col] = np.nan
        current = pd.to_numeric(b[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        diff = hit & ~np.isclose(np.nan_to_num(current, nan=-1.0), value)
        b.loc[diff, col] = value
        changed |= diff
    b["provenance"] = _append_provenance(b["provenance"], changed, label)
    new = model.copy()
    new.buildings = gpd.GeoDataFrame(b, geometry=model.buildings.geometry.name, crs=model.crs)
    return new


def install_mvhr(
    model: CityModel,
    *,
    selection: Selection | dict | None = None,
    heat_recovery_efficiency: float = 0.8,
    air_change_vent_h: float | None = None,
    params: EnergyParams | dict | None = None,
) -> CityModel:
    """Install balanced mechanical ventilation with heat recovery (MVHR, sheet §3).

    The ventilation air change passes the recovery unit:
    ``n_eff = n_inf + n_vent·(1 − η_hr)``.

    Parameters
    ----------
    heat_recovery_efficiency
        Dry temperature efficiency η_hr (typical 0.75–0.90).
    air_change_vent_h
        New ventilation air change, 1/h (default: keep the typology's).

    Returns
    -------
    CityModel
        Buildings get ``heat_recovery_efficiency`` (and ``air_change_vent_h``)
        and ``measure:install_mvhr(eta=…)`` in their provenance.
    """
    _check_positive("heat_recovery_efficiency", heat_recovery_efficiency, upper=1.0)
    _check_positive("air_change_vent_h", air_change_vent_h)
    ids = select_buildings(model, selection)
    values = {"heat_recovery_efficiency": float(heat_recovery_efficiency)}
    label = f"measure:install_mvhr(eta={heat_recovery_efficiency:g}"
    if air_change_vent_h is not None:
        values["air_change_vent_h"] = float(air_change_vent_h)
        label += f",n={air_change_vent_h:g}"
    return _set_building_column(model, ids, values, label + ")")


def improve_airtightness(
    model: CityModel,
    *,
    selection: Selection | dict | None = None,
    air_change_inf_h: float | None = None,
    n50_h: float | None = None,
    params: EnergyParams | dict | None = None,
) -> CityModel:
    """Lower the infiltration air change (sheet §3), never raising it.

    Parameters
    ----------
    air_change_inf_h
        New infiltration air change, 1/h …
    n50_h
        … or a blower-door air change at 50 Pa, converted with ``n_inf ≈ n50/20``.

    Returns
    -------
    CityModel
        Buildings whose infiltration drops get ``air_change_inf_h`` and
        ``measure:improve_airtightness(n_inf=…)`` in their provenance.
    """
    if (air_change_inf_h is None) == (n50_h is None):
        raise ScenarioValidationError("improve_airtightness: give exactly one of air_change_inf_h or n50_h.")
    _check_positive("air_change_inf_h", air_change_inf_h)
    _check_positive("n50_h", n50_h)
    target = float(air_change_inf_h if air_change_inf_h is not None else n50_h / 20.0)  # type: ignore[operator]
    ids = set(select_buildings(model, selection).tolist())
    p = _params(params)
    current = building_defaults(model.buildings, p)["air_change_inf_h"].to_numpy()
    lower = model.buildings["building_id"].isin(ids).to_numpy() & (current > target)
    return _set_building_column(
        model,
        model.buildings["building_id"].to_numpy()[lower],
        {"air_change_inf_h": target},
        f"measure:improve_airtightness(n_inf={target:g})",
    )


#: Measure name -> function (the names scenario files use).
MEASURES: dict[str, Callable[..., CityModel]] = {
    "insulate_walls": insulate_walls,
    "insulate_roof": insulate_roof,
    "insulate_floor": insulate_floor,
    "replace_windows": replace_windows,
    "install_mvhr": install_mvhr,
    "improve_airtightness": improve_airtightness,
}


def apply_measure(model: CityModel, name: str, **kwargs: Any) -> CityModel:
    """Apply the measure called ``name`` with keyword parameters (as a scenario file gives them).

    Raises
    ------
    ScenarioValidationError
        Unknown measure name (the valid ones are listed) or parameters the
        measure does not take.
    """
    try:
        func = MEASURES[name]
    except KeyError:
        raise ScenarioValidationError(
            f"unknown energy measure {name!r}; valid measures are {sorted(MEASURES)}."
        ) from None
    try:
        return func(model, **kwargs)
    except TypeError as err:
        if "argument" not in str(err):
            raise
        raise ScenarioValidationError(f"{name}: {err}".replace(f"{func.__name__}() ", "")) from err


def apply_measures(model: CityModel, steps: Sequence[dict[str, Any]]) -> CityModel:
    """Apply several measures in order, each given as a dict (the form a scenario file holds).

    Parameters
    ----------
    model
        The baseline (not modified).
    steps
        e.g. ``[{"measure": "insulate_roof", "selection": {"year_max": 1970}, "target_u_w_m2k": 0.2},
        {"measure": "replace_windows", "u_w_m2k": 1.1, "g_value": 0.5}]``: ``measure`` names an
        entry of :data:`MEASURES`, every other key is passed as a keyword.

    Returns
    -------
    CityModel

    Raises
    ------
    ScenarioValidationError
        A step without ``measure``, an unknown measure or invalid parameters;
        the message gives the step's position.
    """
    out = model
    for k, step in enumerate(steps):
        if not isinstance(step, dict) or "measure" not in step:
            raise ScenarioValidationError(
                f"measures[{k}] needs a 'measure' key naming one of {sorted(MEASURES)}."
            )
        kwargs = {key: v for key, v in step.items() if key != "measure"}
        try:
            out = apply_measure(out, step["measure"], **kwargs)
        except ScenarioValidationError as err:
            raise ScenarioValidationError(f"measures[{k}]: {err}") from err
    return out
