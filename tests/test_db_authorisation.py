"""Authorisation: every service operation has a rule, the rules are the documented matrix, and
a refused call changes nothing. Site investigators reach their own site only.

Authorisation is decided in Python before and inside the transaction, the same on every
backend, so these tests run on SQLite only (the service tests cover PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import db_support
from db_support import BASELINE, Trial, candidate, enrol, snapshot
from myotrial.db import (
    PERMISSIONS,
    Actor,
    PermissionDenied,
    Role,
    authorise,
    service_operations,
)
from myotrial.errors import InputValidationError
from myotrial.randomisation import RandomisationScheme, Randomiser

database_url = pytest.fixture(params=["sqlite"])(db_support.database_url)
trial = pytest.fixture(db_support.trial)

SI, MON, BS, US, ADM = (Role.SITE_INVESTIGATOR, Role.MONITOR, Role.BLINDED_STATISTICIAN,
                        Role.UNBLINDED_STATISTICIAN, Role.ADMINISTRATOR)

#: The roles matrix of docs/database.md. Changing PERMISSIONS must change this table too.
EXPECTED: dict[str, set[Role]] = {
    "create_site": {ADM},
    "create_user": {ADM},
    "deactivate_user": {ADM},
    "reactivate_user": {ADM},
    "approve_user": {ADM},
    "reset_password": {ADM},
    "unlock_user": {ADM},
    "list_users": {ADM},
    "change_password": set(Role),
    "emergency_unblind": {SI},
    "import_randomisation_list": {US},
    "record_screening": {SI},
    "randomise_subject": {SI},
    "record_visit": {SI},
    "record_infusion": {SI},
    "record_adverse_event": {SI},
    "record_disposition": {SI},
    "correct_record": {SI},
    "load_randomisation_list": {US},
    "generate_randomisation_list": {US},
    "list_allocations": {US},
    "get_subject": {SI, MON, BS, US},
    "score_subject": {SI, MON, BS, US},
    "list_subjects": {SI, MON, BS, US},
    "subject_timeline": {SI, MON, BS, US},
    "dashboard_tables": {SI, MON, BS, US},
    "export_tables": {SI, MON, BS, US},
    "audit_trail": {SI, MON, BS, US, ADM},
    "verify_audit": {MON, BS, US, ADM},
}

#: One call per operation, with arguments that would succeed for an allowed role.
CALLS: dict[str, Callable[[Trial, Actor], Any]] = {
    "create_site": lambda t, a: t.service.create_site(a, "77", "New site"),
    "create_user": lambda t, a: t.service.create_user(a, "newuser", db_support.PASSWORD,
                                                      Role.MONITOR),
    "deactivate_user": lambda t, a: t.service.deactivate_user(a, "inv2", "left"),
    "list_users": lambda t, a: t.service.list_users(a),
    "reactivate_user": lambda t, a: t.service.reactivate_user(a, "inv2", "back"),
    "approve_user": lambda t, a: t.service.approve_user(a, "ustat"),
    "reset_password": lambda t, a: t.service.reset_password(
        a, "inv2", "a brand new passphrase", "forgotten"),
    "unlock_user": lambda t, a: t.service.unlock_user(a, "inv2", "locked out"),
    "change_password": lambda t, a: t.service.change_password(
        a, db_support.PASSWORD, "a brand new passphrase"),
    "emergency_unblind": lambda t, a: t.service.emergency_unblind(a, "P001", "anaphylaxis"),
    "import_randomisation_list": lambda t, a: t.service.import_randomisation_list(
        a, RandomisationScheme(n_per_stratum=4, block_sizes=(4,)), []),
    "record_screening": lambda t, a: t.service.record_screening(a, candidate("P100")),
    "randomise_subject": lambda t, a: t.service.randomise_subject(a, "P002"),
    "record_visit": lambda t, a: t.service.record_visit(a, "P001", 4, BASELINE),
    "record_infusion": lambda t, a: t.service.record_infusion(
        a, "P001", cycle=1, start="2024-03-02T09:00", end="2024-03-02T12:00",
        dose_g_per_kg=1.0),
    "record_adverse_event": lambda t, a: t.service.record_adverse_event(
        a, "P001", term="headache", onset="2024-03-02T10:00", severity="mild"),
    "record_disposition": lambda t, a: t.service.record_disposition(
        a, "P001", completed_week_16=True),
    "correct_record": lambda t, a: t.service.correct_record(
        a, "visits", {"subject_id": "P001", "visit_week": 0}, "pga", 5.0, "typo"),
    "load_randomisation_list": lambda t, a: t.service.load_randomisation_list(
        a, Randomiser(RandomisationScheme(n_per_stratum=4), seed=1)),
    "generate_randomisation_list": lambda t, a: t.service.generate_randomisation_list(
        a, RandomisationScheme(n_per_stratum=4), seed=1),
    "list_allocations": lambda t, a: t.service.list_allocations(a),
    "get_subject": lambda t, a: t.service.get_subject(a, "P001"),
    "score_subject": lambda t, a: t.service.score_subject(a, "P001"),
    "list_subjects": lambda t, a: t.service.list_subjects(a),
    "subject_timeline": lambda t, a: t.service.subject_timeline(a, "P001"),
    "dashboard_tables": lambda t, a: t.service.dashboard_tables(a),
    "export_tables": lambda t, a: t.service.export_tables(a),
    "audit_trail": lambda t, a: t.service.audit_trail(a),
    "verify_audit": lambda t, a: t.service.verify_audit(a),
}


def test_every_service_operation_has_a_rule_and_every_rule_an_operation() -> None:
    ops = set(service_operations())
    assert ops, "no operations found"
    missing = ops - set(PERMISSIONS)
    assert not missing, f"service operations without an authorisation rule: {sorted(missing)}"
    stale = set(PERMISSIONS) - ops
    assert not stale, f"rules for operations that do not exist: {sorted(stale)}"
    assert set(CALLS) == ops, "every operation needs a call in CALLS (this test's table)"


def test_rules_are_the_documented_matrix() -> None:
    assert {op: set(roles) for op, roles in PERMISSIONS.items()} == EXPECTED


@pytest.mark.parametrize("operation", sorted(EXPECTED))
@pytest.mark.parametrize("role", list(Role))
def test_authorise_table(operation: str, role: Role) -> None:
    actor = Actor("someone", role, "01" if role is SI else None)
    if role in EXPECTED[operation]:
        authorise(actor, operation)
    else:
        with pytest.raises(PermissionDenied, match=operation):
            authorise(actor, operation)


def test_unknown_operation_is_refused() -> None:
    with pytest.raises(PermissionDenied, match="no authorisation rule"):
        authorise(Actor("a", ADM), "drop_everything")


def test_refused_calls_change_nothing(trial: Trial) -> None:
    enrol(trial, "P001")
    trial.service.record_screening(trial.inv1, candidate("P002"))
    for operation, call in CALLS.items():
        for role in set(Role) - EXPECTED[operation]:
            actor = trial.by_role(role)
            before = snapshot(trial.engine)
            with pytest.raises(PermissionDenied):
                call(trial, actor)
            assert snapshot(trial.engine) == before, (operation, role)


def test_site_investigators_reach_their_own_site_only(trial: Trial) -> None:
    """Another site's subject is, for an investigator, exactly an unknown subject (issue 12:
    one answer for "not yours" and "not found", so subject ids cannot be probed)."""
    enrol(trial, "P001")  # site 01
    svc, other = trial.service, trial.inv2
    before = snapshot(trial.engine)
    for operation in ("record_visit", "record_infusion", "record_adverse_event",
                      "record_disposition", "correct_record", "get_subject", "score_subject",
                      "subject_timeline",
                      "emergency_unblind"):
        with pytest.raises(InputValidationError, match="no subject 'P001'"):
            CALLS[operation](trial, other)
    with pytest.raises(InputValidationError, match="no subject 'P001'"):
        svc.audit_trail(other, subject_id="P001")
    with pytest.raises(InputValidationError) as unknown:
        svc.get_subject(other, "NOPE")
    with pytest.raises(InputValidationError) as theirs:
        svc.get_subject(other, "P001")
    assert str(unknown.value).replace("NOPE", "X") == str(theirs.value).replace("P001", "X")
    assert snapshot(trial.engine) == before
    assert svc.list_subjects(other) == ()
    assert all(len(f) == 0 for f in svc.export_tables(other).values())
    own_trail = svc.audit_trail(other)
    assert set(own_trail["site_id"]) == {"02"} and own_trail["subject_id"].isna().all()
    assert [s.subject_id for s in svc.list_subjects(trial.monitor)] == ["P001"]
    # a subject screened at site 02 belongs to site 02
    svc.record_screening(other, candidate("Q001"))
    assert svc.get_subject(other, "Q001").site_id == "02"
    with pytest.raises(InputValidationError, match="no subject 'Q001'"):
        svc.record_screening(trial.inv1, candidate("Q001"))


def test_forged_or_stale_actors_are_refused(trial: Trial) -> None:
    svc = trial.service
    forged = [Actor("inv1", Role.UNBLINDED_STATISTICIAN),  # role elevated
              Actor("inv1", Role.SITE_INVESTIGATOR, "02"),  # other site
              Actor("ghost", Role.ADMINISTRATOR)]  # no such user
    for actor in forged:
        with pytest.raises(PermissionDenied, match="not an active"):
            svc.list_subjects(actor) if actor.role is not ADM else svc.list_users(actor)
    with pytest.raises(PermissionDenied, match="already has two administrators"):
        svc.bootstrap_administrator("root2", db_support.PASSWORD)
