"""Concurrent writers (issue 16): visits of different subjects are written side by side on
PostgreSQL (one subject's writers, and whole-trial writers, still alone); the audit chain stays
one line and verifies, on both backends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

import db_support
from db_support import BASELINE, Trial, enrol
from myotrial.db import schema, verify_audit_chain
from myotrial.db.service import visits as visits_module
from myotrial.errors import InputValidationError

database_url = pytest.fixture(params=db_support.BACKENDS)(db_support.database_url)
trial = pytest.fixture(db_support.trial)

SUBJECTS = tuple(f"P{i:03d}" for i in range(1, 9))


@pytest.fixture
def enrolled(trial: Trial) -> Iterator[Trial]:
    for sid in SUBJECTS:
        enrol(trial, sid)
    yield trial


def test_concurrent_visits_keep_one_verified_chain(enrolled: Trial) -> None:
    """Eight threads enter the visits of eight subjects at once, two of them racing for the
    same subject and week: every visit once, one clean refusal, the chain verifies."""
    svc, inv = enrolled.service, enrolled.inv1
    jobs = [(sid, week) for week in (4, 8, 12) for sid in SUBJECTS] + [("P001", 16)] * 2

    def write(job: tuple[str, int]) -> str:
        try:
            svc.record_visit(inv, job[0], job[1], {**BASELINE, "pga": 3.0})
        except InputValidationError as exc:
            return str(exc)
        return "ok"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(write, jobs))
    refused = [r for r in results if r != "ok"]
    assert len(refused) == 1 and "already recorded" in refused[0]
    with enrolled.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(schema.visits)).scalar_one()
    assert n == len(SUBJECTS) * 4 + 1  # baselines, weeks 4/8/12, and P001's week 16
    report = verify_audit_chain(enrolled.engine)
    assert report.ok, report.summary()
    trail = svc.audit_trail(enrolled.monitor)
    assert list(trail["id"]) == list(range(1, len(trail) + 1))


def test_subject_writers_run_side_by_side_on_postgresql(
        enrolled: Trial, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a visit of P001 is held open in the middle of its transaction (scored, not
    committed), a visit of P002 commits (PostgreSQL; SQLite has one writer at a time), a
    whole-trial writer waits, and a second writer of P001 waits; afterwards the chain
    verifies."""
    if enrolled.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every writer (BEGIN IMMEDIATE)")
    svc, inv = enrolled.service, enrolled.inv1
    inside, release = threading.Event(), threading.Event()
    real = visits_module.score_rows

    def held(rows: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
        if any(r["subject_id"] == "P001" for r in rows) and 4 in {r["visit_week"] for r in rows}:
            inside.set()
            assert release.wait(30)
        return real(rows, **kw)

    monkeypatch.setattr(visits_module, "score_rows", held)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(svc.record_visit, inv, "P001", 4, BASELINE)
        assert inside.wait(30)
        other = pool.submit(svc.record_visit, inv, "P002", 4, BASELINE)
        assert other.result(timeout=30).visit_week == 4  # not behind P001's open transaction
        same = pool.submit(svc.record_visit, inv, "P001", 8, BASELINE)
        site = pool.submit(svc.create_site, enrolled.admin, "03", "Site three", "FR")
        for waiting in (same, site):
            with pytest.raises(TimeoutError):
                waiting.result(timeout=0.5)
        release.set()
        first.result(timeout=30)
        same.result(timeout=30)
        site.result(timeout=30)
    report = verify_audit_chain(enrolled.engine)
    assert report.ok, report.summary()
