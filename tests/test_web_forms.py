"""Pages and JSON API: the trial workflow, and bad input to every form and API call.

Every bad request gets a clear, located error (422 with subject / visit / field, 404, 409) and
changes nothing: the row counts of every table, the visits and the audit head are the same
before and after.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from myotrial.db import DETERIORATION_DESCRIPTION as DESCRIPTION
from myotrial.settings import Settings
from myotrial.web.security import SESSION_COOKIE
from web_support import BASELINE, WebTrial, candidate, make_web_trial, snapshot

WORSE = {**BASELINE, "pga": 7.0, "ptga": 7.0, "extramuscular": 6.0, "mmt8": 100.0}


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> WebTrial:
    t = make_web_trial(Path(tmp_path_factory.mktemp("forms")))
    t.enrol("P001")
    t.service.record_screening(t.actors["inv1"], candidate("P002"))  # eligible, not randomised
    return t


def _form(values: dict[str, object]) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in values.items()}


# (user, kind, path, body, expected status, text the error must contain)
BAD_API = [
    ("inv1", "/api/subjects/P001/visits", {"visit_week": 4, "measures": {"pga": 12, "mmt8": -1}},
     422, "Physician global activity"),
    ("inv1", "/api/subjects/P001/visits", {"visit_week": "four", "measures": {"pga": 2}}, 422,
     "visit_week"),
    ("inv1", "/api/subjects/P001/visits", {"visit_week": 4, "measures": {"pgaa": 2}}, 422,
     "not a measure"),
    ("inv1", "/api/subjects/P001/visits", {"visit_week": 0, "measures": BASELINE}, 422,
     "already recorded"),
    ("inv1", "/api/subjects/P002/visits", {"visit_week": 4, "measures": BASELINE}, 422,
     "not randomised"),
    ("inv1", "/api/subjects/NOPE/visits", {"visit_week": 4, "measures": BASELINE}, 404,
     "no subject"),
    ("inv1", "/api/subjects/P001/visits", {"visit_week": 4, "measures": {}, "extra": 1}, 422,
     "extra"),
    ("inv1", "/api/subjects/P001/visits", "not json", 422, ""),
    ("inv1", "/api/subjects/P001/randomise", {}, 409, "already randomised"),
    # issue 12: the stratum comes from the recorded data, it cannot be typed
    ("inv1", "/api/subjects/P001/randomise", {"stratum": "site=09"}, 422, "stratum"),
    ("inv1", "/api/screenings", {"subject_id": "bad id!", "age": "old"}, 422, ""),
    ("inv1", "/api/screenings", candidate("P001"), 422, "already randomised"),
    ("inv1", "/api/subjects/P001/infusions", {"cycle": 0, "start": "2024-03-02T10:00",
                                              "end": "2024-03-02T09:00", "dose_g_per_kg": 3},
     422, "end must be after start"),
    ("inv1", "/api/subjects/P002/infusions", {"cycle": 1, "start": "2024-03-02T09:00",
                                              "end": "2024-03-02T10:00", "dose_g_per_kg": 1},
     422, "not randomised"),
    ("inv1", "/api/subjects/P001/adverse-events", {"term": "", "onset": "yesterday",
                                                   "severity": "awful"}, 422, "onset"),
    ("inv1", "/api/subjects/P001/adverse-events", {"term": "rash", "onset": "2024-03-03",
                                                   "severity": "awful"}, 422, "severity"),
    ("inv1", "/api/subjects/P001/disposition", {"completed_week_16": "perhaps"}, 422,
     "completed_week_16"),
    ("inv1", "/api/corrections", {"table": "visits", "key": {"subject_id": "P001",
                                                             "visit_week": 0},
                                  "field": "pga", "value": 3, "reason": ""}, 422, "reason"),
    ("inv1", "/api/corrections", {"table": "allocations", "key": {"subject_id": "P001"},
                                  "field": "kit_code", "value": "K1", "reason": "x"}, 422,
     "cannot be corrected"),
    ("inv1", "/api/corrections", {"table": "visits", "key": {"subject_id": "P001",
                                                             "visit_week": 0},
                                  "field": "pga", "value": 11, "reason": "typo"}, 422,
     "between 0 and 10"),
    ("ustat", "/api/randomisation-list", {}, 409, "already loaded"),
    # issue 12: no seed from the web (the server's CSPRNG draws the list)
    ("ustat", "/api/randomisation-list", {"seed": 1}, 422, "seed"),
    # block sizes come from the protocol: a request cannot set them
    ("ustat", "/api/randomisation-list", {"block_sizes": [3]}, 422, "block_sizes"),
    ("ustat", "/api/randomisation-list", {"factors": {"site": ["01"]}}, 422,
     "stratifies by nothing"),
    ("admin", "/api/sites", {"site_id": "01", "name": "again"}, 422, "already exists"),
    ("admin", "/api/sites", {"site_id": "", "name": ""}, 422, "site_id"),
    ("admin", "/api/users", {"username": "new", "password": "short", "role": "wizard"}, 422,
     "role must be one of"),
    ("admin", "/api/users", {"username": "inv9", "password": "long enough pw",
                             "role": "site_investigator"}, 422, "needs a site_id"),
    ("admin", "/api/users/nobody/deactivate", {"reason": "left"}, 404, "no user"),
    ("admin", "/api/users/inv2/deactivate", {"reason": ""}, 422, "reason"),
    (None, "/api/login", {"username": "inv1", "password": "wrong password"}, 401,
     "wrong password"),
]


@pytest.mark.parametrize(("username", "path", "body", "status", "text"), BAD_API,
                         ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_API)])
def test_bad_api_input_is_located_and_changes_nothing(
        trial: WebTrial, username: str | None, path: str, body: object, status: int,
        text: str) -> None:
    user = trial.client(username)
    if username is None:
        user.csrf = user.get("/api/session").json()["csrf_token"]
    before = snapshot(trial.service.engine)
    if isinstance(body, str):
        r = user.http.post(path, content=body, headers={"X-CSRF-Token": user.csrf,
                                                         "content-type": "application/json"})
    else:
        r = user.post_json(path, body)
    assert r.status_code == status, r.text
    assert text in r.text
    if status == 422 and isinstance(r.json()["detail"], list):
        for problem in r.json()["detail"]:
            assert "loc" in problem and problem["msg"]
    after = snapshot(trial.service.engine)
    if path == "/api/login":  # issue 12: a failed login is an audit row, nothing else
        for key in ("audit_log", "audit_head_row"):
            after.pop(key), before.pop(key)
    assert after == before


def test_visit_problems_are_located_by_subject_visit_field(trial: WebTrial) -> None:
    user = trial.client("inv1")
    r = user.post_json("/api/subjects/P001/visits",
                       {"visit_week": 4, "measures": {**BASELINE, "pga": 12, "haq": 4}})
    assert r.status_code == 422
    locs = sorted(tuple(p["loc"]) for p in r.json()["detail"])
    assert locs == [("P001", "4", "haq"), ("P001", "4", "pga")]


BAD_FORMS = [
    ("inv1", "/subjects/P001/visits", {"visit_week": "4", "pga": "twelve", "mmt8": "120"},
     "pga must be a finite number"),
    ("inv1", "/subjects/P001/visits", {"visit_week": "41", "pga": "2"},
     "schedule of protocol proderm: 0, 4, 8, 12, 16, 28, 40"),
    ("inv1", "/subjects/P001/visits", {"visit_week": "", "pga": "2"}, "visit_week"),
    ("inv1", "/subjects/P001/infusions", {"cycle": "1", "start": "2024-03-02T10:00",
                                         "end": "2024-03-02T09:00", "dose_g_per_kg": "1"},
     "end must be after start"),
    ("inv1", "/subjects/P001/adverse-events", {"term": "rash", "onset": "", "severity": "mild"},
     "onset"),
    ("inv1", "/subjects/P001/disposition", {"completed_week_16": "maybe"}, "completed_week_16"),
    ("inv1", "/subjects/P001/corrections", {"table": "visits", "record": "0", "field": "pga",
                                            "value": "3", "reason": ""}, "reason"),
    ("inv1", "/subjects/P001/randomise", {}, "already randomised"),
    ("inv1", "/screening", {"subject_id": "P003", "age": "fifty"}, "age"),
    ("ustat", "/randomisation", {"n_per_stratum": "abc"}, "n_per_stratum"),
    ("admin", "/admin/sites", {"site_id": "01", "name": "dup"}, "already exists"),
    ("admin", "/admin/users", {"username": "u", "password": "x", "role": "monitor"},
     "password"),
    ("admin", "/admin/users/inv2/deactivate", {"reason": ""}, "reason"),
]


@pytest.mark.parametrize(("username", "path", "form", "text"), BAD_FORMS,
                         ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_FORMS)])
def test_bad_form_input_is_shown_and_changes_nothing(
        trial: WebTrial, username: str, path: str, form: dict[str, str], text: str) -> None:
    user = trial.client(username)
    before = snapshot(trial.service.engine)
    r = user.post_form(path, form)
    assert r.status_code in (409, 422), r.text[:300]
    assert text in r.text
    assert 'role="alert"' in r.text
    for key, value in form.items():  # the values typed are kept
        if value and key not in ("password", "completed_week_16"):
            assert f'value="{value}"' in r.text or f'value="{value}" selected' in r.text or \
                f'<option value="{value}" selected' in r.text, (key, value)
    after = snapshot(trial.service.engine)
    # pages showing the subject read it through the (audited) export: only audit rows differ
    for name in after:
        if name not in ("audit_log", "audit_head_row"):
            assert after[name] == before[name], name


def test_screening_page_shows_verdict_and_reasons(trial: WebTrial) -> None:
    user = trial.client("inv1")
    assert user.get("/screening").status_code == 200
    row = candidate("S100", age=85, ivig_last_6_months=True)
    r = user.post_form("/screening", _form(row))
    assert r.status_code == 200, r.text[:500]
    assert re.search(r'id="verdict-status">ineligible<', r.text)
    reasons = re.search(r'<ul id="verdict-reasons">(.*?)</ul>', r.text, re.S)
    assert reasons is not None and "age" in reasons.group(1).lower()
    r = user.post_form("/screening", _form(candidate("S101")))
    assert re.search(r'id="verdict-status">eligible<', r.text)
    row = candidate("S102")
    row["mmt8"] = None
    r = user.post_form("/screening", _form(row))
    assert re.search(r'id="verdict-status">not assessable<', r.text)


def test_visit_entry_shows_instant_score_and_deterioration_alert(trial: WebTrial) -> None:
    inv = trial.client("inv1")
    trial.enrol("P010")
    r = inv.post_form("/subjects/P010/visits", _form({"visit_week": 4, **WORSE}))
    assert r.status_code == 200
    assert 'id="visit-tis">TIS 0<' in r.text and 'id="visit-clauses">B, C<' in r.text
    assert 'id="deterioration-alert"' not in r.text
    r = inv.post_form("/subjects/P010/visits", _form({"visit_week": 8, **WORSE}))
    assert 'id="visit-cd">yes<' in r.text and 'id="deterioration-recorded"' in r.text
    assert 'id="deterioration-alert"' in r.text and DESCRIPTION in r.text
    dash = inv.get("/api/dashboard").json()
    assert any(d["subject_id"] == "P010" and d["status"] == "confirmed"
               for d in dash["deteriorations"])
    svg = inv.get("/subjects/P010/plot.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg") and DESCRIPTION in svg.text


def test_adverse_event_within_72_hours_is_flagged(trial: WebTrial) -> None:
    inv = trial.client("inv1")
    trial.enrol("P011")
    r = inv.post_json("/api/subjects/P011/infusions", {
        "cycle": 1, "start": "2024-03-02T09:00", "end": "2024-03-02T14:00",
        "dose_g_per_kg": 1.0, "rate_ml_per_kg_min": 0.05})
    assert r.status_code == 201 and "protocol maximum 0.04" in r.json()["warnings"][0]
    r = inv.post_json("/api/subjects/P011/adverse-events", {
        "term": "headache", "onset": "2024-03-05T14:00", "severity": "mild"})  # exactly 72 h
    assert r.json()["infusion_related"] is True and r.json()["infusion_cycle"] == 1
    r = inv.post_json("/api/subjects/P011/adverse-events", {
        "term": "nausea", "onset": "2024-03-05T14:01", "severity": "mild"})
    assert r.json()["infusion_related"] is False
    r = inv.post_form("/subjects/P011/adverse-events", _form({
        "term": "pulmonary embolism", "onset": "2024-03-03T08:00", "severity": "severe",
        "serious": "true", "thromboembolic": "true"}))
    assert r.status_code == 200
    assert 'id="ae-thromboembolic"' in r.text and "THROMBOEMBOLIC" in r.text
    assert "infusion-related</span> onset during infusion cycle 1" in r.text


def test_sessions_cookies_and_logout(tmp_path: Path) -> None:
    t = make_web_trial(tmp_path, settings=Settings(secret_key="k", secure_cookies=True))
    user = t.client()
    r = user.get("/api/session")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for flag in ("HttpOnly", "SameSite=Lax", "Secure", "Path=/"):
        assert flag in cookie
    # a login page form, a failed login, a tampered cookie
    (tmp_path / "b").mkdir()
    t2 = make_web_trial(tmp_path / "b")
    user = t2.client()
    page = user.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = user.http.post("/login", data={"username": "inv1", "password": "nope nope nope",
                                       "csrf_token": token.group(1)})
    assert r.status_code == 401 and "wrong password" in r.text
    r = user.http.post("/login", data={"username": "inv1", "password": "correct horse battery",
                                       "csrf_token": token.group(1), "next": "//evil.example"})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    assert user.get("/dashboard").status_code == 200
    value = user.http.cookies.get(SESSION_COOKIE)
    assert value is not None
    forged = value.replace(value.split(".")[0], value.split(".")[0][:-2] + "xx")
    intruder = t2.client()
    intruder.http.cookies.set(SESSION_COOKIE, forged)
    assert intruder.get("/api/subjects").status_code == 401
    # logout ends the session
    page = user.get("/dashboard")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = user.http.post("/logout", data={"csrf_token": token.group(1)})
    assert r.status_code == 303
    assert user.get("/api/subjects").status_code == 401


def test_deactivated_user_loses_access_at_the_next_request(tmp_path: Path) -> None:
    t = make_web_trial(tmp_path)
    monitor = t.client("monitor")
    assert monitor.get("/api/subjects").status_code == 200
    admin = t.client("admin")
    r = admin.post_json("/api/users/monitor/deactivate", {"reason": "left the trial"})
    assert r.status_code == 200 and r.json()["active"] is False
    r = monitor.get("/api/subjects")
    # issue 12: deactivation ends the user's server-side sessions: they are logged out
    assert r.status_code == 401 and "login required" in r.text


def test_unblinded_statistician_pages(trial: WebTrial) -> None:
    ustat = trial.client("ustat")
    assert ustat.get("/allocations").status_code == 200
    r = ustat.get("/api/exports/subjects?view=unblinded&format=json")
    assert r.status_code == 200 and "arm" in r.json()[0]
    assert ustat.get("/randomisation").status_code == 200
    blinded = trial.client("bstat")
    assert blinded.get("/api/exports/subjects?view=unblinded").status_code == 403


def test_openapi_and_api_docs_describe_the_api() -> None:
    from fastapi.testclient import TestClient

    from myotrial.web import create_app

    client = TestClient(create_app())
    spec = client.get("/openapi.json").json()
    for path in ("/api/tis", "/api/login", "/api/subjects/{subject_id}/visits",
                 "/api/dashboard", "/api/exports/{table}"):
        assert path in spec["paths"], path
    assert "/subjects/{subject_id}" not in spec["paths"]  # pages are not API
    page = client.get("/api-docs")
    assert page.status_code == 200 and "/api/subjects/{subject_id}/visits" in page.text
    assert client.get("/docs").status_code == 404  # no CDN-loaded Swagger page
    assert client.get("/api/subjects").status_code == 503 or \
        client.get("/api/subjects").status_code == 401
