"""One set of value parsers for every canonical input table (``docs/data-format.md``).

Two forms of each parser share the same vocabulary of accepted spellings:

- **scalar** parsers (``parse_number``, ``parse_int``, ``parse_decimal``, ``parse_bool``,
  ``parse_date``, ``parse_datetime``, ``parse_text``, ``parse_code``) take one value and return
  the typed value, ``None`` when the value is missing, or raise :class:`ValueParseError` whose
  message is the rule broken (for forms, the web app and the database service);
- **column** parsers (``number_column``, ``integer_column``, ``boolean_column``, ``date_column``,
  ``datetime_column``, ``text_column``, ``code_column``) take a whole pandas column, vectorised,
  and return a :class:`ParsedColumn` (typed values, a ``missing`` mask and a ``bad`` mask) for
  the table validators.

Missing values (data-format.md, "Missing values"): ``None``, NaN, pandas NA/NaT, blank text, and
the text tokens ``NA`` and ``.`` (as exported by R and SAS). Numbers must be finite (``nan``,
``inf`` are rejected as text). Booleans: ``true/false``, ``yes/no``, ``t/f``, ``y/n``, ``1/0``
(any case). Dates: ISO 8601 ``YYYY-MM-DD``. Date-times: ISO 8601 (``2024-03-01T09:30``,
optionally with seconds and a UTC offset; a date alone means midnight); values with an offset are
converted to UTC and returned without time zone, values without one are taken as UTC. Text: no
control characters.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import numpy as np
import pandas as pd

from myotrial.errors import MyotrialError
from myotrial.tables.ranges import nan_range

__all__ = [
    "FALSE_WORDS",
    "MISSING_TOKENS",
    "TRUE_WORDS",
    "ParsedColumn",
    "ValueParseError",
    "boolean_column",
    "code_column",
    "date_column",
    "datetime_column",
    "integer_column",
    "is_missing",
    "missing_mask",
    "number_column",
    "number_values",
    "number_values_range",
    "parse_bool",
    "parse_code",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "parse_int",
    "parse_number",
    "parse_text",
    "text_column",
]

#: Text that means "missing" in any typed column (besides blank): R's ``NA`` and SAS's ``.``.
MISSING_TOKENS: Final = ("NA", ".")
#: Spellings of true and false (compared after stripping and lower-casing).
TRUE_WORDS: Final = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_WORDS: Final = frozenset({"false", "f", "no", "n", "0", "0.0"})

_BLANK_OR_TOKEN: Final = ("", *MISSING_TOKENS)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

NUMBER_RULE: Final = "must be a finite number (blank, NA or . = missing)"
INTEGER_RULE: Final = "must be a whole number (blank, NA or . = missing)"
BOOL_RULE: Final = "must be true or false (also yes/no, 1/0; blank, NA or . = missing)"
DATE_RULE: Final = "must be an ISO date YYYY-MM-DD, e.g. 2024-03-01"
DATETIME_RULE: Final = "must be an ISO date-time, e.g. 2024-03-01T09:30"
TEXT_RULE: Final = "must be text without control characters (tab, newline, ...)"


class ValueParseError(MyotrialError, ValueError):
    """A single value broke a rule; the message is the rule (e.g. "must be true or false")."""


# ----------------------------------------------------------------------------------------------
# scalar parsers


def is_missing(value: object) -> bool:
    """True for ``None``, NaN, pandas NA/NaT, blank text and the tokens ``NA`` and ``.``."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() in _BLANK_OR_TOKEN
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, bool | int | Decimal | dt.date):
        return False
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _scalar(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return value


def parse_decimal(value: object) -> Decimal | None:
    """A finite number, exactly as typed (``Decimal``); ``None`` when missing.

    Used where thresholds are compared exactly (eligibility: ``49.95 > 1.5 * 33.3`` is false).
    """
    value = _scalar(value)
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise ValueParseError("must be a number, not true/false")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueParseError(NUMBER_RULE) from None
    if not number.is_finite():
        raise ValueParseError(NUMBER_RULE)
    return number


def parse_number(
    value: object,
    *,
    min: float | None = None,
    max: float | None = None,
    min_exclusive: bool = False,
) -> float | None:
    """A finite float within ``[min, max]`` (``(min, max]`` if ``min_exclusive``); ``None`` when
    missing. Raises :class:`ValueParseError` naming the rule broken."""
    number = parse_decimal(value)
    if number is None:
        return None
    out = float(number)
    if math.isinf(out):
        raise ValueParseError(NUMBER_RULE)
    _check_range(out, min, max, min_exclusive)
    return out


def _check_range(
    value: float, lo: float | None, hi: float | None, lo_exclusive: bool = False
) -> None:
    if lo is not None and (value <= lo if lo_exclusive else value < lo):
        raise ValueParseError(_range_words(lo, hi, lo_exclusive))
    if hi is not None and value > hi:
        raise ValueParseError(_range_words(lo, hi, lo_exclusive))


def _range_words(lo: float | None, hi: float | None, lo_exclusive: bool = False) -> str:
    if lo is not None and hi is not None and not lo_exclusive:
        return f"must be between {lo:g} and {hi:g}"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_exclusive else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"<= {hi:g}")
    return "must be " + " and ".join(parts)


def parse_int(value: object, *, min: int | None = None, max: int | None = None) -> int | None:
    """A whole number within ``[min, max]``; ``None`` when missing (``2.0`` is 2, ``2.5`` fails)."""
    number = parse_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ValueParseError(INTEGER_RULE)
    out = int(number)
    _check_range(out, min, max)
    return out


def parse_bool(value: object) -> bool | None:
    """``true/false/yes/no/t/f/y/n/1/0`` (any case) -> bool; ``None`` when missing."""
    value = _scalar(value)
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
    raise ValueParseError(BOOL_RULE)


def parse_date(value: object) -> dt.date | None:
    """An ISO date ``YYYY-MM-DD`` -> ``datetime.date``; ``None`` when missing."""
    value = _scalar(value)
    if is_missing(value):
        return None
    if isinstance(value, dt.datetime | pd.Timestamp):
        raise ValueParseError("must be a date (YYYY-MM-DD), not a date-time")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                pass
    raise ValueParseError(DATE_RULE)


def _to_utc_naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def parse_datetime(value: object) -> dt.datetime | None:
    """An ISO 8601 date-time -> naive UTC ``datetime``; ``None`` when missing.

    ``2024-03-01T09:30``, ``2024-03-01 09:30:15``, ``2024-03-01T09:30Z``, ``...+01:00``; a date
    alone is midnight. An offset is converted to UTC; no offset is taken as UTC.
    """
    value = _scalar(value)
    if is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return _to_utc_naive(value.to_pydatetime())
    if isinstance(value, dt.datetime):
        return _to_utc_naive(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        text = value.strip()
        if re.match(r"\d{4}-\d{2}-\d{2}", text):
            try:
                return _to_utc_naive(dt.datetime.fromisoformat(text))
            except ValueError:
                pass
    raise ValueParseError(DATETIME_RULE)


def parse_text(value: object, *, max_length: int = 200) -> str | None:
    """Text stripped of surrounding spaces, without control characters, at most ``max_length``
    characters; ``None`` when missing."""
    value = _scalar(value)
    if is_missing(value):
        return None
    if not isinstance(value, str):
        raise ValueParseError("must be text")
    text = value.strip()
    if _CONTROL.search(text):
        raise ValueParseError(TEXT_RULE)
    if len(text) > max_length:
        raise ValueParseError(f"must be at most {max_length} characters")
    return text


def parse_code(value: object, vocabulary: Iterable[str]) -> str | None:
    """A code of ``vocabulary`` (any case; returned in the vocabulary's spelling); ``None`` when
    missing."""
    codes = tuple(vocabulary)
    value = _scalar(value)
    if is_missing(value):
        return None
    lookup = {c.lower(): c for c in codes}
    if isinstance(value, str) and value.strip().lower() in lookup:
        return lookup[value.strip().lower()]
    raise ValueParseError(f"must be one of {', '.join(codes)}")


# ----------------------------------------------------------------------------------------------
# column parsers (vectorised)


@dataclass(frozen=True)
class ParsedColumn:
    """A parsed column: ``values`` (typed, missing and bad values as NA), and boolean masks
    ``missing`` (blank, ``NA``, ``.``) and ``bad`` (present but broke the rule)."""

    values: pd.Series
    missing: np.ndarray
    bad: np.ndarray


def _text(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip()


def missing_mask(series: pd.Series) -> np.ndarray:
    """Where ``series`` is missing: NA/NaN/None, blank text, ``NA`` or ``.``."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
        return np.asarray(series.isna().to_numpy(), dtype=bool)
    txt = _text(series)
    return np.asarray((txt.isna() | txt.isin(_BLANK_OR_TOKEN)).to_numpy(), dtype=bool)


#: A plain decimal literal (what both pandas and Arrow parse to the same float): optional sign,
#: ASCII digits, optional point, optional exponent. Anything else takes the general parser.
_DECIMAL_LITERAL: Final = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_ASCII_SPACE: Final = " \t\n\r\x0b\x0c"


Numbers = tuple[np.ndarray, np.ndarray | None, float, float]


_range = nan_range


def _finite(arr: np.ndarray) -> Numbers:
    """``arr`` (float64, NaN = missing) with infinities marked bad (``None`` when none is), and
    the range of the finite values. One NaN-ignoring min and max decide the common case without
    a per-row mask."""
    lo, hi = _range(arr)
    if not (math.isinf(lo) or math.isinf(hi)):
        return arr, None, lo, hi
    bad = np.isinf(arr)
    clean = np.where(bad, np.nan, arr)
    return (clean, bad, *_range(clean))


def _numbers_general(series: pd.Series) -> Numbers:
    """The reference parser: text stripped, then ``pandas.to_numeric``; ``NA``/``.`` missing."""
    txt = _text(series)
    blank = (txt.isna() | (txt == "")).fillna(True).to_numpy(dtype=bool)
    parsed = pd.to_numeric(txt.where(~blank), errors="coerce").astype("float64")
    arr = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~blank & (np.isnan(arr) | np.isinf(arr))
    if bad.any():  # only the (few) unparsed cells are looked at for NA / "."
        idx = np.flatnonzero(bad)
        token = txt.iloc[idx].isin(MISSING_TOKENS).to_numpy(dtype=bool)
        bad[idx[token]] = False
        clean = np.where(bad | np.isinf(arr), np.nan, arr)
        return (clean, bad, *_range(clean))
    return (arr, None, *_range(arr))


def _arrow(series: pd.Series) -> Any:
    """``series`` as an Arrow array when that is cheap and exact (text, numbers, all-missing),
    else ``None``."""
    import pyarrow as pa

    try:
        if isinstance(series.dtype, pd.StringDtype):
            arr = pa.array(series.array)
        elif series.dtype == object:
            arr = pa.array(series.to_numpy(), from_pandas=True)
        else:
            return None
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None  # mixed types: the general parser
    t = arr.type
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        # Arrow reads True as 1: numbers only when every object is a number
        kind = pd.api.types.infer_dtype(series.to_numpy(), skipna=True)
        return arr if kind in ("integer", "floating", "mixed-integer-float", "empty") else None
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return arr
    return None


def _numbers_text(arr: Any, series: pd.Series) -> Numbers:
    """Numbers from an Arrow text array, exactly as :func:`_numbers_general` would parse them:
    plain decimal literals vectorised, the rest (spaces, tokens, words) by the general parser."""
    import pyarrow as pa
    import pyarrow.compute as pc

    null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    try:  # every cell a literal (or missing): one cast
        vals = np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), np.float64)
    except pa.ArrowInvalid:
        pass
    else:
        vals, bad, lo, hi = _finite(vals)
        nan_text = np.isnan(vals) & ~null  # "nan" parses but is not a number
        if bad is not None:
            nan_text &= ~bad
        if nan_text.any():
            bad = nan_text if bad is None else bad | nan_text
        return vals, bad, lo, hi
    trimmed = pc.utf8_trim(arr, characters=_ASCII_SPACE)
    literal = np.asarray(
        pc.match_substring_regex(trimmed, _DECIMAL_LITERAL)
        .fill_null(False)
        .to_numpy(zero_copy_only=False),
        bool,
    )
    token = np.asarray(
        pc.is_in(trimmed, value_set=pa.array(list(_BLANK_OR_TOKEN)))
        .fill_null(False)
        .to_numpy(zero_copy_only=False),
        bool,
    )
    cast = pc.cast(pc.if_else(pa.array(literal), trimmed, None), pa.float64())
    vals = np.array(cast.to_numpy(zero_copy_only=False), dtype=np.float64)  # writable
    bad = literal & ~np.isfinite(vals)
    other = np.flatnonzero(~literal & ~token & ~null)
    if other.size:
        sub_vals, sub_bad, _, _ = _numbers_general(series.iloc[other])
        vals[other] = sub_vals
        if sub_bad is not None:
            bad[other] = sub_bad
    if bad.any():
        vals[bad] = np.nan
        return (vals, bad, *_range(vals))
    return (vals, None, *_range(vals))


def number_values_range(series: pd.Series) -> Numbers:
    """Finite numbers of ``series`` as a float64 array (missing and bad cells NaN), the mask
    of bad cells (``None`` when there is none) and the NaN-ignoring min and max of the values
    (NaN when none is given): the fast core of :func:`number_column`.

    Missing cells are ``isnan(values) & ~bad``. The array may be the column's own memory
    (read-only): never write into it.
    """
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return _finite(series.to_numpy(dtype=np.float64, na_value=np.nan))
    arr = _arrow(series)
    if arr is None:
        return _numbers_general(series)
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if pa.types.is_null(t):
        return np.full(len(series), np.nan), None, math.nan, math.nan
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        vals = pc.cast(arr, pa.float64(), safe=False)
        return _finite(np.asarray(vals.to_numpy(zero_copy_only=False), dtype=np.float64))
    return _numbers_text(arr, series)


def number_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray | None]:
    """Finite numbers of ``series`` (float64, missing and bad cells NaN) and the mask of bad
    cells (``None`` when there is none); see :func:`number_values_range`."""
    values, bad, _, _ = number_values_range(series)
    return values, bad


def number_column(series: pd.Series) -> ParsedColumn:
    """Finite numbers as float64 (vectorised). Text is parsed as typed; ``inf``/``nan`` are bad."""
    vals, bad, _, _ = number_values_range(series)
    if bad is None:
        bad = np.zeros(len(vals), dtype=bool)
    missing = np.isnan(vals) & ~bad
    return ParsedColumn(pd.Series(vals, index=series.index, copy=False), missing, bad)


def integer_column(series: pd.Series) -> ParsedColumn:
    """Whole numbers (as float64, so missing stays NaN); fractions are bad."""
    col = number_column(series)
    arr = col.values.to_numpy()
    with np.errstate(invalid="ignore"):
        frac = ~np.isnan(arr) & (arr != np.round(arr))
    bad = col.bad | frac
    return ParsedColumn(col.values.where(~bad), col.missing, bad)


def boolean_column(series: pd.Series) -> ParsedColumn:
    """Booleans (pandas ``boolean`` dtype, missing = <NA>) from bools, 0/1 or the words."""
    if pd.api.types.is_bool_dtype(series):
        values = series.astype("boolean")
        missing = values.isna().to_numpy()
        return ParsedColumn(values, missing, np.zeros(len(series), dtype=bool))
    if pd.api.types.is_numeric_dtype(series):
        num = series.astype("float64")
        missing = num.isna().to_numpy()
        bad = ~missing & ~num.isin((0.0, 1.0)).to_numpy()
        values = pd.Series(
            pd.array(num.to_numpy() == 1.0, dtype="boolean"), index=series.index
        ).mask(missing | bad)
        return ParsedColumn(values, missing, bad)
    txt = _text(series)
    missing = (txt.isna() | txt.isin(_BLANK_OR_TOKEN)).to_numpy(dtype=bool)
    low = txt.str.lower()
    true = low.isin(TRUE_WORDS).fillna(False).to_numpy(dtype=bool)
    false = low.isin(FALSE_WORDS).fillna(False).to_numpy(dtype=bool)
    bad = ~missing & ~true & ~false
    values = pd.Series(pd.array(true, dtype="boolean"), index=series.index).mask(missing | bad)
    return ParsedColumn(values, missing, bad)


def datetime_column(series: pd.Series) -> ParsedColumn:
    """ISO 8601 date-times -> ``datetime64[ns]`` naive UTC (see :func:`parse_datetime`)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series
        if getattr(series.dt, "tz", None) is not None:
            values = series.dt.tz_convert("UTC").dt.tz_localize(None)
        missing = values.isna().to_numpy()
        return ParsedColumn(values, missing, np.zeros(len(series), dtype=bool))
    txt = _text(series)
    missing = (txt.isna() | txt.isin(_BLANK_OR_TOKEN)).to_numpy(dtype=bool)
    looks = txt.str.match(r"\d{4}-\d{2}-\d{2}").fillna(False).to_numpy(dtype=bool)
    usable = ~missing & looks
    parsed = pd.to_datetime(
        txt.where(usable).astype(object), format="ISO8601", utc=True, errors="coerce"
    ).dt.tz_localize(None)
    bad = ~missing & parsed.isna().to_numpy()
    return ParsedColumn(parsed, missing, bad)


def date_column(series: pd.Series) -> ParsedColumn:
    """ISO dates ``YYYY-MM-DD`` -> ``datetime64[ns]`` at midnight."""
    if pd.api.types.is_datetime64_any_dtype(series):
        missing = series.isna().to_numpy()
        times = series.dt.tz_localize(None) if series.dt.tz is not None else series
        bad = ~missing & (times != times.dt.normalize()).to_numpy()
        return ParsedColumn(times.where(~bad), missing, bad)
    txt = _text(series)
    missing = (txt.isna() | txt.isin(_BLANK_OR_TOKEN)).to_numpy(dtype=bool)
    parsed = pd.to_datetime(txt.where(~missing).astype(object), format="%Y-%m-%d", errors="coerce")
    bad = ~missing & parsed.isna().to_numpy()
    return ParsedColumn(parsed, missing, bad)


def text_column(series: pd.Series, *, max_length: int = 200) -> ParsedColumn:
    """Text (object dtype, stripped; missing = None) without control characters."""
    txt = _text(series)
    missing = (txt.isna() | txt.isin(_BLANK_OR_TOKEN)).to_numpy(dtype=bool)
    control = txt.str.contains(_CONTROL, regex=True).fillna(False).to_numpy(dtype=bool)
    long = (txt.str.len() > max_length).fillna(False).to_numpy(dtype=bool)
    bad = ~missing & (control | long)
    values = txt.astype(object).where(~(missing | bad), None)
    return ParsedColumn(values, missing, bad)


def code_column(series: pd.Series, vocabulary: Iterable[str]) -> ParsedColumn:
    """Codes of ``vocabulary`` (any case), returned in the vocabulary's spelling."""
    lookup: Mapping[str, str] = {c.lower(): c for c in vocabulary}
    txt = _text(series)
    missing = (txt.isna() | txt.isin(_BLANK_OR_TOKEN)).to_numpy(dtype=bool)
    mapped = txt.str.lower().map(lookup)
    bad = ~missing & mapped.isna().to_numpy(dtype=bool)
    values = mapped.astype(object).where(~(missing | bad), None)
    return ParsedColumn(values, missing, bad)


def as_problem_text(value: Any) -> str | None:
    """A cell as the user wrote it, for a problem row (``None`` when there is no value)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)
