"""The canonical ``visits`` table: column contract and boundary validation.

Contract: ``shared/reference/data-format.md`` (visits). Ranges come from
``myotrial/rules/measures.toml``. Every problem is collected and raised at once as an
:class:`~myotrial.errors.InputValidationError` (row, subject, visit, column, value, rule); values
are never clipped and rows never dropped. Extra columns are kept unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from myotrial.errors import PROBLEM_COLUMNS, InputValidationError
from myotrial.rules import load_scales

__all__ = [
    "ENZYME_COLUMNS",
    "NUMERIC_VISIT_COLUMNS",
    "ULN_COLUMNS",
    "check_measure_ranges",
    "validate_visits",
]

_SCALES = load_scales()
ENZYME_COLUMNS: tuple[str, ...] = _SCALES.enzymes
ULN_COLUMNS: tuple[str, ...] = tuple(f"{e}_uln" for e in ENZYME_COLUMNS)
NUMERIC_VISIT_COLUMNS: tuple[str, ...] = (
    "visit_week",
    *_SCALES.measures,
    "mmt8_max",
    *ENZYME_COLUMNS,
    *ULN_COLUMNS,
)
DEFAULT_MMT8_MAX = float(_SCALES.measures["mmt8"].default_max or 150.0)


def _fmt(values: pd.Series) -> pd.Series:
    return values.map(
        lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
    )


class _Collector:
    """Accumulates located problems as small frames (vectorised: one frame per rule)."""

    def __init__(self, raw: pd.DataFrame, table: str) -> None:
        self.raw = raw
        self.table = table
        self.parts: list[pd.DataFrame] = []

    def _text(self, column: str, idx: np.ndarray) -> np.ndarray | None:
        """Values of ``column`` at the problem rows only, as the user wrote them."""
        if column not in self.raw:
            return None
        return _fmt(self.raw[column].iloc[idx]).to_numpy()

    def add(
        self,
        mask: np.ndarray | pd.Series,
        column: str | None,
        rule: str,
        values: pd.Series | None = None,
    ) -> None:
        m = np.asarray(mask, dtype=bool)
        if not m.any():
            return
        idx = np.flatnonzero(m)
        part = pd.DataFrame(
            {
                "table": self.table,
                "row": idx + 1,
                "subject_id": self._text("subject_id", idx),
                "visit_week": self._text("visit_week", idx),
                "column": column,
                "value": (
                    _fmt(values.iloc[idx]).to_numpy()
                    if values is not None
                    else (self._text(column, idx) if column is not None else None)
                ),
                "rule": rule,
            }
        )
        self.parts.append(part)

    def raise_if_any(self) -> None:
        if self.parts:
            frame = pd.concat(self.parts, ignore_index=True).reindex(columns=list(PROBLEM_COLUMNS))
            frame = frame.sort_values(["row", "column"], kind="stable", na_position="first")
            raise InputValidationError(frame.reindex(columns=list(PROBLEM_COLUMNS)), self.table)


def _range_rule(lo: float | None, hi: float | str | None, label: str) -> str:
    if hi is None:
        return f"{label} must be >= {lo:g}"
    hi_txt = hi if isinstance(hi, str) else f"{hi:g}"
    return f"{label} must be between {lo:g} and {hi_txt}"


def check_measure_ranges(
    numeric: Mapping[str, np.ndarray], add: Callable[[np.ndarray, str, str], None]
) -> None:
    """Apply the scale-range, enzyme and ULN rules of ``measures.toml`` to numeric columns.

    ``numeric`` maps visits-table columns to float arrays (NaN = missing; ``mmt8_max`` filled
    in); ``add(mask, column, rule)`` receives every violation. Shared by the table validator and
    the single-patient calculator so both say exactly the same thing.
    """
    for name, scale in _SCALES.measures.items():
        if name not in numeric:
            continue
        v = numeric[name]
        lo = scale.min if scale.min is not None else -np.inf
        if scale.max_column is not None:
            hi_arr = numeric[scale.max_column]
            hi_txt: float | str | None = scale.max_column
        elif scale.max is not None:
            hi_arr = np.full(len(v), scale.max)
            hi_txt = scale.max
        else:
            hi_arr = np.full(len(v), np.inf)
            hi_txt = None
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(v) & ((v < lo) | (v > hi_arr))
        if scale.max_column is not None and bad.any():
            for hi in np.unique(hi_arr[bad]):
                add(
                    bad & (hi_arr == hi),
                    name,
                    _range_rule(lo, f"{hi:g} ({scale.max_column})", scale.label),
                )
        else:
            add(bad, name, _range_rule(lo, hi_txt, scale.label))

    for enz, uln in zip(ENZYME_COLUMNS, ULN_COLUMNS, strict=True):
        if enz in numeric:
            v = numeric[enz]
            add(~np.isnan(v) & (v < 0), enz, f"{enz} must be >= 0 (U/L)")
            u = numeric[uln] if uln in numeric else np.full(len(v), np.nan)
            add(
                ~np.isnan(v) & np.isnan(u),
                uln,
                f"{uln} (upper limit of normal) is required when {enz} is given",
            )
        if uln in numeric:
            u = numeric[uln]
            add(~np.isnan(u) & (u <= 0), uln, f"{uln} must be > 0")


def validate_visits(
    visits: pd.DataFrame,
    *,
    mmt8_max: float | None = None,
    require_baseline: bool = True,
    required_measures: Sequence[str] = (),
) -> pd.DataFrame:
    """Validate a visits table and return a typed copy (the input is never modified).

    Checks (data-format.md, visits): required ``subject_id`` and integer ``visit_week >= 0``;
    numeric measure columns parse as numbers and lie in their scale ranges (``measures.toml``);
    MMT-8 within ``0..mmt8_max`` (per-row ``mmt8_max`` column, else ``mmt8_max`` argument, else
    150); enzymes >= 0 with a ULN > 0 given for every enzyme value; no duplicate
    ``subject_id`` + ``visit_week``; every subject has a baseline (week 0) row.

    Returns
    -------
    pandas.DataFrame
        Same rows and order, numeric columns as float64 (``visit_week`` int64), ``subject_id``
        as text, ``mmt8_max`` filled with the default where blank; other columns untouched.

    Raises
    ------
    InputValidationError
        With every problem found, located by row, subject, visit and column.
    """
    if not isinstance(visits, pd.DataFrame):
        raise TypeError(f"visits must be a pandas DataFrame, got {type(visits).__name__}")
    raw = visits.copy(deep=False)  # copy-on-write: the input is never modified
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    if raw.columns.duplicated().any():
        dup = sorted(set(raw.columns[raw.columns.duplicated()]))
        raise InputValidationError(
            pd.DataFrame(
                [
                    {"table": "visits", "column": c, "rule": "column appears more than once"}
                    for c in dup
                ]
            ),
            "visits",
        )
    col = _Collector(raw, "visits")
    missing_cols = [c for c in ("subject_id", "visit_week", *required_measures) if c not in raw]
    for c in missing_cols:
        col.parts.append(
            pd.DataFrame([{"table": "visits", "column": c, "rule": "required column is missing"}])
        )
    if "subject_id" not in raw or "visit_week" not in raw:
        col.raise_if_any()

    out = raw.copy(deep=False)
    subj = raw["subject_id"]
    subj_txt = subj.astype("string").str.strip()
    col.add(
        subj_txt.isna().to_numpy() | (subj_txt == "").fillna(False).to_numpy(),
        "subject_id",
        "subject_id is required",
    )
    out["subject_id"] = subj_txt.astype(object)

    numeric: dict[str, pd.Series] = {}
    for name in NUMERIC_VISIT_COLUMNS:
        if name not in raw:
            continue
        series = raw[name]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            parsed = series.astype("float64")  # already numeric (Parquet, DataFrame API)
            blank = parsed.isna()
        else:
            as_text = series.astype("string").str.strip()
            blank = (as_text.isna() | (as_text == "")).fillna(True)
            parsed = pd.to_numeric(as_text.where(~blank), errors="coerce").astype("float64")
        bad = (~blank & parsed.isna()).to_numpy()
        bad = bad | np.isinf(parsed.to_numpy())
        col.add(bad, name, "must be a number (blank = missing)")
        parsed = parsed.where(~bad)
        numeric[name] = parsed
        if name == "visit_week":
            col.add(blank.to_numpy(), name, "visit_week is required")

    week = numeric["visit_week"].to_numpy()
    ok_week = ~np.isnan(week)
    col.add(
        ok_week & ((week < 0) | (week != np.round(week))),
        "visit_week",
        "visit_week must be a whole number >= 0 (0 = baseline)",
    )

    # mmt8_max: per row, else argument, else the rules default.
    default_max = float(mmt8_max) if mmt8_max is not None else DEFAULT_MMT8_MAX
    if "mmt8_max" in numeric:
        mx = numeric["mmt8_max"]
        col.add((mx <= 0).to_numpy(), "mmt8_max", "mmt8_max must be > 0")
        numeric["mmt8_max"] = mx.fillna(default_max)
    elif "mmt8" in numeric:
        numeric["mmt8_max"] = pd.Series(default_max, index=raw.index, dtype="float64")

    check_measure_ranges({k: v.to_numpy() for k, v in numeric.items()}, col.add)

    if "visit_date" in raw:
        txt = raw["visit_date"].astype("string").str.strip()
        blank = txt.isna() | (txt == "")
        parsed_dates = pd.to_datetime(txt.where(~blank), format="%Y-%m-%d", errors="coerce")
        col.add(
            (~blank & parsed_dates.isna()).to_numpy(),
            "visit_date",
            "visit_date must be an ISO date YYYY-MM-DD",
        )

    # Duplicates and missing baselines (only where subject and week are usable).
    usable = (subj_txt.notna() & (subj_txt != "")).fillna(False).to_numpy() & ok_week
    keys = pd.DataFrame({"s": subj_txt, "w": week})
    dup = keys.duplicated(keep=False).to_numpy() & usable
    col.add(dup, "visit_week", "duplicate subject_id + visit_week (each visit must appear once)")
    if require_baseline:
        has_base = pd.Series(week == 0).groupby(subj_txt.to_numpy()).transform("any").to_numpy()
        first = ~keys["s"].duplicated().to_numpy()
        col.add(
            usable & ~has_base & first, "visit_week", "subject has no baseline visit (visit_week 0)"
        )

    col.raise_if_any()
    numeric["visit_week"] = numeric["visit_week"].astype("int64")
    out = out.assign(**numeric)
    return out
