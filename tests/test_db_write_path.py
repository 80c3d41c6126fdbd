"""The visit write path (issue 16): few statements, and on PostgreSQL the audit rows of subject
writers chained by the database at COMMIT (migration r0004) - the same chain, verified by the
same Python code, and tampering still found."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
import sqlalchemy as sa

import db_support
from db_support import BASELINE, Trial, enrol, raw_sql
from myotrial.db import canonical_json, schema, verify_audit_chain
from myotrial.db.audit import HASHED_FIELDS, audit_entry, hash_fragments, row_hash

database_url = pytest.fixture(params=db_support.BACKENDS)(db_support.database_url)
trial = pytest.fixture(db_support.trial)

WORSE_B = {**BASELINE, "extramuscular": 5.5}  # clause B: extramuscular worse by >= 2 cm


def _audit_rows(t: Trial) -> list[dict[str, Any]]:
    with t.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(schema.audit_log).order_by(schema.audit_log.c.id))]


def _kinds(t: Trial) -> set[str]:
    return {p.kind for p in verify_audit_chain(t.engine).problems}


@pytest.mark.parametrize("text", [
    "plain", '"id":"@id@"', '","prev_hash":"', "@prev_hash@", "é ü 中 \u2028 \\ \" \x01",
    None])
def test_hash_fragments_reassemble_the_canonical_json(text: str | None) -> None:
    """head + id + middle + prev_hash + tail is the row's canonical JSON, whatever the values
    hold (quotes, the cut marks themselves, unicode, control characters, NULL)."""
    entry = audit_entry(username="u", role="r", action="insert", when=dt.datetime(2024, 1, 1),
                        site_id=text, subject_id=text, table_name="visits", record_key=text,
                        field=text, old_value=text, new_value={"v": text}, reason=text)
    for rid, prev in ((1, "0" * 64), (123456, "ab" * 32)):
        head, middle, tail = hash_fragments(entry)
        row = {"id": rid, **entry, "prev_hash": prev}
        assert head + str(rid) + middle + prev + tail == canonical_json(
            {k: row.get(k) for k in HASHED_FIELDS})


def test_visit_statements_and_one_verified_chain(trial: Trial) -> None:
    """A visit is 4 statements on PostgreSQL (locks; actor, subject and visits; insert
    returning; audit rows staged) and its audit row is chained by COMMIT; SQLite chains in
    the writer. Either way the chain links and verifies, and nothing is left pending."""
    enrol(trial, "P001")
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        statements.append(sql)

    sa.event.listen(trial.engine, "before_cursor_execute", count)
    try:
        trial.service.record_visit(trial.inv1, "P001", 4, {**BASELINE, "pga": 2.0})
    finally:
        sa.event.remove(trial.engine, "before_cursor_execute", count)
    if trial.engine.dialect.name == "postgresql":
        assert len(statements) == 4, statements
        assert "audit_pending" in statements[-1]
    else:  # BEGIN IMMEDIATE, actor+subject+visits, insert, read back, head, rows, head moved
        assert len(statements) == 7, statements
    rows = _audit_rows(trial)
    last = rows[-1]
    assert (last["action"], last["table_name"], last["subject_id"]) == ("insert", "visits",
                                                                       "P001")
    for before, row in itertools.pairwise(rows):
        assert row["prev_hash"] == before["hash"] and row_hash(row) == row["hash"]
    with trial.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.audit_pending)
                            ).scalar_one() == 0
        head = conn.execute(sa.select(schema.audit_head.c.last_id)).scalar_one()
    assert head == last["id"] == len(rows)
    assert verify_audit_chain(trial.engine).ok


def test_two_audit_rows_of_one_visit_are_chained_in_order(trial: Trial) -> None:
    """A visit that confirms a deterioration writes the visit and the event: two audit rows,
    chained in that order in its commit; the event row names no arm."""
    enrol(trial, "P001")
    trial.service.record_visit(trial.inv1, "P001", 4, WORSE_B, visit_date="2024-03-29")
    result = trial.service.record_visit(trial.inv1, "P001", 8, WORSE_B,
                                        visit_date="2024-04-26")
    assert result.deterioration is not None and result.deterioration.new
    rows = _audit_rows(trial)
    assert [r["table_name"] for r in rows[-2:]] == ["visits", "crossover_events"]
    assert rows[-1]["prev_hash"] == rows[-2]["hash"]
    assert not any(arm in (rows[-1]["new_value"] or "") for arm in db_support.ARMS)
    assert verify_audit_chain(trial.engine).ok


def test_a_failed_visit_leaves_nothing_pending_or_chained(trial: Trial) -> None:
    """A refused visit (week already recorded) rolls back: no visit, no audit row."""
    enrol(trial, "P001")
    trial.service.record_visit(trial.inv1, "P001", 4, BASELINE)
    before = db_support.snapshot(trial.engine)
    with pytest.raises(Exception, match="already recorded"):
        trial.service.record_visit(trial.inv1, "P001", 4, BASELINE)
    assert db_support.snapshot(trial.engine) == before
    assert verify_audit_chain(trial.engine).ok


def test_pending_row_with_forged_fragments_is_found(trial: Trial) -> None:
    """The database hashes what the writer staged; a staged row whose fragments do not match
    its fields (a bug or a forger with INSERT rights) is chained but does not verify."""
    if trial.engine.dialect.name != "postgresql":
        pytest.skip("SQLite chains in the writer (no trigger)")
    enrol(trial, "P001")
    entry = audit_entry(username="inv1", role="site_investigator", action="insert",
                        when=dt.datetime(2024, 3, 2), subject_id="P001", reason="genuine")
    head, middle, tail = hash_fragments({**entry, "reason": "forged"})
    raw_sql(trial.engine, "INSERT INTO audit_pending (timestamp, username, role, subject_id, "
            "action, reason, hash_head, hash_middle, hash_tail) VALUES (:timestamp, "
            ":username, :role, :subject_id, :action, :reason, :h, :m, :t)",
            params={**entry, "h": head, "m": middle, "t": tail})
    assert _kinds(trial) == {"hash_mismatch"}


def test_disabled_chaining_trigger_is_found(trial: Trial) -> None:
    """Someone with DDL rights disables the chaining trigger: the visit's audit row stays
    pending and never joins the chain - verify reports the unchained row and the unaudited
    visit."""
    if trial.engine.dialect.name != "postgresql":
        pytest.skip("SQLite chains in the writer (no trigger)")
    enrol(trial, "P001")
    raw_sql(trial.engine, "ALTER TABLE audit_pending DISABLE TRIGGER audit_pending_chain")
    trial.service.record_visit(trial.inv1, "P001", 4, BASELINE)
    assert _kinds(trial) == {"pending_unchained", "record_unaudited"}


def test_reordered_rows_chained_at_commit_are_found(trial: Trial) -> None:
    """Two visits' audit rows (chained by COMMIT on PostgreSQL) swapped in place, with the
    append-only triggers dropped first: the chain breaks where they were swapped."""
    enrol(trial, "P001")
    enrol(trial, "P002")
    trial.service.record_visit(trial.inv1, "P001", 4, BASELINE)
    trial.service.record_visit(trial.inv1, "P002", 4, BASELINE)
    rows = _audit_rows(trial)
    a, b = rows[-2], rows[-1]
    db_support.drop_audit_triggers(trial.engine)
    raw_sql(trial.engine, f"DELETE FROM audit_log WHERE id IN ({a['id']}, {b['id']})")
    with trial.engine.begin() as conn:  # b's contents at a's id and the reverse
        conn.execute(sa.insert(schema.audit_log), [{**b, "id": a["id"]}, {**a, "id": b["id"]}])
    kinds = _kinds(trial)
    assert {"chain_broken", "hash_mismatch"} <= kinds, kinds
