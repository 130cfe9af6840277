"""Isolated reading: crashes, timeouts and memory limits of the child never reach the caller."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path

import pytest
from test_ifc_fixtures import box_ifc

from bim_ingest.ifc import read_ifc, read_ifc_isolated
from bim_ingest.ifc.isolate import run_isolated
from twin.errors import IngestError, SchemaError, TwinWarning


def crash_like_a_native_parser(path: str) -> None:
    """Test target: dies by SIGSEGV, as a crashing native IFC parser would."""
    ctypes.string_at(0)


def sleep_forever(path: str) -> None:
    """Test target: never returns."""
    while True:
        time.sleep(1)


def allocate_without_bound(path: str) -> None:
    """Test target: grows until the memory limit stops it."""
    blocks = []
    while True:
        blocks.append(bytearray(64 * 1024 * 1024))


def test_isolated_read_gives_the_same_model(tmp_path: Path) -> None:
    path = box_ifc(tmp_path / "box.ifc")
    steps = []
    model = read_ifc_isolated(path, cache_dir=tmp_path / "c", progress=lambda *a: steps.append(a))
    direct = read_ifc(path, cache_dir=tmp_path / "c")
    assert model.surfaces["area_m2"].sum() == pytest.approx(direct.surfaces["area_m2"].sum())
    assert model.bim["ifc_elements"].equals(direct.bim["ifc_elements"])
    assert steps[0][0] == "parse" and steps[-1][0] == "done"


def test_warnings_of_the_child_reach_the_caller(tmp_path: Path) -> None:
    path = box_ifc(tmp_path / "local.ifc", georef=None)
    with pytest.warns(TwinWarning, match=r"local\.ifc: no georeferencing"):
        read_ifc_isolated(path, cache_dir=tmp_path / "c")


def test_a_crash_becomes_an_ingest_error_naming_the_file_and_signal(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"bad\.ifc: the reader process was killed by SIGSEGV"):
        run_isolated(f"{__name__}:crash_like_a_native_parser", ("bad.ifc",), label="bad.ifc", timeout_s=60)
    assert os.getpid()  # the caller lives on


def test_a_timeout_kills_the_child(tmp_path: Path) -> None:
    t0 = time.monotonic()
    with pytest.raises(IngestError, match=r"slow\.ifc: reading took longer than timeout_s=1 s"):
        run_isolated(f"{__name__}:sleep_forever", ("slow.ifc",), label="slow.ifc", timeout_s=1)
    assert time.monotonic() - t0 < 30


def test_the_memory_limit_stops_a_runaway_child() -> None:
    with pytest.raises(IngestError, match=r"big\.ifc: reading ran out of memory \(limit memory_mb=1536 MiB"):
        run_isolated(
            f"{__name__}:allocate_without_bound", ("big.ifc",), label="big.ifc", memory_mb=1536, timeout_s=60
        )


def test_a_real_read_under_a_tiny_memory_limit_fails_cleanly(tmp_path: Path) -> None:
    path = box_ifc(tmp_path / "box.ifc")
    with pytest.raises(IngestError, match=r"box\.ifc: "):
        read_ifc_isolated(path, memory_mb=64, cache_dir=tmp_path / "c")


def test_reader_errors_keep_their_class(tmp_path: Path) -> None:
    text = box_ifc(tmp_path / "ok.ifc").read_text()
    path = tmp_path / "old.ifc"
    path.write_text(text.replace("FILE_SCHEMA(('IFC4'))", "FILE_SCHEMA(('IFC2X2_FINAL'))"))
    with pytest.raises(SchemaError, match=r"old\.ifc: IFC schema 'IFC2X2_FINAL' is not supported"):
        read_ifc_isolated(path, cache_dir=tmp_path / "c")
    with pytest.raises(IngestError, match=r"missing\.ifc: no such file"):
        read_ifc_isolated(tmp_path / "missing.ifc")


def test_no_process_is_left_behind(tmp_path: Path) -> None:
    with pytest.raises(IngestError):
        run_isolated(f"{__name__}:sleep_forever", ("x.ifc",), label="x.ifc", timeout_s=1)
    # the killed child's process group is gone
    alive = []
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"bim_ingest.ifc.isolate import _child" in cmd and int(pid) != os.getpid():
                alive.append(pid)
    assert not alive
    assert signal.SIGKILL  # (killed with SIGKILL)
