"""Infusion-related adverse events (pure table derivation).

Rule (ProDERM safety paper, Arthritis Res Ther 2024;26:27, doi:10.1186/s13075-023-03232-2;
shared/reference/proderm.md "Safety"): an adverse event is *infusion-related* when its onset is
during an infusion cycle or within 72 hours after the end of the cycle's last infusion day.

PROJECT RULES: a cycle runs from the start of its first infusion day to the end of its last
(``infusions.cycle`` groups the days); both edges are closed (onset exactly at the cycle start or
exactly 72 h after the last end is infusion-related); times are compared as recorded (UTC).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

__all__ = [
    "INFUSION_WINDOW_HOURS",
    "InfusionCycle",
    "derive_infusion_related",
    "find_infusion_cycle",
    "infusion_cycles",
]

INFUSION_WINDOW_HOURS = 72.0


@dataclass(frozen=True)
class InfusionCycle:
    """One subject's infusion cycle: first start and last end of its infusion days."""

    subject_id: str
    cycle: int
    start: dt.datetime
    end: dt.datetime


def infusion_cycles(infusions: pd.DataFrame) -> list[InfusionCycle]:
    """Group an infusions table (``subject_id, cycle, start, end``) into cycles."""
    if infusions.empty:
        return []
    frame = infusions.assign(start=pd.to_datetime(infusions["start"]),
                             end=pd.to_datetime(infusions["end"]))
    grouped = frame.groupby(["subject_id", "cycle"], sort=True).agg(
        start=("start", "min"), end=("end", "max")).reset_index()
    return [InfusionCycle(str(sid), int(cyc), pd.Timestamp(a).to_pydatetime(),
                          pd.Timestamp(b).to_pydatetime())
            for sid, cyc, a, b in zip(grouped["subject_id"], grouped["cycle"], grouped["start"],
                                      grouped["end"], strict=True)]


def find_infusion_cycle(
    onset: dt.datetime, cycles: list[InfusionCycle], *,
    window_hours: float = INFUSION_WINDOW_HOURS,
) -> InfusionCycle | None:
    """The (latest) cycle whose window ``[start, end + window_hours]`` contains ``onset``."""
    window = dt.timedelta(hours=window_hours)
    hits = [c for c in cycles if c.start <= onset <= c.end + window]
    return max(hits, key=lambda c: c.start) if hits else None


def derive_infusion_related(
    adverse_events: pd.DataFrame,
    infusions: pd.DataFrame,
    *,
    window_hours: float = INFUSION_WINDOW_HOURS,
) -> pd.DataFrame:
    """Adverse events in, with ``infusion_related`` (boolean) and ``infusion_cycle`` added.

    The input is not modified. Events of subjects without infusions are not infusion-related.
    """
    out = adverse_events.copy()
    by_subject: dict[str, list[InfusionCycle]] = {}
    for c in infusion_cycles(infusions):
        by_subject.setdefault(c.subject_id, []).append(c)
    related: list[bool] = []
    cycle_no: list[int | None] = []
    onsets = [pd.Timestamp(o).to_pydatetime() for o in out["onset"]]
    for sid, onset in zip(out["subject_id"], onsets, strict=True):
        hit = find_infusion_cycle(onset, by_subject.get(str(sid), []),
                                  window_hours=window_hours)
        related.append(hit is not None)
        cycle_no.append(None if hit is None else hit.cycle)
    out["infusion_related"] = pd.array(related, dtype="boolean")
    out["infusion_cycle"] = pd.array(cycle_no, dtype="Int64")
    return out
