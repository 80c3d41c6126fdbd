"""Write-path benchmark: ``TrialService.record_visit`` in process, CPU and statements per visit.

For each backend (SQLite file; PostgreSQL by URL, a new database made and dropped) it sets up
a trial through the service (N screened, randomised subjects with a baseline visit), then

- *sequential*: one thread records one follow-up visit of every subject; per visit it reports
  the client's CPU (this process), the PostgreSQL server's CPU (the backend process of the
  pooled connection, read from ``/proc``), wall time, and the SQL statements sent (cursor
  executions) and commits;
- *concurrent*: ``--threads`` threads record the next follow-up visit of every subject at
  once (visits per second, p99 latency);

and verifies the audit chain and the data against it afterwards (the script fails if it does
not). With ``--baseline REV`` the same measurement also runs on the source tree of git
revision REV (``git archive`` into a temporary folder, run in a subprocess), alternating
``--repeat`` times, so before and after are compared side by side in one run.

    .venv/bin/python benchmarks/bench_db_writes.py --backend both --postgres-url "$url"
    .venv/bin/python benchmarks/bench_db_writes.py --postgres-url "$url" --baseline HEAD~3
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import BASELINE, SECRET, pg_database, set_up_trial

ROOT = Path(__file__).resolve().parents[1]
PG_ENV = "MYOTRIAL_TEST_POSTGRES_URL"


def _set_up(url: str, n_subjects: int) -> Any:
    """The benchmark's trial (:func:`_shared.set_up_trial`: subjects ``W0000``...)."""
    svc, inv, _ = set_up_trial(url, n_subjects, "W", pool_size=16)
    return svc, inv


def _backend_cpu(engine: Any) -> float | None:
    """CPU seconds (user + system) of the PostgreSQL backends of the engine's pooled
    connections (None: not PostgreSQL, or the server's /proc is not readable)."""
    if engine.dialect.name != "postgresql":
        return None
    import sqlalchemy as sa

    with engine.connect() as conn:
        pid = conn.execute(sa.select(sa.func.pg_backend_pid())).scalar_one()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, n_subjects: int, threads: int) -> dict[str, Any]:
    """Set up, record visits sequentially then concurrently, verify; one result dict."""
    import hashlib

    import sqlalchemy as sa

    from myotrial.db import verify_audit_chain

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svc, inv = _set_up(url, n_subjects)
    engine = svc.engine
    counts = {"statements": 0, "commits": 0}

    def on_execute(*_args: Any) -> None:
        counts["statements"] += 1

    def on_commit(*_args: Any) -> None:
        counts["commits"] += 1

    sa.event.listen(engine, "before_cursor_execute", on_execute)
    sa.event.listen(engine, "commit", on_commit)
    sids = [f"W{i:04d}" for i in range(n_subjects)]
    measures = {**BASELINE, "pga": 3.0}
    engine.dispose()  # one pooled connection for the sequential phase
    svc.record_visit(inv, sids[0], 4, measures)  # warm up (imports, caches, connection)
    server0 = _backend_cpu(engine)
    counts.update(statements=0, commits=0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for sid in sids[1:]:
        svc.record_visit(inv, sid, 4, measures)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    server1 = _backend_cpu(engine)
    n = len(sids) - 1
    sequential = {
        "visits": n, "client_cpu_ms": round(1000 * cpu / n, 3),
        "server_cpu_ms": None if server0 is None or server1 is None
        else round(1000 * (server1 - server0) / n, 3),
        "wall_ms": round(1000 * wall / n, 3),
        "statements": round(counts["statements"] / n, 2),
        "commits": round(counts["commits"] / n, 2)}
    latencies: list[float] = []
    lock = threading.Lock()

    def write(sid: str) -> None:
        t = time.perf_counter()
        svc.record_visit(inv, sid, 8, measures)
        with lock:
            latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, sids))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    concurrent = {"visits": len(sids), "threads": threads,
                  "visits_per_s": round(len(sids) / elapsed, 1),
                  "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1)}
    key = hashlib.sha256(b"myotrial-list-hmac\x00" + SECRET.encode()).digest()
    report = verify_audit_chain(engine, list_key=key)
    with engine.connect() as conn:
        n_visits = conn.execute(sa.text("SELECT count(*) FROM visits")).scalar_one()
    engine.dispose()
    return {"sequential": sequential, "concurrent": concurrent,
            "audit": {"ok": report.ok, "rows": report.n_rows,
                      "problems": [p.detail for p in report.problems[:5]]},
            "visits_stored": int(n_visits), "visits_expected": 3 * len(sids)}


def run_one(backend: str, pg_url: str | None, n_subjects: int, threads: int
            ) -> dict[str, Any]:
    if backend == "sqlite":
        url, drop = f"sqlite:///{tempfile.mkdtemp(prefix='bench_dbw_')}/bench.db", None
    else:
        assert pg_url is not None
        url, drop = pg_database(pg_url, "bench_dbw")
    try:
        return measure(url, n_subjects, threads)
    finally:
        if drop is not None:
            drop()


def _tree_of(rev: str) -> Path:
    """The ``src`` folder of git revision ``rev``, extracted to a temporary folder."""
    out = Path(tempfile.mkdtemp(prefix="bench_dbw_src_"))
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(out, filter="data")
    return out / "src"


def _in_subprocess(src: Path | None, backend: str, args: argparse.Namespace
                   ) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src if src is not None else ROOT / "src")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", backend,
           "--subjects", str(args.subjects), "--threads", str(args.threads)]
    if args.postgres_url:
        cmd += ["--postgres-url", args.postgres_url]
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default=os.environ.get(PG_ENV))
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--baseline", metavar="REV",
                        help="also measure git revision REV, alternating, side by side")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.postgres_url, args.subjects, args.threads)))
        return {}
    backends = [b for b in ("sqlite", "postgresql") if args.backend in (b, "both")]
    if "postgresql" in backends and not args.postgres_url:
        if args.backend == "postgresql":
            raise SystemExit(f"--backend postgresql needs --postgres-url or ${PG_ENV}")
        backends.remove("postgresql")
    trees: dict[str, Path | None] = {"current": None}
    if args.baseline:
        trees = {f"baseline {args.baseline}": _tree_of(args.baseline), "current": None}
    result: dict[str, Any] = {"date": dt.date.today().isoformat(), "cpus": os.cpu_count(),
                              "subjects": args.subjects, "runs": []}
    failed = []
    for rep in range(args.repeat):
        for backend in backends:
            for name, src in trees.items():
                out = _in_subprocess(src, backend, args)
                out.update(tree=name, backend=backend, repeat=rep)
                result["runs"].append(out)
                if not out["audit"]["ok"] or out["visits_stored"] != out["visits_expected"]:
                    failed.append(f"{name} {backend}: {out['audit']} "
                                  f"{out['visits_stored']}/{out['visits_expected']} visits")
                if not args.json:
                    _print(out)
    if args.json:
        print(json.dumps(result, indent=2))
    if failed:
        raise SystemExit("FAILED: " + "; ".join(failed))
    return result


def _print(r: dict[str, Any]) -> None:
    s, c = r["sequential"], r["concurrent"]
    server = "-" if s["server_cpu_ms"] is None else f"{s['server_cpu_ms']:.2f}"
    print(f"{r['backend']:10s} {r['tree']:22s} client CPU {s['client_cpu_ms']:6.2f} ms/visit, "
          f"server CPU {server:>5s} ms, wall {s['wall_ms']:6.2f} ms, "
          f"{s['statements']:5.2f} statements + {s['commits']:.0f} commit; "
          f"{c['threads']} threads: {c['visits_per_s']:6.1f} visits/s, p99 {c['p99_ms']:.0f} ms;"
          f" chain {'VERIFIED' if r['audit']['ok'] else 'FAILED'} ({r['audit']['rows']} rows)",
          flush=True)


if __name__ == "__main__":
    main()
