"""The ``twin`` command line: a thin layer over the Python API.

Exit codes: 0 success, 1 failure (bad input, failed run), 2 usage error.
Errors are printed as one line naming the file and the problem; set
``TWIN_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import json
import sys
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from twin.cli_common import State as _State
from twin.cli_common import errors as _errors
from twin.cli_common import out as _out
from twin.cli_common import progress as _progress
from twin.cli_common import show_warning as _show_warning

__all__ = ["app", "main"]

app = typer.Typer(
    name="twin",
    help="Urban digital twin and BIM engine for the Brussels-Capital Region.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries.")] = False,
) -> None:
    _State.quiet = quiet
    warnings.showwarning = _show_warning


def _parse_place(text: str | None) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        parts = [float(v) for v in text.split(",")]
    except ValueError as err:
        raise typer.BadParameter(
            "expected X,Y[,ROTATION_DEG] in metres and degrees", param_hint="--place"
        ) from err
    if len(parts) not in (2, 3):
        raise typer.BadParameter("expected X,Y[,ROTATION_DEG]", param_hint="--place")
    return (parts[0], parts[1], parts[2] if len(parts) == 3 else 0.0)


class OnDuplicate(StrEnum):
    error = "error"
    replace = "replace"
    keep = "keep"


@app.command()
def ingest(
    inputs: Annotated[
        list[Path], typer.Argument(help="Input files: CityJSON, CityGML, IFC, footprints, models.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model GeoPackage to write.")] = None,  # type: ignore[assignment]
    into: Annotated[
        Path | None,
        typer.Option(help="Existing model to place the inputs into (e.g. an IFC building)."),
    ] = None,
    replace: Annotated[
        list[str] | None, typer.Option(help="Building id(s) of --into replaced by the inputs.")
    ] = None,
    crs: Annotated[str | None, typer.Option(help="Model CRS (default EPSG:31370).")] = None,
    source_crs: Annotated[str | None, typer.Option(help="CRS of inputs that declare none.")] = None,
    lod: Annotated[str | None, typer.Option(help="Level of detail to read (default: highest).")] = None,
    height_field: Annotated[str | None, typer.Option(help="Footprints: height attribute.")] = None,
    storeys_field: Annotated[str | None, typer.Option(help="Footprints: storey-count attribute.")] = None,
    id_field: Annotated[str | None, typer.Option(help="Footprints: id attribute.")] = None,
    default_height: Annotated[
        float | None, typer.Option(help="Footprints: height (m) for features without one.")
    ] = None,
    place: Annotated[
        str | None,
        typer.Option(help="IFC without georeferencing: X,Y[,ROTATION_DEG] in the model CRS."),
    ] = None,
    on_duplicate: Annotated[OnDuplicate, typer.Option(help="Ids present twice.")] = OnDuplicate.error,
    party_walls: Annotated[bool, typer.Option(help="Detect party walls.")] = True,
) -> None:
    """Read city/BIM files into one model GeoPackage (several inputs are merged)."""
    if out is None:
        raise typer.BadParameter("--out is required", param_hint="--out")
    with _errors():
        from bim_ingest.registry import ingest as do_ingest
        from twin.store import load_gpkg

        options = {
            "source_crs": source_crs,
            "lod": lod,
            "height_field": height_field,
            "storeys_field": storeys_field,
            "id_field": id_field,
            "default_height_m": default_height,
            "place": _parse_place(place),
        }
        with _progress() as progress:
            model = do_ingest(
                inputs,
                crs=crs,
                on_duplicate=on_duplicate.value,
                party_walls=party_walls and into is None,
                progress=progress,
                **options,
            )
            if into is not None:
                from bim_ingest.ifc import place_ifc_building

                district = load_gpkg(into)
                model = place_ifc_building(district, model.to_crs(district.crs), replace=replace or None)
            model.save(out)
        if not _State.quiet:
            s = model.summary()
            _out.print(
                f"wrote {out}: {s['buildings']} buildings, {s['surfaces']} surfaces, "
                f"{s['party_walls']} party-wall surfaces, CRS {s['crs']}"
            )


@app.command()
def info(
    model_path: Annotated[Path, typer.Argument(help="Model GeoPackage.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Counts, CRS, extent and sources of a model."""
    with _errors():
        from twin.store import load_gpkg

        model = load_gpkg(model_path)
        summary = model.summary()
        if model.bim:
            from bim_ingest.ifc import ifc_report

            summary["bim"] = ifc_report(model)
        if as_json:
            _out.print_json(json.dumps(summary, default=str))
            return
        table = Table(title=f"{model_path}", show_header=False)
        for key in (
            "name",
            "crs",
            "crs_name",
            "buildings",
            "surfaces",
            "party_walls",
            "nodes",
            "links",
            "activities",
            "extent",
        ):
            table.add_row(key, str(summary[key]))
        _out.print(table)
        areas = Table("surface kind/boundary", "area m²")
        for k, v in summary["surface_area_m2"].items():
            areas.add_row(k, f"{v:,.1f}")
        _out.print(areas)
        for src in summary["sources"]:
            _out.print(
                f"source: {src.get('path')} ({src.get('format')}, {src.get('buildings')} buildings, "
                f"CRS {src.get('crs_declared')})"
            )
        if "bim" in summary:
            _out.print_json(json.dumps(summary["bim"], default=str))


def _read_scenario_measures(path: Path) -> list[dict]:
    """The ``measures`` list of a YAML/JSON scenario file (energy measures only, for now)."""
    import yaml

    from twin.errors import ScenarioValidationError

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ScenarioValidationError(f"{path.name}: cannot read the scenario: {err}") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("measures", []), list):
        raise ScenarioValidationError(f"{path.name}: a scenario is a mapping with a 'measures' list.")
    return doc.get("measures", [])


@app.command()
def energy(
    target: Annotated[str, typer.Argument(help="Model GeoPackage, or the word 'building'.")],
    building_file: Annotated[
        Path | None, typer.Argument(help="With 'building': the one-building JSON file.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Results: .gpkg, .csv or .parquet.")] = None,
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario (YAML/JSON) whose measures are applied first.")
    ] = None,
) -> None:
    """Heating need of every building (monthly ISO 52016-1 balance), or of one building from a file.

    ``twin energy MODEL.gpkg --out results.gpkg`` runs the whole model;
    ``twin energy building FILE.json`` prints one building's monthly balance as JSON.
    """
    with _errors():
        if target == "building":
            if building_file is None:
                raise typer.BadParameter("give the building JSON file", param_hint="FILE")
            from simulation.energy import building_balance, load_building_spec

            result = building_balance(load_building_spec(building_file))
            sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
            return
        if out is None:
            raise typer.BadParameter("--out is required for a model run", param_hint="--out")
        from simulation.energy import run_energy
        from simulation.measures_energy import apply_measures
        from twin.store import load_gpkg

        model = load_gpkg(Path(target))
        if scenario is not None:
            model = apply_measures(model, _read_scenario_measures(scenario))
        result = run_energy(model)
        result.to_file(out)
        if not _State.quiet:
            table = Table(
                title=f"energy: {target}" + (f" + {scenario.name}" if scenario else ""), show_header=False
            )
            for key, value in result.summary_rows():
                table.add_row(key, value)
            _out.print(table)
            _out.print(f"wrote {out}")


class Routing(StrEnum):
    sewer = "sewer"
    neighbours = "neighbours"


soil_app = typer.Typer(help="3D soil water: Richards flow under the city's sealing.", no_args_is_help=True)
app.add_typer(soil_app, name="soil")


@soil_app.command("run")
def soil_run(
    target: Annotated[Path, typer.Argument(help="SPEC.json (a column or box), or a model GeoPackage.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    storm: Annotated[
        str, typer.Option(help="Model runs: a bundled Uccle design storm (e.g. uccle_1h_10y).")
    ] = "uccle_1h_10y",
    routing: Annotated[
        Routing,
        typer.Option(help="Model runs: runoff to the sewer, or run-on to neighbouring open cells first."),
    ] = Routing.sewer,
) -> None:
    """Run a soil SPEC, or a design storm on a model's own soil; prints the water balance."""
    with _errors():
        out.mkdir(parents=True, exist_ok=True)
        if target.suffix.lower() == ".gpkg":
            from simulation.soil import design_storm_names, run_model_storm
            from twin.store import load_gpkg

            if storm not in design_storm_names():
                raise typer.BadParameter(f"choose one of {design_storm_names()}", param_hint="--storm")
            result = run_model_storm(load_gpkg(target), storm=storm, out_dir=out, routing=routing.value)
            summary = {"storm": storm, **result["totals"], "mass_balance_error": result["mass_balance_error"]}
        else:
            from simulation.soil import run_spec

            summary = run_spec(target, out)
        if not _State.quiet:
            _out.print_json(json.dumps(summary, default=str))
            _out.print(f"wrote {out}")


mobility_app = typer.Typer(
    help="Street network flows and 15-minute-city accessibility.", no_args_is_help=True
)
app.add_typer(mobility_app, name="mobility")


class Algorithm(StrEnum):
    b = "b"
    bfw = "bfw"
    cfw = "cfw"
    fw = "fw"


@mobility_app.command("assign")
def mobility_assign(
    model_path: Annotated[
        Path | None, typer.Argument(help="Model GeoPackage (its network and demand).")
    ] = None,
    tntp_net: Annotated[Path | None, typer.Option(help="TNTP _net file.")] = None,
    tntp_trips: Annotated[Path | None, typer.Option(help="TNTP _trips file.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Link flows CSV.")] = Path("flows.csv"),
    algorithm: Annotated[
        Algorithm, typer.Option(help="b: Algorithm B (default, to 1e-10); bfw/cfw/fw: Frank-Wolfe variants.")
    ] = Algorithm.b,
    gap: Annotated[float | None, typer.Option(help="Target relative gap.")] = None,
    toll_factor: Annotated[float | None, typer.Option(help="TNTP: generalised-cost toll factor.")] = None,
    distance_factor: Annotated[
        float | None, typer.Option(help="TNTP: generalised-cost distance factor.")
    ] = None,
    max_iter: Annotated[int | None, typer.Option(help="Iteration limit.")] = None,
) -> None:
    """User-equilibrium traffic assignment (BPR costs) on a TNTP network or a model's streets."""
    with _errors():
        from twin.cli_mobility import mobility_assign_model, mobility_assign_tntp

        with _progress() as progress:
            if tntp_net is not None or tntp_trips is not None:
                if tntp_net is None or tntp_trips is None:
                    raise typer.BadParameter("give both --tntp-net and --tntp-trips", param_hint="--tntp-net")
                result = mobility_assign_tntp(
                    tntp_net,
                    tntp_trips,
                    out=out,
                    algorithm=algorithm.value,
                    gap=gap,
                    toll_factor=toll_factor,
                    distance_factor=distance_factor,
                    max_iter=max_iter,
                    progress=progress,
                )
            elif model_path is not None:
                result = mobility_assign_model(
                    model_path,
                    out=out,
                    algorithm=algorithm.value,
                    gap=gap,
                    max_iter=max_iter,
                    progress=progress,
                )
            else:
                raise typer.BadParameter("give MODEL.gpkg or --tntp-net/--tntp-trips", param_hint="MODEL")
        if not _State.quiet:
            for line in result["lines"]:
                _out.print(line, highlight=False, soft_wrap=True)


@mobility_app.command("access")
def mobility_access_cmd(
    model_path: Annotated[Path, typer.Argument(help="Model GeoPackage.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Accessibility GeoPackage.")],
) -> None:
    """Walking and cycling minutes to the nearest services, and services within 10 and 15 minutes."""
    with _errors():
        from twin.cli_mobility import mobility_access

        result = mobility_access(model_path, out=out)
        if not _State.quiet:
            for line in result["lines"]:
                _out.print(line, highlight=False, soft_wrap=True)


class ExportFormat(StrEnum):
    cityjson = "cityjson"
    gpkg = "gpkg"
    geoparquet = "geoparquet"


@app.command()
def export(
    model_path: Annotated[Path, typer.Argument(help="Model GeoPackage.")],
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="Output format.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (folder for geoparquet).")],
) -> None:
    """Export a model as CityJSON 2.0, GeoPackage or GeoParquet."""
    with _errors():
        from twin.export import to_cityjson
        from twin.store import load_gpkg, save_gpkg, to_geoparquet

        model = load_gpkg(model_path)
        if format is ExportFormat.cityjson:
            to_cityjson(model, out)
        elif format is ExportFormat.gpkg:
            save_gpkg(model, out)
        else:
            to_geoparquet(model, out)
        if not _State.quiet:
            _out.print(f"wrote {out}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("twin-demo"),
    buildings: Annotated[int, typer.Option(min=1, help="Number of buildings.")] = 400,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate the sample district, ingest it, run what exists, write outputs to OUT."""
    with _errors():
        from twin.cli_demo import run_demo

        with _progress() as progress:
            written = run_demo(out, n_buildings=buildings, seed=seed, progress=progress)
        if not _State.quiet:
            _out.print(f"wrote {len(written)} outputs:")
            for path, what in written.items():
                _out.print(f"  {path}  —  {what}", soft_wrap=True, highlight=False)


# ---- sub-command groups defined in their own modules (twin/cli_*.py) ----
# (one import + one add_typer line per group, keep this block sorted)
from twin.cli_permit import check_app  # noqa: E402
from twin.cli_scenario import scenario_app  # noqa: E402
from twin.cli_service import keys_app, serve, worker  # noqa: E402
from twin.cli_view import view  # noqa: E402

app.add_typer(check_app, name="check")
app.add_typer(keys_app, name="keys")
app.add_typer(scenario_app, name="scenario")
app.command("serve")(serve)
app.command("view")(view)
app.command("worker")(worker)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
