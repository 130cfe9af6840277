"""Permit pre-check: IDS completeness gate, Brussels rule checks, BCF/HTML/JSON reports.

A use-case package (see ARCHITECTURE.md): it reads IFC files through
:mod:`bim_ingest.ifc` (in an isolated process), city models through the twin
core, and writes reports; only ``twin/cli*.py`` and ``twin/service/`` import it.

Entry point::

    from bim_ingest.checks import check_permit, DEFAULT_IDS
    report = check_permit("house.ifc", ids_paths=[DEFAULT_IDS], context_path="district.gpkg", out_dir="out")
    report.status, report.counts, report.files["findings.bcf"]
"""

from __future__ import annotations

from .check import DEFAULT_IDS, PermitCheckError, check_permit
from .context import ContextError
from .findings import Finding, PermitReport
from .ids_gate import IdsError, validate_ids
from .rules import DEFAULT_RULES, RuleSet, RuleSetError, load_rules

__all__ = [
    "check_permit",
    "PermitReport",
    "Finding",
    "DEFAULT_IDS",
    "DEFAULT_RULES",
    "PermitCheckError",
    "RuleSetError",
    "IdsError",
    "ContextError",
    "RuleSet",
    "load_rules",
    "validate_ids",
]
