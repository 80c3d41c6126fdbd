"""Render the trial report: one self-contained HTML file (inline CSS and SVG) and its PDF.

:func:`build_report` assembles everything in memory and validates the safety inputs first;
:func:`render_report` then writes the files, so bad input writes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup

from myotrial.analysis import AnalysisResults
from myotrial.derive import DerivedTables
from myotrial.report._pdf import html_to_pdf
from myotrial.report._template import CSS, TEMPLATE
from myotrial.report.consort import AnalysedCounts, ScreeningCounts, consort_svg
from myotrial.report.figures import (
    SYNTHETIC_MARK,
    RenderedFigure,
    figure_csm_changes,
    figure_forest,
    figure_kaplan_meier,
    figure_mean_tis,
    figure_responses,
    figure_tipping_point,
    short_arm,
)
from myotrial.report.formatting import (
    MISSING,
    format_count_pct,
    format_estimate,
    format_p_equals,
)
from myotrial.report.provenance import (
    Checksum,
    file_checksums,
    methods_used,
    project_interpretations,
    scoring_appendix,
    software_versions,
    table_checksums,
)
from myotrial.report.safety import build_safety, validate_safety_inputs
from myotrial.report.sap_section import (
    estimand_rows,
    mmrm_table,
    multiplicity_rows,
    population_rows,
    sensitivity_rows,
    stratified_rows,
)
from myotrial.report.summaries import (
    BASELINE_MEASURES,
    baseline_table,
    by_visit_means,
    by_visit_responses,
    participant_flow,
)
from myotrial.report.tables import Footnotes, efficacy_rows, forest_table, km_rows
from myotrial.stats import get_method

__all__ = [
    "RenderedReport",
    "ReportDraft",
    "ReportPaths",
    "build_report",
    "complete_report",
    "draft_report",
    "html_to_pdf",
    "render_report",
    "write_file",
    "write_report",
]

FIGURE_SLOTS = (
    "fig-responses",
    "fig-mean-tis",
    "fig-csm",
    "fig-km",
    "fig-forest",
    "fig-tipping",
)
CSM_FIGURE = ("PGA", "PTGA", "EXTRAMUS", "MMT8", "HAQ", "CK", "CDASIA")


@dataclass(frozen=True)
class ReportPaths:
    """Files written by :func:`render_report` (``pdf`` is None with ``pdf=False``)."""

    html: Path
    pdf: Path | None
    figures: tuple[Path, ...]


@dataclass(frozen=True)
class RenderedReport:
    """The report in memory.

    ``html`` is the report (figures as inline SVG); ``figures`` each figure's SVG by name;
    ``print_html`` the same document for the PDF, with the matplotlib figures as PNG
    (WeasyPrint draws large SVGs slowly), or None when not requested.
    """

    html: str
    figures: dict[str, str]
    print_html: str | None = None


def _version() -> str:
    try:
        return metadata.version("myotrial")
    except metadata.PackageNotFoundError:  # pragma: no cover - source checkout without install
        return "unknown"


def _intro(derived: DerivedTables, results: AnalysisResults) -> str:
    proto = derived.protocol
    rand = derived.adsl[derived.adsl["RANDFL"] == "Y"]
    n_t = int((rand["ARMCD"] == proto.treatment.code).sum())
    n_c = int((rand["ARMCD"] == proto.control.code).sum())
    text = (
        f"{len(rand)} patients were randomised: {n_t} to {proto.treatment.label} and {n_c} to "
        f"{proto.control.label}."
    )
    if "EUNBLFL" in derived.adsl.columns:  # recorded by the live trial (issue 12)
        flagged = sorted(derived.adsl.loc[derived.adsl["EUNBLFL"] == "Y", "USUBJID"].astype(str))
        if flagged:
            text += (
                f" Emergency unblinding was recorded for {len(flagged)} patient"
                f"{'' if len(flagged) == 1 else 's'} ({', '.join(flagged)})."
            )
    try:
        ep = results.get(proto.primary)
    except KeyError:
        return text
    t, c = ep.arms.get(results.treatment), ep.arms.get(results.control)
    if t and c and ep.estimate is not None:
        p = "" if ep.test is None else f", {format_p_equals(ep.test.p_value)}"
        text += (
            f" Primary endpoint ({ep.label[:1].lower()}{ep.label[1:]}): "
            f"{format_count_pct(t['x'], t['n'])} vs "
            f"{format_count_pct(c['x'], c['n'])}; risk difference "
            f"{format_estimate(ep.estimate)} percentage points ({results.conf_level:.0%} CI"
            f"){p}."
        )
    return text


def _response_table(
    responses: pd.DataFrame, derived: DerivedTables
) -> tuple[list[int], list[tuple[str, str, list[str]]]]:
    proto = derived.protocol
    weeks = sorted({int(w) for w in responses["week"]})
    rows = []
    for arm in (proto.treatment, proto.control):
        for cat in dict.fromkeys(responses["category"]):
            sub = responses[(responses["arm"] == arm.code) & (responses["category"] == cat)]
            by_week = {int(r.week): r for r in sub.itertuples()}
            cells = [
                format_count_pct(by_week[w].x, by_week[w].n) if w in by_week else MISSING
                for w in weeks
            ]
            rows.append((arm.code, str(cat), cells))
    return weeks, rows


def _analysis_settings(derived: DerivedTables, results: AnalysisResults) -> list[tuple[str, str]]:
    proto = derived.protocol
    out = [
        ("Primary endpoint", proto.policy.endpoint(proto.primary).label),
        (
            "TIS categories",
            f"{proto.policy.population} population: "
            + ", ".join(f"{name} \u2265 {thr:g}" for name, thr in proto.policy.categories),
        ),
        (
            "Population",
            "All randomised patients by randomised arm (week-"
            f"{proto.final_week} endpoints: patients who entered the extension, by original "
            "arm); missing response = non-responder.",
        ),
        ("Confidence level", f"{results.conf_level:.0%}, two-sided"),
        (
            "Deterioration and crossover",
            f"control arm: {proto.control_on_deterioration}; treatment arm: "
            f"{proto.treatment_on_deterioration}; after a switch: "
            f"{proto.after_switch_deterioration}",
        ),
        ("Assessment weeks", ", ".join(str(w) for w in proto.assessment_weeks)),
    ]
    ep = next((e for e in results.endpoints if e.kind == "binary" and e.estimate), None)
    if ep is not None and ep.estimate is not None:
        test = "" if ep.test is None else f"; test: {get_method(ep.test.method).label}"
        out.append(
            (
                "Binary endpoints",
                f"risk difference, {get_method(ep.estimate.method).label} interval{test}",
            )
        )
        if ep.pairing:
            out.append(("Interval and test", ep.pairing))
    sap = results.sap
    out.append(
        (
            "Statistical analysis plan",
            "the protocol's [sap]"
            if sap is not None and not sap.defaulted
            else "default plan (the protocol has no [sap])",
        )
    )
    if results.overrides:
        out.append(
            ("Overrides of the SAP", ", ".join(f"{k} = {v}" for k, v in results.overrides.items()))
        )
    out.append(("Stratification", ", ".join(results.strata) or "none (unstratified analyses)"))
    descriptive = [e.endpoint for e in results.endpoints if e.comparison == "descriptive"]
    if descriptive:
        out.append(
            (
                "Descriptive endpoints",
                ", ".join(descriptive) + ": per-arm summaries with Clopper-Pearson intervals; "
                "no between-arm estimate or test (not a randomised comparison)",
            )
        )
    if results.subgroups is not None:
        out.append(
            (
                "Subgroups",
                ", ".join(
                    dict.fromkeys(str(s) for s in results.subgroups.interactions["subgroup"])
                ),
            )
        )
    return out


@dataclass(frozen=True)
class ReportDraft:
    """The parts of the report that need only the derived tables, the safety tables and the
    confidence level (:func:`draft_report`): built while the analysis runs, completed with the
    results by :func:`complete_report`. The same calls in either order give the same report."""

    derived: DerivedTables
    conf_level: float
    synthetic: bool
    print_version: bool
    adverse_events: pd.DataFrame | None
    infusions: pd.DataFrame | None
    inputs: Mapping[str, str | os.PathLike[str]] | None
    checksums: list[Checksum]
    flows: Any
    baseline: tuple[list[str], Any]
    responses: pd.DataFrame
    figures: tuple[RenderedFigure, ...]
    context: dict[str, Any]


def _conf_of(derived: DerivedTables) -> float:
    sap = derived.protocol.sap
    return float(sap.conf_level) if sap is not None else 0.95


def draft_report(
    derived: DerivedTables,
    *,
    conf_level: float | None = None,
    adverse_events: pd.DataFrame | None = None,
    infusions: pd.DataFrame | None = None,
    inputs: Mapping[str, str | os.PathLike[str]] | None = None,
    synthetic: bool = False,
    print_version: bool = False,
) -> ReportDraft:
    """The results-free part of :func:`build_report` (validates the safety inputs first).

    ``conf_level`` is the analysis' confidence level (default: the protocol's SAP, 95 %
    without one); :func:`complete_report` redraws the by-visit figures if the results were
    computed at another level.
    """
    proto = derived.protocol
    conf = _conf_of(derived) if conf_level is None else float(conf_level)
    rand_ids = derived.adsl.loc[derived.adsl["RANDFL"] == "Y", "USUBJID"].astype(str).tolist()
    validate_safety_inputs(adverse_events, infusions, rand_ids)
    checksums = file_checksums({k: Path(v) for k, v in (inputs or {}).items()})
    checksums += table_checksums(
        {
            "derived: adsl": derived.adsl,
            "derived: adrs": derived.adrs,
            "derived: adeff": derived.adeff,
            "derived: adtte": derived.adtte,
            "table: adverse_events": adverse_events,
            "table: infusions": infusions,
        }
    )
    flows = participant_flow(derived)
    columns, rows = baseline_table(derived)
    responses = by_visit_responses(derived)
    weeks, response_tab = _response_table(responses, derived)
    means = by_visit_means(derived, "TIS", conf_level=conf)
    present = set(derived.adeff["PARAMCD"])
    changes = {
        p: (
            BASELINE_MEASURES[p][0].split(",")[0],
            by_visit_means(derived, p, change=True, conf_level=conf),
        )
        for p in CSM_FIGURE
        if p in present
    }
    png = print_version
    syn = synthetic
    figs = (
        figure_responses(responses, proto, png=png, synthetic=syn),
        figure_mean_tis(means, proto, conf, png=png, synthetic=syn),
        figure_csm_changes(changes, proto, conf, png=png, synthetic=syn),
    )
    safety = build_safety(derived, adverse_events, infusions)
    proto_file = proto.source
    proto_sha = (
        hashlib.sha256(proto_file.read_bytes()).hexdigest()
        if proto_file is not None and proto_file.is_file()
        else MISSING
    )
    context: dict[str, Any] = dict(
        version=_version(),
        css=Markup(CSS),
        synthetic=synthetic,
        synthetic_mark=SYNTHETIC_MARK,
        protocol=proto,
        baseline_rows=rows,
        arm_titles=(proto.treatment.label, proto.control.label),
        arm_codes=(proto.treatment.code, proto.control.code),
        primary_note=(
            "Binary endpoints count every patient of the population: dropouts, missing TIS "
            "and confirmed deterioration are non-responders."
        ),
        thresholds=" / ".join(f"{thr:g}" for _, thr in proto.policy.categories),
        ir_window=f"{proto.infusion_related_window_hours:g}",
        response_weeks=weeks,
        response_table=response_tab,
        safety=safety,
        scoring=scoring_appendix(derived),
        interpretations=project_interpretations(proto),
        protocol_file=proto_file.name if proto_file is not None else "(in memory)",
        protocol_sha=proto_sha,
        versions=software_versions(),
        checksums=checksums,
    )
    return ReportDraft(
        derived,
        conf,
        synthetic,
        print_version,
        adverse_events,
        infusions,
        inputs,
        checksums,
        flows,
        (columns, rows),
        responses,
        figs,
        context,
    )


def complete_report(
    draft: ReportDraft,
    results: AnalysisResults,
    *,
    seed: int | None = None,
    title: str | None = None,
    screening: ScreeningCounts | None = None,
    subtitle: str | None = None,
) -> RenderedReport:
    """:func:`build_report` from a :func:`draft_report` and the analysis results."""
    derived = draft.derived
    proto = derived.protocol
    if results.protocol != proto.name:
        raise ValueError(
            f"results are for protocol {results.protocol!r} but the derived tables for "
            f"{proto.name!r}"
        )
    conf = results.conf_level
    if conf != draft.conf_level:  # the by-visit intervals are drawn at the results' level
        draft = draft_report(
            derived,
            conf_level=conf,
            adverse_events=draft.adverse_events,
            infusions=draft.infusions,
            inputs=draft.inputs,
            synthetic=draft.synthetic,
            print_version=draft.print_version,
        )
    ci = f"{conf:.0%} CI"
    primary_ep = results.get(proto.primary)
    final_ep = next(
        (
            e
            for e in results.endpoints
            if e.kind == "binary" and e.population == "entered_extension"
        ),
        None,
    )
    analysed = AnalysedCounts(
        primary={a: int(v.get("n", 0)) for a, v in primary_ep.arms.items()},
        primary_label=f"week {proto.primary_week} endpoints",
        final={} if final_ep is None else {a: int(v.get("n", 0)) for a, v in final_ep.arms.items()},
        final_label=f"week {proto.final_week} endpoints",
    )
    synthetic = draft.synthetic
    consort = consort_svg(
        draft.flows,
        analysed,
        primary_week=proto.primary_week,
        final_week=proto.final_week,
        extension_label=short_arm(proto.extension_arm),
        screening=screening,
        synthetic=synthetic,
    )
    columns, rows = draft.baseline
    titles = {
        proto.treatment.code: proto.treatment.label,
        proto.control.code: proto.control.label,
        "total": "Total",
    }
    n_by_col = dict(zip(columns, rows[0].cells.values(), strict=True))
    baseline_columns = [{"key": c, "title": f"{titles[c]} (n = {n_by_col[c]})"} for c in columns]
    notes_eff = Footnotes(conf)
    binary_rows = efficacy_rows(results, ("binary",), notes_eff, proto.primary)
    continuous_rows = efficacy_rows(results, ("continuous",), notes_eff)
    notes_other = Footnotes(conf)
    change_rows = efficacy_rows(results, ("change",), notes_other)
    tte_rows = km_rows(results, notes_other)
    forest, forest_caption = forest_table(results, notes_other)
    png = draft.print_version
    syn = synthetic
    figs = [
        *draft.figures,
        figure_kaplan_meier(
            [e for e in results.endpoints if e.kind == "time_to_event"],
            proto,
            png=png,
            synthetic=syn,
        ),
    ]
    if results.subgroups is not None:
        figs.append(
            figure_forest(results.subgroups, proto, primary_ep.label, png=png, synthetic=syn)
        )
    tipping = next((s for s in results.sensitivity if s.tipping is not None), None)
    if tipping is not None:
        figs.append(figure_tipping_point(tipping, proto, png=png, synthetic=syn))
    notes_sap = Footnotes(conf)
    strat_rows = stratified_rows(results, notes_sap)
    sens_rows = sensitivity_rows(results, notes_sap)
    mmrm_weeks, mmrm_rows, mmrm_notes = mmrm_table(results)
    mmrm_marks = sorted({ep.mmrm.method for ep in results.endpoints if ep.mmrm is not None})
    for key in mmrm_marks:
        notes_sap.mark(key)
    mult = results.multiplicity
    figures = {f.name: f for f in figs}
    context = dict(
        draft.context,
        title=title or f"{proto.name.upper()} trial report",
        subtitle=subtitle or "",
        intro=_intro(derived, results),
        estimands=estimand_rows(results.sap),
        populations=population_rows(results),
        strata=", ".join(results.strata),
        stratified_rows=strat_rows,
        sensitivity_rows=sens_rows,
        tipping=tipping,
        mmrm_weeks=mmrm_weeks,
        mmrm_rows=mmrm_rows,
        mmrm_notes=mmrm_notes,
        multiplicity=multiplicity_rows(results),
        multiplicity_method="" if mult is None else get_method(mult.method).label,
        multiplicity_alpha="" if mult is None else f"{mult.alpha:g}",
        multiplicity_notes=list(results.multiplicity_notes),
        footnotes_sap=notes_sap.items(),
        endpoint_notes=[
            (e.endpoint, n)
            for e in results.endpoints
            for n in e.notes
            if not n.startswith("descriptive")
        ],
        consort=Markup(consort),
        baseline_columns=baseline_columns,
        ci=ci,
        binary_rows=binary_rows,
        continuous_rows=continuous_rows,
        footnotes_efficacy=notes_eff.items(),
        footnotes_other=notes_other.items(),
        change_rows=change_rows,
        km_rows=tte_rows,
        forest_rows=forest,
        forest_caption=forest_caption,
        analysis_settings=_analysis_settings(derived, results),
        methods=methods_used(results),
        seed=MISSING if seed is None else str(seed),
    )
    template = _template()

    def render(markup: dict[str, str]) -> str:
        slots = {key.replace("-", "_"): Markup(markup.get(key, "")) for key in FIGURE_SLOTS}
        return template.render(**context, **slots)

    html = render({name: f.svg for name, f in figures.items()})
    print_html = (
        render({n: f.img_tag() for n, f in figures.items()}) if draft.print_version else None
    )
    svgs = {name: f.svg for name, f in figures.items()}
    svgs["consort"] = consort
    return RenderedReport(html=html, figures=svgs, print_html=print_html)


@functools.cache
def _template() -> Template:
    env = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
    return env.from_string(TEMPLATE)


def build_report(
    derived: DerivedTables,
    results: AnalysisResults,
    *,
    adverse_events: pd.DataFrame | None = None,
    infusions: pd.DataFrame | None = None,
    inputs: Mapping[str, str | os.PathLike[str]] | None = None,
    seed: int | None = None,
    synthetic: bool = False,
    title: str | None = None,
    print_version: bool = False,
    screening: ScreeningCounts | None = None,
    subtitle: str | None = None,
) -> RenderedReport:
    """Assemble the report in memory (nothing is written).

    ``print_version=True`` also builds :attr:`RenderedReport.print_html` for the PDF.
    ``screening`` (:func:`myotrial.report.consort.screening_counts`) starts the CONSORT flow at
    "assessed for eligibility"; ``synthetic`` puts the synthetic-data notice in the banner,
    every page footer and every figure. Equivalent to :func:`draft_report` (at the results'
    confidence level) then :func:`complete_report`.

    Raises
    ------
    InputValidationError
        Bad adverse-event or infusion rows, each located (:func:`validate_safety_inputs`).
    FileNotFoundError
        An entry of ``inputs`` is not a file.
    """
    if results.protocol != derived.protocol.name:
        raise ValueError(
            f"results are for protocol {results.protocol!r} but the derived tables for "
            f"{derived.protocol.name!r}"
        )
    draft = draft_report(
        derived,
        conf_level=results.conf_level,
        adverse_events=adverse_events,
        infusions=infusions,
        inputs=inputs,
        synthetic=synthetic,
        print_version=print_version,
    )
    return complete_report(
        draft, results, seed=seed, title=title, screening=screening, subtitle=subtitle
    )


def write_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    _write(path, data)
    return path


def _write(path: Path, data: bytes) -> None:
    """Write atomically (temporary file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_report(
    derived: DerivedTables,
    results: AnalysisResults,
    *,
    out_dir: str | os.PathLike[str],
    adverse_events: pd.DataFrame | None = None,
    infusions: pd.DataFrame | None = None,
    inputs: Mapping[str, str | os.PathLike[str]] | None = None,
    seed: int | None = None,
    synthetic: bool = False,
    pdf: bool = True,
    title: str | None = None,
    screening: ScreeningCounts | None = None,
    subtitle: str | None = None,
) -> ReportPaths:
    """Write ``report.html``, ``report.pdf`` and ``figures/*.svg`` to ``out_dir``.

    Parameters
    ----------
    derived, results
        :func:`myotrial.derive.derive_all` and :func:`myotrial.analysis.analyze` outputs.
    adverse_events, infusions
        Canonical safety tables (``reference/data-format.md``); the safety section says it is
        missing when ``adverse_events`` is None.
    inputs
        Input files by name (e.g. ``{"visits": "visits.csv"}``): their SHA-256 go into the
        methods appendix.
    seed
        The seed that generated the data (simulated trials), recorded in the appendix.
    synthetic
        Show the banner "SYNTHETIC DATA — generated by myotrial, not patient data".
    pdf
        Also write the PDF (WeasyPrint).

    Everything is built before anything is written: on bad input (``InputValidationError``)
    no file is created.
    """
    report = build_report(
        derived,
        results,
        adverse_events=adverse_events,
        infusions=infusions,
        inputs=inputs,
        seed=seed,
        synthetic=synthetic,
        title=title,
        print_version=pdf,
        screening=screening,
        subtitle=subtitle,
    )
    pdf_bytes = html_to_pdf(report.print_html or report.html) if pdf else None
    return write_report(report, out_dir, pdf_bytes)


def write_report(
    report: RenderedReport, out_dir: str | os.PathLike[str], pdf_bytes: bytes | None = None
) -> ReportPaths:
    """Write a built report: ``figures/*.svg``, ``report.html`` and, given its bytes,
    ``report.pdf`` (each atomically)."""
    out = Path(out_dir)
    html_path = out / "report.html"
    figure_paths = []
    for name, svg in sorted(report.figures.items()):
        path = out / "figures" / f"{name}.svg"
        text = svg if svg.startswith("<?xml") else '<?xml version="1.0" encoding="utf-8"?>\n' + svg
        _write(path, text.encode("utf-8"))
        figure_paths.append(path)
    _write(html_path, report.html.encode("utf-8"))
    pdf_path = None
    if pdf_bytes is not None:
        pdf_path = out / "report.pdf"
        _write(pdf_path, pdf_bytes)
    return ReportPaths(html=html_path, pdf=pdf_path, figures=tuple(figure_paths))
