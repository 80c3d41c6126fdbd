"""CLI start-up, measured side by side: each command a fresh subprocess, interleaved, best of N.

Targets (issue 16): ``myotrial --help`` and ``myotrial tis`` within 3x of
``python -c "import typer, rich"``. Wall time and child CPU time (user + system) are both
printed; ratios use wall time. ``import pandas`` and ``import myotrial`` are shown for scale:
``myotrial/__init__.py`` and ``myotrial.errors`` import pandas, so every command pays for it.

    python benchmarks/bench_cli.py [--repeats 7]
"""

from __future__ import annotations

import argparse
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
        "myotrial score --help": [*cli, "score", "--help"],
        "import pandas (for scale)": [*py, "import pandas"],
        "import myotrial (for scale)": [*py, "import myotrial"],
    }


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
    print("targets met" if ok else "targets NOT met (see docs/scoring.md: pandas at import)")


if __name__ == "__main__":
    main()
