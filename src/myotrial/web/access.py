"""Who may use which endpoint: one rule per (method, path) of the web application.

A rule is ``public`` (anyone, no session: the calculator, the OpenAPI description), ``session``
(anyone, with the session's CSRF token on POST: login and logout) or names the
:class:`~myotrial.db.TrialService` operations the endpoint performs; the roles allowed are
those allowed *every* operation in :data:`myotrial.db.PERMISSIONS`, so the web rules cannot
drift from the service's. The service checks again (role, site, active account) inside each
operation. :func:`~myotrial.web.security.enforce_rule` refuses an endpoint without a rule, and a
test fails if a route has no rule or a rule no route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from myotrial.db.roles import PERMISSIONS, Role

__all__ = ["ROUTE_RULES", "Access", "Rule", "roles_matrix", "roles_table_markdown"]


class Access(Enum):
    PUBLIC = "public"
    SESSION = "session"
    AUTH = "authenticated"


@dataclass(frozen=True)
class Rule:
    access: Access
    operations: tuple[str, ...] = ()

    @property
    def roles(self) -> frozenset[Role]:
        """Roles allowed: every role for public/session rules, else those allowed every
        operation."""
        if self.access is not Access.AUTH:
            return frozenset(Role)
        allowed = frozenset(Role)
        for op in self.operations:
            allowed &= PERMISSIONS[op]
        return allowed


def _ops(*operations: str) -> Rule:
    unknown = [op for op in operations if op not in PERMISSIONS]
    if unknown or not operations:
        raise ValueError(f"web rule names unknown service operations {unknown}")
    return Rule(Access.AUTH, operations)


PUBLIC = Rule(Access.PUBLIC)
SESSION = Rule(Access.SESSION)
_TIMELINE = _ops("subject_timeline")
_DASHBOARD = _ops("dashboard_tables")

#: (method, path) -> rule. Every route of :func:`myotrial.web.create_app` has one.
ROUTE_RULES: Mapping[tuple[str, str], Rule] = {
    # public
    ("GET", "/"): PUBLIC,
    ("GET", "/calculator"): PUBLIC,
    ("POST", "/calculator"): PUBLIC,  # computes, stores nothing
    ("POST", "/api/tis"): PUBLIC,  # computes, stores nothing
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/api-docs"): PUBLIC,
    # session
    ("GET", "/login"): SESSION,
    ("POST", "/login"): SESSION,
    ("POST", "/logout"): SESSION,
    ("GET", "/api/session"): SESSION,
    ("POST", "/api/login"): SESSION,
    ("POST", "/api/logout"): SESSION,
    ("GET", "/password"): _ops("change_password"),
    ("POST", "/password"): _ops("change_password"),
    ("POST", "/api/password"): _ops("change_password"),
    # pages
    ("GET", "/dashboard"): _DASHBOARD,
    ("GET", "/subjects"): _ops("list_subjects"),
    ("GET", "/subjects/{subject_id}"): _TIMELINE,
    ("GET", "/subjects/{subject_id}/plot.svg"): _TIMELINE,
    ("GET", "/screening"): _ops("record_screening"),
    ("POST", "/screening"): _ops("record_screening"),
    ("POST", "/subjects/{subject_id}/randomise"): _ops("randomise_subject"),
    ("POST", "/subjects/{subject_id}/visits"): _ops("record_visit"),
    ("POST", "/subjects/{subject_id}/infusions"): _ops("record_infusion"),
    ("POST", "/subjects/{subject_id}/adverse-events"): _ops("record_adverse_event"),
    ("POST", "/subjects/{subject_id}/disposition"): _ops("record_disposition"),
    ("POST", "/subjects/{subject_id}/corrections"): _ops("correct_record"),
    ("POST", "/subjects/{subject_id}/emergency-unblinding"): _ops("emergency_unblind"),
    ("GET", "/exports"): _ops("export_tables"),
    ("GET", "/allocations"): _ops("list_allocations"),
    ("GET", "/randomisation"): _ops("generate_randomisation_list"),
    ("POST", "/randomisation"): _ops("generate_randomisation_list"),
    ("POST", "/randomisation/import"): _ops("import_randomisation_list"),
    ("GET", "/audit"): _ops("audit_trail"),
    ("GET", "/audit/verify"): _ops("verify_audit"),
    ("GET", "/admin"): _ops("list_users"),
    ("POST", "/admin/sites"): _ops("create_site"),
    ("POST", "/admin/users"): _ops("create_user"),
    ("POST", "/admin/users/{username}/deactivate"): _ops("deactivate_user"),
    ("POST", "/admin/users/{username}/approve"): _ops("approve_user"),
    ("POST", "/admin/users/{username}/reactivate"): _ops("reactivate_user"),
    ("POST", "/admin/users/{username}/unlock"): _ops("unlock_user"),
    ("POST", "/admin/users/{username}/password"): _ops("reset_password"),
    # JSON API
    ("GET", "/api/subjects"): _ops("list_subjects"),
    ("GET", "/api/subjects/{subject_id}"): _TIMELINE,
    ("POST", "/api/screenings"): _ops("record_screening"),
    ("POST", "/api/subjects/{subject_id}/randomise"): _ops("randomise_subject"),
    ("POST", "/api/subjects/{subject_id}/visits"): _ops("record_visit"),
    ("POST", "/api/subjects/{subject_id}/infusions"): _ops("record_infusion"),
    ("POST", "/api/subjects/{subject_id}/adverse-events"): _ops("record_adverse_event"),
    ("POST", "/api/subjects/{subject_id}/disposition"): _ops("record_disposition"),
    ("POST", "/api/subjects/{subject_id}/emergency-unblinding"): _ops("emergency_unblind"),
    ("POST", "/api/corrections"): _ops("correct_record"),
    ("GET", "/api/dashboard"): _DASHBOARD,
    ("GET", "/api/exports/{table}"): _ops("export_tables"),
    ("GET", "/api/allocations"): _ops("list_allocations"),
    ("POST", "/api/randomisation-list"): _ops("generate_randomisation_list"),
    ("POST", "/api/randomisation-list/import"): _ops("import_randomisation_list"),
    ("GET", "/api/audit"): _ops("audit_trail"),
    ("GET", "/api/audit/verify"): _ops("verify_audit"),
    ("GET", "/api/users"): _ops("list_users"),
    ("POST", "/api/users"): _ops("create_user"),
    ("POST", "/api/users/{username}/deactivate"): _ops("deactivate_user"),
    ("POST", "/api/users/{username}/approve"): _ops("approve_user"),
    ("POST", "/api/users/{username}/reactivate"): _ops("reactivate_user"),
    ("POST", "/api/users/{username}/unlock"): _ops("unlock_user"),
    ("POST", "/api/users/{username}/password"): _ops("reset_password"),
    ("POST", "/api/sites"): _ops("create_site"),
}


def roles_matrix() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(method, path, access, allowed role values) of every rule (docs and tests)."""
    out = []
    for (method, path), rule in ROUTE_RULES.items():
        out.append((method, path, rule.access.value, tuple(sorted(r.value for r in rule.roles))))
    return out


_SHORT = {Role.SITE_INVESTIGATOR: "SI", Role.MONITOR: "MON", Role.BLINDED_STATISTICIAN: "BS",
          Role.UNBLINDED_STATISTICIAN: "US", Role.ADMINISTRATOR: "ADM"}


def roles_table_markdown() -> str:
    """The roles matrix as a Markdown table (docs/web.md; a test keeps the docs current)."""
    head = "| endpoint | access | " + " | ".join(_SHORT.values()) + " |"
    lines = [head, "|---|---|" + ":-:|" * len(_SHORT)]
    for (method, path), rule in ROUTE_RULES.items():
        marks = " | ".join("✓" if role in rule.roles else "" for role in _SHORT)
        what = ("public" if rule.access is Access.PUBLIC else "session" if rule.access is
                Access.SESSION else ", ".join(rule.operations))
        lines.append(f"| `{method} {path}` | {what} | {marks} |")
    return "\n".join(lines)
