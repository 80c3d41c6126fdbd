"""Derivation at scale (issue 11 item 5): ``derive_all`` on 10^6 visit rows against scoring the
same rows (``score_visits``), side by side in one process, best of N, with peak memory.

    python benchmarks/bench_derive.py [--visits 1000000] [--repeats 2]

Target: derive within 2x of score. Inputs are synthetic (the scoring benchmark's generator):
weeks 0, 4, ..., 40 of ProDERM, random values on each measure's scale, half of the subjects
per arm. Also prints each table's share (ADSL, ADRS, ADEFF, ADTTE on the scored visits).

Results (2-core shared VM, Python 3.11, pandas 3.0, 2026-12-01; docs/derivation.md):
before (c31f1d9) score 0.25 s, derive_all 59 s (~240x), 10 GB peak; after: see the docs.
"""

from __future__ import annotations

import argparse
import resource
import sys
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


def best(fn: object, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - t)
    return min(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--visits", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=2)
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
    print(f"{len(visits):,} visits, {len(subjects):,} subjects (best of {args.repeats})")
    print(f"  score_visits        {t_score:7.2f} s")
    print(f"  derive_all          {t_derive:7.2f} s   {t_derive / t_score:5.2f}x score "
          f"(target <= 2x: {'met' if t_derive <= 2 * t_score else 'NOT met'})")
    subj = validate_subjects(subjects, arms=proto.arm_codes)
    adsl = derived.adsl
    parts = {
        "ADSL": lambda: derive_adsl(scored, subj, proto),
        "ADRS": lambda: derive_adrs(scored, adsl, proto),
        "ADEFF": lambda: derive_adeff(scored, adsl, proto),
        "ADTTE": lambda: derive_adtte(scored, adsl, proto),
    }
    for name, fn in parts.items():
        print(f"    {name:<6} {best(fn, args.repeats):7.2f} s")
    print(f"  ADEFF rows          {len(derived.adeff):,} ({len(derived.adeff) / len(visits):.1f} "
          "per visit)")
    print(f"  peak memory (process) {peak_gb:.1f} GB")


if __name__ == "__main__":
    main()
