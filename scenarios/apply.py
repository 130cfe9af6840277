"""Turn a scenario's measures into a variant model: pure functions, the baseline is never changed.

Order: BIM buildings first (a new building is then renovated, routed to and
sealed like any other), then energy measures, mobility edits, and the soil
measures, which act on the soil model built for the variant
(:func:`variant_soil`).  Selections are resolved to building ids once, on the
model as it is when the measure applies, and the resolved counts are kept in
the run record so a reviewer sees what "pre-1945 terraced houses" meant.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scenarios.hashing import file_hash
from scenarios.spec import (
    AddIfcBuilding,
    Deseal,
    GreenRoof,
    ScaleDemand,
    Scenario,
    SelectionSpec,
    SoilSimulation,
)
from simulation.measures_energy import apply_measure, select_buildings
from simulation.mobility.edits import apply_edit
from twin.errors import ScenarioValidationError, TwinError, UnknownEntityError
from twin.model import CityModel

__all__ = ["AppliedScenario", "apply_scenario", "check_against", "resolve_selection", "variant_soil"]


@dataclass
class AppliedScenario:
    """The variant model and what was done to reach it."""

    model: CityModel
    log: list[dict[str, Any]] = field(default_factory=list)
    input_files: dict[str, str] = field(default_factory=dict)  # path -> sha256


def resolve_selection(scenario: Scenario, model: CityModel, ref: str | SelectionSpec | None) -> list[str]:
    """Building ids selected by ``ref`` (a selection name, an inline selection, or None = all)."""
    if ref is None:
        return model.buildings["building_id"].astype(str).tolist()
    spec = scenario.selections[ref] if isinstance(ref, str) else ref
    base = spec.model_dump(exclude={"commune", "where"}, exclude_none=True)
    ids = select_buildings(model, base)
    keep = np.ones(len(ids), dtype=bool)
    b = model.buildings.set_index("building_id").loc[list(ids)] if len(ids) else model.buildings.iloc[:0]
    filters = dict(spec.where or {})
    if spec.commune is not None:
        filters["commune"] = spec.commune
    for column, wanted in filters.items():
        values = _column(b, column)
        allowed = wanted if isinstance(wanted, list) else [wanted]
        keep &= values.isin(allowed).to_numpy()
    return [str(i) for i, k in zip(ids, keep, strict=True) if k]


def _column(b: pd.DataFrame, column: str) -> pd.Series:
    """A building column, or a key of ``attributes_json`` when there is no such column."""
    if column in b.columns:
        return b[column]
    if "attributes_json" not in b.columns:
        raise ScenarioValidationError(f"selection: the buildings have no column or attribute {column!r}")
    parsed = b["attributes_json"].map(lambda t: json.loads(t) if isinstance(t, str) and t else {})
    if len(b) and not parsed.map(lambda d: column in d).any():
        raise ScenarioValidationError(f"selection: the buildings have no column or attribute {column!r}")
    return parsed.map(lambda d: d.get(column))


def check_against(scenario: Scenario, model: CityModel) -> None:
    """Check the ids a scenario names exist in ``model`` (before any work is done).

    Raises
    ------
    UnknownEntityError
        Naming the field (``selections.old.ids``, ``measures.mobility[0].link_ids``).
    """
    known_b = set(model.buildings["building_id"].astype(str))
    for name, sel in scenario.selections.items():
        missing = [i for i in sel.ids or [] if i not in known_b]
        if missing:
            raise UnknownEntityError(f"selections.{name}.ids: buildings not in the model: {missing[:5]}")
    known_l = set(model.links["link_id"].astype(int)) if len(model.links) else set()
    known_n = set(model.nodes["node_id"].astype(int)) if len(model.nodes) else set()
    for k, edit in enumerate(scenario.measures.mobility):
        ids = getattr(edit, "link_ids", None) or []
        missing = [i for i in ids if i not in known_l]
        if missing:
            where = f"measures.mobility[{k}].link_ids"
            raise UnknownEntityError(f"{where}: links not in the model: {missing[:5]}")
        for attr in ("from_node", "to_node"):
            node = getattr(edit, attr, None)
            if node is not None and node not in known_n:
                raise UnknownEntityError(f"measures.mobility[{k}].{attr}: node {node} is not in the model")
    for k, bim in enumerate(scenario.measures.bim):
        missing = [i for i in bim.replace if i not in known_b]
        if missing:
            raise UnknownEntityError(f"measures.bim[{k}].replace: buildings not in the model: {missing[:5]}")
        if not scenario.resolve_path(bim.file).is_file():
            raise ScenarioValidationError(f"measures.bim[{k}].file: no such file {bim.file!r}")
    if scenario.measures.mobility or scenario.simulations.mobility:
        if not len(model.links):
            raise ScenarioValidationError("the model has no street network (links) for the mobility part")


def apply_scenario(scenario: Scenario, base: CityModel) -> AppliedScenario:
    """The variant model: ``base`` with the scenario's BIM, energy and mobility measures applied."""
    check_against(scenario, base)
    out = AppliedScenario(model=base)
    for k, m in enumerate(scenario.measures.bim):
        out.model = _add_ifc(scenario, out, m, k)
    for k, m in enumerate(scenario.measures.energy):
        ids = resolve_selection(scenario, out.model, m.selection)
        params = m.model_dump(exclude={"measure", "selection"}, exclude_none=True)
        where = f"measures.energy[{k}]"
        out.model = _step(where, apply_measure, out.model, m.measure, selection={"ids": ids}, **params)
        out.log.append({"step": f"measures.energy[{k}]", "measure": m.measure, "buildings": len(ids)})
    for k, e in enumerate(scenario.measures.mobility):
        params = e.model_dump(exclude={"edit", "selection"}, exclude_none=True)
        if isinstance(e, ScaleDemand):
            if e.selection is not None:
                params["building_ids"] = resolve_selection(scenario, out.model, e.selection)
        elif "polygon" in params:
            params["polygon"] = _polygon(params["polygon"], f"measures.mobility[{k}].polygon")
        before = out.model.links
        out.model = _step(f"measures.mobility[{k}]", apply_edit, out.model, e.edit, **params)
        changed = _links_changed(before, out.model.links)
        out.log.append({"step": f"measures.mobility[{k}]", "edit": e.edit, "links_changed": changed})
    return out


def _step(where: str, func: Any, *args: Any, **kwargs: Any) -> CityModel:
    try:
        return func(*args, **kwargs)
    except TwinError as err:
        raise type(err)(f"{where}: {err}") from None


def _polygon(value: Any, where: str) -> Any:
    import shapely
    from shapely.geometry import shape

    try:
        return shapely.from_wkt(value) if isinstance(value, str) else shape(value)
    except Exception as err:  # shapely raises several types for bad WKT / GeoJSON
        raise ScenarioValidationError(f"{where}: not a valid WKT or GeoJSON geometry ({err})") from None


def _reproject(geom: Any, source: str, target: Any) -> Any:
    import shapely
    from pyproj import Transformer

    from twin.crs import to_crs

    transformer = Transformer.from_crs(to_crs(source), target, always_xy=True)
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def _links_changed(a: pd.DataFrame, b: pd.DataFrame) -> int:
    if len(a) != len(b):
        return abs(len(b) - len(a))
    cols = [c for c in ("modes", "free_speed_kmh", "capacity_veh_h", "lanes") if c in a.columns]
    return int((a[cols].to_numpy() != b[cols].to_numpy()).any(axis=1).sum())


def _add_ifc(scenario: Scenario, out: AppliedScenario, m: AddIfcBuilding, k: int) -> CityModel:
    from bim_ingest.ifc import place_ifc_building, read_ifc_isolated

    path = scenario.resolve_path(m.file)
    out.input_files[m.file] = file_hash(path)
    where = f"measures.bim[{k}]"
    try:
        bim = read_ifc_isolated(path, crs=out.model.crs, place=m.place)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            placed = place_ifc_building(out.model, bim, replace=m.replace or None)
    except TwinError as err:
        raise type(err)(f"{where} ({m.file}): {err}") from None
    new_ids = sorted(set(placed.buildings["building_id"]) - set(out.model.buildings["building_id"]))
    removed = sorted(set(out.model.buildings["building_id"]) - set(placed.buildings["building_id"]))
    placed.activities = _activities(out.model, placed, new_ids, removed, m)
    out.log.append({"step": where, "bim": "add_ifc", "file": m.file, "added": new_ids, "replaced": removed})
    return placed


def _activities(
    base: CityModel, placed: CityModel, new_ids: list[str], removed: list[str], m: AddIfcBuilding
) -> pd.DataFrame | None:
    """Activities of the new building(s): as given, else inherited from the replaced ones."""
    acts = base.activities
    if acts is None or not len(new_ids):
        return placed.activities
    kept = acts[~acts["building_id"].isin(removed)]
    old = acts[acts["building_id"].isin(removed)]
    residents = m.residents if m.residents is not None else int(old["residents"].sum())
    jobs = m.jobs if m.jobs is not None else int(old["jobs"].sum())
    share = np.full(len(new_ids), 1.0 / len(new_ids))
    rows = pd.DataFrame(
        {
            "building_id": new_ids,
            "residents": np.floor(residents * share).astype("int64"),
            "jobs": np.floor(jobs * share).astype("int64"),
            "service": [""] * len(new_ids),
            "service_capacity": np.zeros(len(new_ids), dtype="int64"),
        }
    )
    for col in kept.columns:
        if col not in rows.columns:
            rows[col] = pd.Series([pd.NA] * len(rows), dtype=kept[col].dtype)
    return pd.concat([kept, rows[kept.columns]], ignore_index=True)


def variant_soil(scenario: Scenario, baseline: CityModel, variant: CityModel, sim: SoilSimulation):
    """Soil models of baseline and variant on the same grid, the variant with the soil measures.

    The grid covers the baseline's extent so both runs see the same domain;
    the variant's sealing follows its own buildings (a new IFC building seals
    the ground below it), then de-sealing and green roofs are applied.
    """
    from simulation.soil import add_green_roof, build_soil_model, carsel_parrish, deseal_polygon

    base_soil = build_soil_model(baseline, spacing_m=tuple(sim.spacing_m), depth_m=sim.depth_m)
    x0, y0 = base_soil.origin[0], base_soil.origin[1]
    nz, ny, nx = base_soil.shape
    bounds = (x0, y0, x0 + nx * sim.spacing_m[0], y0 + ny * sim.spacing_m[1])
    soil = build_soil_model(variant, spacing_m=tuple(sim.spacing_m), depth_m=sim.depth_m, bounds=bounds)
    log = []
    for k, m in enumerate(scenario.measures.soil):
        where = f"measures.soil[{k}]"
        if isinstance(m, Deseal):
            poly = _polygon(m.polygon, f"{where}.polygon")
            if m.crs:
                poly = _reproject(poly, m.crs, variant.crs)
            try:
                topsoil = carsel_parrish(m.topsoil_texture) if m.topsoil_texture else None
            except TwinError as err:
                raise ScenarioValidationError(f"{where}.topsoil_texture: {err}") from None
            before = int(soil.sealed.sum())
            soil = deseal_polygon(soil, poly, topsoil=topsoil, depth_m=m.topsoil_depth_m)
            area = (before - int(soil.sealed.sum())) * sim.spacing_m[0] * sim.spacing_m[1]
            log.append({"step": where, "soil": "deseal", "desealed_m2": float(area)})
        elif isinstance(m, GreenRoof):
            ids = resolve_selection(scenario, variant, m.selection)
            soil = _step(where, add_green_roof, variant, soil, ids, thickness_m=m.thickness_m)
            log.append({"step": where, "soil": "green_roof", "buildings": len(ids)})
    return base_soil, soil, log
