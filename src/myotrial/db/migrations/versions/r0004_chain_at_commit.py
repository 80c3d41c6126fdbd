"""Audit rows chained at commit (issue 16): ``audit_pending`` and, on PostgreSQL, the deferred
trigger that chains its rows onto ``audit_log`` when the writing transaction commits.

A subject writer (visits, infusions, adverse events) inserts its audit rows into
``audit_pending`` with the row's canonical JSON cut around its id and ``prev_hash``
(``hash_head``, ``hash_middle``, ``hash_tail``: :func:`myotrial.db.audit.hash_fragments`). At
COMMIT the constraint trigger ``audit_pending_chain`` (``DEFERRABLE INITIALLY DEFERRED``, one
call per row in insertion order) locks the head row, gives the row the next id, computes
``sha256(hash_head || id || hash_middle || prev_hash || hash_tail)`` - exactly
:func:`myotrial.db.audit.row_hash` of the stored row - inserts it into ``audit_log``, moves
the head and deletes the pending row. So the head's row lock is held for the rest of the
commit only, never while the client is between two statements (docs/database.md,
"Concurrent writers"). SQLite keeps chaining in the writer (one writer at a time); the table
exists there too (one schema for both backends) and stays empty.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_FIELDS = ("timestamp", "username", "role", "site_id", "subject_id", "action", "table_name",
           "record_key", "field", "old_value", "new_value", "reason")

_CHAIN_FUNCTION = """
CREATE FUNCTION audit_chain_pending() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_id integer;
    head_hash varchar(64);
    new_hash varchar(64);
BEGIN
    SELECT last_id, last_hash INTO head_id, head_hash FROM audit_head WHERE id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        head_id := 0;
        head_hash := repeat('0', 64);
        INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, head_id, head_hash);
    END IF;
    head_id := head_id + 1;
    new_hash := encode(sha256(convert_to(
        NEW.hash_head || head_id::text || NEW.hash_middle || head_hash || NEW.hash_tail,
        'UTF8')), 'hex');
    INSERT INTO audit_log (id, {fields}, prev_hash, hash)
        VALUES (head_id, {new_fields}, head_hash, new_hash);
    UPDATE audit_head SET last_id = head_id, last_hash = new_hash WHERE id = 1;
    DELETE FROM audit_pending WHERE pending_id = NEW.pending_id;
    RETURN NULL;
END $$
""".format(fields=", ".join(f'"{f}"' for f in _FIELDS),
           new_fields=", ".join(f'NEW."{f}"' for f in _FIELDS))


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("pending_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("timestamp", sa.String(40), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=True),
        sa.Column("subject_id", sa.String(64), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=True),
        sa.Column("record_key", sa.Text(), nullable=True),
        sa.Column("field", sa.String(64), nullable=True),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("hash_head", sa.Text(), nullable=False),
        sa.Column("hash_middle", sa.Text(), nullable=False),
        sa.Column("hash_tail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("pending_id", name="pk_audit_pending"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CHAIN_FUNCTION)
        op.execute(
            "CREATE CONSTRAINT TRIGGER audit_pending_chain AFTER INSERT ON audit_pending "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_chain_pending()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_pending_chain ON audit_pending")
        op.execute("DROP FUNCTION IF EXISTS audit_chain_pending()")
    op.drop_table("audit_pending")
