"""Roles, actors and the operation -> allowed-roles table of the trial database.

Roles follow issue 7: a *site investigator* works on their own site's subjects only and is
blinded; a *monitor* reads everything (blinded) and writes nothing; the *blinded statistician*
reads and exports data without allocations; the *unblinded statistician* owns the randomisation
list and is the only role that sees arms; the *administrator* manages sites and users (and sees no
clinical data). Every :class:`~myotrial.db.TrialService` operation is looked up in
:data:`PERMISSIONS` before anything else happens; an operation missing from the table is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "BLINDED_ROLES",
    "PERMISSIONS",
    "Actor",
    "PermissionDenied",
    "Role",
    "authorise",
]


class Role(StrEnum):
    """The five roles of the trial database."""

    SITE_INVESTIGATOR = "site_investigator"
    MONITOR = "monitor"
    BLINDED_STATISTICIAN = "blinded_statistician"
    UNBLINDED_STATISTICIAN = "unblinded_statistician"
    ADMINISTRATOR = "administrator"


#: Roles that must never see an arm (allocations, products, the list).
BLINDED_ROLES: frozenset[Role] = frozenset(
    {Role.SITE_INVESTIGATOR, Role.MONITOR, Role.BLINDED_STATISTICIAN, Role.ADMINISTRATOR}
)

_SI = Role.SITE_INVESTIGATOR
_MON = Role.MONITOR
_BS = Role.BLINDED_STATISTICIAN
_US = Role.UNBLINDED_STATISTICIAN
_ADM = Role.ADMINISTRATOR
_READERS = frozenset({_SI, _MON, _BS, _US})

#: Operation (a :class:`~myotrial.db.TrialService` method name) -> roles allowed to call it.
#: Site investigators are further restricted to subjects of their own site.
PERMISSIONS: Mapping[str, frozenset[Role]] = {
    # administration
    "create_site": frozenset({_ADM}),
    "create_user": frozenset({_ADM}),
    "deactivate_user": frozenset({_ADM}),
    "reactivate_user": frozenset({_ADM}),
    "approve_user": frozenset({_ADM}),  # a SECOND administrator (two-person rule)
    "reset_password": frozenset({_ADM}),
    "unlock_user": frozenset({_ADM}),
    "list_users": frozenset({_ADM}),
    # your own account
    "change_password": frozenset(Role),
    # data entry (own site only)
    "record_screening": frozenset({_SI}),
    "randomise_subject": frozenset({_SI}),
    "record_visit": frozenset({_SI}),
    "record_infusion": frozenset({_SI}),
    "record_adverse_event": frozenset({_SI}),
    "record_disposition": frozenset({_SI}),
    "correct_record": frozenset({_SI}),
    # break-glass: one patient's arm to the investigator who asks (audited, flagged)
    "emergency_unblind": frozenset({_SI}),
    # randomisation list (unblinded)
    "load_randomisation_list": frozenset({_US}),
    "generate_randomisation_list": frozenset({_US}),
    "import_randomisation_list": frozenset({_US}),
    "list_allocations": frozenset({_US}),
    # reading (blinded unless the role is unblinded)
    "get_subject": _READERS,
    "score_subject": _READERS,
    "list_subjects": _READERS,
    # page reads (read queries, not exports, not audit events)
    "subject_timeline": _READERS,
    "dashboard_tables": _READERS,
    "export_tables": frozenset({_SI, _MON, _BS, _US}),
    "audit_trail": frozenset({_MON, _BS, _US, _ADM, _SI}),
    "verify_audit": frozenset({_MON, _BS, _US, _ADM}),
}


class PermissionDenied(PermissionError):  # noqa: N818  (the issue's name)
    """The actor's role or site does not allow the operation. Nothing was changed."""


@dataclass(frozen=True)
class Actor:
    """Who calls the service: a user name, their role and (site investigators) their site.

    The service re-checks every actor against the ``users`` table (exists, active, same role and
    site) inside the operation's transaction, so a forged or stale actor is refused.
    """

    username: str
    role: Role
    site_id: str | None = None

    @property
    def blinded(self) -> bool:
        return self.role in BLINDED_ROLES

    def as_dict(self) -> dict[str, Any]:
        return {"username": self.username, "role": self.role.value, "site_id": self.site_id}


def authorise(actor: Actor, operation: str, *, site_id: str | None = None) -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` may perform ``operation``.

    ``site_id`` is the site of the record concerned (site investigators: own site only).
    An operation missing from :data:`PERMISSIONS` is refused (fail closed).
    """
    allowed = PERMISSIONS.get(operation)
    if allowed is None:
        raise PermissionDenied(f"operation {operation!r} has no authorisation rule: refused")
    if actor.role not in allowed:
        names = ", ".join(sorted(r.value for r in allowed))
        raise PermissionDenied(
            f"user {actor.username!r} (role {actor.role.value}) may not {operation}; "
            f"allowed roles: {names}"
        )
    if actor.role is Role.SITE_INVESTIGATOR and site_id is not None and site_id != actor.site_id:
        raise PermissionDenied(
            f"user {actor.username!r} (site {actor.site_id}) may not {operation} for a record "
            f"of site {site_id}: site investigators work on their own site only"
        )
