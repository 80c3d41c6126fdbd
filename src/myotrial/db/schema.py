"""Tables of the trial database (SQLAlchemy Core).

Clinical tables follow ``shared/reference/data-format.md`` (subjects, visits, infusions,
adverse_events) plus the operational tables (sites, users, screenings, the randomisation list,
allocations, crossover events) and the append-only audit trail. The first Alembic revision
(``migrations/versions/r0001_initial.py``) creates these tables, the second
(``r0002_protocol.py``) adds ``trial_protocol``, the third (``r0003_security.py``) sessions,
account security (lockout, two-person approval), consent dates, emergency unblinding and lists
without a seed, the fourth (``r0004_chain_at_commit.py``) ``audit_pending`` and the PostgreSQL
trigger that chains audit rows at commit; a test compares the migrated schema with them.

Arms are stored in one place only, ``randomisation_slots.arm``: allocations reference a slot,
infusions carry a kit code, deterioration events (table ``crossover_events``, its historical
name) are recorded alike for every arm. Nothing else (and no audit row) holds an arm, so a
blinded view cannot leak one by accident. ``trial_protocol`` holds the one protocol the
database runs under (name, full file text, sha256); it holds no allocation.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "MEASURE_COLUMNS",
    "adverse_events",
    "allocations",
    "audit_head",
    "audit_log",
    "audit_pending",
    "crossover_events",
    "emergency_unblindings",
    "infusions",
    "metadata",
    "randomisation_lists",
    "randomisation_slots",
    "screenings",
    "sessions",
    "sites",
    "subjects",
    "trial_protocol",
    "users",
    "visits",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = sa.MetaData(naming_convention=NAMING)

#: Numeric measure columns of the canonical visits table (data-format.md, visits).
MEASURE_COLUMNS: tuple[str, ...] = (
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

_TS = sa.DateTime(timezone=False)  # UTC, naive (see docs/database.md, "Times")

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("site_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("country", sa.String(100), nullable=True),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.site_id"), nullable=True),
    sa.Column("active", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    # r0003: consecutive failed logins (not audited: operational), the lockout (audited), and
    # the administrator whose request awaits a second administrator's approval
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_at", _TS, nullable=True),
    sa.Column("approval_requested_by", sa.String(64), nullable=True),
)

subjects = sa.Table(
    "subjects",
    metadata,
    sa.Column("subject_id", sa.String(64), primary_key=True),
    sa.Column("site_id", sa.String(32), sa.ForeignKey("sites.site_id"), nullable=False),
    sa.Column("age", sa.Float, nullable=True),
    sa.Column("sex", sa.String(16), nullable=True),
    sa.Column("msa_group", sa.String(32), nullable=True),
    sa.Column("randomised", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("completed_week_16", sa.Boolean(create_constraint=False), nullable=True),
    sa.Column("entered_extension", sa.Boolean(create_constraint=False), nullable=True),
    sa.Column("completed_week_40", sa.Boolean(create_constraint=False), nullable=True),
    sa.Column("discontinuation_reason", sa.Text, nullable=True),
    sa.Column("consent_date", sa.Date, nullable=True),  # r0003, recorded at screening
)

screenings = sa.Table(
    "screenings",
    metadata,
    sa.Column("screening_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "subject_id",
        sa.String(64),
        sa.ForeignKey("subjects.subject_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("screened_at", _TS, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("eligible", sa.Boolean(create_constraint=False), nullable=True),
    sa.Column("reasons", sa.Text, nullable=True),
    sa.Column("criteria_met", sa.Text, nullable=True),
    sa.Column("missing_fields", sa.Text, nullable=True),
    sa.Column("bohan_peter_class", sa.String(32), nullable=True),
    sa.Column("eular_acr_score", sa.Float, nullable=True),
    sa.Column("eular_acr_class", sa.String(32), nullable=True),
    sa.Column("inputs_json", sa.Text, nullable=False),
)

randomisation_lists = sa.Table(
    "randomisation_lists",
    metadata,
    sa.Column("list_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", _TS, nullable=False),
    # r0003: NULL for a list drawn from the OS CSPRNG or imported (no seed exists)
    sa.Column("seed", sa.BigInteger, nullable=True),
    sa.Column("source", sa.String(16), nullable=True),  # csprng, seeded, imported
    sa.Column("scheme_json", sa.Text, nullable=False),
    sa.Column("list_sha256", sa.String(64), nullable=False),
    sa.Column("n_slots", sa.Integer, nullable=False),
)

randomisation_slots = sa.Table(
    "randomisation_slots",
    metadata,
    sa.Column("slot_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("list_id", sa.Integer, sa.ForeignKey("randomisation_lists.list_id"), nullable=False),
    sa.Column("stratum", sa.String(200), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("block", sa.Integer, nullable=False),
    sa.Column("block_size", sa.Integer, nullable=False),
    sa.Column("arm", sa.String(64), nullable=False),
    sa.Column("kit_code", sa.String(32), nullable=False, unique=True),
    sa.UniqueConstraint("list_id", "stratum", "sequence"),
)

allocations = sa.Table(
    "allocations",
    metadata,
    sa.Column("subject_id", sa.String(64), sa.ForeignKey("subjects.subject_id"), primary_key=True),
    sa.Column(
        "slot_id",
        sa.Integer,
        sa.ForeignKey("randomisation_slots.slot_id"),
        nullable=False,
        unique=True,
    ),
    sa.Column("stratum", sa.String(200), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("kit_code", sa.String(32), nullable=False),
    sa.Column("randomised_at", _TS, nullable=False),
)

visits = sa.Table(
    "visits",
    metadata,
    sa.Column("visit_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subject_id", sa.String(64), sa.ForeignKey("subjects.subject_id"), nullable=False),
    sa.Column("visit_week", sa.Integer, nullable=False),
    sa.Column("visit_date", sa.Date, nullable=True),
    *(sa.Column(name, sa.Float, nullable=True) for name in MEASURE_COLUMNS),
    sa.UniqueConstraint("subject_id", "visit_week"),
)

infusions = sa.Table(
    "infusions",
    metadata,
    sa.Column("infusion_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "subject_id",
        sa.String(64),
        sa.ForeignKey("subjects.subject_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("cycle", sa.Integer, nullable=False),
    sa.Column("start", _TS, nullable=False),
    sa.Column("end", _TS, nullable=False),
    sa.Column("dose_g_per_kg", sa.Float, nullable=False),
    sa.Column("rate_ml_per_kg_min", sa.Float, nullable=True),
    sa.Column("kit_code", sa.String(32), nullable=True),
)

adverse_events = sa.Table(
    "adverse_events",
    metadata,
    sa.Column("ae_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "subject_id",
        sa.String(64),
        sa.ForeignKey("subjects.subject_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("term", sa.String(200), nullable=False),
    sa.Column("body_system", sa.String(200), nullable=True),
    sa.Column("onset", _TS, nullable=False),
    sa.Column("end", _TS, nullable=True),
    sa.Column("serious", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("severity", sa.String(32), nullable=False),
    sa.Column("related", sa.Boolean(create_constraint=False), nullable=True),
    sa.Column("thromboembolic", sa.Boolean(create_constraint=False), nullable=False),
)

#: One row per subject whose deterioration was confirmed in the randomised period, EVERY arm
#: (the historical name is kept: audit rows name the table). Whether the event moved the
#: patient to another treatment follows from the arm and the protocol, never stored here.
crossover_events = sa.Table(
    "crossover_events",
    metadata,
    sa.Column("crossover_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "subject_id",
        sa.String(64),
        sa.ForeignKey("subjects.subject_id"),
        nullable=False,
        unique=True,
    ),
    sa.Column("confirmed_week", sa.Integer, nullable=False),
    sa.Column("recorded_at", _TS, nullable=False),
    sa.Column("description", sa.String(200), nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("timestamp", sa.String(40), nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("site_id", sa.String(32), nullable=True),
    sa.Column("subject_id", sa.String(64), nullable=True, index=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("table_name", sa.String(64), nullable=True),
    sa.Column("record_key", sa.Text, nullable=True),
    sa.Column("field", sa.String(64), nullable=True),
    sa.Column("old_value", sa.Text, nullable=True),
    sa.Column("new_value", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
)

#: Audit rows of a PostgreSQL subject writer waiting for its COMMIT (r0004): the deferred
#: trigger ``audit_pending_chain`` chains each onto ``audit_log`` at commit and deletes it, so
#: the table is empty outside writing transactions (SQLite: always empty). ``hash_head``,
#: ``hash_middle``, ``hash_tail``: the row's canonical JSON around its id and ``prev_hash``.
audit_pending = sa.Table(
    "audit_pending",
    metadata,
    sa.Column("pending_id", sa.Integer, primary_key=True, autoincrement=True),
    *(sa.Column(c.name, c.type, nullable=c.nullable) for c in audit_log.c
      if c.name not in ("id", "prev_hash", "hash")),
    sa.Column("hash_head", sa.Text, nullable=False),
    sa.Column("hash_middle", sa.Text, nullable=False),
    sa.Column("hash_tail", sa.Text, nullable=False),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_id", sa.Integer, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
)

#: The protocol the database runs under (one row; migration r0002). Fixed once recorded:
#: triggers refuse UPDATE and DELETE.
trial_protocol = sa.Table(
    "trial_protocol",
    metadata,
    sa.Column("protocol_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("recorded_at", _TS, nullable=False),
    sa.CheckConstraint("protocol_id = 1", name="single_row"),
)

#: Server-side login sessions (r0003): the cookie carries a random token, the table its
#: sha256; logout, idle and absolute timeouts end a session here (not audited: operational;
#: logins and logouts are audit rows).
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), sa.ForeignKey("users.username"), nullable=False,
              index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("last_seen", _TS, nullable=False),
    sa.Column("ended_at", _TS, nullable=True),
)

#: Emergency unblinding (r0003): who asked for which subject, when and why. The arm is shown
#: once to the requesting investigator and never stored here (the slot holds it).
emergency_unblindings = sa.Table(
    "emergency_unblindings",
    metadata,
    sa.Column("unblinding_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subject_id", sa.String(64), sa.ForeignKey("subjects.subject_id"),
              nullable=False, index=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("unblinded_at", _TS, nullable=False),
)
