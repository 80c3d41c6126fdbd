"""The canonical ``subjects`` table: one row per subject (``docs/data-format.md``, subjects).

Required: ``subject_id`` (unique) and ``arm`` (a protocol arm code for every randomised subject).
Optional: ``randomised`` (true/false; default true when an arm is given), ``site_id``, ``age``,
``sex`` (F/M/U), ``msa_group``, stratum columns, disposition fields ``completed_week_16``,
``entered_extension``, ``completed_week_40`` (true/false), ``discontinuation_reason`` and
``crossover_week`` (the recorded week of a crossover, checked against the protocol's rule).
Every problem is reported at once, located; extra columns pass through.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from myotrial.tables.contract import (
    Column,
    check_columns,
    check_required_columns,
    check_subject_ids,
    cite,
)
from myotrial.tables.problems import ProblemCollector, prepare_table
from myotrial.tables.values import parse_bool
from myotrial.tables.vocabularies import MSA_GROUPS, SEX_CODES

__all__ = [
    "BOOLEAN_SUBJECT_COLUMNS",
    "MSA_GROUPS",
    "SUBJECT_COLUMNS",
    "parse_boolean",
    "validate_subjects",
]

BOOLEAN_SUBJECT_COLUMNS = (
    "randomised",
    "completed_week_16",
    "entered_extension",
    "completed_week_40",
    "emergency_unblinded",
)

#: Columns of the subjects table (stratum columns are the protocol's and pass through).
SUBJECT_COLUMNS: tuple[Column, ...] = (
    Column(
        "subject_id",
        "text",
        "subject identifier (unique)",
        required_column=True,
        required_value=True,
    ),
    Column("site_id", "text", "site identifier"),
    Column("arm", "text", "protocol arm code as randomised", required_column=True),
    Column("randomised", "boolean", "randomised (default: true when an arm is given)"),
    Column("age", "number", "age at randomisation", unit="years", min=0.0, max=120.0),
    Column("sex", "code", "sex", vocabulary=SEX_CODES),
    Column("msa_group", "code", "antibody group (blank = unknown)", vocabulary=MSA_GROUPS),
    Column("completed_week_16", "boolean", "completed the randomised period"),
    Column("entered_extension", "boolean", "entered the open-label extension"),
    Column("completed_week_40", "boolean", "completed the extension"),
    Column("discontinuation_reason", "text", "reason for discontinuation", max_length=500),
    Column(
        "emergency_unblinded",
        "boolean",
        "the patient's allocation was revealed by emergency unblinding (live trial export)",
    ),
    Column(
        "crossover_week",
        "number",
        "week of a recorded crossover",
        unit="weeks",
        min=0.0,
        max=1000.0,
    ),
)

#: Deprecated alias of :func:`myotrial.tables.parse_bool` (kept for callers of 0.x).
parse_boolean = parse_bool


def validate_subjects(subjects: pd.DataFrame, *, arms: Sequence[str]) -> pd.DataFrame:
    """Validate a subjects table against the protocol's arm codes; return a typed copy.

    Returns
    -------
    pandas.DataFrame
        Same rows and order; booleans as pandas ``boolean``, ``age``/``crossover_week``
        ``float64``, ``sex`` and ``msa_group`` as vocabulary codes (blank ``msa_group`` ->
        ``unknown``), ``arm`` as text (None when not randomised).

    Raises
    ------
    InputValidationError
        Every problem, located by row, subject and column.
    """
    raw = prepare_table(subjects, "subjects")
    col = ProblemCollector("subjects", raw)
    if not check_required_columns(raw, SUBJECT_COLUMNS, col):
        col.raise_if_any()
    sid = check_subject_ids(raw, col, None, unique=True)
    typed = check_columns(raw, SUBJECT_COLUMNS[1:], col)
    arm = typed.pop("arm")
    has_arm = arm.notna().to_numpy()
    randomised = (
        typed["randomised"].fillna(pd.Series(has_arm, index=raw.index))
        if ("randomised" in typed)
        else pd.Series(has_arm, index=raw.index)
    )
    typed["randomised"] = pd.Series(
        pd.array(np.asarray(randomised, dtype=bool), dtype="boolean"), index=raw.index
    )
    valid = sorted(set(arms))
    r = typed["randomised"].to_numpy(dtype=bool)
    col.add(r & ~has_arm, "arm", f"a randomised subject needs its arm {cite('subjects')}")
    col.add(
        has_arm & ~arm.isin(valid).to_numpy(),
        "arm",
        f"arm must be one of {', '.join(valid)} (the protocol's arms) {cite('subjects')}",
    )
    if "msa_group" in typed:
        typed["msa_group"] = typed["msa_group"].where(typed["msa_group"].notna(), "unknown")
    col.raise_if_any()
    out = raw.assign(**typed)
    out["subject_id"] = sid
    out["arm"] = arm
    return out
