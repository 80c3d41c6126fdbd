"""Property-based fuzz of the JSON API (issue 12): Schemathesis generates requests from
``/openapi.json`` and sends them to the application in process (ASGI), anonymously and as a
logged-in user of every role (valid session cookie and CSRF token), with requests that follow
the schema and requests that break it. No response may be a server error (>= 500). The number
of cases run is printed (``pytest -s``) and asserted.

About a minute on two cores: a fixed number of examples per operation, identity and mode,
derandomised (the same cases every run), no example database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from myotrial.web.security import SESSION_COOKIE, TOKEN_PREFIX
from web_support import USERS, WebTrial, make_web_trial

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES_PER_OPERATION = 10  # per operation, identity and generation mode
IDENTITIES: tuple[str | None, ...] = (None, *USERS)


def _credentials(trial: WebTrial, username: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """Cookie and CSRF header of a fresh session (opened directly: the fuzz itself may log
    out, change passwords or trip the login throttle)."""
    if username is None:
        client = trial.client()
        csrf = client.get("/api/session").json()["csrf_token"]
        return {SESSION_COOKIE: client.http.cookies[SESSION_COOKIE]}, {"X-CSRF-Token": csrf}
    token, record = trial.service._open_session(trial.actors[username])
    return {SESSION_COOKIE: TOKEN_PREFIX + token}, {"X-CSRF-Token": record.csrf}


def test_api_fuzz_every_role_no_server_error(tmp_path: Path) -> None:
    trial = make_web_trial(tmp_path, n_per_stratum=8, seed=None)
    for sid, who in (("P001", "inv1"), ("P002", "inv2")):
        trial.enrol(sid, who)
    schema = schemathesis.openapi.from_asgi("/openapi.json", trial.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    errors: list[str] = []
    count = 0
    identity: dict[str, Any] = {}

    def call(case: Any) -> None:
        nonlocal count
        count += 1
        response = case.call(headers=identity["headers"], cookies=identity["cookies"])
        if response.status_code >= 500:
            errors.append(f"{identity['name']}: {case.method} {case.formatted_path} -> "
                          f"{response.status_code}: {case.as_curl_command()}"[:600])

    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for username in IDENTITIES:
        for operation, mode in ((o, m) for o in operations for m in modes):
            cookies, headers = _credentials(trial, username)
            identity.update(name=username or "anonymous", cookies=cookies, headers=headers)

            def one(case: Any) -> None:  # a fresh function: hypothesis decorates it once
                call(case)

            test = given(case=operation.as_strategy(generation_mode=mode))(
                settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
                         derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))(one))
            try:
                test()
            except Unsatisfiable:  # nothing to make invalid (e.g. a GET without parameters)
                continue
    print(f"\nSchemathesis: {count} cases (valid and invalid) over {len(operations)} "
          f"operations x {len(IDENTITIES)} identities; {len(errors)} server errors")
    assert count >= len(operations) * len(IDENTITIES)
    assert errors == []
