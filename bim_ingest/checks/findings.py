"""Findings and the permit report object.

A :class:`Finding` is one verdict of one rule on one thing (a room, a wall,
a dwelling, the building): what was measured, against which threshold, in
which units and with which tolerance, and the elements concerned by GlobalId.
Missing data gives ``status="not_checkable"`` with the reason -- never a pass.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["Finding", "PermitReport", "STATUSES", "SEVERITIES", "FAILING_SEVERITIES"]

STATUSES = ("fail", "not_checkable", "pass")
SEVERITIES = ("error", "warning", "info")
#: A failed finding of these severities makes the report (and the CLI) fail;
#: ``info`` findings (rules not in force) are reported only.
FAILING_SEVERITIES = ("error", "warning")

Status = Literal["pass", "fail", "not_checkable"]


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


@dataclass
class Finding:
    """One verdict of one rule.

    Attributes
    ----------
    rule_id, title
        The rule (``IDS:<file>:<specification>`` for IDS specifications).
    status
        ``pass``, ``fail`` or ``not_checkable``.
    severity
        ``error``, ``warning`` or ``info`` (from the rule set).
    subject
        What was checked, in words (``room 'Bedroom 1'``, ``building``).
    global_ids
        GlobalIds of the IFC elements concerned.
    storey, space, dwelling
        Where (names; empty when not applicable).
    measured, threshold
        Values compared (NaN when not measurable).
    units
        Units of ``measured`` and ``threshold`` (``m``, ``m2``, ``W/m2K``, ``-``).
    comparison
        ``>=`` or ``<=`` (``measured comparison threshold`` passes).
    tolerance
        Allowed shortfall, in ``units``.
    message
        One sentence a reviewer can read.
    values
        Further numbers (e.g. ``area_geometry_m2`` and ``area_ifc_m2``).
    """

    rule_id: str
    title: str
    status: Status
    severity: str
    subject: str
    global_ids: list[str] = field(default_factory=list)
    storey: str = ""
    space: str = ""
    dwelling: str = ""
    measured: float = math.nan
    threshold: float = math.nan
    units: str = ""
    comparison: str = ""
    tolerance: float = 0.0
    message: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (NaN as null)."""
        return _clean(asdict(self))

    @property
    def failing(self) -> bool:
        """A failure that makes the report fail (severity error or warning)."""
        return self.status == "fail" and self.severity in FAILING_SEVERITIES


@dataclass
class PermitReport:
    """The result of :func:`bim_ingest.checks.check_permit`.

    Attributes
    ----------
    status
        ``"fail"`` when any finding of severity error/warning fails, else ``"pass"``.
    findings
        Every finding, rule by rule (rule-set order), then by storey and subject.
    counts
        ``{"pass": n, "fail": n, "not_checkable": n, "failing": n}`` and per rule.
    rules
        Per rule: id, title, reference, RRU version, status [S]/[M], severity,
        in force, parameters, and the count of its findings by status.
    ids
        The IDS results (see :func:`bim_ingest.checks.ids_gate.validate_ids`).
    provenance
        IFC file hash and header, schema, rule-set and IDS versions, checker
        version, georeferencing, context model, timings.
    files
        ``report.json``, ``report.html``, ``findings.bcf`` -> their paths.
    """

    status: Literal["pass", "fail"]
    findings: list[Finding]
    counts: dict[str, Any]
    rules: list[dict[str, Any]]
    ids: list[dict[str, Any]]
    provenance: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report's content."""
        return _clean(
            {
                "status": self.status,
                "counts": self.counts,
                "provenance": self.provenance,
                "rules": self.rules,
                "ids": self.ids,
                "findings": [f.to_dict() for f in self.findings],
                "files": {k: Path(v).name for k, v in sorted(self.files.items())},
            }
        )
