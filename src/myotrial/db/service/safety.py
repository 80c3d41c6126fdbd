"""Safety: infusion days (dose and rate limits of the protocol) and adverse events (the
protocol's infusion-related window, thromboembolic highlight)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from myotrial.db import schema as s
from myotrial.db._values import Problems, fail
from myotrial.db.exports import flag_infusion_related
from myotrial.db.results import AdverseEventResult, InfusionResult
from myotrial.db.roles import Actor
from myotrial.db.service._unit import ServiceCore, parse_record
from myotrial.policy import ProtocolPolicy

__all__ = ["SEVERITIES", "SafetyOperations", "check_adverse_event", "check_infusion"]

#: data-format.md, adverse_events.
SEVERITIES = ("mild", "moderate", "severe", "life-threatening", "fatal")
_DOSE_TOLERANCE = 1e-9


def check_infusion(policy: ProtocolPolicy, p: Problems, rec: Mapping[str, Any]) -> None:
    """One infusion day against the protocol: cycle 1..max cycle, end after start, a day's
    dose above 0 and at most the cycle dose, a positive rate."""
    cycle = rec["cycle"]
    if cycle is not None and not 1 <= cycle <= policy.max_cycle:
        p.add("cycle", cycle, f"cycle must be a whole number from 1 to {policy.max_cycle} "
              f"(the cycles of protocol {policy.protocol.name})")
    if rec["start"] is not None and rec["end"] is not None and rec["end"] <= rec["start"]:
        p.add("end", rec["end"], f"end must be after start ({rec['start'].isoformat()})")
    dose = rec["dose_g_per_kg"]
    if dose is not None:
        week = policy.cycle_week(cycle) if cycle is not None and cycle >= 1 else 0
        most = policy.max_cycle_dose(week)
        if not 0 < dose <= most:
            p.add("dose_g_per_kg", dose, "dose_g_per_kg of one infusion day must be > 0 and at "
                  f"most the cycle dose {most:g} g/kg")
    rate = rec.get("rate_ml_per_kg_min")
    if rate is not None and rate <= 0:
        p.add("rate_ml_per_kg_min", rate, "rate_ml_per_kg_min must be > 0")


def check_adverse_event(p: Problems, rec: Mapping[str, Any]) -> None:
    if rec["term"] is None:
        p.add("term", None, "term is required")
    p.one_of("severity", rec["severity"], SEVERITIES)
    if rec["end"] is not None and rec["onset"] is not None and rec["end"] < rec["onset"]:
        p.add("end", rec["end"], f"end must not be before onset ({rec['onset'].isoformat()})")


def infusions_frame(conn: sa.Connection, sid: str | None = None) -> pd.DataFrame:
    t = s.infusions
    query = sa.select(t.c.subject_id, t.c.cycle, t.c.start, t.c.end)
    if sid is not None:
        query = query.where(t.c.subject_id == sid)
    rows = conn.execute(query).all()
    return pd.DataFrame([tuple(r) for r in rows],
                        columns=["subject_id", "cycle", "start", "end"])


class SafetyOperations(ServiceCore):
    """Infusions and adverse events."""

    def record_infusion(self, actor: Actor, subject_id: str, *, cycle: int, start: Any,
                        end: Any, dose_g_per_kg: float, rate_ml_per_kg_min: float | None = None,
                        kit_code: str | None = None) -> InfusionResult:
        """Record one infusion day of a randomised subject.

        A rate above the protocol's maximum or a cycle total above the protocol's cycle dose
        is recorded (it happened) and returned as a warning (``[dosing]`` of the protocol).
        """
        with self._transaction(actor, "record_infusion", write=True,
                               subject=subject_id) as tx:
            subj = tx.subject(subject_id)
            sid = subj["subject_id"]
            rec = parse_record(Problems("infusions", sid), s.infusions, {
                "cycle": cycle, "start": start, "end": end, "dose_g_per_kg": dose_g_per_kg,
                "rate_ml_per_kg_min": rate_ml_per_kg_min, "kit_code": kit_code},
                lambda p, r: check_infusion(self.policy, p, r))
            if not subj["randomised"]:
                raise fail("infusions", f"subject {sid} is not randomised: infusions start "
                           "after randomisation", subject_id=sid, column="subject_id", value=sid)
            p = Problems("infusions", sid)
            self.check_infusion_record(tx.conn, p, subj, rec)
            p.raise_if_any()
            row = tx.insert(s.infusions, {"subject_id": sid, **rec}, site_id=subj["site_id"],
                            subject_id=sid)
            warnings = self._infusion_warnings(tx.conn, sid, row)
        return InfusionResult(int(row["infusion_id"]), sid, row["cycle"], row["start"],
                              row["end"], row["dose_g_per_kg"], row["rate_ml_per_kg_min"],
                              row["kit_code"], warnings)

    def check_infusion_record(self, conn: sa.Connection, p: Problems,
                              subj: Mapping[str, Any], rec: Mapping[str, Any]) -> None:
        """Dates and kit of an infusion day of a randomised subject: start and end between
        randomisation and the end of the protocol, not in the future; a kit code, when given,
        must be the kit allocated to THIS subject (the message is the same for another
        subject's kit and an unknown one, and names no arm)."""
        lo, hi, what = self.treatment_day_limits(conn, subj)
        for column in ("start", "end"):
            when = rec.get(column)
            if when is not None:
                self.check_day(p, column, when.date(), subj, earliest=lo, latest=hi,
                               what=what)
        kit = rec.get("kit_code")
        if kit is not None:
            allocated = conn.execute(sa.select(s.allocations.c.kit_code).where(
                s.allocations.c.subject_id == subj["subject_id"])).scalar_one_or_none()
            if kit != allocated:
                p.add("kit_code", kit, f"kit {kit} is not the kit allocated to subject "
                      f"{subj['subject_id']}: use the kit code given at randomisation (leave "
                      "it blank for open-label extension supply)")

    def check_adverse_event_dates(self, p: Problems, subj: Mapping[str, Any],
                                  rec: Mapping[str, Any]) -> None:
        """Onset and end of an adverse event: not before consent, not in the future."""
        for column in ("onset", "end"):
            when = rec.get(column)
            if when is not None:
                self.check_day(p, column, when.date(), subj)

    def _infusion_warnings(self, conn: sa.Connection, sid: str, row: Mapping[str, Any]
                           ) -> tuple[str, ...]:
        out = []
        rate = row["rate_ml_per_kg_min"]
        most_rate = self.policy.max_rate_ml_per_kg_min
        if rate is not None and rate > most_rate:
            out.append(f"rate {rate:g} mL/kg/min is above the protocol maximum "
                       f"{most_rate:g} mL/kg/min")
        total = conn.execute(sa.select(sa.func.sum(s.infusions.c.dose_g_per_kg)).where(
            s.infusions.c.subject_id == sid, s.infusions.c.cycle == row["cycle"])).scalar_one()
        dose = self.policy.max_cycle_dose(self.policy.cycle_week(row["cycle"]))
        if total is not None and total > dose + _DOSE_TOLERANCE:
            out.append(f"cycle {row['cycle']} totals {total:g} g/kg, above the protocol dose "
                       f"{dose:g} g/kg per cycle")
        return tuple(out)

    def record_adverse_event(self, actor: Actor, subject_id: str, *, term: str, onset: Any,
                             severity: str, serious: bool = False, thromboembolic: bool = False,
                             related: bool | None = None, body_system: str | None = None,
                             end: Any = None) -> AdverseEventResult:
        """Record an adverse event; flags infusion-related and highlights thromboembolic ones.

        Infusion-related: onset during an infusion cycle or within the protocol's window
        after the end of its last infusion day (``[safety] infusion_related_window_hours``;
        the same derivation as the exports).
        """
        with self._transaction(actor, "record_adverse_event", write=True,
                               subject=subject_id) as tx:
            subj = tx.subject(subject_id)
            sid = subj["subject_id"]
            rec = parse_record(Problems("adverse_events", sid), s.adverse_events, {
                "term": term, "body_system": body_system, "onset": onset, "end": end,
                "serious": serious, "severity": severity, "related": related,
                "thromboembolic": thromboembolic}, check_adverse_event)
            p = Problems("adverse_events", sid)
            self.check_adverse_event_dates(p, subj, rec)
            p.raise_if_any()
            row = tx.insert(s.adverse_events, {"subject_id": sid, **rec},
                            site_id=subj["site_id"], subject_id=sid)
            infusions = infusions_frame(tx.conn, sid)
        event = pd.DataFrame({"subject_id": [sid], "onset": [pd.Timestamp(row["onset"])]})
        flagged = flag_infusion_related(event, infusions, self.policy)
        related_flag = bool(flagged["infusion_related"].iloc[0])
        cycle_no: int | None = None
        if related_flag and "infusion_cycle" in flagged:
            value = flagged["infusion_cycle"].iloc[0]
            cycle_no = None if pd.isna(value) else int(value)
        hours = self.policy.infusion_related_window_hours
        highlights = []
        if row["thromboembolic"]:
            highlights.append("THROMBOEMBOLIC event: highlight for safety review "
                              "(proderm.md Safety)")
        if row["serious"]:
            highlights.append("serious adverse event")
        if related_flag:
            which = "an infusion cycle" if cycle_no is None else f"cycle {cycle_no}"
            highlights.append(f"infusion-related: onset during {which} or within "
                              f"{hours:g} h after its last infusion day")
        return AdverseEventResult(int(row["ae_id"]), sid, row["term"], row["onset"],
                                  bool(row["serious"]), row["severity"],
                                  bool(row["thromboembolic"]), related_flag, cycle_no,
                                  tuple(highlights))
