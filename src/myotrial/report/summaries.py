"""Descriptive summaries of the derived tables for the report (no inference).

Effect estimates, intervals and tests come from :class:`myotrial.analysis.AnalysisResults`;
this module only counts and describes what the derived tables hold: the participant flow
(ADSL flags), baseline characteristics (ADSL and the baseline rows of ADEFF) and the
by-visit series behind the figures. Rules:

* population: randomised patients (``RANDFL = Y``), by ORIGINAL randomised arm (``ARMCD``),
  also after a crossover or in the open-label extension;
* by-visit proportions and means are over OBSERVED cases: the patients of the arm with a value
  at that visit (the number is shown with every point); the binary endpoints of the result
  objects use non-responder imputation instead;
* mean curves carry a t-based confidence interval ``mean +/- t(n-1) x SD / sqrt(n)``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from myotrial.derive import DerivedTables
from myotrial.report.formatting import (
    MISSING,
    format_count_pct,
    format_mean_sd,
    format_number,
)

__all__ = [
    "MSA_LABELS",
    "ArmFlow",
    "BaselineRow",
    "baseline_table",
    "by_visit_means",
    "by_visit_responses",
    "participant_flow",
]

#: Antibody groups (``msa_group``) in display order; the first three are myositis-specific.
MSA_LABELS: dict[str, str] = {
    "dm_specific": "DM-specific antibody",
    "antisynthetase": "Antisynthetase antibody",
    "imnm": "IMNM-associated antibody",
    "maa_only": "Myositis-associated antibody only",
    "negative": "No myositis antibody",
    "unknown": "Unknown",
}
MSA_POSITIVE = ("dm_specific", "antisynthetase", "imnm")

#: Baseline measures: PARAMCD -> (label, digits, use median and IQR)
BASELINE_MEASURES: dict[str, tuple[str, int, bool]] = {
    "PGA": ("Physician global activity, VAS 0–10 cm", 1, False),
    "PTGA": ("Patient global activity, VAS 0–10 cm", 1, False),
    "EXTRAMUS": ("Extramuscular activity, VAS 0–10 cm", 1, False),
    "MMT8": ("MMT-8, 0–150", 1, False),
    "HAQ": ("HAQ disability index, 0–3", 2, False),
    "CK": ("Creatine kinase, U/L", 0, True),
    "ALDOLASE": ("Aldolase, U/L", 1, True),
    "CDASIA": ("CDASI activity", 1, False),
}
#: Optional categorical subject columns shown in Table 1 when present (column -> label).
OPTIONAL_CATEGORIES: dict[str, str] = {
    "severity": "Physician-rated severity",
    "region": "Region",
    "race": "Race",
    "ethnicity": "Ethnicity",
}


def _randomised(derived: DerivedTables) -> pd.DataFrame:
    return derived.adsl[derived.adsl["RANDFL"] == "Y"]


def _yes(series: pd.Series) -> pd.Series:
    return series.astype(str) == "Y"


# --------------------------------------------------------------------------------------------
# Participant flow
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmFlow:
    """Counts of one arm's flow through the trial (from ADSL flags), with reasons."""

    arm: str
    label: str
    randomised: int
    deteriorated: int
    crossed_over: int
    discontinued_randomised: int
    discontinued_randomised_reasons: tuple[tuple[str, int], ...]
    completed_w16: int
    no_extension: int
    no_extension_reasons: tuple[tuple[str, int], ...]
    entered_extension: int
    discontinued_extension: int
    discontinued_extension_reasons: tuple[tuple[str, int], ...]
    completed_final: int


def _reasons(frame: pd.DataFrame, default: str) -> tuple[tuple[str, int], ...]:
    counts: Counter[str] = Counter()
    for reason in frame["DCSREAS"].tolist():
        text = "" if reason is None or (isinstance(reason, float) and np.isnan(reason)) else reason
        counts[str(text).strip() or default] += 1
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def participant_flow(derived: DerivedTables) -> tuple[ArmFlow, ...]:
    """One :class:`ArmFlow` per protocol arm (treatment first), from the ADSL flags.

    Stages: randomised; confirmed deterioration in the randomised period (``CDFL``) and
    crossover (``CROSSFL``); discontinued before the primary week (not ``COMP16FL``);
    completed the primary week (``COMP16FL``); completed it but did not enter the extension;
    entered the extension (``EXTFL``); discontinued in the extension; completed the final week
    (``COMP40FL``). Reasons are ``DCSREAS`` (``reason not recorded`` when blank); a
    treatment-arm patient kept out of the extension by confirmed deterioration is counted under
    that reason.
    """
    proto = derived.protocol
    rand = _randomised(derived)
    out = []
    for arm in (proto.treatment, proto.control):
        a = rand[rand["ARMCD"] == arm.code]
        comp16 = _yes(a["COMP16FL"])
        ext = _yes(a["EXTFL"])
        comp40 = _yes(a["COMP40FL"])
        cd = _yes(a["CDFL"])
        cross = _yes(a["CROSSFL"])
        no_ext = a[comp16 & ~ext]
        blocked = _yes(no_ext["CDFL"]) & ~_yes(no_ext["CROSSFL"])
        no_ext_reasons = Counter(dict(_reasons(no_ext[~blocked], "reason not recorded")))
        if int(blocked.sum()):
            no_ext_reasons["confirmed deterioration (no extension)"] += int(blocked.sum())
        out.append(
            ArmFlow(
                arm=arm.code,
                label=arm.label,
                randomised=len(a),
                deteriorated=int(cd.sum()),
                crossed_over=int(cross.sum()),
                discontinued_randomised=int((~comp16).sum()),
                discontinued_randomised_reasons=_reasons(a[~comp16], "reason not recorded"),
                completed_w16=int(comp16.sum()),
                no_extension=len(no_ext),
                no_extension_reasons=tuple(
                    sorted(no_ext_reasons.items(), key=lambda kv: (-kv[1], kv[0]))
                ),
                entered_extension=int(ext.sum()),
                discontinued_extension=int((ext & ~comp40).sum()),
                discontinued_extension_reasons=_reasons(a[ext & ~comp40], "reason not recorded"),
                completed_final=int(comp40.sum()),
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Table 1
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaselineRow:
    """One row of Table 1: ``cells`` maps arm code (and ``total``) to formatted text."""

    key: str
    label: str
    cells: dict[str, str]
    level: int = 0


def _median_range(values: pd.Series, digits: int) -> str:
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return MISSING
    return (
        f"{format_number(v.median(), digits)} "
        f"({format_number(v.min(), digits)} to {format_number(v.max(), digits)})"
    )


def _median_iqr(values: pd.Series, digits: int) -> str:
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return MISSING
    q1, q3 = np.percentile(v.to_numpy(dtype=float), [25, 75])
    return (
        f"{format_number(v.median(), digits)} "
        f"({format_number(q1, digits)} to {format_number(q3, digits)})"
    )


def _mean_sd(values: pd.Series, digits: int) -> str:
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return MISSING
    return format_mean_sd(v.mean(), v.std(ddof=1) if len(v) > 1 else np.nan, digits)


def baseline_table(derived: DerivedTables) -> tuple[list[str], list[BaselineRow]]:
    """Table 1: baseline characteristics of the randomised patients by arm and in total.

    Returns the column keys (arm codes, then ``total``) and the rows. Counts are ``n (%)`` of
    the column's patients; continuous values are mean (SD), or median (IQR) for the enzymes;
    age also as median (range). Baseline measures are the week-0 rows of ADEFF.
    """
    proto = derived.protocol
    rand = _randomised(derived)
    arms = [proto.treatment.code, proto.control.code]
    columns = [*arms, "total"]
    groups = {a: rand[rand["ARMCD"] == a] for a in arms}
    groups["total"] = rand[rand["ARMCD"].isin(arms)]
    rows: list[BaselineRow] = [
        BaselineRow("n", "Patients, n", {c: str(len(g)) for c, g in groups.items()})
    ]

    def count_row(key: str, label: str, mask_of: dict[str, pd.Series], level: int) -> None:
        rows.append(
            BaselineRow(
                key,
                label,
                {c: format_count_pct(int(mask_of[c].sum()), len(groups[c])) for c in columns},
                level,
            )
        )

    rows.append(
        BaselineRow(
            "age_mean",
            "Age, years: mean (SD)",
            {c: _mean_sd(g["AGE"], 1) for c, g in groups.items()},
        )
    )
    rows.append(
        BaselineRow(
            "age_median",
            "Age, years: median (range)",
            {c: _median_range(g["AGE"], 0) for c, g in groups.items()},
        )
    )
    sex = {c: g["SEX"].astype(str).str.upper().str[:1] for c, g in groups.items()}
    count_row("sex_female", "Female sex, n (%)", {c: s == "F" for c, s in sex.items()}, 0)
    msa = {c: g["MSAGRP"].astype(str) for c, g in groups.items()}
    rows.append(
        BaselineRow("msa_header", "Myositis antibody group, n (%)", dict.fromkeys(columns, ""))
    )
    count_row(
        "msa_positive",
        "Myositis-specific antibody positive",
        {c: m.isin(MSA_POSITIVE) for c, m in msa.items()},
        1,
    )
    seen = set(msa["total"])
    for code, label in MSA_LABELS.items():
        if code in seen or code in MSA_POSITIVE:
            count_row(
                f"msa_{code}",
                label,
                {c: m == code for c, m in msa.items()},
                2 if code in MSA_POSITIVE else 1,
            )
    for code in sorted(seen - set(MSA_LABELS)):
        count_row(f"msa_{code}", code, {c: m == code for c, m in msa.items()}, 1)
    for col, label in OPTIONAL_CATEGORIES.items():
        if col not in rand.columns:
            continue
        vals = {c: g[col].astype(str) for c, g in groups.items()}
        rows.append(BaselineRow(f"{col}_header", f"{label}, n (%)", dict.fromkeys(columns, "")))
        for level in sorted(set(vals["total"])):
            count_row(f"{col}_{level}", level, {c: v == level for c, v in vals.items()}, 1)
    base = derived.adeff[derived.adeff["AVISITN"] == 0]
    present = [p for p in BASELINE_MEASURES if p in set(base["PARAMCD"])]
    if present:
        rows.append(
            BaselineRow("csm_header", "Baseline core set measures", dict.fromkeys(columns, ""))
        )
    for param in present:
        label, digits, skewed = BASELINE_MEASURES[param]
        values = base[base["PARAMCD"] == param].set_index("USUBJID")["AVAL"]
        cells = {}
        for c, g in groups.items():
            v = values.reindex(g["USUBJID"]).dropna()
            cells[c] = _median_iqr(v, digits) if skewed else _mean_sd(v, digits)
        stat = "median (IQR)" if skewed else "mean (SD)"
        rows.append(BaselineRow(f"base_{param.lower()}", f"{label}: {stat}", cells, 1))
    return columns, rows


# --------------------------------------------------------------------------------------------
# By-visit series (figures)
# --------------------------------------------------------------------------------------------


def _visit_rows(derived: DerivedTables, param: str, column: str) -> pd.DataFrame:
    proto = derived.protocol
    ids = _randomised(derived)["USUBJID"]
    e = derived.adeff
    rows = e[
        (e["PARAMCD"] == param)
        & e["USUBJID"].isin(ids)
        & (e["AVISITN"] <= proto.final_week)
        & e["ARMCD"].isin([proto.treatment.code, proto.control.code])
    ]
    return rows[["USUBJID", "ARMCD", "AVISITN", column]].dropna(subset=[column])


def by_visit_responses(derived: DerivedTables) -> pd.DataFrame:
    """Patients with at least minimal / moderate / major improvement at each post-baseline visit.

    Columns ``arm, week, category, threshold, x, n, pct`` (observed cases: ``n`` patients of the
    arm with a TIS at that visit, ``x`` of them with TIS >= the category's threshold). The
    categories and thresholds are those of the protocol's population (``policy.categories``,
    rules/tis_2016.toml: adult 20/40/60, juvenile 30/45/70).
    """
    proto = derived.protocol
    categories = proto.policy.categories
    tis = _visit_rows(derived, "TIS", "AVAL")
    tis = tis[tis["AVISITN"] > 0]
    recs = []
    for (arm, week), grp in tis.groupby(["ARMCD", "AVISITN"], sort=True):
        week = int(str(week))
        for name, thr in categories:
            x = int((grp["AVAL"] >= thr).sum())
            recs.append(
                {
                    "arm": arm,
                    "week": week,
                    "category": name,
                    "threshold": thr,
                    "x": x,
                    "n": len(grp),
                    "pct": 100.0 * x / len(grp),
                }
            )
    return pd.DataFrame(recs, columns=["arm", "week", "category", "threshold", "x", "n", "pct"])


def by_visit_means(
    derived: DerivedTables, param: str, *, change: bool = False, conf_level: float = 0.95
) -> pd.DataFrame:
    """Mean of ``param`` (or of its change from baseline) by arm and visit, with a t interval.

    Columns ``arm, week, n, mean, sd, lower, upper`` (observed cases; the interval is missing
    when n < 2).
    """
    column = "CHG" if change else "AVAL"
    rows = _visit_rows(derived, param, column)
    if change:
        rows = rows[rows["AVISITN"] > 0]
    recs = []
    for (arm, week), grp in rows.groupby(["ARMCD", "AVISITN"], sort=True):
        v = grp[column].to_numpy(dtype=float)
        n = v.size
        mean = float(v.mean())
        sd = float(v.std(ddof=1)) if n > 1 else np.nan
        half = float(sps.t.ppf(0.5 + conf_level / 2, n - 1) * sd / np.sqrt(n)) if n > 1 else np.nan
        recs.append(
            {
                "arm": arm,
                "week": int(str(week)),
                "n": n,
                "mean": mean,
                "sd": sd,
                "lower": mean - half,
                "upper": mean + half,
            }
        )
    return pd.DataFrame(recs, columns=["arm", "week", "n", "mean", "sd", "lower", "upper"])
