"""The service layer: every read and write of the trial database goes through here.

:class:`TrialService` is the one public facade. It is built from one aggregate per concern,
all sharing the unit of work of :mod:`myotrial.db.service._unit`:

- :mod:`~myotrial.db.service.identity`: the first administrator, log-in, sites, users;
- :mod:`~myotrial.db.service.enrolment`: screening, randomisation list, randomisation,
  disposition;
- :mod:`~myotrial.db.service.visits`: visits, instant scores, deterioration events (and
  :mod:`~myotrial.db.service.corrections`, which re-scores corrected visits);
- :mod:`~myotrial.db.service.safety`: infusions, adverse events;
- :mod:`~myotrial.db.service.reads`: subjects, exports, the audit trail.

Each operation (a method taking an :class:`~myotrial.db.Actor` first) runs in ONE transaction:
check the role against :data:`~myotrial.db.PERMISSIONS` (fail closed), re-check the actor
against the ``users`` table, check the site (site investigators: own site only), validate the
input (every problem located by subject, visit and field, as
:class:`~myotrial.errors.InputValidationError`), write the change and its audit rows, commit.
Any error rolls the whole transaction back: nothing is changed. Writers are serialised
(SQLite ``BEGIN IMMEDIATE``; PostgreSQL advisory lock) so the audit hash chain stays linear.

Everything protocol-ish (periods, cycles, dose and rate limits, the infusion-related window,
scoring options, the randomisation scheme, who switches on deterioration) is read from the
protocol's :class:`~myotrial.policy.ProtocolPolicy` (``service.policy``); the protocol is
recorded in the database (:mod:`myotrial.db.protocol_store`).

The methods take and return plain Python values and frozen dataclasses
(:mod:`myotrial.db.results`, each with ``as_dict()``), so web pages and a JSON API can call them
directly. Blinded roles never receive an arm: not in results, exports or error messages.
"""

from __future__ import annotations

import inspect

from myotrial.db.service.corrections import CORRECTABLE_FIELDS, CorrectionOperations
from myotrial.db.service.enrolment import MSA_GROUPS, EnrolmentOperations
from myotrial.db.service.identity import MIN_PASSWORD_LENGTH, IdentityOperations
from myotrial.db.service.reads import ReadOperations
from myotrial.db.service.safety import SEVERITIES, SafetyOperations
from myotrial.db.service.visits import DETERIORATION_DESCRIPTION, VisitOperations

__all__ = [
    "CORRECTABLE_FIELDS",
    "DETERIORATION_DESCRIPTION",
    "MIN_PASSWORD_LENGTH",
    "MSA_GROUPS",
    "SEVERITIES",
    "TrialService",
    "service_operations",
]


class TrialService(IdentityOperations, EnrolmentOperations, CorrectionOperations,
                   VisitOperations, SafetyOperations, ReadOperations):
    """Operations on the trial database; every method taking ``actor`` is authorised and audited.

    ``TrialService(engine, protocol=None, *, password_hasher=None, clock=None)``: see
    :class:`~myotrial.db.service._unit.ServiceCore` for the parameters. ``service.protocol``
    and ``service.policy`` are the protocol the database runs under.
    """


def service_operations() -> tuple[str, ...]:
    """Names of the public :class:`TrialService` methods that take an actor: each must have a
    rule in :data:`~myotrial.db.PERMISSIONS` (a test enforces it)."""
    names = []
    for name, fn in inspect.getmembers(TrialService, inspect.isfunction):
        if name.startswith("_"):
            continue
        if "actor" in inspect.signature(fn).parameters:
            names.append(name)
    return tuple(sorted(names))
