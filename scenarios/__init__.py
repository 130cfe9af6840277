"""What-if scenarios: declarative edits of a city model, run against the baseline and diffed.

A :class:`Scenario` (YAML/JSON, validated, versioned JSON Schema from
:func:`schema`) names selections of buildings, measures per domain (energy
renovation, mobility edits, soil de-sealing and green roofs, IFC buildings)
and the simulations to run.  :func:`run` applies the measures to a copy of
the base model (the base is never changed), runs each simulation on baseline
(cached by content hash) and variant, and returns a :class:`Run` with
per-entity diffs (buildings, links, soil columns) as (geo)DataFrames, totals
and a reproducible record; :func:`sweep` runs many.

>>> import tempfile, pathlib
>>> from data import generate_district, write_district
>>> from bim_ingest.cityjson import read_cityjson
>>> path = write_district(generate_district(12, seed=0), pathlib.Path(tempfile.mkdtemp()))["cityjson"]
>>> base = read_cityjson(path).with_party_walls()
>>> spec = Scenario.from_dict({
...     "name": "walls-pre-1945",
...     "measures": {"energy": [{"measure": "insulate_walls", "selection": {"year_max": 1944},
...                              "target_u_w_m2k": 0.24}]},
...     "simulations": {"energy": {}}})
>>> result = run(spec, base)
>>> result.totals["energy"]["d_heating_need_kwh"] < 0
True
"""

from scenarios.apply import AppliedScenario, apply_scenario, check_against, resolve_selection
from scenarios.hashing import model_hash
from scenarios.run import RECORD_FORMAT, Run, code_version, load_base_model, load_run, run, sweep
from scenarios.spec import SCHEMA_VERSION, Scenario, SelectionSpec, schema

__all__ = [
    "RECORD_FORMAT",
    "SCHEMA_VERSION",
    "AppliedScenario",
    "Run",
    "Scenario",
    "SelectionSpec",
    "apply_scenario",
    "check_against",
    "code_version",
    "load_base_model",
    "load_run",
    "model_hash",
    "resolve_selection",
    "run",
    "schema",
    "sweep",
]
