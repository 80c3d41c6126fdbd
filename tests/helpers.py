"""Shared test helpers (imported by test modules as `helpers`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

#: A baseline in which every core set measure is abnormal and far from any edge.
BASELINE: dict[str, Any] = {
    "pga": 6.0,
    "ptga": 6.0,
    "extramuscular": 5.0,
    "mmt8": 110.0,
    "haq": 1.5,
    "ck": 1000.0,
    "ck_uln": 200.0,
}


def two_visits(
    follow: dict[str, Any], baseline: dict[str, Any] | None = None, week: int = 16
) -> pd.DataFrame:
    """A one-subject visits table: baseline row then one follow-up row.

    ``follow`` overrides the baseline values at the follow-up visit (unchanged otherwise).
    """
    base = dict(BASELINE if baseline is None else baseline)
    fu = {**base, **follow}
    rows = [
        {"subject_id": "S1", "visit_week": 0, **base},
        {"subject_id": "S1", "visit_week": week, **fu},
    ]
    return pd.DataFrame(rows)
