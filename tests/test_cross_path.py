"""Cross-path test (issue 10): the same small trial entered through the web application and
loaded from canonical files gives identical derived tables and identical analysis results.

Path A, the live trial: an investigator screens, records baselines, randomises and enters every
visit, infusion and adverse event through the JSON API (FastAPI TestClient); the unblinded
statistician downloads the canonical tables (``/api/exports/{table}?view=unblinded``).
Path B, files: the same values written as canonical CSV tables by hand (data-format.md), the
arms taken from the allocation list. Both go through ``derive_all`` and ``analyze``.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from myotrial.analysis import analyze
from myotrial.derive import derive_all
from myotrial.protocol import load_protocol
from web_support import BASELINE, WebUser, candidate, make_web_trial

PROTOCOL = load_protocol("proderm")
BETTER = {**BASELINE, "pga": 1.0, "ptga": 1.5, "extramuscular": 0.5, "mmt8": 140.0,
          "haq": 0.25, "ck": 150.0}
SOMEWHAT = {**BASELINE, "pga": 2.5, "ptga": 3.0}
WORSE = {**BASELINE, "extramuscular": 5.5}  # clause B
#: subject -> week -> measures (week 0 = baseline). P3 and P6 deteriorate (confirmed at 8);
#: P7 misses week 16; the others improve to different degrees.
PLAN: dict[str, dict[int, dict[str, float]]] = {
    "P1": {0: BASELINE, 4: SOMEWHAT, 8: BETTER, 12: BETTER, 16: BETTER},
    "P2": {0: BASELINE, 4: BASELINE, 8: SOMEWHAT, 12: SOMEWHAT, 16: SOMEWHAT},
    "P3": {0: BASELINE, 4: WORSE, 8: WORSE, 12: WORSE, 16: SOMEWHAT},
    "P4": {0: BASELINE, 4: BETTER, 8: BETTER, 12: BETTER, 16: BETTER, 28: BETTER, 40: BETTER},
    "P5": {0: BASELINE, 4: SOMEWHAT, 8: SOMEWHAT, 12: BASELINE, 16: BASELINE},
    "P6": {0: BASELINE, 4: WORSE, 8: WORSE, 12: BETTER, 16: BETTER},
    "P7": {0: BASELINE, 4: SOMEWHAT, 8: SOMEWHAT, 12: SOMEWHAT},
    "P8": {0: BASELINE, 4: BETTER, 8: SOMEWHAT, 12: BETTER, 16: BETTER, 28: SOMEWHAT},
}
INFUSIONS = [("P1", 1, "2024-03-02T09:00", "2024-03-02T14:00"),
             ("P3", 1, "2024-03-02T09:00", "2024-03-02T14:00"),
             ("P6", 1, "2024-03-02T09:00", "2024-03-02T14:00")]
START = dt.date(2024, 3, 1)  # randomisation day of every patient (the test clock's day)


def visit_date(week: int) -> str:
    return (START + dt.timedelta(weeks=week)).isoformat()


EVENTS = [("P1", "headache", "nervous system", "2024-03-03T10:00", "mild", False, False),
          ("P3", "deep vein thrombosis", "vascular", "2024-04-01T10:00", "severe", True, True),
          ("P6", "rash", "skin", "2024-03-04T18:00", "moderate", False, False)]


def _ok(response: Any) -> Any:
    assert response.status_code in (200, 201), response.text
    return response


def _web_path(tmp_path: Path) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    t = make_web_trial(tmp_path, n_per_stratum=8)
    inv: WebUser = t.client("inv1")
    for sid, weeks in PLAN.items():
        _ok(inv.post_json("/api/screenings", candidate(sid)))
        _ok(inv.post_json(f"/api/subjects/{sid}/visits",
                          {"visit_week": 0, "measures": weeks[0], "visit_date": visit_date(0)}))
        _ok(inv.post_json(f"/api/subjects/{sid}/randomise", {}))
        for week, measures in weeks.items():
            if week:
                _ok(inv.post_json(f"/api/subjects/{sid}/visits",
                                  {"visit_week": week, "measures": measures,
                                   "visit_date": visit_date(week)}))
    for sid, cycle, start, end in INFUSIONS:
        _ok(inv.post_json(f"/api/subjects/{sid}/infusions", {
            "cycle": cycle, "start": start, "end": end, "dose_g_per_kg": 1.0}))
    for sid, term, system, onset, severity, serious, te in EVENTS:
        _ok(inv.post_json(f"/api/subjects/{sid}/adverse-events", {
            "term": term, "body_system": system, "onset": onset, "severity": severity,
            "serious": serious, "thromboembolic": te}))
    ustat = t.client("ustat")
    tables = {name: pd.read_csv(io.StringIO(_ok(ustat.get(
        f"/api/exports/{name}?view=unblinded&format=csv")).text))
        for name in ("visits", "subjects", "infusions", "adverse_events")}
    arms = {r["subject_id"]: r["arm"] for r in _ok(ustat.get("/api/allocations")).json()}
    return tables, arms


def _file_path(tmp_path: Path, arms: dict[str, str]) -> dict[str, pd.DataFrame]:
    """The same trial as canonical files, written from the plan (not from the database)."""
    folder = tmp_path / "files"
    folder.mkdir()
    visits = pd.DataFrame([{"subject_id": sid, "visit_week": week,
                            "visit_date": visit_date(week), **measures}
                           for sid, weeks in PLAN.items() for week, measures in weeks.items()])
    subjects = pd.DataFrame([{
        "subject_id": sid, "site_id": "01", "arm": arms[sid], "randomised": True,
        "age": candidate(sid)["age"], "sex": candidate(sid)["sex"], "msa_group": "unknown"}
        for sid in PLAN])
    infusions = pd.DataFrame([{"subject_id": sid, "start": start, "end": end,
                               "product": arms[sid], "dose_g_per_kg": 1.0, "cycle": cycle}
                              for sid, cycle, start, end in INFUSIONS])
    events = pd.DataFrame([{"subject_id": sid, "term": term, "body_system": system,
                            "onset": onset, "end": None, "serious": serious,
                            "severity": severity, "related": None, "thromboembolic": te}
                           for sid, term, system, onset, severity, serious, te in EVENTS])
    for name, frame in (("visits", visits), ("subjects", subjects), ("infusions", infusions),
                        ("adverse_events", events)):
        frame.to_csv(folder / f"{name}.csv", index=False)
    return {name: pd.read_csv(folder / f"{name}.csv")
            for name in ("visits", "subjects", "infusions", "adverse_events")}


def _canonical(frame: pd.DataFrame, columns: list[str], keys: list[str]) -> pd.DataFrame:
    return frame[columns].sort_values(keys).reset_index(drop=True)


def test_web_entry_and_files_give_identical_derived_tables_and_results(tmp_path: Path) -> None:
    live, arms = _web_path(tmp_path)
    assert set(arms.values()) == {"ivig", "placebo"}
    files = _file_path(tmp_path, arms)
    # the live export carries extra columns (kit codes, strata, deterioration week ...)
    a = derive_all(live["visits"], live["subjects"], PROTOCOL)
    b = derive_all(files["visits"], files["subjects"], PROTOCOL)
    keys = {"adsl": ["USUBJID"], "adrs": ["USUBJID", "PARAMCD"],
            "adeff": ["USUBJID", "AVISITN", "PARAMCD"], "adtte": ["USUBJID", "PARAMCD"]}
    for name, by in keys.items():
        fa, fb = getattr(a, name), getattr(b, name)
        assert len(fb) > 0, name
        by = [k for k in by if k in fb.columns]
        pd.testing.assert_frame_equal(_canonical(fa, list(fb.columns), by),
                                      _canonical(fb, list(fb.columns), by),
                                      check_dtype=False, obj=name)
    adsl = b.adsl.set_index("USUBJID")
    assert set(adsl.loc[["P3", "P6"], "CDFL"]) == {"Y"}  # both deteriorations seen
    switchers = adsl.loc[adsl["CROSSFL"] == "Y"].index
    assert all(arms[s] == "placebo" for s in switchers)
    # identical analysis results, safety included
    ra = analyze(a, adverse_events=live["adverse_events"], infusions=live["infusions"])
    rb = analyze(b, adverse_events=files["adverse_events"], infusions=files["infusions"])
    pd.testing.assert_frame_equal(ra.to_ard(), rb.to_ard(), check_dtype=False)
    assert len(ra.to_ard()) > 10


@pytest.mark.parametrize("table", ["infusions", "adverse_events"])
def test_exported_safety_tables_match_the_files(tmp_path: Path, table: str) -> None:
    live, arms = _web_path(tmp_path)
    files = _file_path(tmp_path, arms)
    columns = [c for c in files[table].columns if c not in ("end", "related")]
    by = ["subject_id", "start"] if table == "infusions" else ["subject_id", "onset"]
    times = [c for c in ("start", "end", "onset") if c in columns]
    a, b = (frame.assign(**{c: pd.to_datetime(frame[c]) for c in times})
            for frame in (live[table], files[table]))
    pd.testing.assert_frame_equal(_canonical(a, columns, by), _canonical(b, columns, by),
                                  check_dtype=False)
