"""TNTP readers: metadata, traps of the format (see shared/data/networks/MANIFEST.md), errors."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from bim_ingest.tntp import read_tntp_flows, read_tntp_network, read_tntp_nodes, read_tntp_trips
from twin.errors import SchemaError, TwinWarning

NETWORKS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "networks"


@pytest.fixture(scope="module")
def networks() -> Path:
    """../shared/data/networks (skipped when absent, failing under CI=true)."""
    if not NETWORKS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{NETWORKS} is missing: CI must run with ../shared beside the checkout.")
        pytest.skip(f"{NETWORKS} is absent (the shared third-party data sits beside the checkout)")
    return NETWORKS


NET = """<NUMBER OF ZONES> 2
<NUMBER OF NODES> 4
<FIRST THRU NODE> 3
<NUMBER OF LINKS> 4
<TOLL FACTOR> 0.5
<END OF METADATA>

~ init term cap len fft b power speed toll type ;
\t1\t3\t100\t2.0\t0\t0.15\t4.5\t0\t2\t1\t;
\t3\t2\t100\t3.0\t1.5\t0\t0\t0\t0\t1\t;
\t1\t4\t50\t1.0\t2.5\t0.15\t4\t0\t0\t1\t;
\t4\t2\t50\t1.0\t2.5\t0.15\t4\t0\t0\t1\t;
"""

TRIPS = """<NUMBER OF ZONES> 2
<TOTAL OD FLOW> 35.0
<END OF METADATA>

Origin 1
    1 :   5.0;    2 :  20.0;
Origin 2
    1 :  10.0;
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_links_and_metadata_of_a_small_net_file(tmp_path):
    net = read_tntp_network(_write(tmp_path, "toy_net.tntp", NET))
    assert (net.name, net.n_zones, net.n_nodes, net.first_thru_node, net.n_links) == ("toy", 2, 4, 3, 4)
    links = net.links
    assert links["init_node"].tolist() == [1, 3, 1, 4]
    assert links["power"].tolist() == [4.5, 0.0, 4.0, 4.0]
    assert links["free_flow_time"].iloc[0] == 0.0  # zero free-flow time is valid
    assert net.toll_factor == 0.5 and net.distance_factor == 0.0
    np.testing.assert_allclose(net.generalised_constant(), [1.0, 0.0, 0.0, 0.0])


def test_toll_and_distance_factors_given_as_parameters_override_the_header(tmp_path):
    net = read_tntp_network(_write(tmp_path, "toy_net.tntp", NET), toll_factor=2.0, distance_factor=0.1)
    np.testing.assert_allclose(net.generalised_constant(), [4.2, 0.3, 0.1, 0.1])


def test_reads_trips_into_a_square_matrix_with_intrazonal_cells_kept(tmp_path):
    od = read_tntp_trips(_write(tmp_path, "toy_trips.tntp", TRIPS))
    assert od.index.tolist() == [1, 2] and od.columns.tolist() == [1, 2]
    assert od.to_numpy().tolist() == [[5.0, 20.0], [10.0, 0.0]]


def test_warns_when_trips_do_not_add_up_to_the_stated_total(tmp_path):
    with pytest.warns(TwinWarning, match="TOTAL OD FLOW"):
        read_tntp_trips(_write(tmp_path, "t_trips.tntp", TRIPS.replace("35.0", "36.0")))


def test_rejects_a_link_count_different_from_the_metadata(tmp_path):
    with pytest.raises(SchemaError, match="NUMBER OF LINKS"):
        read_tntp_network(
            _write(tmp_path, "bad_net.tntp", NET.replace("<NUMBER OF LINKS> 4", "<NUMBER OF LINKS> 5"))
        )


def test_rejects_node_numbers_outside_the_stated_range(tmp_path):
    with pytest.raises(SchemaError, match="outside 1..4"):
        read_tntp_network(_write(tmp_path, "bad_net.tntp", NET.replace("\t4\t2\t50", "\t9\t2\t50")))


def test_rejects_a_zero_capacity_on_a_flow_dependent_link(tmp_path):
    with pytest.raises(SchemaError, match="capacity"):
        read_tntp_network(_write(tmp_path, "bad_net.tntp", NET.replace("\t1\t4\t50", "\t1\t4\t0")))


def test_rejects_files_without_end_of_metadata(tmp_path):
    with pytest.raises(SchemaError, match="END OF METADATA"):
        read_tntp_network(_write(tmp_path, "bad_net.tntp", "<NUMBER OF ZONES> 1\n"))


def test_rejects_destinations_outside_the_zones(tmp_path):
    with pytest.raises(SchemaError, match="destination 3"):
        read_tntp_trips(_write(tmp_path, "bad_trips.tntp", TRIPS.replace("2 :  20.0", "3 :  20.0")))


def test_reads_flow_and_node_files(tmp_path):
    flows = read_tntp_flows(
        _write(tmp_path, "f.tntp", "From \tTo \tVolume \tCost\n1\t3\t7.5\t1.25\n3\t2\t0\t1.5\n")
    )
    assert flows.to_dict("list") == {
        "init_node": [1, 3],
        "term_node": [3, 2],
        "flow": [7.5, 0.0],
        "cost": [1.25, 1.5],
    }
    nodes = read_tntp_nodes(_write(tmp_path, "n.tntp", "Node\tX\tY\t;\n1\t-96.7\t43.6\t;\n"))
    assert nodes.to_dict("list") == {"node": [1], "x": [-96.7], "y": [43.6]}


@pytest.mark.parametrize(
    ("name", "zones", "nodes", "links", "first_thru", "total"),
    [
        ("SiouxFalls", 24, 24, 76, 1, 360_600.0),
        ("Anaheim", 38, 416, 914, 39, 104_694.4),
        ("Barcelona", 110, 1020, 2522, 111, 184_679.561),
    ],
)
def test_reads_the_shared_networks_as_the_manifest_describes(
    networks, name, zones, nodes, links, first_thru, total
):
    net = read_tntp_network(networks / name / f"{name}_net.tntp")
    assert (net.n_zones, net.n_nodes, net.n_links, net.first_thru_node) == (zones, nodes, links, first_thru)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        od = read_tntp_trips(networks / name / f"{name}_trips.tntp")
    assert od.shape == (zones, zones)
    assert od.to_numpy().sum() == pytest.approx(total, rel=1e-9)
    flows = read_tntp_flows(networks / name / f"{name}_flow.tntp")
    assert len(flows) == links
    assert (flows["init_node"].to_numpy() == net.links["init_node"].to_numpy()).all()


def test_barcelona_traps_are_read_as_they_are(networks):
    net = read_tntp_network(networks / "Barcelona" / "Barcelona_net.tntp")
    links = net.links
    assert int((links["b"] == 0).sum()) == 565  # constant-cost connectors
    powers = set(np.round(links.loc[links["b"] > 0, "power"].unique(), 3))
    assert {2.0, 4.118, 16.83} <= powers  # non-integer powers
    assert 1008 in net.dead_ends().tolist()
    isolated = net.isolated_nodes()
    assert 111 in isolated.tolist() and len(isolated) > 50
