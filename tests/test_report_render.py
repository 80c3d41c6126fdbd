"""The report renders: headless Debian chromium screenshots the HTML without errors or network
requests, the PDF converts to PNG pages with pdftoppm, and ``myotrial report`` writes both (or,
on bad input, lists every problem, exits 2 and writes nothing)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.report import ReportPaths
from myotrial.report._example import example_trial
from myotrial.rules import rules_path

CHROMIUM = Path("/usr/bin/chromium")
DATA = rules_path("x").parents[1] / "data"
runner = CliRunner()


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``myotrial report`` on the CSVs of a 40-patient synthetic trial (HTML and PDF)."""
    trial = example_trial(40, seed=11)
    folder = tmp_path_factory.mktemp("cli")
    args = ["report"]
    for option, name, frame in (
        ("--visits", "visits", trial.visits),
        ("--subjects", "subjects", trial.subjects),
        ("--adverse-events", "adverse_events", trial.adverse_events),
        ("--infusions", "infusions", trial.infusions),
    ):
        frame.to_csv(folder / f"{name}.csv", index=False)
        args += [option, str(folder / f"{name}.csv")]
    result = runner.invoke(app, [*args, "--seed", "11", "-o", str(folder / "out"), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def rendered(cli_run: dict[str, Any]) -> ReportPaths:
    files = cli_run["files"]
    return ReportPaths(
        Path(files["html"]), Path(files["pdf"]), tuple(Path(f) for f in files["figures"])
    )


def test_cli_writes_html_pdf_and_figures(cli_run: dict[str, Any], rendered: ReportPaths) -> None:
    assert cli_run["ok"] is True
    # the inputs say they are synthetic (data_source column): the banner is automatic
    assert cli_run["synthetic"] is True
    html = rendered.html.read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in html and 'id="table-ae-overview"' in html
    assert {p.name for p in rendered.figures} == {
        "consort.svg",
        "fig-csm.svg",
        "fig-forest.svg",
        "fig-km.svg",
        "fig-mean-tis.svg",
        "fig-responses.svg",
        "fig-tipping.svg",  # the SAP's tipping-point analysis
    }
    assert "<td>Seed</td><td>11</td>" in html
    for name in ("visits", "subjects", "adverse_events", "infusions"):
        assert f'data-input="{name}"' in html


def test_pdf_converts_to_png_pages(rendered: ReportPaths, tmp_path: Path) -> None:
    assert rendered.pdf is not None and rendered.pdf.read_bytes().startswith(b"%PDF-")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (Debian poppler-utils) is not installed")
    proc = subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(rendered.pdf), str(tmp_path / "page")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 8  # flow, baseline, endpoints, figures, safety, appendix
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pages)


def test_html_renders_in_debian_chromium(rendered: ReportPaths, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium (Debian package chromium) is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    requests: list[str] = []
    errors: list[str] = []
    shot = tmp_path / "report.png"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1200})
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(rendered.html.as_uri())
            page.screenshot(path=str(shot), full_page=True)
            banner = page.locator("#synthetic-banner")
            assert banner.is_visible()
            assert page.locator("svg.figure").count() == 7  # + the tipping-point figure
            widths = page.eval_on_selector_all(
                "svg.figure", "els => els.map(e => e.getBoundingClientRect().width)"
            )
            height = page.evaluate("document.documentElement.scrollHeight")
        finally:
            browser.close()
    assert errors == []
    assert requests == [rendered.html.as_uri()]  # no other request: self-contained
    assert all(w > 300 for w in widths)
    assert height > 5000
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 50_000


def test_cli_html_only_from_the_example_csvs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "report",
            "--visits",
            str(DATA / "example_visits.csv"),
            "--subjects",
            str(DATA / "example_subjects.csv"),
            "-o",
            str(out),
            "--no-pdf",
        ],
    )
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in html
    # no adverse-event table: the safety section says so instead of showing tables
    assert 'id="safety-missing"' in html and "no adverse-event table was given" in html
    assert 'id="table-ae-overview"' not in html
    assert not (out / "report.pdf").exists()


def test_cli_bad_adverse_events_lists_problems_and_writes_nothing(tmp_path: Path) -> None:
    ae = tmp_path / "ae.csv"
    ae.write_text(
        "subject_id,term,body_system,onset,serious,severity,related,thromboembolic\n"
        "EX-001,Headache,Nervous system disorders,2024-01-02T10:00,no,mild,yes,no\n"
        "EX-999,Headache,Nervous system disorders,2024-01-02T10:00,no,mild,yes,no\n"
        "EX-002,Pyrexia,General disorders,tomorrow,no,mild,yes,maybe\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "report",
            "--visits",
            str(DATA / "example_visits.csv"),
            "--subjects",
            str(DATA / "example_subjects.csv"),
            "--adverse-events",
            str(ae),
            "-o",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 2, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] is False and payload["table"] == "adverse_events"
    located = {(p["row"], p["column"]) for p in payload["problems"]}
    assert located == {(2, "subject_id"), (3, "onset"), (3, "thromboembolic")}
    assert not out.exists()


def test_cli_needs_an_input(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "give --derived DIR" in result.output
    missing = runner.invoke(
        app, ["report", "--derived", str(tmp_path / "nowhere"), "-o", str(tmp_path / "out")]
    )
    assert missing.exit_code == 2
    assert not (tmp_path / "out").exists()
