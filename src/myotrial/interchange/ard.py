"""Analysis results as a cards-style ARD (pharmaverse ``cards``: one statistic per row).

Columns (``cards::as_card()`` reads them): ``group1``, ``group1_level``, ``variable``,
``variable_level``, ``context``, ``stat_name``, ``stat_label``, ``stat``, ``fmt_fn``,
``warning``, ``error``, plus myotrial's ``method`` and ``conf_level``. From the rows of
:meth:`myotrial.analysis.AnalysisResults.to_ard`: ``variable`` is the endpoint, ``context`` the
effect (``summary``, ``risk_difference``, ``odds_ratio``, ``test``, ``survival``,
``interaction``...), the group an arm (``group1 = ARMCD``) or a subgroup level
(``MSAGRP=dm_specific`` -> ``group1 = MSAGRP``, ``group1_level = dm_specific``).

In R: ``cards::as_card(read.csv("ard.csv"))`` or ``jsonlite::fromJSON("ard.json")``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["CARDS_COLUMNS", "to_cards", "write_ard"]

CARDS_COLUMNS = (
    "group1",
    "group1_level",
    "variable",
    "variable_level",
    "context",
    "stat_name",
    "stat_label",
    "stat",
    "fmt_fn",
    "warning",
    "error",
    "method",
    "conf_level",
)


def _group(group: str, arms: Sequence[str]) -> tuple[str, str]:
    if not group:
        return "", ""
    if group in arms:
        return "ARMCD", group
    if "=" in group:
        var, level = group.split("=", 1)
        return var, level
    return group, ""


def to_cards(ard: pd.DataFrame, arms: Sequence[str]) -> pd.DataFrame:
    """myotrial analysis-results rows -> cards-style long ARD (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    for rec in ard.to_dict("records"):
        g1, g1_level = _group("" if pd.isna(rec["group"]) else str(rec["group"]), arms)
        value = rec["value"]
        if isinstance(value, float) and math.isnan(value):
            value = None
        label = str(rec.get("method_label") or "")
        rows.append(
            {
                "group1": g1,
                "group1_level": g1_level,
                "variable": rec["endpoint"],
                "variable_level": "",
                "context": rec["effect"],
                "stat_name": rec["statistic"],
                "stat_label": f"{rec['statistic']} ({label})" if label else rec["statistic"],
                "stat": value,
                "fmt_fn": 1 if isinstance(value, float) and not float(value).is_integer() else 0,
                "warning": "",
                "error": "",
                "method": rec.get("method") or "",
                "conf_level": rec.get("conf_level"),
            }
        )
    return pd.DataFrame(rows, columns=list(CARDS_COLUMNS))


def write_ard(cards: pd.DataFrame, out_dir: str | Path) -> dict[str, Path]:
    """Write ``ard.csv`` and ``ard.json`` (records; null = missing) into ``out_dir``."""
    from myotrial.tables import write_table

    out = Path(out_dir)
    csv = write_table(cards, out / "ard.csv")
    records = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in cards.to_dict("records")
    ]
    js = out / "ard.json"
    tmp = out / ".ard.json.tmp"
    tmp.write_text(json.dumps(records, indent=1), encoding="utf-8")
    tmp.replace(js)
    return {"ard.csv": csv, "ard.json": js}
