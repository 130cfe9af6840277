"""IFC ingest: BIM models into the city model.

Public entry points (the ``twin`` CLI and service call these):

* :func:`read_ifc` -- an ``.ifc``/``.ifczip`` (IFC2X3, IFC4, IFC4X3) into a
  :class:`~twin.model.CityModel` whose ``buildings`` and ``surfaces`` follow
  the contract of every reader, with element-level tables in ``model.bim``;
* :func:`read_ifc_isolated` -- the same in a child process with time and
  memory limits, so that a crashing native parser cannot take the caller
  down (the CLI's default);
* :func:`ifc_report` -- storeys, spaces, envelope areas by orientation and
  U-value provenance, as ``twin info`` prints them;
* :func:`place_ifc_building` -- put an IFC building into a district, replacing
  the buildings it overlaps, and recompute party walls;
* :func:`ifc_meshes` -- the triangle meshes (trimesh) of the elements.
"""

from __future__ import annotations

from bim_ingest.ifc.isolate import read_ifc_isolated
from bim_ingest.ifc.place import place_ifc_building
from bim_ingest.ifc.read import ifc_meshes, read_ifc
from bim_ingest.ifc.report import ifc_report

__all__ = ["read_ifc", "read_ifc_isolated", "ifc_report", "place_ifc_building", "ifc_meshes"]
