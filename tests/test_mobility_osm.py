"""Street networks from OpenStreetMap and from line layers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from bim_ingest.osm import parse_maxspeed, read_osm, read_street_lines
from simulation.mobility import check_connectivity, mode_graph
from twin.errors import IngestError, SchemaError
from twin.model import CityModel

osmium = pytest.importorskip("osmium", reason="pyosmium (pip install osmium) reads OSM files")

OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" lat="50.8300" lon="4.3500" version="1"/>
  <node id="2" lat="50.8300" lon="4.3510" version="1"/>
  <node id="3" lat="50.8300" lon="4.3520" version="1"/>
  <node id="4" lat="50.8310" lon="4.3510" version="1"/>
  <node id="5" lat="50.8305" lon="4.3515" version="1"/>
  <node id="6" lat="50.8290" lon="4.3510" version="1"/>
  <way id="10" version="1">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="name" v="Rue A - A-straat"/>
  </way>
  <way id="11" version="1">
    <nd ref="2"/><nd ref="4"/>
    <tag k="highway" v="primary"/><tag k="oneway" v="yes"/><tag k="maxspeed" v="50"/><tag k="lanes" v="2"/>
  </way>
  <way id="12" version="1">
    <nd ref="3"/><nd ref="5"/><nd ref="4"/>
    <tag k="highway" v="footway"/>
  </way>
  <way id="13" version="1">
    <nd ref="6"/><nd ref="2"/>
    <tag k="highway" v="residential"/><tag k="oneway" v="yes"/><tag k="cycleway" v="opposite"/>
  </way>
  <way id="14" version="1">
    <nd ref="1"/><nd ref="4"/>
    <tag k="building" v="yes"/>
  </way>
</osm>
"""


@pytest.fixture()
def osm_file(tmp_path):
    path = tmp_path / "district.osm"
    path.write_text(OSM)
    return path


def test_reads_highways_split_at_junctions_with_brussels_defaults(osm_file):
    nodes, links = read_osm(osm_file)
    assert nodes.crs.to_epsg() == 31370 and links.crs.to_epsg() == 31370
    assert sorted(nodes["node_id"].tolist()) == [1, 2, 3, 4, 6]  # node 5 is inside the footway
    by = links.set_index(["from_node", "to_node"])
    # the residential way is split at node 2 and open both ways at 30 km/h
    assert by.loc[(1, 2), "free_speed_kmh"] == 30.0 and by.loc[(2, 1), "modes"] == "car,bike,walk"
    # the one-way primary: 50 km/h, 2 lanes forward; backwards only for walkers
    assert by.loc[(2, 4), "free_speed_kmh"] == 50.0 and by.loc[(2, 4), "lanes"] == 2
    assert by.loc[(4, 2), "modes"] == "walk"
    # a footway keeps its curve and is walk-only
    assert by.loc[(3, 4), "modes"] == "walk"
    assert by.loc[(3, 4), "length_m"] > shapely.distance(
        nodes.set_index("node_id").geometry.loc[3], nodes.set_index("node_id").geometry.loc[4]
    )
    # contraflow cycling on a one-way street (sens unique limité)
    assert by.loc[(2, 6), "modes"] == "bike,walk" and by.loc[(6, 2), "modes"] == "car,bike,walk"
    assert (links["alpha"] == 0.15).all() and (links["beta"] == 4.0).all()


def test_osm_pbf_files_read_the_same(osm_file, tmp_path):
    pbf = tmp_path / "district.osm.pbf"
    writer = osmium.SimpleWriter(str(pbf))

    class Copy(osmium.SimpleHandler):
        def node(self, n):
            writer.add_node(n)

        def way(self, w):
            writer.add_way(w)

    Copy().apply_file(str(osm_file))
    writer.close()
    a = read_osm(osm_file)[1].drop(columns="geometry")
    b = read_osm(pbf)[1].drop(columns="geometry")
    assert a.equals(b)


def test_separate_graphs_per_mode_and_connectivity(osm_file):
    nodes, links = read_osm(osm_file)
    model = CityModel(nodes=nodes, links=links)
    car, walk = mode_graph(model, "car"), mode_graph(model, "walk")
    assert len(walk.tails) > len(car.tails)
    report = check_connectivity(car)
    assert len(report) > 1  # node 4 is reached by the one-way primary only: a dead end for cars
    assert check_connectivity(walk)["n_nodes"].iloc[0] == 5


def test_maxspeed_tags_are_parsed():
    assert parse_maxspeed("30") == 30.0
    assert parse_maxspeed("BE-BRU:zone30") == 30.0
    assert parse_maxspeed("signals") is None


def test_unreadable_or_empty_osm_is_refused(tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        read_osm(tmp_path / "missing.osm")
    empty = tmp_path / "empty.osm"
    empty.write_text("<?xml version='1.0'?><osm version='0.6'></osm>")
    with pytest.raises(SchemaError, match="highway"):
        read_osm(empty)


def test_reads_street_lines_from_a_geopackage(tmp_path):
    lines = gpd.GeoDataFrame(
        {
            "name": ["A", "B", "C"],
            "highway": ["residential", "primary", "footway"],
            "oneway": ["no", "yes", None],
            "capacity_veh_h": [np.nan, 1200.0, np.nan],
        },
        geometry=[
            shapely.LineString([(0, 0), (100, 0)]),
            shapely.LineString([(100, 0), (100.2, 100)]),
            shapely.LineString([(100.1, 100.1), (0, 0)]),
        ],
        crs=31370,
    )
    lines.to_file(tmp_path / "streets.gpkg", layer="streets")
    nodes, links = read_street_lines(tmp_path / "streets.gpkg", snap_m=0.5)
    assert len(nodes) == 3  # (100.2, 100) and (100.1, 100.1) snap together
    assert len(links) == 2 + 2 + 2  # two-way A, one-way B (+ walk back), footway both ways
    b = links[links["name"] == "B"]
    assert b["modes"].tolist() == ["car,bike,walk", "walk"] and b["capacity_veh_h"].iloc[0] == 1200.0
    nocrs = tmp_path / "nocrs.geojson"
    nocrs.write_text('{"type":"FeatureCollection","features":[]}')
    with pytest.raises((IngestError, SchemaError)):
        read_street_lines(nocrs)
