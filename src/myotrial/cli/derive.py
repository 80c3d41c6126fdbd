"""``myotrial derive``: raw visits + subjects -> scored visits and ADaM-like analysis tables."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from myotrial.cli._app import app
from myotrial.cli._options import (
    ForceOpt,
    InfusionsOpt,
    JsonOpt,
    check_table_paths,
)
from myotrial.cli._output import (
    check_outputs,
    console,
    emit_success,
    fail,
    plain,
    progress,
    write_output_tables,
)
from myotrial.derive import derive_all
from myotrial.protocol import load_protocol
from myotrial.tables import read_table

#: The tables ``myotrial derive`` writes (OUT/<name>.<format>), in order.
DERIVED_TABLES = ("scored_visits", "adsl", "adrs", "adeff", "adtte")
#: The tables ``--tables`` chooses from (scored visits and ADSL are always written).
OPTIONAL_TABLES = ("adrs", "adeff", "adtte")


def chosen_tables(text: str | None, as_json: bool) -> tuple[str, ...]:
    """The optional tables named by ``--tables`` (comma-separated; all when not given), in
    :data:`OPTIONAL_TABLES` order; an unknown or empty name is a located error (exit 2)."""
    if text is None:
        return OPTIONAL_TABLES
    names = [n.strip() for n in text.split(",")]
    for name in names:
        if name not in OPTIONAL_TABLES:
            fail(
                f"--tables: {name!r} is not a table derive can leave out or write; choose from "
                f"{', '.join(OPTIONAL_TABLES)} (comma-separated; scored_visits and adsl are "
                "always written)",
                as_json,
            )
    return tuple(n for n in OPTIONAL_TABLES if n in names)


class TableFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


@app.command("derive")
def derive_command(
    visits: Annotated[
        Path,
        typer.Option(
            "--visits", help="visits table (CSV or Parquet; columns in docs/data-format.md)"
        ),
    ],
    subjects: Annotated[
        Path,
        typer.Option(
            "--subjects", help="subjects table (CSV or Parquet; columns in docs/data-format.md)"
        ),
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder")],
    protocol: Annotated[
        str, typer.Option(help="bundled protocol name or protocol .toml file")
    ] = "proderm",
    fmt: Annotated[TableFormat, typer.Option("--format", help="csv or parquet")] = TableFormat.csv,
    infusions: InfusionsOpt = None,
    tables_opt: Annotated[
        str | None,
        typer.Option(
            "--tables",
            help="analysis tables to derive and write besides scored_visits and adsl, "
            "comma-separated: adrs, adeff, adtte (default: all three; leaving out the long "
            "adeff, about 8 rows per visit, makes large trials several times faster)",
        ),
    ] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Derive scored visits, ADSL, ADRS (responders), ADEFF (by visit) and ADTTE.

    Every randomised patient keeps a row with an explicit STATUS and STATUS_REASON; dropouts and
    patients with confirmed deterioration are non-responders. ADSL carries the treatment periods
    (TRT01P, TRTxxA, APxxSDT/APxxEDT); --infusions dates periods whose visit has no date.
    Writes OUT/scored_visits, adsl, adrs, adeff and adtte (columns in docs/data-format.md;
    --tables writes fewer); existing files are kept unless --force. Nothing is written on bad
    input.
    """
    check_table_paths(visits, subjects, infusions)
    optional = chosen_tables(tables_opt, as_json)
    names = [n for n in DERIVED_TABLES if n not in OPTIONAL_TABLES or n in optional]
    targets = {name: out / f"{name}.{fmt.value}" for name in names}
    protocol_file = Path(protocol) if protocol.endswith(".toml") else None
    check_outputs(
        list(targets.values()),
        inputs=[visits, subjects, infusions, protocol_file],
        force=force,
        as_json=as_json,
        directories=[out],
    )
    with progress(5 + len(targets), as_json=as_json) as steps:
        steps.step("reading the protocol")
        proto = load_protocol(protocol)
        steps.step(f"reading {visits.name}")
        visit_table = read_table(visits)
        steps.step(f"reading {subjects.name}")
        subject_table = read_table(subjects)
        steps.step("reading infusions" if infusions is not None else "no infusions")
        infusion_table = None if infusions is None else read_table(infusions)
        steps.step(f"scoring and deriving {len(visit_table):,} visits")
        derived = derive_all(
            visit_table, subject_table, proto, tables=optional, infusions=infusion_table
        )
        tables = derived.tables()
        written = write_output_tables(
            {targets[name]: tables[name] for name in names},
            as_json=as_json,
            steps=steps,
        )
    adsl = derived.adsl
    rand = adsl[adsl["RANDFL"] == "Y"]
    summary: dict[str, Any] = {
        "protocol": proto.name,
        "randomised": {arm: int((rand["ARMCD"] == arm).sum()) for arm in proto.arm_codes},
        "status": {k: int(v) for k, v in rand["STATUS"].value_counts().items()},
        "crossovers": int((rand["CROSSFL"] == "Y").sum()),
    }
    if "adrs" in optional:
        summary["primary_responders"] = {
            arm: int(
                (
                    (derived.adrs["PARAMCD"] == proto.primary)
                    & (derived.adrs["ARMCD"] == arm)
                    & (derived.adrs["AVAL"] == 1)
                ).sum()
            )
            for arm in proto.arm_codes
        }
    if as_json:
        emit_success({p.stem: p for p in written.values()}, as_json, **summary)
        return
    table = Table(title=Text(f"{proto.title}: derived tables"))
    table.add_column("")
    for arm in proto.arm_codes:
        table.add_column(plain(arm), justify="right")
    table.add_row("randomised", *(str(summary["randomised"][a]) for a in proto.arm_codes))
    for status in sorted(summary["status"]):
        table.add_row(
            plain(f"  {status}"),
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
    if "primary_responders" in summary:
        table.add_row(
            f"primary responders ({proto.primary})",
            *(str(summary["primary_responders"][a]) for a in proto.arm_codes),
        )
    console.print(table)
    console.print(Text(f"Wrote {len(written)} tables to {out}."))
