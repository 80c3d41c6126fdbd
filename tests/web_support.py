"""Shared set-up of the web tests (``tests/test_web_*.py``, ``tests/test_browser_trial.py``).

A trial on a SQLite file under ``tmp_path`` with the protocol's REAL arm codes (``ivig``,
``placebo``), so the blinding tests search for the words a leak would show; one user per role,
a fast argon2 hasher and a deterministic clock; a :class:`WebUser` is a logged-in TestClient.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from db_support import (
    BASELINE,
    FAST_HASHER,
    PASSWORD,
    SECRET,
    TODAY,
    Clock,
    candidate,
    snapshot,
)
from myotrial.db import Actor, Role, TrialService, make_engine, upgrade_database
from myotrial.randomisation import SeededListWarning, StratumFactor
from myotrial.settings import Settings
from myotrial.web import create_app

__all__ = ["ARM_PATTERN", "BASELINE", "PASSWORD", "USERS", "WebTrial", "WebUser", "arm_leaks",
           "candidate", "make_web_trial", "snapshot"]

#: user name -> (role, site)
USERS: dict[str, tuple[Role, str | None]] = {
    "inv1": (Role.SITE_INVESTIGATOR, "01"),
    "inv2": (Role.SITE_INVESTIGATOR, "02"),
    "monitor": (Role.MONITOR, None),
    "bstat": (Role.BLINDED_STATISTICIAN, None),
    "ustat": (Role.UNBLINDED_STATISTICIAN, None),
    "admin": (Role.ADMINISTRATOR, None),
}
#: Words that reveal an arm: the codes, the protocol's arm labels and the product.
ARM_PATTERN = re.compile(r"ivig|placebo|saline|immune globulin|immunoglobulin", re.IGNORECASE)
#: Legitimate, allocation-free uses: the screening exclusion "IVIG within 6 months" (prior
#: treatment, a column of the screening table) and its column name.
ALLOWED = re.compile(r"ivig_last_6_months|IVIG within 6 months", re.IGNORECASE)


def arm_leaks(text: str) -> list[str]:
    """Arm words in ``text`` outside the allowed screening-exclusion phrases, with context."""
    cleaned = ALLOWED.sub("", text)
    return [cleaned[max(0, m.start() - 60):m.end() + 60] for m in ARM_PATTERN.finditer(cleaned)]


@dataclass
class WebTrial:
    url: str
    service: TrialService
    app: FastAPI
    actors: dict[str, Actor]

    def client(self, username: str | None = None) -> WebUser:
        user = WebUser(TestClient(self.app, follow_redirects=False))
        if username is not None:
            user.login(username)
        return user

    def arm_of(self, subject_id: str) -> str:
        frame = self.service.list_allocations(self.actors["ustat"])
        return str(frame.loc[frame["subject_id"] == subject_id, "arm"].iloc[0])

    def enrol(self, subject_id: str, who: str = "inv1") -> str:
        actor = self.actors[who]
        self.service.record_screening(actor, candidate(subject_id))
        self.service.record_visit(actor, subject_id, 0, BASELINE)
        return self.service.randomise_subject(actor, subject_id).kit_code


class WebUser:
    """A TestClient with a session: ``login`` keeps the CSRF token for later POSTs."""

    def __init__(self, client: TestClient) -> None:
        self.http = client
        self.csrf = ""

    def login(self, username: str, password: str = PASSWORD) -> None:
        self.csrf = self.http.get("/api/session").json()["csrf_token"]
        r = self.http.post("/api/login", json={"username": username, "password": password},
                           headers={"X-CSRF-Token": self.csrf})
        assert r.status_code == 200, r.text
        self.csrf = r.json()["csrf_token"]

    def get(self, path: str, **kw: Any) -> Any:
        return self.http.get(path, **kw)

    def post_json(self, path: str, body: Any = None, *, csrf: bool = True) -> Any:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return self.http.post(path, json=body, headers=headers)

    def post_form(self, path: str, data: dict[str, str], *, csrf: bool = True) -> Any:
        return self.http.post(path, data={**data, "csrf_token": self.csrf} if csrf else data)


def make_web_trial(tmp_path: Path, *, n_per_stratum: int = 20, seed: int | None = 2022,
                   settings: Settings | None = None, protocol: Path | str = "proderm",
                   factors: tuple[StratumFactor, ...] = (), url: str | None = None
                   ) -> WebTrial:
    """The bundled proderm protocol unless ``protocol`` names another (its randomisation
    scheme; the service opens the database under it). ``url``: a database to use (e.g. a
    PostgreSQL one from ``db_support.database_url``); default a SQLite file in ``tmp_path``."""
    url = url or f"sqlite:///{tmp_path / 'web.db'}"
    upgrade_database(url)
    svc = TrialService(make_engine(url), protocol, password_hasher=FAST_HASHER, clock=Clock(),
                       today=lambda: TODAY, secret_key=SECRET)
    admin = svc.bootstrap_administrator("admin", PASSWORD)
    admin2 = svc.bootstrap_administrator("admin2", PASSWORD)
    svc.create_site(admin, "01", "Site one", "DE")
    svc.create_site(admin, "02", "Site two", "US")
    actors = {"admin": admin}
    for name, (role, site) in USERS.items():
        if name != "admin":
            svc.create_user(admin, name, PASSWORD, role, site)
            actors[name] = Actor(name, role, site)
    svc.approve_user(admin2, "ustat")  # two-person rule
    actors["admin2"] = admin2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeededListWarning)
        svc.generate_randomisation_list(
            actors["ustat"], svc.protocol_scheme(factors, n_per_stratum=n_per_stratum),
            seed=seed)
    app = create_app(settings or Settings(database_url=url, secret_key=SECRET),
                     service=svc)
    return WebTrial(url, svc, app, actors)
