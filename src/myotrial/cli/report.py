"""``myotrial report``: the trial report (self-contained HTML and PDF) from raw or derived data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

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
from myotrial.cli.analyze import DERIVED, _read_derived
from myotrial.derive import derive_all
from myotrial.errors import InputValidationError, RulesError
from myotrial.protocol import load_protocol
from myotrial.report import render_report
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
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable summary")] = False,
) -> None:
    """Write the trial report: OUT/report.html (self-contained) and OUT/report.pdf.

    Give either --derived DIR (tables written by `myotrial derive`) or --visits and --subjects.
    Safety sections need --adverse-events (and --infusions for infusion-related reactions and
    rates). Bad input lists every problem by location, exits 2 and writes nothing.
    """
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
        results = analyze(tables)
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
