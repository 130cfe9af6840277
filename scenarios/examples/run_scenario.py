"""Run a what-if scenario from Python: the researcher's path through the scenario API.

Builds the sample district of ``twin demo`` (or takes a model GeoPackage as
first argument), runs ``renovate_pre1945_terraced.yaml`` next to this file,
prints the headline changes and the ten buildings that gain most, and saves
the run folder (QGIS-ready GeoPackages + run.json) under ``runs/``.

    python scenarios/examples/run_scenario.py [MODEL.gpkg] [--out runs]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import scenarios


def sample_district(n_buildings: int = 400, seed: int = 0):
    """The district `twin demo` builds: buildings, party walls, streets and activities."""
    import tempfile

    import geopandas as gpd

    from bim_ingest.activities import activities_from_attributes
    from bim_ingest.network import read_network_layers
    from bim_ingest.registry import read
    from data import generate_district, write_district

    files = write_district(generate_district(n_buildings, seed=seed), Path(tempfile.mkdtemp()))
    model = read(files["cityjson"])
    model.activities = activities_from_attributes(model)
    nodes, links = read_network_layers(files["streets_gpkg"], crs=model.crs)
    model.nodes = gpd.GeoDataFrame(nodes, geometry="geometry", crs=model.crs)
    model.links = gpd.GeoDataFrame(links, geometry="geometry", crs=model.crs)
    return model.with_party_walls()


def main(argv: list[str] | None = None) -> scenarios.Run:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="model GeoPackage (default: the generated sample district)")
    parser.add_argument("--out", default="runs", help="folder for the run")
    args = parser.parse_args(argv)

    from twin.model import CityModel

    base = CityModel.load(args.model) if args.model else sample_district()
    spec = scenarios.Scenario.from_file(Path(__file__).with_name("renovate_pre1945_terraced.yaml"))
    run = scenarios.run(spec, base)

    energy = run.totals["energy"]
    mobility = run.totals["mobility"]
    print(f"{spec.name}: run {run.run_id}")
    before, after = energy["heating_need_kwh_base"] / 1e6, energy["heating_need_kwh_variant"] / 1e6
    print(
        f"  heat need {before:.2f} -> {after:.2f} GWh/yr ({energy['d_heating_need_kwh_m2']:+.1f} kWh/m²), "
        f"{energy['buildings_improving_class']} buildings improve their PEB-like class"
    )
    print(f"  car traffic {mobility['d_veh_h']:+.3f} veh·h, {mobility['d_veh_km']:+.2f} veh·km (peak hour)")
    gains = run.results["energy"].nsmallest(10, "d_heating_need_kwh_m2")
    columns = ["building_id", "heating_need_kwh_m2_base", "heating_need_kwh_m2_variant"]
    print(gains[columns].to_string(index=False))
    print(f"  saved in {run.save(args.out)}")
    return run


if __name__ == "__main__":
    main()
