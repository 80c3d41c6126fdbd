"""The protocol of the trial: ``trial_protocol`` (name, full file text, sha256), one row,
fixed once recorded (UPDATE and DELETE refused by trigger).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FIXED_MESSAGE = "trial_protocol is fixed once recorded: UPDATE and DELETE are refused"


def upgrade() -> None:
    op.create_table(
        "trial_protocol",
        sa.Column("protocol_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("protocol_id", name="pk_trial_protocol"),
        sa.CheckConstraint("protocol_id = 1", name="ck_trial_protocol_single_row"),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER trial_protocol_no_{event.lower()} BEFORE {event} ON "
                f"trial_protocol BEGIN SELECT RAISE(ABORT, '{FIXED_MESSAGE}'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION trial_protocol_fixed() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{FIXED_MESSAGE} (%)', TG_OP; END $$"
        )
        op.execute(
            "CREATE TRIGGER trial_protocol_no_update_delete BEFORE UPDATE OR DELETE ON "
            "trial_protocol FOR EACH ROW EXECUTE FUNCTION trial_protocol_fixed()"
        )
        op.execute(
            "CREATE TRIGGER trial_protocol_no_truncate BEFORE TRUNCATE ON trial_protocol "
            "FOR EACH STATEMENT EXECUTE FUNCTION trial_protocol_fixed()"
        )
    else:  # pragma: no cover - make_engine refuses other databases
        raise NotImplementedError(f"triggers for {dialect} are not written")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS trial_protocol_no_update")
        op.execute("DROP TRIGGER IF EXISTS trial_protocol_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trial_protocol_no_update_delete ON trial_protocol")
        op.execute("DROP TRIGGER IF EXISTS trial_protocol_no_truncate ON trial_protocol")
        op.execute("DROP FUNCTION IF EXISTS trial_protocol_fixed()")
    op.drop_table("trial_protocol")
