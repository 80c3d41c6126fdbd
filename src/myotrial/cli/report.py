"""``myotrial report``: the trial report (self-contained HTML and PDF) from raw or derived data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.text import Text

from myotrial.analysis import analyze
from myotrial.cli._app import app
from myotrial.cli._options import (
    AdverseEventsOpt,
    DatabaseOpt,
    DerivedOpt,
    ForceOpt,
    InfusionsOpt,
    JsonOpt,
    ProtocolOpt,
    SubjectsOpt,
    UserOpt,
    VisitsOpt,
    check_table_paths,
)
from myotrial.cli._output import (
    CliInputError,
    check_outputs,
    console,
    emit_success,
    fail,
    progress,
    set_file_mode,
)
from myotrial.cli.analyze import (
    StrataOpt,
    _export_database,
    check_arms,
    check_source_options,
    check_strata,
    database_url,
    live_export,
    load_trial_inputs,
)
from myotrial.derive import derive_all
from myotrial.eligibility import screen_candidates
from myotrial.report import render_report
from myotrial.report.consort import screening_counts
from myotrial.tables import read_table

_PDF_MISSING = "(nothing was written; --no-pdf writes the HTML only)"


def _looks_synthetic(*frames: pd.DataFrame | None) -> bool:
    """True when any table has a ``data_source`` column that says the data are synthetic."""
    for frame in frames:
        if frame is not None and "data_source" in frame.columns:
            text = frame["data_source"].dropna().astype(str).str.lower()
            if text.str.contains("synthetic").any():
                return True
    return False


@app.command("report")
def report_command(
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder")],
    derived: DerivedOpt = None,
    visits: VisitsOpt = None,
    subjects: SubjectsOpt = None,
    adverse_events: AdverseEventsOpt = None,
    infusions: InfusionsOpt = None,
    protocol: ProtocolOpt = "proderm",
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="write the HTML only")] = False,
    synthetic: Annotated[
        bool,
        typer.Option(
            "--synthetic",
            help="show the SYNTHETIC DATA banner (also automatic when a data_source column "
            "says synthetic)",
        ),
    ] = False,
    seed: Annotated[
        int | None, typer.Option("--seed", help="seed that generated the data (recorded)")
    ] = None,
    screening: Annotated[
        Path | None,
        typer.Option(
            "--screening",
            help="screening table (docs/data-format.md): the CONSORT flow starts at 'assessed "
            "for eligibility' with the exclusion reasons",
        ),
    ] = None,
    strata: StrataOpt = None,
    database: DatabaseOpt = None,
    user: UserOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the trial report: OUT/report.html (self-contained) and OUT/report.pdf.

    Give either --derived DIR (tables written by `myotrial derive`), --visits and --subjects
    (tables as in docs/data-format.md), or --user NAME with -d/--database URL (the DSMB open
    report in OUT/open for any reader, and the closed report by arm in OUT/closed for the
    unblinded statistician only). Safety sections need --adverse-events (and --infusions for
    infusion-related reactions and rates). --screening starts CONSORT at "assessed for
    eligibility". Analyses follow the protocol's SAP (--strata overrides its strata). Inputs
    are validated as by `myotrial analyze`; bad input lists every problem by location, exits 2
    and writes nothing. Existing reports are kept unless --force.
    """
    from_database = check_source_options(
        derived=derived,
        visits=visits,
        subjects=subjects,
        database=database,
        user=user,
        adverse_events=adverse_events,
        infusions=infusions,
    )
    if from_database and screening is not None:
        raise CliInputError("--screening is for reports from tables, not --database")
    check_table_paths(screening)
    chosen = tuple(strata) if strata else None
    if from_database:
        _database_reports(
            database_url(database), user, out, synthetic, no_pdf, as_json, chosen, force
        )
        return
    targets = [out / "report.html"] + ([] if no_pdf else [out / "report.pdf"])
    check_outputs(
        targets,
        inputs=[derived, visits, subjects, adverse_events, infusions, screening],
        force=force,
        as_json=as_json,
        directories=[out],
    )
    with progress(9, as_json=as_json) as steps:
        loaded = load_trial_inputs(
            derived=derived,
            visits=visits,
            subjects=subjects,
            adverse_events=adverse_events,
            infusions=infusions,
            protocol=protocol,
            steps=steps,
        )
        tables = loaded.tables
        check_strata(tables, chosen)
        inputs = dict(loaded.files)
        counts = None
        steps.step("screening" if screening is not None else "no screening table")
        if screening is not None:
            counts = screening_counts(screen_candidates(read_table(screening)))
            inputs["screening"] = screening
        steps.step("analysing every endpoint")
        results = analyze(
            tables,
            adverse_events=loaded.adverse_events,
            infusions=loaded.infusions,
            strata=chosen,
        )
        banner = synthetic or _looks_synthetic(
            loaded.raw_visits, loaded.raw_subjects, tables.adsl, loaded.adverse_events,
            loaded.infusions,
        )
        steps.step("rendering the report" + ("" if no_pdf else " (HTML and PDF)"))
        try:
            paths = render_report(
                tables,
                results,
                out_dir=out,
                adverse_events=loaded.adverse_events,
                infusions=loaded.infusions,
                inputs=inputs,
                seed=seed,
                synthetic=banner,
                pdf=not no_pdf,
                screening=counts,
            )
        except ImportError as exc:  # the PDF engine is missing: nothing was written
            fail(f"{exc} {_PDF_MISSING}", as_json, wrote_nothing=False)
    written = [paths.html, *([] if paths.pdf is None else [paths.pdf]), *paths.figures]
    set_file_mode(written, private=False)  # the report is shareable: the user's umask
    files = {
        "html": str(paths.html),
        "pdf": None if paths.pdf is None else str(paths.pdf),
        "figures": [str(p) for p in paths.figures],
    }
    if as_json:
        outputs = {"html": paths.html, **({"pdf": paths.pdf} if paths.pdf else {})}
        outputs.update({f"figures/{p.name}": p for p in paths.figures})
        emit_success(outputs, as_json, synthetic=banner, files=files)
        return
    console.print(Text(f"Wrote {paths.html}"))
    if paths.pdf is not None:
        console.print(Text(f"Wrote {paths.pdf}"))
    console.print(Text(f"Wrote {len(paths.figures)} figures to {out / 'figures'}"))


def _blinded_export(url: str, user: str | None) -> tuple[Any, dict[str, pd.DataFrame], bool]:
    """(protocol, the blinded canonical tables, whether the user is blinded), through
    ``TrialService.export_tables(actor, blinded=True)`` (audited)."""
    return live_export(url, user, blinded=True)


def _database_reports(
    url: str,
    user: str | None,
    out: Path,
    synthetic: bool,
    no_pdf: bool,
    as_json: bool,
    strata: tuple[str, ...] | None,
    force: bool,
) -> None:
    """The DSMB open report (pooled, blinded export; shareable) and, for an unblinded
    statistician, the closed report (by arm, unblinded export; written at mode 600)."""
    from myotrial.report import html_to_pdf
    from myotrial.report.dsmb import build_open_report
    from myotrial.report.render import _write

    names = ["report.html"] + ([] if no_pdf else ["report.pdf"])
    check_outputs(
        [out / part / name for part in ("open", "closed") for name in names],
        force=force,
        as_json=as_json,
        directories=[out, out / "open", out / "closed"],
    )
    files: dict[str, Any] = {}
    outputs: dict[str, Path] = {}
    with progress(5, as_json=as_json) as steps:
        steps.step("exporting the blinded tables")
        protocol, blinded_tables, is_blinded = _blinded_export(url, user)
        banner = synthetic or _looks_synthetic(*blinded_tables.values())
        steps.step("building the open report")
        open_report = build_open_report(blinded_tables, protocol, synthetic=banner)
        try:
            open_pdf = None if no_pdf else html_to_pdf(open_report.html)
        except ImportError as exc:
            fail(f"{exc} {_PDF_MISSING}", as_json)
        closed = None
        if not is_blinded:
            steps.step("exporting the unblinded tables and analysing")
            live = _export_database(url, user)
            tables = derive_all(
                live["visits"], live["subjects"], protocol, infusions=live["infusions"]
            )
            check_arms(tables)
            check_strata(tables, strata)
            results = analyze(
                tables, adverse_events=live["adverse_events"], infusions=live["infusions"],
                strata=strata,
            )
            closed = (tables, results, live)
        steps.step("writing the open report")
        _write(out / "open" / "report.html", open_report.html.encode("utf-8"))
        outputs["open/html"] = out / "open" / "report.html"
        files["open"] = {"html": str(out / "open" / "report.html")}
        if open_pdf is not None:
            _write(out / "open" / "report.pdf", open_pdf)
            outputs["open/pdf"] = out / "open" / "report.pdf"
            files["open"]["pdf"] = str(out / "open" / "report.pdf")
        set_file_mode(list(outputs.values()), private=False)
        steps.step("writing the closed report" if closed is not None else "no closed report")
        if closed is not None:
            tables, results, live = closed
            try:
                paths = render_report(
                    tables, results, out_dir=out / "closed",
                    adverse_events=live["adverse_events"], infusions=live["infusions"],
                    synthetic=banner, pdf=not no_pdf,
                    title=f"{protocol.name.upper()} DSMB closed report",
                    subtitle="CLOSED REPORT - by randomised arm; for the unblinded statistician "
                    "and the DSMB closed session only",
                )
            except ImportError as exc:
                fail(f"{exc} {_PDF_MISSING}", as_json, wrote_nothing=False)
            closed_files = [paths.html, *([] if paths.pdf is None else [paths.pdf]),
                            *paths.figures]
            set_file_mode(closed_files, private=True)  # unblinded material: mode 600
            outputs["closed/html"] = paths.html
            if paths.pdf is not None:
                outputs["closed/pdf"] = paths.pdf
            files["closed"] = {"html": str(paths.html),
                               "pdf": None if paths.pdf is None else str(paths.pdf)}
        else:
            files["closed"] = None
    if as_json:
        emit_success(outputs, as_json, synthetic=banner, files=files)
        return
    console.print(Text(f"Wrote {files['open']['html']} (DSMB open report, pooled)"))
    if files["closed"] is None:
        console.print(
            Text(
                f"No closed report: user {user!r} is blinded (the closed report, by arm, is "
                "for the unblinded statistician only)"
            )
        )
    else:
        console.print(Text(f"Wrote {files['closed']['html']} (DSMB closed report)"))
