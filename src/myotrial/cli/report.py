"""``myotrial report``: the trial report (self-contained HTML and PDF) from raw or derived data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import pandas as pd
import typer

from myotrial.analysis import analyze
from myotrial.cli._app import app
from myotrial.cli._options import (
    AdverseEventsOpt,
    DerivedOpt,
    InfusionsOpt,
    ProtocolOpt,
    SubjectsOpt,
    VisitsOpt,
)
from myotrial.cli._output import EXIT_BAD_INPUT, console, err_console, exit_with_problems
from myotrial.cli.analyze import DERIVED, StrataOpt, _export_database, _read_derived
from myotrial.derive import derive_all
from myotrial.eligibility import screen_candidates
from myotrial.errors import InputValidationError, RulesError
from myotrial.protocol import load_protocol
from myotrial.report import render_report
from myotrial.report.consort import screening_counts
from myotrial.tables import read_table


def _derived_files(folder: Path) -> dict[str, Path]:
    """The derived tables' files in ``folder`` (same lookup as ``myotrial analyze``)."""
    found = {}
    for name in DERIVED:
        for suffix in (".parquet", ".csv"):
            if (folder / f"{name}{suffix}").exists():
                found[name] = folder / f"{name}{suffix}"
                break
    return found


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
            help="screening table (data-format.md): the CONSORT flow starts at 'assessed for "
            "eligibility' with the exclusion reasons",
        ),
    ] = None,
    strata: StrataOpt = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="the live trial at this URL: OUT/open (DSMB open report, pooled, from the "
            "blinded export) and, for an unblinded statistician, OUT/closed (by arm)",
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", help="with --database: your user name ($MYOTRIAL_PASSWORD)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable summary")] = False,
) -> None:
    """Write the trial report: OUT/report.html (self-contained) and OUT/report.pdf.

    Give either --derived DIR (tables written by `myotrial derive`), --visits and --subjects,
    or --database URL --user NAME (the DSMB open report in OUT/open for any reader, and the
    closed report by arm in OUT/closed for the unblinded statistician only). Safety sections
    need --adverse-events (and --infusions for infusion-related reactions and rates).
    --screening starts CONSORT at "assessed for eligibility". Analyses follow the protocol's
    SAP (--strata overrides its strata). Bad input lists every problem by location, exits 2
    and writes nothing.
    """
    if database is not None:
        _database_reports(database, user, out, synthetic, no_pdf, as_json, strata)
        return
    inputs: dict[str, Path] = {}
    try:
        ae = read_table(adverse_events) if adverse_events is not None else None
        inf = read_table(infusions) if infusions is not None else None
        raw_visits = raw_subjects = None
        if derived is not None:
            if visits is not None or subjects is not None:
                raise ValueError("give --derived DIR or --visits/--subjects, not both")
            tables = _read_derived(derived, protocol)
            inputs.update(_derived_files(derived))
        elif visits is not None and subjects is not None:
            raw_visits, raw_subjects = read_table(visits), read_table(subjects)
            tables = derive_all(raw_visits, raw_subjects, load_protocol(protocol), infusions=inf)
            inputs.update({"visits": visits, "subjects": subjects})
        else:
            raise ValueError("give --derived DIR, or both --visits and --subjects")
        if adverse_events is not None:
            inputs["adverse_events"] = adverse_events
        if infusions is not None:
            inputs["infusions"] = infusions
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out} exists and is not a folder")
        counts = None
        if screening is not None:
            counts = screening_counts(screen_candidates(read_table(screening)))
            inputs["screening"] = screening
        results = analyze(tables, strata=strata)
        banner = synthetic or _looks_synthetic(raw_visits, raw_subjects, tables.adsl, ae, inf)
        paths = render_report(
            tables,
            results,
            out_dir=out,
            adverse_events=ae,
            infusions=inf,
            inputs=inputs,
            seed=seed,
            synthetic=banner,
            pdf=not no_pdf,
            screening=counts,
        )
    except InputValidationError as exc:
        exit_with_problems(exc, as_json)
    except ImportError as exc:  # the PDF engine is missing: nothing was written
        message = f"{exc} (nothing was written; --no-pdf writes the HTML only)"
        if as_json:
            typer.echo(json.dumps({"ok": False, "error": message}))
        else:
            err_console.print(f"[bold red]error:[/bold red] {message}")
        raise typer.Exit(code=1) from None
    except (RulesError, FileNotFoundError, ValueError) as exc:
        if as_json:
            typer.echo(json.dumps({"ok": False, "error": str(exc)}))
        else:
            err_console.print(f"[bold red]error:[/bold red] {exc}")
        raise typer.Exit(code=EXIT_BAD_INPUT) from None
    files = {
        "html": str(paths.html),
        "pdf": None if paths.pdf is None else str(paths.pdf),
        "figures": [str(p) for p in paths.figures],
    }
    if as_json:
        typer.echo(json.dumps({"ok": True, "synthetic": banner, "files": files}, indent=2))
        return
    console.print(f"Wrote [bold]{paths.html}[/bold]")
    if paths.pdf is not None:
        console.print(f"Wrote [bold]{paths.pdf}[/bold]")
    console.print(f"Wrote {len(paths.figures)} figures to [bold]{out / 'figures'}[/bold]")


def _fail(message: str, as_json: bool, code: int = EXIT_BAD_INPUT) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": message}))
    else:
        err_console.print(f"[bold red]error:[/bold red] {message}")
    raise typer.Exit(code=code)


def _blinded_export(url: str, user: str | None) -> tuple[Any, dict[str, pd.DataFrame], bool]:
    """(protocol, the blinded canonical tables, whether the user is blinded), through
    ``TrialService.export_tables(actor, blinded=True)`` (audited)."""
    import os

    import sqlalchemy as sa

    from myotrial.db import PermissionDenied, TrialService, make_engine

    if not user:
        raise ValueError("--database needs --user")
    password = os.environ.get("MYOTRIAL_PASSWORD") or typer.prompt(
        f"Password for {user}", hide_input=True
    )
    engine = make_engine(url)
    try:
        svc = TrialService(engine)
        try:
            actor = svc.authenticate(user, password)
            tables = svc.export_tables(actor, blinded=True)
        except PermissionDenied as exc:
            raise ValueError(f"permission denied: {exc}") from None
        except sa.exc.SQLAlchemyError as exc:
            raise ValueError(f"cannot read database {url!r}: {exc}") from None
        return svc.protocol, tables, bool(actor.blinded)
    finally:
        engine.dispose()


def _database_reports(
    url: str,
    user: str | None,
    out: Path,
    synthetic: bool,
    no_pdf: bool,
    as_json: bool,
    strata: list[str] | None,
) -> None:
    """The DSMB open report (pooled, blinded export) and, for an unblinded statistician, the
    closed report (by arm, unblinded export)."""
    from myotrial.report import html_to_pdf
    from myotrial.report.dsmb import build_open_report
    from myotrial.report.render import _write

    files: dict[str, Any] = {}
    try:
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out} exists and is not a folder")
        protocol, blinded_tables, is_blinded = _blinded_export(url, user)
        banner = synthetic or _looks_synthetic(*blinded_tables.values())
        open_report = build_open_report(blinded_tables, protocol, synthetic=banner)
        open_pdf = None if no_pdf else html_to_pdf(open_report.html)
        closed = None
        if not is_blinded:
            live = _export_database(url, user)
            tables = derive_all(
                live["visits"], live["subjects"], protocol, infusions=live["infusions"]
            )
            results = analyze(
                tables, adverse_events=live["adverse_events"], infusions=live["infusions"],
                strata=strata,
            )
            closed = (tables, results, live)
        _write(out / "open" / "report.html", open_report.html.encode("utf-8"))
        files["open"] = {"html": str(out / "open" / "report.html")}
        if open_pdf is not None:
            _write(out / "open" / "report.pdf", open_pdf)
            files["open"]["pdf"] = str(out / "open" / "report.pdf")
        if closed is not None:
            tables, results, live = closed
            paths = render_report(
                tables, results, out_dir=out / "closed",
                adverse_events=live["adverse_events"], infusions=live["infusions"],
                synthetic=banner, pdf=not no_pdf,
                title=f"{protocol.name.upper()} DSMB closed report",
                subtitle="CLOSED REPORT - by randomised arm; for the unblinded statistician "
                "and the DSMB closed session only",
            )
            files["closed"] = {"html": str(paths.html),
                               "pdf": None if paths.pdf is None else str(paths.pdf)}
        else:
            files["closed"] = None
    except InputValidationError as exc:
        exit_with_problems(exc, as_json)
    except ImportError as exc:
        _fail(f"{exc} (nothing was written; --no-pdf writes the HTML only)", as_json, 1)
    except (RulesError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc), as_json)
    if as_json:
        typer.echo(json.dumps({"ok": True, "synthetic": banner, "files": files}, indent=2))
        return
    console.print(f"Wrote [bold]{files['open']['html']}[/bold] (DSMB open report, pooled)")
    if files["closed"] is None:
        console.print(
            f"No closed report: user {user!r} is blinded (the closed report, by arm, is for "
            "the unblinded statistician only)"
        )
    else:
        console.print(f"Wrote [bold]{files['closed']['html']}[/bold] (DSMB closed report)")
