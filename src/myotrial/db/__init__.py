"""The trial database: schema and migrations, service layer, audit trail (issue 7, part 1).

- :func:`make_engine` / :func:`upgrade_database`: SQLite file (default ``sqlite:///trial.db``)
  or PostgreSQL (``postgresql+psycopg://``), schema by Alembic migrations shipped in the package.
- :class:`TrialService`: every read and write, authorised by role and site
  (:data:`PERMISSIONS`), validated, audited, one transaction per operation.
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
    from myotrial.db.results import (
        AdverseEventResult,
        CorrectionResult,
        CrossoverEvent,
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
    from myotrial.db.safety import derive_infusion_related
    from myotrial.db.service import (
        CORRECTABLE_FIELDS,
        CROSSOVER_DESCRIPTION,
        TrialService,
        service_operations,
    )

_EXPORTS: dict[str, str] = {
    "CORRECTABLE_FIELDS": "myotrial.db.service",
    "CROSSOVER_DESCRIPTION": "myotrial.db.service",
    "TrialService": "myotrial.db.service",
    "service_operations": "myotrial.db.service",
    "Actor": "myotrial.db.roles",
    "AdverseEventResult": "myotrial.db.results",
    "AuditProblem": "myotrial.db.audit",
    "AuditReport": "myotrial.db.audit",
    "BLINDED_ROLES": "myotrial.db.roles",
    "CorrectionResult": "myotrial.db.results",
    "CrossoverEvent": "myotrial.db.results",
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
    "derive_infusion_related": "myotrial.db.safety",
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
    "CROSSOVER_DESCRIPTION",
    "DATABASE_URL_ENV",
    "DEFAULT_URL",
    "EXPORT_TABLES",
    "PERMISSIONS",
    "Actor",
    "AdverseEventResult",
    "AuditProblem",
    "AuditReport",
    "CorrectionResult",
    "CrossoverEvent",
    "InfusionResult",
    "ListSummary",
    "PermissionDenied",
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
