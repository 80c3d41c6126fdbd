"""The report follows the SAP (issue 13): estimand table, multiplicity gatekeeping, stratified
and sensitivity results, the tipping-point plot, CONSORT from "assessed for eligibility", the
synthetic notice on every page and figure, and the DSMB open (pooled, no arm anywhere) and
closed reports from the live database.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from myotrial.analysis import analyze
from myotrial.cli import app
from myotrial.derive import derive_all
from myotrial.eligibility import screen_candidates
from myotrial.report import RenderedReport, build_report
from myotrial.report._example import example_trial
from myotrial.report.consort import screening_counts
from myotrial.report.figures import SYNTHETIC_MARK
from test_report import cells, numbers, parse
from test_sap_analysis import haq_missing_trial
from web_support import BASELINE, PASSWORD, WebTrial, arm_leaks, make_web_trial

SCREENING = Path(__file__).parents[1] / "src" / "myotrial" / "data" / "example_screening.csv"


@pytest.fixture(scope="module")
def haq_report() -> tuple[RenderedReport, Any]:
    visits, subjects, _ = haq_missing_trial()
    derived = derive_all(visits, subjects)
    results = analyze(derived, mi_imputations=5, strata=["MSAGRP"])
    counts = screening_counts(screen_candidates(pd.read_csv(SCREENING)))
    return build_report(derived, results, synthetic=True, screening=counts), results


def test_estimand_table_in_the_methods_appendix(haq_report: tuple[RenderedReport, Any]) -> None:
    html = haq_report[0].html
    rows = {a["data-estimand"]: text for tag, a, text in parse(html)
            if tag == "tr" and "data-estimand" in a}
    assert set(rows) == {"primary", "week40"}
    assert "confirmed deterioration: composite" in rows["primary"]
    assert "open label treatment: treatment policy" in rows["week40"]
    assert "descriptive" in rows["week40"]
    assert html.index('id="table-estimands"') > html.index('id="methods"')


def test_multiplicity_gatekeeping_table(haq_report: tuple[RenderedReport, Any]) -> None:
    html, results = haq_report
    rows = {a["data-hypothesis"]: text for tag, a, text in parse(html.html)
            if tag == "tr" and "data-hypothesis" in a}
    tab = results.multiplicity.table.set_index("hypothesis")
    assert list(rows) == list(results.sap.multiplicity.hypotheses)
    for h, text in rows.items():
        assert ("not rejected" not in text) == bool(tab.loc[h, "rejected"])
        assert "0.0500" in text  # tested at the full alpha (fixed sequence)


def test_sensitivity_and_stratified_tables(haq_report: tuple[RenderedReport, Any]) -> None:
    report, results = haq_report
    shown = cells(report.html)
    bounded = results.sensitivity_result("bounded_tis")
    assert shown[("bounded_tis", "control")].startswith("22/48 (45.8%)")
    assert "+1 vs primary" in shown[("bounded_tis", "control")]
    est = numbers(shown[("bounded_tis", "estimate")])
    assert est[0] == pytest.approx(round(100 * bounded.estimate.estimate, 1))
    mi = results.sensitivity_result("multiple_imputation")
    assert numbers(shown[("multiple_imputation", "estimate")])[0] == pytest.approx(
        round(100 * mi.estimate.estimate, 1))
    primary = results.get("tis20_w16")
    strat = numbers(shown[("tis20_w16", "stratified_estimate")])
    assert strat[:3] == pytest.approx([round(100 * v, 1) for v in (
        primary.stratified_estimate.estimate, primary.stratified_estimate.lower,
        primary.stratified_estimate.upper)])
    assert 'id="table-stratified"' in report.html and "strata: MSAGRP" in report.html


def test_tipping_point_plot(haq_report: tuple[RenderedReport, Any]) -> None:
    report, results = haq_report
    svg = report.figures["fig-tipping"]
    assert 'data-figure="fig-tipping"' in svg and SYNTHETIC_MARK in svg
    tip = results.sensitivity_result("tipping_point")
    assert tip.tipping_summary() in report.html
    assert report.html.count('data-figure="fig-tipping"') == 1


def test_synthetic_notice_on_every_figure_and_page(haq_report: tuple[RenderedReport, Any]) -> None:
    report = haq_report[0]
    assert len(report.figures) >= 6
    for name, svg in report.figures.items():
        assert "SYNTHETIC DATA" in svg, name
    assert re.search(r"@bottom-center \{ content: \"SYNTHETIC DATA", report.html)
    assert 'id="synthetic-footer"' in report.html


def test_consort_starts_at_assessed_for_eligibility(
    haq_report: tuple[RenderedReport, Any],
) -> None:
    consort = haq_report[0].figures["consort"]
    decisions = screen_candidates(pd.read_csv(SCREENING))
    stages = {a["data-stage"]: (a["data-n"], text) for tag, a, text in parse(consort)
              if tag == "g" and "data-stage" in a}
    assert stages["assessed"][0] == str(len(decisions))
    excluded = sum(1 for d in decisions if d.eligible is not True)
    assert stages["excluded"][0] == str(excluded) and excluded > 0
    assert "not met: age >= 18 and < 80: 1" in stages["excluded"][1]
    assert stages["randomised"][0] == "95"


def test_cli_report_screening_and_bad_screening(tmp_path: Path) -> None:
    trial = example_trial()
    trial.visits.to_csv(tmp_path / "v.csv", index=False)
    trial.subjects.to_csv(tmp_path / "s.csv", index=False)
    base = ["report", "--visits", str(tmp_path / "v.csv"), "--subjects", str(tmp_path / "s.csv"),
            "--no-pdf"]
    runner = CliRunner()
    res = runner.invoke(app, [*base, "-o", str(tmp_path / "r"), "--screening", str(SCREENING)])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert 'data-stage="assessed"' in html and "Assessed for eligibility" in html
    bad = pd.read_csv(SCREENING, dtype=str)
    bad.loc[0, "age"] = "old"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    res = runner.invoke(app, [*base, "-o", str(tmp_path / "r2"), "--screening",
                              str(tmp_path / "bad.csv")])
    assert res.exit_code == 2 and "age" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r2").exists()


# ----------------------------------------------------------------------------------------------
# DSMB open and closed reports from the live trial
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> WebTrial:
    t = make_web_trial(Path(tmp_path_factory.mktemp("dsmb")))
    svc, inv = t.service, t.actors["inv1"]
    for k in range(8):
        sid = f"P{k:03d}"
        t.enrol(sid)
        for week in (4, 8, 12, 16):
            better = {**BASELINE, "pga": max(BASELINE["pga"] - 0.6 * week / 4 * (k % 3), 0.5)}
            svc.record_visit(inv, sid, week, better)
    svc.record_adverse_event(inv, "P001", term="headache", onset="2024-03-03T10:00",
                             severity="mild")
    return t


def test_dsmb_open_report_has_no_arm_and_closed_report_has_the_arms(
    live: WebTrial, tmp_path: Path,
) -> None:
    runner = CliRunner()
    env = {"MYOTRIAL_PASSWORD": PASSWORD}
    out = tmp_path / "dsmb"
    res = runner.invoke(app, ["report", "--database", live.url, "--user", "ustat", "-o",
                              str(out), "--no-pdf", "--synthetic"], env=env)
    assert res.exit_code == 0, res.output
    open_html = (out / "open" / "report.html").read_text(encoding="utf-8")
    assert arm_leaks(open_html) == []
    assert "OPEN REPORT" in open_html and "Randomised" in open_html and "SYNTHETIC" in open_html
    assert re.search(r"<td>Randomised</td><td class=\"num\">8</td>", open_html)
    closed = (out / "closed" / "report.html").read_text(encoding="utf-8")
    assert arm_leaks(closed)  # positive control: the same search finds the arms
    assert "CLOSED REPORT" in closed
    # a blinded statistician gets the open report only
    out2 = tmp_path / "blinded"
    res = runner.invoke(app, ["report", "--database", live.url, "--user", "bstat", "-o",
                              str(out2), "--no-pdf"], env=env)
    assert res.exit_code == 0, res.output
    assert (out2 / "open" / "report.html").exists() and not (out2 / "closed").exists()
    assert "No closed report" in res.output
    assert arm_leaks(res.output) == []
    bad = runner.invoke(app, ["report", "--database", live.url, "--user", "ustat", "-o",
                              str(tmp_path / "x"), "--no-pdf"],
                        env={"MYOTRIAL_PASSWORD": "wrong-password"})
    assert bad.exit_code == 2 and "permission denied" in bad.output


def test_open_report_from_blinded_tables_is_pooled_and_refuses_an_arm_column() -> None:
    from myotrial.protocol import load_protocol
    from myotrial.report.dsmb import build_open_report

    trial = example_trial()
    subjects = trial.subjects.drop(columns=["arm"]).assign(randomised="true")
    tables = {"visits": trial.visits, "subjects": subjects,
              "adverse_events": trial.adverse_events}
    proto = load_protocol("proderm")
    report = build_open_report(tables, proto, synthetic=True)
    assert arm_leaks(report.html) == []
    assert ("Randomised", "40") in report.enrolment
    week16 = report.tis_by_week.set_index("week").loc[16]
    assert week16["n"] == 38  # every randomised patient with a week-16 TIS, pooled
    assert "SYNTHETIC DATA" in report.html
    with pytest.raises(ValueError, match="allocation column"):
        build_open_report({**tables, "subjects": trial.subjects}, proto)
