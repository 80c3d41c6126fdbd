"""Efficacy tables of the report, built from the result objects (never recomputed).

Every cell is a :class:`Cell`: formatted text (:mod:`myotrial.report.formatting`) plus the
endpoint and statistic it shows, written into the HTML as ``data-endpoint`` / ``data-stat`` so
tests can compare the page with :class:`myotrial.analysis.AnalysisResults`. Method footnotes
are generated from the method keys the results carry (:func:`myotrial.stats.method_footnote`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from myotrial.analysis import AnalysisResults, EndpointResult
from myotrial.report.formatting import (
    MISSING,
    format_ci,
    format_count_pct,
    format_estimate,
    format_mean_sd,
    format_median,
    format_number,
    format_p_value,
)
from myotrial.stats import get_method, method_footnote

__all__ = ["Cell", "Footnotes", "ResultRow", "efficacy_rows", "forest_table", "km_rows"]


_CHANGE_LABEL = re.compile(r"^Change in (.*) at week \d+ \(observed cases\)$")


@dataclass(frozen=True)
class Cell:
    """One formatted table cell and where its number came from."""

    text: str
    endpoint: str = ""
    stat: str = ""
    marks: str = ""


@dataclass(frozen=True)
class ResultRow:
    endpoint: str
    label: str
    cells: tuple[Cell, ...]
    primary: bool = False


@dataclass
class Footnotes:
    """Method footnotes, lettered in order of first use."""

    conf_level: float
    keys: list[tuple[str, bool]] = field(default_factory=list)

    def mark(self, key: str, *, interval: bool = True) -> str:
        entry = (key, interval)
        if entry not in self.keys:
            self.keys.append(entry)
        return "abcdefghijklmnopqrstuvwxyz"[self.keys.index(entry) % 26]

    def items(self) -> list[tuple[str, str, str]]:
        """``(letter, key, text)`` for each footnote."""
        return [
            (
                "abcdefghijklmnopqrstuvwxyz"[i % 26],
                key,
                method_footnote(key, self.conf_level if interval else None),
            )
            for i, (key, interval) in enumerate(self.keys)
        ]


def _arm(ep: EndpointResult, arm: str) -> dict[str, float | int]:
    return ep.arms.get(arm, {})


def _binary_cell(ep: EndpointResult, arm: str, stat: str) -> Cell:
    a = _arm(ep, arm)
    if not a:
        return Cell(MISSING, ep.endpoint, stat)
    return Cell(format_count_pct(a["x"], a["n"]), ep.endpoint, stat)


def _mean_cell(ep: EndpointResult, arm: str, stat: str, digits: int) -> Cell:
    a = _arm(ep, arm)
    if not a:
        return Cell(MISSING, ep.endpoint, stat)
    return Cell(
        f"{format_mean_sd(a['mean'], a['sd'], digits)}\nn = {int(a['n'])}", ep.endpoint, stat
    )


def _digits(ep: EndpointResult) -> int:
    """Decimals for means of an endpoint: 2 for HAQ, else 1 (display only)."""
    return 2 if "haq" in ep.endpoint.lower() else 1


def efficacy_rows(
    results: AnalysisResults, kinds: tuple[str, ...], notes: Footnotes, primary: str = ""
) -> list[ResultRow]:
    """Rows for the endpoints of ``kinds`` (``binary``, ``continuous``, ``change``).

    Binary: treatment, control (x/n (%)), risk difference (CI), odds ratio (CI), p.
    Continuous and change: mean (SD) and n per arm, mean difference (CI), p, and for change
    endpoints the baseline-adjusted (ANCOVA) difference (CI) and its p.
    """
    rows = []
    t, c = results.treatment, results.control
    for ep in results.endpoints:
        if ep.kind not in kinds:
            continue
        cells: list[Cell] = []
        if ep.kind == "binary":
            cells += [_binary_cell(ep, t, "treatment"), _binary_cell(ep, c, "control")]
        else:
            d = _digits(ep)
            cells += [_mean_cell(ep, t, "treatment", d), _mean_cell(ep, c, "control", d)]
        est = ep.estimate
        if ep.comparison == "descriptive":
            cells.append(Cell("descriptive: no between-arm comparison", ep.endpoint, "estimate"))
            if ep.kind == "binary":
                cells.append(Cell(MISSING, ep.endpoint, "odds_ratio"))
            cells.append(Cell(MISSING, ep.endpoint, "p_value"))
            rows.append(ResultRow(ep.endpoint, ep.label or ep.endpoint, tuple(cells), False))
            continue
        if est is None:
            cells.append(Cell(MISSING, ep.endpoint, "estimate"))
        else:
            cells.append(
                Cell(format_estimate(est), ep.endpoint, "estimate", notes.mark(est.method))
            )
        if ep.kind == "binary":
            odds = next((x for x in ep.extra if x.effect == "odds_ratio"), None)
            cells.append(
                Cell(MISSING, ep.endpoint, "odds_ratio")
                if odds is None
                else Cell(format_estimate(odds), ep.endpoint, "odds_ratio", notes.mark(odds.method))
            )
        p: float | None
        if ep.test is not None:
            p = ep.test.p_value
            mark = notes.mark(ep.test.method, interval=False)
        else:
            p = None if est is None else est.p_value
            mark = ""
        cells.append(Cell(format_p_value(p), ep.endpoint, "p_value", mark))
        if ep.kind == "change":
            adj = next((x for x in ep.extra if x.method == "ancova"), None)
            if adj is None:
                cells += [
                    Cell(MISSING, ep.endpoint, "adjusted"),
                    Cell(MISSING, ep.endpoint, "adjusted_p"),
                ]
            else:
                cells += [
                    Cell(format_estimate(adj), ep.endpoint, "adjusted", notes.mark(adj.method)),
                    Cell(format_p_value(adj.p_value), ep.endpoint, "adjusted_p"),
                ]
        label = ep.label or ep.endpoint
        if ep.kind == "change":
            found = _CHANGE_LABEL.match(label)
            label = found.group(1) if found else label
        rows.append(ResultRow(ep.endpoint, label, tuple(cells), ep.endpoint == primary))
    return rows


def km_rows(results: AnalysisResults, notes: Footnotes) -> list[ResultRow]:
    """Time-to-event rows: per arm median days (CI) and events/n; Cox hazard ratio (CI) with the
    proportional-hazards check; log-rank p (``no events`` when nobody had the event)."""
    rows = []
    for ep in results.endpoints:
        if ep.kind != "time_to_event":
            continue
        cells = []
        for arm, stat in ((results.treatment, "treatment"), (results.control, "control")):
            km = ep.km.get(arm)
            if km is None:
                cells.append(Cell(MISSING, ep.endpoint, stat))
                continue
            cells.append(
                Cell(
                    f"{format_median(km.median)} ({format_median(km.median_lower)} to "
                    f"{format_median(km.median_upper)}); {km.n_events}/{km.n} events",
                    ep.endpoint,
                    stat,
                    notes.mark(km.method),
                )
            )
        if ep.cox is None:
            cells.append(Cell(MISSING, ep.endpoint, "hazard_ratio"))
        else:
            hr = ep.cox.hazard_ratio
            cells.append(
                Cell(
                    f"{format_estimate(hr)}\nPH check "
                    + (
                        f"p {format_p_value(ep.cox.ph_test.global_p_value)}"
                        if ep.cox.ph_test.estimable
                        else "not estimable"
                    ),
                    ep.endpoint,
                    "hazard_ratio",
                    notes.mark(hr.method),
                )
            )
        no_events = sum(k.n_events for k in ep.km.values()) == 0
        if ep.test is None:
            cells.append(Cell(MISSING, ep.endpoint, "p_value"))
        elif no_events:
            cells.append(Cell("no events", ep.endpoint, "p_value"))
        else:
            cells.append(
                Cell(
                    format_p_value(ep.test.p_value),
                    ep.endpoint,
                    "p_value",
                    notes.mark(ep.test.method, interval=False),
                )
            )
        rows.append(ResultRow(ep.endpoint, ep.label, tuple(cells)))
    return rows


def forest_table(results: AnalysisResults, notes: Footnotes) -> tuple[list[ResultRow], str]:
    """Subgroup table (one row per level, the subgroup result's forest data) and its caption."""
    from myotrial.report.figures import forest_rows

    sub = results.subgroups
    if sub is None:
        return [], ""
    mark = notes.mark(sub.method)
    inter_methods = {str(m) for m in sub.interactions.get("method", [])}
    for m in sorted(inter_methods):
        notes.mark(m, interval=False)
    rows = []
    for i, row in enumerate(forest_rows(sub)):
        rec = row.record
        if rec is None:
            rows.append(ResultRow(f"header-{i}", row.label, ()))
            continue
        key = f"{rec['subgroup']}={rec['level']}"
        est, lower, upper = (float(rec[k]) for k in ("estimate", "lower", "upper"))
        text = (
            MISSING
            if math.isnan(est)
            else f"{format_number(100 * est, 1)} ({format_ci(100 * lower, 100 * upper, 1)})"
        )
        rows.append(
            ResultRow(
                key,
                row.label,
                (
                    Cell(
                        format_count_pct(rec["x1"], rec["n1"]),
                        key,
                        "treatment",
                    ),
                    Cell(
                        format_count_pct(rec["x2"], rec["n2"]),
                        key,
                        "control",
                    ),
                    Cell(text, key, "estimate", mark if text != MISSING else ""),
                ),
            )
        )
    labels = ", ".join(get_method(m).label for m in sorted(inter_methods))
    caption = f"Interaction tests: {labels}." if labels else ""
    return rows, caption
