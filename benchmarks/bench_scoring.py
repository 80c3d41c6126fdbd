"""Scoring throughput: visit-scores per second for 10^6 and 10^7 visits, and the speed ratio
against a straightforward per-row pure-Python scorer of the same rules.

Target (issue 2): >= 10 million visit-scores/s on one core and >= 100x the per-row scorer.
A "visit-score" is one visit scored completely: six percent changes, six TIS components, TIS,
category, enzyme choice, IMACS DOI, worsening clauses A/B/C and confirmed deterioration.

    python benchmarks/bench_scoring.py [--sizes 1000000 10000000] [--per-row 20000]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import time
from functools import partial

import numpy as np
import pandas as pd

from myotrial.scoring import ScoringConfig, score_arrays, score_visits
from myotrial.scoring.reference import reference_score_visit

VISITS_PER_SUBJECT = 7  # weeks 0, 4, 8, 12, 16, 28, 40
WEEKS = np.array([0, 4, 8, 12, 16, 28, 40])


def synthetic_arrays(
    n_visits: int, seed: int = 1
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Synthetic visits (sorted by subject and week), values on each measure's scale."""
    rng = np.random.default_rng(seed)
    n_sub = n_visits // VISITS_PER_SUBJECT
    n = n_sub * VISITS_PER_SUBJECT
    codes = np.repeat(np.arange(n_sub, dtype=np.int64), VISITS_PER_SUBJECT)
    weeks = np.tile(WEEKS, n_sub)
    cols = {
        "pga": np.round(rng.uniform(0, 10, n), 1),
        "ptga": np.round(rng.uniform(0, 10, n), 1),
        "extramuscular": np.round(rng.uniform(0, 10, n), 1),
        "mmt8": np.round(rng.uniform(60, 150, n)),
        "mmt8_max": np.full(n, 150.0),
        "haq": np.round(rng.uniform(0, 3, n) * 8) / 8,
        "ck": np.round(rng.lognormal(6, 1, n)),
        "ck_uln": np.full(n, 200.0),
        "aldolase": np.round(rng.lognormal(2, 0.5, n), 1),
        "aldolase_uln": np.full(n, 7.6),
    }
    return codes, weeks, cols


def best_of(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--per-row", type=int, default=20_000, help="visits for the per-row scorer")
    parser.add_argument("--table", type=int, default=1_000_000, help="visits for the DataFrame API")
    args = parser.parse_args()
    config = ScoringConfig()
    print("myotrial scoring benchmark (one core; OMP_NUM_THREADS=1)")
    engine_rates = {}
    for size in args.sizes:
        codes, weeks, cols = synthetic_arrays(size)
        score_arrays(codes[:70], weeks[:70], {k: v[:70] for k, v in cols.items()}, config)
        secs = best_of(partial(score_arrays, codes, weeks, cols, config), 5)
        rate = len(codes) / secs
        engine_rates[size] = rate
        print(
            f"  engine (score_arrays), {len(codes):>11,} visits: {secs:7.3f} s "
            f"= {rate / 1e6:6.2f} million visit-scores/s"
        )

    codes, weeks, cols = synthetic_arrays(args.table)
    frame = pd.DataFrame(
        {"subject_id": pd.Series(codes).map(lambda c: f"S{c:07d}"), "visit_week": weeks, **cols}
    )
    secs = best_of(lambda: score_visits(frame), 1)
    print(
        f"  table API (validate + score_visits), {len(frame):,} visits: {secs:.3f} s "
        f"= {len(frame) / secs / 1e6:.2f} million visit-scores/s"
    )

    n_rows = args.per_row - args.per_row % VISITS_PER_SUBJECT
    codes, weeks, cols = synthetic_arrays(n_rows, seed=2)
    records = pd.DataFrame({"subject_id": codes, "visit_week": weeks, **cols}).to_dict("records")

    def per_row() -> None:
        baseline = None
        for rec in records:
            if rec["visit_week"] == 0:
                baseline = rec
            reference_score_visit(baseline, rec, exact=False)  # type: ignore[arg-type]

    secs = best_of(per_row, 1)
    py_rate = n_rows / secs
    print(
        f"  per-row pure-Python scorer, {n_rows:,} visits: {secs:.3f} s "
        f"= {py_rate:,.0f} visit-scores/s"
    )
    for size, rate in engine_rates.items():
        print(f"  speed ratio engine/per-row at {size:,}: {rate / py_rate:,.0f}x")
    target_ok = all(r >= 10e6 for r in engine_rates.values())
    print(
        f"  target >= 10 million/s: {'met' if target_ok else 'NOT met'}; "
        f">= 100x: {'met' if min(engine_rates.values()) / py_rate >= 100 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
