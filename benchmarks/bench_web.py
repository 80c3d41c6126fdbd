"""Web benchmark: latency (p50/p99) and throughput of the TIS calculator API and of visit entry
under concurrent clients on loopback.

Starts ``myotrial serve`` on 127.0.0.1 against a fresh SQLite trial database (set up through
the service: sites, an investigator, a randomisation list, N randomised subjects), then drives
``POST /api/tis`` and ``POST /api/subjects/{id}/visits`` with ``--concurrency`` clients
(httpx, asyncio) for a bounded number of requests each, checks that every response succeeded,
prints the figures and stops the server.

    .venv/bin/python benchmarks/bench_web.py                       # 100 concurrent, 1 worker
    .venv/bin/python benchmarks/bench_web.py --workers 2 --json

Visit entry writes: every visit is one transaction that validates and scores the subject's
visits and appends to the audit hash chain; writers are serialised (SQLite BEGIN IMMEDIATE),
so its throughput is the service's, whatever the concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "benchmark password"
TIS_BODY = {
    "baseline": {"pga": 6, "ptga": 6, "extramuscular": 4, "mmt8": 120, "haq": 1.5, "ck": 1200},
    "follow_up": {"pga": 2, "ptga": 3, "extramuscular": 1, "mmt8": 138, "haq": 0.75, "ck": 300},
    "uln": {"ck": 200},
}
BASELINE = {"pga": 4.0, "ptga": 4.0, "extramuscular": 3.0, "mmt8": 120.0, "haq": 1.0,
            "ck": 1000.0, "ck_uln": 200.0}
WEEKS = (4, 8, 12, 16, 20, 24, 28, 32, 36, 40)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def set_up(url: str, n_subjects: int) -> None:
    """Sites, users, list and ``n_subjects`` randomised subjects with a baseline visit."""
    import pandas as pd
    from argon2 import PasswordHasher

    from myotrial.db import Actor, Role, TrialService, make_engine, upgrade_database
    from myotrial.randomisation import RandomisationScheme

    upgrade_database(url)
    engine = make_engine(url)
    svc = TrialService(engine, password_hasher=PasswordHasher(time_cost=1, memory_cost=8192,
                                                              parallelism=1))
    admin = svc.bootstrap_administrator("admin", PASSWORD)
    svc.create_site(admin, "01", "Site one", "DE")
    svc.create_user(admin, "inv1", PASSWORD, Role.SITE_INVESTIGATOR, "01")
    svc.create_user(admin, "ustat", PASSWORD, Role.UNBLINDED_STATISTICIAN)
    inv = Actor("inv1", Role.SITE_INVESTIGATOR, "01")
    svc.generate_randomisation_list(Actor("ustat", Role.UNBLINDED_STATISTICIAN),
                                    RandomisationScheme(n_per_stratum=n_subjects + 10), seed=1)
    screening = Path(__file__).resolve().parents[1] / "src/myotrial/data/example_screening.csv"
    row = pd.read_csv(screening).iloc[0].to_dict()
    row = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
    for i in range(n_subjects):
        sid = f"B{i:04d}"
        svc.record_screening(inv, {**row, "subject_id": sid})
        svc.record_visit(inv, sid, 0, BASELINE)
        svc.randomise_subject(inv, sid)
    engine.dispose()


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
                   ) -> tuple[int, bytes]:
    """One HTTP/1.1 keep-alive request on an open connection; (status, body)."""
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    body = await reader.readexactly(length)
    return status, body


def _raw(path: str, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    data = json.dumps(body).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n{extra}\r\n").encode() + data


async def _drive(port: int, concurrency: int, jobs: list[tuple[str, dict[str, Any]]],
                 headers: dict[str, str], expect: int) -> dict[str, Any]:
    """``concurrency`` clients, each on its own keep-alive connection, take the next job until
    none is left. A minimal HTTP/1.1 client (asyncio streams), so that the client's own cost
    on this shared machine stays small."""
    latencies: list[float] = []
    errors: list[str] = []
    queue = [_raw(path, body, headers) for path, body in reversed(jobs)]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                raw = queue.pop()
                start = time.perf_counter()
                status, text = await _request(reader, writer, raw)
                latencies.append(time.perf_counter() - start)
                if status != expect:
                    errors.append(f"{status} {text[:200]!r}")
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "requests": len(latencies), "errors": len(errors), "first_error": errors[:1],
        "concurrency": concurrency, "seconds": round(elapsed, 3),
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1,
                                             int(0.99 * len(latencies)))], 1),
        "max_ms": round(1000 * latencies[-1], 1),
    }


def _login(base: str) -> dict[str, str]:
    """Headers of a logged-in investigator's session: cookie and CSRF token."""
    with httpx.Client(base_url=base) as client:
        token = client.get("/api/session").json()["csrf_token"]
        r = client.post("/api/login", json={"username": "inv1", "password": PASSWORD},
                        headers={"X-CSRF-Token": token})
        r.raise_for_status()
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        return {"X-CSRF-Token": r.json()["csrf_token"], "Cookie": cookie}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--tis-requests", type=int, default=2000)
    parser.add_argument("--subjects", type=int, default=60,
                        help="randomised subjects; visit requests = subjects x 10 weeks")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="bench_web_")
    url = f"sqlite:///{tmp}/bench.db"
    t0 = time.perf_counter()
    set_up(url, args.subjects)
    setup_s = time.perf_counter() - t0
    port = _free_port()
    env = {**os.environ, "MYOTRIAL_SECRET_KEY": "benchmark"}
    server = subprocess.Popen(
        [sys.executable, "-c", "from myotrial.cli import main; main()", "serve", "--port",
         str(port), "--database", url, "--workers", str(args.workers), "--no-migrate"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        headers = _login(base)
        # warm up (imports, numba, connection pool)
        asyncio.run(_drive(port, 4, [("/api/tis", TIS_BODY)] * 20, {}, 200))
        floor = asyncio.run(_drive(port, args.concurrency,
                                   [("/api/logout", {})] * args.tis_requests,
                                   {"X-CSRF-Token": "x"}, 403))
        tis = asyncio.run(_drive(port, args.concurrency,
                                 [("/api/tis", TIS_BODY)] * args.tis_requests, {}, 200))
        visits = [(f"/api/subjects/B{i:04d}/visits",
                   {"visit_week": week, "measures": {**BASELINE, "pga": 3.0}})
                  for week in WEEKS for i in range(args.subjects)]
        visit = asyncio.run(_drive(port, args.concurrency, visits, headers, 201))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    result = {"machine_cpus": os.cpu_count(), "workers": args.workers,
              "setup_seconds": round(setup_s, 1), "web_floor": floor, "api_tis": tis,
              "visit_entry": visit}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{os.cpu_count()} CPUs, {args.workers} worker(s), {args.concurrency} concurrent "
              "clients on 127.0.0.1")
        for name, r in (("web floor", floor), ("POST /api/tis", tis), ("POST visit", visit)):
            print(f"{name:16s} {r['requests']:5d} requests  {r['errors']} errors  "
                  f"p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
                  f"{r['throughput_per_s']:7.1f} req/s")
    if floor["errors"] or tis["errors"] or visit["errors"]:
        raise SystemExit(f"errors: {tis['first_error'] or visit['first_error']}")
    return result


if __name__ == "__main__":
    main()
