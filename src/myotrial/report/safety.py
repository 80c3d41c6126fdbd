"""Safety section of the report: validated inputs, overview, infusion-related reactions and
thromboembolic events.

Counts come from :func:`myotrial.stats.summarise_adverse_events` and
:func:`myotrial.stats.summarise_ae_terms` (infusion-related: onset during a cycle or within the
protocol's ``infusion_related_window_hours`` after its end,
:func:`myotrial.derive.derive_infusion_related`). The periods are ADSL's, read and never
recomputed here (:func:`myotrial.derive.safety_subjects`), exactly as ``myotrial analyze`` reads
them, so the two give the same denominators, events and infusion counts:

* **randomised period**: ADSL period 1, on the randomised treatment;
* **open-label** (switch or extension): from ``AP02SDT`` (a switch after confirmed
  deterioration), else ``AP03SDT`` (the extension);
* **all extension-arm exposure**: every patient from the start of the first period whose
  ``TRTxxA`` is the extension arm (treatment arm: ``AP01SDT``) - the ProDERM safety paper's
  third column.

Without period dates in ADSL the periods cannot be told apart and one ``overall`` period is
shown per arm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from myotrial.derive import (
    DerivedTables,
    derive_arm_period,
    derive_infusion_related,
    has_safety_periods,
)
from myotrial.derive import safety_subjects as _adsl_safety_subjects
from myotrial.errors import InputValidationError, Problem
from myotrial.report.figures import short_arm
from myotrial.report.formatting import (
    MISSING,
    format_count_pct,
    format_number,
    format_pct,
)
from myotrial.stats import summarise_adverse_events, summarise_ae_terms
from myotrial.tables import (
    boolean_column,
    parse_bool,
    validate_adverse_events,
    validate_infusions,
)

__all__ = [
    "AE_REQUIRED",
    "CATEGORY_LABELS",
    "INFUSION_REQUIRED",
    "SafetyColumn",
    "SafetySection",
    "build_safety",
    "category_labels",
    "safety_subjects",
    "validate_safety_inputs",
]

AE_REQUIRED = (
    "subject_id",
    "term",
    "body_system",
    "onset",
    "serious",
    "severity",
    "related",
    "thromboembolic",
)
INFUSION_REQUIRED = ("subject_id", "start", "end", "cycle")

CATEGORY_LABELS: dict[str, str] = {
    "any": "Any adverse event",
    "serious": "Serious adverse event",
    "related": "Related to study drug (investigator)",
    "severe_or_worse": "Severe, life-threatening or fatal",
    "thromboembolic": "Thromboembolic event",
    "infusion_related": "Infusion-related (onset in a cycle or shortly after)",
}


def category_labels(window_hours: float) -> dict[str, str]:
    """:data:`CATEGORY_LABELS` with the protocol's infusion-related window written in."""
    return {
        **CATEGORY_LABELS,
        "infusion_related": (
            f"Infusion-related (onset in a cycle or \u2264 {window_hours:g} h after)"
        ),
    }


def validate_safety_inputs(
    adverse_events: pd.DataFrame | None,
    infusions: pd.DataFrame | None,
    subject_ids: Sequence[str],
) -> None:
    """Check the adverse-event and infusion tables once, reporting every problem by location,
    with the shared table contracts (:func:`myotrial.tables.validate_adverse_events`,
    :func:`myotrial.tables.validate_infusions`) plus the columns this report needs.

    Raises
    ------
    InputValidationError
        Missing required columns, subjects absent from the trial, unparseable date-times,
        booleans other than true/false/yes/no/1/0, unknown severities, non-integer cycles and
        negative or non-numeric doses or rates.
    """
    known = [str(s) for s in subject_ids]
    if adverse_events is not None:
        missing = [c for c in AE_REQUIRED if c not in adverse_events.columns]
        if missing:
            raise InputValidationError(
                [
                    Problem(
                        "adverse_events", None, None, None, c, None, "required column is missing"
                    )
                    for c in missing
                ],
                "adverse_events",
            )
        validate_adverse_events(adverse_events, subject_ids=known)
    if infusions is not None:
        validate_infusions(infusions, subject_ids=known)


def safety_subjects(derived: DerivedTables, infusions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per randomised patient: ``subject_id, arm, ole_start, ivig_start``, read from
    ADSL's periods (:func:`myotrial.derive.safety_subjects`; ``infusions`` is not used: the
    periods were dated when ADSL was derived)."""
    return _adsl_safety_subjects(derived.adsl, derived.protocol)


@dataclass(frozen=True)
class SafetyColumn:
    """A column of the safety tables: which summary rows (arm, period) it shows."""

    key: str
    title: str
    source: str  # "by_arm" or "ivig"
    arm: str
    period: str


@dataclass(frozen=True)
class SafetySection:
    """Everything the safety section shows, already formatted."""

    available: bool
    has_infusions: bool
    has_periods: bool
    columns: tuple[SafetyColumn, ...] = ()
    denominators: dict[str, str] = field(default_factory=dict)
    overview: tuple[tuple[str, str, dict[str, tuple[str, str, str]]], ...] = ()
    irr_terms: tuple[tuple[str, dict[str, str]], ...] = ()
    te_rows: tuple[dict[str, str], ...] = ()
    te_summary: str = ""
    notes: tuple[str, ...] = ()
    overview_frames: dict[str, pd.DataFrame] = field(default_factory=dict)


def _columns(derived: DerivedTables, has_periods: bool) -> list[SafetyColumn]:
    proto = derived.protocol
    t, c = proto.treatment, proto.control
    end = proto.randomised_end_week
    if not has_periods:
        return [
            SafetyColumn("trt", t.label, "by_arm", t.code, "overall"),
            SafetyColumn("ctl", c.label, "by_arm", c.code, "overall"),
        ]
    ext = short_arm(proto.extension_arm)
    tc, cc = short_arm(t.code), short_arm(c.code)
    return [
        SafetyColumn("trt_rand", f"{t.label}, weeks 0\u2013{end}", "by_arm", t.code, "randomised"),
        SafetyColumn(
            "ctl_rand",
            f"{c.label}, weeks 0\u2013{end} (until crossover)",
            "by_arm",
            c.code,
            "randomised",
        ),
        SafetyColumn("trt_ole", f"{tc} \u2192 open-label {ext}", "by_arm", t.code, "extension"),
        SafetyColumn(
            "ctl_ole",
            f"{cc} \u2192 {ext} (crossover or extension)",
            "by_arm",
            c.code,
            "extension",
        ),
        SafetyColumn("all_ivig", f"All {ext} exposure", "ivig", "all", "extension"),
    ]


def _select(frames: dict[str, pd.DataFrame], col: SafetyColumn) -> pd.DataFrame:
    f = frames[col.source]
    return f[(f["arm"].astype(str) == col.arm) & (f["period"] == col.period)]


def build_safety(
    derived: DerivedTables,
    adverse_events: pd.DataFrame | None,
    infusions: pd.DataFrame | None,
    *,
    top_terms: int = 8,
) -> SafetySection:
    """Lay out the safety section (validated inputs expected: :func:`validate_safety_inputs`)."""
    if adverse_events is None:
        return SafetySection(
            available=False, has_infusions=infusions is not None, has_periods=False
        )
    proto = derived.protocol
    subj = safety_subjects(derived)
    has_periods = has_safety_periods(subj)
    window = proto.infusion_related_window_hours
    ae = adverse_events.copy()
    ae["subject_id"] = ae["subject_id"].astype(str).str.strip()
    inf = None
    if infusions is not None:
        inf = infusions.copy()
        inf["subject_id"] = inf["subject_id"].astype(str).str.strip()
    subj_ivig = subj.assign(arm="all")
    period = "ole_start" if has_periods else None
    frames = {
        "by_arm": summarise_adverse_events(ae, subj, inf, period_start=period, protocol=proto)
    }
    terms = {}
    if inf is not None:
        terms["by_arm"] = summarise_ae_terms(
            ae, subj, inf, period_start=period, infusion_related_only=True, protocol=proto
        )
    if has_periods:
        frames["ivig"] = summarise_adverse_events(
            ae, subj_ivig, inf, period_start="ivig_start", protocol=proto
        )
        if inf is not None:
            terms["ivig"] = summarise_ae_terms(
                ae,
                subj_ivig,
                inf,
                period_start="ivig_start",
                infusion_related_only=True,
                protocol=proto,
            )
    columns = _columns(derived, has_periods)
    denominators = {}
    for col in columns:
        sel = _select(frames, col)
        denominators[col.key] = f"n = {int(sel['n_subjects'].iloc[0])}" if len(sel) else MISSING
    cats = list(dict.fromkeys(frames["by_arm"]["category"]))
    overview = []
    for cat in cats:
        cells: dict[str, tuple[str, str, str]] = {}
        for col in columns:
            sel = _select(frames, col)
            row = sel[sel["category"] == cat]
            if row.empty:
                cells[col.key] = (MISSING, MISSING, MISSING)
                continue
            r = row.iloc[0]
            rate = format_number(r["events_per_100_infusions"], 1) if inf is not None else MISSING
            cells[col.key] = (
                f"{int(r['n_with_event'])} ({format_pct(r['n_with_event'], r['n_subjects'])})",
                str(int(r["n_events"])),
                rate,
            )
        overview.append((cat, category_labels(window).get(cat, cat), cells))
    irr: list[tuple[str, dict[str, str]]] = []
    if terms:
        rank_src = terms.get("ivig", terms["by_arm"])
        rank = rank_src[rank_src["term"] != "(any)"]
        rank = (
            rank.groupby("term")["n_with_event"]
            .sum()
            .reset_index()
            .sort_values(["n_with_event", "term"], ascending=[False, True], kind="stable")
        )
        for term in rank["term"].head(top_terms):
            cells_t = {}
            for col in columns:
                tf = terms.get(col.source)
                den_rows = _select(frames, col)
                n_subj = int(den_rows["n_subjects"].iloc[0]) if len(den_rows) else 0
                if tf is None:
                    cells_t[col.key] = MISSING
                    continue
                sel = tf[
                    (tf["arm"].astype(str) == col.arm)
                    & (tf["period"] == col.period)
                    & (tf["term"] == term)
                ]
                x = int(sel["n_with_event"].sum()) if len(sel) else 0
                cells_t[col.key] = format_count_pct(x, n_subj) if n_subj else MISSING
            irr.append((str(term), cells_t))
    te_rows, te_summary = _thromboembolic(derived, ae, subj, inf, has_periods)
    notes = [
        "Patients with at least one event, n (%); events; events per 100 infusion days in the "
        "same arm and period (when the infusions table is given).",
        f"Infusion-related: onset from the start of a cycle's first infusion to "
        f"{window:g} h after the end of its last infusion day "
        f"(protocol {proto.name}; ProDERM safety definition, Arthritis Res Ther 2024;26:27).",
    ]
    if has_periods:
        notes.append(
            "Periods from the derived subject table (ADSL AP01SDT-AP03SDT, TRTxxA), as in the "
            "analysis: the randomised period ends when open-label "
            f"{proto.extension_arm} starts (crossover after confirmed deterioration, AP02SDT, "
            "or the extension, AP03SDT); 'All exposure' counts every patient from the start "
            f"of the first period on {proto.extension_arm}."
        )
    else:
        notes.append("No period dates in the derived subject table: one period per arm (overall).")
    if inf is None:
        notes.append("No infusions table: infusion-related reactions and rates not available.")
    return SafetySection(
        available=True,
        has_infusions=inf is not None,
        has_periods=has_periods,
        columns=tuple(columns),
        denominators=denominators,
        overview=tuple(overview),
        irr_terms=tuple(irr),
        te_rows=tuple(te_rows),
        te_summary=te_summary,
        notes=tuple(notes),
        overview_frames=frames,
    )


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A numeric column as floats (NaN when absent or blank)."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def _yes_no(value: object) -> str:
    flag = parse_bool(value)  # the shared parser (inputs were validated)
    if flag is None:
        return MISSING
    return "yes" if flag else "no"


def _thromboembolic(
    derived: DerivedTables,
    ae: pd.DataFrame,
    subj: pd.DataFrame,
    inf: pd.DataFrame | None,
    has_periods: bool,
) -> tuple[list[dict[str, str]], str]:
    """Listing of thromboembolic events with timing relative to infusion and infusion rate."""
    flag = boolean_column(ae["thromboembolic"]).values.fillna(False)
    te = ae[flag.to_numpy(dtype=bool)]
    if te.empty:
        return [], "No thromboembolic events were recorded."
    te = derive_arm_period(te, derived.adsl, when="onset")
    if not has_periods:
        te = te.assign(period="overall")
    else:  # the report's two periods: randomised, then open-label (switch or extension)
        te = te.assign(period=te["period"].replace({"after_switch": "extension"}))
    if inf is not None:
        te = derive_infusion_related(te, inf, derived.protocol)
        infs = pd.DataFrame(
            {
                "subject_id": inf["subject_id"].astype(str).to_numpy(),
                "start": pd.to_datetime(inf["start"], format="ISO8601").to_numpy(),
                "end": pd.to_datetime(inf["end"], format="ISO8601").to_numpy(),
                "cycle": pd.to_numeric(inf["cycle"]).astype(int).to_numpy(),
                "product": inf["product"].astype(str).to_numpy() if "product" in inf else "",
                "dose": _numbers(inf, "dose_g_per_kg"),
                "rate": _numbers(inf, "rate_ml_per_kg_min"),
            }
        )
    onset = pd.to_datetime(te["onset"], format="ISO8601")
    te = te.assign(_onset=onset.to_numpy()).sort_values(["subject_id", "_onset"], kind="stable")
    rows = []
    n_related_inf = 0
    for rec in te.to_dict("records"):
        row = {
            "subject_id": str(rec["subject_id"]),
            "arm": str(rec["arm"]),
            "period": str(rec["period"]),
            "term": str(rec["term"]),
            "onset": MISSING
            if pd.isna(rec["_onset"])
            else rec["_onset"].strftime("%Y-%m-%d %H:%M"),
            "serious": _yes_no(rec["serious"]),
            "related": _yes_no(rec["related"]),
            "infusion_related": MISSING,
            "cycle": MISSING,
            "timing": MISSING,
            "dose": MISSING,
            "rate": MISSING,
            "product": MISSING,
        }
        if inf is not None and not pd.isna(rec["_onset"]):
            ir = rec.get("infusion_related")
            row["infusion_related"] = (
                MISSING if ir is None or ir is pd.NA else ("yes" if bool(ir) else "no")
            )
            n_related_inf += int(row["infusion_related"] == "yes")
            mine = infs[
                (infs["subject_id"] == row["subject_id"]) & (infs["start"] <= rec["_onset"])
            ]
            if len(mine):
                last = mine.sort_values("start", kind="stable").iloc[-1]
                cyc = infs[
                    (infs["subject_id"] == row["subject_id"]) & (infs["cycle"] == last["cycle"])
                ]
                hours = (rec["_onset"] - cyc["end"].max()) / pd.Timedelta(hours=1)
                row["cycle"] = str(int(last["cycle"]))
                row["timing"] = "during" if hours <= 0 else f"+{format_number(hours, 0)} h"
                row["dose"] = format_number(cyc["dose"].sum(min_count=1), 2)
                row["rate"] = format_number(cyc["rate"].max(), 3)
                row["product"] = str(last["product"])
        rows.append(row)
    n_pat = te["subject_id"].nunique()
    summary = f"{n_pat} patient(s) with {len(te)} thromboembolic event(s)"
    if inf is not None:
        window = derived.protocol.infusion_related_window_hours
        summary += f"; {n_related_inf} infusion-related (onset \u2264 {window:g} h after a cycle)"
    return rows, summary + "."
