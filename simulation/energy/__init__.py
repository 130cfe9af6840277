"""Building energy: the monthly heating need of every building of a city model.

The simulation implements the monthly quasi-steady-state method of
EN ISO 52016-1 (same balance as EN ISO 13790 monthly) as fixed by the
project's reference sheet ``shared/reference/energy.md`` ("sheet §n"): per
building and month, transmission and ventilation losses
``(H_tr + H_ve)·(θ_int − θ_e)·t`` against internal and solar gains weighted
by the utilisation factor η, summed to an annual net heating need (kWh and
kWh/m² of heated floor area), with a loss breakdown by element.  Primary
energy, CO2 and a PEB-like class are derived as labelled *estimates*.

Three steps, as every simulation of the twin (ARCHITECTURE.md):

>>> import tempfile, pathlib
>>> from data import generate_district, write_district
>>> from bim_ingest.cityjson import read_cityjson
>>> path = write_district(generate_district(6, seed=0), pathlib.Path(tempfile.mkdtemp()))["cityjson"]
>>> model = read_cityjson(path).with_party_walls()
>>> arrays = prepare(model)                    # validate, typology defaults, contiguous arrays
>>> out = compute(arrays)                      # numba kernels (kernels.energy)
>>> results, totals = collect(model, arrays, out)
>>> results.crs.to_epsg(), "heating_need_kwh_m2" in results.columns
(31370, True)

or all at once, ``run_energy(model)`` → :class:`EnergyResult` (``.results``,
``.totals``, ``.to_file(path)``, ``.summary_rows()``).  One explicitly
described building: :func:`building_balance` (:func:`load_building_spec`
reads it from JSON).  Renovation measures that edit a model live in
:mod:`simulation.measures_energy`.

City data lack U-values and windows: they are filled from the bundled
Belgian typology (TABULA BE, by construction period and building type) with
``provenance`` saying so (:func:`fill_envelope`, :func:`building_defaults`).
"""

from __future__ import annotations

from simulation.energy.building import (
    BuildingSpec,
    GroundSpec,
    SurfaceSpec,
    building_balance,
    load_building_spec,
)
from simulation.energy.envelope import (
    BUILDING_OVERRIDES,
    building_defaults,
    exposed_perimeter,
    fill_envelope,
)
from simulation.energy.params import (
    PERIOD_LABELS,
    Climate,
    ClimateSpec,
    EnergyParams,
    typology_tables,
    uccle_climate,
)
from simulation.energy.prepare import (
    EnergyArrays,
    EnergyInputError,
    EnergyOutputs,
    compute,
    prepare,
)
from simulation.energy.results import (
    PEB_CLASSES,
    RESULT_COLUMNS,
    EnergyResult,
    collect,
    peb_class,
    run_energy,
    summary_rows,
)

__all__ = [
    "BUILDING_OVERRIDES",
    "PEB_CLASSES",
    "PERIOD_LABELS",
    "RESULT_COLUMNS",
    "BuildingSpec",
    "Climate",
    "ClimateSpec",
    "EnergyArrays",
    "EnergyInputError",
    "EnergyOutputs",
    "EnergyParams",
    "EnergyResult",
    "GroundSpec",
    "SurfaceSpec",
    "building_balance",
    "building_defaults",
    "collect",
    "compute",
    "exposed_perimeter",
    "fill_envelope",
    "load_building_spec",
    "peb_class",
    "prepare",
    "run_energy",
    "summary_rows",
    "typology_tables",
    "uccle_climate",
]
