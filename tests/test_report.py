"""The trial report (myotrial.report): every number in the HTML equals the result objects, the
CONSORT diagram equals the derived flags, and the same input gives byte-identical HTML and SVG.

The trial is the report package's seeded synthetic 40-patient example (crossovers, a
treatment-arm deterioration, dropouts with reasons, infusions and adverse events).
"""

from __future__ import annotations

import hashlib
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from myotrial.analysis import AnalysisResults, analyze
from myotrial.derive import DerivedTables, derive_all
from myotrial.errors import InputValidationError
from myotrial.report import (
    RenderedReport,
    build_report,
    format_estimate,
    format_number,
    format_p_value,
    parse_number,
    render_report,
    validate_safety_inputs,
)
from myotrial.report._example import ExampleTrial, example_trial
from myotrial.report.safety import build_safety
from myotrial.stats import method_footnote, summarise_adverse_events


class _Cells(HTMLParser):
    """Collects the text of elements carrying data-* attributes, and every element's attrs."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, str], list[str]]] = []
        self.found: list[tuple[str, dict[str, str], str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("br", "img", "meta", "path", "rect", "use", "line", "polyline"):
            self.found.append((tag, a, ""))
            return
        self.stack.append((tag, a, []))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}, ""))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            t, a, text = self.stack.pop()
            joined = "".join(text)
            self.found.append((t, a, joined))
            if self.stack:
                self.stack[-1][2].append(joined)
            if t == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.stack[-1][2].append(data)


def parse(html: str) -> list[tuple[str, dict[str, str], str]]:
    parser = _Cells()
    parser.feed(html)
    return parser.found


def cells(html: str) -> dict[tuple[str, str], str]:
    """(data-endpoint, data-stat) -> cell text without its footnote letter."""
    out = {}
    for tag, attrs, text in parse(html):
        if tag == "td" and "data-stat" in attrs:
            sup = re.sub(r"(?<![a-z])[a-z]$", "", text.strip())  # the letter after a number
            out[(attrs["data-endpoint"], attrs["data-stat"])] = sup.strip()
    return out


NUM = re.compile(r"[\u2212-]?\d+(?:\.\d+)?|NR|\u2013")


def numbers(text: str) -> list[float]:
    return [parse_number(t) for t in NUM.findall(text)]


def close(shown: float, value: float, digits: int) -> bool:
    """``shown`` is ``value`` rounded to ``digits`` decimals (NaN matches NaN)."""
    if math.isnan(value):
        return math.isnan(shown)
    return abs(shown - value) <= 0.5 * 10**-digits + 1e-9


def p_matches(shown: str, p: float) -> bool:
    if shown == "<0.0001":
        return p < 0.0001
    if shown == ">0.999":
        return p > 0.999
    digits = 4 if p < 0.001 else 3
    return close(float(shown), p, digits)


@pytest.fixture(scope="module")
def trial() -> ExampleTrial:
    return example_trial(40, seed=7)


@pytest.fixture(scope="module")
def analysed(trial: ExampleTrial) -> tuple[DerivedTables, AnalysisResults]:
    derived = derive_all(trial.visits, trial.subjects)
    return derived, analyze(derived)


@pytest.fixture(scope="module")
def input_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inputs") / "visits.csv"
    path.write_text("subject_id,visit_week\nA,0\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def report(
    trial: ExampleTrial, analysed: tuple[DerivedTables, AnalysisResults], input_file: Path
) -> RenderedReport:
    derived, results = analysed
    return build_report(
        derived,
        results,
        adverse_events=trial.adverse_events,
        infusions=trial.infusions,
        inputs={"visits": input_file},
        seed=trial.seed,
        synthetic=True,
    )


def test_the_example_trial_exercises_the_report(
    analysed: tuple[DerivedTables, AnalysisResults], trial: ExampleTrial
) -> None:
    derived, _ = analysed
    adsl = derived.adsl
    assert (adsl["CROSSFL"] == "Y").sum() >= 1  # a placebo crossover
    assert (adsl["STATUS"] == "discontinued_randomised").sum() >= 1  # a dropout
    assert trial.adverse_events["thromboembolic"].any()


def test_binary_endpoints_equal_the_result_objects(
    report: RenderedReport, analysed: tuple[DerivedTables, AnalysisResults]
) -> None:
    _, results = analysed
    shown = cells(report.html)
    checked = 0
    for ep in results.endpoints:
        if ep.kind != "binary" or ep.estimate is None or ep.test is None:
            continue
        for arm, stat in ((results.treatment, "treatment"), (results.control, "control")):
            x, n = ep.arms[arm]["x"], ep.arms[arm]["n"]
            text = shown[(ep.endpoint, stat)]
            assert text.startswith(f"{x}/{n} ("), (ep.endpoint, text)
            assert close(numbers(text)[2], 100 * x / n, 1)
        est, lo, hi = numbers(shown[(ep.endpoint, "estimate")])
        assert close(est, 100 * ep.estimate.estimate, 1)
        assert close(lo, 100 * ep.estimate.lower, 1)
        assert close(hi, 100 * ep.estimate.upper, 1)
        odds = ep.extra[0]
        assert numbers(shown[(ep.endpoint, "odds_ratio")]) == pytest.approx(
            [odds.estimate, odds.lower, odds.upper], abs=0.005 + 1e-9
        )
        assert p_matches(shown[(ep.endpoint, "p_value")], ep.test.p_value)
        checked += 1
    assert checked == 3  # 3 endpoints at week 16
    descriptive = [ep for ep in results.endpoints if ep.comparison == "descriptive"]
    assert len(descriptive) == 3  # week 40: per-arm summaries only
    for ep in descriptive:
        x, n = ep.arms[results.treatment]["x"], ep.arms[results.treatment]["n"]
        assert shown[(ep.endpoint, "treatment")].startswith(f"{x}/{n} (")
        assert shown[(ep.endpoint, "estimate")].startswith("descriptive")
        assert shown[(ep.endpoint, "p_value")] == "\u2013"


def test_every_summary_row_with_an_estimate_is_in_the_report(
    report: RenderedReport, analysed: tuple[DerivedTables, AnalysisResults]
) -> None:
    _, results = analysed
    shown = cells(report.html)
    summary = results.summary()
    for rec in summary.to_dict("records"):
        if rec["estimate"] is None or pd.isna(rec["estimate"]):
            continue
        if rec["kind"] == "repeated":  # MMRM: one cell per week (test_sap_report.py)
            assert numbers(shown[(rec["endpoint"], "week16")])[:3] == pytest.approx(
                [rec["estimate"], rec["lower"], rec["upper"]], abs=0.005 + 1e-9
            )
            continue
        scale = 100.0 if rec["effect"] == "risk_difference" else 1.0
        digits = 1 if rec["effect"] == "risk_difference" else 2
        values = numbers(shown[(rec["endpoint"], "estimate")])
        assert close(values[0], scale * rec["estimate"], digits), rec["endpoint"]
        assert close(values[1], scale * rec["lower"], digits)
        assert close(values[2], scale * rec["upper"], digits)
        assert p_matches(shown[(rec["endpoint"], "p_value")], rec["p_value"])


def test_continuous_and_change_endpoints_equal_the_result_objects(
    report: RenderedReport, analysed: tuple[DerivedTables, AnalysisResults]
) -> None:
    _, results = analysed
    shown = cells(report.html)
    change = [ep for ep in results.endpoints if ep.kind == "change" and ep.estimate]
    assert len(change) >= 5
    for ep in [e for e in results.endpoints if e.kind == "continuous"] + change:
        assert ep.estimate is not None
        digits = 2 if "haq" in ep.endpoint else 1
        for arm, stat in ((results.treatment, "treatment"), (results.control, "control")):
            mean, sd, n = numbers(shown[(ep.endpoint, stat)])
            assert close(mean, ep.arms[arm]["mean"], digits)
            assert close(sd, ep.arms[arm]["sd"], digits)
            assert n == ep.arms[arm]["n"]
        assert shown[(ep.endpoint, "estimate")] == format_estimate(ep.estimate)
        if ep.kind == "change":
            adj = ep.extra[0]
            assert adj.method == "ancova"
            values = numbers(shown[(ep.endpoint, "adjusted")])
            assert values == pytest.approx([adj.estimate, adj.lower, adj.upper], abs=0.005)
            assert adj.p_value is not None
            assert p_matches(shown[(ep.endpoint, "adjusted_p")], adj.p_value)


def test_time_to_event_rows_equal_the_kaplan_meier_results(
    report: RenderedReport, analysed: tuple[DerivedTables, AnalysisResults]
) -> None:
    _, results = analysed
    shown = cells(report.html)
    tte = [ep for ep in results.endpoints if ep.kind == "time_to_event"]
    assert tte
    for ep in tte:
        for arm, stat in ((results.treatment, "treatment"), (results.control, "control")):
            km = ep.km[arm]
            med, lo, hi, events, n = numbers(shown[(ep.endpoint, stat)])
            for got, want in ((med, km.median), (lo, km.median_lower), (hi, km.median_upper)):
                assert close(got, want, 0)
            assert (events, n) == (km.n_events, km.n)
        assert ep.test is not None
        assert p_matches(shown[(ep.endpoint, "p_value")], ep.test.p_value)


def test_subgroup_table_equals_the_forest_data(
    report: RenderedReport, analysed: tuple[DerivedTables, AnalysisResults]
) -> None:
    _, results = analysed
    assert results.subgroups is not None
    shown = cells(report.html)
    for rec in results.subgroups.forest.to_dict("records"):
        key = f"{rec['subgroup']}={rec['level']}"
        for arm, x, n in (
            ("treatment", rec["x1"], rec["n1"]),
            ("control", rec["x2"], rec["n2"]),
        ):
            # never 0/0 (0.0%): an empty level says so
            expected = "no patients" if n == 0 else f"{x}/{n}"
            assert shown[(key, arm)].startswith(expected)
        values = numbers(shown[(key, "estimate")])
        if math.isnan(rec["estimate"]):
            assert shown[(key, "estimate")] == "\u2013"
        else:
            assert values == pytest.approx(
                [100 * rec["estimate"], 100 * rec["lower"], 100 * rec["upper"]], abs=0.05 + 1e-9
            )


def test_method_footnotes_come_from_the_registry(
    report: RenderedReport, analysed: tuple[DerivedTables, AnalysisResults]
) -> None:
    _, results = analysed
    notes = {
        attrs["data-method"]: text
        for tag, attrs, text in parse(report.html)
        if tag == "li" and "data-method" in attrs
    }
    primary = results.get("tis20_w16")
    assert primary.estimate is not None and primary.test is not None
    assert method_footnote("wald", 0.95) in notes["wald"]
    assert method_footnote("fisher") in notes["fisher"]
    for key in ("woolf", "pooled_t", "ancova", "km_loglog", "logrank", "logistic_lrt"):
        assert key in notes, key
    methods = {
        a["data-method"] for t, a, _ in parse(report.html) if t == "tr" and "data-method" in a
    }
    assert {"wald", "fisher", "logrank", "ancova"} <= methods


def test_consort_counts_equal_the_derived_flags(
    report: RenderedReport, analysed: tuple[DerivedTables, AnalysisResults]
) -> None:
    derived, results = analysed
    boxes = {
        (a["data-stage"], a["data-arm"]): int(a["data-n"])
        for tag, a, _ in parse(report.figures["consort"])
        if tag == "g" and "data-stage" in a
    }
    adsl = derived.adsl[derived.adsl["RANDFL"] == "Y"]
    assert boxes[("randomised", "all")] == len(adsl)
    for arm in ("ivig", "placebo"):
        a = adsl[adsl["ARMCD"] == arm]
        assert boxes[("allocated", arm)] == len(a)
        assert boxes[("completed_primary", arm)] == (a["COMP16FL"] == "Y").sum()
        assert boxes[("entered_extension", arm)] == (a["EXTFL"] == "Y").sum()
        assert boxes[("completed_final", arm)] == (a["COMP40FL"] == "Y").sum()
        assert boxes[("discontinued_randomised", arm)] == (a["COMP16FL"] != "Y").sum()
        assert boxes[("analysed", arm)] == results.get("tis20_w16").arms[arm]["n"]
    assert report.figures["consort"] in report.html


def test_baseline_table_counts(
    report: RenderedReport, analysed: tuple[DerivedTables, AnalysisResults]
) -> None:
    derived, _ = analysed
    rows = {}
    for tag, attrs, text in parse(report.html):
        if tag == "td" and "data-col" in attrs and attrs["data-col"] in ("ivig", "placebo"):
            rows.setdefault(attrs["data-col"], []).append(text)
    adsl = derived.adsl
    for arm in ("ivig", "placebo"):
        a = adsl[adsl["ARMCD"] == arm]
        female = int((a["SEX"] == "F").sum())
        assert rows[arm][0] == str(len(a))
        assert any(t.startswith(f"{female}/{len(a)} (") for t in rows[arm])
        dm = int((a["MSAGRP"] == "dm_specific").sum())
        assert any(t.startswith(f"{dm}/{len(a)} (") for t in rows[arm])


def test_safety_overview_equals_the_safety_summaries(
    report: RenderedReport, analysed: tuple[DerivedTables, AnalysisResults], trial: ExampleTrial
) -> None:
    derived, _ = analysed
    section = build_safety(derived, trial.adverse_events, trial.infusions)
    assert section.has_periods and section.has_infusions
    frame = section.overview_frames["by_arm"]
    shown = {
        (a["data-col"], a["data-category"]): text
        for tag, a, text in parse(report.html)
        if tag == "td" and "data-category" in a
    }
    for col in section.columns:
        if col.source != "by_arm":
            continue
        for rec in frame[(frame["arm"] == col.arm) & (frame["period"] == col.period)].to_dict(
            "records"
        ):
            text = shown[(col.key, rec["category"])]
            assert text.startswith(f"{rec['n_with_event']} ("), (col.key, rec["category"], text)
            assert f"{rec['n_events']} events" in text
    # the stats summary over the whole trial agrees on the total number of events
    subjects = derived.adsl.rename(columns={"USUBJID": "subject_id", "ARMCD": "arm"})
    overall = summarise_adverse_events(trial.adverse_events, subjects, trial.infusions)
    any_events = overall[overall["category"] == "any"]["n_events"].sum()
    rand_ext = frame[
        (frame["category"] == "any") & frame["period"].isin(["randomised", "extension"])
    ]
    assert rand_ext["n_events"].sum() == any_events == len(trial.adverse_events)
    assert "thromboembolic" in report.html.lower()
    assert 'id="table-te"' in report.html


def test_safety_periods_without_infusions_or_dates(
    trial: ExampleTrial, analysed: tuple[DerivedTables, AnalysisResults]
) -> None:
    derived, _ = analysed
    # visit dates but no infusions: periods from the week-16 visit dates; no reaction table
    dated = build_safety(derived, trial.adverse_events, None)
    assert dated.has_periods and not dated.has_infusions and dated.irr_terms == ()
    adsl = derived.adsl
    n_ext = int(((adsl["ARMCD"] == "ivig") & (adsl["EXTFL"] == "Y")).sum())
    assert dated.denominators["trt_ole"] == f"n = {n_ext}"
    # neither: one period per arm, every event counted once
    undated = build_safety(
        derive_all(trial.visits.drop(columns=["visit_date"]), trial.subjects),
        trial.adverse_events,
        None,
    )
    assert not undated.has_periods
    assert [c.key for c in undated.columns] == ["trt", "ctl"]
    frame = undated.overview_frames["by_arm"]
    any_events = frame[frame["category"] == "any"]["n_events"].sum()
    assert any_events == len(trial.adverse_events)


def test_synthetic_banner(report: RenderedReport) -> None:
    assert "SYNTHETIC DATA — generated by myotrial, not patient data" in report.html
    assert 'id="synthetic-banner"' in report.html


def test_self_contained_no_network_references(report: RenderedReport) -> None:
    for tag, attrs, _ in parse(report.html):
        for key in ("src", "href", "xlink:href"):
            value = attrs.get(key, "")
            assert not value or value.startswith(("#", "data:")), (tag, key, value)
    assert "<link" not in report.html and "<script" not in report.html
    assert report.html.count("<svg") >= 6


def test_same_input_gives_byte_identical_html_and_svg(
    trial: ExampleTrial, report: RenderedReport, input_file: Path, tmp_path: Path
) -> None:
    """A second, independent run (scoring, derivation, analysis, report) writes the same bytes."""
    derived = derive_all(trial.visits.copy(), trial.subjects.copy())
    again = render_report(
        derived,
        analyze(derived),
        out_dir=tmp_path,
        adverse_events=trial.adverse_events.copy(),
        infusions=trial.infusions.copy(),
        inputs={"visits": input_file},
        seed=trial.seed,
        synthetic=True,
        pdf=False,
    )
    assert again.html.read_bytes() == report.html.encode("utf-8")
    assert sorted(p.stem for p in again.figures) == sorted(report.figures)
    for path in again.figures:
        text = path.read_text(encoding="utf-8")
        assert text.startswith('<?xml version="1.0" encoding="utf-8"?>')
        assert text.split("\n", 1)[1] == report.figures[path.stem], path.name
    assert again.pdf is None
    # nothing time-dependent: no date-time of the run anywhere in the document
    assert not re.search(r"20\d\d-\d\d-\d\dT\d\d:\d\d", report.html)


def test_svg_ids_are_unique_in_the_document(report: RenderedReport) -> None:
    ids = re.findall(r'\bid="([^"]+)"', report.html)
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates


def test_inputs_and_seed_are_recorded(
    report: RenderedReport,
    analysed: tuple[DerivedTables, AnalysisResults],
    input_file: Path,
    tmp_path: Path,
) -> None:
    assert hashlib.sha256(input_file.read_bytes()).hexdigest() in report.html
    assert "<td>Seed</td><td>7</td>" in report.html
    derived, results = analysed
    with pytest.raises(FileNotFoundError, match="visits"):
        build_report(derived, results, inputs={"visits": tmp_path / "missing.csv"})


def test_bad_safety_rows_are_all_reported_by_location(trial: ExampleTrial) -> None:
    ae = trial.adverse_events.astype(object)
    ae.loc[0, "subject_id"] = "NOBODY"
    ae.loc[1, "onset"] = "yesterday"
    ae.loc[2, "serious"] = "maybe"
    inf = trial.infusions.astype(object)
    inf.loc[3, "rate_ml_per_kg_min"] = "-1"
    ids = trial.subjects["subject_id"].tolist()
    with pytest.raises(InputValidationError) as err:
        validate_safety_inputs(ae, None, ids)
    problems = err.value.problems
    assert list(problems["row"]) == [1, 2, 3]
    assert list(problems["column"]) == ["subject_id", "onset", "serious"]
    with pytest.raises(InputValidationError) as err2:
        validate_safety_inputs(None, inf, ids)
    assert err2.value.problems.iloc[0]["column"] == "rate_ml_per_kg_min"
    with pytest.raises(InputValidationError, match="required column"):
        validate_safety_inputs(ae.drop(columns=["term"]), None, ids)


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.00004, "<0.0001"),
        (0.00069, "0.0007"),
        (0.0012, "0.001"),
        (0.04249, "0.042"),
        (0.9995, ">0.999"),
        (float("nan"), "\u2013"),
    ],
)
def test_format_p_value(p: float, text: str) -> None:
    assert format_p_value(p) == text


def test_format_number_uses_a_true_minus_and_no_negative_zero() -> None:
    assert format_number(-1.234, 2) == "\u22121.23"
    assert format_number(-0.0001, 2) == "0.00"
    assert parse_number(format_number(-7.5, 1)) == -7.5


def test_emergency_unblinding_recorded_by_the_live_trial_is_in_the_report(
    trial: ExampleTrial, input_file: Path
) -> None:
    """Issue 12: an emergency unblinding (db export ``emergency_unblinded``) is flagged in the
    report, without the arm."""
    subjects = trial.subjects.copy()
    flagged = str(subjects["subject_id"].iloc[0])
    subjects["emergency_unblinded"] = ["true"] + [""] * (len(subjects) - 1)
    derived = derive_all(trial.visits, subjects)
    rendered = build_report(
        derived, analyze(derived, sensitivity=False, repeated_measures=False),
        inputs={"visits": input_file}, synthetic=True,
    )
    assert f"Emergency unblinding was recorded for 1 patient ({flagged})." in rendered.html
