"""``myotrial demo``: one seeded SYNTHETIC ProDERM-like trial, run through the whole pipeline.

Steps: candidates drawn by the calibrated model and screened
(:func:`myotrial.eligibility.derive_screening`); eligible patients randomised in order from a
concealed stratified permuted-block list (:class:`myotrial.randomisation.Randomiser`, the
protocol's ratio and block sizes); visits simulated, scored, screened for deterioration and
crossed over by the engine (:func:`~myotrial.simulate.model.simulate_trials`); infusions and
adverse events; :func:`myotrial.derive.derive_all`; :func:`myotrial.analysis.analyze`; the
report (:func:`myotrial.report.render_report`, HTML and PDF) when it is available; the
interchange outputs (ADaM XPT v5 and Dataset-JSON, define.xml, ARD, REDCap data dictionary,
ODM study metadata: :func:`myotrial.interchange.outputs.write_interchange_outputs`).

Everything written is labelled synthetic: a ``data_source`` column in every input table (the
ADaM datasets carry it as ``DATASRC``) and a ``README.txt`` in the output folder.

Speed (``benchmarks/bench_demo.py``): where at least 2 CPUs are usable and one is idle
(by the load average) a helper process
(:class:`myotrial.report._worker.ReportWorker`, started first so that it imports the report
stack and WeasyPrint while this process imports and simulates) drafts the report's
results-free part while this process analyses, and renders the PDF while this process writes
the tables and the interchange outputs (``myotrial demo --serial``: all in this process).
Both give the same files.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import platform
import warnings
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

import myotrial
from myotrial.protocol import load_protocol
from myotrial.simulate.scenario import Scenario, load_scenario

if TYPE_CHECKING:
    from myotrial.analysis import AnalysisResults
    from myotrial.derive import DerivedTables
    from myotrial.report._worker import Pending, ReportWorker

__all__ = ["DemoResult", "SyntheticTrial", "run_demo", "synthetic_trial"]

DEFAULT_SEED = 20221006
T = TypeVar("T")


@dataclass(frozen=True)
class SyntheticTrial:
    """One simulated trial as canonical tables (every row labelled ``data_source``)."""

    scenario: Scenario
    seed: int
    screening: pd.DataFrame
    subjects: pd.DataFrame
    visits: pd.DataFrame
    infusions: pd.DataFrame
    adverse_events: pd.DataFrame
    randomisation: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "screening": self.screening,
            "subjects": self.subjects,
            "visits": self.visits,
            "infusions": self.infusions,
            "adverse_events": self.adverse_events,
            "randomisation": self.randomisation,
        }


def synthetic_trial(
    scenario: Scenario | str = "proderm", seed: int = DEFAULT_SEED
) -> SyntheticTrial:
    """Generate one seeded synthetic trial (same seed -> identical tables, except the kit
    codes: :mod:`myotrial.randomisation` draws them from the OS CSPRNG even for a seeded list,
    and offers no seeded kit codes)."""
    from myotrial.eligibility import derive_screening
    from myotrial.randomisation import RandomisationScheme, Randomiser, SeededListWarning
    from myotrial.simulate.model import simulate_trials
    from myotrial.simulate.safety import safety_tables, simulate_safety
    from myotrial.simulate.tables import screening_table, subject_ids, to_tables

    scen = load_scenario(scenario) if isinstance(scenario, str) else scenario
    proto = load_protocol(scen.protocol)
    n_total = sum(scen.n_per_arm.values())
    arms = tuple(a.code for a in proto.arms)
    scheme = RandomisationScheme(
        arms=arms,
        ratio=tuple(proto.ratio[a] for a in arms),
        block_sizes=proto.block_sizes or (2 * sum(proto.ratio.values()),),
        n_per_stratum=n_total,
    )
    with warnings.catch_warnings():  # a seeded list is this function's purpose (synthetic)
        warnings.simplefilter("ignore", SeededListWarning)
        rz = Randomiser(scheme, seed=int(np.random.SeedSequence(seed).generate_state(1)[0]))
    ids = [f"SIM-{k:03d}" for k in range(1, n_total + 1)]
    allocations = [rz.randomise(sid) for sid in ids]
    trt = proto.treatment.code
    sim = simulate_trials(
        scen, 1, seed, protocol=proto, treatment_first=[a.arm == trt for a in allocations]
    )
    visits, subjects = to_tables(sim)
    sids = subject_ids(sim)
    safety = simulate_safety(sim)
    infusions, adverse_events = safety_tables(sim, safety, sids)
    screening = derive_screening(
        screening_table(sim.baseline, sids, mmt8_max=proto.mmt8_max, data_source=scen.data_source)
    )
    randomisation = pd.DataFrame(
        {
            "subject_id": [a.subject_id for a in allocations],
            "stratum": [a.stratum for a in allocations],
            "sequence": [a.sequence for a in allocations],
            "arm": [a.arm for a in allocations],
            "kit_code": [a.kit_code for a in allocations],
            "data_source": scen.data_source,
        }
    )
    return SyntheticTrial(
        scen, int(seed), screening, subjects, visits, infusions, adverse_events, randomisation
    )


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` wrote and computed."""

    out_dir: Path
    trial: SyntheticTrial
    derived: DerivedTables
    results: AnalysisResults
    files: dict[str, Path] = field(default_factory=dict)
    report: dict[str, Path] = field(default_factory=dict)
    report_note: str = ""


_README = """SYNTHETIC DATA - generated by myotrial; NOT patient data and NOT ProDERM data.

This folder was written by `myotrial demo --seed {seed}` (myotrial {version}).
Every patient, visit, infusion and adverse event here was simulated by the calibrated
generative model `{scenario}` (src/myotrial/simulate/scenarios/{scenario}.toml, docs/simulation.md).
The model's parameters were fitted to published aggregate results of the ProDERM trial
(Aggarwal R et al. N Engl J Med 2022;387:1264-78); no individual patient data were used.

The same seed gives identical files, with one exception: the kit codes (column kit_code of
data/randomisation.csv) are drawn from the operating system's random generator on every run,
even though the allocation list itself is seeded - myotrial's randomisation never derives kit
codes from a seed (a kit code must not be guessable) and offers no seeded kit codes. No other
output depends on them (the report's input checksums cover the four tables it is computed
from). The interchange files are stamped {created} (fixed, or SOURCE_DATE_EPOCH), except the
creation time in the header of the .xpt files, which the XPORT writer (pyreadstat) sets to
the time of writing: their data and metadata are the same for the same seed.

data/         canonical input tables (each row has data_source = "{label}")
derived/      scored visits and ADaM-like analysis tables (myotrial derive)
analysis/     endpoint summary, analysis-results rows and JSON (myotrial analyze)
report/       report.html and report.pdf {report_state}
interchange/  adam/: ADaM datasets of this synthetic trial as SAS XPORT v5 (.xpt) and
              Dataset-JSON (.json), and define.xml; ADSL and ADAE carry the synthetic label in
              variable DATASRC (the data_source above); ADRS, ADEFF and ADTTE belong to the
              same subjects (USUBJID -> ADSL). ard/: analysis results data of analysis/.
              redcap/ (data dictionary, events, instrument-event mapping) and odm/study.xml
              (CDISC ODM study metadata) describe the protocol's forms: metadata, no data.
"""

#: The report's inputs: the tables it is computed from (their SHA-256 go into its appendix).
REPORT_INPUTS = ("visits", "subjects", "adverse_events", "infusions")
#: Creation stamp of the demo's interchange files (same seed -> same bytes); SOURCE_DATE_EPOCH
#: overrides it (reproducible-builds convention).
DEMO_CREATED = dt.datetime(2022, 10, 6, tzinfo=dt.UTC)


def _created() -> dt.datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    return DEMO_CREATED


def run_demo(
    out_dir: str | Path = "out/demo",
    seed: int = DEFAULT_SEED,
    *,
    scenario: Scenario | str = "proderm",
    pdf: bool = True,
    parallel: bool | None = None,
    worker: ReportWorker | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Generate the synthetic trial, derive, analyse, report it and write its interchange
    outputs under ``out_dir``.

    ``parallel`` drafts the report and renders the PDF in a helper process (``worker``, or
    one started here; a given ``worker`` is used whatever ``parallel`` says) while this
    process analyses and writes the other outputs; ``None`` (default): when ``pdf`` and at
    least 2 CPUs are usable, one of them idle (:func:`myotrial.report._worker.helper_pays`).
    The files are the same either way.
    ``progress`` is called with the name of each step as it starts.
    """
    if parallel is None:
        from myotrial.report._worker import helper_pays

        parallel = pdf and helper_pays()
    own: ReportWorker | None = None
    if worker is None and parallel and pdf:
        from myotrial.report._worker import ReportWorker

        worker = own = ReportWorker.start()
    try:
        return _run(Path(out_dir), seed, scenario, pdf, worker, progress or (lambda _s: None))
    finally:
        if own is not None:
            own.close()


def _run(
    out: Path,
    seed: int,
    scenario: Scenario | str,
    pdf: bool,
    worker: ReportWorker | None,
    step: Callable[[str], None],
) -> DemoResult:
    """The pipeline. Everything the PDF needs comes first; with a ``worker``, the report's
    results-free part is drafted there while this process analyses, and the PDF is rendered
    there while this process writes the other outputs."""
    from myotrial.analysis import analyze
    from myotrial.derive import derive_all
    from myotrial.tables import write_table

    step("simulating the trial")
    trial = synthetic_trial(scenario, seed)
    proto = load_protocol(trial.scenario.protocol)
    step("deriving the analysis tables")
    derived = derive_all(trial.visits, trial.subjects, proto)
    files: dict[str, Path] = {}
    for name, frame in trial.tables().items():  # the report's checksums read these files
        files[f"data/{name}"] = write_table(frame, out / "data" / f"{name}.csv")
    rendered: Any = None
    note = ""
    draft_options: dict[str, Any] = {
        "adverse_events": trial.adverse_events,
        "infusions": trial.infusions,
        "inputs": {k: str(files[f"data/{k}"]) for k in REPORT_INPUTS},
        "synthetic": True,
        "print_version": pdf,
    }
    pending = None
    if worker is not None:  # the results-free part of the report beside the analysis
        try:
            pending = worker.draft(derived, **draft_options)
        except BrokenExecutor:
            pending = None
    step("analysing every endpoint")
    results = analyze(derived)
    try:
        from myotrial.report.render import complete_report, draft_report
    except ImportError:
        note = "(pending: the report module is not available in this installation)"
    else:
        step("drawing the report")
        draft = _result(pending, functools.partial(draft_report, derived, **draft_options))
        # the helper's copies of the inputs are equal; the report keeps this process's own
        draft = replace(draft, derived=derived, adverse_events=trial.adverse_events,
                        infusions=trial.infusions)
        rendered = complete_report(draft, results, seed=seed)
    future = None
    if rendered is not None and pdf and rendered.print_html is not None:
        future = _pdf_beside(worker, rendered.print_html)
    # While the helper process renders the PDF: every other output.
    step("writing the tables and the interchange datasets")
    for name, frame in derived.tables().items():
        files[f"derived/{name}"] = write_table(frame, out / "derived" / f"{name}.csv")
    files.update(_write_analysis(out, trial, proto.name, seed, results))
    from myotrial.interchange.outputs import write_interchange_outputs

    created = _created()
    files.update(
        {
            f"interchange/{k}": v
            for k, v in write_interchange_outputs(
                derived,
                results,
                out / "interchange",
                proto,
                adverse_events=trial.adverse_events,
                infusions=trial.infusions,
                created=created,
            ).items()
        }
    )
    report: dict[str, Path] = {}
    if rendered is not None:
        from myotrial.report.render import html_to_pdf, write_file, write_report

        paths = write_report(rendered, out / "report")  # HTML and SVG
        if pdf and rendered.print_html is not None:
            step("writing the PDF")
            try:
                pdf_bytes = _result(future, html_to_pdf, rendered.print_html)
            except ImportError as exc:  # e.g. the PDF engine is missing: keep the HTML
                note = f"(PDF not written: {exc})"
            else:
                paths = replace(paths, pdf=write_file(out / "report" / "report.pdf", pdf_bytes))
        report = {k: Path(v) for k, v in _paths(paths).items()}
    readme = out / "README.txt"
    readme.write_text(
        _README.format(
            seed=seed,
            version=getattr(myotrial, "__version__", ""),
            scenario=trial.scenario.name,
            label=trial.scenario.data_source,
            report_state=note,
            created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
        encoding="utf-8",
    )
    files["README"] = readme
    return DemoResult(out, trial, derived, results, files, report, note)


def _write_analysis(
    out: Path, trial: SyntheticTrial, protocol: str, seed: int, results: AnalysisResults
) -> dict[str, Path]:
    from myotrial.tables import write_table

    files: dict[str, Path] = {}
    summary = results.summary()
    files["analysis/summary"] = write_table(summary, out / "analysis" / "summary.csv")
    files["analysis/ard"] = write_table(results.to_ard(), out / "analysis" / "ard.csv")
    summary_rows = [{k: _jsonable(v) for k, v in r.items()} for r in summary.to_dict("records")]
    analysis_json = out / "analysis" / "analysis.json"
    analysis_json.write_text(
        json.dumps(
            {
                "synthetic": True,
                "data_source": trial.scenario.data_source,
                "seed": seed,
                "scenario": trial.scenario.name,
                "protocol": protocol,
                "myotrial": myotrial.__version__ if hasattr(myotrial, "__version__") else "",
                "python": platform.python_version(),
                "results": summary_rows,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    files["analysis/json"] = analysis_json
    return files


def _pdf_beside(worker: ReportWorker | None, html: str) -> Pending[bytes] | None:
    if worker is None:
        return None
    try:
        return worker.pdf(html)
    except BrokenExecutor:
        return None


def _result(future: Pending[T] | None, fallback: Callable[..., T], *args: Any) -> T:
    """The helper process's result, or ``fallback(*args)`` here when it could not run (the
    process died or could not start); errors of the task itself are raised as they are."""
    if future is not None:
        try:
            return future.result()
        except BrokenExecutor:
            pass
    return fallback(*args)


def _paths(paths: Any) -> dict[str, Any]:
    if isinstance(paths, dict):
        return dict(paths)
    fields = getattr(paths, "__dataclass_fields__", None)
    if fields:
        return {k: getattr(paths, k) for k in fields if isinstance(getattr(paths, k), str | Path)}
    return {"report": paths}


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
