"""Sessions and accounts (issue 12): server-side sessions ended by logout and by idle and
absolute timeouts, ``Secure`` cookies over HTTPS, ``Cache-Control: no-store`` everywhere,
login throttling per account (lockout an administrator lifts) and per client, a bound on
concurrent argon2 checks, logins in the audit trail, password policy, change and reset."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from myotrial.db import PermissionDenied
from myotrial.db.service.identity import MAX_FAILED_LOGINS, LoginThrottled
from myotrial.errors import InputValidationError
from myotrial.settings import Settings
from myotrial.web.security import SESSION_COOKIE
from web_support import PASSWORD, WebTrial, make_web_trial


@pytest.fixture
def trial(tmp_path: Path) -> WebTrial:
    t = make_web_trial(tmp_path, n_per_stratum=8)
    t.enrol("P001")
    return t


def _login_status(t: WebTrial, username: str, password: str) -> int:
    user = t.client()
    csrf = user.get("/api/session").json()["csrf_token"]
    return int(user.http.post("/api/login", json={"username": username, "password": password},
                              headers={"X-CSRF-Token": csrf}).status_code)


def test_logout_ends_the_session_on_the_server(trial: WebTrial) -> None:
    ustat = trial.client("ustat")
    stolen = ustat.http.cookies[SESSION_COOKIE]
    assert ustat.get("/api/allocations").status_code == 200
    assert ustat.post_json("/api/logout").status_code == 200
    replay = trial.client()
    replay.http.cookies.set(SESSION_COOKIE, stolen)
    assert replay.get("/api/allocations").status_code == 401  # main: 200 with the old cookie
    assert replay.get("/allocations").status_code == 303  # to the login


def test_back_button_after_logout_finds_nothing_cached(trial: WebTrial) -> None:
    ustat = trial.client("ustat")
    for path in ("/allocations", "/api/allocations", "/dashboard", "/subjects/P001",
                 "/api/exports/subjects?view=unblinded", "/login", "/"):
        r = ustat.get(path)
        assert r.headers["cache-control"] == "no-store", path
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_idle_and_absolute_timeouts(trial: WebTrial) -> None:
    clock = trial.service._clock
    monitor = trial.client("monitor")
    assert monitor.get("/api/subjects").status_code == 200
    clock.now += dt.timedelta(minutes=31)  # type: ignore[attr-defined]
    assert monitor.get("/api/subjects").status_code == 401  # idle 30 minutes
    monitor = trial.client("monitor")
    statuses = []
    for _ in range(18):  # active every 29 minutes (8 h 42 min in all) ...
        clock.now += dt.timedelta(minutes=29)  # type: ignore[attr-defined]
        statuses.append(monitor.get("/api/subjects").status_code)
    assert statuses[:16] == [200] * 16 and statuses[-1] == 401  # ... but 8 hours at most


def test_secure_cookies_over_https_and_by_setting(tmp_path: Path) -> None:
    t = make_web_trial(tmp_path)
    from fastapi.testclient import TestClient

    https = TestClient(t.app, base_url="https://trial.example")
    assert "Secure" in https.get("/api/session").headers["set-cookie"]
    plain = TestClient(t.app)
    assert "Secure" not in plain.get("/api/session").headers["set-cookie"]
    (tmp_path / "s").mkdir()
    secure = make_web_trial(tmp_path / "s", settings=Settings(
        database_url="sqlite://", secret_key="k", secure_cookies=True))
    assert "Secure" in TestClient(secure.app).get("/api/session").headers["set-cookie"]


def test_lockout_after_failed_logins_an_administrator_lifts_it(trial: WebTrial) -> None:
    for _ in range(MAX_FAILED_LOGINS):
        assert _login_status(trial, "inv2", "wrong password here") == 401
    assert _login_status(trial, "inv2", PASSWORD) == 401  # locked (main: 30 did not lock)
    trail = trial.service.audit_trail(trial.actors["admin"])
    failed = trail.loc[trail["action"] == "login_failed"]
    assert len(failed) == MAX_FAILED_LOGINS + 1 and set(failed["username"]) == {"inv2"}
    assert "password" not in " ".join(failed["new_value"].fillna("")).replace(
        "wrong password", "")
    assert (trail["field"] == "locked_at").any()
    users = {u["username"]: u for u in trial.client("admin").get("/api/users").json()}
    assert users["inv2"]["locked"] is True
    admin = trial.client("admin")
    assert admin.post_json("/api/users/inv2/unlock", {"reason": "called"}).status_code == 200
    assert _login_status(trial, "inv2", PASSWORD) == 200
    trail = trial.service.audit_trail(trial.actors["admin"])
    assert (trail["action"] == "login").any()


def test_per_client_throttle_refuses_before_hashing(tmp_path: Path) -> None:
    t = make_web_trial(tmp_path)
    statuses = [_login_status(t, f"nobody{i}", "not the password") for i in range(20)]
    assert set(statuses) == {401}
    r_status = _login_status(t, "monitor", PASSWORD)
    assert r_status == 429  # this client is throttled, even with the right password


def test_concurrent_logins_are_bounded_in_memory(tmp_path: Path) -> None:
    """80 concurrent wrong logins took main from 0.5 to 3 GB (argon2, 64 MiB each): now at
    most ``max_concurrent_hashes`` argon2 checks run at once."""
    from myotrial.db import TrialService

    t = make_web_trial(tmp_path)
    running, peak, lock = 0, 0, threading.Lock()

    class Counting(PasswordHasher):
        def verify(self, hash: Any, password: Any) -> bool:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.01)
            try:
                return super().verify(hash, password)
            finally:
                with lock:
                    running -= 1

    svc = TrialService(t.service.engine, password_hasher=Counting(time_cost=1, memory_cost=8,
                                                                  parallelism=1),
                       max_concurrent_hashes=2)
    outcomes: list[str] = []

    def attempt(i: int) -> None:
        try:
            svc.authenticate("monitor", "wrong password", client=f"10.0.0.{i}")
        except LoginThrottled:
            outcomes.append("busy")
        except PermissionDenied:
            outcomes.append("denied")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(80)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert peak <= 2 and len(outcomes) == 80


@pytest.mark.parametrize("password", ["short pw", "password12345", "Qwertyuiop123!",
                                      "aaaaaaaaaaaaaaaa", "monitor2 is my name"])
def test_password_policy(trial: WebTrial, password: str) -> None:
    with pytest.raises(InputValidationError, match="password"):
        trial.service.create_user(trial.actors["admin"], "monitor2", password, "monitor")


def test_password_change_and_administrator_reset(trial: WebTrial) -> None:
    first, second = trial.client("monitor"), trial.client("monitor")
    r = first.post_json("/api/password", {"old_password": "wrong one", "new_password":
                                          "saffron glacier tide"})
    assert r.status_code == 422
    r = first.post_json("/api/password", {"old_password": PASSWORD, "new_password":
                                          "saffron glacier tide"})
    assert r.status_code == 200
    first.csrf = r.json()["csrf_token"]
    assert first.get("/api/subjects").status_code == 200  # a new session for this browser
    assert second.get("/api/subjects").status_code == 401  # the other one ended
    assert _login_status(trial, "monitor", "saffron glacier tide") == 200
    admin = trial.client("admin")
    r = admin.post_json("/api/users/monitor/password", {"new_password": "harbor violet "
                                                        "quartz", "reason": "forgotten"})
    assert r.status_code == 200 and r.json()["active"] is True
    assert first.get("/api/subjects").status_code == 401
    assert _login_status(trial, "monitor", "harbor violet quartz") == 200
    r = admin.post_json("/api/users/monitor/password", {"new_password": "password1234",
                                                        "reason": "x"})
    assert r.status_code == 422 and "too common" in r.text
