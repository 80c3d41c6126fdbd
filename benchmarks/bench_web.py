"""Web benchmark: the live trial under concurrent clients on loopback, side by side in one run.

For each backend (SQLite file; PostgreSQL by URL) it sets up a trial through the service
(two administrators, a site, an investigator, an approved unblinded statistician, a CSPRNG
list, N screened and randomised subjects with a baseline visit), starts ``myotrial serve``
on 127.0.0.1 and drives, from ``--concurrency`` keep-alive connections (a minimal asyncio
HTTP/1.1 client on the same machine), bounded request sets one after the other:

- *web floor*: a POST refused by the CSRF check (routing, session, access rule, error page);
- *calculator*: ``POST /api/tis`` (public, stores nothing);
- *reads*: ``GET /subjects/{id}`` (the HTML subject page with its SVG plot),
  ``GET /api/subjects/{id}`` (the same timeline as JSON), ``GET /api/subjects`` and
  ``GET /api/dashboard``, as the logged-in investigator, twice: a first pass right after a
  login (audited, so the read cache of web/readcache.py starts cold: each view is built at
  its first request in each worker), then ``--rounds`` rounds of the calculator and the
  read sets again (", again": the views kept), each read's ratio to the calculator run of
  its own round (median and range printed);
- *visit entry*: ``POST /api/subjects/{id}/visits`` (validate, score, audit, commit).

Every response must succeed, or the script fails. It prints p50/p99 and throughput of each,
the CPU each request cost (the server's processes, the PostgreSQL server's processes, the load
generator: from ``/proc``), the ratio of each read to the calculator by throughput and by CPU
per request (the second is robust to other jobs sharing the machine), the audit rows
written by the read phase (must be 0: reads are not audit events), and verifies the audit
chain and the data against it after the concurrent writes (``verify_audit_chain``; the script
fails if it does not verify).

    .venv/bin/python benchmarks/bench_web.py                         # SQLite and, when
    #   $MYOTRIAL_TEST_POSTGRES_URL is set (url=$(bash scripts/start-postgres.sh)), PostgreSQL
    .venv/bin/python benchmarks/bench_web.py --backend postgresql --postgres-url URL --json

Runs with the packages ``make test`` installs (no HTTP client library needed).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import BASELINE, PASSWORD, SECRET, pg_database, set_up_trial

TIS_BODY = {
    "baseline": {"pga": 6, "ptga": 6, "extramuscular": 4, "mmt8": 120, "haq": 1.5, "ck": 1200},
    "follow_up": {"pga": 2, "ptga": 3, "extramuscular": 1, "mmt8": 138, "haq": 0.75, "ck": 300},
    "uln": {"ck": 200},
}
WEEKS = (4, 8, 12, 16, 28, 40)  # the schedule of proderm after baseline
PG_ENV = "MYOTRIAL_TEST_POSTGRES_URL"

Job = tuple[str, str, dict[str, Any] | None]  # method, path, JSON body


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def set_up(url: str, n_subjects: int) -> None:
    """The benchmark's trial (:func:`_shared.set_up_trial`: subjects ``B0000``...)."""
    engine = set_up_trial(url, n_subjects, "B")[2]
    engine.dispose()


def audit_rows(url: str) -> int:
    import sqlalchemy as sa

    from myotrial.db import make_engine, schema

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(schema.audit_log)
                                    ).scalar_one())
    finally:
        engine.dispose()


def verify(url: str) -> dict[str, Any]:
    """The audit chain and the data against it (as ``myotrial db verify-audit``)."""
    import hashlib

    from myotrial.db import make_engine, verify_audit_chain

    engine = make_engine(url)
    key = hashlib.sha256(b"myotrial-list-hmac\x00" + SECRET.encode()).digest()
    t0 = time.perf_counter()
    try:
        report = verify_audit_chain(engine, list_key=key)
    finally:
        engine.dispose()
    return {"ok": report.ok, "rows": report.n_rows, "head_id": report.head_id,
            "problems": [p.detail for p in report.problems[:5]],
            "seconds": round(time.perf_counter() - t0, 2)}


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


def _raw(method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    kind = "" if body is None else "Content-Type: application/json\r\n"
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{kind}"
            f"Content-Length: {len(data)}\r\n{extra}\r\n").encode() + data


async def _drive(port: int, concurrency: int, jobs: list[Job], headers: dict[str, str],
                 expect: int, probe: Callable[[], Any] | None = None) -> dict[str, Any]:
    """``concurrency`` clients, each on its own keep-alive connection, take the next job until
    none is left; latency of each request, throughput over the whole set. ``probe()``, if
    given, is called 0.3 s into the set (its result: ``out["probe"]``)."""
    probed: list[Any] = []

    async def probe_later() -> None:
        await asyncio.sleep(0.3)
        if probe is not None:
            probed.append(probe())

    prober = asyncio.ensure_future(probe_later())
    latencies: list[float] = []
    errors: list[str] = []
    queue = [_raw(m, path, body, headers) for m, path, body in reversed(jobs)]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                raw = queue.pop()
                start = time.perf_counter()
                try:
                    status, text = await _request(reader, writer, raw)
                except (ConnectionError, asyncio.IncompleteReadError) as exc:
                    # counted as a failed request (the script fails), then a new connection
                    line = raw.split(b"\r\n", 1)[0].decode()
                    errors.append(f"{type(exc).__name__}: {exc} ({line})")
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                latencies.append(time.perf_counter() - start)
                if status != expect:
                    errors.append(f"{status} {text[:200]!r}")
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    prober.cancel()
    latencies.sort()
    return {"probe": probed[0] if probed else None,
        "requests": len(latencies), "errors": len(errors), "first_error": errors[:1],
        "concurrency": concurrency, "seconds": round(elapsed, 3),
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1,
                                             int(0.99 * len(latencies)))], 1),
        "max_ms": round(1000 * latencies[-1], 1),
    }


def _processes() -> dict[int, tuple[str, int, float]]:
    """Every process: pid -> (name, parent pid, CPU seconds so far, user + system; for
    PostgreSQL's processes with the CPU of the children they reaped, i.e. of backends that
    exited), from ``/proc``."""
    tick = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[str, int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, _, rest = (entry / "stat").read_text().rpartition(")")
        except OSError:
            continue
        fields = rest.split()
        name = head.partition("(")[2]
        reaped = int(fields[13]) + int(fields[14]) if name == "postgres" else 0
        procs[int(entry.name)] = (name, int(fields[1]),
                                  (int(fields[11]) + int(fields[12]) + reaped) / tick)
    return procs


def _server_tree(server_pid: int, procs: dict[int, tuple[str, int, float]]) -> set[int]:
    """The server and its descendants (its workers; uvicorn: a spawn helper between)."""
    tree = {server_pid}
    for _ in range(3):
        tree |= {pid for pid, (_, ppid, _) in procs.items() if ppid in tree}
    return tree


def _cpu_now(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server (``myotrial serve`` and its worker processes), of the
    PostgreSQL server's processes on this machine (0 for SQLite; with backends that exited),
    and of this process (the load generator)."""
    procs = _processes()
    tree = _server_tree(server_pid, procs)
    own = os.times()
    return {"server": sum(procs[p][2] for p in tree if p in procs),
            "database": sum(cpu for name, _, cpu in procs.values() if name == "postgres"),
            "client": own.user + own.system}


def _connections_per_worker(server_pid: int, port: int) -> list[int]:
    """Established connections to ``port`` held by each process of the server (its workers),
    from ``/proc`` (sockets by inode): how uvicorn's workers split the clients' keep-alive
    connections, which they accept from one shared listening socket."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    counts = []
    for pid in sorted(_server_tree(server_pid, _processes())):
        try:
            links = [os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        held = sum(1 for link in links if link.startswith("socket:[")
                   and link[8:-1] in inodes)
        if held:
            counts.append(held)
    return sorted(counts, reverse=True)


def _run_set(server_pid: int, port: int, concurrency: int, jobs: list[Job],
             headers: dict[str, str], expect: int, *, split: bool = False) -> dict[str, Any]:
    """:func:`_drive` with the CPU it cost per request (server, database, load generator);
    ``split``: also how the workers shared the connections (``connections_per_worker``)."""
    before = _cpu_now(server_pid)
    probe = (lambda: _connections_per_worker(server_pid, port)) if split else None
    out = asyncio.run(_drive(port, concurrency, jobs, headers, expect, probe))
    if split:
        out["connections_per_worker"] = out["probe"]
    after = _cpu_now(server_pid)
    n = max(out["requests"], 1)
    cpu = {k: round(1e3 * (after[k] - before[k]) / n, 3) for k in after}
    cpu["total"] = round(sum(cpu.values()), 3)
    out["cpu_ms_per_request"] = cpu
    return out


def _cookie(response: http.client.HTTPResponse) -> str:
    for name, value in response.getheaders():
        if name.lower() == "set-cookie":
            return value.split(";", 1)[0]
    raise RuntimeError("no session cookie")


def _login(port: int) -> dict[str, str]:
    """Headers of a logged-in investigator's session: cookie and CSRF token."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/api/session")
        r = conn.getresponse()
        cookie, token = _cookie(r), json.loads(r.read())["csrf_token"]
        conn.request("POST", "/api/login",
                     json.dumps({"username": "inv1", "password": PASSWORD}),
                     {"Content-Type": "application/json", "X-CSRF-Token": token,
                      "Cookie": cookie})
        r = conn.getresponse()
        body = json.loads(r.read())
        if r.status != 200:
            raise RuntimeError(f"login failed: {r.status} {body}")
        return {"X-CSRF-Token": body["csrf_token"], "Cookie": _cookie(r)}
    finally:
        conn.close()


def _wait_started(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/openapi.json")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.2)


def run_backend(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Set up, serve, drive every request set, verify the audit chain."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        set_up(url, args.subjects)
    setup_s = time.perf_counter() - t0
    port = _free_port()
    env = {**os.environ, "MYOTRIAL_SECRET_KEY": SECRET}
    log: Any = (subprocess.DEVNULL if args.server_log is None
                else open(args.server_log, "a"))  # noqa: SIM115  (closed below)
    server = subprocess.Popen(
        [sys.executable, "-c", "from myotrial.cli import main; main()", "serve", "--port",
         str(port), "--database", url, "--workers", str(args.workers), "--no-migrate"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    n, c = args.requests, args.concurrency
    sids = [f"B{i:04d}" for i in range(args.subjects)]
    try:
        _wait_started(port, server)
        headers = _login(port)
        # warm up every path in every worker (imports, numba, connection pools)
        # (many connections at once, so that every worker accepts some)
        warm: list[Job] = [("POST", "/api/tis", TIS_BODY), ("GET", f"/subjects/{sids[0]}", None),
                           ("GET", "/api/dashboard", None)] * (32 * args.workers)
        asyncio.run(_drive(port, 16 * args.workers, warm, headers, 200))
        # a new login is audited: it moves the data version, so no view kept by the warm-up
        # is served afterwards (the first read pass starts cold)
        headers = _login(port)
        runs: dict[str, dict[str, Any]] = {}
        pid = server.pid
        runs["web floor"] = _run_set(pid, port, c, [("POST", "/api/logout", {})] * n,
                                     {"X-CSRF-Token": "x"}, 403)
        runs["calculator"] = _run_set(pid, port, c, [("POST", "/api/tis", TIS_BODY)] * n,
                                      {}, 200)
        before = audit_rows(url)
        reads: dict[str, list[Job]] = {
            "subject page": [("GET", f"/subjects/{sids[i % len(sids)]}", None)
                             for i in range(n)],
            "GET /api/subjects/{id}": [("GET", f"/api/subjects/{sids[i % len(sids)]}", None)
                                       for i in range(n)],
            "GET /api/subjects": [("GET", "/api/subjects", None)] * n,
            "GET /api/dashboard": [("GET", "/api/dashboard", None)] * n,
        }
        # first pass: each view is built at its first request in each worker (web/readcache.py
        # keeps it until the data change); second pass: the same requests again, views kept
        for name, jobs in reads.items():
            runs[name] = _run_set(pid, port, c, jobs, headers, 200)
        # then ``--rounds`` rounds: the calculator, then each read set again (views kept);
        # each read's ratio to the calculator run of its own round (noise of a shared machine
        # hits both alike); the runs of the last round are kept for p50/p99
        paired: dict[str, list[float]] = {name: [] for name in reads}
        paired_cpu: dict[str, list[float]] = {name: [] for name in reads}
        for _ in range(args.rounds):
            calc_round = _run_set(pid, port, c, [("POST", "/api/tis", TIS_BODY)] * n, {}, 200)
            runs["calculator, again"] = calc_round
            for name, jobs in reads.items():
                run = _run_set(pid, port, c, jobs, headers, 200)
                runs[f"{name}, again"] = run
                paired[name].append(run["throughput_per_s"] / calc_round["throughput_per_s"])
                paired_cpu[name].append(calc_round["cpu_ms_per_request"]["total"]
                                        / max(run["cpu_ms_per_request"]["total"], 1e-9))
        read_audit_rows = audit_rows(url) - before
        weeks = WEEKS[:args.weeks]
        visits: list[Job] = [("POST", f"/api/subjects/{sid}/visits",
                              {"visit_week": week, "measures": {**BASELINE, "pga": 3.0}})
                             for week in weeks for sid in sids]
        runs["visit entry"] = _run_set(pid, port, c, visits, headers, 201, split=True)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if args.server_log is not None:
            log.close()
    audit = verify(url)
    calc = runs["calculator"]["throughput_per_s"]
    ratios = {name: round(runs[name]["throughput_per_s"] / calc, 3) for name in reads}
    kept = {name: {"median": round(statistics.median(r), 3), "min": round(min(r), 3),
                   "max": round(max(r), 3), "rounds": len(r),
                   "cpu_median": round(statistics.median(paired_cpu[name]), 3),
                   "cpu_min": round(min(paired_cpu[name]), 3),
                   "cpu_max": round(max(paired_cpu[name]), 3)}
            for name, r in paired.items()}
    return {"setup_seconds": round(setup_s, 1), "runs": runs, "read_vs_calculator": ratios,
            "warm_read_vs_calculator": kept,
            "audit_rows_written_by_reads": read_audit_rows, "audit_after_writes": audit}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both",
                        help="both: SQLite, and PostgreSQL when a URL is given")
    parser.add_argument("--postgres-url", default=os.environ.get(PG_ENV),
                        help=f"server URL (default ${PG_ENV}); a new database is made on it "
                        "and dropped afterwards")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--requests", type=int, default=1000,
                        help="requests per read set and for the calculator")
    parser.add_argument("--subjects", type=int, default=150,
                        help="randomised subjects; visit requests = subjects x weeks")
    parser.add_argument("--weeks", type=int, default=4, help="follow-up visits per subject")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of (calculator, reads with the views kept)")
    parser.add_argument("--server-log", type=Path, default=None,
                        help="append the server's output (uvicorn's log) to this file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    backends: list[str] = []
    if args.backend in ("sqlite", "both"):
        backends.append("sqlite")
    if args.backend == "postgresql" or (args.backend == "both" and args.postgres_url):
        if not args.postgres_url:
            raise SystemExit(f"--backend postgresql needs --postgres-url or ${PG_ENV}")
        backends.append("postgresql")
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(), "machine_cpus": os.cpu_count(),
        "workers": args.workers, "concurrency": args.concurrency,
        "client": "asyncio HTTP/1.1 client on the same machine", "backends": {}}
    failed: list[str] = []
    for backend in backends:
        if backend == "sqlite":
            url, drop = f"sqlite:///{tempfile.mkdtemp(prefix='bench_web_')}/bench.db", None
        else:
            url, drop = pg_database(args.postgres_url, "bench_web")
        try:
            out = run_backend(url, args)
        finally:
            if drop is not None:
                drop()
        result["backends"][backend] = out
        failed += [f"{backend} {name}: {r['first_error']}" for name, r in out["runs"].items()
                   if r["errors"]]
        if not out["audit_after_writes"]["ok"]:
            failed.append(f"{backend}: audit chain does not verify "
                          f"{out['audit_after_writes']['problems']}")
        if out["audit_rows_written_by_reads"]:
            failed.append(f"{backend}: reads wrote {out['audit_rows_written_by_reads']} "
                          "audit rows")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    if failed:
        raise SystemExit("FAILED: " + "; ".join(failed))
    return result


def _rounds(out: dict[str, Any]) -> int:
    return max((w["rounds"] for w in out["warm_read_vs_calculator"].values()), default=0)


def _print(result: dict[str, Any]) -> None:
    print(f"{result['date']}, {result['machine_cpus']} CPUs, {result['workers']} worker(s), "
          f"{result['concurrency']} concurrent clients on 127.0.0.1 (the client shares the "
          "machine)")
    for backend, out in result["backends"].items():
        calc = out["runs"]["calculator"]["throughput_per_s"]
        print(f"\n{backend} (set-up {out['setup_seconds']} s)")
        print(f"  {'request set':30s} {'n':>5s} {'err':>3s} {'p50 ms':>8s} {'p99 ms':>8s} "
              f"{'req/s':>8s} {'vs calc':>7s}   CPU ms/request: server + database + client")
        for name, r in out["runs"].items():
            base = (out["runs"]["calculator, again"]["throughput_per_s"]
                    if name.endswith(", again") else calc)
            ratio = f"{r['throughput_per_s'] / base:7.2f}"
            cpu = r.get("cpu_ms_per_request", {})
            spent = ("" if not cpu else f"   {cpu['total']:.3f} = {cpu['server']:.3f} + "
                     f"{cpu['database']:.3f} + {cpu['client']:.3f}")
            print(f"  {name:30s} {r['requests']:5d} {r['errors']:3d} {r['p50_ms']:8.1f} "
                  f"{r['p99_ms']:8.1f} {r['throughput_per_s']:8.1f} {ratio}{spent}")
        print(f"  views kept, each read vs the calculator of its round (median, min-max over "
              f"{_rounds(out)} rounds), by requests per second and by CPU per request "
              "(calculator's / read's, all processes: robust to other jobs on the machine):")
        for name, w in out["warm_read_vs_calculator"].items():
            print(f"    {name:24s} {w['median']:5.2f} ({w['min']:.2f}-{w['max']:.2f})   CPU "
                  f"{w['cpu_median']:5.2f} ({w['cpu_min']:.2f}-{w['cpu_max']:.2f})")
        split = out["runs"]["visit entry"].get("connections_per_worker")
        if split:
            print(f"  visit entry: the clients' connections per worker {split} (uvicorn's "
                  "workers accept from one shared socket; the busier worker's clients wait "
                  "longer)")
        a = out["audit_after_writes"]
        print(f"  audit rows written by the reads: {out['audit_rows_written_by_reads']}")
        print(f"  audit chain after the concurrent writes: {'VERIFIED' if a['ok'] else 'FAILED'}"
              f" ({a['rows']} rows, data replayed, {a['seconds']} s)"
              + ("" if a["ok"] else f" {a['problems']}"))


if __name__ == "__main__":
    main()
