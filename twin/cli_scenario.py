"""``twin scenario``: run, compare and list what-if scenarios (entry-point layer).

Thin commands over :mod:`scenarios`: ``run`` (one spec against a model),
``sweep`` (many specs, in this process or on a Dask cluster), ``diff`` (two
saved runs), ``list`` (the runs of a folder) and ``schema`` (the JSON Schema
of scenario files).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from twin.cli_common import State, errors, out, progress

__all__ = ["scenario_app"]

scenario_app = typer.Typer(
    help="What-if scenarios: measures on a copy of a model, simulations, diffs against the baseline.",
    no_args_is_help=True,
)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


@scenario_app.command("run")
def scenario_run(
    spec: Annotated[Path, typer.Argument(help="Scenario file (.yaml/.yml/.json).")],
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="Base model GeoPackage (default: the spec's base_model)."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder of runs (one sub-folder per run).")
    ] = Path("runs"),
    cache_dir: Annotated[
        Path | None, typer.Option(help="Folder for cached baseline results (reused by later runs).")
    ] = None,
) -> None:
    """Run a scenario: baseline and variant, per-entity diffs and totals, saved as a run folder."""
    with errors():
        from scenarios import Scenario, load_base_model, run

        scenario = Scenario.from_file(spec)
        base = load_base_model(scenario, model)
        with progress() as tick:
            result = run(scenario, base, cache_dir=cache_dir, progress=tick)
        folder = result.save(out_dir)
        if State.quiet:
            out.print(str(folder), highlight=False)
            return
        table = Table(title=f"{scenario.name} — run {result.run_id}", show_lines=False)
        for col in ("domain", "quantity", "baseline", "variant", "change"):
            table.add_column(col, justify="right" if col in ("baseline", "variant", "change") else "left")
        for domain, name, base_v, var_v, change in result.summary_rows():
            table.add_row(domain, name, _fmt(base_v), _fmt(var_v), _fmt(change))
        out.print(table)
        for item in result.record["applied"]:
            out.print("  " + ", ".join(f"{k}={v}" for k, v in item.items()), highlight=False, soft_wrap=True)
        out.print(
            f"run saved in {folder} (results hash {result.record['results_hash'][:16]})", highlight=False
        )


@scenario_app.command("sweep")
def scenario_sweep(
    specs: Annotated[list[Path], typer.Argument(help="Scenario files (.yaml/.yml/.json).")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Base model GeoPackage.")],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder of runs (one sub-folder per run).")
    ] = Path("runs"),
    cluster: Annotated[
        str | None,
        typer.Option(
            help="'local' for a Dask LocalCluster on this machine, or a scheduler address "
            "(tcp://host:8786); default: run in this process."
        ),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes of a local cluster.")] = 2,
) -> None:
    """Run many scenarios on one model; on a Dask cluster, energy runs as (tile × scenario) tasks."""
    with errors():
        from scenarios import Scenario, load_base_model, sweep

        scenarios = [Scenario.from_file(p) for p in specs]
        base = load_base_model(scenarios[0], model)
        client = None
        if cluster is not None:
            from scenarios.distributed import make_client

            if not State.quiet:
                where = f"a local cluster of {workers} workers" if cluster == "local" else cluster
                out.print(f"starting Dask on {where}", highlight=False)
            client = make_client(cluster, workers=workers)
        try:
            with progress() as tick:
                runs = sweep(scenarios, base, out_dir=out_dir, client=client, progress=tick)
        finally:
            if client is not None:
                from scenarios.distributed import close_client

                close_client(client)
        if State.quiet:
            for r in runs:
                out.print(str(out_dir / r.run_id), highlight=False)
            return
        table = Table(title=f"{len(runs)} run(s) saved in {out_dir}")
        for col in ("run", "Δ heat kWh/yr", "Δ veh·h", "results hash"):
            table.add_column(col, justify="left" if col in ("run", "results hash") else "right")
        for r in runs:
            e, m = r.totals.get("energy", {}), r.totals.get("mobility", {})
            table.add_row(
                r.run_id,
                _fmt(_float(e.get("d_heating_need_kwh"))),
                _fmt(_float(m.get("d_veh_h"))),
                r.record["results_hash"][:16],
            )
        out.print(table)


@scenario_app.command("diff")
def scenario_diff(
    run_a: Annotated[Path, typer.Argument(help="First run folder.")],
    run_b: Annotated[Path, typer.Argument(help="Second run folder.")],
) -> None:
    """Compare the totals of two saved runs (B minus A, variant against variant)."""
    with errors():
        from scenarios import load_run

        a, b = load_run(run_a), load_run(run_b)
        table = Table(title=f"{b.run_id} minus {a.run_id}")
        for col in ("domain", "quantity", "A", "B", "B − A"):
            table.add_column(col, justify="left" if col in ("domain", "quantity") else "right")
        for domain in sorted(set(a.totals) | set(b.totals)):
            ta, tb = a.totals.get(domain, {}), b.totals.get(domain, {})
            for key in sorted(set(ta) | set(tb)):
                if not key.endswith("_variant"):
                    continue
                va, vb = _float(ta.get(key)), _float(tb.get(key))
                table.add_row(domain, key.removesuffix("_variant"), _fmt(va), _fmt(vb), _fmt(vb - va))
        same = a.record["results_hash"] == b.record["results_hash"]
        out.print(table)
        out.print("results identical" if same else "results differ", highlight=False)


def _float(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


@scenario_app.command("list")
def scenario_list(
    folder: Annotated[Path, typer.Argument(help="Folder of runs (the --out of `twin scenario run`).")] = Path(
        "runs"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per run.")] = False,
) -> None:
    """The runs saved in a folder: id, name, status, date and headline changes."""
    with errors():
        from scenarios import load_run
        from twin.errors import StoreError

        if not folder.is_dir():
            raise StoreError(f"{folder}: no such folder of runs")
        rows = []
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                r = load_run(sub)
            except StoreError:
                continue
            e = r.totals.get("energy", {})
            m = r.totals.get("mobility", {})
            rows.append(
                {
                    "run_id": r.run_id,
                    "name": r.record["name"],
                    "status": r.record["status"],
                    "created": r.record["created"],
                    "domains": sorted(r.totals),
                    "d_heating_need_kwh": e.get("d_heating_need_kwh"),
                    "d_veh_h": m.get("d_veh_h"),
                }
            )
        if as_json:
            for row in rows:
                out.print(json.dumps(row), highlight=False, soft_wrap=True)
            return
        table = Table(title=f"{len(rows)} run(s) in {folder}")
        for col in ("run", "name", "status", "created", "domains", "Δ heat kWh/yr", "Δ veh·h"):
            table.add_column(col)
        for row in rows:
            table.add_row(
                row["run_id"],
                row["name"],
                row["status"],
                row["created"],
                ",".join(row["domains"]),
                _fmt(_float(row["d_heating_need_kwh"])),
                _fmt(_float(row["d_veh_h"])),
            )
        out.print(table)


@scenario_app.command("schema")
def scenario_schema(
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")] = None,
) -> None:
    """Print the JSON Schema of scenario files."""
    with errors():
        from scenarios import schema
        from twin.atomic import atomic_text_file

        text = json.dumps(schema(), indent=2)
        if output is None:
            typer.echo(text)
        else:
            with atomic_text_file(output) as f:
                f.write(text + "\n")
