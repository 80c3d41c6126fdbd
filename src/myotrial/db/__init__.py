"""The trial database: schema and migrations, service layer, audit trail (issue 7, part 1).

- :func:`make_engine` / :func:`upgrade_database`: SQLite file (default ``sqlite:///trial.db``,
  :class:`myotrial.settings.Settings`) or PostgreSQL (``postgresql+psycopg://``), schema by
  Alembic migrations shipped in the package.
- :class:`TrialService`: every read and write, authorised by role and site
  (:data:`PERMISSIONS`), validated, audited, one transaction per operation, under the protocol
  recorded in the database (:func:`open_protocol`; another: :class:`ProtocolMismatchError`).
- :func:`verify_audit_chain`: the tamper-evident, hash-chained audit trail and a replay of the
  data against it.

See docs/database.md.

Imports are lazy (PEP 562): ``import myotrial.db`` is cheap, so the ``myotrial`` command line
does not load SQLAlchemy and Alembic unless a ``db`` command runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from myotrial.db.audit import (
        AuditProblem,
        AuditReport,
        canonical_json,
        row_hash,
        verify_audit_chain,
    )
    from myotrial.db.engine import (
        DATABASE_URL_ENV,
        DEFAULT_URL,
        current_revision,
        database_url,
        downgrade_database,
        head_revision,
        make_engine,
        upgrade_database,
    )
    from myotrial.db.exports import EXPORT_TABLES
    from myotrial.db.protocol_store import (
        DatabaseNotReadyError,
        ProtocolMismatchError,
        open_protocol,
    )
    from myotrial.db.results import (
        AdverseEventResult,
        CorrectionResult,
        DeteriorationEvent,
        InfusionResult,
        ListSummary,
        RandomisationResult,
        ScreeningResult,
        SiteRecord,
        SubjectView,
        UserRecord,
        VisitResult,
    )
    from myotrial.db.roles import (
        BLINDED_ROLES,
        PERMISSIONS,
        Actor,
        PermissionDenied,
        Role,
        authorise,
    )
    from myotrial.db.service import (
        CORRECTABLE_FIELDS,
        DETERIORATION_DESCRIPTION,
        TrialService,
        service_operations,
    )
    from myotrial.derive.safety import derive_infusion_related

_EXPORTS: dict[str, str] = {
    "CORRECTABLE_FIELDS": "myotrial.db.service",
    "DETERIORATION_DESCRIPTION": "myotrial.db.service",
    "DatabaseNotReadyError": "myotrial.db.protocol_store",
    "ProtocolMismatchError": "myotrial.db.protocol_store",
    "open_protocol": "myotrial.db.protocol_store",
    "TrialService": "myotrial.db.service",
    "service_operations": "myotrial.db.service",
    "Actor": "myotrial.db.roles",
    "AdverseEventResult": "myotrial.db.results",
    "AuditProblem": "myotrial.db.audit",
    "AuditReport": "myotrial.db.audit",
    "BLINDED_ROLES": "myotrial.db.roles",
    "CorrectionResult": "myotrial.db.results",
    "DeteriorationEvent": "myotrial.db.results",
    "DATABASE_URL_ENV": "myotrial.db.engine",
    "DEFAULT_URL": "myotrial.db.engine",
    "EXPORT_TABLES": "myotrial.db.exports",
    "InfusionResult": "myotrial.db.results",
    "ListSummary": "myotrial.db.results",
    "PERMISSIONS": "myotrial.db.roles",
    "PermissionDenied": "myotrial.db.roles",
    "RandomisationResult": "myotrial.db.results",
    "Role": "myotrial.db.roles",
    "ScreeningResult": "myotrial.db.results",
    "SiteRecord": "myotrial.db.results",
    "SubjectView": "myotrial.db.results",
    "UserRecord": "myotrial.db.results",
    "VisitResult": "myotrial.db.results",
    "authorise": "myotrial.db.roles",
    "canonical_json": "myotrial.db.audit",
    "current_revision": "myotrial.db.engine",
    "database_url": "myotrial.db.engine",
    "derive_infusion_related": "myotrial.derive.safety",
    "downgrade_database": "myotrial.db.engine",
    "head_revision": "myotrial.db.engine",
    "make_engine": "myotrial.db.engine",
    "row_hash": "myotrial.db.audit",
    "upgrade_database": "myotrial.db.engine",
    "verify_audit_chain": "myotrial.db.audit",
}

__all__ = [
    "BLINDED_ROLES",
    "CORRECTABLE_FIELDS",
    "DATABASE_URL_ENV",
    "DEFAULT_URL",
    "DETERIORATION_DESCRIPTION",
    "EXPORT_TABLES",
    "PERMISSIONS",
    "Actor",
    "AdverseEventResult",
    "AuditProblem",
    "AuditReport",
    "CorrectionResult",
    "DatabaseNotReadyError",
    "DeteriorationEvent",
    "InfusionResult",
    "ListSummary",
    "PermissionDenied",
    "ProtocolMismatchError",
    "RandomisationResult",
    "Role",
    "ScreeningResult",
    "SiteRecord",
    "SubjectView",
    "TrialService",
    "UserRecord",
    "VisitResult",
    "authorise",
    "canonical_json",
    "current_revision",
    "database_url",
    "derive_infusion_related",
    "downgrade_database",
    "head_revision",
    "make_engine",
    "open_protocol",
    "row_hash",
    "service_operations",
    "upgrade_database",
    "verify_audit_chain",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'myotrial.db' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
