"""What the live-trial benchmarks share (bench_web, bench_db_writes): the credentials, a
baseline visit, a throw-away PostgreSQL database, and the trial they set up."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

PASSWORD = "benchmark password"
SECRET = "benchmark secret key"
BASELINE = {"pga": 4.0, "ptga": 4.0, "extramuscular": 3.0, "mmt8": 120.0, "haq": 1.0,
            "ck": 1000.0, "ck_uln": 200.0}
SCREENING = Path(__file__).resolve().parents[1] / "src/myotrial/data/example_screening.csv"


def pg_database(base: str, prefix: str) -> tuple[str, Callable[[], None]]:
    """A new database on the PostgreSQL server of ``base``; (its URL, a function dropping it)."""
    import sqlalchemy as sa

    from myotrial.db import make_engine

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return url, drop


def set_up_trial(url: str, n_subjects: int, prefix: str, **engine_options: Any
                 ) -> tuple[Any, Any, Any]:
    """Through the service: two administrators, a site, an investigator (``inv1``), an
    approved unblinded statistician, a CSPRNG list and ``n_subjects`` screened, randomised
    subjects (``<prefix>0000``...) with a baseline visit. Returns (service, investigator,
    engine)."""
    import pandas as pd
    from argon2 import PasswordHasher

    from myotrial.db import Actor, Role, TrialService, make_engine, upgrade_database

    upgrade_database(url)
    engine = make_engine(url, **engine_options)
    svc = TrialService(engine, password_hasher=PasswordHasher(time_cost=1, memory_cost=8192,
                                                              parallelism=1),
                       secret_key=SECRET)
    admin = svc.bootstrap_administrator("admin", PASSWORD)
    admin2 = svc.bootstrap_administrator("admin2", PASSWORD)
    svc.create_site(admin, "01", "Site one", "DE")
    svc.create_user(admin, "inv1", PASSWORD, Role.SITE_INVESTIGATOR, "01")
    svc.create_user(admin, "ustat", PASSWORD, Role.UNBLINDED_STATISTICIAN)
    svc.approve_user(admin2, "ustat")
    inv = Actor("inv1", Role.SITE_INVESTIGATOR, "01")
    svc.generate_randomisation_list(Actor("ustat", Role.UNBLINDED_STATISTICIAN),
                                    svc.protocol_scheme(n_per_stratum=n_subjects + 10))
    first = pd.read_csv(SCREENING).iloc[0].to_dict()
    row = {str(k): (None if isinstance(v, float) and v != v else v) for k, v in first.items()}
    row["consent_date"] = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    for i in range(n_subjects):
        sid = f"{prefix}{i:04d}"
        svc.record_screening(inv, {**row, "subject_id": sid})
        svc.record_visit(inv, sid, 0, BASELINE)
        svc.randomise_subject(inv, sid)
    return svc, inv, engine
