"""``check_permit``: IDS gate, rule checks, neighbours, and the three reports.

The steps:

1. the IFC file is parsed, validated against the IDS files and triangulated
   in an isolated child process (:func:`bim_ingest.ifc.isolate.run_isolated`
   running :func:`bim_ingest.checks.facts.collect_facts`), with a time and
   memory limit: a crash of the native parser or geometry kernel becomes an
   :class:`~twin.errors.IngestError`, never a crash of the caller;
2. with a city model as context, the georeferenced building is set among
   its neighbours (:func:`bim_ingest.checks.context.neighbour_context`);
3. the rule set is applied (:func:`bim_ingest.checks.rules.run_rules`); every
   failing IDS specification is a finding too;
4. failing and not-checkable findings are grouped into topics (rule, storey,
   status), each framed by a camera and, optionally, rendered to a PNG;
5. ``report.json``, ``report.html`` and ``findings.bcf`` are written
   atomically into ``out_dir``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from twin.atomic import atomic_text_file
from twin.errors import TwinError

from .findings import Finding, PermitReport
from .report_bcf import BCF_VERSIONS, Topic, write_bcf
from .rules import RuleSet, load_rules, run_rules

__all__ = ["check_permit", "DEFAULT_IDS", "PermitCheckError", "ISOLATED_TIMEOUT_S", "ISOLATED_MEMORY_MB"]

#: The Brussels submission IDS shipped with the package.
DEFAULT_IDS = Path(__file__).resolve().parents[2] / "data" / "permit" / "brussels_submission.ids"
#: Limits of the isolated parse/geometry process.
ISOLATED_TIMEOUT_S = 900.0
ISOLATED_MEMORY_MB = 6144
#: At most this many topics get a rendered snapshot (the rest keep their camera).
MAX_SNAPSHOTS = 60
#: Failing elements named per IDS finding.
_IDS_LISTED = 500
_STATUS_ORDER = {"fail": 0, "not_checkable": 1, "pass": 2}


class PermitCheckError(TwinError, ValueError):
    """Bad arguments to :func:`check_permit` (missing file, bad BCF version, unusable context)."""


def _checker_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("brussels-twin", "ifcopenshell", "ifctester", "bcf-client"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def _ids_findings(ids_results: list[dict[str, Any]]) -> list[Finding]:
    out = []
    for res in ids_results:
        for spec in res["specifications"]:
            rid = f"IDS {spec['identifier'] or spec['name']}"
            title = f"{spec['name']} ({res['file']})"
            if spec["status"] == "skipped":
                continue
            gids = sorted(
                {f["global_id"] for r in spec["requirements"] for f in r["failures"] if f["global_id"]}
            )
            reasons = sorted({f["reason"] for r in spec["requirements"] for f in r["failures"]})
            failed_reqs = [r["description"] for r in spec["requirements"] if r["status"] == "fail"]
            if spec["status"] == "pass":
                msg = f"{spec['applicable']} applicable element(s) meet every requirement."
            elif spec["applicable"] == 0 and spec["usage"] == "required":
                msg = "The specification is required but no element of the model is applicable to it."
            elif spec["usage"] == "prohibited":
                msg = f"{spec['applicable']} element(s) match a prohibited specification."
            else:
                msg = (
                    f"{spec['failed']} of {spec['applicable']} applicable element(s) fail: "
                    + "; ".join(failed_reqs)
                    + (f". Reasons: {'; '.join(reasons[:5])}" if reasons else "")
                )
            out.append(
                Finding(
                    rule_id=rid,
                    title=title,
                    status="pass" if spec["status"] == "pass" else "fail",
                    severity="error",
                    subject=f"IDS specification {spec['name']!r}",
                    global_ids=gids[:_IDS_LISTED],
                    measured=float(spec["failed"]),
                    threshold=0.0,
                    units="failing elements",
                    comparison="<=",
                    message=msg
                    + (
                        f" {spec['instructions']}"
                        if spec["status"] == "fail" and spec["instructions"]
                        else ""
                    ),
                    values={
                        "applicable": spec["applicable"],
                        "usage": spec["usage"],
                        "ids_file": res["file"],
                    },
                )
            )
    return out


def _group_topics(findings: list[Finding], rule_set: RuleSet) -> list[Topic]:
    topics: dict[tuple, Topic] = {}
    rules = {r.id: r for r in rule_set.rules}
    for i, f in enumerate(findings):
        if f.status == "pass":
            continue
        key = (f.rule_id, f.storey, f.status)
        if key not in topics:
            rule = rules.get(f.rule_id)
            is_ids = f.rule_id.startswith("IDS ")
            ttype = (
                "IDS requirement"
                if is_ids
                else ("Missing information" if f.status == "not_checkable" else "Rule violation")
            )
            where = f.storey or "building"
            verdict = "fails" if f.status == "fail" else "cannot be checked"
            labels = [f.status, f.severity] + ([rule.status] if rule else [])
            topics[key] = Topic(
                key="|".join(key),
                title=f"{f.rule_id} {verdict}: {f.title} — {where}",
                description="",
                topic_type=ttype,
                status=f.status,
                priority={"error": "High", "warning": "Normal"}.get(f.severity, "Low"),
                labels=labels,
                global_ids=[],
                finding_indices=[],
                extra={
                    "reference": rule.reference if rule else "IDS 1.0",
                    "rule_status": rule.status if rule else "",
                },
            )
        t = topics[key]
        t.finding_indices.append(i)
        t.global_ids.extend(g for g in f.global_ids if g not in t.global_ids)
    out = sorted(topics.values(), key=lambda t: (_STATUS_ORDER[t.status], t.finding_indices[0]))
    for t in out:
        lines = [
            f"Reference: {t.extra['reference']}"
            + (f" [{t.extra['rule_status']}]" if t.extra["rule_status"] else "")
        ]
        for i in t.finding_indices[:25]:
            f = findings[i]
            lines.append(f"- {f.subject}: {f.message}")
        if len(t.finding_indices) > 25:
            lines.append(f"- ... and {len(t.finding_indices) - 25} more (see report.html)")
        t.description = "\n".join(lines)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_permit(
    ifc_path: str | Path,
    *,
    ids_paths: Sequence[str | Path] = (),
    rules_path: str | Path | None = None,
    context_path: str | Path | None = None,
    out_dir: str | Path,
    bcf_version: str = "3.0",
    snapshots: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> PermitReport:
    """Pre-check an IFC permit submission and write its reports.

    Parameters
    ----------
    ifc_path
        The submitted model (``.ifc`` / ``.ifczip``; untrusted: parsed in an
        isolated process).
    ids_paths
        IDS 1.0 files to validate against (e.g. :data:`DEFAULT_IDS`); none: no IDS gate.
    rules_path
        Rule-set YAML (default ``data/permit/rules_brussels.yaml``).
    context_path
        A city model GeoPackage (:meth:`twin.model.CityModel.save`) holding
        the neighbours; without it the Titre I rules are not checkable.
    out_dir
        Folder for ``report.json``, ``report.html`` and ``findings.bcf``
        (created if missing).
    bcf_version
        ``"3.0"`` (default) or ``"2.1"``.
    snapshots
        Render a PNG per BCF topic (off-screen PyVista) and show them in the HTML.
    progress
        ``progress(step, done, total)``.

    Returns
    -------
    PermitReport
        ``status`` is ``"fail"`` when a finding of severity error or warning fails.

    Raises
    ------
    PermitCheckError
        Missing IFC/IDS/context file, unknown BCF version.
    RuleSetError, IdsError
        An unreadable rule set or IDS file.
    IngestError
        The IFC file is not readable, or its parsing crashed or ran out of time/memory.
    """
    from bim_ingest.ifc.isolate import run_isolated

    t0 = time.perf_counter()
    tick = progress or (lambda step, done, total: None)
    ifc_path = Path(ifc_path)
    if not ifc_path.is_file():
        raise PermitCheckError(f"{ifc_path}: no such IFC file.")
    if bcf_version not in BCF_VERSIONS:
        raise PermitCheckError(f"bcf_version must be one of {', '.join(BCF_VERSIONS)}, not {bcf_version!r}.")
    ids_list = [Path(p) for p in ids_paths]
    for p in ids_list:
        if not p.is_file():
            raise PermitCheckError(f"{p}: no such IDS file.")
    rule_set = load_rules(rules_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    district = None
    context_info: dict[str, Any] | None = None
    if context_path is not None:
        from twin.model import CityModel

        context_path = Path(context_path)
        if not context_path.is_file():
            raise PermitCheckError(f"{context_path}: no such city model (GeoPackage).")
        tick("loading the city model", 0, 6)
        district = CityModel.load(context_path)
        context_info = {
            "file": context_path.name,
            "sha256": _sha256(context_path),
            "crs": district.crs.to_string(),
            "buildings": int(len(district.buildings)),
        }

    tick("reading the IFC file (isolated process)", 1, 6)
    t1 = time.perf_counter()
    facts = run_isolated(
        "bim_ingest.checks.facts:collect_facts",
        (str(ifc_path),),
        {
            "ids_paths": [str(p) for p in ids_list],
            "crs": district.crs.to_string() if district is not None else None,
            "progress": progress,
        },
        timeout_s=ISOLATED_TIMEOUT_S,
        memory_mb=ISOLATED_MEMORY_MB,
        label=ifc_path.name,
    )
    ingest_s = time.perf_counter() - t1

    tick("checking the rules", 2, 6)
    t2 = time.perf_counter()
    ctx = None
    if district is not None:
        from .context import NeighbourContext, neighbour_context

        min_shared = min(
            (
                float(r.parameters.get("min_shared_m", 1.0))
                for r in rule_set.rules
                if r.check.startswith("context")
            ),
            default=1.0,
        )
        if facts["model"] is None:
            ctx = NeighbourContext(
                building_gids=[],
                reason="The IFC model could not be placed: "
                f"{facts['model_error'] or 'no building geometry'}.",
            )
        else:
            ctx = neighbour_context(district, facts["model"], min_shared_m=min_shared)
    findings = _ids_findings(facts["ids"]) + run_rules(rule_set, facts, ctx)
    rules_s = time.perf_counter() - t2

    tick("framing and rendering the issues", 3, 6)
    t3 = time.perf_counter()
    topics = _group_topics(findings, rule_set)
    from .snapshot import SnapshotRenderer

    context_ids = [
        e["global_id"]
        for e in facts["elements"]
        if e["ifc_class"] not in ("IfcRailing", "IfcStair", "IfcStairFlight", "IfcRamp", "IfcRampFlight")
    ]
    renderer = SnapshotRenderer(facts["meshes"], context_ids)
    try:
        for k, t in enumerate(topics):
            framed = renderer.frame(t.global_ids)
            if framed is None:
                continue
            t.camera, t.cut_z_m = framed
            if snapshots and k < MAX_SNAPSHOTS:
                t.snapshot = renderer.render(t.global_ids, t.status)
                tick("rendering snapshots", k + 1, min(len(topics), MAX_SNAPSHOTS))
    finally:
        renderer.close()
    snapshots_s = time.perf_counter() - t3

    tick("writing the reports", 5, 6)
    t4 = time.perf_counter()
    model = facts["model"]
    source = model.sources[0] if model is not None and model.sources else {}
    versions = _checker_versions()
    provenance = {
        "checked_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "checker": {"name": "brussels-twin permit pre-check", "versions": versions},
        "ifc": facts["header"],
        "ifc_project_global_id": facts["header"].get("ifc_project_global_id", ""),
        "schema": facts["header"]["schema"],
        "rule_set": {
            "name": rule_set.name,
            "version": rule_set.version,
            "date": rule_set.date,
            "file": Path(rule_set.path).name,
            "sha256": rule_set.sha256,
        },
        "ids": [
            {
                "file": r["file"],
                "sha256": r["sha256"],
                "title": r["title"],
                "version": r["version"],
                "date": r["date"],
            }
            for r in facts["ids"]
        ],
        "georeferencing": source.get("georeferencing", {}),
        "model_crs": model.crs.to_string() if model is not None else "",
        "geometry": {
            "kernel": source.get("kernel", ""),
            "failures": source.get("geometry_failures", []),
            "note": facts.get("model_error", ""),
        },
        "context": {
            **context_info,
            **(ctx.summary() if ctx is not None else {}),
            "reason": ctx.reason if ctx else "",
        }
        if context_info
        else None,
        "bcf_version": bcf_version,
        "timings_s": {},
    }
    counts: dict[str, Any] = {
        s: sum(f.status == s for f in findings) for s in ("pass", "fail", "not_checkable")
    }
    counts["failing"] = sum(f.failing for f in findings)
    counts["topics"] = len(topics)
    rules_out = []
    for r in rule_set.rules:
        mine = [f for f in findings if f.rule_id == r.id]
        rules_out.append(
            {**r.describe(), "counts": {s: sum(f.status == s for f in mine) for s in _STATUS_ORDER}}
        )
    report = PermitReport(
        status="fail" if counts["failing"] else "pass",
        findings=findings,
        counts=counts,
        rules=rules_out,
        ids=facts["ids"],
        provenance=provenance,
    )
    report.files = {
        "report.json": out_dir / "report.json",
        "report.html": out_dir / "report.html",
        "findings.bcf": out_dir / "findings.bcf",
    }
    created = dt.datetime.fromisoformat(provenance["checked_at"])
    write_bcf(
        report.files["findings.bcf"], topics, version=bcf_version, provenance=provenance, created=created
    )
    from .report_html import render_html

    provenance["timings_s"] = {
        "ingest_isolated": round(ingest_s, 3),
        "rules": round(rules_s, 3),
        "snapshots": round(snapshots_s, 3),
        "total_before_reports": round(time.perf_counter() - t0, 3),
    }
    with atomic_text_file(report.files["report.html"]) as fh:
        fh.write(render_html(report, topics))
    provenance["timings_s"]["reports"] = round(time.perf_counter() - t4, 3)
    with atomic_text_file(report.files["report.json"]) as fh:
        json.dump(
            {**report.to_dict(), "topics": [_topic_json(t, facts["header"]["sha256"]) for t in topics]},
            fh,
            indent=1,
            ensure_ascii=False,
            allow_nan=False,
        )
    tick("done", 6, 6)
    return report


def _topic_json(t: Topic, file_hash: str) -> dict[str, Any]:
    return {
        "guid": t.guid(file_hash),
        "title": t.title,
        "type": t.topic_type,
        "status": t.status,
        "findings": t.finding_indices,
        "global_ids": t.global_ids,
        "snapshot": bool(t.snapshot),
        "cut_z_m": None if t.cut_z_m is None or not math.isfinite(t.cut_z_m) else t.cut_z_m,
    }
