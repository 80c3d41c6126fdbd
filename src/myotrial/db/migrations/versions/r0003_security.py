"""Security (issue 12): server-side sessions, account lockout and two-person approval,
consent dates, emergency unblinding, and randomisation lists without a seed.

- ``sessions``: one row per login (sha256 of the cookie's token), ended at logout or timeout;
- ``users``: ``failed_logins``, ``locked_at``, ``approval_requested_by``;
- ``subjects.consent_date``;
- ``emergency_unblindings``: subject, investigator, reason, time (never the arm);
- ``randomisation_lists.seed`` nullable (a list from the OS CSPRNG has no seed) and ``source``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["username"], ["users.username"],
                                name="fk_sessions_username_users"),
        sa.PrimaryKeyConstraint("token_sha256", name="pk_sessions"),
    )
    op.create_index("ix_sessions_username", "sessions", ["username"])
    op.create_table(
        "emergency_unblindings",
        sa.Column("unblinding_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("unblinded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.subject_id"],
                                name="fk_emergency_unblindings_subject_id_subjects"),
        sa.PrimaryKeyConstraint("unblinding_id", name="pk_emergency_unblindings"),
    )
    op.create_index("ix_emergency_unblindings_subject_id", "emergency_unblindings",
                    ["subject_id"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("locked_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("approval_requested_by", sa.String(64), nullable=True))
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("consent_date", sa.Date(), nullable=True))
    op.add_column("randomisation_lists", sa.Column("source", sa.String(16), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite would rebuild the table to drop NOT NULL, which its slots' foreign keys
        # forbid inside the migration's transaction: move the column instead (DROP COLUMN,
        # SQLite >= 3.35), keeping the values
        op.add_column("randomisation_lists", sa.Column("seed_old", sa.BigInteger()))
        op.execute("UPDATE randomisation_lists SET seed_old = seed")
        op.drop_column("randomisation_lists", "seed")
        op.add_column("randomisation_lists", sa.Column("seed", sa.BigInteger(), nullable=True))
        op.execute("UPDATE randomisation_lists SET seed = seed_old")
        op.drop_column("randomisation_lists", "seed_old")
    else:
        op.alter_column("randomisation_lists", "seed", existing_type=sa.BigInteger(),
                        nullable=True)


def downgrade() -> None:
    op.drop_column("randomisation_lists", "source")
    with op.batch_alter_table("subjects") as batch:
        batch.drop_column("consent_date")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("approval_requested_by")
        batch.drop_column("locked_at")
        batch.drop_column("failed_logins")
    op.drop_index("ix_emergency_unblindings_subject_id", "emergency_unblindings")
    op.drop_table("emergency_unblindings")
    op.drop_index("ix_sessions_username", "sessions")
    op.drop_table("sessions")
