"""Partitioned models: tiles with halos find the party walls of the whole model; the store round-trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bim_ingest.cityjson import read_cityjson
from data import generate_district, write_district
from scenarios.hashing import model_hash, table_hash
from twin.errors import StoreError
from twin.partition import (
    PartitionError,
    PartitionIndex,
    hilbert_index,
    plan_tiles,
    read_partition,
    read_partitioned_model,
    split_model,
    verify_partitions,
    write_partitions,
)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """A 160-building district as read (no party walls yet)."""
    folder = tmp_path_factory.mktemp("district")
    files = write_district(generate_district(160, seed=0), folder)
    return read_cityjson(files["cityjson"])


@pytest.fixture(scope="module")
def parts(raw, tmp_path_factory):
    root = tmp_path_factory.mktemp("parts") / "region"
    return write_partitions(raw, root, target_buildings=40)


def _party(surfaces, ids=None):
    p = surfaces[surfaces["boundary"] == "party"]
    if ids is not None:
        p = p[p["building_id"].isin(ids)]
    return p.groupby(["building_id", "neighbour_id"])["area_m2"].sum().to_dict()


def test_hilbert_curve_visits_every_cell_once_in_unit_steps():
    xs, ys = np.meshgrid(np.arange(16) + 0.5, np.arange(16) + 0.5)
    d = hilbert_index(xs.ravel(), ys.ravel(), (0, 0, 16, 16), order=4)
    assert sorted(d.tolist()) == list(range(256))
    path = np.c_[xs.ravel(), ys.ravel()][np.argsort(d)]
    assert np.abs(np.diff(path, axis=0)).sum(axis=1).max() == 1.0


def test_tiles_are_even_and_cover_every_building_once(raw, parts):
    tiles = plan_tiles(raw.buildings, target_buildings=40)
    counts = np.bincount(tiles)
    assert len(counts) == 4 and counts.max() - counts.min() <= 1
    assert [t.n_buildings for t in parts.tiles] == counts.tolist()
    assert parts.n_buildings == len(raw.buildings)
    assert sum(t.n_surfaces for t in parts.tiles) == len(raw.surfaces)
    index = json.loads((parts.root / "index.json").read_text())
    assert index["format"] == "brussels-twin-partitions/1" and len(index["tiles"]) == 4
    assert verify_partitions(parts.root) == []


def test_party_walls_of_tiles_with_halo_equal_the_whole_model(raw, parts):
    whole = _party(raw.with_party_walls().surfaces)
    assert len(whole) > 100
    found: dict = {}
    crossing = 0
    for info in parts.tiles:
        tile = read_partition(parts, info.key, party_walls=True)
        assert tile.n_halo > 0  # Hilbert ranges of a terraced district share walls
        mine = _party(tile.model.surfaces, set(tile.core_ids))
        assert not set(mine) & set(found)
        found.update(mine)
        crossing += sum(1 for _, nb in mine if nb not in set(tile.core_ids))
    assert crossing > 0  # some party walls do cross tile borders
    assert set(found) == set(whole)
    for pair, area in whole.items():
        assert found[pair] == pytest.approx(area, abs=1e-9, rel=0)


def test_without_halo_border_party_walls_are_lost(parts):
    from twin.party_walls import detect_party_walls

    tile = read_partition(parts, 0)
    core = set(tile.core_ids)
    surfaces = tile.model.surfaces
    alone = _party(detect_party_walls(surfaces[surfaces["building_id"].isin(core)]), core)
    with_halo = _party(detect_party_walls(surfaces), core)
    assert 0 < len(alone) < len(with_halo)


def test_round_trip_restores_the_model_exactly(raw, parts):
    back = read_partitioned_model(parts.root)
    for name in ("buildings", "surfaces", "activities"):
        assert table_hash(getattr(back, name)) == table_hash(getattr(raw, name)), name
    assert model_hash(back) == model_hash(raw)


def test_in_memory_split_matches_the_files(raw, parts):
    tiles = split_model(raw, target_buildings=40)
    assert len(tiles) == len(parts.tiles)
    for tile in tiles:
        disk = read_partition(parts, tile.key)
        assert table_hash(tile.model.buildings) == table_hash(disk.model.buildings)
        assert table_hash(tile.model.surfaces) == table_hash(disk.model.surfaces)
        assert tile.core_ids.tolist() == disk.core_ids.tolist()


def test_errors_name_the_problem(raw, parts, tmp_path):
    with pytest.raises(PartitionError, match="no tile 9"):
        read_partition(parts, 9)
    with pytest.raises(PartitionError, match="narrower than the party-wall tolerance"):
        read_partition(parts, 0, halo_m=0.1)
    with pytest.raises(PartitionError, match="no index.json"):
        PartitionIndex.load(tmp_path)
    with pytest.raises(PartitionError, match="at least 1"):
        write_partitions(raw, tmp_path / "x", target_buildings=0)
    assert not (tmp_path / "x").exists()
    # a damaged tile file is reported by name
    copy = write_partitions(raw, tmp_path / "copy", target_buildings=80)
    damaged = copy.root / "tiles" / copy.tiles[1].name / "surfaces.parquet"
    damaged.write_bytes(b"not parquet")
    assert any("surfaces.parquet" in p for p in verify_partitions(copy.root))
    with pytest.raises(StoreError, match="unreadable tile file"):
        read_partition(copy, 1)
