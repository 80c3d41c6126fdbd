"""Frozen results of :class:`~myotrial.db.TrialService` operations (JSON-ready via ``as_dict``).

Results returned to blinded roles have no arm field at all; arms appear only in
:meth:`~myotrial.db.TrialService.list_allocations` and unblinded exports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

__all__ = [
    "AdverseEventResult",
    "CorrectionResult",
    "DeteriorationEvent",
    "EmergencyUnblinding",
    "InfusionResult",
    "ListSummary",
    "RandomisationResult",
    "ScreeningResult",
    "SessionRecord",
    "SiteRecord",
    "SubjectView",
    "UserRecord",
    "VisitResult",
]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


class _AsDict:
    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (datetimes as ISO text)."""
        return cast(dict[str, Any], _plain(self))


@dataclass(frozen=True)
class SiteRecord(_AsDict):
    site_id: str
    name: str
    country: str | None


@dataclass(frozen=True)
class UserRecord(_AsDict):
    username: str
    role: str
    site_id: str | None
    active: bool
    #: the administrator whose request (create, reactivate, reset) awaits a second
    #: administrator's approval (two-person rule for unblinded and administrator accounts)
    approval_requested_by: str | None = None
    locked: bool = False


@dataclass(frozen=True)
class ScreeningResult(_AsDict):
    """The stored eligibility decision (``myotrial.eligibility.assess_eligibility``)."""

    subject_id: str
    screening_id: int
    status: str
    eligible: bool | None
    reasons: tuple[str, ...]
    bohan_peter_class: str
    eular_acr_class: str | None
    eular_acr_score: float | None


@dataclass(frozen=True)
class RandomisationResult(_AsDict):
    """What a site sees after randomising: the kit code, never the arm (nor the position in
    the list: ``sequence`` stays on the server side, it is not in :meth:`as_dict`)."""

    subject_id: str
    stratum: str
    sequence: int
    kit_code: str
    randomised_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out.pop("sequence")
        return out


@dataclass(frozen=True)
class ListSummary(_AsDict):
    """A loaded randomisation list, without its contents."""

    list_id: int
    n_slots: int
    strata: tuple[str, ...]
    list_sha256: str  # the checksum: returned to the unblinded statistician only
    source: str = "csprng"  # csprng, seeded (validation), imported
    entropy_bits: int | None = None


@dataclass(frozen=True)
class DeteriorationEvent(_AsDict):
    """A deterioration confirmed in the randomised period, recorded alike for every arm.

    Blinded: no arm, no direction, and nothing says whether the patient switched treatment
    (that follows from the arm and the protocol, in unblinded views only)."""

    subject_id: str
    confirmed_week: int
    description: str
    recorded_at: dt.datetime
    new: bool


@dataclass(frozen=True)
class EmergencyUnblinding(_AsDict):
    """The arm of ONE patient, returned once to the investigator who asked (audited; the
    subject is flagged on the dashboard and in the exports; the arm is stored nowhere else)."""

    unblinding_id: int
    subject_id: str
    arm: str
    arm_label: str
    reason: str
    unblinded_at: dt.datetime


@dataclass(frozen=True)
class SessionRecord(_AsDict):
    """A live login session (the cookie holds the token; the table its sha256)."""

    username: str
    role: str
    site_id: str | None
    csrf: str
    created_at: dt.datetime
    last_seen: dt.datetime
    #: The data version (:func:`myotrial.db.service.reads.data_version`) read in the same
    #: statement as the session and its user (so for this user as they are in that snapshot);
    #: None when not read (a new login). For the server's read cache, never sent to clients.
    data_version: str | None = None


@dataclass(frozen=True)
class VisitResult(_AsDict):
    """The visit's instant score (``myotrial.scoring.score_visits``) and any confirmed
    deterioration event."""

    subject_id: str
    visit_week: int
    tis: float | None
    tis_category: str | None
    tis_missing_reason: str | None
    doi_met: bool | None
    worsening: bool | None
    worsening_clauses: tuple[str, ...]
    cd_confirmed: bool
    deterioration: DeteriorationEvent | None


@dataclass(frozen=True)
class InfusionResult(_AsDict):
    infusion_id: int
    subject_id: str
    cycle: int
    start: dt.datetime
    end: dt.datetime
    dose_g_per_kg: float
    rate_ml_per_kg_min: float | None
    kit_code: str | None
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class AdverseEventResult(_AsDict):
    """A recorded adverse event with its safety flags (computed from the infusions so far)."""

    ae_id: int
    subject_id: str
    term: str
    onset: dt.datetime
    serious: bool
    severity: str
    thromboembolic: bool
    infusion_related: bool
    infusion_cycle: int | None
    highlights: tuple[str, ...]


@dataclass(frozen=True)
class CorrectionResult(_AsDict):
    table: str
    record_key: str
    field: str
    old_value: Any
    new_value: Any
    reason: str
    visit: VisitResult | None = None


@dataclass(frozen=True)
class SubjectView(_AsDict):
    """A subject as any reader may see it (no arm)."""

    subject_id: str
    site_id: str
    age: float | None
    sex: str | None
    msa_group: str | None
    randomised: bool
    screening_status: str | None
    stratum: str | None
    kit_code: str | None
    randomised_at: dt.datetime | None
    deterioration: DeteriorationEvent | None
    completed_week_16: bool | None
    entered_extension: bool | None
    completed_week_40: bool | None
    discontinuation_reason: str | None
    consent_date: dt.date | None = None
    emergency_unblinded: bool = False  # flagged everywhere the subject is shown
