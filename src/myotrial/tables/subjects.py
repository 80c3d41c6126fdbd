"""The canonical ``subjects`` table: one row per subject (``reference/data-format.md``).

Required: ``subject_id`` (unique) and ``arm`` (a protocol arm code for every randomised subject).
Optional: ``randomised`` (true/false; default true when an arm is given), ``site_id``, ``age``,
``sex``, ``msa_group``, stratum columns, disposition fields ``completed_week_16``,
``entered_extension``, ``completed_week_40`` (true/false), ``discontinuation_reason`` and
``crossover_week`` (the recorded week of a crossover, checked against the protocol's rule).
Every problem is reported at once, located; extra columns pass through.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from myotrial.errors import InputValidationError, Problem

__all__ = ["BOOLEAN_SUBJECT_COLUMNS", "MSA_GROUPS", "parse_boolean", "validate_subjects"]

MSA_GROUPS = ("dm_specific", "antisynthetase", "imnm", "maa_only", "negative", "unknown")
BOOLEAN_SUBJECT_COLUMNS = (
    "randomised",
    "completed_week_16",
    "entered_extension",
    "completed_week_40",
)
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def parse_boolean(value: object) -> bool | None:
    """``true/false/yes/no/y/n/1/0`` (any case) -> bool; blank -> None; else ValueError."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = str(value).strip().lower()
    if text == "":
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(value)


def validate_subjects(subjects: pd.DataFrame, *, arms: Sequence[str]) -> pd.DataFrame:
    """Validate a subjects table against the protocol's arm codes; return a typed copy.

    Raises
    ------
    InputValidationError
        Every problem, located by row, subject and column.
    """
    if not isinstance(subjects, pd.DataFrame):
        raise TypeError(f"subjects must be a pandas DataFrame, got {type(subjects).__name__}")
    raw = subjects.copy(deep=False)
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    problems: list[Problem] = []

    def add(i: int | None, sid: object, column: str | None, value: object, rule: str) -> None:
        problems.append(
            Problem(
                "subjects",
                None if i is None else i + 1,
                None if sid is None else str(sid),
                None,
                column,
                None if value is None else str(value),
                rule,
            )
        )

    for col in ("subject_id", "arm"):
        if col not in raw:
            add(None, None, col, None, "required column is missing")
    if problems:
        raise InputValidationError(problems, "subjects")
    out = raw.copy(deep=False)
    sid = raw["subject_id"].astype("string").str.strip()
    out["subject_id"] = sid.astype(object)
    for i, s in enumerate(sid.tolist()):
        if pd.isna(s) or s == "":
            add(i, None, "subject_id", "", "subject_id is required")
    dup = sid.duplicated(keep=False) & sid.notna()
    for i in np.flatnonzero(dup.to_numpy()).tolist():
        add(i, sid.iloc[i], "subject_id", sid.iloc[i], "subject_id appears more than once")

    for col in BOOLEAN_SUBJECT_COLUMNS:
        if col not in raw:
            continue
        parsed: list[bool | None] = []
        for i, v in enumerate(raw[col].tolist()):
            try:
                parsed.append(parse_boolean(v))
            except ValueError:
                add(i, sid.iloc[i], col, v, f"{col} must be true or false (blank = unknown)")
                parsed.append(None)
        out[col] = pd.array(parsed, dtype="boolean")

    arm = raw["arm"].astype("string").str.strip()
    arm = arm.mask(arm == "")
    out["arm"] = arm.astype(object).where(arm.notna(), None)
    has_arm = pd.Series(arm.notna().to_numpy(), index=out.index)
    randomised = out["randomised"].fillna(has_arm) if "randomised" in out else has_arm
    out["randomised"] = pd.array(np.asarray(randomised, dtype=bool), dtype="boolean")
    valid_arms = set(arms)
    for i, (a, r) in enumerate(zip(arm.tolist(), out["randomised"].tolist(), strict=True)):
        if r and pd.isna(a):
            add(i, sid.iloc[i], "arm", "", "a randomised subject needs its arm")
        elif not pd.isna(a) and a not in valid_arms:
            add(i, sid.iloc[i], "arm", a, f"arm must be one of {', '.join(sorted(valid_arms))}")

    for col, lo, hi in (("age", 0, 120), ("crossover_week", 0, 1000)):
        if col not in raw:
            continue
        text = raw[col].astype("string").str.strip()
        blank = text.isna() | (text == "")
        num = pd.to_numeric(text.where(~blank), errors="coerce")
        bad = (~blank & (num.isna() | (num < lo) | (num > hi))).to_numpy()
        for i in np.flatnonzero(bad).tolist():
            add(
                i,
                sid.iloc[i],
                col,
                raw[col].iloc[i],
                f"{col} must be a number between {lo} and {hi}",
            )
        out[col] = num.astype("float64")
    if "msa_group" in raw:
        grp = raw["msa_group"].astype("string").str.strip().str.lower()
        for i, g in enumerate(grp.tolist()):
            if not pd.isna(g) and g not in ("", *MSA_GROUPS):
                add(
                    i,
                    sid.iloc[i],
                    "msa_group",
                    g,
                    f"msa_group must be one of {', '.join(MSA_GROUPS)}",
                )
        out["msa_group"] = grp.where(grp.notna() & (grp != ""), "unknown").astype(object)
    if problems:
        raise InputValidationError(problems, "subjects")
    return out
