"""Fuzz of the table validators and ``score_visits`` (issue 11): random tables — random column
subsets, random cells (NaN, inf, huge, negative, numbers as text, words, rich markup such as
``[red]``, control characters, missing tokens), empty frames. The only allowed outcomes are a
result or :class:`~myotrial.errors.InputValidationError`; a result keeps every row in order.

Also: the vectorised number parser gives exactly what the reference parser gives, cell by cell.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myotrial.errors import InputValidationError
from myotrial.scoring import score_visits
from myotrial.tables import (
    validate_adverse_events,
    validate_infusions,
    validate_subjects,
    validate_visits,
)
from myotrial.tables.values import _numbers_general, number_values_range
from myotrial.tables.visits import NUMERIC_VISIT_COLUMNS

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TEXT_CELLS = st.sampled_from(
    [
        "",
        " ",
        "NA",
        ".",
        "na",
        "nan",
        "inf",
        "-inf",
        "1e308",
        "1e309",
        "-1",
        "0",
        "4",
        "16",
        " 7 ",
        "1,5",
        "1_000",
        "[red]",
        "[/]",
        "[bold]x[/bold]",
        "A\x00",
        "B\n",
        "\t",
        "true",
        "no",
        "2024-03-01",
        "2024-03-01T09:30",
        "2024-02-30",
        "ivig",
        "placebo",
        "F",
        "mild",
        "P1",
        "P2",
        "p1 ",
        "x" * 70,
        "\u0661",
        "Infinity",
        "+.5e-3",
    ]
)
CELLS = st.one_of(
    TEXT_CELLS,
    st.text(max_size=6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([None, np.nan, pd.NA, True, False, 0, 4, 150.0, 80.0, 1e300, -0.0]),
)


def column_values(n: int) -> st.SearchStrategy[Any]:
    """A column of ``n`` cells: mixed objects, all text, or all float."""
    return st.one_of(
        st.lists(CELLS, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=object)),
        st.lists(TEXT_CELLS, min_size=n, max_size=n).map(pd.Series),
        st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="float64")
        ),
        st.lists(st.integers(-5, 60), min_size=n, max_size=n).map(pd.Series),
    )


@st.composite
def tables(draw: st.DrawFn, columns: tuple[str, ...]) -> pd.DataFrame:
    n = draw(st.integers(0, 8))
    chosen = draw(st.lists(st.sampled_from(columns), unique=True, max_size=len(columns)))
    data = {c: draw(column_values(n)).reset_index(drop=True) for c in chosen}
    return pd.DataFrame(data, index=pd.RangeIndex(n)) if data else pd.DataFrame(index=range(n))


VISIT_COLUMNS = ("subject_id", "visit_week", "visit_date", *NUMERIC_VISIT_COLUMNS, "note")
SUBJECT_COLUMNS = ("subject_id", "arm", "randomised", "age", "sex", "msa_group", "crossover_week")
INFUSION_COLUMNS = ("subject_id", "start", "end", "product", "dose_g_per_kg", "cycle")
AE_COLUMNS = ("subject_id", "term", "onset", "end", "serious", "severity", "related")


def only_result_or_validation_error(fn: Callable[[pd.DataFrame], Any], frame: pd.DataFrame) -> Any:
    before = frame.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = fn(frame)
        except InputValidationError as exc:
            assert exc.count == len(exc.problems) > 0
            assert str(exc)  # the message formats
            return None
    pd.testing.assert_frame_equal(frame, before)  # the input is never modified
    return out


@FUZZ
@given(tables(VISIT_COLUMNS))
def test_validate_visits_fuzz(frame: pd.DataFrame) -> None:
    out = only_result_or_validation_error(validate_visits, frame)
    if out is not None:
        assert len(out) == len(frame) and out["visit_week"].dtype == np.int64
        assert out["subject_id"].notna().all()


@FUZZ
@given(tables(VISIT_COLUMNS))
def test_score_visits_fuzz(frame: pd.DataFrame) -> None:
    out = only_result_or_validation_error(lambda f: score_visits(f, partial=True), frame)
    if out is not None:
        assert len(out) == len(frame)


@FUZZ
@given(tables(SUBJECT_COLUMNS))
def test_validate_subjects_fuzz(frame: pd.DataFrame) -> None:
    only_result_or_validation_error(lambda f: validate_subjects(f, arms=["ivig", "placebo"]), frame)


@FUZZ
@given(tables(INFUSION_COLUMNS))
def test_validate_infusions_fuzz(frame: pd.DataFrame) -> None:
    only_result_or_validation_error(validate_infusions, frame)


@FUZZ
@given(tables(AE_COLUMNS))
def test_validate_adverse_events_fuzz(frame: pd.DataFrame) -> None:
    only_result_or_validation_error(
        lambda f: validate_adverse_events(f, subject_ids=["P1", "P2"]), frame
    )


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10).flatmap(column_values))
def test_fast_number_parser_equals_the_reference(series: pd.Series) -> None:
    values, bad, lo, hi = number_values_range(series)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        ref = series.to_numpy(dtype=np.float64, na_value=np.nan)
        ref_bad = np.isinf(ref)
        ref = np.where(ref_bad, np.nan, ref)
    else:
        ref, ref_bad_or_none, _, _ = _numbers_general(series)
        ref_bad = np.zeros(len(series), bool) if ref_bad_or_none is None else ref_bad_or_none
    got_bad = np.zeros(len(series), bool) if bad is None else bad
    assert np.array_equal(values, ref, equal_nan=True), (series.tolist(), values, ref)
    assert (got_bad == ref_bad).all(), series.tolist()
    finite = values[~np.isnan(values)]
    if finite.size:
        assert (lo, hi) == (finite.min(), finite.max())
