"""Soil water on the city's voxel grid: the Richards equation, sealing, storms and what-ifs.

The concept: below the city lies a :class:`~simulation.soil.grid.SoilModel` — a regular voxel grid
(model CRS, depth below the ground surface) with a hydraulic material per cell (van Genuchten–Mualem,
Haverkamp or Gardner; defaults from the Carsel & Parrish 1988 texture table) and a sealing mask at
the surface (building footprints and road surfaces).  A storm is a rain series on the open columns;
the Richards equation (mixed form, modified Picard of Celia et al. 1990, z-line preconditioned CG;
kernel :mod:`kernels.richards`) moves the water, excess rain runs off — to the sewer, or first to
neighbouring open columns (``routing="neighbours"``, :func:`surface_routing`) — and the bottom face
takes the recharge.

Three ways in:

* :func:`run_spec` — a self-contained JSON SPEC (column or box), for ``twin soil run``;
* :func:`build_soil_model` + :func:`run_model_storm` — the model's own soil, with the what-if edits
  :func:`deseal_polygon` and :func:`add_green_roof`, diffed by :func:`diff_storms`;
* :func:`run_richards` — the arrays directly (:class:`RichardsProblem`).

Method, benchmarks and parameters: ``shared/reference/soil.md``.
"""

from simulation.soil.grid import (
    LANE_WIDTH_M,
    GreenRoof,
    SoilModel,
    brussels_default_horizons,
    build_soil_model,
    cells_in_polygon,
    sealing_mask,
)
from simulation.soil.materials import TEXTURES, Material, carsel_parrish, carsel_parrish_table, params_array
from simulation.soil.solver import (
    RichardsProblem,
    RichardsResult,
    SolverOptions,
    run_richards,
    surface_routing,
)
from simulation.soil.spec import SoilSpec, load_spec, problem_from_spec, run_spec, write_outputs
from simulation.soil.storm import (
    add_green_roof,
    deseal_polygon,
    design_storm_names,
    diff_storms,
    prepare_storm,
    run_model_storm,
    uccle_design_storm,
)

__all__ = [
    "LANE_WIDTH_M",
    "TEXTURES",
    "GreenRoof",
    "Material",
    "RichardsProblem",
    "RichardsResult",
    "SoilModel",
    "SoilSpec",
    "SolverOptions",
    "add_green_roof",
    "brussels_default_horizons",
    "build_soil_model",
    "carsel_parrish",
    "carsel_parrish_table",
    "cells_in_polygon",
    "design_storm_names",
    "deseal_polygon",
    "diff_storms",
    "load_spec",
    "params_array",
    "prepare_storm",
    "problem_from_spec",
    "run_model_storm",
    "run_richards",
    "run_spec",
    "sealing_mask",
    "surface_routing",
    "uccle_design_storm",
    "write_outputs",
]
