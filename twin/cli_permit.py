"""``twin check permit``: the permit pre-check of an IFC submission.

Part of the entry-point layer (registered in :mod:`twin.cli`)::

    twin check permit house.ifc --out check/
    twin check permit house.ifc --ids data/permit/brussels_submission.ids --context district.gpkg --out check/
    twin check permit house.ifc --rules my_rules.yaml --bcf-version 2.1 --out check/

Writes ``report.html``, ``report.json`` and ``findings.bcf`` into ``--out``.
Exit code 0 when no finding fails, 3 when findings fail, 1 on error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli_common import State, errors, out, progress

__all__ = ["check_app", "permit", "EXIT_FINDINGS_FAIL"]

#: Exit code when the check ran and findings fail.
EXIT_FINDINGS_FAIL = 3

check_app = typer.Typer(help="Checks of submitted models (permit pre-check).", no_args_is_help=True)


@check_app.callback()
def _check() -> None:
    """Checks of submitted models (permit pre-check)."""


@check_app.command("permit")
def permit(
    model: Annotated[
        Path, typer.Argument(help="The IFC model (.ifc or .ifczip); parsed in an isolated process.")
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for report.html, report.json, findings.bcf.")
    ],
    ids: Annotated[
        list[Path] | None,
        typer.Option(
            "--ids",
            help="IDS 1.0 file to validate against (repeatable); default: the Brussels "
            "submission IDS shipped in data/permit/.",
        ),
    ] = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Rule-set YAML (default data/permit/rules_brussels.yaml).")
    ] = None,
    context: Annotated[
        Path | None,
        typer.Option(
            "--context", help="City model GeoPackage with the neighbours (twin demo's district.gpkg)."
        ),
    ] = None,
    bcf_version: Annotated[str, typer.Option("--bcf-version", help="BCF version: 3.0 or 2.1.")] = "3.0",
    no_ids: Annotated[bool, typer.Option("--no-ids", help="Skip the IDS gate entirely.")] = False,
    no_snapshots: Annotated[
        bool,
        typer.Option("--no-snapshots", help="Do not render PNG snapshots (faster; viewpoints keep cameras)."),
    ] = False,
) -> None:
    """Pre-check an IFC permit submission: IDS gate, Brussels rules, HTML/JSON/BCF reports."""
    with errors():
        from bim_ingest.checks import DEFAULT_IDS, check_permit
        from twin.errors import TwinError

        if bcf_version not in ("3.0", "2.1"):
            raise TwinError(f"--bcf-version must be 3.0 or 2.1, not {bcf_version!r}.")
        ids_paths = [] if no_ids else (list(ids) if ids else [DEFAULT_IDS])
        with progress() as tick:
            report = check_permit(
                model,
                ids_paths=ids_paths,
                rules_path=rules,
                context_path=context,
                out_dir=out_dir,
                bcf_version=bcf_version,
                snapshots=not no_snapshots,
                progress=tick,
            )
    c = report.counts
    if not State.quiet:
        out.print(
            f"{model.name}: {report.status.upper()} — {c['fail']} failing, "
            f"{c['not_checkable']} not checkable, {c['pass']} passing finding(s); {c['topics']} BCF topic(s)",
            markup=False,
            highlight=False,
        )
        for path in sorted(report.files.values()):
            out.print(f"  wrote {path}", markup=False, highlight=False)
    if report.status == "fail":
        raise typer.Exit(EXIT_FINDINGS_FAIL)
