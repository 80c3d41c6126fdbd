"""Derivation at scale (issue 11 item 5): derive 10^6 visit rows against scoring the same rows,
side by side in one run, best of N, wall and CPU seconds, with peak memory.

    python benchmarks/bench_derive.py [--visits 1000000] [--repeats 2] [--cli parquet,csv]

Two comparisons: in the library, ``derive_all`` against ``score_visits``; and as a user runs
them, ``myotrial derive`` against ``myotrial score`` on the same file (each a fresh process:
start-up, reading, validation, work and writing; ``--cli ''`` skips this), and ``myotrial
derive --tables adrs,adtte`` (no ADEFF) beside them. Target: derive within 2x of score. Also
prints each table's share (ADSL, ADRS, ADEFF, ADTTE on the scored visits) and the cells each
command writes (derivation writes the scored visits and four
tables, ADEFF alone about 8 rows per visit). Inputs are synthetic (the scoring benchmark's
generator): weeks 0, 4, ..., 40 of ProDERM, random values on each measure's scale, half of the
subjects per arm. Checks: derivation scored the same visits (TIS equal), one ADSL row per
subject, and the CLI's scored visits equal ``myotrial score``'s.

Results (2-core shared VM, Python 3.11, pandas 3.0, 2026-12-01; docs/derivation.md):
before (c31f1d9) score 0.25 s, derive_all 59 s (~240x), 10 GB peak; after: see the docs.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_scoring import synthetic_arrays
from myotrial.derive import derive_adeff, derive_adrs, derive_adsl, derive_adtte, derive_all
from myotrial.protocol import load_protocol
from myotrial.scoring import score_visits
from myotrial.tables.subjects import validate_subjects


def tables(n_visits: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    codes, weeks, cols = synthetic_arrays(n_visits)
    ids = np.char.add("S", codes.astype(str))
    visits = pd.DataFrame({"subject_id": ids, "visit_week": weeks, **cols})
    uniq = pd.unique(ids)
    arms = np.where(np.arange(uniq.size) % 2 == 0, "ivig", "placebo")
    subjects = pd.DataFrame({"subject_id": uniq, "arm": arms})
    return visits, subjects


def best(fn: object, repeats: int) -> tuple[float, float]:
    """Best wall and CPU (this process) seconds of ``fn()`` over ``repeats``."""
    walls, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()  # type: ignore[operator]
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


def _run(cmd: list[str], repeats: int) -> tuple[float, float]:
    """Best wall and CPU seconds (the child's user + system) of ``cmd`` over ``repeats``."""
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def _cells(folder: Path, fmt: str) -> int:
    total = 0
    for f in sorted(folder.glob(f"*.{fmt}")):
        frame = pd.read_parquet(f) if fmt == "parquet" else pd.read_csv(f, dtype=str)
        total += frame.size
    return total


def cli(visits: pd.DataFrame, subjects: pd.DataFrame, fmt: str, repeats: int) -> None:
    """``myotrial score`` vs ``myotrial derive`` on the same ``fmt`` files, fresh processes."""
    exe = str(Path(sys.executable).with_name("myotrial"))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        vpath, spath = d / f"visits.{fmt}", d / f"subjects.{fmt}"
        if fmt == "parquet":
            visits.to_parquet(vpath)
            subjects.to_parquet(spath)
        else:
            visits.to_csv(vpath, index=False)
            subjects.to_csv(spath, index=False)
        score_out = d / f"scored.{fmt}"
        t_score, c_score = _run([exe, "score", str(vpath), "-o", str(score_out), "--force"],
                                repeats)
        derive = [exe, "derive", "--visits", str(vpath), "--subjects", str(spath), "--format",
                  fmt, "--force"]
        t_der, c_der = _run([*derive, "-o", str(d / "derived")], repeats)
        t_short, c_short = _run([*derive, "-o", str(d / "short"), "--tables", "adrs,adtte"],
                                repeats)
        cells_short = _cells(d / "short", fmt)
        read = pd.read_parquet if fmt == "parquet" else pd.read_csv
        a, b = read(score_out), read(d / "derived" / f"scored_visits.{fmt}")
        pd.testing.assert_frame_equal(a, b)  # check: the same scored visits
        cells_score = a.size
        cells_der = _cells(d / "derived", fmt)
    print(f"  CLI, {fmt} (fresh processes, best of {repeats}; wall / CPU):")
    print(f"    myotrial score    {t_score:7.2f} s / {c_score:6.2f} s   writes {cells_score:,} "
          "cells")
    print(f"    myotrial derive   {t_der:7.2f} s / {c_der:6.2f} s   writes {cells_der:,} cells "
          f"({cells_der / cells_score:.1f}x)")
    print(f"    derive / score    wall {t_der / t_score:5.2f}x, CPU {c_der / c_score:5.2f}x "
          f"(target <= 2x: {'met' if t_der <= 2 * t_score else 'NOT met'}); per cell written "
          f"{(t_der / cells_der) / (t_score / cells_score):4.2f}x")
    print(f"    myotrial derive --tables adrs,adtte (no ADEFF)  {t_short:7.2f} s / {c_short:6.2f} s"
          f"   writes {cells_short:,} cells; / score: wall {t_short / t_score:5.2f}x, CPU "
          f"{c_short / c_score:5.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--visits", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cli", default="parquet", help="formats for the CLI comparison "
                    "(parquet,csv; '' to skip)")
    args = ap.parse_args()
    proto = load_protocol("proderm")
    visits, subjects = tables(args.visits)
    opts = proto.policy.visits_table_options()
    scored = score_visits(visits, **opts)
    derived = derive_all(visits, subjects, proto)
    # check: derivation scored the same visits as score_visits
    assert len(derived.scored) == len(scored) == len(visits)
    assert np.allclose(derived.scored["tis"].to_numpy(dtype=float),
                       scored["tis"].to_numpy(dtype=float), equal_nan=True)
    assert len(derived.adsl) == len(subjects)
    t_score = best(lambda: score_visits(visits, **opts), args.repeats)
    t_derive = best(lambda: derive_all(visits, subjects, proto), args.repeats)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"{len(visits):,} visits, {len(subjects):,} subjects (best of {args.repeats}; "
          "wall / CPU)")
    print(f"  score_visits        {t_score[0]:7.2f} s / {t_score[1]:6.2f} s")
    print(f"  derive_all          {t_derive[0]:7.2f} s / {t_derive[1]:6.2f} s   wall "
          f"{t_derive[0] / t_score[0]:5.2f}x, CPU {t_derive[1] / t_score[1]:5.2f}x score "
          f"(target <= 2x: {'met' if t_derive[0] <= 2 * t_score[0] else 'NOT met'})")
    subj = validate_subjects(subjects, arms=proto.arm_codes)
    adsl = derived.adsl
    parts = {
        "ADSL": lambda: derive_adsl(scored, subj, proto),
        "ADRS": lambda: derive_adrs(scored, adsl, proto),
        "ADEFF": lambda: derive_adeff(scored, adsl, proto),
        "ADTTE": lambda: derive_adtte(scored, adsl, proto),
    }
    for name, fn in parts.items():
        wall, cpu = best(fn, args.repeats)
        print(f"    {name:<6} {wall:7.2f} s / {cpu:6.2f} s")
    print(f"  ADEFF rows          {len(derived.adeff):,} ({len(derived.adeff) / len(visits):.1f} "
          "per visit)")
    print(f"  peak memory (process) {peak_gb:.1f} GB")
    for fmt in [f for f in args.cli.split(",") if f]:
        cli(visits, subjects, fmt, args.repeats)


if __name__ == "__main__":
    main()
