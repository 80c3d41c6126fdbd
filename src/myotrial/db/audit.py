"""The append-only, hash-chained audit trail and its verification.

Each row records who (user, role), when (UTC), what (action, table, record key, field), the old
and new values (canonical JSON) and the reason for a change. Row ``n`` stores ``prev_hash`` (the
hash of row ``n - 1``; 64 zeros for row 1) and ``hash = sha256(canonical JSON of the row's other
fields, prev_hash included)``. Ids are contiguous from 1, and the one-row ``audit_head`` table
holds the last id and hash, updated in the same transaction (PostgreSQL subject writers stage
their rows in ``audit_pending`` and a deferred trigger chains them the same way inside their
COMMIT: :func:`append_audit_rows`, :func:`hash_fragments`, migration r0004). So an edited row
breaks its own hash, a deleted or inserted row breaks the next row's ``prev_hash`` or the ids,
and a removed tail no longer matches the head. Triggers refuse UPDATE and DELETE on
``audit_log`` (migration 0001). Someone who can drop the triggers and rewrite the whole chain
*and* the head is detected only against an externally kept head hash (``expected_head``): keep
the head printed by ``myotrial db verify-audit`` in the monitoring report.

Beyond the chain, :func:`verify_audit_chain` replays the audit trail (inserts, then field
updates) and compares it with the clinical tables, so a change made around the service layer is
found too. Approach follows 21 CFR Part 11 §11.10(e) (secure, computer-generated, time-stamped
audit trails that do not obscure previously recorded information).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myotrial.db import schema as s

__all__ = [
    "AUDITED_TABLES",
    "GENESIS_HASH",
    "AuditProblem",
    "AuditReport",
    "AuditedTable",
    "append_audit",
    "append_audit_rows",
    "audit_entry",
    "canonical_json",
    "hash_fragments",
    "jsonable",
    "list_digest",
    "list_hmac",
    "record_key",
    "record_values",
    "row_hash",
    "secret_digest",
    "verify_audit_chain",
]

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "id", "timestamp", "username", "role", "site_id", "subject_id", "action", "table_name",
    "record_key", "field", "old_value", "new_value", "reason", "prev_hash",
)


def jsonable(value: Any) -> Any:
    """A database value as a JSON value: datetimes and dates as ISO text, floats exact."""
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN is stored as NULL
        return None
    return value


def canonical_json(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 kept, floats by ``repr`` (exact)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=jsonable)


def row_hash(row: Mapping[str, Any]) -> str:
    """sha256 hex digest over the canonical JSON of the row's :data:`HASHED_FIELDS`."""
    payload = {name: row.get(name) for name in HASHED_FIELDS}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditedTable:
    """How a clinical table is audited: its key columns and the columns kept out of the trail.

    ``secret`` columns (password hashes, the list's seed and scheme) are never written to the
    audit trail; they are covered by ``digest`` checks or not at all (password hashes).
    """

    table: sa.Table
    key: tuple[str, ...]
    secret: tuple[str, ...] = ()

    @property
    def audited_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.table.columns if c.name not in self.secret)


AUDITED_TABLES: Mapping[str, AuditedTable] = {
    t.table.name: t
    for t in (
        AuditedTable(s.sites, ("site_id",)),
        # failed_logins is operational (each failure is its own audit row; the lock is audited)
        AuditedTable(s.users, ("username",), secret=("password_hash", "failed_logins")),
        AuditedTable(s.subjects, ("subject_id",)),
        AuditedTable(s.screenings, ("screening_id",)),
        # nothing derivable from the list is audited (blinded roles read the trail): not the
        # seed, not its digest, not its length; the list's HMAC under the server secret is
        AuditedTable(s.randomisation_lists, ("list_id",),
                     secret=("seed", "scheme_json", "list_sha256", "n_slots")),
        # the slot and its position in the list stay out of the trail too
        AuditedTable(s.allocations, ("subject_id",), secret=("slot_id", "sequence")),
        AuditedTable(s.emergency_unblindings, ("unblinding_id",)),
        AuditedTable(s.visits, ("visit_id",)),
        AuditedTable(s.infusions, ("infusion_id",)),
        AuditedTable(s.adverse_events, ("ae_id",)),
        AuditedTable(s.crossover_events, ("crossover_id",)),
        # the protocol's text is covered by its audited sha256 (checked in the replay)
        AuditedTable(s.trial_protocol, ("protocol_id",), secret=("text",)),
    )
}


def record_key(table: str, row: Mapping[str, Any]) -> str:
    """Canonical JSON of the row's key columns, e.g. ``{"visit_id":3}``."""
    spec = AUDITED_TABLES[table]
    return canonical_json({k: jsonable(row[k]) for k in spec.key})


def record_values(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The audited (non-secret) columns of a row as JSON values."""
    return {c: jsonable(row.get(c)) for c in AUDITED_TABLES[table].audited_columns}


def audit_entry(
    *,
    username: str,
    role: str,
    action: str,
    when: dt.datetime,
    site_id: str | None = None,
    subject_id: str | None = None,
    table_name: str | None = None,
    record_key: str | None = None,
    field: str | None = None,
    old_value: Any = None,
    new_value: Any = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """The fields of one audit row before it joins the chain (no id, ``prev_hash``, hash):
    values as canonical JSON (``None`` stays NULL), the time as ISO text ending in ``Z``."""
    stamp = when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return {
        "timestamp": stamp.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "username": username,
        "role": role,
        "site_id": site_id,
        "subject_id": subject_id,
        "action": action,
        "table_name": table_name,
        "record_key": record_key,
        "field": field,
        "old_value": None if old_value is None else canonical_json(old_value),
        "new_value": None if new_value is None else canonical_json(new_value),
        "reason": reason,
    }


def append_audit(conn: sa.Connection, **entry: Any) -> dict[str, Any]:
    """Append one audit row in the caller's transaction and move the head; return the row
    (the keyword arguments of :func:`audit_entry`)."""
    return append_audit_rows(conn, [audit_entry(**entry)])[0]


_ID_MARK = "@id@"
_PREV_MARK = "@prev_hash@"
_ID_TOKEN = '"id":' + json.dumps(_ID_MARK)
_PREV_TOKEN = '"prev_hash":' + json.dumps(_PREV_MARK)


def hash_fragments(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    """The canonical JSON of an audit row (:func:`row_hash`) cut around its id and
    ``prev_hash``: ``(head, middle, tail)`` with ``head + str(id) + middle + prev_hash +
    tail == canonical_json(row)``, so the database can hash the row once it knows its place
    in the chain (``audit_pending``; migration r0004). Keys are fixed names and every quote
    inside a JSON string is escaped, so each cut point occurs exactly once."""
    text = canonical_json({**{name: entry.get(name) for name in HASHED_FIELDS},
                           "id": _ID_MARK, "prev_hash": _PREV_MARK})
    head, _, rest = text.partition(_ID_TOKEN)
    middle, _, tail = rest.partition(_PREV_TOKEN)
    if _ID_TOKEN in rest or _PREV_TOKEN in tail or not tail:  # pragma: no cover - see above
        raise ValueError("audit row: the id or prev_hash cut point is not unique")
    return head + '"id":', middle + '"prev_hash":"', '"' + tail


def append_audit_rows(conn: sa.Connection, entries: Iterable[Mapping[str, Any]], *,
                      at_commit: bool = False) -> list[dict[str, Any]]:
    """Chain ``entries`` (from :func:`audit_entry`) onto the trail in the caller's transaction,
    in order, and move the head; return the rows written.

    The head row is read ``FOR UPDATE`` (PostgreSQL): the next appender waits on that row
    lock until this transaction ends, then reads the head it left, so the chain never forks;
    the lock is held from here to the commit only (callers append last). SQLite writers are
    already alone (``BEGIN IMMEDIATE``). Ids and ``prev_hash``/``hash`` are unique in the
    schema as well: a fork could not be committed anyway.

    ``at_commit`` (PostgreSQL; ignored on SQLite): the rows go to ``audit_pending`` and the
    deferred trigger of migration r0004 chains them the same way *at COMMIT*, so the head's
    row lock is held only inside the commit, never while this client runs; the rows
    returned then have no ``id``, ``prev_hash`` or ``hash`` yet.
    """
    pending = list(entries)
    if not pending:
        return []
    if at_commit and conn.dialect.name == "postgresql":
        staged = []
        for entry in pending:
            first, middle, tail = hash_fragments(entry)
            staged.append({**{c: entry.get(c) for c in _PENDING_FIELDS}, "hash_head": first,
                           "hash_middle": middle, "hash_tail": tail})
        conn.execute(_INSERT_PENDING, staged)
        return [dict(e) for e in pending]
    head = conn.execute(_HEAD_FOR_UPDATE).first()
    last_id, prev = (0, GENESIS_HASH) if head is None else (int(head[0]), str(head[1]))
    rows: list[dict[str, Any]] = []
    for entry in pending:
        last_id += 1
        row: dict[str, Any] = {"id": last_id, **entry, "prev_hash": prev}
        row["hash"] = prev = row_hash(row)
        rows.append(row)
    if head is not None and conn.dialect.name == "postgresql":
        # the rows and the head's move in one statement (a data-modifying CTE)
        params = {f"r{i}_{c}": row.get(c) for i, row in enumerate(rows) for c in _AUDIT_COLUMNS}
        conn.execute(_chain_statement(len(rows)), {**params, "last_id": last_id,
                                                   "last_hash": prev})
        return rows
    conn.execute(_INSERT_AUDIT, rows)
    if head is None:
        conn.execute(sa.insert(s.audit_head).values(id=1, last_id=last_id, last_hash=prev))
    else:
        conn.execute(_MOVE_HEAD, {"last_id": last_id, "last_hash": prev})
    return rows


_AUDIT_COLUMNS = tuple(c.name for c in s.audit_log.c)
_PENDING_FIELDS = tuple(c for c in _AUDIT_COLUMNS if c not in ("id", "prev_hash", "hash"))
_INSERT_PENDING = sa.insert(s.audit_pending)
_HEAD_FOR_UPDATE = sa.select(s.audit_head.c.last_id, s.audit_head.c.last_hash).where(
    s.audit_head.c.id == 1).with_for_update()
_INSERT_AUDIT = sa.insert(s.audit_log)
_MOVE_HEAD = sa.update(s.audit_head).where(s.audit_head.c.id == 1).values(
    last_id=sa.bindparam("last_id", type_=sa.Integer),
    last_hash=sa.bindparam("last_hash", type_=sa.String))


@functools.cache
def _chain_statement(n_rows: int) -> sa.Update:
    """PostgreSQL: ``WITH chained AS (INSERT INTO audit_log VALUES <n rows>) UPDATE
    audit_head ...`` with bound parameters ``r{i}_{column}``, ``last_id``, ``last_hash``
    (built once per row count)."""
    values = [{c: sa.bindparam(f"r{i}_{c}", type_=s.audit_log.c[c].type)
               for c in _AUDIT_COLUMNS} for i in range(n_rows)]
    chained = sa.insert(s.audit_log).values(values).cte("chained")
    return _MOVE_HEAD.add_cte(chained)


# ----------------------------------------------------------------------------------------------
# verification


@dataclass(frozen=True)
class AuditProblem:
    """One finding of the verification: where (audit row id or table/record) and what."""

    kind: str
    detail: str
    audit_id: int | None = None
    table_name: str | None = None
    record_key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "audit_id": self.audit_id,
                "table_name": self.table_name, "record_key": self.record_key}


@dataclass(frozen=True)
class AuditReport:
    """Result of :func:`verify_audit_chain`. ``ok`` is True when no problem was found.

    The report names rows, tables and keys but never a value, so it is safe for blinded roles.
    """

    n_rows: int
    head_id: int
    head_hash: str
    problems: tuple[AuditProblem, ...] = field(default_factory=tuple)
    checked_data: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "n_rows": self.n_rows, "head_id": self.head_id,
                "head_hash": self.head_hash, "checked_data": self.checked_data,
                "problems": [p.as_dict() for p in self.problems]}

    def summary(self) -> str:
        if self.ok:
            return (f"audit trail OK: {self.n_rows} rows, chain intact, head {self.head_id} "
                    f"{self.head_hash}" + (", data match the trail" if self.checked_data else ""))
        lines = [f"audit trail FAILED: {len(self.problems)} problem(s) in {self.n_rows} rows"]
        lines += [f"  - [{p.kind}] {p.detail}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more")
        return "\n".join(lines)


def _connection(target: sa.Connection | Session | sa.Engine) -> tuple[sa.Connection, bool]:
    if isinstance(target, sa.Engine):
        return target.connect().execution_options(myotrial_readonly=True), True
    if isinstance(target, Session):
        return target.connection(), False
    return target, False


def verify_audit_chain(
    target: sa.Connection | Session | sa.Engine,
    *,
    expected_head: str | None = None,
    check_data: bool = True,
    list_key: bytes | None = None,
) -> AuditReport:
    """Verify the audit hash chain (and, by default, the data against the trail).

    Checks: ids contiguous from 1; each ``prev_hash`` equals the previous row's hash (64 zeros
    for row 1); each stored hash equals the recomputed one; ``audit_head`` names the last row;
    ``expected_head`` (a hash recorded earlier, outside the database) is still in the chain. With
    ``check_data``: replaying the trail reproduces every audited record (no record changed,
    added or removed around the service layer) and the randomisation list matches its audited
    digest. ``list_key`` (the service's HMAC key, from the server secret) also checks the
    list's HMAC in the trail (a list audited under another key is not checked).
    """
    conn, owned = _connection(target)
    try:
        return _verify(conn, expected_head, check_data, list_key)
    finally:
        if owned:
            conn.close()


def _verify(conn: sa.Connection, expected_head: str | None, check_data: bool,
            list_key: bytes | None = None) -> AuditReport:
    problems: list[AuditProblem] = []
    rows = [dict(r._mapping) for r in conn.execute(sa.select(s.audit_log)
                                                   .order_by(s.audit_log.c.id))]
    prev = GENESIS_HASH
    seen_expected = expected_head is None
    for n, row in enumerate(rows, start=1):
        rid = int(row["id"])
        if rid != n:
            problems.append(AuditProblem(
                "id_gap", f"row id {rid} found where id {n} was expected (row deleted or "
                "inserted)", rid))
        if row["prev_hash"] != prev:
            problems.append(AuditProblem(
                "chain_broken", f"row {rid}: prev_hash does not match the hash of the row "
                "before it (a row was deleted, inserted or edited before it)", rid))
        if row_hash(row) != row["hash"]:
            problems.append(AuditProblem(
                "hash_mismatch", f"row {rid}: stored hash does not match its contents "
                "(row edited)", rid))
        if row["hash"] == expected_head:
            seen_expected = True
        prev = str(row["hash"])
    head = conn.execute(sa.select(s.audit_head.c.last_id, s.audit_head.c.last_hash)
                        .where(s.audit_head.c.id == 1)).first()
    last_id = int(rows[-1]["id"]) if rows else 0
    if head is None:
        if rows:
            problems.append(AuditProblem("head_missing", "audit_head row is missing"))
    elif int(head[0]) != last_id or str(head[1]) != prev:
        problems.append(AuditProblem(
            "head_mismatch", f"audit_head names row {head[0]} but the trail ends at row "
            f"{last_id} with a different hash (rows removed from or added to the end)"))
    unchained = 0
    if sa.inspect(conn).has_table("audit_pending"):  # (a database before revision 0004: none)
        unchained = conn.execute(sa.select(sa.func.count()).select_from(s.audit_pending)
                                 ).scalar_one()
    if unchained:
        problems.append(AuditProblem(
            "pending_unchained", f"{unchained} committed audit row(s) in audit_pending were "
            "never chained (the chaining trigger was removed or disabled)"))
    if not seen_expected:
        problems.append(AuditProblem(
            "anchor_missing", f"the expected head hash {expected_head} is not in the chain "
            "(the trail was rewritten or truncated)"))
    if check_data:
        problems += _replay(conn, rows, list_key)
    return AuditReport(len(rows), last_id, prev, tuple(problems), check_data)


def _replay(conn: sa.Connection, rows: Iterable[Mapping[str, Any]],
            list_key: bytes | None = None) -> list[AuditProblem]:
    """Compare the state implied by the trail with the clinical tables."""
    problems: list[AuditProblem] = []
    expected: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in AUDITED_TABLES}
    for row in rows:
        table, key = row["table_name"], row["record_key"]
        if table not in AUDITED_TABLES or key is None:
            continue
        try:
            new = None if row["new_value"] is None else json.loads(row["new_value"])
        except json.JSONDecodeError:
            problems.append(AuditProblem("bad_value", f"row {row['id']}: new_value is not JSON",
                                         int(row["id"]), table, key))
            continue
        if row["action"] == "insert":
            expected[table][key] = dict(new or {})
        elif row["action"] == "update" and row["field"] is not None:
            expected[table].setdefault(key, {})[row["field"]] = new
    for name, spec in AUDITED_TABLES.items():
        actual = {
            record_key(name, dict(r._mapping)): record_values(name, dict(r._mapping))
            for r in conn.execute(sa.select(spec.table))
        }
        want = expected[name]
        for key in sorted(set(want) - set(actual)):
            problems.append(AuditProblem("record_missing", f"{name} {key} is in the audit trail "
                                         "but not in the table (deleted)", None, name, key))
        for key in sorted(set(actual) - set(want)):
            problems.append(AuditProblem("record_unaudited", f"{name} {key} is in the table but "
                                         "has no audit trail (written around the service)",
                                         None, name, key))
        for key in sorted(set(actual) & set(want)):
            differ = sorted(c for c in spec.audited_columns
                            if actual[key].get(c) != want[key].get(c))
            if differ:
                problems.append(AuditProblem(
                    "record_changed", f"{name} {key}: column(s) {', '.join(differ)} differ from "
                    "the audit trail (changed around the service)", None, name, key))
    problems += _check_lists(conn, expected["randomisation_lists"], list_key)
    problems += _check_protocol(conn)
    return problems


def _check_protocol(conn: sa.Connection) -> list[AuditProblem]:
    problems = []
    for row in conn.execute(sa.select(s.trial_protocol)):
        digest = hashlib.sha256(str(row.text).encode("utf-8")).hexdigest()
        if digest != row.sha256:
            problems.append(AuditProblem(
                "protocol_changed", "the recorded protocol text does not match its audited "
                "sha256 (edited)", None, "trial_protocol",
                record_key("trial_protocol", dict(row._mapping))))
    return problems


def list_digest(slots: Iterable[Mapping[str, Any]]) -> str:
    """sha256 of the randomisation list in the format of ``myotrial.randomisation``."""
    canon = json.dumps(
        [{"stratum": r["stratum"], "sequence": int(r["sequence"]), "block": int(r["block"]),
          "block_size": int(r["block_size"]), "arm": r["arm"], "kit_code": r["kit_code"]}
         for r in slots],
        sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def secret_digest(seed: int, scheme_json: str) -> str:
    """sha256 of a list's seed and scheme: audited in their place (they would unblind)."""
    return hashlib.sha256(canonical_json({"seed": int(seed), "scheme": scheme_json})
                          .encode("utf-8")).hexdigest()


def list_hmac(key: bytes, list_sha256: str, n_slots: int, seed: int | None,
              scheme_json: str) -> dict[str, str]:
    """What the audit trail holds of a randomisation list: an HMAC-SHA256 under the server's
    key over the list's digest, length, seed and scheme, and the key's id (an HMAC of a fixed
    text, so a verifier knows whether it holds the same key). Without the key nothing in it
    can be checked against a guessed list; the key's id says nothing about the list."""
    payload = canonical_json({"list_sha256": list_sha256, "n_slots": int(n_slots),
                              "seed": seed, "scheme": scheme_json})
    return {"list_hmac": hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest(),
            "key_id": hmac.new(key, b"myotrial key id", hashlib.sha256).hexdigest()[:16]}


def _check_lists(
    conn: sa.Connection, audited: Mapping[str, Mapping[str, Any]],
    list_key: bytes | None = None,
) -> list[AuditProblem]:
    problems = []
    for lst in conn.execute(sa.select(s.randomisation_lists)):
        key = record_key("randomisation_lists", dict(lst._mapping))
        entry = audited.get(key, {})
        mac = entry.get("list_hmac")
        if mac is not None and list_key is not None:
            expected = list_hmac(list_key, lst.list_sha256, lst.n_slots, lst.seed,
                                 lst.scheme_json)
            if entry.get("key_id") == expected["key_id"] and mac != expected["list_hmac"]:
                problems.append(AuditProblem(
                    "list_changed", f"randomisation list {lst.list_id}: digest, length, seed "
                    "or scheme do not match the audited HMAC (edited)", None,
                    "randomisation_lists", key))
        want = entry.get("secret_sha256")  # lists audited before revision 0003
        if want is not None and lst.seed is not None and \
                want != secret_digest(lst.seed, lst.scheme_json):
            problems.append(AuditProblem(
                "list_changed", f"randomisation list {lst.list_id}: seed or scheme do not match "
                "the audited digest (edited)", None, "randomisation_lists", key))
        slots = [dict(r._mapping) for r in conn.execute(
            sa.select(s.randomisation_slots)
            .where(s.randomisation_slots.c.list_id == lst.list_id)
            .order_by(s.randomisation_slots.c.slot_id))]
        if len(slots) != lst.n_slots or list_digest(slots) != lst.list_sha256:
            problems.append(AuditProblem(
                "list_changed", f"randomisation list {lst.list_id}: slots do not match the "
                "audited digest (list edited)", None, "randomisation_slots",
                canonical_json({"list_id": lst.list_id})))
    return problems
