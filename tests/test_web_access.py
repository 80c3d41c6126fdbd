"""Authorisation of every endpoint for every role (table-driven from ``ROUTE_RULES``).

Fails when a route has no rule (or a rule no route); then sends every endpoint a request as
anonymous and as each role and checks: anonymous -> 401 (API) or a redirect to the login
(pages); a role the rule does not allow -> 403; an allowed role -> neither. POSTs without the
CSRF token are refused (403) and change nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from myotrial.db import PERMISSIONS, Role
from myotrial.web import create_app
from myotrial.web.access import ROUTE_RULES, Access, roles_matrix, roles_table_markdown
from web_support import USERS, WebTrial, make_web_trial, snapshot

PARAMS = {"subject_id": "P001", "username": "inv2", "table": "visits"}
#: identity used for each role (inv1 owns P001; inv2 is checked separately for the site rule)
IDENTITIES: dict[str, str | None] = {
    "anonymous": None, "site_investigator": "inv1", "monitor": "monitor",
    "blinded_statistician": "bstat", "unblinded_statistician": "ustat",
    "administrator": "admin",
}


def _routes() -> set[tuple[str, str]]:
    """(method, path) of every route, included routers too (FastAPI >= 0.13x includes them
    lazily: ``iter_route_contexts`` resolves them; older versions flatten ``app.routes``)."""
    import fastapi.routing

    app = create_app()
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = list(contexts(app.routes)) if contexts is not None else list(app.routes)
    found = set()
    for route in routes:
        path = getattr(route, "path", None)
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD" and path is not None:
                found.add((method, path))
    assert len(found) > 40
    return found


def test_every_route_has_a_rule_and_every_rule_a_route() -> None:
    routes = _routes()
    assert routes - set(ROUTE_RULES) == set(), "endpoints without an access rule"
    assert set(ROUTE_RULES) - routes == set(), "access rules without an endpoint"


def test_rules_follow_the_service_permissions() -> None:
    for (_method, _path), rule in ROUTE_RULES.items():
        for op in rule.operations:
            assert rule.roles <= PERMISSIONS[op]
    matrix = {(m, p): roles for m, p, _, roles in roles_matrix()}
    assert matrix[("GET", "/allocations")] == ("unblinded_statistician",)
    assert matrix[("POST", "/api/subjects/{subject_id}/visits")] == ("site_investigator",)
    assert "administrator" not in matrix[("GET", "/dashboard")]


def test_an_endpoint_without_a_rule_is_refused() -> None:
    from fastapi.testclient import TestClient

    app = create_app()

    @app.get("/api/unruled")
    def unruled() -> dict[str, str]:  # pragma: no cover - never reached
        return {"secret": "x"}

    r = TestClient(app).get("/api/unruled")
    assert r.status_code == 403 and "secret" not in r.text


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> WebTrial:
    t = make_web_trial(Path(tmp_path_factory.mktemp("access")))
    t.enrol("P001")
    return t


def _path(path: str) -> str:
    for name, value in PARAMS.items():
        path = path.replace("{" + name + "}", value)
    return path


def _send(user: object, method: str, path: str, *, csrf: bool = True) -> int:
    from web_support import WebUser

    assert isinstance(user, WebUser)
    url = _path(path)
    if method == "GET":
        return int(user.get(url).status_code)
    if url.startswith("/api/"):
        return int(user.post_json(url, {}, csrf=csrf).status_code)
    return int(user.post_form(url, {}, csrf=csrf).status_code)


@pytest.mark.parametrize("identity", list(IDENTITIES))
def test_every_endpoint_for_every_role(trial: WebTrial, identity: str) -> None:
    username = IDENTITIES[identity]
    user = trial.client(username)
    if username is None:
        user.csrf = user.get("/api/session").json()["csrf_token"]
    role = None if username is None else USERS[username][0]
    failures = []
    for (method, path), rule in sorted(ROUTE_RULES.items(), key=lambda kv: kv[0][0]):
        status = _send(user, method, path)
        if rule.access is Access.PUBLIC:
            ok = status not in (401, 403)
        elif rule.access is Access.SESSION:
            ok = status != 403
        elif role is None:
            ok = status == (401 if path.startswith("/api/") else 303)
        elif role in rule.roles:
            ok = status not in (401, 403)
        else:
            ok = status == 403
        if not ok:
            failures.append(f"{method} {path} as {identity}: {status}")
        if path in ("/logout", "/api/logout", "/login", "/api/login"):
            if username:  # the request replaced the session
                user.login(username)
            else:
                user.csrf = user.get("/api/session").json()["csrf_token"]
    assert failures == []


def test_post_without_csrf_token_is_refused_and_changes_nothing(trial: WebTrial) -> None:
    users = {role: trial.client(name) for role, name in IDENTITIES.items() if name}
    other = trial.client("inv1")
    thief = trial.client("inv1")
    before = snapshot(trial.service.engine)  # after the logins (audited since issue 12)
    for (method, path), rule in ROUTE_RULES.items():
        if method != "POST" or rule.access is Access.PUBLIC:
            continue
        allowed = [u for role, u in users.items() if Role(role) in rule.roles] or [
            users["administrator"]]
        assert _send(allowed[0], method, path, csrf=False) == 403, (method, path)
    # a token of another session does not pass either
    thief.csrf = other.csrf + "x"
    assert thief.post_json("/api/subjects/P001/visits", {"visit_week": 4}).status_code == 403
    assert snapshot(trial.service.engine) == before


def test_site_investigators_reach_their_own_site_only(trial: WebTrial) -> None:
    """Issue 12: another site's subject answers exactly like an unknown one (404, the same
    words), so an investigator cannot probe which subject ids exist elsewhere."""
    inv2 = trial.client("inv2")
    before = snapshot(trial.service.engine)
    for path in ("/subjects/P001", "/api/subjects/P001", "/subjects/P001/plot.svg"):
        r = inv2.get(path)
        unknown = inv2.get(path.replace("P001", "P999"))
        assert r.status_code == unknown.status_code == 404, path
        assert r.text.replace("P001", "X") == unknown.text.replace("P999", "X")
    r = inv2.post_json("/api/subjects/P001/visits", {"visit_week": 4, "measures": {"pga": 2}})
    assert r.status_code == 404
    assert inv2.get("/api/subjects").json() == []
    assert snapshot(trial.service.engine) == before


def test_role_matrix_of_the_docs_is_current() -> None:
    """docs/web.md holds the generated roles table (``roles_table_markdown()``)."""
    text = (Path(__file__).resolve().parents[1] / "docs/web.md").read_text()
    assert roles_table_markdown() in text, "regenerate the table in docs/web.md"
