"""Enrolment: screening, the concealed randomisation list, randomisation, disposition."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from myotrial.db import _values as v
from myotrial.db import audit as _audit
from myotrial.db import schema as s
from myotrial.db._values import Problems, fail
from myotrial.db.results import (
    EmergencyUnblinding,
    ListSummary,
    RandomisationResult,
    ScreeningResult,
    SubjectView,
)
from myotrial.db.roles import Actor, authorise
from myotrial.db.service._unit import ServiceCore, json_safe, parse_record
from myotrial.db.service.reads import subject_view
from myotrial.eligibility import screen_candidates
from myotrial.errors import InputValidationError
from myotrial.randomisation import AllocationError, RandomisationScheme, Randomiser

__all__ = ["MSA_GROUPS", "EnrolmentOperations"]

#: data-format.md, subjects.
MSA_GROUPS = ("dm_specific", "antisynthetase", "imnm", "maa_only", "negative", "unknown")
#: Screening follows written consent within this many days.
CONSENT_MAX_AGE_DAYS = 365


class EnrolmentOperations(ServiceCore):
    """Screening, randomisation list and randomisation, disposition."""

    def record_screening(self, actor: Actor, candidate: Mapping[str, Any], *,
                         msa_group: str | None = None) -> ScreeningResult:
        """Screen one candidate (a row of the screening table, data-format.md) and store the
        decision of :func:`myotrial.eligibility.screen_candidates`; creates the subject at the
        investigator's site. A subject not yet randomised may be re-screened."""
        with self._transaction(actor, "record_screening", write=True) as tx:
            row = {str(k): json_safe(val) for k, val in dict(candidate).items()}
            group = msa_group if msa_group is not None else row.pop("msa_group", None)
            consent_raw = row.pop("consent_date", None)
            p = Problems("screening", row.get("subject_id") if isinstance(
                row.get("subject_id"), str) else None)
            p.parse("subject_id", row.get("subject_id"), v.as_identifier, "subject_id")
            for name, value in row.items():  # every text cell: no control characters
                if isinstance(value, str):
                    p.parse(name, value, v.as_text)
            age = p.parse("age", row.get("age"), v.as_float)
            sex = p.parse("sex", row.get("sex"), lambda x: v.as_text(x, max_length=16))
            group = p.parse("msa_group", group, v.as_text)
            p.one_of("msa_group", group, MSA_GROUPS)
            consent = p.parse("consent_date", consent_raw, v.as_date)
            today = self._today()
            if consent is None and not any(i.column == "consent_date" for i in p.items):
                p.add("consent_date", None, "consent_date is required: the date the candidate "
                      "gave written informed consent (screening follows consent)")
            elif consent is not None and not (
                    today - dt.timedelta(days=CONSENT_MAX_AGE_DAYS) <= consent <= today):
                p.add("consent_date", consent, "consent_date must not be in the future nor "
                      f"more than {CONSENT_MAX_AGE_DAYS} days before screening ({today})")
            p.raise_if_any()
            try:
                decision = screen_candidates(pd.DataFrame([row]))[0]
            except (ValueError, TypeError) as exc:
                if isinstance(exc, InputValidationError):
                    raise
                raise fail("screening", f"the screening row cannot be assessed: {exc}",
                           subject_id=row.get("subject_id")) from None
            sid = decision.subject_id
            existing = tx.conn.execute(
                sa.select(s.subjects).where(s.subjects.c.subject_id == sid)).first()
            values = {"age": age, "sex": sex, "msa_group": group, "consent_date": consent}
            if existing is None:
                tx.insert(s.subjects, {"subject_id": sid, "site_id": actor.site_id,
                                       "randomised": False, **values},
                          site_id=actor.site_id, subject_id=sid)
            else:
                subj = tx.subject(sid)
                if subj["randomised"]:
                    raise fail("screening", f"subject {sid} is already randomised and cannot "
                               "be re-screened", subject_id=sid, column="subject_id", value=sid)
                for name, new in values.items():
                    if new != subj[name] and not (name == "msa_group" and new is None):
                        tx.update(s.subjects, subj, name, new, reason="re-screening",
                                  site_id=subj["site_id"], subject_id=sid)
            ea = decision.eular_acr
            stored = tx.insert(s.screenings, {
                "subject_id": sid, "screened_at": tx.stamp, "status": decision.status.value,
                "eligible": decision.eligible, "reasons": "; ".join(decision.reasons) or None,
                "criteria_met": "; ".join(decision.criteria_met) or None,
                "missing_fields": ";".join(decision.missing_fields) or None,
                "bohan_peter_class": decision.bohan_peter.category.value,
                "eular_acr_score": None if ea is None else float(ea.score),
                "eular_acr_class": None if ea is None else ea.category.value,
                "inputs_json": _audit.canonical_json(row),
            }, site_id=actor.site_id, subject_id=sid)
        return ScreeningResult(
            sid, int(stored["screening_id"]), decision.status.value, decision.eligible,
            decision.reasons, decision.bohan_peter.category.value,
            None if ea is None else ea.category.value,
            None if ea is None else float(ea.score))

    def protocol_scheme(self, factors: tuple[Any, ...] = (), n_per_stratum: int = 50
                        ) -> RandomisationScheme:
        """The protocol's randomisation scheme (arms, ratio, block sizes) with the levels of
        its strata (:meth:`myotrial.policy.ProtocolPolicy.randomisation_scheme`)."""
        return RandomisationScheme.from_protocol(self.protocol, factors=tuple(factors),
                                                 n_per_stratum=n_per_stratum)

    def _check_scheme(self, scheme: RandomisationScheme) -> None:
        """A list must follow the protocol: same arms, ratio, block sizes and strata."""
        name = self.protocol.name
        try:
            expected = self.protocol_scheme(scheme.factors, scheme.n_per_stratum)
        except ValueError as exc:
            raise fail("randomisation_lists", str(exc), column="factors",
                       value=",".join(f.name for f in scheme.factors)) from None
        for field in ("arms", "ratio", "block_sizes"):
            got, want = getattr(scheme, field), getattr(expected, field)
            if got != want:
                raise fail("randomisation_lists", f"the list's {field} {list(got)} differ from "
                           f"{list(want)} of protocol {name}: a list follows the protocol",
                           column=field, value=",".join(map(str, got)))

    def generate_randomisation_list(self, actor: Actor, scheme: RandomisationScheme,
                                    seed: int | None = None) -> ListSummary:
        """Generate a list with :class:`myotrial.randomisation.Randomiser` and load it (the
        scheme must be the protocol's: :meth:`protocol_scheme`).

        Without ``seed`` (the web application never passes one) every draw comes from the OS
        CSPRNG. A seed makes the list reproducible, and rebuildable by whoever learns the seed:
        for validation only (the command line warns).
        """
        authorise(actor, "generate_randomisation_list")
        return self._load_list(actor, "generate_randomisation_list", Randomiser(scheme, seed))

    def import_randomisation_list(self, actor: Actor, scheme: RandomisationScheme,
                                  slots: pd.DataFrame | list[Mapping[str, Any]]
                                  ) -> ListSummary:
        """Load a list generated by an independent statistician (rows: ``stratum``,
        ``sequence``, ``block``, ``block_size``, ``arm``, optional ``kit_code``), checked
        against the protocol's scheme. The returned checksum (``list_sha256``) is for the
        unblinded statistician to compare with the author's; blinded roles never see it."""
        authorise(actor, "import_randomisation_list")
        try:
            randomiser = Randomiser.from_slots(scheme, slots)
        except AllocationError as exc:
            raise fail("randomisation_lists", str(exc), column="list") from None
        return self._load_list(actor, "import_randomisation_list", randomiser)

    def load_randomisation_list(self, actor: Actor, randomiser: Randomiser) -> ListSummary:
        """Load the concealed list of a fresh :class:`~myotrial.randomisation.Randomiser`.

        One list per database, following the protocol's scheme; a randomiser that has already
        assigned patients is refused. The audit trail records only an HMAC of the list under
        the server secret (and nothing without one): never arms, seed, digest or length.
        """
        return self._load_list(actor, "load_randomisation_list", randomiser)

    def _load_list(self, actor: Actor, operation: str, randomiser: Randomiser) -> ListSummary:
        with self._transaction(actor, operation, write=True) as tx:
            self._check_scheme(randomiser.scheme)
            if randomiser.allocations():
                raise AllocationError("this randomiser has already assigned patients: load a "
                                      "fresh list (assignments are made in the database)")
            existing = tx.conn.execute(sa.select(s.randomisation_lists.c.list_id)).first()
            if existing is not None:
                raise AllocationError(f"a randomisation list is already loaded (list "
                                      f"{existing.list_id}); one list per trial database")
            frame = randomiser.export_list(unblinded=True)
            slots = frame[["stratum", "sequence", "block", "block_size", "arm", "kit_code"]]
            records = [{str(k): json_safe(val) for k, val in r.items()}
                       for r in slots.to_dict("records")]
            digest = _audit.list_digest(records)
            scheme_json = _audit.canonical_json(randomiser.scheme.to_dict())
            extra = ({} if self._list_key is None else _audit.list_hmac(
                self._list_key, digest, len(records), randomiser.seed, scheme_json))
            lst = tx.insert(s.randomisation_lists, {
                "created_at": tx.stamp, "seed": randomiser.seed, "scheme_json": scheme_json,
                "list_sha256": digest, "n_slots": len(records), "source": randomiser.source,
            }, site_id=None, subject_id=None, extra=extra)
            tx.conn.execute(sa.insert(s.randomisation_slots),
                            [{"list_id": lst["list_id"], **r} for r in records])
        return ListSummary(int(lst["list_id"]), len(records), randomiser.scheme.strata, digest,
                           randomiser.source, randomiser.entropy_bits)

    def _stratum_of(self, tx: Any, scheme: RandomisationScheme, subj: Mapping[str, Any],
                    screening: Any) -> str:
        """The subject's stratum from RECORDED data, never typed at randomisation: ``site``
        is the randomising investigator's site (the subject's); any other factor is the
        subject's recorded value (``sex``, ``msa_group``, ...) or else the screening row's."""
        inputs = json.loads(screening.inputs_json) if screening is not None else {}
        levels: dict[str, str] = {}
        for factor in scheme.factors:
            if factor.name == "site":
                value: Any = tx.actor.site_id or subj["site_id"]
            elif factor.name in subj and factor.name not in ("subject_id", "randomised"):
                value = subj[factor.name]
            else:
                value = inputs.get(factor.name)
            text = "" if value is None else str(value).strip()
            if text not in factor.levels:
                raise fail("allocations", f"the recorded {factor.name} {text or '(missing)'!r} "
                           f"of subject {subj['subject_id']} is not a level of the list's "
                           f"stratification factor {factor.name} "
                           f"({', '.join(factor.levels)}): correct the screening data",
                           subject_id=subj["subject_id"], column=factor.name, value=text)
            levels[factor.name] = text
        return scheme.stratum_key(levels or None)

    def randomise_subject(self, actor: Actor, subject_id: str) -> RandomisationResult:
        """Randomise an eligible subject: take the next slot of the stratum DERIVED from the
        recorded data (:meth:`_stratum_of`: site from the investigator, other factors from
        the subject and its screening); return the kit code (never the arm)."""
        with self._transaction(actor, "randomise_subject", write=True) as tx:
            subj = tx.subject(subject_id)
            sid = subj["subject_id"]
            if subj["randomised"]:
                prior = tx.conn.execute(sa.select(s.allocations).where(
                    s.allocations.c.subject_id == sid)).one()
                raise AllocationError(f"subject {sid} was already randomised (kit "
                                      f"{prior.kit_code}); a patient is randomised once")
            screening = tx.conn.execute(
                sa.select(s.screenings).where(s.screenings.c.subject_id == sid)
                .order_by(s.screenings.c.screening_id.desc()).limit(1)).first()
            if screening is None or screening.eligible is not True:
                status = "none" if screening is None else screening.status
                raise fail("subjects", f"subject {sid} is not eligible at the latest screening "
                           f"(status {status}): only eligible subjects are randomised",
                           subject_id=sid, column="eligible", value=status)
            lst = tx.conn.execute(sa.select(s.randomisation_lists)
                                  .order_by(s.randomisation_lists.c.list_id.desc())).first()
            if lst is None:
                raise AllocationError("no randomisation list is loaded: the unblinded "
                                      "statistician must load one first")
            scheme = RandomisationScheme.from_dict(json.loads(lst.scheme_json))
            key = self._stratum_of(tx, scheme, subj, screening)
            slot_t = s.randomisation_slots
            used = sa.select(s.allocations.c.slot_id)
            slot = tx.conn.execute(
                sa.select(slot_t.c.slot_id, slot_t.c.sequence, slot_t.c.kit_code)
                .where(slot_t.c.list_id == lst.list_id, slot_t.c.stratum == key,
                       slot_t.c.slot_id.not_in(used))
                .order_by(slot_t.c.sequence).limit(1).with_for_update()).first()
            if slot is None:
                raise AllocationError(f"stratum {key} has no allocations left: the list must "
                                      "be extended by the unblinded statistician")
            tx.insert(s.allocations, {"subject_id": sid, "slot_id": slot.slot_id,
                                      "stratum": key, "sequence": slot.sequence,
                                      "kit_code": slot.kit_code, "randomised_at": tx.stamp},
                      site_id=subj["site_id"], subject_id=sid)
            tx.update(s.subjects, subj, "randomised", True, reason="randomisation",
                      site_id=subj["site_id"], subject_id=sid)
        return RandomisationResult(sid, key, int(slot.sequence), slot.kit_code, tx.stamp)

    def emergency_unblind(self, actor: Actor, subject_id: str, reason: str
                          ) -> EmergencyUnblinding:
        """Break-glass: the arm of ONE randomised patient of the investigator's site, for a
        medical emergency, with a mandatory reason. The arm is returned to this investigator
        only (the audit row and the ``emergency_unblindings`` row hold who, when and why,
        never the arm); the subject is flagged on the dashboard and in every export."""
        with self._transaction(actor, "emergency_unblind", write=True) as tx:
            subj = tx.subject(subject_id)
            sid = subj["subject_id"]
            why = self._reason("emergency_unblindings", reason, sid)
            if not subj["randomised"]:
                raise fail("emergency_unblindings", f"subject {sid} is not randomised: there is "
                           "no allocation to reveal", subject_id=sid, column="subject_id",
                           value=sid)
            arm = tx.conn.execute(
                sa.select(s.randomisation_slots.c.arm)
                .join(s.allocations, s.allocations.c.slot_id == s.randomisation_slots.c.slot_id)
                .where(s.allocations.c.subject_id == sid)).scalar_one()
            row = tx.insert(s.emergency_unblindings, {
                "subject_id": sid, "username": actor.username, "reason": why,
                "unblinded_at": tx.stamp}, site_id=subj["site_id"], subject_id=sid)
        label = next((a.label for a in (self.protocol.treatment, self.protocol.control)
                      if a.code == arm), arm)
        return EmergencyUnblinding(int(row["unblinding_id"]), sid, arm, label, why,
                                   row["unblinded_at"])

    def list_allocations(self, actor: Actor) -> pd.DataFrame:
        """UNBLINDED: every allocation with its arm (the unblinded statistician only; the
        viewing is audited)."""
        with self._transaction(actor, "list_allocations", write=True) as tx:
            a, sl, su = s.allocations, s.randomisation_slots, s.subjects
            rows = tx.conn.execute(
                sa.select(a.c.subject_id, su.c.site_id, a.c.stratum, a.c.sequence,
                          a.c.kit_code, sl.c.arm, a.c.randomised_at)
                .join(sl, sl.c.slot_id == a.c.slot_id).join(su, su.c.subject_id == a.c.subject_id)
                .order_by(a.c.randomised_at, a.c.subject_id)).all()
            tx.audit("unblinded_view", table="allocations", new={"rows": len(rows)})
        cols = ["subject_id", "site_id", "stratum", "sequence", "kit_code", "arm",
                "randomised_at"]
        return pd.DataFrame([tuple(r) for r in rows], columns=cols)

    def record_disposition(self, actor: Actor, subject_id: str, *,
                           completed_week_16: bool | None = None,
                           entered_extension: bool | None = None,
                           completed_week_40: bool | None = None,
                           discontinuation_reason: str | None = None) -> SubjectView:
        """Enter disposition fields that are still empty (changing one needs correct_record)."""
        given = {"completed_week_16": completed_week_16, "entered_extension": entered_extension,
                 "completed_week_40": completed_week_40,
                 "discontinuation_reason": discontinuation_reason}
        with self._transaction(actor, "record_disposition", write=True) as tx:
            subj = tx.subject(subject_id)
            sid = subj["subject_id"]
            p = Problems("subjects", sid)
            rec = parse_record(p, s.subjects,
                               {k: val for k, val in given.items() if val is not None})
            for name in rec:
                if subj[name] is not None:
                    p.add(name, subj[name], f"{name} is already recorded: change it with "
                          "correct_record and a reason")
            p.raise_if_any()
            for name, new in rec.items():
                if new is not None:
                    tx.update(s.subjects, subj, name, new, reason="data entry",
                              site_id=subj["site_id"], subject_id=sid)
            view = subject_view(tx.conn, sid)
        return view
