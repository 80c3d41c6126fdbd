"""The protocol is stored in the database and drives the live trial (SQLite and PostgreSQL).

The first service on a new database records the protocol (name, file text, sha256; audited);
every later service runs under it: a service opened without a protocol loads the recorded
one, a service opened with another is refused and changes nothing. Limits of the live trial
(cycles, dose, visit weeks, scoring population) come from the protocol.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

import db_support
from db_support import BASELINE, FAST_HASHER, Clock, Trial, enrol, snapshot
from myotrial.db import (
    ProtocolMismatchError,
    TrialService,
    make_engine,
    schema,
    verify_audit_chain,
)
from myotrial.errors import InputValidationError

database_url = pytest.fixture(params=db_support.BACKENDS)(db_support.database_url)
trial = pytest.fixture(db_support.trial)


def test_protocol_is_recorded_and_another_is_refused(trial: Trial, tmp_path: Path) -> None:
    source = db_support.arms_protocol()
    with trial.engine.connect() as conn:
        row = conn.execute(sa.select(schema.trial_protocol)).one()
    assert row.name == "proderm" and row.text == source.read_text(encoding="utf-8")
    assert row.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    audit = trial.service.audit_trail(trial.monitor)
    first = audit.iloc[0]
    assert (first["username"], first["table_name"]) == ("system", "trial_protocol")
    assert row.sha256 in first["new_value"] and "[arms]" not in first["new_value"]
    # opened without a protocol: the recorded one
    again = TrialService(trial.engine, password_hasher=FAST_HASHER, clock=Clock())
    assert again.protocol.arm_codes == db_support.ARMS
    assert again.policy.switching_arms == (db_support.ARMS[1],)
    # opened with another protocol (same name, one value changed): refused, nothing changed
    other = tmp_path / "other.toml"
    other.write_text(source.read_text().replace("visit_window_days = 7",
                                                "visit_window_days = 5"))
    before = snapshot(trial.engine)
    for protocol in (other, "proderm"):
        with pytest.raises(ProtocolMismatchError, match="runs under protocol 'proderm'"):
            TrialService(trial.engine, protocol)
    assert snapshot(trial.engine) == before
    assert verify_audit_chain(trial.engine).ok


def test_recorded_protocol_text_is_covered_by_the_audit(trial: Trial) -> None:
    db_support.raw_sql(trial.engine, "DROP TRIGGER trial_protocol_no_update" if
                       trial.engine.dialect.name == "sqlite" else
                       "DROP TRIGGER trial_protocol_no_update_delete ON trial_protocol")
    db_support.raw_sql(trial.engine,
                       "UPDATE trial_protocol SET text = replace(text, 'ratio', 'ratios')")
    report = verify_audit_chain(trial.engine)
    assert [p.kind for p in report.problems] == ["protocol_changed"]


def test_infusion_and_visit_limits_come_from_the_protocol(trial: Trial) -> None:
    svc, inv = trial.service, trial.inv1
    enrol(trial, "P001")
    policy = svc.policy
    last = policy.max_cycle
    before = snapshot(trial.engine)
    with pytest.raises(InputValidationError) as info:
        svc.record_infusion(inv, "P001", cycle=last + 1, start="2024-03-02T09:00",
                            end="2024-03-02T14:00", dose_g_per_kg=policy.dosing.dose_g_per_kg
                            + 0.5)
    problems = info.value.problems.set_index("column")["rule"]
    assert f"from 1 to {last}" in problems["cycle"]
    assert f"cycle dose {policy.dosing.dose_g_per_kg:g} g/kg" in problems["dose_g_per_kg"]
    schedule = ", ".join(map(str, policy.assessment_weeks))  # issue 12: the schedule's weeks
    with pytest.raises(InputValidationError, match=f"schedule of protocol proderm: {schedule}"):
        svc.record_visit(inv, "P001", policy.max_week + 1, BASELINE)
    assert snapshot(trial.engine) == before
    ok = svc.record_infusion(inv, "P001", cycle=last, start="2024-03-02T09:00",
                             end="2024-03-02T14:00", dose_g_per_kg=1.0,
                             rate_ml_per_kg_min=policy.max_rate_ml_per_kg_min)
    assert ok.warnings == ()  # exactly the maximum rate is allowed


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_juvenile_protocol_scores_visits_with_juvenile_thresholds(database_url: str,
                                                                  tmp_path: Path) -> None:
    """TIS 22.5 is 'minimal' for adults (>= 20) but 'none' for a juvenile protocol (>= 30)."""
    juvenile = db_support.protocol_copy(tmp_path, arms=db_support.ARMS, population="juvenile")
    t = db_support.make_trial(database_url, protocol=juvenile)
    try:
        svc, inv = t.service, t.inv1
        assert svc.policy.threshold_values == (30.0, 45.0, 70.0)
        base = {**{k: v for k, v in BASELINE.items() if k != "haq"}, "chaq": 1.0}
        svc.record_screening(inv, db_support.candidate("J001"))
        svc.record_visit(inv, "J001", 0, base)
        svc.randomise_subject(inv, "J001")
        better = svc.record_visit(inv, "J001", 4, {**base, "pga": 1.0, "ptga": 2.0})
        assert better.tis == 22.5 and better.tis_category == "none"
        best = svc.record_visit(inv, "J001", 8, {**base, "pga": 1.0, "ptga": 1.0,
                                                 "extramuscular": 1.0})
        assert best.tis == 37.5 and best.tis_category == "minimal"
        adult_set = svc.record_visit(inv, "J001", 12, BASELINE)  # HAQ, no CHAQ
        assert adult_set.tis is None and adult_set.tis_missing_reason
    finally:
        t.engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_adult_control_of_the_same_visit(database_url: str) -> None:
    t = db_support.make_trial(database_url)
    try:
        enrol(t, "A001")
        better = t.service.record_visit(t.inv1, "A001", 4, {**BASELINE, "pga": 1.0,
                                                            "ptga": 2.0})
        assert better.tis == 22.5 and better.tis_category == "minimal"
    finally:
        t.engine.dispose()


def test_a_database_without_schema_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'none.db'}")
    try:
        from myotrial.db import DatabaseNotReadyError

        with pytest.raises(DatabaseNotReadyError, match=r"no trial schema.*myotrial db init"):
            TrialService(engine)
    finally:
        engine.dispose()
