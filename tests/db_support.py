"""Shared set-up of the trial-database tests (``tests/test_db_*.py``).

Every database test runs on SQLite (a file under ``tmp_path``) and on PostgreSQL when
``MYOTRIAL_TEST_POSTGRES_URL`` names a server database (``bash scripts/start-postgres.sh``
prints one); each PostgreSQL test gets its own database, copied from a migrated template.
Without the variable the PostgreSQL cases are skipped, unless
``MYOTRIAL_TEST_POSTGRES_REQUIRED=1`` (CI), which turns the skip into a failure.

Test modules bind the fixtures by name, e.g. ``trial = pytest.fixture(db_support.trial)``.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import re
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from myotrial.db import Actor, Role, TrialService, make_engine, schema, upgrade_database
from myotrial.protocol import load_protocol
from myotrial.randomisation import SeededListWarning

PG_ENV = "MYOTRIAL_TEST_POSTGRES_URL"
PG_REQUIRED_ENV = "MYOTRIAL_TEST_POSTGRES_REQUIRED"
BACKENDS = ("sqlite", "postgresql")
PASSWORD = "correct horse battery"
#: Distinctive arm codes: any occurrence in a blinded view is a leak (no other text has them).
ARMS = ("armzulu", "armyankee")
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
SCREENING_CSV = Path(__file__).resolve().parents[1] / "src/myotrial/data/example_screening.csv"
#: The tests enter a whole trial under a clock fixed at 2024-03-01; dates later in 2024 are
#: "today or earlier" for the rule that recorded dates are not in the future.
TODAY = dt.date(2024, 12, 31)
SECRET = "test-server-secret"
CONSENT_DATE = "2024-02-20"
BASELINE = {"pga": 4.0, "ptga": 4.0, "extramuscular": 3.0, "mmt8": 120.0, "haq": 1.0,
            "ck": 1000.0, "ck_uln": 200.0}

_templates: dict[str, str] = {}
_protocol_dir: list[Path] = []


def protocol_copy(folder: Path, *, arms: tuple[str, str] | None = None,
                  population: str | None = None, name: str | None = None) -> Path:
    """A copy of the bundled proderm.toml with other arm codes (treatment, control), another
    population or another protocol name; returns its path."""
    source = load_protocol("proderm").source
    assert source is not None
    text = source.read_text(encoding="utf-8")
    if arms is not None:
        treatment, control = arms
        for pattern, repl in ((r"(?m)^ivig = ", f"{treatment} = "),
                              (r"(?m)^placebo = ", f"{control} = "),
                              (r"ratio = \{ ivig = 1, placebo = 1 \}",
                               f"ratio = {{ {treatment} = 1, {control} = 1 }}"),
                              (r'extension_arm = "ivig"', f'extension_arm = "{treatment}"')):
            text, n = re.subn(pattern, repl, text)
            assert n == 1, pattern
    if population is not None:
        text, n = re.subn(r'(?m)^population = "adult"', f'population = "{population}"', text)
        assert n == 1
    if name is not None:
        text, n = re.subn(r'(?m)^name = "proderm"', f'name = "{name}"', text)
        assert n == 1
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or 'proderm'}-{'-'.join(arms or ())}-{population or 'adult'}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def arms_protocol() -> Path:
    """The test protocol of the database tests: proderm with the distinctive arm codes
    :data:`ARMS` (treatment, control), written once per test session."""
    if not _protocol_dir:
        folder = Path(tempfile.mkdtemp(prefix="myotrial-test-protocol-"))
        atexit.register(shutil.rmtree, folder, True)
        _protocol_dir.append(folder)
    path = _protocol_dir[0] / "armzulu-armyankee.toml"
    if not path.exists():
        protocol_copy(_protocol_dir[0], arms=ARMS).rename(path)
    return path


def _pg_admin_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        reason = (f"PostgreSQL backend not tested: set {PG_ENV} "
                  "(url=$(bash scripts/start-postgres.sh))")
        if os.environ.get(PG_REQUIRED_ENV) == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


def _with_database(url: str, name: str) -> str:
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False)


def _pg_fresh_database() -> str:
    base = _pg_admin_url()
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if base not in _templates:
                tpl = f"myotrial_tpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
                conn.exec_driver_sql(f'CREATE DATABASE "{tpl}"')
                upgrade_database(_with_database(base, tpl))
                _templates[base] = tpl
            name = f"myotrial_t_{uuid.uuid4().hex[:12]}"
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{_templates[base]}"')
    finally:
        admin.dispose()
    return _with_database(base, name)


_to_drop: list[str] = []


def _pg_drop(url: str) -> None:
    """Drop the test's database when the test session ends (one connection for all)."""
    if not _to_drop:
        atexit.register(_pg_drop_all)
    _to_drop.append(url)


def _pg_drop_all() -> None:
    base = os.environ.get(PG_ENV)
    if not base:
        return
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in [sa.make_url(u).database for u in _to_drop] + list(_templates.values()):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except sa.exc.OperationalError:  # the server is already gone: nothing to clean
        pass
    finally:
        admin.dispose()


def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of the requested backend (fixture body)."""
    backend = request.param
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'trial.db'}"
        upgrade_database(url)
        yield url
        return
    url = _pg_fresh_database()
    try:
        yield url
    finally:
        _pg_drop(url)


def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database WITHOUT schema (for the migration tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    base = _pg_admin_url()
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    name = f"myotrial_e_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    url = _with_database(base, name)
    try:
        yield url
    finally:
        _pg_drop(url)


class Clock:
    """A deterministic clock: each call advances one second."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2024, 3, 1, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


@dataclass
class Trial:
    """A set-up trial: two sites, one user per role (two investigators), a loaded list."""

    url: str
    engine: sa.Engine
    service: TrialService
    admin: Actor
    inv1: Actor
    inv2: Actor
    monitor: Actor
    bstat: Actor
    ustat: Actor
    admin2: Actor

    @property
    def blinded_readers(self) -> tuple[Actor, ...]:
        return (self.inv1, self.monitor, self.bstat)

    def by_role(self, role: Role) -> Actor:
        return {Role.ADMINISTRATOR: self.admin, Role.SITE_INVESTIGATOR: self.inv1,
                Role.MONITOR: self.monitor, Role.BLINDED_STATISTICIAN: self.bstat,
                Role.UNBLINDED_STATISTICIAN: self.ustat}[role]


def make_service(engine: sa.Engine, protocol: Path | str | None = None) -> TrialService:
    """The service of the tests: fast hasher, fixed clock, :data:`TODAY`, :data:`SECRET`."""
    return TrialService(engine, protocol or arms_protocol(), password_hasher=FAST_HASHER,
                        clock=Clock(), today=lambda: TODAY, secret_key=SECRET)


def make_trial(url: str, *, n_per_stratum: int = 12, seed: int | None = 2022,
               protocol: Path | None = None) -> Trial:
    """Arms :data:`ARMS` (``ARMS[0]`` the treatment, ``ARMS[1]`` the control, which switches
    to ``ARMS[0]`` on confirmed deterioration), the protocol's randomisation scheme. Two
    administrators (bootstrapped): the unblinded statistician's account is approved by the
    second (two-person rule). ``seed`` (validation lists) keeps the tests deterministic;
    ``seed=None`` draws the list from the OS CSPRNG as the web application does."""
    engine = make_engine(url)
    svc = make_service(engine, protocol)
    admin = svc.bootstrap_administrator("admin", PASSWORD)
    admin2 = svc.bootstrap_administrator("admin2", PASSWORD)
    svc.create_site(admin, "01", "Site one", "DE")
    svc.create_site(admin, "02", "Site two", "US")
    users = {
        "inv1": (Role.SITE_INVESTIGATOR, "01"), "inv2": (Role.SITE_INVESTIGATOR, "02"),
        "monitor": (Role.MONITOR, None), "bstat": (Role.BLINDED_STATISTICIAN, None),
        "ustat": (Role.UNBLINDED_STATISTICIAN, None),
    }
    actors = {}
    for name, (role, site) in users.items():
        svc.create_user(admin, name, PASSWORD, role, site)
        actors[name] = Actor(name, role, site)
    svc.approve_user(admin2, "ustat")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeededListWarning)
        svc.generate_randomisation_list(
            actors["ustat"], svc.protocol_scheme(n_per_stratum=n_per_stratum), seed=seed)
    return Trial(url, engine, svc, admin, **actors, admin2=admin2)


def trial(database_url: str) -> Iterator[Trial]:
    """Fixture body: a :class:`Trial` on a fresh database."""
    t = make_trial(database_url)
    try:
        yield t
    finally:
        t.engine.dispose()


def candidate(subject_id: str, **changes: Any) -> dict[str, Any]:
    """An eligible screening row (the bundled synthetic example SCR-001) for ``subject_id``."""
    row = pd.read_csv(SCREENING_CSV).iloc[0].to_dict()
    row = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
    row.update(subject_id=subject_id, consent_date=CONSENT_DATE)
    row.update(changes)
    return row


def enrol(t: Trial, subject_id: str, actor: Actor | None = None) -> str:
    """Screen (eligible), record the baseline and randomise; return the kit code."""
    who = actor or t.inv1
    t.service.record_screening(who, candidate(subject_id))
    t.service.record_visit(who, subject_id, 0, BASELINE)
    return t.service.randomise_subject(who, subject_id).kit_code


def arm_of(t: Trial, subject_id: str) -> str:
    frame = t.service.list_allocations(t.ustat)
    return str(frame.loc[frame["subject_id"] == subject_id, "arm"].iloc[0])


def snapshot(engine: sa.Engine) -> dict[str, Any]:
    """Row counts of every table and the audit head (to prove that nothing changed)."""
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            out[table.name] = conn.execute(
                sa.select(sa.func.count()).select_from(table)).scalar_one()
        out["audit_head_row"] = tuple(conn.execute(sa.select(schema.audit_head)).all())
        out["visits_rows"] = sorted(tuple(map(str, r)) for r in conn.execute(
            sa.select(schema.visits)).all())
    return out


def raw_sql(engine: sa.Engine, *statements: str, params: dict[str, Any] | None = None) -> None:
    """Run raw SQL in one transaction (bypassing the service layer: a tamperer)."""
    with engine.begin() as conn:
        for sql in statements:
            conn.execute(sa.text(sql), params or {})


DROP_TRIGGERS = {
    "sqlite": ("DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"),
    "postgresql": ("DROP TRIGGER audit_log_no_update_delete ON audit_log",),
}


def drop_audit_triggers(engine: sa.Engine) -> None:
    """What a tamperer with DDL rights does first."""
    raw_sql(engine, *DROP_TRIGGERS[engine.dialect.name])

