"""The one-patient calculator (plain Python, no numpy) equals the engine, field by field.

:func:`myotrial.scoring.single.score_patient` runs the engine's row logic (``_rows.score_chunk``)
on plain lists, after :func:`~myotrial.tables.ranges.check_measure_values`, the scalar twin of
the table validator's range checks. Each random patient here is also scored the way the
calculator did before it dropped numpy (numpy arrays, the array range checks
:func:`~myotrial.tables.ranges.check_measure_ranges`, ``ScoringConfig``, ``score_arrays``, both
uncompiled and compiled), and everything is compared: every raw engine output of both rows bit for
bit (TIS, points, codes, absolute and relative changes: NaN, inf and -0.0 included), the
breakdown returned (TIS, points, category, DOI, clauses, missing measures, enzyme), and for bad
input the exception (type, message and every located problem).
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from myotrial.errors import InputValidationError, Problem
from myotrial.rules import load_scales
from myotrial.scoring import engine, single
from myotrial.scoring.single import PATIENT_MEASURES, score_patient
from myotrial.tables.ranges import check_measure_ranges, check_measure_values

N_PATIENTS = 4000
SCALES = load_scales()
ENZYMES = SCALES.enzymes


# --------------------------------------------------------------------------------------------
# The array path: score_patient as it was (numpy, check_measure_ranges, score_arrays)
# --------------------------------------------------------------------------------------------


def _array_pair(column: str, b: Any, f: Any, problems: list[Problem]) -> npt.NDArray[np.float64]:
    out = np.full(2, np.nan)
    for i, value in enumerate((b, f)):
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems.append(single._problem(i, column, value, "must be a number (blank = missing)"))
            continue
        if not math.isfinite(number):
            problems.append(single._problem(i, column, value, "must be a number (blank = missing)"))
            continue
        out[i] = number
    return out


def _array_path(
    baseline: Mapping[str, Any],
    follow_up: Mapping[str, Any],
    *,
    ulns: Mapping[str, Any] | None = None,
    population: str = "adult",
    measure_set: str = "imacs",
    mmt8_max: Any = 150.0,
    chq_phs_range: Any = None,
    compiled: bool = False,
) -> tuple[dict[str, npt.NDArray[np.generic]], dict[str, Any]]:
    """The engine's raw outputs and the breakdown, as ``score_patient`` computed them on numpy."""
    unknown = sorted((set(baseline) | set(follow_up)) - set(PATIENT_MEASURES))
    if unknown:
        raise ValueError(
            f"unknown measure(s): {', '.join(unknown)}; valid: {', '.join(PATIENT_MEASURES)}"
        )
    numeric: dict[str, npt.NDArray[np.float64]] = {}
    problems: list[Problem] = []
    for name in PATIENT_MEASURES:
        b, f = baseline.get(name), follow_up.get(name)
        if b is None and f is None:
            continue
        numeric[name] = _array_pair(name, b, f, problems)
    for enzyme, uln in (ulns or {}).items():
        if uln is not None:
            numeric[f"{enzyme}_uln"] = _array_pair(f"{enzyme}_uln", uln, uln, problems)
    numeric["mmt8_max"] = _array_pair("mmt8_max", mmt8_max, mmt8_max, problems)
    if not problems:

        def add(mask: npt.NDArray[np.bool_], column: str, rule: str) -> None:
            for i in np.flatnonzero(mask).tolist():
                value = numeric[column][i] if column in numeric else None
                problems.append(single._problem(i, column, value, rule))

        if not float(mmt8_max) > 0:
            problems.append(single._problem(0, "mmt8_max", mmt8_max, "mmt8_max must be > 0"))
        check_measure_ranges(numeric, add)
    if problems:
        raise InputValidationError(problems, "visits")
    config = engine.ScoringConfig(
        population=population,
        measure_set=measure_set,
        partial=True,
        mmt8_max=mmt8_max,
        chq_phs_range=chq_phs_range,
    )
    res = engine.score_arrays(
        np.zeros(2, dtype=np.int64),
        np.array([0.0, 1.0]),
        numeric,
        config,
        details=True,
        compiled=compiled,
    )
    return res, single._breakdown(res, numeric, population, measure_set)


def _plain_path(
    baseline: Mapping[str, Any],
    follow_up: Mapping[str, Any],
    *,
    ulns: Mapping[str, Any] | None = None,
    population: str = "adult",
    measure_set: str = "imacs",
    mmt8_max: Any = 150.0,
    chq_phs_range: Any = None,
) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """The plain-Python steps of ``score_patient``, keeping the raw outputs."""
    numeric = single._validated(baseline, follow_up, ulns, mmt8_max)
    single._check_options(population, measure_set, mmt8_max, chq_phs_range)
    res = single._evaluate(numeric, population, measure_set, mmt8_max, chq_phs_range)
    return res, single._breakdown(res, numeric, population, measure_set)


def _outcome(fn: Callable[[], Any]) -> tuple[Any, ...]:
    """What a call gives: its value, or its exception (type, message, located problems)."""
    try:
        return ("ok", fn())
    except InputValidationError as exc:
        records = exc.problems.to_dict("records")
        return ("invalid", type(exc), str(exc), repr(records))
    except Exception as exc:  # any exception must be the same on both paths
        return ("error", type(exc), str(exc))


def _bits(values: Any, dtype: np.dtype[Any]) -> list[Any]:
    """Values as comparable exactly: floats by repr (NaN, inf, -0.0 distinct), codes as ints."""
    if dtype.kind == "f":
        return [repr(float(v)) for v in values]
    return [int(v) for v in values]


# --------------------------------------------------------------------------------------------
# Random patients: values on band edges, zeros, out of range, non-finite, not numbers
# --------------------------------------------------------------------------------------------


def _measure_value(rng: random.Random, name: str, hi_mmt8: float, messy: float) -> Any:
    scale = SCALES.measures.get(name)
    lo = scale.min if scale is not None and scale.min is not None else 0.0
    if name == "mmt8":
        hi = hi_mmt8
    elif scale is not None and scale.max is not None:
        hi = scale.max
    else:
        hi = 100.0 if name == "chq_phs" else 3000.0  # enzymes (U/L): no upper bound
    if rng.random() >= messy:
        if rng.random() < 0.6:  # a grid of 5% of the range: changes land exactly on band edges
            return lo + (hi - lo) * rng.randrange(21) / 20
        return rng.uniform(lo, hi)
    u = rng.random()
    if u < 0.40:
        return None
    if u < 0.86:
        return rng.choice([lo, hi, lo, 0, 1])
    if u < 0.92:  # out of range
        return rng.choice([lo - 0.5, hi + 1.0, -1e-9, hi * 1.0000001 + 1e-9, 1e300])
    if u < 0.95:
        return rng.choice([math.nan, math.inf, -math.inf])
    if u < 0.98:  # other types a caller may pass
        return rng.choice(
            [np.float64(lo + (hi - lo) / 4), np.float32(0.1), np.int64(2), 3, "3.5", True]
        )
    return rng.choice(["abc", "", [], "nan"])


def _uln(rng: random.Random, messy: float) -> Any:
    if rng.random() >= messy:
        return rng.choice([200.0, 45.0, 7.5, 250, 33.3, 1.0])
    return rng.choice([None, 0.0, -5.0, math.nan, math.inf, "x", np.float64(60.0)])


def _patient(rng: random.Random) -> dict[str, Any]:
    population = rng.choice(["adult"] * 6 + ["juvenile"] * 4 + ["child"] * (rng.random() < 0.05))
    measure_set = "imacs"
    u = rng.random()
    if u < 0.15:
        measure_set = "printo"
    elif u < 0.17:
        measure_set = "bogus"
    chq: Any = None
    if measure_set == "printo" or rng.random() < 0.05:
        odd = [None, 0.0, -1.0, math.nan, math.inf, True, "100"]
        chq = rng.choice([60.0, 100.0, 37.5] * 10 + odd)
    mmt8_max: Any = rng.choice(
        [150.0] * 40 + [80.0] * 10 + [150, np.int64(80), 100.0, 0.0, -5.0, math.nan, "150", "x"]
    )
    hi_mmt8 = 80.0 if mmt8_max in (80.0, 80) else 150.0
    used = {"pga", "ptga", "extramuscular", "mmt8", *ENZYMES}
    used |= {"chaq"} if population == "juvenile" else {"haq"}
    if measure_set == "printo":
        used |= {"cmas", "das", "chq_phs"}
    messy = rng.choice([0.0, 0.0, 0.02, 0.05, 0.1, 0.3])  # share of missing or odd values
    baseline: dict[str, Any] = {}
    follow_up: dict[str, Any] = {}
    measured = {e for e in ENZYMES if rng.random() < 0.4}
    for name in PATIENT_MEASURES:
        given = 1.0 if name in used - set(ENZYMES) or name in measured else messy / 3
        for visit in (baseline, follow_up):
            if rng.random() < given:
                visit[name] = _measure_value(rng, name, hi_mmt8, messy)
    if rng.random() < 0.01:
        rng.choice([baseline, follow_up])["unknown_measure"] = 1.0
    ulns = {
        e: _uln(rng, messy)
        for e in ENZYMES
        if ((rng.random() >= messy) if e in measured else (rng.random() < 0.1))
    }
    return {
        "baseline": baseline,
        "follow_up": follow_up,
        "ulns": ulns if ulns or rng.random() < 0.5 else None,
        "population": population,
        "measure_set": measure_set,
        "mmt8_max": mmt8_max,
        "chq_phs_range": chq,
    }


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_thousands_of_random_patients_give_identical_results_and_errors() -> None:
    rng = random.Random(20261201)
    keys = ("kind", "cat", "doi", "worse", "clause", "enz", "change")
    seen: dict[str, set[Any]] = {k: set() for k in keys}
    for n in range(N_PATIENTS):
        case = _patient(rng)
        b, f = case.pop("baseline"), case.pop("follow_up")
        plain = _outcome(partial(_plain_path, b, f, **case))
        public = _outcome(partial(score_patient, b, f, **case))
        for compiled in (False, True):
            ref = _outcome(partial(_array_path, b, f, compiled=compiled, **case))
            label = f"patient {n}: {b} {f} {case} compiled={compiled}"
            assert plain[0] == ref[0], (label, plain, ref)
            if ref[0] != "ok":
                assert plain == ref, label
                assert public == ref, label
                continue
            (p_res, p_out), (r_res, r_out) = plain[1], ref[1]
            assert set(p_res) == set(r_res), label
            for key, arr in r_res.items():
                assert _bits(p_res[key], arr.dtype) == _bits(arr, arr.dtype), (label, key)
            assert repr(p_out) == repr(r_out), label
            assert repr(public[1]) == repr(r_out), label
        seen["kind"].add(ref[0] if ref[0] == "ok" else ref[1].__name__)
        if ref[0] == "ok":
            out = ref[1][1]
            seen["cat"].add(out["category"])
            seen["doi"].add(out["doi_met"])
            seen["worse"].add(out["worsening"])
            seen["clause"].add(out["worsening_clauses"])
            seen["enz"].add(out["measures"][4]["measure"])
            for m in out["measures"]:
                pct = m["percent_improvement"]
                kind = "none" if pct is None else "inf" if math.isinf(pct) else "finite"
                seen["change"].add(kind)
    # the random patients reached every outcome (not a vacuous comparison)
    assert seen["kind"] >= {"ok", "InputValidationError", "ValueError", "ScoringOptionError"}
    assert seen["cat"] >= {None, "none", "minimal", "moderate", "major"}
    assert seen["doi"] == {None, True, False}
    assert seen["worse"] == {None, True, False}
    assert len(seen["clause"]) >= 5, seen["clause"]
    assert len(seen["enz"]) >= 4, seen["enz"]
    assert seen["change"] == {"none", "inf", "finite"}  # zero baselines: relative change +/-inf


def test_a_zero_baseline_gives_an_infinite_relative_change_on_both_paths() -> None:
    b = {"pga": 0.0, "ptga": 0.0, "extramuscular": 0.0, "mmt8": 0.0, "haq": 0.0, "ck": 0.0}
    f = {"pga": 2.0, "ptga": 0.0, "extramuscular": 1.0, "mmt8": 30.0, "haq": 0.5, "ck": 300.0}
    p_res, p_out = _plain_path(b, f, ulns={"ck": 200.0})
    r_res, r_out = _array_path(b, f, ulns={"ck": 200.0})
    assert p_out["measures"][4]["percent_improvement"] == -math.inf
    assert p_res["relative_mmt8"][1] == math.inf
    assert p_res["relative_ptga"][1] == 0.0
    for key, arr in r_res.items():
        assert _bits(p_res[key], arr.dtype) == _bits(arr, arr.dtype), key
    assert repr(p_out) == repr(r_out)


def test_ieee_division_matches_numpy() -> None:
    values = [0.0, -0.0, 1.5, -2.0, math.inf, -math.inf, math.nan, 1e-300, 1e300]
    with np.errstate(all="ignore"):
        for a in values:
            for b in values:
                expected = float(np.float64(a) / np.float64(b))
                assert repr(single._ieee_div(a, b)) == repr(expected), (a, b)


def test_code_tables_are_the_engines() -> None:
    assert single._CATEGORY_LABELS == engine.CATEGORY_LABELS
    assert single._CLAUSE_LABELS == engine.CLAUSE_LABELS


@pytest.mark.parametrize("seed", range(3))
def test_scalar_range_checks_equal_the_array_checks(seed: int) -> None:
    """The twin on tables of one to six rows (per-row MMT-8 maxima, NaN maxima, ULN gaps)."""
    rng = random.Random(seed)
    columns = [*SCALES.measures, *ENZYMES, *(f"{e}_uln" for e in ENZYMES), "mmt8_max"]
    for _ in range(3000):
        n = rng.randint(1, 6)
        table: dict[str, list[float]] = {}
        for name in columns:
            if rng.random() < 0.5:
                continue
            if name == "mmt8_max":
                pool = [150.0, 80.0, 150.0, 100.0, math.nan, 0.0]
            elif name.endswith("_uln"):
                pool = [200.0, 45.0, 0.0, -1.0, math.nan, math.inf]
            else:
                pool = [0.0, 1.0, 2.5, 10.0, 52.0, 90.0, 150.0, -1.0, 3000.0, math.nan, math.inf]
            table[name] = [rng.choice(pool) for _ in range(n)]
        if "mmt8" in table and "mmt8_max" not in table:
            table["mmt8_max"] = [150.0] * n  # as the validator fills it in
        got: list[tuple[list[int], str, str]] = []
        want: list[tuple[list[int], str, str]] = []

        def add_rows(rows: list[int], col: str, rule: str, out: list[Any] = got) -> None:
            out.append((rows, col, rule))

        def add_mask(mask: Any, col: str, rule: str, out: list[Any] = want) -> None:
            out.append((np.flatnonzero(mask).tolist(), col, rule))

        check_measure_values(table, add_rows)
        check_measure_ranges({k: np.array(v) for k, v in table.items()}, add_mask)
        # an empty row list (or all-false mask) adds nothing
        assert [g for g in got if g[0]] == [w for w in want if w[0]], table


def test_one_patient_imports_no_numpy() -> None:
    code = (
        "import sys\n"
        "from myotrial.scoring.single import score_patient\n"
        "r = score_patient({'pga': 6, 'ptga': 6, 'extramuscular': 4, 'mmt8': 120, 'haq': 1.5,"
        " 'ck': 1200}, {'pga': 2, 'ptga': 3, 'extramuscular': 1, 'mmt8': 138, 'haq': 0.75,"
        " 'ck': 300}, ulns={'ck': 200})\n"
        "assert r['tis'] == 75.0, r\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'numba') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
