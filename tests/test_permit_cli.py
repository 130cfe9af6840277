"""``twin check permit`` exit codes: 0 nothing fails, 3 findings fail (test_permit_reports), 1 errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from permit_house import build_house, cache_dir, terraced_row_model
from typer.testing import CliRunner

from twin.cli_permit import check_app


def _run(*args: str):
    return CliRunner().invoke(check_app, ["permit", *args])


def test_passing_house_in_its_row_exits_0(tmp_path: Path, tmp_path_factory, monkeypatch) -> None:
    from bcf.v3.bcfxml import BcfXml

    monkeypatch.setenv("TWIN_CACHE_DIR", cache_dir(tmp_path_factory))
    ifc = build_house(True, tmp_path / "house_ok.ifc")
    terraced_row_model().save(tmp_path / "row.gpkg")
    res = _run(
        str(ifc), "--context", str(tmp_path / "row.gpkg"), "--out", str(tmp_path / "out"), "--no-snapshots"
    )
    assert res.exit_code == 0, res.output
    assert "house_ok.ifc: PASS — 0 failing, 0 not checkable" in res.output
    for name in ("report.json", "report.html", "findings.bcf"):
        assert (tmp_path / "out" / name).is_file()
    assert BcfXml.load(tmp_path / "out" / "findings.bcf").topics == {}  # nothing to raise


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.ifc", "--out", "o"], "missing.ifc: no such IFC file"),
        (["{ifc}", "--out", "o", "--bcf-version", "2.0"], "--bcf-version must be 3.0 or 2.1"),
        (["{ifc}", "--out", "o", "--ids", "nope.ids"], "nope.ids: no such IDS file"),
        (["{ifc}", "--out", "o", "--rules", "nope.yaml"], "nope.yaml: no such rule-set file"),
        (["{ifc}", "--out", "o", "--context", "nope.gpkg"], "nope.gpkg: no such city model"),
    ],
)
def test_errors_exit_1_with_one_line(tmp_path: Path, monkeypatch, args, message) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "house.ifc").write_text("ISO-10303-21;\n")
    res = _run(*[a.format(ifc="house.ifc") for a in args])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("twin: error:") and message in res.output.replace("\n", "")
    assert not (tmp_path / "o" / "report.json").exists()


def test_registered_as_twin_check() -> None:
    from twin.cli import app

    names = [g.name for g in app.registered_groups]
    assert "check" in names
