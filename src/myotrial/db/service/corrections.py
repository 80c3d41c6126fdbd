"""Corrections: change one field of one record with a mandatory reason (audited old -> new).
Corrected records are validated like new input; a visit correction re-scores the subject."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from myotrial.db import audit as _audit
from myotrial.db import schema as s
from myotrial.db._values import Problems, fail
from myotrial.db.results import CorrectionResult, VisitResult
from myotrial.db.roles import Actor
from myotrial.db.service._unit import TABLES, parser_of
from myotrial.db.service.enrolment import MSA_GROUPS
from myotrial.db.service.safety import SafetyOperations, check_adverse_event, check_infusion
from myotrial.db.service.visits import VisitOperations, visit_result, visit_rows

__all__ = ["CORRECTABLE_FIELDS", "CorrectionOperations"]

#: Fields a correction (update with a reason) may change, per table. Keys, allocations, the
#: randomisation list, screenings, deterioration events, the protocol and the audit trail
#: cannot be corrected.
CORRECTABLE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "subjects": ("age", "sex", "msa_group", "completed_week_16", "entered_extension",
                 "completed_week_40", "discontinuation_reason"),
    "visits": ("visit_date", *s.MEASURE_COLUMNS),
    "infusions": ("cycle", "start", "end", "dose_g_per_kg", "rate_ml_per_kg_min", "kit_code"),
    "adverse_events": ("term", "body_system", "onset", "end", "serious", "severity", "related",
                       "thromboembolic"),
}


def _find(conn: sa.Connection, t: sa.Table, key: Mapping[str, Any]) -> dict[str, Any]:
    cols = set(key)
    allowed = [set(_audit.AUDITED_TABLES[t.name].key)]
    if t.name == "visits":
        allowed.append({"subject_id", "visit_week"})
    if not isinstance(key, Mapping) or cols not in allowed:
        raise fail(t.name, f"key of {t.name} must have the column(s) "
                   + " or ".join("+".join(sorted(a)) for a in allowed),
                   column="key", value=dict(key) if isinstance(key, Mapping) else key)
    p = Problems(t.name)
    parsed = {k: p.parse(k, key[k], parser_of(t.c[k])) for k in sorted(cols)}
    p.raise_if_any()
    row = conn.execute(sa.select(t).where(*(t.c[k] == val for k, val in parsed.items()))
                       ).first()
    if row is None:
        raise fail(t.name, f"no {t.name} record with key {_audit.canonical_json(parsed)}",
                   subject_id=parsed.get("subject_id"),
                   visit_week=parsed.get("visit_week"), column="key",
                   value=_audit.canonical_json(parsed))
    return dict(row._mapping)


class CorrectionOperations(VisitOperations, SafetyOperations):
    """``correct_record`` (needs the visit scoring of :class:`VisitOperations`)."""

    def correct_record(self, actor: Actor, table: str, key: Mapping[str, Any], field: str,
                       value: Any, reason: str) -> CorrectionResult:
        """Change one field of one record, with a mandatory reason (audited old -> new).

        ``key``: ``{"subject_id": ...}`` (subjects), ``{"subject_id": ..., "visit_week": ...}``
        or ``{"visit_id": ...}`` (visits), ``{"infusion_id": ...}``, ``{"ae_id": ...}``. The
        corrected record is validated like new input; a visit correction re-scores the subject
        (and may record a deterioration event).
        """
        with self._transaction(actor, "correct_record", write=True) as tx:
            where = key.get("subject_id") if isinstance(key, Mapping) else None
            if table not in CORRECTABLE_FIELDS:
                raise fail(table, f"table {table!r} cannot be corrected; correctable tables: "
                           + ", ".join(CORRECTABLE_FIELDS), subject_id=where, column="table",
                           value=table)
            if field not in CORRECTABLE_FIELDS[table]:
                raise fail(table, f"field {field!r} of {table} cannot be corrected; "
                           "correctable: " + ", ".join(CORRECTABLE_FIELDS[table]),
                           subject_id=where, column=field, value=field)
            t = TABLES[table]
            row = _find(tx.conn, t, key)
            subj = tx.subject(row["subject_id"])
            sid = subj["subject_id"]
            week: int | None = row.get("visit_week")
            why = self._reason(table, reason, sid, week)
            p = Problems(table, sid, week)
            new = p.parse(field, value, parser_of(t.c[field]))
            p.raise_if_any()
            if new == row[field]:
                raise fail(table, f"{field} already has this value: nothing to correct",
                           subject_id=sid, visit_week=week, column=field, value=value)
            candidate = {**row, field: new}
            if table == "infusions":
                check_infusion(self.policy, p, candidate)
                self.check_infusion_record(tx.conn, p, subj, {field: new})
            elif table == "adverse_events":
                check_adverse_event(p, candidate)
                self.check_adverse_event_dates(p, subj, {field: new})
            elif table == "visits" and field == "visit_date":
                lo, hi, what = self.visit_day_limits(tx.conn, subj, int(row["visit_week"]))
                self.check_day(p, "visit_date", new, subj, earliest=lo, latest=hi, what=what)
            elif table == "subjects":
                p.one_of("msa_group", candidate["msa_group"], MSA_GROUPS)
                age = candidate["age"]
                if age is not None and not 0 <= age <= 120:
                    p.add("age", age, "age in years must be 0 to 120")
            p.raise_if_any()
            visit: VisitResult | None = None
            scored = None
            if table == "visits":
                rows = visit_rows(tx.conn, sid)
                for r in rows:
                    if r["visit_week"] == week:
                        r[field] = new
                scored = self._score(rows)
            tx.update(t, row, field, new, reason=why, site_id=subj["site_id"], subject_id=sid)
            if scored is not None and week is not None:
                event = self._deterioration(tx, subj, scored)
                visit = visit_result(scored, sid, int(week), event)
            rkey = _audit.record_key(table, row)
        return CorrectionResult(table, rkey, field, _audit.jsonable(row[field]),
                                _audit.jsonable(new), why, visit)
