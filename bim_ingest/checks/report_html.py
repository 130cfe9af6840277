"""The HTML report: one self-contained page a reviewer reads without a BIM tool.

Sections: verdict and counts; provenance (file, hash, authoring tool,
schema, georeferencing, rule-set/IDS/checker versions, context); a summary
table per rule (reference, RRU version, confidence [S]/[M], severity,
counts); the IDS results per specification; then the issues (one block per
BCF topic: snapshot, and a table of its findings with measured value,
threshold, units, tolerance, elements); finally the passing findings.
Snapshots are embedded as PNG data URIs, so the file stands alone.
"""

from __future__ import annotations

import base64
import math
from html import escape
from typing import Any

from .findings import Finding, PermitReport
from .report_bcf import Topic

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;
color:#1b1b1b;line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:2px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.6rem;font-weight:600;font-size:.85rem}
.fail{background:#f8d7da;color:#842029}.pass{background:#d1e7dd;color:#0f5132}
.not_checkable{background:#fff3cd;color:#664d03}.skipped{background:#e2e3e5;color:#41464b}
.topic{border:1px solid #ccc;border-radius:.4rem;padding:.8rem;margin:1rem 0}
.topic img{max-width:100%;border:1px solid #eee}
.gid{font-family:monospace;font-size:.8rem;word-break:break-all}
.muted{color:#666;font-size:.85rem}
"""


def _badge(status: str) -> str:
    text = {"not_checkable": "not checkable"}.get(status, status)
    return f'<span class="badge {escape(status)}">{escape(text)}</span>'


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return escape(str(value))


def _gids(ids: list[str], limit: int = 12) -> str:
    shown = ", ".join(escape(g) for g in ids[:limit])
    more = f" … (+{len(ids) - limit})" if len(ids) > limit else ""
    return f'<span class="gid">{shown}{more}</span>'


def _both_sources(values: dict[str, Any]) -> str:
    """'area: geometry 21.60 m², IFC 21.60 m²; height: ...' for room findings (both sources, always shown)."""
    parts = []
    for what, key, unit in (("area", "area", "m²"), ("height", "height", "m")):
        g, q = (
            values.get(f"{key}_geometry_{'m2' if key == 'area' else 'm'}"),
            values.get(f"{key}_ifc_{'m2' if key == 'area' else 'm'}"),
        )
        if g is None and q is None:
            continue

        def show(v: Any, unit: str = unit) -> str:
            return f"{_num(v)} {unit}" if isinstance(v, float) and math.isfinite(v) else "absent"

        parts.append(f"{what}: geometry {show(g)}, IFC quantity {show(q)}")
    return "; ".join(parts)


def _finding_row(f: Finding) -> str:
    digits = 3 if f.units in ("-", "share of floor area", "relative difference") else 2
    both = _both_sources(f.values)
    extra = f'<br><span class="muted">{escape(both)}</span>' if both else ""
    return (
        "<tr>"
        f"<td>{_badge(f.status)}</td><td>{escape(f.subject)}</td><td>{escape(f.storey)}</td>"
        f"<td>{escape(f.space or f.dwelling)}</td>"
        f'<td class="num">{_num(f.measured, digits)}</td><td>{escape(f.comparison)}</td>'
        f'<td class="num">{_num(f.threshold, digits)}</td><td>{escape(f.units)}</td>'
        f'<td class="num">{_num(f.tolerance, 3)}</td><td>{_gids(f.global_ids)}</td>'
        f"<td>{escape(f.message)}{extra}</td></tr>"
    )


_FINDING_HEAD = (
    "<tr><th>status</th><th>what</th><th>storey</th><th>room / dwelling</th><th>measured</th><th></th>"
    "<th>threshold</th><th>units</th><th>tolerance</th><th>elements (GlobalId)</th><th>explanation</th></tr>"
)


def _provenance(p: dict[str, Any]) -> str:
    ifc = p["ifc"]
    geo = p.get("georeferencing") or {}
    rows = [
        ("IFC file", f"{ifc['file']} ({ifc['size_bytes']:,} bytes)"),
        ("SHA-256", ifc["sha256"]),
        ("schema", p["schema"]),
        ("authoring tool", f"{ifc['originating_system']} / {ifc['preprocessor_version']}"),
        ("file time stamp", ifc["time_stamp"]),
        (
            "georeferencing",
            (
                f"{geo.get('method', 'none')} → {geo.get('crs', '?')}, origin {geo.get('origin')}, "
                f"rotation {geo.get('rotation_deg')}°, scale {geo.get('scale')}"
                + (f"; notes: {'; '.join(geo.get('notes', []))}" if geo.get("notes") else "")
            )
            if geo
            else "not used (no building geometry)",
        ),
        (
            "rule set",
            f"{p['rule_set']['name']} {p['rule_set']['version']} ({p['rule_set']['date']}), "
            f"sha256 {p['rule_set']['sha256'][:16]}…",
        ),
        (
            "IDS",
            "; ".join(f"{i['file']} “{i['title']}” version {i['version'] or '—'}" for i in p["ids"])
            or "none",
        ),
        ("checker", ", ".join(f"{k} {v}" for k, v in p["checker"]["versions"].items())),
        (
            "geometry kernel",
            str(p["geometry"]["kernel"]) + (f" — {p['geometry']['note']}" if p["geometry"]["note"] else ""),
        ),
        ("checked at (UTC)", p["checked_at"]),
    ]
    ctx = p.get("context")
    if ctx:
        neigh = ", ".join(n["building_id"] for n in ctx.get("neighbours", [])) or "none found"
        rows.append(
            (
                "city model (context)",
                f"{ctx['file']} ({ctx['buildings']} buildings, {ctx['crs']}); replaces "
                f"{', '.join(ctx.get('replaced_buildings', [])) or 'nothing'}; neighbours {neigh}"
                + (f"; {ctx['reason']}" if ctx.get("reason") else ""),
            )
        )
    else:
        rows.append(("city model (context)", "none given: the Titre I rules are not checkable"))
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _rules_table(report: PermitReport) -> str:
    rows = []
    for r in report.rules:
        c = r["counts"]
        verdict = (
            "fail"
            if c["fail"]
            else ("not_checkable" if c["not_checkable"] else ("pass" if c["pass"] else "not_checkable"))
        )
        note = "" if r["in_force"] or "not in force" in r["rru_version"] else " (not in force)"
        rows.append(
            f"<tr><td>{_badge(verdict)}</td><td><b>{escape(r['id'])}</b><br>{escape(r['title'])}</td>"
            f"<td>{escape(r['reference'])}<br><span class=muted>{escape(r['source'])}</span></td>"
            f"<td>{escape(r['rru_version'])}{note}</td>"
            f"<td>[{escape(r['status'])}]</td><td>{escape(r['severity'])}</td>"
            f'<td class="num">{c["fail"]}</td><td class="num">{c["not_checkable"]}</td>'
            f'<td class="num">{c["pass"]}</td></tr>'
        )
    return (
        "<table><tr><th>verdict</th><th>rule</th><th>legal reference</th><th>version</th><th>confidence</th>"
        "<th>severity</th><th>fail</th><th>not checkable</th><th>pass</th></tr>" + "".join(rows) + "</table>"
    )


def _ids_section(report: PermitReport) -> str:
    if not report.ids:
        return "<p>No IDS file was given.</p>"
    parts = []
    for res in report.ids:
        rows = []
        for s in res["specifications"]:
            reqs = []
            for q in s["requirements"]:
                fails = "".join(
                    f"<li><span class=gid>{escape(f['global_id'] or f['step_id'])}</span> "
                    f"{escape(f['ifc_class'])} "
                    f"“{escape(f['name'])}”: {escape(f['reason'])}</li>"
                    for f in q["failures"][:10]
                )
                more = f"<li>… and {q['n_failed'] - 10} more</li>" if q["n_failed"] > 10 else ""
                reqs.append(
                    f"<div>{_badge(q['status'])} {escape(q['description'])}<ul>{fails}{more}</ul></div>"
                )
            rows.append(
                f"<tr><td>{_badge(s['status'])}</td><td><b>{escape(s['name'])}</b><br>"
                f"<span class=muted>{escape(s['description'])}</span></td><td>{escape(s['usage'])}</td>"
                f'<td class="num">{s["applicable"]}</td><td class="num">{s["failed"]}</td>'
                f"<td>{''.join(reqs)}</td></tr>"
            )
        parts.append(
            f"<h3>{escape(res['file'])} — “{escape(res['title'])}” {_badge(res['status'])}</h3>"
            "<table><tr><th>status</th><th>specification</th><th>usage</th><th>applicable</th><th>failing</th>"
            "<th>requirements and failing elements</th></tr>" + "".join(rows) + "</table>"
        )
    return "".join(parts)


def _topic_block(t: Topic, report: PermitReport, n: int) -> str:
    img = ""
    if t.snapshot is not None:
        data = base64.b64encode(t.snapshot.png).decode("ascii")
        cut = f" Cut-away above z = {t.cut_z_m:.2f} m." if t.cut_z_m is not None else ""
        img = (
            f'<img alt="snapshot of issue {n}" src="data:image/png;base64,{data}">'
            '<p class="muted">Elements concerned in colour (red: fails, orange: not checkable).'
            f"{escape(cut)}</p>"
        )
    rows = "".join(_finding_row(report.findings[i]) for i in t.finding_indices)
    return (
        f'<div class="topic" id="issue-{n}"><h3>{n}. {escape(t.title)} {_badge(t.status)}</h3>'
        f"<p class=muted>{escape(t.topic_type)} · priority {escape(t.priority)} · "
        f"{escape(t.extra['reference'])}</p>"
        f"{img}<table>{_FINDING_HEAD}{rows}</table></div>"
    )


def render_html(report: PermitReport, topics: list[Topic]) -> str:
    """The report page as a string (UTF-8 HTML5)."""
    p = report.provenance
    c = report.counts
    title = f"Permit pre-check — {p['ifc']['file']}"
    passes = [f for f in report.findings if f.status == "pass"]
    summary = (
        f"<p>Overall: {_badge(report.status)} — {c['fail']} failing, {c['not_checkable']} not checkable, "
        f"{c['pass']} passing finding(s); {c['failing']} failure(s) of severity error/warning decide the "
        "verdict. "
        "“Not checkable” means the model lacks the data; it never counts as a pass. "
        "This is a pre-check to help a review, not a legal decision.</p>"
    )
    issues = "".join(_topic_block(t, report, k + 1) for k, t in enumerate(topics)) or "<p>No issues.</p>"
    pass_rows = "".join(f"<tr><td>{escape(f.rule_id)}</td>{_finding_row(f)[4:]}" for f in passes)
    pass_table = (
        f"<table><tr><th>rule</th>{_FINDING_HEAD[4:]}{pass_rows}</table>" if passes else "<p>None.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>{summary}"
        f'<h2 id="provenance">Provenance</h2>{_provenance(p)}'
        f'<h2 id="rules">Summary per rule</h2>{_rules_table(report)}'
        f'<h2 id="ids">Information requirements (IDS)</h2>{_ids_section(report)}'
        f'<h2 id="issues">Issues ({len(topics)})</h2>{issues}'
        f'<h2 id="passed">Passing checks ({len(passes)})</h2>{pass_table}'
        "</body></html>\n"
    )
