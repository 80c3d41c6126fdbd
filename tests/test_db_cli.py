"""``myotrial db``: init, create-user (bootstrap and by an administrator), create-site, export,
verify-audit (exit 3 after a tamper). SQLite only: the commands are thin over the service."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import db_support
from db_support import enrol
from myotrial.cli import app
from myotrial.protocol import load_protocol

runner = CliRunner()
ADMIN_PW = "teal harbour lantern 1"


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
    assert info["revision"] == info["head"] == "0004"
    proderm = load_protocol("proderm").source
    assert proderm is not None
    assert info["protocol"] == "proderm"  # the default protocol, recorded
    assert info["protocol_sha256"] == hashlib.sha256(proderm.read_bytes()).hexdigest()
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
    refused = runner.invoke(app, ["db", "export", "-d", url, "-o", str(out), "--user", "bs"],
                            env={"MYOTRIAL_PASSWORD": db_support.PASSWORD})
    # checked before anything is read: no login, no audit row (counted below)
    assert refused.exit_code == 2 and "--force" in refused.output
    wrong_role = runner.invoke(app, ["db", "export", "-d", url, "-o", str(out), "--user", "bs",
                                     "--role", "unblinded_statistician", "--force"],
                               env={"MYOTRIAL_PASSWORD": db_support.PASSWORD})
    assert wrong_role.exit_code == 2 and "permission denied" in wrong_role.output
    wrong_pw = runner.invoke(app, ["db", "export", "-d", url, "-o", str(out), "--user", "bs",
                                   "--force"],
                             env={"MYOTRIAL_PASSWORD": "not the password"})
    assert wrong_pw.exit_code == 2

    report = json.loads(_ok(["verify-audit", "-d", url, "--json"]))
    # protocol, admin, site, 2 users, 1 export; and (issue 12) every login and failed login:
    # 6 logins of the commands above and the wrong password
    assert report["ok"] and report["n_rows"] == 6 + 7
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


def test_init_records_the_protocol_and_refuses_another(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``db init --protocol P`` records P; ``db init``, ``db export`` and ``serve`` with another
    protocol exit 2 and change nothing; a misspelt protocol file creates no database."""
    import uvicorn

    monkeypatch.delenv("MYOTRIAL_PROTOCOL", raising=False)
    juvenile = db_support.protocol_copy(tmp_path / "protocols", population="juvenile",
                                        name="jdm")
    url = f"sqlite:///{tmp_path / 'jdm.db'}"
    info = json.loads(_ok(["init", "-d", url, "--protocol", str(juvenile), "--json"]))
    assert info["protocol"] == "jdm"
    assert info["protocol_sha256"] == hashlib.sha256(juvenile.read_bytes()).hexdigest()
    engine = db_support.make_engine(url)
    before = db_support.snapshot(engine)
    # again with the same protocol, or none: fine, nothing changes
    _ok(["init", "-d", url, "--protocol", str(juvenile)])
    assert json.loads(_ok(["init", "-d", url, "--json"]))["protocol"] == "jdm"
    # another protocol: refused everywhere, exit 2, clear message, nothing changed
    calls: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(a))
    for args in (["db", "init", "-d", url, "--protocol", "proderm"],
                 ["db", "create-site", "-d", url, "--site", "01", "--name", "x", "--admin",
                  "nobody"],
                 ["serve", "-d", url, "--protocol", "proderm"]):
        env = {"MYOTRIAL_PASSWORD": ADMIN_PW}
        if args[0] == "db" and args[1] == "create-site":
            env["MYOTRIAL_PROTOCOL"] = "proderm"
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 2, (args, result.output)
        text = " ".join(result.output.split())
        assert "runs under protocol 'jdm'" in text and "not under protocol 'proderm'" in text
        assert "Traceback" not in result.output
    assert calls == []
    assert db_support.snapshot(engine) == before
    engine.dispose()
    # a misspelt key in a protocol file: exit 2 naming file and key; no database is created
    bad = tmp_path / "protocols" / "bad.toml"
    bad.write_text(juvenile.read_text().replace("visit_window_days", "visit_windw_days"))
    result = runner.invoke(app, ["db", "init", "-d", f"sqlite:///{tmp_path / 'bad.db'}",
                                 "--protocol", str(bad)])
    assert result.exit_code == 2 and "visit_windw_days" in result.output
    assert not (tmp_path / "bad.db").exists()
