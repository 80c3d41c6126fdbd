"""Initial schema: sites, users, subjects, screening, randomisation, visits, infusions, adverse
events, crossover events and the append-only, hash-chained audit trail.

The audit table refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) by trigger.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MEASURES = (
    "pga",
    "ptga",
    "extramuscular",
    "mmt8",
    "mmt8_max",
    "haq",
    "ck",
    "aldolase",
    "ldh",
    "alt",
    "ast",
    "ck_uln",
    "aldolase_uln",
    "ldh_uln",
    "alt_uln",
    "ast_uln",
    "cmas",
    "chaq",
    "chq_phs",
    "das",
    "cdasi_activity",
    "cdasi_damage",
)
APPEND_ONLY_MESSAGE = "audit_log is append-only: UPDATE and DELETE are refused"


def _subject_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["subject_id"], ["subjects.subject_id"], name=f"fk_{table}_subject_id_subjects"
    )


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("site_id", name="pk_sites"),
    )
    op.create_table(
        "users",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_users"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.site_id"], name="fk_users_site_id_sites"),
    )
    op.create_table(
        "subjects",
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("age", sa.Float(), nullable=True),
        sa.Column("sex", sa.String(16), nullable=True),
        sa.Column("msa_group", sa.String(32), nullable=True),
        sa.Column("randomised", sa.Boolean(), nullable=False),
        sa.Column("completed_week_16", sa.Boolean(), nullable=True),
        sa.Column("entered_extension", sa.Boolean(), nullable=True),
        sa.Column("completed_week_40", sa.Boolean(), nullable=True),
        sa.Column("discontinuation_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("subject_id", name="pk_subjects"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.site_id"], name="fk_subjects_site_id_sites"),
    )
    op.create_table(
        "screenings",
        sa.Column("screening_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("screened_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("criteria_met", sa.Text(), nullable=True),
        sa.Column("missing_fields", sa.Text(), nullable=True),
        sa.Column("bohan_peter_class", sa.String(32), nullable=True),
        sa.Column("eular_acr_score", sa.Float(), nullable=True),
        sa.Column("eular_acr_class", sa.String(32), nullable=True),
        sa.Column("inputs_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("screening_id", name="pk_screenings"),
        _subject_fk("screenings"),
    )
    op.create_index("ix_screenings_subject_id", "screenings", ["subject_id"])
    op.create_table(
        "randomisation_lists",
        sa.Column("list_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("scheme_json", sa.Text(), nullable=False),
        sa.Column("list_sha256", sa.String(64), nullable=False),
        sa.Column("n_slots", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("list_id", name="pk_randomisation_lists"),
    )
    op.create_table(
        "randomisation_slots",
        sa.Column("slot_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("stratum", sa.String(200), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("block_size", sa.Integer(), nullable=False),
        sa.Column("arm", sa.String(64), nullable=False),
        sa.Column("kit_code", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("slot_id", name="pk_randomisation_slots"),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["randomisation_lists.list_id"],
            name="fk_randomisation_slots_list_id_randomisation_lists",
        ),
        sa.UniqueConstraint("kit_code", name="uq_randomisation_slots_kit_code"),
        sa.UniqueConstraint(
            "list_id", "stratum", "sequence", name="uq_randomisation_slots_list_id_stratum_sequence"
        ),
    )
    op.create_table(
        "allocations",
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("stratum", sa.String(200), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("kit_code", sa.String(32), nullable=False),
        sa.Column("randomised_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", name="pk_allocations"),
        _subject_fk("allocations"),
        sa.ForeignKeyConstraint(
            ["slot_id"],
            ["randomisation_slots.slot_id"],
            name="fk_allocations_slot_id_randomisation_slots",
        ),
        sa.UniqueConstraint("slot_id", name="uq_allocations_slot_id"),
    )
    op.create_table(
        "visits",
        sa.Column("visit_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("visit_week", sa.Integer(), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=True),
        *(sa.Column(name, sa.Float(), nullable=True) for name in MEASURES),
        sa.PrimaryKeyConstraint("visit_id", name="pk_visits"),
        _subject_fk("visits"),
        sa.UniqueConstraint("subject_id", "visit_week", name="uq_visits_subject_id_visit_week"),
    )
    op.create_table(
        "infusions",
        sa.Column("infusion_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=False),
        sa.Column("dose_g_per_kg", sa.Float(), nullable=False),
        sa.Column("rate_ml_per_kg_min", sa.Float(), nullable=True),
        sa.Column("kit_code", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("infusion_id", name="pk_infusions"),
        _subject_fk("infusions"),
    )
    op.create_index("ix_infusions_subject_id", "infusions", ["subject_id"])
    op.create_table(
        "adverse_events",
        sa.Column("ae_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("term", sa.String(200), nullable=False),
        sa.Column("body_system", sa.String(200), nullable=True),
        sa.Column("onset", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=True),
        sa.Column("serious", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(32), nullable=False),
        sa.Column("related", sa.Boolean(), nullable=True),
        sa.Column("thromboembolic", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("ae_id", name="pk_adverse_events"),
        _subject_fk("adverse_events"),
    )
    op.create_index("ix_adverse_events_subject_id", "adverse_events", ["subject_id"])
    op.create_table(
        "crossover_events",
        sa.Column("crossover_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("confirmed_week", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("crossover_id", name="pk_crossover_events"),
        _subject_fk("crossover_events"),
        sa.UniqueConstraint("subject_id", name="uq_crossover_events_subject_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
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
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
        sa.UniqueConstraint("hash", name="uq_audit_log_hash"),
    )
    op.create_index("ix_audit_log_subject_id", "audit_log", ["subject_id"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    _append_only_triggers()


def _append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE} (%)', TG_OP; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
    else:  # pragma: no cover - make_engine refuses other databases
        raise NotImplementedError(f"append-only triggers for {dialect} are not written")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    for table in (
        "audit_head",
        "audit_log",
        "crossover_events",
        "adverse_events",
        "infusions",
        "visits",
        "allocations",
        "randomisation_slots",
        "randomisation_lists",
        "screenings",
        "subjects",
        "users",
        "sites",
    ):
        op.drop_table(table)
