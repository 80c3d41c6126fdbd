"""Typer options shared by the commands, one vocabulary (README, "Command-line conventions"):
``-o/--out`` for what a command writes, ``--force`` to overwrite it, ``--json`` for the one JSON
envelope, ``-d/--database`` where the live trial database is read; and the checks of option
values (finite, in range) that run before any work."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from myotrial.cli._output import DATA_FORMAT_DOC, CliInputError

__all__ = [
    "AdverseEventsOpt",
    "DatabaseOpt",
    "DerivedOpt",
    "ForceOpt",
    "InfusionsOpt",
    "JsonOpt",
    "ProtocolOpt",
    "SubjectsOpt",
    "UserOpt",
    "VisitsOpt",
    "check_mmt8_max",
    "check_number",
    "check_table_paths",
    "check_week",
]

_TABLES = f"(CSV or Parquet; columns in {DATA_FORMAT_DOC})"

DerivedOpt = Annotated[
    Path | None,
    typer.Option("--derived", help="folder written by myotrial derive (not with --visits)"),
]
VisitsOpt = Annotated[Path | None, typer.Option("--visits", help=f"raw visits table {_TABLES}")]
SubjectsOpt = Annotated[
    Path | None, typer.Option("--subjects", help=f"raw subjects table {_TABLES}")
]
AdverseEventsOpt = Annotated[
    Path | None,
    typer.Option("--adverse-events", help=f"adverse_events table (optional: safety) {_TABLES}"),
]
InfusionsOpt = Annotated[
    Path | None,
    typer.Option("--infusions", help=f"infusions table (optional: safety) {_TABLES}"),
]
ProtocolOpt = Annotated[str, typer.Option(help="protocol name or .toml file")]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json", help="machine-readable JSON on stdout: {ok, outputs, problems, ...}"
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="overwrite outputs that exist (never an input)")
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database",
        "-d",
        help="read the live trial database at this URL (default $MYOTRIAL_DATABASE_URL, else "
        "sqlite:///trial.db, as for myotrial db and serve); needs --user",
    ),
]
UserOpt = Annotated[
    str | None,
    typer.Option(
        "--user",
        help="your user name in the database (password from $MYOTRIAL_PASSWORD or a prompt); "
        "reads the database at --database",
    ),
]


def check_number(
    option: str,
    value: float | None,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise :class:`CliInputError` naming ``option`` unless ``value`` is None or a finite
    number in the range (closed ends unless ``*_open``)."""
    if value is None:
        return
    if not math.isfinite(value):
        raise CliInputError(f"{option} {value!r}: must be a finite number")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "" if low is None else ("> " if low_open else ">= ") + f"{low:g}"
        hi = "" if high is None else ("< " if high_open else "<= ") + f"{high:g}"
        raise CliInputError(f"{option} {value:g}: must be {' and '.join(x for x in (lo, hi) if x)}")


def check_week(option: str, value: float | None, *, last_week: float | None = None) -> None:
    """A week option: a finite number from 0 to the protocol's last week (else to the largest
    visit week a table may hold, 1000)."""
    from myotrial.tables.ranges import MAX_VISIT_WEEK

    check_number(option, value, low=0, high=MAX_VISIT_WEEK if last_week is None else last_week)


def check_mmt8_max(option: str, value: float | None) -> None:
    """The MMT-8 maximum: 80 (unilateral) or 150 (bilateral + axial), nothing else
    (``allowed_max`` in ``rules/measures.toml``)."""
    from myotrial.tables.ranges import MMT8_ALLOWED_MAX

    if value is None:
        return
    if not math.isfinite(value) or value not in MMT8_ALLOWED_MAX:
        allowed = " or ".join(f"{v:g}" for v in MMT8_ALLOWED_MAX)
        raise CliInputError(
            f"{option} {value!r}: must be {allowed} (the MMT-8 scale: 80 unilateral, 150 "
            "bilateral + axial)"
        )


def check_table_paths(*paths: Path | None) -> None:
    """Every table path (input or output) has a supported extension (.csv, .parquet, .pq)."""
    from myotrial.tables.io import check_table_path

    for path in paths:
        if path is None:
            continue
        try:
            check_table_path(path)
        except ValueError as exc:
            raise CliInputError(str(exc)) from None
