"""CLI start-up, measured side by side: each command a fresh subprocess, interleaved, best of N.

Targets (issue 16): ``myotrial --help`` and ``myotrial tis`` within 3x of
``python -c "import typer, rich"``. Wall time and child CPU time (user + system) are both
printed; ratios use wall time. The ``tis`` outputs (text and ``--json``) are checked first.
Imports shown for scale: what ``tis`` no longer pays (numpy, pandas: the one-patient path is plain
Python; pydantic: typer's option coercion, replaced for plain values by ``myotrial.cli._plain``),
and ``import myotrial``.

    python benchmarks/bench_cli.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

TIS = ["tis", "--pga", "6", "2", "--ptga", "6", "3", "--extramuscular", "4", "1", "--mmt8",
       "120", "138", "--haq", "1.5", "0.75", "--ck", "1200", "300", "--ck-uln", "200"]  # fmt: skip


def commands() -> dict[str, list[str]]:
    script = Path(sys.executable).with_name("myotrial")
    cli = [str(script)] if script.exists() else [sys.executable, "-c", "from myotrial.cli "
                                                 "import main; main()"]  # fmt: skip
    py = [sys.executable, "-c"]
    return {
        "import typer, rich (baseline)": [*py, "import typer, rich"],
        "myotrial --help": [*cli, "--help"],
        "myotrial tis (one patient)": [*cli, *TIS],
        "myotrial tis --json": [*cli, *TIS, "--json"],
        "myotrial score --help": [*cli, "score", "--help"],
        "import pydantic (for scale)": [*py, "import pydantic.type_adapter"],
        "import numpy (for scale)": [*py, "import numpy"],
        "import pandas (for scale)": [*py, "import pandas"],
        "import myotrial (for scale)": [*py, "import myotrial"],
    }


def check_outputs(cmds: dict[str, list[str]]) -> None:
    """The measured ``tis`` runs give the right answer (TIS 75, major), as text and JSON."""
    env = {**os.environ, "COLUMNS": "80"}
    text = subprocess.run(cmds["myotrial tis (one patient)"], check=True, capture_output=True,
                          text=True, env=env).stdout  # fmt: skip
    if "TIS 75 / 100 — major improvement" not in text:
        raise SystemExit(f"unexpected myotrial tis output:\n{text}")
    doc = json.loads(subprocess.run(cmds["myotrial tis --json"], check=True, capture_output=True,
                                    text=True, env=env).stdout)  # fmt: skip
    if (doc.get("tis"), doc.get("category")) != (75.0, "major"):
        raise SystemExit(f"unexpected myotrial tis --json output: {doc}")


def run(argv: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "80"})
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cmds = commands()
    check_outputs(cmds)
    best = {k: (math.inf, math.inf) for k in cmds}
    for argv in cmds.values():  # warm the file cache and numba/pyc caches
        run(argv)
    for _ in range(args.repeats):
        for name, argv in cmds.items():
            wall, cpu = run(argv)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    base = best["import typer, rich (baseline)"][0]
    print(f"myotrial CLI start-up, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
          f"best of {args.repeats}, interleaved")  # fmt: skip
    ok = True
    for name, (wall, cpu) in best.items():
        ratio = wall / base
        target = ""
        if name in ("myotrial --help", "myotrial tis (one patient)"):
            met = ratio <= 3.0
            ok &= met
            target = f"  (target <= 3x: {'met' if met else 'NOT met'})"
        print(f"  {name:<32} wall {wall:6.3f} s  cpu {cpu:6.3f} s  {ratio:5.1f}x{target}")
    print("targets met" if ok else "targets NOT met (see docs/scoring.md, command-line start-up)")


if __name__ == "__main__":
    main()
