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

from myotrial.rules import load_scales
from myotrial.tables.contract import cite
from myotrial.tables.problems import ProblemCollector, prepare_table
from myotrial.tables.values import DATE_RULE, NUMBER_RULE, date_column, number_column

__all__ = [
    "ENZYME_COLUMNS",
    "MAX_VISIT_WEEK",
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
#: Largest accepted visit_week (plausibility bound: about 19 years of follow-up).
MAX_VISIT_WEEK = 1000
_WHERE = cite("visits")
_BLANK_ID = ("", "NA", ".")


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
    raw = prepare_table(visits, "visits")
    col = ProblemCollector("visits", raw)
    for c in ("subject_id", "visit_week", *required_measures):
        if c not in raw:
            col.add_table(c, f"required column is missing {_WHERE}")
    if "subject_id" not in raw or "visit_week" not in raw:
        col.raise_if_any()

    out = raw.copy(deep=False)
    subj_txt = raw["subject_id"].astype("string").str.strip()
    no_subject = (subj_txt.isna() | subj_txt.isin(_BLANK_ID)).to_numpy(dtype=bool)
    if no_subject.any():
        col.add(no_subject, "subject_id", f"subject_id is required {_WHERE}")
        subj_txt = subj_txt.mask(no_subject)
    out["subject_id"] = subj_txt.astype(object)

    numeric: dict[str, pd.Series] = {}
    for name in NUMERIC_VISIT_COLUMNS:
        if name not in raw:
            continue
        parsed = number_column(raw[name])
        col.add(parsed.bad, name, f"{name} {NUMBER_RULE} {_WHERE}")
        numeric[name] = parsed.values
        if name == "visit_week":
            col.add(parsed.missing, name, f"visit_week is required {_WHERE}")

    week = numeric["visit_week"].to_numpy()
    has_week = ~np.isnan(week)
    with np.errstate(invalid="ignore"):
        bad_week = has_week & ((week < 0) | (week > MAX_VISIT_WEEK) | (week != np.round(week)))
    ok_week = has_week & ~bad_week
    col.add(
        bad_week,
        "visit_week",
        f"visit_week must be a whole number from 0 (baseline) to {MAX_VISIT_WEEK} {_WHERE}",
    )

    # mmt8_max: per row, else argument, else the rules default.
    default_max = float(mmt8_max) if mmt8_max is not None else DEFAULT_MMT8_MAX
    if "mmt8_max" in numeric:
        mx = numeric["mmt8_max"]
        col.add((mx <= 0).to_numpy(), "mmt8_max", f"mmt8_max must be > 0 {_WHERE}")
        numeric["mmt8_max"] = mx.fillna(default_max)
    elif "mmt8" in numeric:
        numeric["mmt8_max"] = pd.Series(default_max, index=raw.index, dtype="float64")

    check_measure_ranges({k: v.to_numpy() for k, v in numeric.items()}, col.add)

    if "visit_date" in raw:
        dates = date_column(raw["visit_date"])
        col.add(dates.bad, "visit_date", f"visit_date {DATE_RULE} {_WHERE}")

    # Duplicates and missing baselines (only where subject and week are usable).
    usable = ~no_subject & ok_week
    keys = pd.DataFrame({"s": subj_txt.fillna("") if no_subject.any() else subj_txt, "w": week})
    dup = keys.duplicated(keep=False).to_numpy() & usable
    col.add(
        dup,
        "visit_week",
        f"duplicate subject_id + visit_week (each visit must appear once) {_WHERE}",
    )
    if require_baseline:
        has_base = pd.Series(week == 0).groupby(keys["s"].to_numpy()).transform("any").to_numpy()
        first = ~keys["s"].duplicated().to_numpy()
        col.add(
            usable & ~has_base & first,
            "visit_week",
            f"subject has no baseline visit (visit_week 0) {_WHERE}",
        )

    col.raise_if_any()
    numeric["visit_week"] = numeric["visit_week"].astype("int64")
    out = out.assign(**numeric)
    return out
