# ruff: noqa: E501 - HTML lines are kept whole
"""The DSMB open report: pooled over arms, for blinded readers.

Built only from the BLINDED canonical tables (``TrialService.export_tables(actor,
blinded=True)``: no ``arm``, no ``crossover_week``, no infusion ``product``), so no number in it
can depend on the allocation: enrolment and disposition, baseline characteristics, the Total
Improvement Score by visit and adverse events, all for the trial as a whole. The closed report
(by arm, for the unblinded statistician) is the ordinary trial report
(:func:`myotrial.report.build_report`) of the unblinded export.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from myotrial.protocol import Protocol
from myotrial.report._template import CSS
from myotrial.report.figures import SYNTHETIC_MARK
from myotrial.report.formatting import MISSING, format_count_pct, format_mean_sd, format_number

__all__ = ["OpenReport", "build_open_report"]

#: Columns that would carry the allocation: refused in the open report's input.
ARM_COLUMNS = {"subjects": ("arm", "crossover_week"), "infusions": ("product",)}


@dataclass(frozen=True)
class OpenReport:
    """The open report in memory: HTML and the pooled tables it shows."""

    html: str
    enrolment: list[tuple[str, str]]
    tis_by_week: pd.DataFrame


def _yes(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip().str.lower().isin(("true", "1", "yes", "y"))


def _enrolment(subjects: pd.DataFrame) -> list[tuple[str, str]]:
    rand = subjects[_yes(subjects["randomised"])] if "randomised" in subjects else subjects
    n = len(rand)
    rows = [("Subjects registered", str(len(subjects))), ("Randomised", str(n))]
    for col, label in (
        ("completed_week_16", "Completed the primary week"),
        ("entered_extension", "Entered the open-label extension"),
        ("completed_week_40", "Completed the final week"),
    ):
        if col in rand:
            rows.append((label, format_count_pct(int(_yes(rand[col]).sum()), n)))
    if "deterioration_week" in rand:
        cd = pd.to_numeric(rand["deterioration_week"], errors="coerce").notna()
        rows.append(("Confirmed clinical deterioration", format_count_pct(int(cd.sum()), n)))
    if "discontinuation_reason" in rand:
        reasons = Counter(
            str(r).strip()
            for r in rand["discontinuation_reason"].dropna()
            if str(r).strip()
        )
        rows.append(("Discontinued", format_count_pct(sum(reasons.values()), n)))
        for reason, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append((f"\u2003{reason}", str(count)))
    return rows


def _baseline(subjects: pd.DataFrame, scored: pd.DataFrame) -> list[tuple[str, str]]:
    rand = subjects[_yes(subjects["randomised"])] if "randomised" in subjects else subjects
    n = len(rand)
    age = (
        pd.to_numeric(rand["age"], errors="coerce").dropna()
        if "age" in rand
        else pd.Series(dtype=float)
    )
    rows = [
        ("Patients", str(n)),
        ("Age, years: mean (SD)",
         format_mean_sd(age.mean(), age.std(ddof=1) if len(age) > 1 else np.nan, 1)
         if len(age) else MISSING),
    ]
    if "sex" in rand:
        female = rand["sex"].astype(str).str.upper().str[:1] == "F"
        rows.append(("Female sex, n (%)", format_count_pct(int(female.sum()), n)))
    if "msa_group" in rand:
        for level, count in sorted(Counter(rand["msa_group"].astype(str)).items()):
            rows.append((f"Antibody group {level}, n (%)", format_count_pct(count, n)))
    base = scored[pd.to_numeric(scored["visit_week"], errors="coerce") == 0]
    for col, label, digits in (("pga", "PGA, cm", 1), ("mmt8", "MMT-8", 1), ("haq", "HAQ", 2)):
        if col in base:
            v = pd.to_numeric(base[col], errors="coerce").dropna()
            if len(v):
                rows.append((f"Baseline {label}: mean (SD)",
                             format_mean_sd(v.mean(), v.std(ddof=1) if len(v) > 1 else np.nan,
                                            digits)))
    return rows


def _tis_by_week(scored: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    tis = scored.assign(week=pd.to_numeric(scored["visit_week"], errors="coerce"),
                        tis=pd.to_numeric(scored["tis"], errors="coerce"))
    tis = tis[(tis["week"] > 0) & tis["tis"].notna()]
    recs = []
    for week, grp in tis.groupby("week", sort=True):
        v = grp["tis"].to_numpy(dtype=float)
        rec: dict[str, object] = {
            "week": int(str(week)), "n": v.size, "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)) if v.size > 1 else np.nan,
        }
        for name, thr in protocol.policy.categories:
            rec[name] = int((v >= thr).sum())
        recs.append(rec)
    return pd.DataFrame(recs)


def _safety(adverse_events: pd.DataFrame | None, n: int) -> list[tuple[str, str, str]]:
    if adverse_events is None or adverse_events.empty:
        return []
    ae = adverse_events
    rows = [("Any adverse event", format_count_pct(ae["subject_id"].nunique(), n), str(len(ae)))]
    for col, label in (("serious", "Serious"), ("related", "Related to study drug"),
                       ("thromboembolic", "Thromboembolic")):
        if col in ae:
            sel = ae[_yes(ae[col])]
            rows.append((label, format_count_pct(sel["subject_id"].nunique(), n), str(len(sel))))
    return rows


TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title><style>{{ css }}</style>
{% if synthetic %}<style>@page { @bottom-center { content: "{{ synthetic_mark }}"; font-size: 8pt; color: #b00020; font-weight: bold; } }</style>{% endif %}
</head><body>
{% if synthetic %}<div class="banner" id="synthetic-banner">{{ synthetic_mark }}</div>{% endif %}
<h1>{{ title }}</h1>
<p class="subtitle">Protocol {{ protocol.name }}. <strong>OPEN REPORT — pooled over the randomised groups, for blinded readers.</strong> Built from the blinded export of the live trial; no number here depends on the allocation.</p>
<h2>1. Enrolment and disposition</h2>
<table id="table-open-enrolment" class="kv"><tbody>{% for k, v in enrolment %}<tr><td>{{ k }}</td><td class="num">{{ v }}</td></tr>{% endfor %}</tbody></table>
<h2>2. Baseline characteristics (all randomised patients)</h2>
<table id="table-open-baseline" class="kv"><tbody>{% for k, v in baseline %}<tr><td>{{ k }}</td><td class="num">{{ v }}</td></tr>{% endfor %}</tbody></table>
<h2>3. Total Improvement Score by visit (all patients, observed cases)</h2>
<table id="table-open-tis"><thead><tr><th>Week</th><th class="num">Patients with a TIS</th><th class="num">Mean (SD)</th>{% for name in categories %}<th class="num">TIS ≥ {{ name }}</th>{% endfor %}</tr></thead>
<tbody>{% for r in tis %}<tr><td>{{ r.week }}</td><td class="num">{{ r.n }}</td><td class="num">{{ r.mean_sd }}</td>{% for c in r.cats %}<td class="num">{{ c }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
<h2>4. Adverse events (all patients)</h2>
{% if safety %}<table id="table-open-safety"><thead><tr><th>Category</th><th class="num">Patients</th><th class="num">Events</th></tr></thead>
<tbody>{% for k, p, e in safety %}<tr><td>{{ k }}</td><td class="num">{{ p }}</td><td class="num">{{ e }}</td></tr>{% endfor %}</tbody></table>
{% else %}<p class="missing-section">No adverse events recorded.</p>{% endif %}
<p class="note">Generated by myotrial {{ version }}. Comparisons between the randomised groups are in the closed report, for the unblinded statistician and the DSMB in closed session only.</p>
</body></html>
"""


def build_open_report(
    tables: Mapping[str, pd.DataFrame],
    protocol: Protocol,
    *,
    synthetic: bool = False,
    title: str | None = None,
) -> OpenReport:
    """The pooled open report from the blinded canonical tables (``visits``, ``subjects``,
    ``adverse_events``).

    Raises
    ------
    ValueError
        A table carries an allocation column (``arm``, ``crossover_week``, ``product``): the
        open report must be built from the blinded export.
    """
    from myotrial.report.render import _version
    from myotrial.scoring import score_visits

    for name, cols in ARM_COLUMNS.items():
        frame = tables.get(name)
        present = [] if frame is None else [c for c in cols if c in frame.columns]
        if present:
            raise ValueError(
                f"the open report takes the blinded export only; table {name!r} has "
                f"allocation column(s) {present}"
            )
    subjects = tables["subjects"]
    rand_ids = set(
        subjects.loc[_yes(subjects["randomised"]), "subject_id"].astype(str)
        if "randomised" in subjects else subjects["subject_id"].astype(str)
    )
    visits = tables["visits"]
    visits = visits[visits["subject_id"].astype(str).isin(rand_ids)]
    scored = (
        score_visits(visits, **protocol.policy.visits_table_options())
        if len(visits) else pd.DataFrame(columns=["subject_id", "visit_week", "tis"])
    )
    tis = _tis_by_week(scored, protocol)
    cats = [name for name, _ in protocol.policy.categories]
    thresholds = [f"{thr:g}" for _, thr in protocol.policy.categories]
    ae = tables.get("adverse_events")
    if ae is not None:
        ae = ae[ae["subject_id"].astype(str).isin(rand_ids)]
    enrolment = _enrolment(subjects)
    env = Environment(autoescape=True, undefined=StrictUndefined)
    html = env.from_string(TEMPLATE).render(
        title=title or f"{protocol.name.upper()} DSMB open report",
        css=Markup(CSS),
        synthetic=synthetic,
        synthetic_mark=SYNTHETIC_MARK,
        protocol=protocol,
        enrolment=enrolment,
        baseline=_baseline(subjects, scored),
        categories=thresholds,
        tis=[
            {
                "week": int(r["week"]),
                "n": int(r["n"]),
                "mean_sd": format_mean_sd(r["mean"], r["sd"], 1),
                "cats": [format_count_pct(int(r[c]), int(r["n"])) for c in cats],
            }
            for r in tis.to_dict("records")
        ],
        safety=_safety(ae, len(rand_ids)),
        version=_version(),
        format_number=format_number,
    )
    return OpenReport(html=html, enrolment=enrolment, tis_by_week=tis)
