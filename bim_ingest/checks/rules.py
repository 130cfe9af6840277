"""The rule set as data and the small engine that applies it.

A rule set is a YAML file (default ``data/permit/rules_brussels.yaml``):
a name, a ``version`` and a list of rules, each with ``id``, ``title``,
``check`` (the name of a check function of this module), ``reference``
(legal text), ``rru_version``, ``status`` (``S``: a named source states it;
``M``: as commonly cited, the article itself not read), ``source``,
``severity`` (``error`` / ``warning`` / ``info``), ``in_force`` and
``parameters`` (units in the names).  Correcting a threshold is an edit of
the file, not of the code.

:func:`run_rules` applies every rule to the facts gathered by
:func:`bim_ingest.checks.facts.collect_facts` (and, for the Titre I rules,
to the neighbours found in a city model) and returns findings.  A check
that lacks data returns ``not_checkable`` findings saying what is missing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import TwinError

from .facts import HABITABLE
from .findings import SEVERITIES, Finding
from .measure import SpaceGeometry, clear_height_share, mesh_bounds, projected_area_m2, space_geometry

__all__ = ["RuleSetError", "Rule", "RuleSet", "load_rules", "run_rules", "CHECKS", "DEFAULT_RULES"]

#: The bundled rule set.
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "data" / "permit" / "rules_brussels.yaml"
_REQUIRED = ("id", "title", "check", "reference", "rru_version", "status", "severity", "parameters")


class RuleSetError(TwinError, ValueError):
    """A rule-set file that cannot be read or names an unknown check, status or severity."""


@dataclass(frozen=True)
class Rule:
    """One rule of the rule set (see the module docstring for the fields)."""

    id: str
    title: str
    check: str
    reference: str
    rru_version: str
    status: str
    severity: str
    parameters: dict[str, Any]
    source: str = ""
    in_force: bool = True

    def p(self, name: str) -> Any:
        """A parameter; :class:`RuleSetError` when the rule set lacks it."""
        if name not in self.parameters:
            raise RuleSetError(f"rule {self.id}: parameter {name!r} is missing from the rule set.")
        return self.parameters[name]

    def describe(self) -> dict[str, Any]:
        """The rule as the reports list it."""
        return {
            "id": self.id,
            "title": self.title,
            "check": self.check,
            "reference": self.reference,
            "rru_version": self.rru_version,
            "status": self.status,
            "source": self.source,
            "severity": self.severity,
            "in_force": self.in_force,
            "parameters": self.parameters,
        }


@dataclass(frozen=True)
class RuleSet:
    """A versioned list of rules read from a file."""

    name: str
    version: str
    date: str
    path: str
    sha256: str
    rules: tuple[Rule, ...]
    defaults: dict[str, Any] = field(default_factory=dict)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read and check a rule-set YAML file.

    Parameters
    ----------
    path
        The file (default :data:`DEFAULT_RULES`).

    Returns
    -------
    RuleSet

    Raises
    ------
    RuleSetError
        Missing file, bad YAML, a rule without a required field, an unknown
        ``check``, ``status`` other than S/M, an unknown severity or a
        duplicate id -- naming the file and the rule.
    """
    import hashlib

    import yaml

    path = Path(path) if path is not None else DEFAULT_RULES
    if not path.is_file():
        raise RuleSetError(f"{path}: no such rule-set file.")
    raw = path.read_bytes()
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise RuleSetError(f"{path}: not valid YAML ({err}).") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise RuleSetError(f"{path}: expected a mapping with a 'rules' list.")
    for key in ("rule_set", "version"):
        if not doc.get(key):
            raise RuleSetError(f"{path}: the field {key!r} is missing.")
    rules = []
    seen: set[str] = set()
    for k, item in enumerate(doc["rules"]):
        where = f"{path}: rule {k + 1}"
        if not isinstance(item, dict):
            raise RuleSetError(f"{where}: expected a mapping.")
        where = f"{path}: rule {item.get('id', k + 1)}"
        for key in _REQUIRED:
            if key not in item:
                raise RuleSetError(f"{where}: the field {key!r} is missing.")
        if item["check"] not in CHECKS:
            raise RuleSetError(
                f"{where}: unknown check {item['check']!r}; known: {', '.join(sorted(CHECKS))}."
            )
        if str(item["status"]) not in ("S", "M"):
            raise RuleSetError(f"{where}: status must be S or M, not {item['status']!r}.")
        if item["severity"] not in SEVERITIES:
            raise RuleSetError(f"{where}: severity must be one of {', '.join(SEVERITIES)}.")
        if not isinstance(item["parameters"], dict):
            raise RuleSetError(f"{where}: 'parameters' must be a mapping.")
        if item["id"] in seen:
            raise RuleSetError(f"{where}: duplicate rule id.")
        seen.add(item["id"])
        rules.append(
            Rule(
                id=str(item["id"]),
                title=str(item["title"]),
                check=str(item["check"]),
                reference=str(item["reference"]),
                rru_version=str(item["rru_version"]),
                status=str(item["status"]),
                severity=str(item["severity"]),
                parameters=dict(item["parameters"]),
                source=str(item.get("source", "")),
                in_force=bool(item.get("in_force", True)),
            )
        )
    return RuleSet(
        name=str(doc["rule_set"]),
        version=str(doc["version"]),
        date=str(doc.get("date", "")),
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
        rules=tuple(rules),
        defaults=dict(doc.get("defaults") or {}),
    )


# ---------------------------------------------------------------------------
# engine
# ---------------------------------------------------------------------------


class Facts:
    """The collected facts with derived, cached measurements."""

    def __init__(self, facts: dict[str, Any], context: Any = None) -> None:
        self.raw = facts
        self.context = context
        self.meshes: dict[str, tuple] = facts.get("meshes", {})
        self.spaces: list[dict[str, Any]] = facts.get("spaces", [])
        self.windows: list[dict[str, Any]] = facts.get("windows", [])
        self.elements: list[dict[str, Any]] = facts.get("elements", [])
        self._geom: dict[str, SpaceGeometry] = {}

    def geometry(self, gid: str) -> SpaceGeometry | None:
        if gid not in self.meshes:
            return None
        if gid not in self._geom:
            self._geom[gid] = space_geometry(self.meshes[gid])
        return self._geom[gid]

    def area(self, space: dict[str, Any]) -> tuple[float, str]:
        """Floor area (m2) from geometry, else from the IFC quantity; with its source."""
        g = self.geometry(space["global_id"])
        if g is not None and math.isfinite(g.floor_area_m2) and g.floor_area_m2 > 0:
            return g.floor_area_m2, "geometry"
        if math.isfinite(space["net_floor_area_qto_m2"]):
            return space["net_floor_area_qto_m2"], "IFC NetFloorArea"
        return math.nan, ""


def _space_values(facts: Facts, space: dict[str, Any]) -> dict[str, Any]:
    g = facts.geometry(space["global_id"])
    return {
        "area_geometry_m2": g.floor_area_m2 if g else math.nan,
        "area_ifc_m2": space["net_floor_area_qto_m2"],
        "height_geometry_m": g.height_m if g else math.nan,
        "height_ifc_m": space["height_qto_m"],
        "function": space["function"],
    }


def _label(space: dict[str, Any]) -> str:
    name = space["long_name"] or space["name"] or space["global_id"]
    if space["long_name"] and space["name"] and space["name"] != space["long_name"]:
        name = f"{space['name']} {space['long_name']}"
    return name


def _finding(rule: Rule, status: str, subject: str, **kw: Any) -> Finding:
    return Finding(
        rule_id=rule.id, title=rule.title, status=status, severity=rule.severity, subject=subject, **kw
    )


def _verdict(measured: float, threshold: float, tolerance: float, comparison: str) -> str:
    if not (math.isfinite(measured) and math.isfinite(threshold)):
        return "not_checkable"
    if comparison == ">=":
        return "pass" if measured >= threshold - tolerance else "fail"
    return "pass" if measured <= threshold + tolerance else "fail"


def _no_function(rule: Rule, facts: Facts) -> list[Finding]:
    """One not-checkable finding for the rooms without a function (the rule cannot pick its rooms)."""
    missing = [s for s in facts.spaces if not s["function"]]
    if not missing:
        return []
    return [
        _finding(
            rule,
            "not_checkable",
            f"{len(missing)} room(s) without a function",
            global_ids=[s["global_id"] for s in missing],
            message=(
                f"{len(missing)} IfcSpace(s) have no BXL_SpacePermit.RoomFunction, so it is unknown "
                "whether this rule applies to them."
            ),
        )
    ]


def _spaces_with(facts: Facts, functions: list[str]) -> list[dict[str, Any]]:
    wanted = {str(f).upper() for f in functions}
    return [s for s in facts.spaces if s["function"] in wanted]


def _no_spaces(rule: Rule, facts: Facts) -> list[Finding]:
    if facts.spaces:
        return []
    return [
        _finding(
            rule,
            "not_checkable",
            "building",
            message="The model has no IfcSpace: rooms, their areas and heights cannot be checked.",
        )
    ]


def check_ceiling_height(rule: Rule, facts: Facts) -> list[Finding]:
    """Flat-ceiling rooms of the listed functions: vertical extent of the space solid >= minimum."""
    out = _no_spaces(rule, facts) + _no_function(rule, facts)
    minimum = float(rule.p("min_height_m"))
    tol = float(rule.p("tolerance_m"))
    for s in _spaces_with(facts, rule.p("functions")):
        g = facts.geometry(s["global_id"])
        values = _space_values(facts, s)
        if g is not None and g.under_roof and s["function"] in HABITABLE:
            continue  # checked by the rooms-under-the-roof rule
        measured, source = (g.height_m, "geometry") if g is not None else (s["height_qto_m"], "IFC Height")
        status = _verdict(measured, minimum, tol, ">=")
        if status == "not_checkable":
            msg = "No space solid and no Height quantity: the ceiling height is unknown."
        else:
            msg = f"Ceiling height {measured:.2f} m ({source}) against the minimum {minimum:.2f} m."
        out.append(
            _finding(
                rule,
                status,
                f"room {_label(s)!r}",
                global_ids=[s["global_id"]],
                storey=s["storey"],
                space=_label(s),
                dwelling=s["dwelling"],
                measured=measured,
                threshold=minimum,
                units="m",
                comparison=">=",
                tolerance=tol,
                message=msg,
                values=values,
            )
        )
    return out


def check_ceiling_height_under_roof(rule: Rule, facts: Facts) -> list[Finding]:
    """Rooms under a sloped roof: share of the floor with clear height >= minimum, against ``min_share``."""
    out: list[Finding] = []
    minimum = float(rule.p("min_height_m"))
    share_min = float(rule.p("min_share"))
    tol = float(rule.p("tolerance_m"))
    for s in _spaces_with(facts, rule.p("functions")):
        g = facts.geometry(s["global_id"])
        if g is None or not g.under_roof:
            continue
        share, top, n = clear_height_share(
            facts.meshes[s["global_id"]], minimum - tol, float(rule.p("sample_step_m"))
        )
        status = _verdict(share, share_min, 0.0, ">=")
        msg = (
            f"{share * 100:.0f} % of the floor has a clear height of at least {minimum:.2f} m "
            f"(required {share_min * 100:.0f} %; highest point {top:.2f} m; {n} sample points)."
            if status != "not_checkable"
            else "The sloped ceiling could not be sampled over the floor."
        )
        out.append(
            _finding(
                rule,
                status,
                f"room {_label(s)!r} under the roof",
                global_ids=[s["global_id"]],
                storey=s["storey"],
                space=_label(s),
                dwelling=s["dwelling"],
                measured=share,
                threshold=share_min,
                units="share of floor area",
                comparison=">=",
                tolerance=0.0,
                message=msg,
                values={**_space_values(facts, s), "min_clear_height_m": minimum, "max_clear_height_m": top},
            )
        )
    return out


def _dwellings(facts: Facts) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in facts.spaces:
        groups[s["dwelling_global_id"]].append(s)
    return dict(sorted(groups.items()))


def check_bedroom_area(rule: Rule, facts: Facts) -> list[Finding]:
    """Per dwelling: the largest bedroom >= ``first_min_m2``, every other one >= ``other_min_m2``."""
    out = _no_spaces(rule, facts) + _no_function(rule, facts)
    tol = float(rule.p("tolerance_m2"))
    for zone, spaces in _dwellings(facts).items():
        beds = [s for s in spaces if s["function"] == "BEDROOM"]
        if not beds:
            continue
        if not zone:
            out.append(
                _finding(
                    rule,
                    "not_checkable",
                    f"{len(beds)} bedroom(s) outside any dwelling",
                    global_ids=[s["global_id"] for s in beds],
                    message="These bedrooms belong to no dwelling (IfcZone): which one is the first "
                    "bedroom of its dwelling is unknown.",
                )
            )
            continue
        sized = sorted(
            ((facts.area(s)[0], s) for s in beds), key=lambda t: (-np.nan_to_num(t[0]), t[1]["global_id"])
        )
        for k, (area, s) in enumerate(sized):
            minimum = float(rule.p("first_min_m2") if k == 0 else rule.p("other_min_m2"))
            status = _verdict(area, minimum, tol, ">=")
            which = "first (largest) bedroom" if k == 0 else "further bedroom"
            out.append(
                _finding(
                    rule,
                    status,
                    f"{which} {_label(s)!r}",
                    global_ids=[s["global_id"]],
                    storey=s["storey"],
                    space=_label(s),
                    dwelling=s["dwelling"],
                    measured=area,
                    threshold=minimum,
                    units="m2",
                    comparison=">=",
                    tolerance=tol,
                    message=f"Floor area {area:.2f} m² ({facts.area(s)[1]}) of the {which} against "
                    f"{minimum:.0f} m²."
                    if status != "not_checkable"
                    else "The floor area is unknown.",
                    values=_space_values(facts, s),
                )
            )
    return out


def check_room_area(rule: Rule, facts: Facts) -> list[Finding]:
    """Rooms with a minimum area by function (``min_area_m2``: function -> m2)."""
    out = _no_spaces(rule, facts) + _no_function(rule, facts)
    tol = float(rule.p("tolerance_m2"))
    minima = {str(k).upper(): float(v) for k, v in rule.p("min_area_m2").items()}
    for s in _spaces_with(facts, list(minima)):
        area, source = facts.area(s)
        minimum = minima[s["function"]]
        status = _verdict(area, minimum, tol, ">=")
        out.append(
            _finding(
                rule,
                status,
                f"{s['function'].lower().replace('_', ' + ')} {_label(s)!r}",
                global_ids=[s["global_id"]],
                storey=s["storey"],
                space=_label(s),
                dwelling=s["dwelling"],
                measured=area,
                threshold=minimum,
                units="m2",
                comparison=">=",
                tolerance=tol,
                message=f"Floor area {area:.2f} m² ({source}) against {minimum:.0f} m²."
                if status != "not_checkable"
                else "The floor area is unknown.",
                values=_space_values(facts, s),
            )
        )
    return out


def check_dwelling_area(rule: Rule, facts: Facts) -> list[Finding]:
    """Per dwelling: total floor area against the minimum for its bedroom count."""
    out = _no_spaces(rule, facts)
    tol = float(rule.p("tolerance_m2"))
    table = [float(v) for v in rule.p("min_area_by_bedrooms_m2")]
    for zone, spaces in _dwellings(facts).items():
        if not zone:
            out.append(
                _finding(
                    rule,
                    "not_checkable",
                    f"{len(spaces)} room(s) outside any dwelling",
                    global_ids=[s["global_id"] for s in spaces],
                    message="Rooms without a dwelling (IfcZone) cannot be summed into a dwelling area.",
                )
            )
            continue
        areas = [facts.area(s)[0] for s in spaces]
        total = float(sum(areas)) if all(math.isfinite(a) for a in areas) else math.nan
        n_bed = sum(s["function"] == "BEDROOM" for s in spaces)
        unknown = any(not s["function"] for s in spaces)
        minimum = table[min(n_bed, len(table) - 1)]
        status = "not_checkable" if unknown else _verdict(total, minimum, tol, ">=")
        out.append(
            _finding(
                rule,
                status,
                f"dwelling {spaces[0]['dwelling']!r}",
                global_ids=[zone] + [s["global_id"] for s in spaces],
                dwelling=spaces[0]["dwelling"],
                measured=total,
                threshold=minimum,
                units="m2",
                comparison=">=",
                tolerance=tol,
                message=(
                    f"Dwelling area {total:.2f} m² with {n_bed} bedroom(s) against {minimum:.0f} m² "
                    "(draft rule, not in force)."
                    if status != "not_checkable"
                    else "Some rooms have no function or no area: the bedroom count or area is unknown."
                ),
                values={"bedrooms": n_bed, "rooms": len(spaces)},
            )
        )
    return out


def _window_spaces(facts: Facts, distance_m: float) -> dict[str, list[dict[str, Any]]]:
    """Space GlobalId -> windows lighting it (space boundaries, else the nearest space box)."""
    boxes = {
        s["global_id"]: mesh_bounds(facts.meshes[s["global_id"]])
        for s in facts.spaces
        if s["global_id"] in facts.meshes
    }
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for w in facts.windows:
        targets = [
            g for g in w["boundary_spaces"] if g in boxes or g in {s["global_id"] for s in facts.spaces}
        ]
        if not targets and w["global_id"] in facts.meshes:
            c = mesh_bounds(facts.meshes[w["global_id"]]).mean(axis=0)
            best: tuple[float, str] | None = None
            for gid, box in sorted(boxes.items()):
                if not (box[0, 2] - 0.05 <= c[2] <= box[1, 2] + 0.05):
                    continue
                d = float(np.hypot(*np.maximum(0.0, np.maximum(box[0, :2] - c[:2], c[:2] - box[1, :2]))))
                if d <= distance_m and (best is None or d < best[0]):
                    best = (d, gid)
            targets = [best[1]] if best else []
        for gid in targets:
            out[gid].append(w)
    return out


def check_natural_light(rule: Rule, facts: Facts) -> list[Finding]:
    """Habitable rooms: net glazed area / floor area >= ``min_ratio``.

    Net glazed area = OverallWidth x OverallHeight x Pset_WindowCommon.GlazingAreaFraction.
    Without the fraction, the gross area is an upper bound: a room already
    short with gross areas fails; otherwise it is not checkable.
    """
    out = _no_spaces(rule, facts) + _no_function(rule, facts)
    ratio_min = float(rule.p("min_ratio"))
    tol = float(rule.p("tolerance"))
    lit = _window_spaces(facts, float(rule.p("space_distance_m")))
    for s in _spaces_with(facts, rule.p("functions")):
        area, source = facts.area(s)
        windows = sorted(lit.get(s["global_id"], []), key=lambda w: w["global_id"])
        gross = sum(w["width_m"] * w["height_m"] for w in windows)
        fractions_known = all(math.isfinite(w["glazing_fraction"]) for w in windows)
        net = (
            sum(w["width_m"] * w["height_m"] * w["glazing_fraction"] for w in windows)
            if fractions_known
            else math.nan
        )
        roof = any(w["is_roof_window"] for w in windows)
        gids = [s["global_id"]] + [w["global_id"] for w in windows]
        values = {
            **_space_values(facts, s),
            "glazed_area_gross_m2": gross,
            "glazed_area_net_m2": net,
            "windows": len(windows),
        }
        if not math.isfinite(area) or area <= 0 or not math.isfinite(gross):
            status, measured, msg = "not_checkable", math.nan, "The floor area or a window size is unknown."
        elif roof:
            status, measured = "not_checkable", gross / area
            msg = "The room is lit by a roof window, which the rule treats differently (not encoded)."
        elif fractions_known:
            measured = net / area
            status = _verdict(measured, ratio_min, tol, ">=")
            msg = (
                f"Net glazed area {net:.2f} m² from {len(windows)} window(s) over {area:.2f} m² ({source}) "
                f"= {measured:.3f} against {ratio_min:.3f}."
            )
        elif gross / area < ratio_min - tol:
            measured, status = gross / area, "fail"
            msg = (
                f"Even the gross window area {gross:.2f} m² over {area:.2f} m² = {measured:.3f} is below "
                f"{ratio_min:.3f} (net glazing is smaller still)."
            )
        else:
            measured, status = math.nan, "not_checkable"
            msg = (
                f"Gross window area {gross:.2f} m² / {area:.2f} m² = {gross / area:.3f}, but no "
                "Pset_WindowCommon.GlazingAreaFraction gives the net glazed area."
            )
        out.append(
            _finding(
                rule,
                status,
                f"room {_label(s)!r}",
                global_ids=gids,
                storey=s["storey"],
                space=_label(s),
                dwelling=s["dwelling"],
                measured=measured,
                threshold=ratio_min,
                units="-",
                comparison=">=",
                tolerance=tol,
                message=msg,
                values=values,
            )
        )
    return out


def check_u_value(rule: Rule, facts: Facts) -> list[Finding]:
    """External walls or roof parts: Pset_*Common.ThermalTransmittance <= ``max_u_w_m2k``."""
    target = rule.p("target")
    maximum = float(rule.p("max_u_w_m2k"))
    tol = float(rule.p("tolerance_w_m2k"))
    if target == "external_walls":
        items = [
            e for e in facts.elements if e["ifc_class"].startswith("IfcWall") and e["is_external"] is True
        ]
        unknown = [
            e for e in facts.elements if e["ifc_class"].startswith("IfcWall") and e["is_external"] is None
        ]
        kind = "external wall"
    elif target == "roofs":
        items = [e for e in facts.elements if e["roof_part"]]
        # an IfcRoof aggregate whose slabs carry the values is judged through its parts
        parents = {e["parent_global_id"] for e in items if e["parent_class"] == "IfcRoof"}
        items = [e for e in items if e["global_id"] not in parents]
        unknown = []
        kind = "roof"
    else:
        raise RuleSetError(f"rule {rule.id}: target must be external_walls or roofs, not {target!r}.")
    out: list[Finding] = []
    if unknown:
        out.append(
            _finding(
                rule,
                "not_checkable",
                f"{len(unknown)} wall(s) without IsExternal",
                global_ids=[e["global_id"] for e in unknown],
                message="Pset_WallCommon.IsExternal is missing: whether these walls are envelope is unknown.",
            )
        )
    if not items:
        out.append(
            _finding(
                rule,
                "not_checkable",
                f"no {kind}",
                message=f"The model has no {kind} to check (none marked IsExternal=true).",
            )
        )
    for e in items:
        u = e["u_pset_w_m2k"]
        status = _verdict(u, maximum, tol, "<=")
        out.append(
            _finding(
                rule,
                status,
                f"{kind} {e['name'] or e['global_id']!r}",
                global_ids=[e["global_id"]],
                storey=e["storey"],
                measured=u,
                threshold=maximum,
                units="W/m2K",
                comparison="<=",
                tolerance=tol,
                message=f"U = {u:.3f} W/m²K against the maximum {maximum:.2f} W/m²K."
                if status != "not_checkable"
                else "No ThermalTransmittance in Pset_*Common: the U-value is unknown.",
                values={"ifc_class": e["ifc_class"]},
            )
        )
    return out


def _roof_area(facts: Facts) -> tuple[float, float, list[str]]:
    parts = [e for e in facts.elements if e["roof_part"]]
    gids = [e["global_id"] for e in parts]
    meshes = [facts.meshes[g] for g in gids if g in facts.meshes]
    area = projected_area_m2(meshes) if meshes else math.nan
    qto = [e["roof_projected_area_qto_m2"] for e in parts if e["ifc_class"] == "IfcRoof"]
    qto_area = (
        float(sum(q for q in qto if math.isfinite(q))) if any(math.isfinite(q) for q in qto) else math.nan
    )
    return area, qto_area, gids


def check_rainwater(rule: Rule, facts: Facts) -> list[Finding]:
    """A rainwater tank (IfcTank with a capacity) of ``litres_per_m2`` x roof plan area."""
    per_m2 = float(rule.p("litres_per_m2"))
    area, qto_area, gids = _roof_area(facts)
    required = area * per_m2
    values = {"roof_area_geometry_m2": area, "roof_area_ifc_m2": qto_area, "litres_per_m2": per_m2}
    if not gids or not math.isfinite(area):
        return [
            _finding(
                rule,
                "not_checkable",
                "roof",
                global_ids=gids,
                message="No roof geometry (IfcRoof or roof slabs): the roof area is unknown.",
                values=values,
            )
        ]
    tanks = [t for t in facts.raw.get("tanks", []) if math.isfinite(t["capacity_l"])]
    if not tanks:
        return [
            _finding(
                rule,
                "not_checkable",
                "rainwater cistern",
                global_ids=gids,
                measured=math.nan,
                threshold=required,
                units="L",
                comparison=">=",
                message=f"Roof plan area {area:.2f} m² requires a cistern of {required:,.0f} L; "
                "the model has no IfcTank with a capacity to check it against.",
                values=values,
            )
        ]
    capacity = float(sum(t["capacity_l"] for t in tanks))
    status = _verdict(capacity, required, 0.0, ">=")
    return [
        _finding(
            rule,
            status,
            "rainwater cistern",
            global_ids=[t["global_id"] for t in tanks] + gids,
            measured=capacity,
            threshold=required,
            units="L",
            comparison=">=",
            message=f"Tank capacity {capacity:,.0f} L against {required:,.0f} L "
            f"({per_m2:g} L/m² x {area:.2f} m² of roof).",
            values=values,
        )
    ]


def check_quantity_consistency(rule: Rule, facts: Facts) -> list[Finding]:
    """IFC quantities vs geometry: floor area and height of each space, roof plan area."""
    limit = float(rule.p("max_ratio"))
    out: list[Finding] = []
    pairs = []
    for s in facts.spaces:
        g = facts.geometry(s["global_id"])
        if g is None:
            continue
        pairs.append((s, "floor area", g.floor_area_m2, s["net_floor_area_qto_m2"], "m2"))
        if not g.under_roof:
            pairs.append((s, "height", g.height_m, s["height_qto_m"], "m"))
    for s, what, geom, qto, units in pairs:
        if not (math.isfinite(geom) and math.isfinite(qto)) or geom <= 0:
            continue
        diff = abs(qto - geom) / geom
        status = "pass" if diff <= limit else "fail"
        out.append(
            _finding(
                rule,
                status,
                f"{what} of room {_label(s)!r}",
                global_ids=[s["global_id"]],
                storey=s["storey"],
                space=_label(s),
                dwelling=s["dwelling"],
                measured=diff,
                threshold=limit,
                units="relative difference",
                comparison="<=",
                tolerance=0.0,
                message=f"IFC {what} {qto:.2f} {units} vs geometry {geom:.2f} {units}: "
                f"{diff * 100:.1f} % apart.",
                values={"geometry": geom, "ifc": qto, "units": units},
            )
        )
    area, qto_area, gids = _roof_area(facts)
    if math.isfinite(area) and math.isfinite(qto_area) and area > 0:
        diff = abs(qto_area - area) / area
        out.append(
            _finding(
                rule,
                "pass" if diff <= limit else "fail",
                "roof plan area",
                global_ids=gids,
                measured=diff,
                threshold=limit,
                units="relative difference",
                comparison="<=",
                message=f"IFC ProjectedArea {qto_area:.2f} m² vs geometry {area:.2f} m²: "
                f"{diff * 100:.1f} % apart.",
                values={"geometry": area, "ifc": qto_area, "units": "m2"},
            )
        )
    return out


def _context_or_reason(rule: Rule, facts: Facts) -> tuple[Any, list[Finding]]:
    ctx = facts.context
    if ctx is None:
        return None, [
            _finding(
                rule,
                "not_checkable",
                "building",
                message="No city model was given (--context district.gpkg): the neighbours are unknown.",
            )
        ]
    if ctx.reason:
        return None, [
            _finding(
                rule,
                "not_checkable",
                "building",
                global_ids=ctx.building_gids,
                message=ctx.reason,
                values=ctx.summary(),
            )
        ]
    return ctx, []


def _shell(facts: Facts, walls: bool, roofs: bool) -> list[str]:
    """GlobalIds of the external walls and/or roof parts (what a Titre I finding is about)."""
    out = []
    for e in facts.elements:
        if (walls and e["ifc_class"].startswith("IfcWall") and e["is_external"]) or (
            roofs and e["roof_part"]
        ):
            out.append(e["global_id"])
    return out


def _neighbour_values(ctx: Any, key: str) -> dict[str, Any]:
    return {**ctx.summary(), "neighbour_values": {n.building_id: getattr(n, key) for n in ctx.neighbours}}


def check_context_depth(rule: Rule, facts: Facts) -> list[Finding]:
    """Depth <= the deeper neighbour's and <= the shallower one's + ``max_beyond_shallower_m``."""
    ctx, out = _context_or_reason(rule, facts)
    if ctx is None:
        return out
    depths = [n.depth_m for n in ctx.neighbours]
    limit = min(max(depths), min(depths) + float(rule.p("max_beyond_shallower_m")))
    tol = float(rule.p("tolerance_m"))
    status = _verdict(ctx.depth_m, limit, tol, "<=")
    return [
        _finding(
            rule,
            status,
            "building depth",
            global_ids=ctx.building_gids + _shell(facts, True, True),
            measured=ctx.depth_m,
            threshold=limit,
            units="m",
            comparison="<=",
            tolerance=tol,
            message=f"Depth {ctx.depth_m:.2f} m along the party walls; neighbours "
            f"{', '.join(f'{n.building_id} {n.depth_m:.2f} m' for n in ctx.neighbours)}: the limit is "
            f"min(deeper, shallower + {rule.p('max_beyond_shallower_m')} m) = {limit:.2f} m.",
            values=_neighbour_values(ctx, "depth_m"),
        )
    ]


def check_context_facade_height(rule: Rule, facts: Facts) -> list[Finding]:
    """Front façade height between the lower and the higher neighbour's."""
    ctx, out = _context_or_reason(rule, facts)
    if ctx is None:
        return out
    tol = float(rule.p("tolerance_m"))
    heights = [n.facade_height_m for n in ctx.neighbours]
    lo, hi = min(heights), max(heights)
    h = ctx.facade_height_m
    if not (math.isfinite(h) and math.isfinite(lo) and math.isfinite(hi)):
        status, threshold = "not_checkable", math.nan
    elif h < lo - tol:
        status, threshold = "fail", lo
    elif h > hi + tol:
        status, threshold = "fail", hi
    else:
        status, threshold = "pass", hi
    return [
        _finding(
            rule,
            status,
            "front façade height",
            global_ids=ctx.building_gids + _shell(facts, True, False),
            measured=h,
            threshold=threshold,
            units="m",
            comparison="between",
            tolerance=tol,
            message=f"Façade height {h:.2f} m (top of the external walls above ground); it must lie between "
            f"the neighbours' {lo:.2f} m and {hi:.2f} m.",
            values={**_neighbour_values(ctx, "facade_height_m"), "lower_m": lo, "higher_m": hi},
        )
    ]


def check_context_roof(rule: Rule, facts: Facts) -> list[Finding]:
    """Roof top <= the higher neighbour's and <= the lower neighbour's + ``max_above_lower_m``."""
    ctx, out = _context_or_reason(rule, facts)
    if ctx is None:
        return out
    tol = float(rule.p("tolerance_m"))
    heights = [n.height_m for n in ctx.neighbours]
    limit = min(max(heights), min(heights) + float(rule.p("max_above_lower_m")))
    status = _verdict(ctx.height_m, limit, tol, "<=")
    return [
        _finding(
            rule,
            status,
            "roof profile (highest point)",
            global_ids=ctx.building_gids + (_shell(facts, False, True) or _shell(facts, True, False)),
            measured=ctx.height_m,
            threshold=limit,
            units="m",
            comparison="<=",
            tolerance=tol,
            message=f"Roof top {ctx.height_m:.2f} m above ground; neighbours "
            f"{', '.join(f'{n.building_id} {n.height_m:.2f} m' for n in ctx.neighbours)}: the limit is "
            f"min(higher, lower + {rule.p('max_above_lower_m')} m) = {limit:.2f} m.",
            values=_neighbour_values(ctx, "height_m"),
        )
    ]


CHECKS: dict[str, Callable[[Rule, Facts], list[Finding]]] = {
    "ceiling_height": check_ceiling_height,
    "ceiling_height_under_roof": check_ceiling_height_under_roof,
    "bedroom_area": check_bedroom_area,
    "room_area": check_room_area,
    "dwelling_area": check_dwelling_area,
    "natural_light": check_natural_light,
    "u_value": check_u_value,
    "rainwater": check_rainwater,
    "quantity_consistency": check_quantity_consistency,
    "context_depth": check_context_depth,
    "context_facade_height": check_context_facade_height,
    "context_roof": check_context_roof,
}


def run_rules(rule_set: RuleSet, facts: dict[str, Any], context: Any = None) -> list[Finding]:
    """Apply every rule of ``rule_set``.

    Parameters
    ----------
    rule_set
        From :func:`load_rules`.
    facts
        From :func:`bim_ingest.checks.facts.collect_facts`.
    context
        A :class:`bim_ingest.checks.context.NeighbourContext` (None: the
        Titre I rules are not checkable).

    Returns
    -------
    list of Finding
        In rule-set order; within a rule, as the check produced them.
    """
    wrapped = Facts(facts, context)
    out: list[Finding] = []
    for rule in rule_set.rules:
        if not wrapped.meshes and rule.check not in (
            "u_value",
            "context_depth",
            "context_facade_height",
            "context_roof",
        ):
            reason = facts.get("model_error") or "no geometry could be computed"
            message = f"No geometry: {reason.rstrip('.')}."
            out.append(_finding(rule, "not_checkable", "building", message=message))
            continue
        out.extend(CHECKS[rule.check](rule, wrapped))
    return out
