"""End to end: check_permit's JSON, BCF 3.0 and 2.1 (re-opened with bcf-client), HTML (headless Chromium)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import ifcopenshell
import pytest
from permit_house import build_house, cache_dir, terraced_row_model

from bim_ingest.checks import DEFAULT_IDS, check_permit, load_rules
from tests.browser import CHROMIUM_ARGS, chromium_or_skip

#: (rule, storey, status) of the failing house's topics, from the hand-built model (see test_permit_rules).
EXPECTED_TOPICS = {
    ("IDS BXL-IDS-05", "", "fail"),
    ("RRU-II-HEIGHT-HABITABLE", "Niveau 0", "fail"),
    ("RRU-II-HEIGHT-ROOF", "Niveau 2", "fail"),
    ("RRU-II-HEIGHT-NONHABITABLE", "Niveau 1", "fail"),
    ("RRU-II-AREA-BEDROOM", "Niveau 1", "fail"),
    ("RRU-II-AREA-ROOMS", "Niveau 0", "fail"),
    ("GL-III-11-DWELLING-AREA", "", "not_checkable"),
    ("GL-III-11-DWELLING-AREA", "", "fail"),
    ("RRU-II-LIGHT", "Niveau 0", "fail"),
    ("PEB-U-WALL", "Niveau 0", "fail"),
    ("PEB-U-ROOF", "Niveau 2", "fail"),
    ("RRU-I-16-RAINWATER", "", "fail"),
    ("QTY-CONSISTENCY", "Niveau 0", "fail"),
    ("RRU-I-4-DEPTH", "", "fail"),
    ("RRU-I-5-HEIGHT", "", "fail"),
    ("RRU-I-6-ROOF", "", "fail"),
}


class _Run:
    """What a ``twin check permit`` run left: its folder, files and JSON report."""

    def __init__(self, out: Path, exit_code: int, output: str) -> None:
        self.out, self.exit_code, self.output = out, exit_code, output
        self.files = {n: out / n for n in ("report.json", "report.html", "findings.bcf")}
        self.doc = json.loads(self.files["report.json"].read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    """The failing house checked through the CLI (BCF 3.0 with snapshots)."""
    from typer.testing import CliRunner

    from twin.cli_permit import check_app

    tmp = tmp_path_factory.mktemp("permit_reports")
    ifc = build_house(False, tmp / "house_fail.ifc")
    gpkg = tmp / "row.gpkg"
    terraced_row_model().save(gpkg)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TWIN_CACHE_DIR", cache_dir(tmp_path_factory))
        args = ["permit", str(ifc), "--context", str(gpkg), "--out", str(tmp / "out")]
        res = CliRunner().invoke(check_app, args)
    return ifc, _Run(tmp / "out", res.exit_code, res.output)


def test_cli_exit_code_3_and_json_report(failing) -> None:
    ifc, run = failing
    assert run.exit_code == 3
    assert "house_fail.ifc: FAIL" in run.output and "findings.bcf" in run.output
    doc = run.doc
    assert doc["status"] == "fail"
    n = sum(doc["counts"][s] for s in ("pass", "fail", "not_checkable"))
    assert len(doc["findings"]) == n
    assert doc["counts"]["failing"] == sum(
        f["status"] == "fail" and f["severity"] in ("error", "warning") for f in doc["findings"]
    )
    prov = doc["provenance"]
    assert prov["ifc"]["sha256"] == hashlib.sha256(ifc.read_bytes()).hexdigest()
    assert prov["ifc"]["originating_system"].startswith("IfcOpenShell")
    assert prov["schema"] == "IFC4"
    assert prov["rule_set"]["version"] == load_rules().version
    assert prov["ids"][0]["file"] == DEFAULT_IDS.name and prov["ids"][0]["version"] == "1.0.0"
    assert prov["georeferencing"]["method"] == "IfcMapConversion"
    assert prov["georeferencing"]["crs"] == "EPSG:31370"
    assert sorted(n["building_id"] for n in prov["context"]["neighbours"]) == ["A", "C"]
    assert set(prov["checker"]["versions"]) == {"brussels-twin", "ifcopenshell", "ifctester", "bcf-client"}
    topics = {(f["rule_id"], f["storey"], f["status"]) for f in doc["findings"] if f["status"] != "pass"}
    assert topics == EXPECTED_TOPICS
    keys = {
        "rule_id",
        "global_ids",
        "storey",
        "space",
        "measured",
        "threshold",
        "units",
        "tolerance",
        "status",
    }
    for f in doc["findings"]:
        assert set(f) >= keys | {"severity"}


def test_bcf_3_reopens_with_topics_viewpoints_and_snapshots(failing) -> None:
    from bcf.v3.bcfxml import BcfXml

    ifc, run = failing
    with zipfile.ZipFile(run.files["findings.bcf"]) as z:
        assert "extensions.xml" in z.namelist() and b'VersionId="3.0"' in z.read("bcf.version")
    bcf = BcfXml.load(run.files["findings.bcf"])
    topics = bcf.topics
    assert len(topics) == len(EXPECTED_TOPICS) == run.doc["counts"]["topics"]
    walls = sorted(
        w.GlobalId for w in ifcopenshell.open(str(ifc)).by_type("IfcWall") if w.Name in ("Mur 0", "Mur 1")
    )
    seen_wall_topic = False
    shaped = {e.GlobalId for e in ifcopenshell.open(str(ifc)).by_type("IfcProduct") if e.Representation}
    snapshots, views = set(), set()
    for handler in topics.values():
        vps = list(handler.viewpoints.values())
        assert len(vps) == 1
        vi = vps[0].visualization_info
        assert vi.perspective_camera is not None
        selected = [c.ifc_guid for c in vi.components.selection.component]
        coloured = [c.ifc_guid for c in vi.components.coloring.color[0].components.component]
        assert selected == coloured and selected
        assert vps[0].snapshot.startswith(b"\x89PNG")
        snapshots.add(vps[0].snapshot)
        views.add((frozenset(selected) & shaped, vi.components.coloring.color[0].color))
        colour = vi.components.coloring.color[0].color
        assert colour == ("D7263D" if "fails" in handler.topic.title else "F49D37")
        if handler.topic.title.startswith("PEB-U-WALL"):
            assert sorted(selected) == walls
            seen_wall_topic = True
    assert seen_wall_topic
    # one image per distinct view (the drawn elements and their colour): no stale or shared renders
    assert len(snapshots) == len(views) > 5


def test_html_report_renders_in_headless_chromium(failing) -> None:
    from playwright.sync_api import sync_playwright

    _, run = failing
    exe = chromium_or_skip()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(run.files["report.html"].resolve().as_uri())
        assert page.title() == "Permit pre-check — house_fail.ifc"
        assert page.locator(".topic").count() == len(EXPECTED_TOPICS)
        images = page.locator(".topic img")
        assert images.count() == len(EXPECTED_TOPICS)
        assert all(images.nth(i).evaluate("i => i.naturalWidth") == 800 for i in range(images.count()))
        text = page.locator("body").inner_text()
        for rule in load_rules().rules:
            assert rule.id in text
        assert run.doc["provenance"]["ifc"]["sha256"] in text
        browser.close()
    assert errors == []


def test_district_ifc_building_placed_in_the_district(tmp_path: Path, monkeypatch) -> None:
    """The done-when: the sample district's own IFC building, checked with the district as context.

    Also the BCF 2.1 path (``bcf_version="2.1"``, without snapshots: viewpoints keep their cameras).
    """
    from bcf.v2.bcfxml import BcfXml

    from bim_ingest.registry import read
    from data import generate_district, write_district, write_ifc_building

    monkeypatch.setenv("TWIN_CACHE_DIR", str(tmp_path / "cache"))
    district = generate_district(20, seed=0)
    files = write_district(district, tmp_path)
    model = read(files["cityjson"]).with_party_walls()
    s = model.surfaces
    party = s[s["boundary"] == "party"].groupby("building_id")["neighbour_id"].unique()
    target = next(b for b in model.buildings["building_id"] if len(party.get(b, [])) == 2)
    neighbours = sorted(party[target])
    model.save(tmp_path / "district.gpkg")
    ifc = write_ifc_building(district, target, tmp_path / f"{target}.ifc")
    report = check_permit(
        ifc,
        ids_paths=[DEFAULT_IDS],
        context_path=tmp_path / "district.gpkg",
        out_dir=tmp_path / "o",
        bcf_version="2.1",
        snapshots=False,
    )
    status = {f.rule_id: f for f in report.findings}
    # the generator writes no room functions, dwellings or U-values: exactly those IDS specifications fail
    failed_ids = sorted(
        f.rule_id for f in report.findings if f.rule_id.startswith("IDS ") and f.status == "fail"
    )
    # BXL-IDS-04 rooms with a function, -05 rooms in a dwelling, -07 external walls with a U-value
    assert failed_ids == ["IDS BXL-IDS-04", "IDS BXL-IDS-05", "IDS BXL-IDS-07"]
    roof = status["RRU-I-6-ROOF"]
    assert sorted(n["building_id"] for n in roof.values["neighbours"]) == neighbours
    assert roof.values["replaced_buildings"] == [target]
    heights = model.buildings.set_index("building_id")["height_m"]
    assert roof.measured == pytest.approx(
        heights[target], abs=0.31
    )  # the IFC roof slab sits on the eave line
    limit = min(max(heights[neighbours]), min(heights[neighbours]) + 3.0)
    assert roof.threshold == pytest.approx(limit)
    assert roof.status == ("pass" if roof.measured <= limit + 0.05 else "fail")
    with zipfile.ZipFile(report.files["findings.bcf"]) as z:
        assert b'VersionId="2.1"' in z.read("bcf.version")
    bcf = BcfXml.load(report.files["findings.bcf"])
    assert len(bcf.topics) == report.counts["topics"] > 0
    guids = {t["guid"] for t in json.loads(report.files["report.json"].read_text())["topics"]}
    assert set(bcf.topics) == guids  # deterministic GUIDs, same in JSON and BCF
    for handler in bcf.topics.values():
        (vp,) = handler.viewpoints.values()
        vi = vp.visualization_info
        assert vi.perspective_camera is not None and vp.snapshot is None
        assert [c.ifc_guid for c in vi.components.selection.component]
    html = report.files["report.html"].read_text(encoding="utf-8")
    assert html.count('class="topic"') == report.counts["topics"]
