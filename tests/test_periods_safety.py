"""The demo trial through ``myotrial analyze`` and through the report's safety section: both
read ADSL's periods, so every safety denominator, event count and infusion count agrees number
by number (issue 10: they used to give placebo extension n 45 vs 46 and randomised-period
infusions 588 vs 579)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import myotrial.cli.analyze  # noqa: F401  (registers the command)
from myotrial.analysis import analyze
from myotrial.cli import app
from myotrial.derive import DerivedTables, derive_all
from myotrial.report import build_report
from myotrial.report.safety import build_safety
from myotrial.simulate import synthetic_trial
from myotrial.simulate.demo import SyntheticTrial

KEYS = ["arm", "period", "category"]
NUMBERS = ["n_subjects", "n_with_event", "n_events", "n_infusions"]


@pytest.fixture(scope="module")
def demo() -> tuple[SyntheticTrial, DerivedTables]:
    trial = synthetic_trial()  # the demo trial (seed 20221006)
    return trial, derive_all(trial.visits, trial.subjects)


def test_analysis_and_report_safety_agree_number_by_number(
    demo: tuple[SyntheticTrial, DerivedTables], tmp_path: Path
) -> None:
    trial, derived = demo
    res = analyze(derived, adverse_events=trial.adverse_events, infusions=trial.infusions)
    section = build_safety(derived, trial.adverse_events, trial.infusions)
    assert res.safety_overview is not None and section.has_periods
    ana = res.safety_overview.set_index(KEYS)[NUMBERS].sort_index()
    rep = section.overview_frames["by_arm"].set_index(KEYS)[NUMBERS].sort_index()
    assert list(ana.index) == list(rep.index)
    for key in ana.index:
        for col in NUMBERS:
            assert ana.loc[key, col] == rep.loc[key, col], (key, col)

    # the numbers are ADSL's: denominators count ADSL periods, infusions split at ADSL dates
    adsl = derived.adsl[derived.adsl["RANDFL"] == "Y"].set_index("USUBJID")
    open_label = pd.to_datetime(adsl["AP02SDT"]).fillna(pd.to_datetime(adsl["AP03SDT"]))
    inf = trial.infusions.assign(
        arm=trial.infusions["subject_id"].map(adsl["ARMCD"]),
        start=pd.to_datetime(trial.infusions["start"]),
        ole=trial.infusions["subject_id"].map(open_label),
    )
    in_ole = inf["start"] >= inf["ole"]
    for arm in ("ivig", "placebo"):
        mine = adsl["ARMCD"] == arm
        any_rand = ana.loc[(arm, "randomised", "any")]
        any_ext = ana.loc[(arm, "extension", "any")]
        assert any_rand["n_subjects"] == mine.sum()
        assert any_ext["n_subjects"] == (mine & open_label.notna()).sum()
        assert any_rand["n_infusions"] == ((inf["arm"] == arm) & ~in_ole).sum()
        assert any_ext["n_infusions"] == ((inf["arm"] == arm) & in_ole).sum()
    # placebo switchers are in the open-label denominator from their switch
    switchers = adsl[(adsl["ARMCD"] == "placebo") & (adsl["CROSSFL"] == "Y")]
    assert len(switchers) > 0
    assert ana.loc[("placebo", "extension", "any"), "n_subjects"] == (
        (adsl["ARMCD"] == "placebo") & ((adsl["EXTFL"] == "Y") | (adsl["CROSSFL"] == "Y"))
    ).sum()

    # the rendered report shows the same denominators as the analysis
    html = build_report(derived, res, adverse_events=trial.adverse_events,
                        infusions=trial.infusions).html
    table = html[html.index('id="table-ae-overview"'):]
    table = table[: table.index("</table>")]
    shown = [int(n) for n in re.findall(r'<span class="note">n = (\d+)</span>', table)]
    columns = {c.key: c for c in section.columns}
    expected = [
        int(ana.loc[(columns[k].arm, columns[k].period, "any"), "n_subjects"])
        for k in ("trt_rand", "ctl_rand", "trt_ole", "ctl_ole")
    ]
    assert shown[:4] == expected

    # ... and so does `myotrial analyze --json` from the demo's CSV files
    paths = {}
    for name in ("visits", "subjects", "adverse_events", "infusions"):
        paths[name] = tmp_path / f"{name}.csv"
        getattr(trial, name).to_csv(paths[name], index=False)
    out = CliRunner().invoke(app, [
        "analyze", "--visits", str(paths["visits"]), "--subjects", str(paths["subjects"]),
        "--adverse-events", str(paths["adverse_events"]), "--infusions",
        str(paths["infusions"]), "--json"])
    assert out.exit_code == 0, out.output
    cli = pd.DataFrame(json.loads(out.stdout)["safety"]).set_index(KEYS)[NUMBERS].sort_index()
    assert list(cli.index) == list(rep.index)
    for key in cli.index:
        for col in NUMBERS:
            assert cli.loc[key, col] == rep.loc[key, col], (key, col)


def test_without_period_dates_both_use_one_period(
    demo: tuple[SyntheticTrial, DerivedTables],
) -> None:
    trial, _ = demo
    derived = derive_all(trial.visits.drop(columns=["visit_date"]),
                         trial.subjects.drop(columns=["randomisation_date"]))
    res = analyze(derived, adverse_events=trial.adverse_events, infusions=trial.infusions)
    section = build_safety(derived, trial.adverse_events, trial.infusions)
    assert res.safety_overview is not None and not section.has_periods
    assert set(res.safety_overview["period"]) == {"overall"}
    pd.testing.assert_frame_equal(
        res.safety_overview.reset_index(drop=True),
        section.overview_frames["by_arm"].reset_index(drop=True),
    )
