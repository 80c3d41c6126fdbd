"""A blinded user never sees an allocation: pages, JSON API, exports, errors, OpenAPI.

The trial uses the protocol's real arm codes (``ivig``, ``placebo``) with both arms randomised,
deteriorations confirmed in both arms (crossover for the placebo one), infusions, adverse events,
corrections and disposition. Every GET endpoint is crawled as each blinded role (and anonymous),
for every subject and export table, together with provoked errors; every response body and
header is searched for the arm codes, their labels and the product's name. A positive control
shows the same search finds the arms in the unblinded statistician's views.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from myotrial.db.exports import EXPORT_TABLES
from myotrial.web.access import ROUTE_RULES
from web_support import BASELINE, WebTrial, WebUser, arm_leaks, candidate, make_web_trial

WORSE = {**BASELINE, "pga": 7.0, "ptga": 7.0, "extramuscular": 6.0, "mmt8": 100.0}


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> WebTrial:
    t = make_web_trial(Path(tmp_path_factory.mktemp("blinding")))
    svc, inv1, inv2 = t.service, t.actors["inv1"], t.actors["inv2"]
    for sid in ("P001", "P002", "P003", "P004"):
        t.enrol(sid)
    t.enrol("Q001", "inv2")
    arms = {sid: t.arm_of(sid) for sid in ("P001", "P002", "P003", "P004")}
    assert set(arms.values()) == {"ivig", "placebo"}
    on_placebo = next(s for s, a in arms.items() if a == "placebo")
    on_ivig = next(s for s, a in arms.items() if a == "ivig")
    for sid in (on_placebo, on_ivig):  # confirmed deterioration in both arms
        svc.record_visit(inv1, sid, 4, WORSE)
        assert svc.record_visit(inv1, sid, 8, WORSE).cd_confirmed
    for sid in ("P001", "P002"):
        svc.record_infusion(inv1, sid, cycle=1, start="2024-03-02T09:00",
                            end="2024-03-02T14:00", dose_g_per_kg=1.0, rate_ml_per_kg_min=0.05)
        svc.record_adverse_event(inv1, sid, term="headache", onset="2024-03-03T10:00",
                                 severity="mild")
    svc.record_adverse_event(inv1, "P003", term="deep vein thrombosis",
                             onset="2024-04-01T10:00", severity="severe", serious=True,
                             thromboembolic=True)
    svc.record_visit(inv2, "Q001", 4, {**BASELINE, "pga": 2.0})
    svc.correct_record(inv1, "visits", {"subject_id": "P003", "visit_week": 0}, "pga", 4.5,
                       "source document verification")
    svc.record_disposition(inv1, "P004", discontinuation_reason="withdrew consent")
    svc.record_screening(inv1, candidate("P009", age=85))  # ineligible, not randomised
    return t


SUBJECTS = ("P001", "P002", "P003", "P004", "P009", "Q001", "NOPE")


def _get_urls() -> list[str]:
    urls = []
    for (method, path), _rule in ROUTE_RULES.items():
        if method != "GET":
            continue
        if "{subject_id}" in path:
            urls += [path.replace("{subject_id}", s) for s in SUBJECTS]
        elif "{table}" in path:
            for table in (*EXPORT_TABLES, "allocations"):
                base = path.replace("{table}", table)
                urls += [base, f"{base}?format=json", f"{base}?view=unblinded"]
        else:
            urls.append(path)
    urls += ["/audit?subject_id=P001", "/api/audit?subject_id=P003", "/api/audit?subject_id=NOPE",
             "/login?next=/allocations", "/no-such-page", "/api/no-such-endpoint"]
    return urls


def _provoke_errors(user: WebUser) -> list[str]:
    """Requests that fail, as this user: their responses must not leak either."""
    out = []
    for path, body in (
        ("/api/subjects/P001/randomise", {}),  # already randomised (kit ...)
        ("/api/subjects/P009/randomise", {}),  # not eligible
        ("/api/subjects/P001/visits", {"visit_week": 4, "measures": {"pga": 40}}),
        ("/api/subjects/P001/visits", {"visit_week": 0, "measures": WORSE}),  # recorded
        ("/api/subjects/NOPE/visits", {"visit_week": 4, "measures": WORSE}),
        ("/api/subjects/Q001/visits", {"visit_week": 4, "measures": WORSE}),
        ("/api/subjects/P001/infusions", {"cycle": 0, "start": "x", "end": "y",
                                          "dose_g_per_kg": 9}),
        ("/api/subjects/P001/adverse-events", {"term": "", "onset": "soon", "severity": "bad"}),
        ("/api/corrections", {"table": "allocations", "key": {"subject_id": "P001"},
                              "field": "arm", "value": "x", "reason": "test"}),
        ("/api/screenings", {"subject_id": "P001", "age": 50}),
        ("/api/randomisation-list", {"seed": 1}),
        ("/api/users", {"username": "x", "password": "short", "role": "monitor"}),
    ):
        r = user.post_json(path, body)
        assert r.status_code >= 400, (path, r.status_code, r.text)
        out.append(f"{path} {r.status_code} {r.headers} {r.text}")
    for path, form in (
        ("/subjects/P001/randomise", {}),
        ("/subjects/P001/visits", {"visit_week": "4", "pga": "forty"}),
        ("/subjects/P001/corrections", {"table": "visits", "record": "0", "field": "pga",
                                        "value": "4", "reason": ""}),
    ):
        r = user.post_form(path, form)
        assert r.status_code >= 300, (path, r.status_code)  # anonymous: to the login
        out.append(f"{path} {r.status_code} {r.text}")
    return out


def _crawl(user: WebUser) -> dict[str, str]:
    seen = {}
    for url in _get_urls():
        r = user.get(url)
        seen[f"GET {url} -> {r.status_code}"] = f"{r.headers}\n{r.text}"
    return seen


@pytest.mark.parametrize("username", ["inv1", "inv2", "monitor", "bstat", "admin", None])
def test_blinded_roles_never_see_an_allocation(trial: WebTrial, username: str | None) -> None:
    user = trial.client(username)
    if username is None:
        user.csrf = user.get("/api/session").json()["csrf_token"]
    seen = _crawl(user)
    for i, text in enumerate(_provoke_errors(user)):
        seen[f"error {i}"] = text
    ok = [k for k in seen if " -> 200" in k]
    assert len(ok) >= (3 if username in (None, "admin") else 15), sorted(seen)
    leaks = {where: found for where, text in seen.items() if (found := arm_leaks(text))}
    assert leaks == {}


def test_the_search_finds_arms_in_the_unblinded_views(trial: WebTrial) -> None:
    ustat = trial.client("ustat")
    for url in ("/allocations", "/api/allocations", "/dashboard", "/api/dashboard",
                "/api/exports/subjects?view=unblinded", "/api/exports/infusions?view=unblinded",
                "/subjects/P001"):
        r = ustat.get(url)
        assert r.status_code == 200, url
        assert arm_leaks(r.text), url
    # the unblinded statistician's blinded export is blinded too
    assert not arm_leaks(ustat.get("/api/exports/subjects").text)
    dash = ustat.get("/api/dashboard").json()
    assert dash["view"] == "by arm" and set(dash["by_arm"]) == {"ivig", "placebo"}
    switch = [d for d in dash["deteriorations"] if d["status"] == "confirmed"]
    assert sorted((d["arm"], d["crossover_to"]) for d in switch) == [
        ("ivig", None), ("placebo", "ivig")]


def test_blinded_dashboard_is_pooled(trial: WebTrial) -> None:
    for name in ("monitor", "bstat", "inv1"):
        dash = trial.client(name).get("/api/dashboard").json()
        assert dash["view"] == "pooled" and "by_arm" not in dash
        confirmed = [d for d in dash["deteriorations"] if d["status"] == "confirmed"]
        assert confirmed and all(set(d) == {"subject_id", "site_id", "status", "visit_week",
                                            "action"} for d in confirmed)
    site2 = trial.client("inv2").get("/api/dashboard").json()
    assert [r["site_id"] for r in site2["enrolment"]] == ["02"]


def test_blinded_deterioration_is_the_same_in_both_arms(trial: WebTrial) -> None:
    """The placebo patient switches and the IVIG patient does not, but every blinded view
    shows the same deterioration event for both (no 'switch', no crossover week)."""
    import re

    arms = {sid: trial.arm_of(sid) for sid in ("P001", "P002", "P003", "P004")}
    placebo = next(s for s, a in arms.items() if a == "placebo")
    ivig = next(s for s, a in arms.items() if a == "ivig")
    for name in ("monitor", "bstat", "inv1"):
        user = trial.client(name)
        events = [user.get(f"/api/subjects/{sid}").json()["subject"]["deterioration"]
                  for sid in (placebo, ivig)]
        for event in events:
            event.pop("subject_id")
            event.pop("recorded_at")
        assert events[0] == events[1] == {"confirmed_week": 8, "new": False,
                                          "description": "confirmed deterioration per protocol"}
        alerts = [re.sub(r"Recorded [0-9: -]+ UTC", "", re.search(
            r'id="deterioration-alert"[^>]*>(.*?)</div>', user.get(f"/subjects/{sid}").text,
            re.S).group(1)) for sid in (placebo, ivig)]
        assert alerts[0] == alerts[1]
        dash = user.get("/api/dashboard").json()
        rows = [{k: v for k, v in d.items() if k not in ("subject_id", "site_id")}
                for d in dash["deteriorations"] if d["subject_id"] in (placebo, ivig)]
        assert len(rows) == 2 and rows[0] == rows[1]
        for sid in (placebo, ivig):
            text = user.get(f"/subjects/{sid}").text + user.get(f"/subjects/{sid}/plot.svg").text
            assert "switch" not in text.lower()
        subjects = user.get("/api/exports/subjects?format=json").json()
        assert all("crossover_week" not in row for row in subjects)
        weeks = {row["subject_id"]: row["deterioration_week"] for row in subjects}
        assert weeks.get(placebo, 8) == weeks.get(ivig, 8) == 8
