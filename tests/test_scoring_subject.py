"""``score_subject_visits`` (no pandas) equals ``score_visits`` on the table the service used to
build (``_compact``): every output field of every visit, or every problem (rule, column, row,
subject, week and the value as written) in the same order. Random subjects: missing values,
bad values (out of range, text, booleans, NaN), zero baselines, ULN changes, other enzymes,
MMT-8 maxima, missing baselines, duplicate and out-of-range weeks, under several options."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myotrial.db.service.visits import _compact
from myotrial.errors import InputValidationError
from myotrial.scoring import score_visits
from myotrial.scoring.subject import SCORED_FIELDS, score_subject_visits

MEASURES = ("pga", "ptga", "extramuscular", "mmt8", "mmt8_max", "haq", "ck", "aldolase", "ldh",
            "alt", "ast", "ck_uln", "aldolase_uln", "ldh_uln", "alt_uln", "ast_uln", "chaq",
            "chq_phs")
GOOD = {"pga": (0, 10), "ptga": (0, 10), "extramuscular": (0, 10), "mmt8": (0, 150),
        "haq": (0, 3), "ck": (0, 5000), "aldolase": (0, 40), "ldh": (0, 900), "alt": (0, 300),
        "ast": (0, 300), "ck_uln": (150, 250), "aldolase_uln": (5, 9), "ldh_uln": (200, 250),
        "alt_uln": (30, 50), "ast_uln": (30, 50), "chaq": (0, 3), "chq_phs": (10, 60)}
ODD = ("abc", "", " 3.5 ", "NA", ".", "1e3", True, False, math.nan, -1.0, 11, 1e9, "inf",
       "nan", "  ", 0, "0x10", "1,5")


def _equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b) and type(a) is type(b)


def _plain(value: Any) -> Any:
    """A ``score_visits`` cell as the new function writes it (None = missing)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def compare(rows: list[dict[str, Any]], options: dict[str, Any]) -> str:
    """Assert both agree; return which way they went ("scored" or "problems")."""
    frame = _compact(pd.DataFrame(rows))
    try:
        expected = score_visits(frame, **options)
    except InputValidationError as exc:
        with pytest.raises(InputValidationError) as got:
            score_subject_visits(rows, options=options)
        want = exc.problems.astype(object).to_dict("records")
        have = got.value.problems.astype(object).to_dict("records")
        assert len(have) == len(want), (have, want)
        for h, w in zip(have, want, strict=True):
            assert {k: _plain(v) for k, v in h.items()} == {k: _plain(v) for k, v in w.items()}
        return "problems"
    out = score_subject_visits(rows, options=options)
    assert len(out) == len(expected)
    for got_row, (_, want_row) in zip(out, expected.iterrows(), strict=True):
        assert list(got_row) == list(expected.columns)
        for key, want in want_row.items():
            assert _equal(got_row[key], _plain(want)), (key, got_row[key], want)
    return "scored"


def test_example_fields_and_problem() -> None:
    base = {"subject_id": "P1", "pga": 6.0, "ptga": 6.0, "extramuscular": 4.0, "mmt8": 120.0,
            "haq": 1.5, "ck": 1200.0, "ck_uln": 200.0}
    rows = [{**base, "visit_week": 0},
            {**base, "visit_week": 16, "pga": 2.0, "ptga": 3.0, "extramuscular": 1.0,
             "mmt8": 138.0, "haq": 0.75, "ck": 300.0}]
    out = score_subject_visits(rows)
    assert out[1]["tis"] == 75.0 and out[1]["tis_category"] == "major"
    assert out[0]["tis_missing_reason"] == "baseline visit"
    assert set(SCORED_FIELDS) <= set(out[1])
    assert compare(rows, {}) == "scored"
    rows[1]["pga"] = "x"
    rows[1]["ck_uln"] = None
    assert compare(rows, {}) == "problems"


@st.composite
def subjects(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    n = draw(st.integers(1, 6))
    weeks = draw(st.lists(st.sampled_from([0, 4, 8, 12, 16, 28, 40]), min_size=n, max_size=n))
    if draw(st.booleans()):  # usually a baseline first and no repeats
        weeks = [0, *sorted(set(weeks) - {0})][:n]
    if draw(st.integers(0, 9)) == 0:
        weeks[-1] = draw(st.sampled_from([None, -4, 1001, 60]))
    extra = draw(st.sets(st.sampled_from(["aldolase", "ldh", "alt", "ast", "mmt8_max",
                                          "chaq", "chq_phs"]), max_size=3))
    bad_rate = draw(st.sampled_from([0, 0, 0.05, 0.2]))
    missing_rate = draw(st.sampled_from([0, 0.1, 0.3]))
    sid = draw(st.sampled_from(["P001", "P001", "P001", " P001", "P\x01", None]))
    uln = draw(st.sampled_from([150.0, 200.0]))
    rows = []
    for i, week in enumerate(weeks):
        row: dict[str, Any] = {"subject_id": sid if i == 0 else "P001", "visit_week": week}
        for m in MEASURES:
            if m not in GOOD and m != "mmt8_max":
                continue
            if m not in ("pga", "ptga", "extramuscular", "mmt8", "haq", "ck", "ck_uln") and \
                    m not in extra and m.removesuffix("_uln") not in extra:
                row[m] = None
                continue
            u = draw(st.floats(0, 1))
            if m == "mmt8_max":
                value: Any = draw(st.sampled_from([80.0, 150.0, None, 100.0]))
            elif m == "ck_uln" and draw(st.booleans()):
                value = draw(st.sampled_from([uln, 180.0, 0.0]))  # ULN changes, zero ULN
            elif u < missing_rate:
                value = None
            elif u < missing_rate + bad_rate:
                value = draw(st.sampled_from(ODD))
            elif draw(st.integers(0, 7)) == 0:
                value = 0.0  # zero baselines and zero values
            else:
                lo, hi = GOOD[m]
                value = float(draw(st.integers(lo * 4, hi * 4))) / 4
                if draw(st.integers(0, 5)) == 0:
                    value = int(value)
            row[m] = value
        rows.append(row)
    options = draw(st.sampled_from([
        {}, {"population": "adult", "measure_set": "imacs", "mmt8_max": 150.0,
             "earliest_week": 8, "consecutive_visits": 2},
        {"mmt8_max": 80.0}, {"partial": True}, {"earliest_week": 4, "consecutive_visits": 1},
        {"population": "juvenile", "measure_set": "imacs"},
        {"population": "juvenile", "measure_set": "printo", "chq_phs_range": 100.0,
         "partial": True},
        {"max_week": 40}]))
    return rows, options


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subjects())
def test_equals_score_visits_on_random_subjects(case: tuple[list[dict[str, Any]],
                                                            dict[str, Any]]) -> None:
    rows, options = case
    compare(rows, options)


def test_seeded_subjects_cover_both_outcomes() -> None:
    """Both ways are exercised: scored subjects (with confirmed deterioration) and problems."""
    rng = np.random.default_rng(16)
    seen = {"scored": 0, "problems": 0, "cd": 0}
    for _ in range(300):
        n = int(rng.integers(1, 7))
        weeks = [0, 4, 8, 12, 16, 28, 40][:n]
        rows = []
        for w in weeks:
            row: dict[str, Any] = {"subject_id": "S1", "visit_week": w}
            for m, (lo, hi) in GOOD.items():
                if m in ("aldolase", "ldh", "alt", "ast", "aldolase_uln", "ldh_uln",
                         "alt_uln", "ast_uln", "chaq", "chq_phs"):
                    row[m] = None
                    continue
                x = float(rng.uniform(lo, hi))
                row[m] = None if rng.random() < 0.05 else round(x, 1)
            if rng.random() < 0.03:
                row["pga"] = rng.choice(["oops", 12.0, -1.0])
            rows.append(row)
        outcome = compare(rows, {})
        seen[outcome] += 1
        if outcome == "scored":
            seen["cd"] += any(r["cd_confirmed"] for r in score_subject_visits(rows))
    assert seen["scored"] > 50 and seen["problems"] > 5 and seen["cd"] > 5, seen
