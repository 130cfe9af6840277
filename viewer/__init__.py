"""Look at the twin: scenes of a city model and its results, as images, glTF, HTML and a browser page.

The viewer imports the twin core and reads result tables; it never imports the
simulations (the PEB-like class letters are copied in :mod:`viewer.colors`).

Modules (imported on demand, so ``import viewer`` stays light):

* :mod:`viewer.colors` — colour scales (sequential, diverging, the fixed PEB palette) and units;
* :mod:`viewer.tables` — read result tables (GeoPackage, CSV, Parquet, run folders);
* :mod:`viewer.scene` — :func:`~viewer.scene.build_scene`: meshes, colours, links, ground, soil;
* :mod:`viewer.camera` — presets ``overview``, ``plan``, ``street``, ``building:<id>``;
* :mod:`viewer.render` — PyVista off-screen PNGs, before/after, GIFs, an interactive window;
* :mod:`viewer.gltf` and :mod:`viewer.html` — ``.glb`` with per-building extras, standalone HTML;
* :mod:`viewer.demo_images` — the images ``twin demo`` writes;
* ``viewer/web/`` — the browser page (a small WebGL renderer of ours, no CDN).

Examples
--------
>>> import tempfile, pathlib
>>> from data import generate_district, write_district
>>> from bim_ingest.cityjson import read_cityjson
>>> from viewer.scene import build_scene
>>> from viewer.gltf import scene_to_glb
>>> p = write_district(generate_district(3, seed=0), pathlib.Path(tempfile.mkdtemp()))["cityjson"]
>>> scene_to_glb(build_scene(read_cityjson(p), color_by="year_built"))[:4]
b'glTF'
"""
