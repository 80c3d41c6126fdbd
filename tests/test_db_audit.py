"""The audit trail: append-only by trigger, hash-chained, and verified against the data.

Each tamper below is done with raw SQL around the service layer (after dropping the triggers
where the audit table itself is edited) and must be found by ``verify_audit_chain``.
"""

from __future__ import annotations

import itertools
import json

import pytest
import sqlalchemy as sa

import db_support
from db_support import BASELINE, Trial, drop_audit_triggers, enrol, raw_sql
from myotrial.db import AuditReport, canonical_json, row_hash, verify_audit_chain
from myotrial.db.audit import GENESIS_HASH

database_url = pytest.fixture(params=db_support.BACKENDS)(db_support.database_url)
trial = pytest.fixture(db_support.trial)


def _kinds(report: AuditReport) -> set[str]:
    return {p.kind for p in report.problems}


def _run(t: Trial) -> None:
    enrol(t, "P001")
    t.service.record_visit(t.inv1, "P001", 4, {**BASELINE, "pga": 2.0})
    t.service.correct_record(t.inv1, "visits", {"subject_id": "P001", "visit_week": 4}, "pga",
                             3.0, "typo")


def test_chain_verifies_after_a_run_and_rows_link(trial: Trial) -> None:
    _run(trial)
    report = verify_audit_chain(trial.engine)
    assert report.ok, report.summary()
    assert report.n_rows == report.head_id > 10
    with trial.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT * FROM audit_log ORDER BY id"))]
    assert rows[0]["prev_hash"] == GENESIS_HASH
    for before, row in itertools.pairwise(rows):
        assert row["prev_hash"] == before["hash"]
        assert row_hash(row) == row["hash"]
    assert rows[-1]["hash"] == report.head_hash
    assert all(r["timestamp"].endswith("Z") for r in rows)
    # the same report through the service (a blinded monitor may verify)
    assert trial.service.verify_audit(trial.monitor).ok


def test_triggers_refuse_update_and_delete_of_audit_rows(trial: Trial) -> None:
    for sql in ("UPDATE audit_log SET reason = 'x' WHERE id = 1",
                "DELETE FROM audit_log WHERE id = 1"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            raw_sql(trial.engine, sql)
    assert verify_audit_chain(trial.engine).ok


def _tampered(t: Trial, *statements: str, drop_triggers: bool = True,
              params: dict[str, object] | None = None, **kw: object) -> AuditReport:
    """Tamper in a transaction, verify inside it, roll back (DDL is transactional on both)."""
    with t.engine.connect() as conn:
        tx = conn.begin()
        try:
            if drop_triggers:
                for sql in db_support.DROP_TRIGGERS[t.engine.dialect.name]:
                    conn.execute(sa.text(sql))
            for sql in statements:
                conn.execute(sa.text(sql), params or {})
            return verify_audit_chain(conn, **kw)  # type: ignore[arg-type]
        finally:
            tx.rollback()


def test_tampering_with_the_audit_table_is_detected(trial: Trial) -> None:
    _run(trial)
    head = verify_audit_chain(trial.engine).head_id
    edited = _tampered(trial, "UPDATE audit_log SET reason = 'nothing to see' WHERE id = 5")
    assert [p.audit_id for p in edited.problems if p.kind == "hash_mismatch"] == [5]
    deleted = _tampered(trial, "DELETE FROM audit_log WHERE id = 4", check_data=False)
    assert {"id_gap", "chain_broken"} <= _kinds(deleted)
    tail = _tampered(trial, f"DELETE FROM audit_log WHERE id = {head}", check_data=False)
    assert _kinds(tail) == {"head_mismatch"}
    moved = _tampered(trial, "UPDATE audit_log SET new_value = '{}' WHERE action = 'insert' "
                      "AND table_name = 'visits'")
    assert {"hash_mismatch"} <= _kinds(moved)
    # a forged row appended with a correct hash, but without moving the head
    last = verify_audit_chain(trial.engine)
    forged: dict[str, object] = {
        "id": last.head_id + 1, "timestamp": "2024-01-01T00:00:00.000000Z",
        "username": "admin", "role": "administrator", "site_id": None, "subject_id": None,
        "action": "insert", "table_name": None, "record_key": None, "field": None,
        "old_value": None, "new_value": None, "reason": None, "prev_hash": last.head_hash}
    forged["hash"] = row_hash(forged)
    appended = _tampered(
        trial, "INSERT INTO audit_log VALUES (:id, :timestamp, :username, :role, :site_id, "
        ":subject_id, :action, :table_name, :record_key, :field, :old_value, :new_value, "
        ":reason, :prev_hash, :hash)", drop_triggers=False, params=forged)
    assert _kinds(appended) == {"head_mismatch"}
    assert verify_audit_chain(trial.engine).ok  # every tamper was rolled back
    # the same tamper committed with the triggers dropped (a real attack) is found too
    drop_audit_triggers(trial.engine)
    raw_sql(trial.engine, "UPDATE audit_log SET username = 'someone' WHERE id = 6")
    assert _kinds(verify_audit_chain(trial.engine)) == {"hash_mismatch"}


def test_rewritten_chain_is_detected_against_a_kept_head(trial: Trial) -> None:
    """A tamperer who rewrites every later hash and the head passes the chain check, but not
    the check against a head hash kept outside the database."""
    _run(trial)
    kept = verify_audit_chain(trial.engine).head_hash
    drop_audit_triggers(trial.engine)
    with trial.engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT * FROM audit_log ORDER BY id"))]
        rows[3]["reason"] = "rewritten"
        prev = rows[2]["hash"]
        for row in rows[3:]:
            row["prev_hash"] = prev
            row["hash"] = prev = row_hash(row)
        conn.execute(sa.text("DELETE FROM audit_log WHERE id >= 4"))
        conn.execute(sa.text(
            "INSERT INTO audit_log VALUES (:id, :timestamp, :username, :role, :site_id, "
            ":subject_id, :action, :table_name, :record_key, :field, :old_value, :new_value, "
            ":reason, :prev_hash, :hash)"), rows[3:])
        conn.execute(sa.text("UPDATE audit_head SET last_hash = :h"), {"h": prev})
    assert verify_audit_chain(trial.engine, check_data=False).ok
    report = verify_audit_chain(trial.engine, expected_head=kept, check_data=False)
    assert _kinds(report) == {"anchor_missing"}


DATA_TAMPERS = [
    ("UPDATE visits SET pga = 9.5 WHERE visit_week = 4", "record_changed"),
    ("DELETE FROM visits WHERE visit_week = 4", "record_missing"),
    ("INSERT INTO sites (site_id, name) VALUES ('99', 'ghost site')", "record_unaudited"),
    ("UPDATE subjects SET site_id = '02'", "record_changed"),
    ("UPDATE randomisation_slots SET kit_code = 'K000000' WHERE sequence = 2", "list_changed"),
    ("UPDATE randomisation_lists SET seed = seed + 1", "list_changed"),
]


def test_data_changed_around_the_service_is_detected(trial: Trial) -> None:
    """The seed of a list is covered by the list's HMAC under the server secret (issue 12:
    the trail holds nothing else of the list), so that check needs the service's key."""
    _run(trial)
    key = trial.service._list_key
    for sql, kind in DATA_TAMPERS:
        report = _tampered(trial, sql, drop_triggers=False, list_key=key)
        assert kind in _kinds(report), (sql, report.summary())
        assert _tampered(trial, sql, drop_triggers=False, check_data=False).ok  # chain intact
    assert verify_audit_chain(trial.engine).ok


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_report_names_no_values(trial: Trial) -> None:
    _run(trial)
    raw_sql(trial.engine, "UPDATE randomisation_slots SET arm = 'armzulu'")
    text = json.dumps(verify_audit_chain(trial.engine).as_dict())
    assert "armzulu" not in text and "armyankee" not in text


def test_canonical_json_is_stable() -> None:
    assert canonical_json({"b": 1.5, "a": None, "c": "é"}) == '{"a":null,"b":1.5,"c":"é"}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
