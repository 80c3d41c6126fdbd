"""The one set of value parsers (docs/data-format.md, "Missing values" and types): scalar and
column forms accept and reject exactly the same spellings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from myotrial.tables import (
    ValueParseError,
    boolean_column,
    code_column,
    datetime_column,
    is_missing,
    number_column,
    parse_bool,
    parse_code,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_number,
    parse_text,
    text_column,
)

MISSING = [None, float("nan"), pd.NA, "", "  ", "NA", "."]


@pytest.mark.parametrize("value", MISSING)
def test_missing_spellings_are_missing_for_every_parser(value: object) -> None:
    assert is_missing(value)
    for parser in (
        parse_number,
        parse_decimal,
        parse_int,
        parse_bool,
        parse_date,
        parse_datetime,
        parse_text,
    ):
        assert parser(value) is None


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "Infinity", "1e999", "abc", "1,5", True])
def test_numbers_must_be_finite(value: object) -> None:
    with pytest.raises(ValueParseError, match=r"finite number|not true/false"):
        parse_number(value)


def test_number_ranges_from_both_sides_of_each_edge() -> None:
    assert parse_number("0", min=0, max=10) == 0.0  # at the lower edge: closed
    assert parse_number("10", min=0, max=10) == 10.0  # at the upper edge: closed
    with pytest.raises(ValueParseError, match="between 0 and 10"):
        parse_number("-0.001", min=0, max=10)
    with pytest.raises(ValueParseError, match="between 0 and 10"):
        parse_number("10.001", min=0, max=10)
    with pytest.raises(ValueParseError, match="> 0"):
        parse_number("0", min=0, min_exclusive=True)
    assert parse_number("0.0001", min=0, min_exclusive=True) == 0.0001


def test_decimal_is_exact_and_int_rejects_fractions() -> None:
    assert parse_decimal("49.95") == Decimal("49.95")
    assert parse_decimal(0.1) == Decimal("0.1")
    assert parse_int("2.0") == 2
    with pytest.raises(ValueParseError, match="whole number"):
        parse_int("2.5")
    with pytest.raises(ValueParseError, match=">= 1"):
        parse_int("0", min=1)


TRUE = ["true", "TRUE", " yes ", "Y", "t", "1", 1, 1.0, True, np.bool_(True)]
FALSE = ["false", "No", "n", "F", "0", 0, 0.0, False]
NOT_BOOL = ["maybe", "2", 2, "oui", "truee", -1]


@pytest.mark.parametrize("value", TRUE)
def test_true_spellings(value: object) -> None:
    assert parse_bool(value) is True


@pytest.mark.parametrize("value", FALSE)
def test_false_spellings(value: object) -> None:
    assert parse_bool(value) is False


@pytest.mark.parametrize("value", NOT_BOOL)
def test_not_booleans(value: object) -> None:
    with pytest.raises(ValueParseError, match="true or false"):
        parse_bool(value)


def test_boolean_column_agrees_with_parse_bool() -> None:
    values = ["true", "No", "y", "0", "1", "", "NA", ".", "maybe", "2", None]
    col = boolean_column(pd.Series(values, dtype=object))
    for i, v in enumerate(values):
        try:
            expected = parse_bool(v)
            assert not col.bad[i]
            assert (pd.isna(col.values.iloc[i]) and expected is None) or (
                col.values.iloc[i] == expected
            )
        except ValueParseError:
            assert col.bad[i], v


def test_numeric_boolean_column_only_zero_and_one() -> None:
    col = boolean_column(pd.Series([0.0, 1.0, np.nan, 2.0]))
    assert col.bad.tolist() == [False, False, False, True]
    assert col.missing.tolist() == [False, False, True, False]


def test_number_column_agrees_with_parse_number() -> None:
    values = ["1", " 2.5 ", "", "NA", ".", "nan", "inf", "abc", "-3", None, "1e3"]
    col = number_column(pd.Series(values, dtype=object))
    for i, v in enumerate(values):
        try:
            expected = parse_number(v)
            assert not col.bad[i], v
            got = col.values.iloc[i]
            assert (np.isnan(got) and expected is None) or got == expected
        except ValueParseError:
            assert col.bad[i], v


def test_number_column_rejects_infinite_floats() -> None:
    col = number_column(pd.Series([1.0, np.inf, -np.inf, np.nan]))
    assert col.bad.tolist() == [False, True, True, False]


DATETIMES = {
    "2024-03-01T09:30": dt.datetime(2024, 3, 1, 9, 30),
    "2024-03-01 09:30:15": dt.datetime(2024, 3, 1, 9, 30, 15),
    "2024-03-01T09:30Z": dt.datetime(2024, 3, 1, 9, 30),
    "2024-03-01T10:30+01:00": dt.datetime(2024, 3, 1, 9, 30),
    "2024-03-01": dt.datetime(2024, 3, 1),
}
NOT_DATETIMES = ["2024-02-30T09:00", "2024-03-01T25:00", "01/03/2024 09:30", "tomorrow", "2024"]


def test_datetimes_scalar_and_column_agree() -> None:
    col = datetime_column(pd.Series([*DATETIMES, *NOT_DATETIMES, "", "NA"], dtype=object))
    for i, (text, expected) in enumerate(DATETIMES.items()):
        assert parse_datetime(text) == expected
        assert col.values.iloc[i].to_pydatetime() == expected
    n = len(DATETIMES)
    for j, text in enumerate(NOT_DATETIMES):
        with pytest.raises(ValueParseError, match="ISO date-time"):
            parse_datetime(text)
        assert col.bad[n + j], text
    assert col.missing[-2:].tolist() == [True, True]


def test_dates_are_iso_only() -> None:
    assert parse_date("2024-03-01") == dt.date(2024, 3, 1)
    for bad in ("2024-3-1", "01/03/2024", "2024-02-30", "2024-03-01T09:00"):
        with pytest.raises(ValueParseError):
            parse_date(bad)


def test_text_rejects_control_characters() -> None:
    assert parse_text("  Rash ") == "Rash"
    for bad in ("Rash\n", "a\tb", "x\x00"):
        with pytest.raises(ValueParseError, match="control"):
            parse_text(f"{bad}y")
    col = text_column(pd.Series(["ok", "a\nb", "", "NA"], dtype=object))
    assert col.bad.tolist() == [False, True, False, False]
    assert col.missing.tolist() == [False, False, True, True]


def test_codes_any_case_in_the_vocabulary_spelling() -> None:
    assert parse_code("IVIG", ("ivig", "placebo")) == "ivig"
    assert parse_code("f", ("F", "M", "U")) == "F"
    with pytest.raises(ValueParseError, match="one of F, M, U"):
        parse_code("Q", ("F", "M", "U"))
    col = code_column(pd.Series(["m", "Q", ""], dtype=object), ("F", "M", "U"))
    assert col.values.tolist() == ["M", None, None]
    assert col.bad.tolist() == [False, True, False]
