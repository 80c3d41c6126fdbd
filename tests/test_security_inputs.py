"""Inputs (issue 12): the ten inputs that gave HTTP 500 on main, protocol-bounded weeks and
dates, kits checked against the allocation, control characters and NUL bytes, the request
size limit, CSV formula injection, a correction to "nan", and a plot bounded by the protocol.
Each case failed on main (a 500, or accepted and stored)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import db_support
from db_support import BASELINE, Trial, enrol, snapshot
from myotrial.errors import InputValidationError
from myotrial.web.plot import render_timeline_svg
from web_support import WebTrial, candidate, make_web_trial

database_url = pytest.fixture(params=db_support.BACKENDS)(db_support.database_url)


@pytest.fixture
def db_trial(database_url: str) -> Iterator[Trial]:
    yield from db_support.trial(database_url)


@pytest.fixture
def web(tmp_path: Path) -> WebTrial:
    t = make_web_trial(tmp_path, n_per_stratum=8)
    t.enrol("P001")
    t.enrol("P002")
    t.service.record_screening(t.actors["inv1"], candidate("P003"))
    return t


#: The ten inputs of the issue that gave HTTP 500 (user, method path, body).
FIVE_HUNDREDS: list[tuple[str | None, str, Any]] = [
    ("inv1", "/api/subjects/P001/visits", {"visit_week": "nan", "measures": BASELINE}),
    ("inv1", "/api/subjects/P001/visits", {"visit_week": 2**63, "measures": BASELINE}),
    ("inv1", "/api/subjects/P001/visits", {"visit_week": 2**64 + 5, "measures": BASELINE}),
    ("inv1", "/api/subjects/P001/infusions", {"cycle": 1e20, "start": "2024-03-02T09:00",
                                              "end": "2024-03-02T12:00", "dose_g_per_kg": 1}),
    ("inv1", "/api/subjects/P001/infusions", {"cycle": "nan", "start": "2024-03-02T09:00",
                                              "end": "2024-03-02T12:00", "dose_g_per_kg": 1}),
    ("inv1", "/api/screenings", {**candidate("P009"), "sex": 1}),
    ("inv1", "/api/corrections", {"table": "visits", "key": {"subject_id": "P001",
                                                             "visit_week": "nan"},
                                  "field": "pga", "value": 3, "reason": "typo"}),
    ("ustat", "/api/randomisation-list", {"seed": -1}),
    (None, "/api/tis", {"baseline": {"pga": 1e308, "ptga": 5, "extramuscular": 5,
                                     "mmt8": 100, "haq": 1},
                        "follow_up": {"pga": 1, "ptga": 5, "extramuscular": 5, "mmt8": 100,
                                      "haq": 1}}),
    ("inv1", "/api/subjects/P001/adverse-events", {"term": "head\x00ache",
                                                   "onset": "2024-03-03T10:00",
                                                   "severity": "mild"}),
]


@pytest.mark.parametrize(("username", "path", "body"), FIVE_HUNDREDS)
def test_the_ten_server_errors_are_now_client_errors(web: WebTrial, username: str | None,
                                                     path: str, body: Any) -> None:
    user = web.client(username)
    if username is None:
        user.csrf = user.get("/api/session").json()["csrf_token"]
    before = snapshot(web.service.engine)
    r = user.post_json(path, body)
    assert 400 <= r.status_code < 500, r.text
    assert snapshot(web.service.engine) == before


def test_nul_byte_is_refused_on_every_backend(db_trial: Trial) -> None:
    enrol(db_trial, "P001")
    for text in ("head\x00ache", "escape\x1b[31m", "bell\x07"):
        with pytest.raises(InputValidationError, match="control characters"):
            db_trial.service.record_adverse_event(db_trial.inv1, "P001", term=text,
                                                  onset="2024-03-03T10:00", severity="mild")
    with pytest.raises(InputValidationError, match="control characters"):
        db_trial.service.record_screening(db_trial.inv1, candidate("P\x00X"))


@pytest.mark.parametrize("week", [5, 99, 10**7, 2**40, -4, "4.5", "nan", "inf"])
def test_visit_weeks_on_the_protocol_schedule_only(web: WebTrial, week: Any) -> None:
    r = web.client("inv1").post_json("/api/subjects/P001/visits",
                                     {"visit_week": week, "measures": BASELINE})
    assert r.status_code == 422, r.text
    assert web.client("inv1").get("/subjects/P001").status_code == 200


def test_the_plot_is_bounded_by_the_protocol() -> None:
    """main drew a tick every 8 weeks to week 2^40 (memory exhausted)."""
    data = {"subject": {"subject_id": "P1", "randomised_at": "2024-03-01T08:00:00"},
            "visits": [{"visit_week": 2**40, "tis": 50.0, "cd_confirmed": False,
                        "worsening": False}],
            "adverse_events": [{"onset": "9999-01-01T00:00:00", "term": "x"}]}
    svg = render_timeline_svg(data, (20, 40, 60), 40)
    assert len(svg) < 50_000


@pytest.mark.parametrize(("call", "column"), [
    (lambda s, a: s.record_visit(a, "P001", 4, BASELINE, visit_date="1900-01-01"), "visit_date"),
    (lambda s, a: s.record_visit(a, "P001", 4, BASELINE, visit_date="2099-01-01"), "visit_date"),
    # week 4 is randomisation (2024-03-01) + 28 days +/- 7: 2024-04-20 lies outside
    (lambda s, a: s.record_visit(a, "P001", 4, BASELINE, visit_date="2024-04-20"), "visit_date"),
    (lambda s, a: s.record_infusion(a, "P001", cycle=1, start="1900-01-01T09:00",
                                    end="1900-01-01T12:00", dose_g_per_kg=1), "start"),
    (lambda s, a: s.record_infusion(a, "P001", cycle=1, start="2099-01-01T09:00",
                                    end="2099-01-01T12:00", dose_g_per_kg=1), "start"),
    (lambda s, a: s.record_adverse_event(a, "P001", term="rash", onset="1900-01-01T09:00",
                                         severity="mild"), "onset"),
    (lambda s, a: s.record_adverse_event(a, "P001", term="rash", onset="2099-01-01T09:00",
                                         severity="mild"), "onset"),
    # consent was given on 2024-02-20 (db_support.CONSENT_DATE)
    (lambda s, a: s.record_adverse_event(a, "P001", term="rash", onset="2024-02-01T09:00",
                                         severity="mild"), "onset"),
    (lambda s, a: s.record_screening(a, candidate("P050", consent_date="2099-01-01")),
     "consent_date"),
    (lambda s, a: s.record_screening(a, candidate("P051", consent_date=None)), "consent_date"),
])
def test_dates_within_the_protocol_and_not_in_the_future(db_trial: Trial, call: Any,
                                                         column: str) -> None:
    enrol(db_trial, "P001")
    before = snapshot(db_trial.engine)
    with pytest.raises(InputValidationError) as info:
        call(db_trial.service, db_trial.inv1)
    assert column in set(info.value.problems["column"])
    assert snapshot(db_trial.engine) == before
    ok = db_trial.service.record_visit(db_trial.inv1, "P001", 4, BASELINE,
                                       visit_date="2024-03-29")
    assert ok.visit_week == 4


def test_kits_are_checked_against_the_allocation_without_naming_an_arm(web: WebTrial) -> None:
    inv1 = web.client("inv1")
    body = {"cycle": 1, "start": "2024-03-02T09:00", "end": "2024-03-02T12:00",
            "dose_g_per_kg": 1}
    own = web.service.get_subject(web.actors["inv1"], "P001").kit_code
    other = web.service.get_subject(web.actors["inv1"], "P002").kit_code
    before = snapshot(web.service.engine)
    theirs = inv1.post_json("/api/subjects/P001/infusions", {**body, "kit_code": other})
    unknown = inv1.post_json("/api/subjects/P001/infusions", {**body, "kit_code": "K000001"})
    assert theirs.status_code == unknown.status_code == 422
    assert theirs.text.replace(str(other), "K") == unknown.text.replace("K000001", "K")
    assert snapshot(web.service.engine) == before
    assert inv1.post_json("/api/subjects/P001/infusions",
                          {**body, "kit_code": own}).status_code == 201
    r = inv1.post_json("/api/corrections", {"table": "infusions", "key": {"infusion_id": 1},
                                            "field": "kit_code", "value": other,
                                            "reason": "typo"})
    assert r.status_code == 422 and "not the kit allocated" in r.text


def test_request_size_limit(web: WebTrial) -> None:
    inv1 = web.client("inv1")
    big = "x" * (3 * 1024 * 1024)
    r = inv1.http.post("/api/subjects/P001/adverse-events", content=big,
                       headers={"X-CSRF-Token": inv1.csrf, "content-type": "application/json"})
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        for _ in range(40):
            yield b"x" * 100_000

    r = inv1.http.post("/api/tis", content=chunks(), headers={"content-type":
                                                             "application/json"})
    assert r.status_code == 413


def test_csv_exports_neutralise_formulas(web: WebTrial) -> None:
    inv1 = web.client("inv1")
    for term in ('=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)"):
        assert inv1.post_json("/api/subjects/P001/adverse-events", {
            "term": term, "onset": "2024-03-03T10:00", "severity": "mild"}).status_code == 201
    text = web.client("monitor").get("/api/exports/adverse_events").text
    terms = pd.read_csv(io.StringIO(text), dtype=str)["term"].tolist()
    assert all(t.startswith("'") for t in terms), terms
    visits = pd.read_csv(io.StringIO(web.client("monitor").get("/api/exports/visits").text))
    assert pd.api.types.is_numeric_dtype(visits["pga"])  # numbers stay numbers


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", float("nan")])
def test_a_correction_to_nan_is_refused(db_trial: Trial, value: Any) -> None:
    enrol(db_trial, "P001")
    before = snapshot(db_trial.engine)
    with pytest.raises(InputValidationError, match="finite number"):
        db_trial.service.correct_record(db_trial.inv1, "visits",
                                        {"subject_id": "P001", "visit_week": 0}, "pga", value,
                                        "typo")
    assert snapshot(db_trial.engine) == before
