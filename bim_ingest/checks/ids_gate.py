"""IDS 1.0 completeness gate: validate an IFC model against ``.ids`` files with ifctester.

Each IDS file is first validated against the IDS 1.0 XSD bundled with
ifctester (an invalid IDS is an :class:`IdsError`, naming the file); every
specification is then run against the model.  The result is plain data:
per specification its status (``pass`` / ``fail`` / ``skipped`` when the
model's schema is not among the specification's ``ifcVersion``), the
applicable element count and, per requirement, the failing elements with
GlobalId, class, name and ifctester's reason.

The IFC model is parsed by the caller; this module runs inside the isolated
worker process of :func:`bim_ingest.checks.check_permit` (IDS files are
parsed there too, through ``xmlschema`` on expat: no external entities).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from twin.errors import TwinError

__all__ = ["IdsError", "MAX_IDS_BYTES", "validate_ids", "load_ids"]

#: IDS files larger than this are refused (a real submission IDS is a few tens of kB).
MAX_IDS_BYTES = 5 * 1024 * 1024
#: Failing elements listed per requirement (the count is always complete).
MAX_LISTED = 500


class IdsError(TwinError, ValueError):
    """An IDS file that is missing, too large or not valid against the IDS 1.0 XSD."""


def load_ids(path: str | Path) -> Any:
    """Open and XSD-validate one IDS file.

    Parameters
    ----------
    path
        The ``.ids`` file.

    Returns
    -------
    ifctester.ids.Ids
        The parsed specifications.

    Raises
    ------
    IdsError
        Missing, larger than :data:`MAX_IDS_BYTES`, not XML or not valid IDS 1.0.
    """
    from ifctester import ids as ids_mod

    path = Path(path)
    if not path.is_file():
        raise IdsError(f"{path}: no such IDS file.")
    size = path.stat().st_size
    if size > MAX_IDS_BYTES:
        raise IdsError(f"{path}: {size} bytes is larger than the {MAX_IDS_BYTES} bytes accepted for an IDS.")
    try:
        return ids_mod.open(str(path), validate=True)
    except ids_mod.IdsXmlValidationError as err:
        reason = str(getattr(err, "xml_error", err)).strip().splitlines()
        raise IdsError(
            f"{path}: not valid against the IDS 1.0 schema (ids.xsd): {reason[0] if reason else err}"
        ) from None
    except Exception as err:  # xmlschema / expat parse errors
        raise IdsError(f"{path}: cannot be read as IDS XML ({type(err).__name__}: {err}).") from None


def _identifiers(path: Path) -> list[str]:
    """The ``identifier`` attribute of each specification, in document order (ifctester drops it)."""
    from defusedxml import ElementTree

    root = ElementTree.parse(str(path)).getroot()
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    return [str(spec.get("identifier") or "") for spec in root.iter(f"{ns}specification")]


def _element(e: Any) -> dict[str, str]:
    return {
        "global_id": str(getattr(e, "GlobalId", "") or ""),
        "ifc_class": e.is_a(),
        "name": str(getattr(e, "Name", "") or ""),
        "step_id": f"#{e.id()}",
    }


def validate_ids(ifc_file: Any, path: str | Path) -> dict[str, Any]:
    """Run every specification of one IDS file on an opened model.

    Parameters
    ----------
    ifc_file
        An ``ifcopenshell.file``.
    path
        The ``.ids`` file.

    Returns
    -------
    dict
        ``file``, ``sha256``, ``title``, ``version``, ``status`` (``pass`` when no
        specification fails), and ``specifications``: a list of dicts with
        ``name``, ``identifier``, ``description``, ``instructions``, ``usage``
        (required/optional/prohibited), ``status``, ``applicable``,
        ``passed``, ``failed`` (element counts) and ``requirements`` (each with
        ``description``, ``status``, ``n_failed`` and ``failures``).
    """
    path = Path(path)
    spec_set = load_ids(path)
    spec_set.validate(ifc_file, should_filter_version=True)
    identifiers = _identifiers(path)
    if len(identifiers) != len(spec_set.specifications):
        identifiers = [""] * len(spec_set.specifications)
    specs = []
    for spec, identifier in zip(spec_set.specifications, identifiers, strict=True):
        if spec.is_ifc_version is False:
            status = "skipped"
        else:
            status = "pass" if spec.status else "fail"
        reqs = []
        for facet in spec.requirements:
            failures = sorted(
                ({**_element(f["element"]), "reason": str(f["reason"])} for f in facet.failures),
                key=lambda r: (r["global_id"], r["step_id"]),
            )
            try:
                text = facet.to_string("requirement", spec, facet)
            except Exception:  # a facet ifctester cannot phrase
                text = type(facet).__name__
            reqs.append(
                {
                    "description": text,
                    "status": "skipped" if status == "skipped" else ("pass" if facet.status else "fail"),
                    "n_failed": len(failures),
                    "failures": failures[:MAX_LISTED],
                }
            )
        specs.append(
            {
                "name": spec.name,
                "identifier": identifier or spec.identifier or "",
                "description": spec.description or "",
                "instructions": spec.instructions or "",
                "ifc_versions": list(spec.ifcVersion),
                "usage": spec.get_usage(),
                "status": status,
                "applicable": len(spec.applicable_entities),
                "passed": len(spec.passed_entities),
                "failed": len(spec.failed_entities),
                "requirements": reqs,
            }
        )
    return {
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "title": spec_set.info.get("title", ""),
        "version": spec_set.info.get("version", ""),
        "date": spec_set.info.get("date", ""),
        "status": "fail" if any(s["status"] == "fail" for s in specs) else "pass",
        "specifications": specs,
    }
