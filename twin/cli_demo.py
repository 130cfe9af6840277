"""``twin demo``: the main job end to end on the generated sample district.

Part of the entry-point layer (used by :mod:`twin.cli` only): generate the
district, write it as the files a city would deliver (CityJSON, footprints,
streets, one IFC building), ingest them into one model, place the IFC
building into the district, and write the model and its exports.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd

__all__ = ["run_demo"]


def run_demo(
    out: Path,
    *,
    n_buildings: int = 400,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[Path, str]:
    """Run the demo and return the written files with a description of each."""
    from bim_ingest.activities import activities_from_attributes
    from bim_ingest.network import read_network_layers
    from bim_ingest.registry import read
    from data import generate_district, write_district, write_ifc_building
    from twin.export import to_cityjson
    from twin.store import to_geoparquet

    steps = 12
    tick = progress or (lambda step, done, total: None)
    out = Path(out)
    inputs = out / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    written: dict[Path, str] = {}

    tick("generating the sample district", 0, steps)
    district = generate_district(n_buildings, seed=seed)
    files = write_district(district, inputs)
    for path in files.values():
        written[Path(path)] = "generated input"

    tick("ingesting CityJSON", 1, steps)
    model = read(files["cityjson"])
    model.name = f"sample district ({n_buildings} buildings, seed {seed})"
    model.activities = activities_from_attributes(model)
    nodes, links = read_network_layers(files["streets_gpkg"], crs=model.crs)
    model.nodes = gpd.GeoDataFrame(nodes, geometry="geometry", crs=model.crs)
    model.links = gpd.GeoDataFrame(links, geometry="geometry", crs=model.crs)

    tick("finding party walls", 2, steps)
    model = model.with_party_walls()

    tick("writing and ingesting the IFC building", 3, steps)
    target = _ifc_candidate(model)
    ifc_path = write_ifc_building(district, target, inputs / f"{target}.ifc")
    written[Path(ifc_path)] = f"IFC4 model of building {target}"
    try:
        from bim_ingest.ifc import place_ifc_building, read_ifc_isolated
    except ImportError:  # IFC ingest not installed in this build
        placed = model
    else:
        bim = read_ifc_isolated(ifc_path, crs=model.crs)
        placed = place_ifc_building(model, bim, replace=[target])

    tick("saving the model", 4, steps)
    gpkg = out / "district.gpkg"
    placed.save(gpkg)
    written[gpkg] = (
        f"model: {len(placed.buildings)} buildings, {len(placed.surfaces)} surfaces "
        f"({int((placed.surfaces['boundary'] == 'party').sum())} party walls), "
        f"{len(placed.links)} links — open in QGIS"
    )

    tick("energy: monthly heat balance of every building", 5, steps)
    from simulation.energy import run_energy

    energy = run_energy(placed)
    energy_path = out / "energy.gpkg"
    energy.to_file(energy_path)
    median = energy.totals.get("heating_need_kwh_m2_median", float("nan"))
    written[energy_path] = (
        f"heating need per building ({energy.totals['heating_need_kwh'] / 1e6:,.1f} GWh/yr, "
        f"median {median:.0f} kWh/m²) — colour by heating_need_kwh_m2 in QGIS"
    )

    tick("mobility: assignment, a closed street, accessibility", 6, steps)
    written.update(_mobility_what_if(placed, out))

    tick("soil: a Uccle design storm, baseline and a de-sealed street", 7, steps)
    written.update(_soil_what_if(placed, out))

    tick("scenario: renovate pre-1945 terraced houses, close Rue H1 to cars", 8, steps)
    scenario_files, scenario_run = _scenario_what_if(placed, out)
    written.update(scenario_files)

    tick("rendering images of the results", 9, steps)
    written.update(_images(placed, energy, scenario_run, out))

    tick("exporting CityJSON and GeoParquet", 10, steps)
    cj = out / "district_export.city.json"
    to_cityjson(placed, cj)
    written[cj] = "CityJSON 2.0 export"
    gp = out / "geoparquet"
    to_geoparquet(placed, gp)
    written[gp] = "GeoParquet export (one file per table)"
    tick("done", steps, steps)
    return written


def _ifc_candidate(model) -> str:
    """A terraced house with two party walls: the building the demo re-designs in IFC."""
    s = model.surfaces
    party = s[s["boundary"] == "party"].groupby("building_id")["neighbour_id"].nunique()
    terraced = model.buildings[model.buildings["typology"] == "terraced"]["building_id"]
    both = [b for b in terraced if party.get(b, 0) >= 2]
    return both[0] if both else str(model.buildings["building_id"].iloc[0])


def _images(model, energy, scenario_run, out: Path) -> dict[Path, str]:
    """PNGs of heat need, PEB-like class, traffic, accessibility and the scenario's before/after."""
    import pandas as pd
    import pyogrio

    from viewer.demo_images import write_demo_images

    table = scenario_run.results["energy"]
    before, after = (
        pd.DataFrame(
            {
                "building_id": table["building_id"],
                "heating_need_kwh_m2": table[f"heating_need_kwh_m2_{side}"],
                "peb_class_estimate": table[f"peb_class_estimate_{side}"],
            }
        )
        for side in ("base", "variant")
    )
    paths = write_demo_images(
        model,
        energy,
        pyogrio.read_dataframe(out / "mobility_flows.gpkg", read_geometry=False),
        before,
        after,
        out / "images",
        accessibility=pyogrio.read_dataframe(out / "accessibility.gpkg", read_geometry=False),
    )
    what = {
        "heat_need": "3D view coloured by heating need (kWh/m²·yr)",
        "peb_class": "3D view coloured by PEB-like class (estimate)",
        "traffic_flow": "car flows on the streets",
        "traffic_change": "change of car flows with the busiest street closed",
        "renovation_before_after": "the example scenario's renovation: before | after, same colour scale",
        "renovation_change": "change of heating need with the example scenario",
        "accessibility": "walking minutes to the nearest service",
    }
    return {Path(p): what.get(Path(p).stem, "image of the results") for p in paths}


def _scenario_what_if(model, out: Path):
    """The bundled example scenario (scenarios/examples) run on the demo district."""
    from importlib.resources import files

    import yaml

    from scenarios import Scenario, run

    spec_file = files("scenarios") / "examples" / "renovate_pre1945_terraced.yaml"
    data = yaml.safe_load(spec_file.read_text())
    known = set(model.links["link_id"].astype(int))
    closure = data["measures"]["mobility"][0]
    if not set(closure["link_ids"]) <= known:  # another district size: close a segment it has
        closure["link_ids"] = _interior_segment(model.links)
        data["name"] = "renovate-pre1945-terraced-close-a-street"
    result = run(Scenario.from_dict(data, source=str(spec_file)), model)
    folder = result.save(out / "runs")
    e, m = result.totals["energy"], result.totals["mobility"]
    files = {
        folder: f"scenario run {result.run_id}: heat need {e['d_heating_need_kwh'] / 1e6:+.2f} GWh/yr "
        f"({e['buildings_improving_class']} buildings improve their class), car traffic "
        f"{m['d_veh_km']:+.1f} veh·km — `twin scenario list {out / 'runs'}`"
    }
    return files, result


def _interior_segment(links) -> list[int]:
    """Both directions of a street segment between two crossings (its closure keeps the grid connected)."""
    degree = links["from_node"].value_counts()
    inner = links[links["from_node"].map(degree).ge(3) & links["to_node"].map(degree).ge(3)]
    pick = (inner if len(inner) else links).iloc[0]
    back = links[(links["from_node"] == pick["to_node"]) & (links["to_node"] == pick["from_node"])]
    return [int(pick["link_id"]), *map(int, back["link_id"])]


def _soil_what_if(model, out: Path) -> dict[Path, str]:
    """Storm on the district's soil, baseline vs an axis street turned into a permeable square."""
    import json

    from simulation.soil import build_soil_model, deseal_polygon, diff_storms, run_model_storm
    from twin.atomic import atomic_text_file

    soil = build_soil_model(model)
    axis = model.links[model.links["road_class"] == "axis"]
    street = (axis if len(axis) else model.links).geometry.iloc[0]
    square = street.buffer(8.0, cap_style="flat")
    base = run_model_storm(model, storm="uccle_1h_10y", soil=soil)
    variant = run_model_storm(model, storm="uccle_1h_10y", soil=deseal_polygon(soil, square))
    diff = diff_storms(base, variant)
    path = out / "soil_storm.json"
    with atomic_text_file(path) as fh:
        json.dump(
            {
                "storm": "uccle_1h_10y",
                "what_if": f"de-sealed {square.area:,.0f} m² of street around link "
                f"{int(axis.iloc[0]['link_id']) if len(axis) else int(model.links.iloc[0]['link_id'])}",
                "baseline": base["totals"],
                "variant": variant["totals"],
                "difference": diff,
            },
            fh,
            indent=2,
        )
    return {
        path: f"soil storm (uccle_1h_10y): de-sealing {square.area:,.0f} m² of street infiltrates "
        f"{diff['delta_infiltrated_m3']:+.1f} m³ and changes runoff by {diff['delta_runoff_m3']:+.1f} m³"
    }


def _mobility_what_if(model, out: Path) -> dict[Path, str]:
    """Gravity demand, equilibrium flows, the busiest street closed to cars, and accessibility."""
    import pyogrio

    from simulation.mobility import accessibility, assign, diff_assignments, edits, gravity_demand
    from twin.atomic import atomic_path

    od = gravity_demand(model)
    base = assign(model, od)
    busiest = int(base.links["flow"].idxmax())
    closed = edits.close_links(model, [busiest])
    variant = assign(closed, od)
    diff = diff_assignments(base, variant)
    links = model.links.set_index("link_id").join(diff.links[["flow_base", "flow_variant", "d_flow"]])
    flows_path = out / "mobility_flows.gpkg"
    with atomic_path(flows_path) as tmp:
        pyogrio.write_dataframe(links.reset_index(), tmp, layer="link_flows", driver="GPKG")
    access = accessibility(model)
    access_path = out / "accessibility.gpkg"
    with atomic_path(access_path) as tmp:
        pyogrio.write_dataframe(access, tmp, layer="accessibility", driver="GPKG")
    t = diff.totals
    return {
        flows_path: f"car flows (Algorithm B, gap {base.relative_gap:.1e}); link {busiest} closed: "
        f"{t.get('d_veh_h', float('nan')):+.2f} veh·h, {t.get('d_veh_km', float('nan')):+.1f} veh·km, "
        f"{t['links_changed']} links change — colour by d_flow",
        access_path: "minutes on foot and by bike to the nearest school/shop/doctor/supermarket per building",
    }
