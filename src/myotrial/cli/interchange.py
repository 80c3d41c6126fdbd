"""Interchange commands: ``myotrial redcap``, ``myotrial odm``, ``myotrial sdtm``,
``myotrial export`` (REDCap, CDISC ODM 1.3.2, SDTM in; ADaM XPT / Dataset-JSON, ARD out).

Every bad input is a located error table (source, row, record, event, field, value, rule) on
stderr (or JSON with ``--json``), exit code 2, and nothing is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table
from rich.text import Text

from myotrial.cli._app import app
from myotrial.cli._options import ForceOpt
from myotrial.cli._output import (
    EXIT_BAD_INPUT,
    CliInputError,
    check_outputs,
    console,
    dumps,
    emit_success,
    err_console,
    fail,
    plain,
    set_file_mode,
    to_jsonable,
)
from myotrial.interchange.errors import LOCATION_COLUMNS, InterchangeError
from myotrial.protocol import load_protocol

redcap_app = typer.Typer(help="REDCap data dictionary and records import.", no_args_is_help=True)
odm_app = typer.Typer(
    help="CDISC ODM 1.3.2 study metadata and clinical data.", no_args_is_help=True
)
sdtm_app = typer.Typer(help="SDTM domains into the canonical tables.", no_args_is_help=True)
export_app = typer.Typer(
    help="ADaM datasets and analysis results for submission.",
    no_args_is_help=True,
)

app.add_typer(redcap_app, name="redcap")
app.add_typer(odm_app, name="odm")
app.add_typer(sdtm_app, name="sdtm")
app.add_typer(export_app, name="export")

ProtocolArg = Annotated[str, typer.Option(help="bundled protocol name or protocol .toml file")]
JsonArg = Annotated[bool, typer.Option("--json", help="machine-readable output")]


class AdamFormat(StrEnum):
    xpt = "xpt"
    dataset_json = "dataset-json"
    both = "both"


def _fail_located(error: InterchangeError, as_json: bool) -> NoReturn:
    records = [
        {k: to_jsonable(v) for k, v in rec.items()} for rec in error.problems.to_dict("records")
    ]
    if as_json:
        typer.echo(dumps({"ok": False, "outputs": {}, "what": error.what, "problems": records}))
    else:
        table = Table(
            title=Text(f"{len(records)} problem(s) in the {error.what} — nothing was written"),
            title_style="bold red",
        )
        for col in LOCATION_COLUMNS:
            table.add_column(col, overflow="fold")
        for rec in records:
            table.add_row(*(plain(rec[c]) for c in LOCATION_COLUMNS))
        if not records:
            err_console.print(Text.assemble(("error: ", "bold red"), str(error)))
        err_console.print(table)
    raise typer.Exit(code=EXIT_BAD_INPUT)


def _run(action: Callable[[], dict[str, Any]], as_json: bool) -> None:
    """Run ``action``; located errors and bad input exit 2, nothing written (the project's
    other errors and errors on a path go to the top-level handler: exit 2)."""
    try:
        summary = action()
    except InterchangeError as exc:
        _fail_located(exc, as_json)
    except ValueError as exc:
        # the interchange readers raise plain ValueError for a bad mapping file or a REDCap
        # API failure (user input, not a bug) until they raise InterchangeError
        from myotrial.cli._output import is_project_error

        if is_project_error(exc):
            raise
        fail(str(exc), as_json)
    files = summary.get("files", {})
    set_file_mode([Path(v) for v in files.values()], private=False)
    if as_json:
        fields = {k: to_jsonable(v) for k, v in summary.items()}
        emit_success(files, as_json, **fields)
        return
    for key, value in summary.items():
        if key == "files":
            console.print(Text(f"Wrote {len(value)} file(s):"))
            for name in value:
                console.print(Text(f"  {value[name]}"))
        else:
            console.print(Text(f"{key}: {value}"))


def _nonempty(tables: dict[str, Any]) -> dict[str, Any]:
    """Tables with at least one row (an import never writes an empty table)."""
    return {name: frame for name, frame in tables.items() if len(frame)}


def _tables_summary(written: dict[str, Path], tables: dict[str, Any]) -> dict[str, Any]:
    return {
        "rows": {name: len(frame) for name, frame in tables.items()},
        "files": {k: str(v) for k, v in written.items()},
    }


# -- redcap -------------------------------------------------------------------------------------


@redcap_app.command("dictionary")
def redcap_dictionary(
    out: Annotated[Path, typer.Option("-o", "--out", help="data dictionary CSV to write")],
    protocol: ProtocolArg = "proderm",
    as_json: JsonArg = False,
) -> None:
    """Write the REDCap data dictionary (18 columns), plus events.csv and
    instrument_event_mapping.csv beside it (longitudinal events from the protocol schedule)."""

    def action() -> dict[str, Any]:
        from myotrial.interchange.outputs import write_tables_atomically
        from myotrial.interchange.redcap import (
            data_dictionary,
            events_table,
            instrument_event_mapping,
        )

        proto = load_protocol(protocol)
        if out.suffix.lower() != ".csv":
            raise CliInputError(f"{out}: the data dictionary is a .csv file")
        frames = {
            out.stem: data_dictionary(proto),
            "events": events_table(proto),
            "instrument_event_mapping": instrument_event_mapping(proto),
        }
        written = write_tables_atomically(frames, out.parent)
        return {"fields": len(frames[out.stem]), "files": {k: str(v) for k, v in
                                                          written.items()}}

    _run(action, as_json)


@redcap_app.command("import")
def redcap_import(
    out: Annotated[Path, typer.Option("-o", "--out", help="folder for the canonical tables")],
    dictionary: Annotated[
        Path, typer.Option("--dictionary", help="REDCap data dictionary CSV of the project")
    ],
    records: Annotated[
        Path | None, typer.Argument(help="REDCap records export (CSV, raw or label)")
    ] = None,
    protocol: ProtocolArg = "proderm",
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="pull the records from this REDCap API")
    ] = None,
    token_env: Annotated[
        str, typer.Option("--token-env", help="environment variable holding the API token")
    ] = "REDCAP_API_TOKEN",
    as_json: JsonArg = False,
) -> None:
    """A REDCap records export (or API pull) -> subjects, screening, visits, infusions,
    adverse_events CSVs; every problem located by row, record, event and field."""

    def action() -> dict[str, Any]:
        from myotrial.interchange.outputs import write_tables_atomically
        from myotrial.interchange.redcap import (
            catalogue_from_dictionary,
            fetch_records,
            import_records,
        )

        proto = load_protocol(protocol)
        cat = catalogue_from_dictionary(dictionary, proto)
        if api_url is not None:
            token = os.environ.get(token_env, "")
            if not token:
                raise CliInputError(f"--api-url needs the API token in ${token_env}")
            source: Any = fetch_records(api_url, token)
        elif records is not None:
            source = records
        else:
            raise CliInputError("give a RECORDS.csv export or --api-url")
        tables = import_records(source, cat)
        tables = _nonempty(tables)
        return _tables_summary(write_tables_atomically(tables, out), tables)

    _run(action, as_json)


# -- odm ----------------------------------------------------------------------------------------


@odm_app.command("export")
def odm_export(
    out: Annotated[Path, typer.Option("-o", "--out", help="ODM XML file to write")],
    protocol: ProtocolArg = "proderm",
    subjects: Annotated[Path | None, typer.Option("--subjects")] = None,
    visits: Annotated[Path | None, typer.Option("--visits")] = None,
    screening: Annotated[Path | None, typer.Option("--screening")] = None,
    infusions: Annotated[Path | None, typer.Option("--infusions")] = None,
    adverse_events: Annotated[Path | None, typer.Option("--adverse-events")] = None,
    as_json: JsonArg = False,
) -> None:
    """The protocol's forms, items and code lists as ODM 1.3.2 study metadata (and, given
    canonical tables, their ClinicalData)."""

    def action() -> dict[str, Any]:
        from myotrial.interchange.odm import build_odm, write_odm
        from myotrial.tables import read_table

        proto = load_protocol(protocol)
        given = {"subjects": subjects, "visits": visits, "screening": screening,
                 "infusions": infusions, "adverse_events": adverse_events}
        tables = {k: read_table(v) for k, v in given.items() if v is not None}
        doc = build_odm(proto, tables or None)
        return {"files": {"odm": str(write_odm(doc, out))},
                "clinical_data": sorted(tables)}

    _run(action, as_json)


@odm_app.command("import")
def odm_import(
    source: Annotated[Path, typer.Argument(help="ODM 1.3.2 XML file with ClinicalData")],
    out: Annotated[Path, typer.Option("-o", "--out", help="folder for the canonical tables")],
    protocol: ProtocolArg = "proderm",
    as_json: JsonArg = False,
) -> None:
    """ODM ClinicalData -> canonical tables; problems located by XML line, subject, event,
    item."""

    def action() -> dict[str, Any]:
        from myotrial.interchange.odm import import_odm
        from myotrial.interchange.outputs import write_tables_atomically

        tables = import_odm(source, load_protocol(protocol))
        tables = _nonempty(tables)
        return _tables_summary(write_tables_atomically(tables, out), tables)

    _run(action, as_json)


# -- sdtm ---------------------------------------------------------------------------------------


@sdtm_app.command("import")
def sdtm_import(
    folder: Annotated[Path, typer.Argument(help="folder of SDTM domains (.csv, .xpt, .json)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="folder for the canonical tables")],
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="mapping TOML (default: the shipped one)")
    ] = None,
    protocol: ProtocolArg = "proderm",
    as_json: JsonArg = False,
) -> None:
    """SDTM DM, EX, AE, LB and the core set findings domain -> canonical tables."""

    def action() -> dict[str, Any]:
        from myotrial.interchange.outputs import write_tables_atomically
        from myotrial.interchange.sdtm import import_sdtm, load_mapping, read_domains

        proto = load_protocol(protocol)
        tables = import_sdtm(read_domains(folder), proto, load_mapping(mapping, proto))
        tables = _nonempty(tables)
        return _tables_summary(write_tables_atomically(tables, out), tables)

    _run(action, as_json)


@sdtm_app.command("mapping")
def sdtm_mapping(
    out: Annotated[Path, typer.Option("-o", "--out", help="where to write the mapping TOML")],
    force: ForceOpt = False,
    as_json: JsonArg = False,
) -> None:
    """Write the default SDTM mapping file, to edit and pass with --mapping."""
    from myotrial.interchange.sdtm import default_mapping_path

    check_outputs([out], force=force, as_json=as_json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(default_mapping_path().read_text(encoding="utf-8"), encoding="utf-8")
    if as_json:
        emit_success({"mapping": out}, as_json)
        return
    console.print(Text(f"Wrote {out}"))


# -- export -------------------------------------------------------------------------------------


@export_app.command("adam")
def export_adam(
    derived: Annotated[Path, typer.Argument(help="folder written by myotrial derive")],
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder")],
    fmt: Annotated[AdamFormat, typer.Option("--format", help="xpt, dataset-json or both")] = (
        AdamFormat.both
    ),
    protocol: ProtocolArg = "proderm",
    adverse_events: Annotated[
        Path | None, typer.Option("--adverse-events", help="adverse_events table: adds ADAE")
    ] = None,
    infusions: Annotated[
        Path | None, typer.Option("--infusions", help="infusions table (ADAE infusion flag)")
    ] = None,
    as_json: JsonArg = False,
) -> None:
    """ADSL, ADRS, ADEFF, ADTTE (and ADAE) as SAS XPORT v5 and/or Dataset-JSON 1.1, with
    define.xml 2.1."""

    def action() -> dict[str, Any]:
        from myotrial.interchange.adam import build_adam, write_adam
        from myotrial.interchange.outputs import read_derived
        from myotrial.tables import read_table

        proto = load_protocol(protocol)
        tables = read_derived(derived)
        datasets = build_adam(
            tables,
            proto,
            adverse_events=None if adverse_events is None else read_table(adverse_events),
            infusions=None if infusions is None else read_table(infusions),
        )
        formats = ("xpt", "dataset-json") if fmt is AdamFormat.both else (fmt.value,)
        written = write_adam(datasets, proto, out, formats=formats)
        return {
            "datasets": {ds.name: len(ds.data) for ds in datasets},
            "files": {k: str(v) for k, v in written.items()},
        }

    _run(action, as_json)


@export_app.command("ard")
def export_ard(
    derived: Annotated[Path, typer.Argument(help="folder written by myotrial derive")],
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder")],
    protocol: ProtocolArg = "proderm",
    adverse_events: Annotated[Path | None, typer.Option("--adverse-events")] = None,
    infusions: Annotated[Path | None, typer.Option("--infusions")] = None,
    as_json: JsonArg = False,
) -> None:
    """Analyse the derived tables and write the results as a cards-style ARD (ard.csv,
    ard.json) for the pharmaverse."""

    def action() -> dict[str, Any]:
        from myotrial.analysis import analyze
        from myotrial.derive import DerivedTables
        from myotrial.interchange.ard import to_cards, write_ard
        from myotrial.interchange.outputs import read_derived
        from myotrial.tables import read_table

        proto = load_protocol(protocol)
        t = read_derived(derived)
        missing = [k for k in ("scored_visits", "adrs", "adeff", "adtte") if k not in t]
        if missing:
            raise FileNotFoundError(f"{derived}: no {', '.join(missing)} (run myotrial derive)")
        tables = DerivedTables(proto, t["scored_visits"], t["adsl"], t["adrs"], t["adeff"],
                               t["adtte"])
        results = analyze(
            tables,
            adverse_events=None if adverse_events is None else read_table(adverse_events),
            infusions=None if infusions is None else read_table(infusions),
        )
        cards = to_cards(results.to_ard(), proto.arm_codes)
        written = write_ard(cards, out)
        return {"rows": len(cards), "files": {k: str(v) for k, v in written.items()}}

    _run(action, as_json)
