"""``myotrial db``: init, create-user (bootstrap and by an administrator), create-site, export,
verify-audit (exit 3 after a tamper). SQLite only: the commands are thin over the service."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import db_support
from db_support import enrol
from myotrial.cli import app

runner = CliRunner()
ADMIN_PW = "admin password 1"


def _ok(args: list[str], **env: str) -> str:
    result = runner.invoke(app, ["db", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI uses argon2's production parameters; the tests do not need their cost."""
    monkeypatch.setattr("myotrial.db.service._unit.PasswordHasher", lambda: db_support.FAST_HASHER)


def test_db_commands_end_to_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    info = json.loads(_ok(["init", "--database", url, "--json"]))
    assert info["revision"] == info["head"] == "0001"
    _ok(["create-user", "-d", url, "--username", "admin", "--role", "administrator"],
        MYOTRIAL_NEW_PASSWORD=ADMIN_PW)
    refused = runner.invoke(app, ["db", "create-user", "-d", url, "--username", "x",
                                  "--role", "monitor"], env={"MYOTRIAL_NEW_PASSWORD": ADMIN_PW})
    assert refused.exit_code == 2
    _ok(["create-site", "-d", url, "--site", "01", "--name", "Site one", "--admin", "admin"],
        MYOTRIAL_PASSWORD=ADMIN_PW)
    for name, role in [("bs", "blinded_statistician"), ("us", "unblinded_statistician")]:
        _ok(["create-user", "-d", url, "--username", name, "--role", role, "--admin", "admin"],
            MYOTRIAL_PASSWORD=ADMIN_PW, MYOTRIAL_NEW_PASSWORD=db_support.PASSWORD)
    bad = runner.invoke(app, ["db", "create-user", "-d", url, "--username", "si", "--role",
                              "site_investigator", "--admin", "admin"],
                        env={"MYOTRIAL_PASSWORD": ADMIN_PW,
                             "MYOTRIAL_NEW_PASSWORD": db_support.PASSWORD})
    assert bad.exit_code == 2 and "users table" in bad.output and "site_id" in bad.output

    out = tmp_path / "export"
    _ok(["export", "-d", url, "-o", str(out), "--user", "bs"],
        MYOTRIAL_PASSWORD=db_support.PASSWORD)
    assert sorted(p.name for p in out.iterdir()) == [
        "adverse_events.csv", "infusions.csv", "subjects.csv", "visits.csv"]
    assert "arm" not in pd.read_csv(out / "subjects.csv").columns
    wrong_role = runner.invoke(app, ["db", "export", "-d", url, "-o", str(out), "--user", "bs",
                                     "--role", "unblinded_statistician"],
                               env={"MYOTRIAL_PASSWORD": db_support.PASSWORD})
    assert wrong_role.exit_code == 2 and "permission denied" in wrong_role.output
    wrong_pw = runner.invoke(app, ["db", "export", "-d", url, "-o", str(out), "--user", "bs"],
                             env={"MYOTRIAL_PASSWORD": "not the password"})
    assert wrong_pw.exit_code == 2

    report = json.loads(_ok(["verify-audit", "-d", url, "--json"]))
    assert report["ok"] and report["n_rows"] == 5  # admin, site, 2 users, 1 export
    head = report["head_hash"]
    _ok(["verify-audit", "-d", url, "--expect-head", head])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_verify_audit_exits_3_after_tampering(database_url: str) -> None:
    t = db_support.make_trial(database_url)
    enrol(t, "P001")
    t.engine.dispose()
    assert runner.invoke(app, ["db", "verify-audit", "-d", database_url]).exit_code == 0
    db_support.raw_sql(t.engine, "UPDATE visits SET pga = 9.9")
    result = runner.invoke(app, ["db", "verify-audit", "-d", database_url])
    assert result.exit_code == 3 and "record_changed" in result.output
    chain_only = runner.invoke(app, ["db", "verify-audit", "-d", database_url, "--chain-only"])
    assert chain_only.exit_code == 0


database_url = pytest.fixture(db_support.database_url)
