"""The read views' per-process cache (web/readcache.py, issue 16): keyed by the reader's role
and site and by the data version, so (1) the unblinded statistician's views never reach a
blinded reader, whoever looked first, and a blinded reader's hits do not depend on what the
unblinded side viewed; (2) a change is shown at once, also by another application instance
(another worker process) on the same database; (3) every kind of service write moves the data
version. Both backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import db_support
from myotrial.db import TrialService
from myotrial.db.roles import Actor
from myotrial.db.service.reads import data_version, read_version
from myotrial.settings import Settings
from myotrial.web import create_app
from myotrial.web.readcache import ReadCache
from web_support import BASELINE, SECRET, WebTrial, WebUser, arm_leaks, candidate, make_web_trial

database_url = pytest.fixture(params=db_support.BACKENDS)(db_support.database_url)

WORSE = {**BASELINE, "pga": 7.0, "ptga": 7.0, "extramuscular": 6.0, "mmt8": 100.0}
BLINDED = ("inv1", "monitor", "bstat")


@pytest.fixture
def trial(database_url: str, tmp_path: Path) -> WebTrial:
    """Both arms, a confirmed deterioration in each, an infusion and adverse events."""
    t = make_web_trial(tmp_path, url=database_url)
    svc, inv1 = t.service, t.actors["inv1"]
    for sid in ("P001", "P002", "P003", "P004"):
        t.enrol(sid)
    arms = {sid: t.arm_of(sid) for sid in ("P001", "P002", "P003", "P004")}
    assert set(arms.values()) == {"ivig", "placebo"}
    for arm in ("ivig", "placebo"):
        sid = next(s for s, a in arms.items() if a == arm)
        svc.record_visit(inv1, sid, 4, WORSE)
        assert svc.record_visit(inv1, sid, 8, WORSE).cd_confirmed
        svc.record_infusion(inv1, sid, cycle=1, start="2024-03-02T09:00",
                            end="2024-03-02T14:00", dose_g_per_kg=1.0, rate_ml_per_kg_min=0.05)
        svc.record_adverse_event(inv1, sid, term="headache", onset="2024-03-03T10:00",
                                 severity="mild")
    return t


def _paths(subjects: tuple[str, ...]) -> list[str]:
    paths = ["/dashboard", "/api/dashboard", "/subjects", "/api/subjects"]
    for sid in subjects:
        paths += [f"/subjects/{sid}", f"/subjects/{sid}/plot.svg", f"/api/subjects/{sid}"]
    return paths


SUBJECTS = ("P001", "P002", "P003", "P004")


def _view_of(path: str) -> str:
    """The cached view behind a path: the HTML page, its plot and the JSON share one."""
    parts = path.removeprefix("/api").strip("/").split("/")
    return "/".join(parts[:2])


def _cache(trial: WebTrial) -> ReadCache:
    cache = trial.app.state.read_cache
    assert isinstance(cache, ReadCache)
    return cache


def _without_token(text: str, user: WebUser) -> str:
    return text.replace(user.csrf, "<csrf>")


def test_unblinded_views_first_never_reach_a_blinded_reader(trial: WebTrial) -> None:
    """Everyone logs in (a login is audited: it moves the data version), then the unblinded
    statistician fills the cache; each blinded reader then gets no arm word, exactly what an
    application with an empty cache gives, and misses on its first look at each view (no
    entry of the unblinded side, nor of another blinded role, is shared)."""
    cache = _cache(trial)
    fresh = _second_app(trial)
    users = {name: trial.client(name) for name in ("ustat", *BLINDED)}
    others = {}
    for name in BLINDED:
        others[name] = WebUser(type(users[name].http)(fresh, follow_redirects=False))
        others[name].login(name)
    version = read_version(trial.service, trial.actors["monitor"], "list_subjects")
    shown = ""
    for path in _paths(SUBJECTS):
        r = users["ustat"].get(path)
        assert r.status_code == 200, (path, r.text[:300])
        shown += r.text
    assert arm_leaks(shown), "positive control: the unblinded views name the arms"
    for name in BLINDED:
        user, other = users[name], others[name]
        seen: set[str] = set()
        for path in _paths(SUBJECTS):  # inv1 is of site 01: all four subjects
            view = _view_of(path)
            misses = cache.misses
            first = user.get(path)
            assert first.status_code == 200, (name, path)
            if view not in seen:  # the first look of this role at this view
                assert cache.misses == misses + 1, (name, path, "an entry of another role")
            seen.add(view)
            hits = cache.hits
            again = user.get(path)
            assert cache.hits > hits, (name, path, "a repeated view is kept")
            assert arm_leaks(first.text) == [] and arm_leaks(again.text) == [], (name, path)
            expected = other.get(path)
            assert _without_token(again.text, user) == _without_token(expected.text, other), \
                (name, path)
    assert read_version(trial.service, trial.actors["monitor"], "list_subjects") == version


def test_a_blinded_readers_hits_do_not_depend_on_the_unblinded_side(trial: WebTrial) -> None:
    """Whether the unblinded statistician viewed a page or not, a blinded reader's first view
    of it is a miss and the second a hit (no timing difference to observe)."""
    cache = _cache(trial)
    ustat, bstat = trial.client("ustat"), trial.client("bstat")
    for path in _paths(("P001",)):
        ustat.get(path)
    for sid, path in (("P001", "/api/subjects/P001"), ("P002", "/api/subjects/P002")):
        misses, hits = cache.misses, cache.hits
        assert bstat.get(path).status_code == 200, sid
        assert (cache.misses - misses, cache.hits - hits) == (1, 0), sid
        bstat.get(path)
        assert (cache.misses - misses, cache.hits - hits) == (1, 1), sid


def _second_app(trial: WebTrial) -> Any:
    """Another application (another worker) with its own service, engine and cache."""
    from myotrial.db import make_engine

    svc = TrialService(make_engine(trial.url), password_hasher=db_support.FAST_HASHER,
                       clock=db_support.Clock(), today=lambda: db_support.TODAY,
                       secret_key=SECRET)
    return create_app(Settings(database_url=trial.url, secret_key=SECRET), service=svc)


def test_a_change_is_shown_at_once_by_every_instance(trial: WebTrial) -> None:
    """Two application instances on one database: both have the subject page and the
    dashboard cached; a visit entered through the second is shown by the first at once (and
    by the second), HTML and JSON; so is a change made through the service directly."""
    a = trial.client("inv1")
    b = WebUser(type(a.http)(_second_app(trial), follow_redirects=False))
    b.login("inv1")
    for user in (a, b):
        for path in ("/subjects/P003", "/api/subjects/P003", "/api/dashboard"):
            assert user.get(path).status_code == 200
            assert user.get(path).status_code == 200  # now kept
    plots = {id(user): user.get("/subjects/P003/plot.svg").text for user in (a, b)}
    before = a.get("/api/subjects/P003").json()
    assert [v["visit_week"] for v in before["visits"]] == [0]
    due = a.get("/api/dashboard").json()["visits_due"]
    assert any(r["subject_id"] == "P003" and r["visit_week"] == 4 for r in due)
    r = b.post_json("/api/subjects/P003/visits", {"visit_week": 4, "visit_date": "2024-03-29",
                                                  "measures": {**BASELINE, "pga": 1.5}})
    assert r.status_code == 201, r.text
    for user in (a, b):
        timeline = user.get("/api/subjects/P003").json()
        assert [v["visit_week"] for v in timeline["visits"]] == [0, 4]
        assert timeline["visits"][1]["pga"] == 1.5
        assert "2024-03-29" in user.get("/subjects/P003").text
        assert user.get("/subjects/P003/plot.svg").text != plots[id(user)]
        due = user.get("/api/dashboard").json()["visits_due"]
        assert not any(r["subject_id"] == "P003" and r["visit_week"] == 4 for r in due)
    # around the web application: the service of the first instance's database
    trial.service.correct_record(trial.actors["inv1"], "visits",
                                 {"subject_id": "P003", "visit_week": 4}, "pga", 2.5,
                                 "source document verification")
    for user in (a, b):
        timeline = user.get("/api/subjects/P003").json()
        assert timeline["visits"][1]["pga"] == 2.5
        assert [c["new_value"] for c in timeline["corrections"]] == ["2.5"]
        page = user.get("/subjects/P003").text
        assert "source document verification" in page


def _version(service: TrialService) -> str:
    with service.engine.connect() as conn, conn.begin():
        return data_version(conn)


def _writes(t: WebTrial) -> list[tuple[str, Callable[[], Any]]]:
    svc = t.service
    inv1: Actor = t.actors["inv1"]
    return [
        ("screening", lambda: svc.record_screening(inv1, candidate("P010"))),
        ("baseline", lambda: svc.record_visit(inv1, "P010", 0, BASELINE)),
        ("randomisation", lambda: svc.randomise_subject(inv1, "P010")),
        ("visit", lambda: svc.record_visit(inv1, "P010", 4, BASELINE)),
        ("infusion", lambda: svc.record_infusion(
            inv1, "P010", cycle=1, start="2024-03-05T09:00", end="2024-03-05T14:00",
            dose_g_per_kg=1.0, rate_ml_per_kg_min=0.05)),
        ("adverse event", lambda: svc.record_adverse_event(
            inv1, "P010", term="rash", onset="2024-03-06T10:00", severity="mild")),
        ("correction", lambda: svc.correct_record(
            inv1, "visits", {"subject_id": "P010", "visit_week": 4}, "pga", 3.5, "typo")),
        ("disposition", lambda: svc.record_disposition(
            inv1, "P010", discontinuation_reason="withdrew consent")),
        ("emergency unblinding", lambda: svc.emergency_unblind(inv1, "P010", "anaphylaxis")),
    ]


def test_every_kind_of_write_moves_the_data_version(trial: WebTrial) -> None:
    """The invariant the cache relies on: each service write changes the version (the audit
    head moves in the write's own transaction); reads do not."""
    svc = trial.service
    for name, write in _writes(trial):
        before = _version(svc)
        svc.list_subjects(trial.actors["monitor"])
        svc.subject_timeline(trial.actors["monitor"], "P001")
        svc.dashboard_tables(trial.actors["monitor"])
        assert _version(svc) == before, f"a read moved the version (before {name})"
        write()
        assert _version(svc) != before, f"{name} did not move the data version"


def test_the_version_is_read_in_the_snapshot_of_the_data(trial: WebTrial) -> None:
    """A timeline read returns the version of its own snapshot: equal to the version read
    just before and after when nothing changed in between."""
    svc, inv1 = trial.service, trial.actors["inv1"]
    before = read_version(svc, inv1, "subject_timeline")
    data = svc.subject_timeline(inv1, "P001")
    assert data.version == before == read_version(svc, inv1, "subject_timeline")
    svc.record_visit(inv1, "P003", 4, BASELINE)
    assert svc.subject_timeline(inv1, "P001").version != before


def test_a_kept_page_carries_each_sessions_own_token(trial: WebTrial) -> None:
    """The rendered subject page is kept per session: two sessions of one user each get
    their own CSRF token in every form, never the other's, and the same page otherwise."""
    trial.enrol("P005")
    first, second = trial.client("inv1"), trial.client("inv1")
    assert first.csrf != second.csrf
    for _ in range(2):
        for user, other in ((first, second), (second, first)):
            page = user.get("/subjects/P005").text
            assert page.count(user.csrf) >= 2 and other.csrf not in page
    assert _without_token(first.get("/subjects/P005").text, first) == \
        _without_token(second.get("/subjects/P005").text, second)
    r = first.post_form("/subjects/P005/visits", {"visit_week": "4",
                                                  "visit_date": "2024-03-29",
                                                  **{k: str(v) for k, v in BASELINE.items()}})
    assert r.status_code == 200 and "Week 4 recorded" in r.text, r.text[:500]
    assert "2024-03-29" in second.get("/subjects/P005").text


def test_reading_the_version_checks_the_role_and_the_user(trial: WebTrial) -> None:
    """The version read is a service read: the role gate of the operation and the actor
    check (exists, active, same role and site) as every operation."""
    from myotrial.db.roles import PermissionDenied, Role

    svc = trial.service
    assert read_version(svc, trial.actors["inv1"], "subject_timeline")
    with pytest.raises(PermissionDenied):  # the administrator may not read the timeline
        read_version(svc, trial.actors["admin"], "subject_timeline")
    for forged in (Actor("inv1", Role.MONITOR), Actor("inv1", Role.SITE_INVESTIGATOR, "02"),
                   Actor("ghost", Role.MONITOR)):
        with pytest.raises(PermissionDenied):
            read_version(svc, forged, "subject_timeline")
    svc.deactivate_user(trial.actors["admin"], "monitor", "left the trial")
    with pytest.raises(PermissionDenied):
        read_version(svc, trial.actors["monitor"], "list_subjects")


def test_a_kept_view_is_served_on_the_sessions_statement_alone(
        trial: WebTrial, monkeypatch: pytest.MonkeyPatch) -> None:
    """A GET of a kept view costs one statement: the session lookup, which reads the data
    version with the user row (``SessionRecord.data_version``). With every other read made
    to fail, every kept view is still served, identical; a POST's own page shows its own
    change (the version read at the request's start is not used after a write); a
    deactivated user is refused at once."""
    from myotrial.db.service import reads

    user = trial.client("inv1")
    paths = _paths(("P001", "P002"))
    first = {path: user.get(path).text for path in paths}

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("a statement beyond the session lookup")

    with monkeypatch.context() as patch:
        patch.setattr(reads._ACTOR_VERSION_READ, "first", refused)
        for name in ("subject_timeline", "list_subjects", "dashboard_tables"):
            patch.setattr(trial.service, name, refused)
        patch.setattr(reads, "dashboard_data", refused)
        patch.setattr(reads, "list_subjects_versioned", refused)
        for path in paths:
            r = user.get(path)
            assert r.status_code == 200, (path, r.text[:300])
            assert r.text == first[path], path
    r = user.post_form("/subjects/P001/visits", {"visit_week": "12", "visit_date": "2024-05-24",
                                                **{k: str(v) for k, v in BASELINE.items()}})
    assert r.status_code == 200 and "2024-05-24" in r.text, r.text[:500]
    assert "2024-05-24" in user.get("/subjects/P001").text
    trial.service.deactivate_user(trial.actors["admin"], "inv1", "left the trial")
    assert user.get("/api/subjects/P002").status_code == 401


def test_a_worker_runs_as_many_requests_at_once_as_it_keeps_connections(trial: WebTrial
                                                                         ) -> None:
    """The application's lifespan sizes the worker's thread pool to its PostgreSQL pool, so
    a burst of requests waits for a thread rather than opening connections beyond it, and
    sets the worker's cyclic garbage collector (frozen start-up, rarer collections)."""
    import gc

    import anyio.to_thread
    from fastapi.testclient import TestClient

    from myotrial.db.engine import PG_POOL_SIZE
    from myotrial.web.app import GC_THRESHOLDS

    before = gc.get_threshold()
    try:
        with TestClient(trial.app) as client:
            assert client.portal is not None
            tokens = client.portal.call(
                lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)
            # start-up's objects out of the cyclic collector's reach, which runs less often
            assert gc.get_freeze_count() > 0 and gc.get_threshold() == GC_THRESHOLDS
    finally:  # the test process's collector as it was
        gc.unfreeze()
        gc.set_threshold(*before)
    assert tokens == PG_POOL_SIZE == 30


def test_an_unavailable_database_is_a_503_and_changes_nothing(
        trial: WebTrial, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database lost or busy (SQLAlchemy's or psycopg's OperationalError, the pool's
    timeout) at the session lookup, in a read or in a write: 503 with ``Retry-After``, a
    readable message without the error's text (it may name the host), and nothing changed."""
    import psycopg
    import sqlalchemy.exc as sa_exc

    user = trial.client("inv1")
    assert user.get("/api/subjects").status_code == 200
    before = data_version_of(trial)
    failures = (sa_exc.OperationalError("SELECT", {}, Exception("host db.example down")),
                sa_exc.TimeoutError("QueuePool limit reached"),
                psycopg.OperationalError("connection to db.example failed"))
    for failure in failures:
        def fail(*args: object, _e: Exception = failure, **kwargs: object) -> None:
            raise _e

        with monkeypatch.context() as patch:
            for name in ("resolve_session", "resolve_session_async"):
                patch.setattr(trial.service, name, fail)
            for path in ("/api/subjects", "/subjects/P001"):
                r = user.get(path)
                assert r.status_code == 503, (type(failure), path, r.text[:200])
                assert r.headers["retry-after"] == "5"
                assert "unavailable" in r.text and "nothing was changed" in r.text
                assert "db.example" not in r.text
                assert "set-cookie" not in r.headers  # the session cookie is kept
        with monkeypatch.context() as patch:
            patch.setattr(trial.service, "record_visit", fail)
            r = user.post_json("/api/subjects/P001/visits",
                               {"visit_week": 12, "measures": BASELINE})
            assert r.status_code == 503 and "db.example" not in r.text
    assert data_version_of(trial) == before
    assert user.get("/api/subjects").status_code == 200  # the same session, back


def data_version_of(trial: WebTrial) -> str:
    with trial.service.engine.connect() as conn:
        return data_version(conn)


def test_the_cache_keeps_the_most_recently_used() -> None:
    """At most ``max_entries`` views and ``SESSION_RENDERS`` renderings per view: the least
    recently used goes first, a lookup or a peek counts as a use."""
    cache = ReadCache(max_entries=2)
    for key in ("a", "b"):
        cache.put(key, key.upper())
    assert cache.peek("a") is not None  # "b" is now the least recently used
    cache.put("c", "C")
    assert cache.peek("b") is None and cache.peek("a") is not None and len(cache) == 2
    view = cache.peek("a")
    assert view is not None
    made = [view.render_for(s, lambda data, s=s: f"{data}-{s}") for s in range(5)]
    assert made == [f"A-{s}" for s in range(5)]
    assert view.rendered_for(0) is None  # the oldest of five sessions dropped (keeps 4)
    assert view.rendered_for(1) == "A-1"
    view.render_for(5, lambda data: "A-5")  # 1 was used just now: 2 goes
    assert view.rendered_for(2) is None and view.rendered_for(1) == "A-1"
