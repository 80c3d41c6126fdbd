"""``myotrial derive``: raw visits + subjects -> scored visits and ADaM-like analysis tables."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from myotrial.cli._app import app
from myotrial.cli._options import InfusionsOpt
from myotrial.cli._output import EXIT_BAD_INPUT, console, err_console, exit_with_problems
from myotrial.derive import derive_all
from myotrial.errors import InputValidationError, RulesError
from myotrial.protocol import load_protocol
from myotrial.tables import read_table, write_table


class TableFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


@app.command("derive")
def derive_command(
    visits: Annotated[Path, typer.Option("--visits", help="visits table (CSV or Parquet)")],
    subjects: Annotated[Path, typer.Option("--subjects", help="subjects table (CSV or Parquet)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder")],
    protocol: Annotated[
        str, typer.Option(help="bundled protocol name or protocol .toml file")
    ] = "proderm",
    fmt: Annotated[TableFormat, typer.Option("--format", help="csv or parquet")] = TableFormat.csv,
    infusions: InfusionsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable summary")] = False,
) -> None:
    """Derive scored visits, ADSL, ADRS (responders), ADEFF (by visit) and ADTTE.

    Every randomised patient keeps a row with an explicit STATUS and STATUS_REASON; dropouts and
    patients with confirmed deterioration are non-responders. ADSL carries the treatment periods
    (TRT01P, TRTxxA, APxxSDT/APxxEDT); --infusions dates periods whose visit has no date.
    Nothing is written on bad input.
    """
    try:
        proto = load_protocol(protocol)
        derived = derive_all(
            read_table(visits),
            read_table(subjects),
            proto,
            infusions=None if infusions is None else read_table(infusions),
        )
    except InputValidationError as exc:
        exit_with_problems(exc, as_json)
    except (RulesError, FileNotFoundError, ValueError) as exc:
        if as_json:
            typer.echo(json.dumps({"ok": False, "error": str(exc)}))
        else:
            err_console.print(f"[bold red]error:[/bold red] {exc}")
        raise typer.Exit(code=EXIT_BAD_INPUT) from None
    written = {}
    for name, frame in derived.tables().items():
        written[name] = str(write_table(frame, out / f"{name}.{fmt.value}"))
    adsl = derived.adsl
    rand = adsl[adsl["RANDFL"] == "Y"]
    summary: dict[str, Any] = {
        "ok": True,
        "protocol": proto.name,
        "files": written,
        "randomised": {arm: int((rand["ARMCD"] == arm).sum()) for arm in proto.arm_codes},
        "status": {k: int(v) for k, v in rand["STATUS"].value_counts().items()},
        "crossovers": int((rand["CROSSFL"] == "Y").sum()),
        "primary_responders": {
            arm: int(
                (
                    (derived.adrs["PARAMCD"] == proto.primary)
                    & (derived.adrs["ARMCD"] == arm)
                    & (derived.adrs["AVAL"] == 1)
                ).sum()
            )
            for arm in proto.arm_codes
        },
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table(title=f"{proto.title}: derived tables")
    table.add_column("")
    for arm in proto.arm_codes:
        table.add_column(arm, justify="right")
    table.add_row("randomised", *(str(summary["randomised"][a]) for a in proto.arm_codes))
    for status in sorted(summary["status"]):
        table.add_row(
            f"  {status}",
            *(
                str(int(((rand["ARMCD"] == a) & (rand["STATUS"] == status)).sum()))
                for a in proto.arm_codes
            ),
        )
    table.add_row(
        "crossed over",
        *(
            str(int(((rand["ARMCD"] == a) & (rand["CROSSFL"] == "Y")).sum()))
            for a in proto.arm_codes
        ),
    )
    table.add_row(
        f"primary responders ({proto.primary})",
        *(str(summary["primary_responders"][a]) for a in proto.arm_codes),
    )
    console.print(table)
    console.print(f"Wrote {len(written)} tables to [bold]{out}[/bold].")
