"""Validation throughput and the error path, side by side with the scoring engine (issue 16
item 2, issue 11 item 5).

Every figure is a best-of-N of interleaved runs in one process (the ratios are what count on
a shared machine). The engine runs blocks of subjects on the cores the process may use, and
validation parses subject ids on a second thread beside the numeric columns; CPU seconds (all
threads) are printed beside the wall times:

* ``validate_visits`` on 10^6 visits, numeric input (DataFrame as built in Python: ``str`` ids,
  float64 columns) and text input (every cell text, as ``read_table`` gives a CSV), against the
  engine (``score_arrays``) on the same visits;
* ``score_visits`` (validate + engine + output columns) against the engine, and the core of a
  wired ``score_visits`` (``prepare_visits`` + ``score_arrays`` on the index it returns);
* the error path: a 10^6-row table with every row invalid (``pga`` above 10 cm) — validated,
  counted and the first 50 formatted; plus every problem written as ``problems.csv`` — against
  scoring the valid table (and, at file level, reading + scoring + writing the scored CSV).

Outputs are checked: the validated table equals the input values, the wired path's scores equal
``score_visits``'s, the error counts every row and the CSV has every problem.

    python benchmarks/bench_validation.py [--rows 1000000] [--repeats 3]
    python benchmarks/bench_validation.py --ratio-only --repeats 7   # issue 16's ratio only
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from myotrial.errors import InputValidationError
from myotrial.scoring import ScoringConfig, score_arrays, score_visits
from myotrial.tables import read_table, validate_visits, write_table
from myotrial.tables.visits import prepare_visits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring import CPU, WEEKS, interleaved, synthetic_arrays


def synthetic(n_visits: int, seed: int = 1) -> pd.DataFrame:
    """Valid visits grouped by subject (weeks 0..40), values on each measure's scale: the
    scoring benchmark's arrays (:func:`bench_scoring.synthetic_arrays`) with zero-padded ids."""
    codes, weeks, cols = synthetic_arrays(n_visits, seed)
    sid = np.char.add("S", np.char.zfill(codes.astype(str), 7))
    return pd.DataFrame(
        {"subject_id": pd.Series(sid, dtype="str"), "visit_week": weeks.astype(np.int64), **cols}
    )


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as text (object dtype), as ``read_table`` returns a CSV."""
    return pd.DataFrame({c: frame[c].astype(str).astype(object) for c in frame.columns})


def engine_inputs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    codes, _ = pd.factorize(frame["subject_id"])
    numeric = {
        c: frame[c].to_numpy(dtype=np.float64)
        for c in frame.columns
        if c not in ("subject_id", "visit_week")
    }
    return codes.astype(np.int64), frame["visit_week"].to_numpy(dtype=np.float64), numeric


def ratio_only(frame: pd.DataFrame, repeats: int) -> None:
    """Issue 16's ratio alone: ``score_visits`` (``str`` and object subject ids) vs the engine."""
    codes, weeks, numeric = engine_inputs(frame)
    obj = frame.assign(subject_id=frame["subject_id"].astype(object))
    for table in (frame, obj):  # outputs checked
        scored = score_visits(table)
        direct = score_arrays(codes, weeks, numeric)
        assert np.array_equal(scored["tis"].to_numpy(), direct["tis"], equal_nan=True)
        assert np.array_equal(scored["cd_confirmed"].to_numpy(), direct["cd_confirmed"])
    n = len(frame)
    print(f"issue 16 ratio: {n:,} visits, best of {repeats} interleaved runs ({os.cpu_count()} "
          f"cores, load average {os.getloadavg()[0]:.1f})")  # fmt: skip
    t = interleaved(
        {
            "engine": lambda: score_arrays(codes, weeks, numeric),
            "score_visits (str ids)": lambda: score_visits(frame),
            "score_visits (object ids)": lambda: score_visits(obj),
            "validate_visits (str ids)": lambda: validate_visits(frame),
        },
        repeats,
    )
    eng, cpu = t["engine"], CPU["engine"]
    for name, secs in t.items():
        print(f"  {name:28s} {secs:6.3f} s wall ({eng / secs:4.0%} of the engine's throughput), "
              f"{CPU[name]:6.3f} CPU-s ({cpu / CPU[name]:4.0%})")  # fmt: skip


def error_of(frame: pd.DataFrame) -> InputValidationError:
    try:
        validate_visits(frame)
    except InputValidationError as exc:
        return exc
    raise AssertionError("the all-invalid table validated")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ratio-only", action="store_true", help="issue 16's ratio only")
    args = parser.parse_args()
    config = ScoringConfig()
    frame = synthetic(args.rows)
    score_visits(frame.head(70))
    if args.ratio_only:
        ratio_only(frame, args.repeats)
        return
    n = len(frame)
    text = as_text(frame)
    bad = frame.assign(pga=frame["pga"] + 10.5)  # every row above the 10 cm scale
    bad_text = as_text(bad)
    codes, weeks, numeric = engine_inputs(frame)
    score_arrays(codes[:70], weeks[:70], {k: v[:70] for k, v in numeric.items()}, config)
    score_visits(frame.head(70))

    # -- checks ---------------------------------------------------------------------------------
    checked = validate_visits(frame)
    assert checked["pga"].equals(frame["pga"]) and checked["visit_week"].tolist()[:7] == [*WEEKS]
    assert validate_visits(text)["ck"].equals(frame["ck"])
    prepared = prepare_visits(frame)
    assert (prepared.index.codes == codes).all() and prepared.index.grouped
    wired = score_arrays(prepared.index.codes, prepared.index.weeks, numeric, config)
    scored = score_visits(frame)
    assert np.array_equal(wired["tis"], scored["tis"].to_numpy(dtype=float), equal_nan=True)
    err = error_of(bad)
    assert err.count == n and str(err).endswith(f"... and {n - 50} more")

    tmp = Path(tempfile.mkdtemp(prefix="bench_validation_"))
    problems_csv = tmp / "problems.csv"

    def wired_core() -> None:
        p = prepare_visits(frame)
        score_arrays(p.index.codes, p.index.weeks, numeric, config)

    def error_written(table: pd.DataFrame) -> None:
        error_of(table).write_problems(problems_csv)

    print(f"myotrial validation benchmark: {n:,} visits, best of {args.repeats} interleaved runs")
    t = interleaved(
        {
            "engine": lambda: score_arrays(codes, weeks, numeric, config),
            "validate numeric": lambda: validate_visits(frame),
            "validate text": lambda: validate_visits(text),
            "score_visits numeric": lambda: score_visits(frame),
            "score_visits text": lambda: score_visits(text),
            "prepare_visits + engine (wired core)": wired_core,
            "error: validate all-invalid (count+first 50)": lambda: error_of(bad),
            "error: + write problems.csv": lambda: error_written(bad),
            "error text: + write problems.csv": lambda: error_written(bad_text),
        },
        args.repeats,
    )
    assert len(pd.read_csv(problems_csv, usecols=["row"])) == n
    eng = t["engine"]
    for name, secs in t.items():
        print(
            f"  {name:48s} {secs:7.3f} s  {n / secs / 1e6:6.2f} M rows/s  {secs / eng:5.2f}x engine"
            f"  ({CPU[name]:.3f} CPU-s)"
        )
    print("  ratios (issue 16: score_visits >= 50% of the engine's throughput):")
    for name in ("score_visits numeric", "prepare_visits + engine (wired core)"):
        print(f"    {name}: {eng / t[name]:.0%} of the engine's throughput")
    print(f"    validate numeric / engine: {t['validate numeric'] / eng:.2f}x")
    sv, svt = t["score_visits numeric"], t["score_visits text"]
    print("  ratios (issue 11: all-invalid error path within 2x of scoring):")
    raised = t["error: validate all-invalid (count+first 50)"]
    print(f"    raise vs score_visits: {raised / sv:.2f}x")
    print(f"    raise + problems.csv vs score_visits: {t['error: + write problems.csv'] / sv:.2f}x")
    print(
        "    text input, raise + problems.csv vs score_visits(text): "
        f"{t['error text: + write problems.csv'] / svt:.2f}x"
    )

    # file level: read the CSV, then score + write the scored CSV, or validate + write problems
    good_csv, bad_csv = tmp / "visits.csv", tmp / "bad.csv"
    write_table(frame, good_csv)
    write_table(bad, bad_csv)
    out_csv = tmp / "scored.csv"
    f = interleaved(
        {
            "file: read + score + write scored.csv": lambda: write_table(
                score_visits(read_table(good_csv)), out_csv
            ),
            "file: read + validate + write problems.csv": lambda: error_written(
                read_table(bad_csv)
            ),
        },
        max(1, args.repeats - 1),
    )
    for name, secs in f.items():
        print(f"  {name:48s} {secs:7.3f} s")
    ratio = (
        f["file: read + validate + write problems.csv"] / f["file: read + score + write scored.csv"]
    )
    print(f"    file level, error path vs scoring: {ratio:.2f}x")


if __name__ == "__main__":
    main()
