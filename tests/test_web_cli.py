"""``myotrial serve`` (migrations, first administrator, the app factory) and
``myotrial analyze --database`` (the live data through the service into the analysis)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.protocol import load_protocol
from web_support import BASELINE, PASSWORD, candidate, make_web_trial

BETTER = {**BASELINE, "pga": 1.0, "ptga": 1.5, "extramuscular": 0.5, "mmt8": 140.0,
          "haq": 0.25, "ck": 150.0}


def test_analyze_runs_on_the_live_database(tmp_path: Path) -> None:
    trial = make_web_trial(tmp_path)
    svc, inv = trial.service, trial.actors["inv1"]
    for i in range(8):
        sid = f"P{i:03d}"
        trial.enrol(sid)
        for week in (4, 8, 12, 16):
            svc.record_visit(inv, sid, week, BETTER if i % 2 else BASELINE)
    svc.record_screening(inv, candidate("X1", age=85))  # screened, not randomised: left out
    runner = CliRunner()
    env = {"MYOTRIAL_PASSWORD": PASSWORD}
    r = runner.invoke(app, ["analyze", "--database", trial.url, "--user", "ustat", "--json"],
                      env=env)
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["ok"] and payload["results"]
    primary = payload["results"][0]
    assert primary["n_treatment"] + primary["n_control"] == 8
    r = runner.invoke(app, ["analyze", "--database", trial.url, "--user", "bstat"], env=env)
    assert r.exit_code == 2 and "unblinded statistician" in r.output
    # the live trial is analysed under the protocol stored in the database, never another one
    juvenile = tmp_path / "juvenile.toml"
    juvenile.write_text(
        load_protocol("proderm").source.read_text(encoding="utf-8")  # type: ignore[union-attr]
        .replace('name = "proderm"', 'name = "juvenile_copy"')
        .replace('population = "adult"', 'population = "juvenile"'),
        encoding="utf-8",
    )
    r = runner.invoke(app, ["analyze", "--database", trial.url, "--user", "ustat",
                            "--protocol", str(juvenile)], env=env)
    assert r.exit_code == 2 and "not the protocol of the database" in " ".join(r.output.split())


def _login(client: object, username: str, password: str = PASSWORD) -> int:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    token = client.get("/api/session").json()["csrf_token"]
    r = client.post("/api/login", json={"username": username, "password": password},
                    headers={"X-CSRF-Token": token})
    return r.status_code


def test_serve_migrates_bootstraps_and_serves(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``myotrial serve`` migrates, records the protocol, creates the first administrator and
    hands uvicorn the app built from its Settings (uvicorn itself is replaced: the browser
    tests run a live server). Nothing is written into the environment for one worker."""
    import uvicorn
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    calls: list[tuple[object, dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    for name in ("MYOTRIAL_DATABASE_URL", "MYOTRIAL_SECRET_KEY", "MYOTRIAL_PROTOCOL",
                 "MYOTRIAL_SERVE_SETTINGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    env = {"MYOTRIAL_NEW_PASSWORD": PASSWORD}
    r = runner.invoke(app, ["serve", "--port", "8123", "--init-admin", "admin"], env=env)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "trial.db").exists()  # the one default: SQLite trial.db here
    target, options = calls[0]
    assert isinstance(target, FastAPI)
    assert options["port"] == 8123 and options["host"] == "127.0.0.1"
    assert "MYOTRIAL_SECRET_KEY" not in os.environ and "MYOTRIAL_SERVE_SETTINGS" not in os.environ
    client = TestClient(target)
    assert _login(client, "admin") == 200
    assert client.get("/admin").status_code == 200
    # issue 12: a second administrator is bootstrapped too (the two-person rule needs two);
    # a third is refused (exit 2), the server is not started
    r = runner.invoke(app, ["serve", "--init-admin", "other"], env=env)
    assert r.exit_code == 0 and len(calls) == 2
    r = runner.invoke(app, ["serve", "--init-admin", "third"], env=env)
    assert r.exit_code == 2 and "already has two administrators" in r.output
    assert len(calls) == 2


def test_db_and_serve_share_one_default_database(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A user created with ``myotrial db create-user`` (no --database) logs in to
    ``myotrial serve`` (no --database) started in the same directory; several workers get the
    Settings (one secret key) through the one variable the app factory reads."""
    import uvicorn
    from fastapi.testclient import TestClient

    from myotrial.web.app import app_from_env

    calls: list[tuple[object, dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    for name in ("MYOTRIAL_DATABASE_URL", "MYOTRIAL_SECRET_KEY", "MYOTRIAL_PROTOCOL",
                 "MYOTRIAL_SERVE_SETTINGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(app, ["db", "init"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["db", "create-user", "--username", "boss", "--role",
                            "administrator"], env={"MYOTRIAL_NEW_PASSWORD": PASSWORD})
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["serve", "--workers", "2"])
    assert r.exit_code == 0, r.output
    target, options = calls[0]
    assert target == "myotrial.web.app:app_from_env" and options["factory"] is True
    assert options["workers"] == 2
    text = os.environ.pop("MYOTRIAL_SERVE_SETTINGS")  # set by the command for its workers
    monkeypatch.setenv("MYOTRIAL_SERVE_SETTINGS", text)  # (removed again after the test)
    settings = json.loads(text)
    assert settings["database_url"] == "sqlite:///trial.db" and settings["secret_key"]
    assert _login(TestClient(app_from_env()), "boss") == 200
