"""The scenario file: a versioned, validated description of one what-if.

A scenario names a base model, **selections** of buildings, **measures** per
domain (energy renovation, mobility edits, soil de-sealing / green roofs,
BIM buildings from IFC files) and the **simulations** to run.  It is read
from YAML or JSON (:meth:`Scenario.from_file`) or built in Python, and its
JSON Schema (:func:`schema`, ``twin scenario schema``) is the documented
contract.  Every model forbids unknown fields, every quantity carries its
unit in its name and a plausible range, so a typo, a U-value in the wrong
unit (``target_u_w_m2k: 24``) or a missing parameter is a
:class:`~twin.errors.ScenarioValidationError` whose message names the field
(``measures.energy[1].target_u_w_m2k: ...``).  Ids are checked against the
model when the scenario runs (:func:`scenarios.check_against`).

Example (YAML)::

    schema_version: "1.0"
    name: renovate-pre1945-terraced
    selections:
      old_terraced: {typology: terraced, year_max: 1944}
    measures:
      energy:
        - {measure: insulate_walls, selection: old_terraced, target_u_w_m2k: 0.24}
        - {measure: insulate_roof, selection: old_terraced, target_u_w_m2k: 0.24}
      mobility:
        - {edit: close_links, link_ids: [12]}
    simulations:
      energy: {}
      mobility: {accessibility: false}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from twin.errors import ScenarioValidationError

__all__ = [
    "SCHEMA_VERSION",
    "BimMeasure",
    "EnergyMeasure",
    "EnergySimulation",
    "Measures",
    "MobilityEdit",
    "MobilitySimulation",
    "Scenario",
    "SelectionSpec",
    "Simulations",
    "SoilMeasure",
    "SoilSimulation",
    "schema",
]

#: Version of the scenario file format (``schema_version`` of a file must match its major part).
SCHEMA_VERSION = "1.0"

_U = Field(gt=0.05, le=6.0, description="Thermal transmittance, W/(m²·K) (plausible: 0.05–6).")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- selections


class SelectionSpec(_Strict):
    """Which buildings a measure acts on; every criterion given must hold (AND).

    ``polygon`` is WKT text or a GeoJSON geometry, in ``polygon_crs`` (default:
    the model's CRS).  ``where`` filters on other building columns (or keys of
    ``attributes_json``) by equality with one value or membership in a list,
    e.g. ``{"commune": ["Ixelles", "Etterbeek"]}``.
    """

    ids: str | list[str] | None = Field(default=None, description="Building ids (unknown ids are an error).")
    polygon: str | dict[str, Any] | None = Field(default=None, description="WKT or GeoJSON geometry.")
    polygon_crs: str | None = Field(default=None, description="CRS of polygon, e.g. 'EPSG:4326'.")
    year_min: int | None = Field(default=None, ge=1000, le=2200, description="Built in or after (year).")
    year_max: int | None = Field(default=None, ge=1000, le=2200, description="Built in or before (year).")
    typology: str | list[str] | None = Field(default=None, description="Typologies, e.g. ['terraced'].")
    use: str | list[str] | None = Field(default=None, description="Uses, e.g. ['residential'].")
    commune: str | list[str] | None = Field(
        default=None, description="Brussels communes (column or attribute)."
    )
    where: dict[str, Any] | None = Field(default=None, description="Other column == value (or in list).")

    @field_validator("ids", "typology", "use", "commune")
    @classmethod
    def _listify(cls, value: str | list[str] | None) -> list[str] | None:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _range(self) -> SelectionSpec:
        if self.year_min is not None and self.year_max is not None and self.year_min > self.year_max:
            raise ValueError(f"year_min {self.year_min} is after year_max {self.year_max}")
        return self


SelectionRef = Annotated[
    str | SelectionSpec | None,
    Field(description="The name of an entry of `selections`, an inline selection, or none (all buildings)."),
]

# ---------------------------------------------------------------- energy measures


class _EnergyBase(_Strict):
    selection: SelectionRef = None


class _Insulation(_EnergyBase):
    target_u_w_m2k: float | None = Field(default=None, gt=0.05, le=6.0, description="Target U, W/(m²·K).")
    thickness_m: float | None = Field(default=None, gt=0.0, le=1.0, description="Insulation thickness, m.")
    conductivity_w_mk: float | None = Field(
        default=None, gt=0.005, le=2.0, description="Insulation conductivity λ, W/(m·K)."
    )
    thermal_bridge_w_m2k: float | None = Field(
        default=None, ge=0.0, le=0.5, description="New thermal-bridge surcharge ΔU_tb, W/(m²·K)."
    )

    @model_validator(mode="after")
    def _one_way(self) -> _Insulation:
        layer = self.thickness_m is not None or self.conductivity_w_mk is not None
        if self.target_u_w_m2k is not None and layer:
            raise ValueError("give either target_u_w_m2k, or thickness_m with conductivity_w_mk, not both")
        if self.target_u_w_m2k is None and (self.thickness_m is None or self.conductivity_w_mk is None):
            raise ValueError("give target_u_w_m2k, or both thickness_m and conductivity_w_mk")
        return self


class InsulateWalls(_Insulation):
    """External wall insulation (to a target U, or a layer d/λ added: ``U = 1/(1/U + d/λ)``)."""

    measure: Literal["insulate_walls"]


class InsulateRoof(_Insulation):
    """Roof insulation (to a target U, or a layer d/λ added)."""

    measure: Literal["insulate_roof"]


class InsulateFloor(_Insulation):
    """Ground-floor insulation (to a target U, or a layer d/λ added)."""

    measure: Literal["insulate_floor"]


class ReplaceWindows(_EnergyBase):
    """New windows: U_w and g (total solar energy transmittance at normal incidence)."""

    measure: Literal["replace_windows"]
    u_w_m2k: float = _U
    g_value: float = Field(gt=0.0, lt=1.0, description="g_gl,n, -")


class InstallMvhr(_EnergyBase):
    """Mechanical ventilation with heat recovery."""

    measure: Literal["install_mvhr"]
    heat_recovery_efficiency: float = Field(default=0.8, gt=0.0, lt=1.0, description="η_hr, -")
    air_change_vent_h: float | None = Field(default=None, gt=0.0, le=5.0, description="Ventilation, 1/h.")


class ImproveAirtightness(_EnergyBase):
    """Lower the infiltration air change (a value, or from a blower-door n50: n_inf ≈ n50/20)."""

    measure: Literal["improve_airtightness"]
    air_change_inf_h: float | None = Field(default=None, ge=0.0, le=5.0, description="Infiltration, 1/h.")
    n50_h: float | None = Field(default=None, gt=0.0, le=30.0, description="Air change at 50 Pa, 1/h.")

    @model_validator(mode="after")
    def _one(self) -> ImproveAirtightness:
        if (self.air_change_inf_h is None) == (self.n50_h is None):
            raise ValueError("give exactly one of air_change_inf_h or n50_h")
        return self


EnergyMeasure = Annotated[
    InsulateWalls | InsulateRoof | InsulateFloor | ReplaceWindows | InstallMvhr | ImproveAirtightness,
    Field(discriminator="measure"),
]

# ---------------------------------------------------------------- mobility edits


class _Polygon(_Strict):
    polygon: str | dict[str, Any] = Field(description="WKT or GeoJSON geometry.")
    crs: str | None = Field(default=None, description="CRS of the polygon (default: the model's).")


_MODES = Literal["car", "bike", "walk"]


class CloseLinks(_Strict):
    """Close links to some modes (a modal filter, a street closed to cars)."""

    edit: Literal["close_links"]
    link_ids: list[int] = Field(min_length=1, description="link_id values of the model.")
    modes: list[_MODES] = Field(default=["car"], min_length=1)


class CloseArea(_Polygon):
    """Close every link inside a polygon to some modes (a low-traffic neighbourhood)."""

    edit: Literal["close_area"]
    modes: list[_MODES] = Field(default=["car"], min_length=1)
    predicate: Literal["within", "intersects"] = "within"


class SetSpeedInPolygon(_Polygon):
    """A speed limit for the links inside a polygon (a 30 or 20 zone)."""

    edit: Literal["set_speed_in_polygon"]
    speed_kmh: float = Field(ge=5.0, le=130.0, description="Speed limit, km/h.")
    road_classes: list[str] | None = None
    only_lower: bool = False
    predicate: Literal["within", "intersects"] = "within"


class SetLanes(_Strict):
    """Change the lanes (and with them the capacity) of links."""

    edit: Literal["set_lanes"]
    link_ids: list[int] = Field(min_length=1)
    lanes: int = Field(ge=1, le=8)
    capacity_per_lane_veh_h: float | None = Field(default=None, gt=0.0, le=3000.0)


class AddLink(_Strict):
    """A new street between two existing nodes."""

    edit: Literal["add_link"]
    from_node: int
    to_node: int
    both_directions: bool = False
    free_speed_kmh: float = Field(default=30.0, ge=3.0, le=130.0)
    lanes: int = Field(default=1, ge=1, le=8)
    capacity_veh_h: float | None = Field(default=None, gt=0.0, le=20000.0)
    modes: str = "car,bike,walk"
    road_class: str = "local"
    name: str = ""


class ScaleDemand(_Strict):
    """Scale residents and jobs (all buildings, or the selected ones)."""

    edit: Literal["scale_demand"]
    factor: float = Field(ge=0.0, le=100.0)
    selection: SelectionRef = None
    columns: list[Literal["residents", "jobs"]] = ["residents", "jobs"]


MobilityEdit = Annotated[
    CloseLinks | CloseArea | SetSpeedInPolygon | SetLanes | AddLink | ScaleDemand,
    Field(discriminator="edit"),
]

# ---------------------------------------------------------------- soil measures


class Deseal(_Polygon):
    """De-seal the ground inside a polygon (a car park turned into a garden)."""

    soil: Literal["deseal"]
    topsoil_texture: str | None = Field(
        default="loam", description="Carsel & Parrish texture of the new topsoil (none: keep the soil)."
    )
    topsoil_depth_m: float = Field(default=0.3, gt=0.0, le=2.0, description="Depth of new topsoil, m.")


class GreenRoof(_Strict):
    """Green roofs on the selected buildings (a substrate layer that stores rain)."""

    soil: Literal["green_roof"]
    selection: SelectionRef = None
    thickness_m: float = Field(default=0.12, gt=0.02, le=1.0, description="Substrate thickness, m.")


SoilMeasure = Annotated[Deseal | GreenRoof, Field(discriminator="soil")]

# ---------------------------------------------------------------- BIM measures


class AddIfcBuilding(_Strict):
    """Add (or, with ``replace``, substitute) a building designed in IFC.

    The file is placed by its georeferencing (or ``place``: x, y, z of its
    local origin in the model CRS); the buildings listed in ``replace`` are
    removed first.  ``residents``/``jobs`` add its activities (trips for the
    mobility simulation); its footprint seals the soil below it.
    """

    bim: Literal["add_ifc"]
    file: str = Field(description="IFC file, relative to the scenario file.")
    replace: list[str] = Field(default=[], description="Building ids the new building replaces.")
    place: tuple[float, float, float] | None = Field(default=None, description="x, y, z in the model CRS.")
    residents: int | None = Field(default=None, ge=0, le=100000)
    jobs: int | None = Field(default=None, ge=0, le=100000)


BimMeasure = Annotated[AddIfcBuilding, Field(discriminator="bim")]


class Measures(_Strict):
    """Measures per domain, applied in this order: bim, energy, mobility, soil."""

    bim: list[BimMeasure] = []
    energy: list[EnergyMeasure] = []
    mobility: list[MobilityEdit] = []
    soil: list[SoilMeasure] = []


# ---------------------------------------------------------------- simulations


class EnergySimulation(_Strict):
    """Monthly heat balance of every building (EN ISO 52016-1 monthly)."""

    setpoint_c: float | None = Field(default=None, ge=10.0, le=28.0, description="Heating set-point, °C.")


class MobilitySimulation(_Strict):
    """Gravity demand + user-equilibrium car assignment, and walk/bike accessibility."""

    assignment: bool = True
    accessibility: bool = True
    algorithm: Literal["b", "bfw", "cfw", "fw"] = "b"
    gap: float = Field(default=1e-10, gt=0.0, le=0.1, description="Target relative gap.")
    trip_rate: float | None = Field(default=None, gt=0.0, le=5.0, description="Car trips per resident.")


class SoilSimulation(_Strict):
    """A design storm on the voxel soil model built from the model's sealing."""

    storm: Literal["uccle_1h_2y", "uccle_1h_10y", "uccle_1h_100y", "uccle_24h_10y"] = "uccle_1h_10y"
    spacing_m: tuple[float, float, float] = Field(default=(5.0, 5.0, 0.25), description="dx, dy, dz in m.")
    depth_m: float = Field(default=5.0, gt=0.5, le=50.0, description="Depth of the soil model, m.")

    @field_validator("spacing_m")
    @classmethod
    def _positive(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(0.05 <= s <= 100.0 for s in v):
            raise ValueError("each spacing must be within 0.05–100 m")
        return v


class Simulations(_Strict):
    """The simulations to run on baseline and variant (omit one to skip it)."""

    energy: EnergySimulation | None = None
    mobility: MobilitySimulation | None = None
    soil: SoilSimulation | None = None


# ---------------------------------------------------------------- the scenario


class Scenario(_Strict):
    """One what-if: selections, measures per domain and the simulations to run."""

    schema_version: str = Field(default=SCHEMA_VERSION, description="Scenario format version.")
    name: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.\-]*$")
    description: str = ""
    base_model: str | None = Field(default=None, description="Model GeoPackage, relative to the file.")
    selections: dict[str, SelectionSpec] = {}
    measures: Measures = Measures()
    simulations: Simulations = Simulations(energy=EnergySimulation())
    _source_dir: str | None = PrivateAttr(default=None)

    @field_validator("schema_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise ValueError(f"unsupported scenario schema_version {v!r}; this twin reads {SCHEMA_VERSION}")
        return v

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        refs = [("energy", k, m.selection) for k, m in enumerate(self.measures.energy)]
        refs += [("soil", k, getattr(m, "selection", None)) for k, m in enumerate(self.measures.soil)]
        refs += [("mobility", k, getattr(m, "selection", None)) for k, m in enumerate(self.measures.mobility)]
        for domain, k, ref in refs:
            if isinstance(ref, str) and ref not in self.selections:
                known = sorted(self.selections) or "none defined"
                raise ValueError(f"measures.{domain}[{k}].selection: no selection named {ref!r} ({known})")
        if not any((self.simulations.energy, self.simulations.mobility, self.simulations.soil)):
            raise ValueError("simulations: name at least one of energy, mobility, soil")
        return self

    # -- construction

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "scenario") -> Scenario:
        """Validate a dict (as read from YAML/JSON); errors name the field."""
        if not isinstance(data, dict):
            raise ScenarioValidationError(f"{source}: a scenario is a mapping, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ScenarioValidationError(_message(err, source)) from None

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        """Read a scenario from a ``.yaml``/``.yml`` or ``.json`` file.

        Relative paths inside it (``base_model``, IFC files) are resolved
        against the file's folder.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ScenarioValidationError(f"{path}: cannot read the scenario ({err.strerror})") from None
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as err:
            kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
            raise ScenarioValidationError(f"{path}: not valid {kind}: {err}") from None
        scenario = cls.from_dict(data, source=str(path))
        scenario._source_dir = str(path.resolve().parent)
        return scenario

    # -- helpers

    def resolve_path(self, relative: str) -> Path:
        """A path of the scenario (base model, IFC file) resolved against the scenario's folder."""
        p = Path(relative)
        if not p.is_absolute() and self._source_dir:
            p = Path(self._source_dir) / p
        return p

    def canonical_json(self) -> str:
        """The spec as canonical JSON (sorted keys, defaults filled): what the run hash covers."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)

    def domains(self) -> list[str]:
        """Simulations requested, in run order."""
        sims = self.simulations
        return [d for d in ("energy", "mobility", "soil") if getattr(sims, d) is not None]


def _message(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors()[:8]:
        loc = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in e["loc"]).replace(".[", "[")
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "union_tag_invalid":
            msg = f"{msg}"
        got = e.get("input")
        shown = f" (got {got!r})" if e["type"] not in ("missing", "extra_forbidden") and _small(got) else ""
        lines.append(f"{loc or '<root>'}: {msg}{shown}")
    more = f" (+{err.error_count() - 8} more)" if err.error_count() > 8 else ""
    return f"{source}: invalid scenario: " + "; ".join(lines) + more


def _small(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and len(repr(value)) < 60


def schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (draft 2020-12), with the format version."""
    out = Scenario.model_json_schema(mode="validation")
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["$id"] = f"https://brussels-twin.example/schemas/scenario-{SCHEMA_VERSION}.json"
    out["title"] = f"Brussels twin scenario {SCHEMA_VERSION}"
    return out
