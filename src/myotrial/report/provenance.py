"""The methods appendix: scoring rules with citations, project interpretations, methods used,
software versions, seed and checksums (everything needed to reproduce the report).

Nothing here reads the clock: the same inputs give the same appendix.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd

from myotrial.analysis import AnalysisResults
from myotrial.derive import DerivedTables
from myotrial.protocol import Protocol
from myotrial.rules import load_deterioration_rules, load_doi_rules, load_tis_rules
from myotrial.stats import MethodInfo, get_method

__all__ = [
    "PACKAGES",
    "PROJECT_INTERPRETATIONS",
    "Checksum",
    "ScoringAppendix",
    "file_checksums",
    "methods_used",
    "project_interpretations",
    "scoring_appendix",
    "software_versions",
    "table_checksums",
]

#: Python packages whose versions the report records.
PACKAGES = (
    "myotrial",
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "numba",
    "matplotlib",
    "jinja2",
    "weasyprint",
)

#: The project's documented readings of the published rules (docs/scoring.md, derive docstrings,
#: this report's own rules).
PROJECT_INTERPRETATIONS: tuple[tuple[str, str], ...] = (
    (
        "Percent change of fixed-range measures",
        "(baseline \u2212 follow-up) / scale range \u00d7 100, sign flipped when higher is "
        "better (PGA, PtGA, extramuscular: 10 cm; MMT-8: 150; HAQ: 3).",
    ),
    (
        "Enzymes",
        "Relative change of value/ULN; the enzyme most abnormal at baseline (ties CK \u2192 "
        "aldolase \u2192 LDH \u2192 ALT \u2192 AST) is used at every visit.",
    ),
    (
        "TIS band edges",
        "Half-open (a, b]: a change exactly on an edge scores the lower band; changes within "
        "1e-9 percentage points of an edge are on it.",
    ),
    (
        "Missing measures",
        "No TIS when a core set measure is missing (the reason names it); at an endpoint that "
        "makes a non-responder (non-responder imputation).",
    ),
    (
        "Confirmed deterioration",
        "Percentages relative to baseline; two consecutive recorded post-baseline visits; "
        "dated at the confirming visit, which must be at or after week 8.",
    ),
    (
        "Crossover",
        "A control patient with confirmed deterioration switches to the extension arm at the "
        "confirming visit; time-to-event endpoints are censored there.",
    ),
    (
        "Second deterioration",
        "A switcher with two consecutive worsening visits after the switch (against the "
        "original baseline) discontinues.",
    ),
    (
        "Week-40 endpoints",
        "By original arm among patients who entered the extension; TIS against the week-0 "
        "baseline; no week-40 TIS is a non-responder.",
    ),
    (
        "Report figures",
        "By-visit proportions and means are over observed cases (patients with a value at "
        "that visit), by original randomised arm, with t-based intervals for means; the "
        "tables of estimates come from the analysis result objects.",
    ),
)


def project_interpretations(protocol: Protocol) -> tuple[tuple[str, str], ...]:
    """:data:`PROJECT_INTERPRETATIONS` with the protocol's own values written in (scales,
    earliest confirming week, final week, population thresholds) and the period rules."""
    policy = protocol.policy
    cats = ", ".join(f"{name} \u2265 {thr:g}" for name, thr in policy.categories)
    out: list[tuple[str, str]] = []
    for key, text in PROJECT_INTERPRETATIONS:
        if key == "Percent change of fixed-range measures":
            text = text.replace("MMT-8: 150", f"MMT-8: {protocol.mmt8_max:g}")
        elif key == "Confirmed deterioration":
            text = (
                "Percentages relative to baseline; "
                f"{protocol.consecutive_visits} consecutive recorded post-baseline visits; "
                "dated at the confirming visit, which must be at or after week "
                f"{protocol.earliest_week:g}."
            )
        elif key == "Week-40 endpoints":
            key = f"Week-{protocol.final_week} endpoints"
            text = (
                "By original arm among patients who entered the extension; TIS against the "
                f"week-0 baseline; no week-{protocol.final_week} TIS is a non-responder."
            )
        out.append((key, text))
    out.append(
        (
            "Endpoint thresholds",
            f"{policy.population} population: {cats} (rules/tis_2016.toml). Endpoint thresholds "
            "written as the adult category cut-offs in the protocol file name that category "
            "and take the population's cut-off.",
        )
    )
    out.append(
        (
            "Treatment periods",
            "Read from the derived subject table (ADSL APxxSDT/APxxEDT, TRTxxA), by both the "
            "analysis and this report: period 1 randomised treatment; period 2 after a "
            f"switch to {policy.extension_arm} (switching arms only: "
            f"{', '.join(policy.switching_arms) or 'none'}), from the confirming visit; "
            f"period 3 the extension from week {policy.randomised_end_week}.",
        )
    )
    return tuple(out)


@dataclass(frozen=True)
class Checksum:
    """SHA-256 of one input file or derived table."""

    name: str
    path: str
    size: str
    sha256: str


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_checksums(inputs: Mapping[str, str | Path] | None) -> list[Checksum]:
    """SHA-256 and size of each named input file (sorted by name; missing files raise)."""
    out = []
    for name, raw in sorted((inputs or {}).items()):
        path = Path(raw)
        if not path.is_file():
            raise FileNotFoundError(f"input {name!r}: {path} is not a file")
        out.append(Checksum(name, path.name, f"{path.stat().st_size:,} bytes", _sha256_file(path)))
    return out


def table_checksums(tables: Mapping[str, pd.DataFrame | None]) -> list[Checksum]:
    """SHA-256 of each table written as CSV in memory (a fingerprint of the analysed data)."""
    out = []
    for name, frame in tables.items():
        if frame is None:
            continue
        text = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
        out.append(
            Checksum(
                name,
                "(in memory)",
                f"{len(frame):,} rows",
                hashlib.sha256(text).hexdigest(),
            )
        )
    return out


def software_versions(packages: Iterable[str] = PACKAGES) -> list[tuple[str, str]]:
    """``(name, version)`` of Python and each installed package (``not installed`` if absent)."""
    out = [("python", platform.python_version())]
    for name in packages:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return out


def methods_used(results: AnalysisResults) -> list[MethodInfo]:
    """Registry entries of every method key the results used, in order of first use."""
    keys: list[str] = []
    for ep in results.endpoints:
        for res in (ep.estimate, *ep.extra, ep.test, ep.stratified_estimate, ep.stratified_test,
                    ep.stratified_logrank, ep.mmrm):
            if res is not None:
                keys.append(res.method)
        keys.extend(e.method for e in ep.arm_estimates.values())
        keys.extend(km.method for km in ep.km.values())
        for cox in (ep.cox, ep.cox_stratified):
            if cox is not None:
                keys += [cox.method, cox.ph_test.method]
    if results.subgroups is not None:
        keys.append(results.subgroups.method)
        keys.extend(str(m) for m in results.subgroups.interactions.get("method", []))
    if results.multiplicity is not None:
        keys.append(results.multiplicity.method)
    for sens in results.sensitivity:
        for res in (sens.estimate, sens.test):
            if res is not None:
                keys.append(res.method)
        if sens.method in ("bounded_tis", "tipping_point"):
            keys.append(sens.method)
    return [get_method(k) for k in dict.fromkeys(keys)]


@dataclass(frozen=True)
class ScoringAppendix:
    """The scoring rules as shown in the appendix (from the bundled rules files)."""

    tis_citation: str
    tis_doi: tuple[str, ...]
    band_headers: tuple[str, ...]
    slots: tuple[tuple[str, tuple[str, ...]], ...]
    categories: tuple[tuple[str, str], ...]
    doi_text: str
    doi_citation: str
    deterioration: tuple[tuple[str, str], ...]
    deterioration_citation: str
    confirmation: str


def scoring_appendix(derived: DerivedTables) -> ScoringAppendix:
    """TIS points table, categories, IMACS DOI and ProDERM deterioration with citations."""
    tis = load_tis_rules()
    doi = load_doi_rules()
    det = load_deterioration_rules(derived.protocol.deterioration_rules)
    proto = derived.protocol
    mset = tis.measure_set_for(proto.population, proto.measure_set)
    slots = []
    headers: tuple[str, ...] = ()
    for slot_name in mset.slots:
        slot = tis.slots[slot_name]
        if not headers:
            headers = tuple(b.criterion for b in slot.bands)
        bands = tuple(
            f"{p:g} ({b.criterion})" for b, p in zip(slot.bands, slot.points, strict=True)
        )
        slots.append((slot.label, bands))
    cat = tis.categories[proto.population]
    return ScoringAppendix(
        tis_citation=tis.citation,
        tis_doi=tis.doi,
        band_headers=headers,
        slots=tuple(slots),
        categories=(
            ("Minimal", f"TIS \u2265 {cat.minimal:g}"),
            ("Moderate", f"TIS \u2265 {cat.moderate:g}"),
            ("Major", f"TIS \u2265 {cat.major:g}"),
        ),
        doi_text=(
            f"{doi.min_improved} of {len(doi.measures)} core set measures improved by "
            f"\u2265 {doi.improved_pct:g}%, no more than {doi.max_worse} worse by "
            f"\u2265 {doi.worse_pct:g}%, and not {', '.join(doi.no_worse_measures)} among "
            "the worse"
        ),
        doi_citation=f"{doi.citation}, doi:{doi.doi}",
        deterioration=tuple((k[-1].upper(), v) for k, v in det.verbatim.items()),
        deterioration_citation=det.citation,
        confirmation=(
            f"Confirmed on {proto.consecutive_visits} consecutive visits, the confirming visit "
            f"at or after week {proto.earliest_week:g}."
        ),
    )
