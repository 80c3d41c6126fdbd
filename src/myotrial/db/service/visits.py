"""Visits and deterioration: record and score visits; record confirmed deterioration.

Scoring uses the protocol's options (:meth:`myotrial.policy.ProtocolPolicy.scoring_options`:
population thresholds, measure set, MMT-8 maximum, confirmation rule). A deterioration
confirmed in the randomised period records ONE deterioration event, the same for every arm
(blinded users see "confirmed deterioration per protocol"). Whether it moves the patient to
another treatment is the protocol's answer for the arm
(:meth:`~myotrial.policy.ProtocolPolicy.switches_on_deterioration`), given in unblinded
exports only (:mod:`myotrial.db.exports`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from myotrial.db import _values as v
from myotrial.db import schema as s
from myotrial.db._values import Problems, fail
from myotrial.db.results import DeteriorationEvent, VisitResult
from myotrial.db.roles import Actor
from myotrial.db.service._unit import LOOKUP, ServiceCore, UnitOfWork, _Lookup
from myotrial.errors import InputValidationError, Problem
from myotrial.scoring import score_visits
from myotrial.scoring.subject import score_subject_visits as score_rows

__all__ = ["DETERIORATION_DESCRIPTION", "VisitOperations", "scored_frame", "visit_result",
           "visit_rows"]

#: What every user sees of a confirmed deterioration, whatever the arm (issue 7): never the
#: arm, the direction, or whether a switch follows.
DETERIORATION_DESCRIPTION = "confirmed deterioration per protocol"
_CORE_COLUMNS = ("subject_id", "visit_week", "pga", "ptga", "extramuscular", "mmt8", "haq", "ck",
                 "ck_uln")


class VisitOperations(ServiceCore):
    """Visits, their instant score, and deterioration events."""

    def record_visit(self, actor: Actor, subject_id: str, visit_week: int,
                     measures: Mapping[str, Any], *, visit_date: Any = None) -> VisitResult:
        """Record one assessment visit, validate and score it at once.

        Validation: the rules of :func:`myotrial.tables.validate_visits` on the subject's visits
        with this one added (ranges, ULNs, baseline present); the week must lie in the protocol
        (0 to the end of the extension). Scoring: what :func:`myotrial.scoring.score_visits`
        gives under the protocol's options, computed on the rows without pandas
        (:func:`myotrial.scoring.subject.score_subject_visits`). Week 0 (baseline) may precede
        randomisation; later weeks may not.
        A deterioration confirmed by this visit records the deterioration event in the same
        transaction.
        """
        with self._transaction(actor, "record_visit", write=True, subject=subject_id,
                               with_visits=True) as tx:
            subj = tx.subject(subject_id)
            ctx = tx.subject_context(subj)
            sid = subj["subject_id"]
            p = Problems("visits", sid)
            week = p.parse("visit_week", visit_week, v.as_int)
            p.visit_week = week
            schedule = self.policy.assessment_weeks
            if week is None and not p.items:
                p.add("visit_week", None, "visit_week is required")
            typed = week
            if week is not None and not self.policy.is_scheduled_week(week):
                p.add("visit_week", visit_week, "visit_week must be a week of the schedule of "
                      f"protocol {self.protocol.name}: "
                      + ", ".join(str(w) for w in schedule))
                week = None
            for name, raw in measures.items():
                if name not in s.MEASURE_COLUMNS:
                    p.add(str(name), raw, "not a measure of the visits table; known: "
                          + ", ".join(s.MEASURE_COLUMNS))
            day = p.parse("visit_date", visit_date, v.as_date)
            week_no = int(week or 0)
            if week is not None:
                lo, hi, what = self.visit_day_limits(tx.conn, subj, week_no,
                                                     randomised=ctx.randomised_on)
                self.check_day(p, "visit_date", day, subj, earliest=lo, latest=hi, what=what)
            if not p.items and week_no > 0 and not subj["randomised"]:
                raise fail("visits", f"subject {sid} is not randomised: only the baseline "
                           "(week 0) may be recorded before randomisation", subject_id=sid,
                           visit_week=week_no, column="visit_week", value=week_no)
            stored = ctx.visits or []  # read with the subject: duplicate check and scoring
            if not p.items and any(r["visit_week"] == week_no for r in stored):
                raise fail("visits", f"week {week_no} is already recorded for subject "
                           f"{sid}: change it with correct_record and a reason", subject_id=sid,
                           visit_week=week_no, column="visit_week", value=week_no)
            # the measures are validated (all problems at once) by validate_visits in _score
            raw_row = {"subject_id": sid, "visit_week": typed if typed is not None and abs(
                           typed) <= self.policy.max_week else week_no if week is not None
                       else None,
                       **{c: measures.get(c) for c in s.MEASURE_COLUMNS}}
            rows = [{k: r[k] for k in raw_row} for r in stored]
            scored = self._score([*rows, raw_row], p)
            values = {c: p.parse(c, measures.get(c), v.as_float) for c in s.MEASURE_COLUMNS}
            p.raise_if_any()
            row = {"subject_id": sid, "visit_week": week_no, "visit_date": day, **values}
            tx.insert(s.visits, row, site_id=subj["site_id"], subject_id=sid)
            event = self._deterioration(tx, subj, scored, ctx.event)
        return visit_result(scored, sid, week_no, event)

    def score_subject(self, actor: Actor, subject_id: str) -> pd.DataFrame:
        """The subject's visits scored now (the columns of ``score_visits``, protocol
        options; missing values are None or NaN)."""
        with self._transaction(actor, "score_subject", write=False) as tx:
            subj = tx.subject(subject_id)
            rows = visit_rows(tx.conn, subj["subject_id"])
        if not rows:
            return pd.DataFrame(columns=["subject_id", "visit_week", "visit_date",
                                         *s.MEASURE_COLUMNS])
        return scored_frame(self._score(rows))  # (visit_date passed through, as before)

    def score_table(self, visits: pd.DataFrame) -> pd.DataFrame:
        """Score a visits table (an export) under the protocol's options; no database access
        and no actor (the caller already holds the rows)."""
        if visits.empty:
            return visits
        return score_visits(_compact(visits.drop(columns=["visit_date"], errors="ignore")),
                            **self.policy.scoring_options())

    def _score(self, rows: Sequence[Mapping[str, Any]], earlier: Problems | None = None
               ) -> list[dict[str, Any]]:
        """Validate and score a subject's visits (rows, no pandas); raise ``earlier`` problems
        with the new ones.

        Row numbers of the assembled rows mean nothing to the caller: problems are located by
        subject, week, column, value and rule (``row`` is left empty).
        """
        found: list[Problem] = list(earlier.items) if earlier is not None else []
        try:
            scored = score_rows(rows, options=self.policy.scoring_options())
        except InputValidationError as exc:
            found += [Problem(**{str(k): v for k, v in rec.items()})
                      for rec in exc.problems.astype(object).to_dict("records")]
        if found:
            raise InputValidationError([dataclasses.replace(p, row=None) for p in found],
                                       "visits") from None
        return scored

    def _deterioration(self, tx: UnitOfWork, subj: Mapping[str, Any],
                       scored: Sequence[Mapping[str, Any]],
                       existing: Mapping[str, Any] | _Lookup | None = LOOKUP
                       ) -> DeteriorationEvent | None:
        """Record the first deterioration confirmed in the randomised period (any arm: the
        arm is not read here, so the write cannot differ by arm). ``existing``: the
        subject's recorded event (None: none) when already read."""
        sid = subj["subject_id"]
        known: Mapping[str, Any] | None
        if isinstance(existing, _Lookup):
            found = tx.conn.execute(sa.select(s.crossover_events).where(
                s.crossover_events.c.subject_id == sid)).first()
            known = None if found is None else dict(found._mapping)
        else:
            known = existing
        if known is not None:
            return DeteriorationEvent(sid, known["confirmed_week"], known["description"],
                                      known["recorded_at"], False)
        confirmed = [int(r["visit_week"]) for r in scored if r["cd_confirmed"]]
        if not confirmed or not subj["randomised"]:
            return None
        week = min(confirmed)
        if week > self.policy.randomised_end_week:
            return None
        tx.insert(s.crossover_events, {"subject_id": sid, "confirmed_week": week,
                                       "recorded_at": tx.stamp,
                                       "description": DETERIORATION_DESCRIPTION},
                  site_id=subj["site_id"], subject_id=sid)
        return DeteriorationEvent(sid, week, DETERIORATION_DESCRIPTION, tx.stamp, True)


def score_visit_rows(core: ServiceCore, rows: Sequence[Mapping[str, Any]]
                     ) -> list[dict[str, Any]]:
    """A subject's stored visits (:func:`visit_rows`) scored under the protocol's options,
    memoised on the visits' values (scoring is a pure function of them and the protocol):
    repeated views of an unchanged subject do not score again. ``visit_date`` is not scored
    (the caller adds it back). Returns new dicts (the memo is never handed out)."""
    if not rows:
        return []
    values = [{k: v for k, v in r.items() if k != "visit_date"} for r in rows]
    key = repr(values)
    scored = core.memo_get(key)
    if scored is None:
        scored = score_rows(values, options=core.policy.scoring_options())
        core.memo_put(key, scored)
    return [dict(r) for r in scored]


def visit_rows(conn: sa.Connection, subject_id: str) -> list[dict[str, Any]]:
    """The subject's stored visits by week: ``subject_id``, ``visit_week``, ``visit_date`` and
    the measures (None = missing), one dict each."""
    t = s.visits
    rows = conn.execute(sa.select(*(t.c[c] for c in _ROW_COLUMNS))
                        .where(t.c.subject_id == subject_id).order_by(t.c.visit_week)).all()
    return [dict(zip(_ROW_COLUMNS, r, strict=True)) for r in rows]


def scored_frame(scored: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Scored rows as a table (for the read views and ``score_subject``)."""
    return pd.DataFrame(list(scored), columns=list(scored[0]) if scored else None)


_ROW_COLUMNS = ("subject_id", "visit_week", "visit_date", *s.MEASURE_COLUMNS)


def _compact(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop measure columns empty in every visit (except the core set, which scoring needs);
    store all-numeric columns as float64 (the fast path of ``validate_visits``)."""
    keep = {}
    for name in frame.columns:
        col = frame[name]
        if name not in _CORE_COLUMNS and col.isna().all():
            continue
        if name != "subject_id" and all(
                val is None or (isinstance(val, int | float) and not isinstance(val, bool))
                for val in col.tolist()):
            whole = name == "visit_week" and all(isinstance(x, int) for x in col.tolist())
            col = col.astype("int64" if whole else "float64")  # visit_week: never text
        elif name == "subject_id":
            col = col.astype(object)  # one plain column (a concat leaves Arrow chunks)
        keep[name] = col
    return pd.DataFrame(keep)


def visit_result(scored: Sequence[Mapping[str, Any]], sid: str, week: int,
                 event: DeteriorationEvent | None) -> VisitResult:
    row = next(r for r in scored if r["visit_week"] == week)
    clauses = row["worsening_clauses"]
    tis = row["tis"]
    return VisitResult(
        sid, week, None if tis is None else float(tis), row["tis_category"],
        row["tis_missing_reason"], row["doi_met"], row["worsening"],
        tuple(str(clauses).split(";")) if clauses else (), bool(row["cd_confirmed"]), event)
