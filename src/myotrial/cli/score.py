"""``myotrial score`` (a whole visits table) and ``myotrial tis`` (one patient, per measure)."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from myotrial.cli._app import app
from myotrial.cli._output import (
    EXIT_BAD_INPUT,
    console,
    err_console,
    exit_with_problems,
    to_jsonable,
)
from myotrial.errors import InputValidationError

# The scoring engine and the table readers are imported inside the commands: ``myotrial tis``
# (one patient) never loads the compiled engine, and ``--help`` loads neither.


class Population(StrEnum):
    adult = "adult"
    juvenile = "juvenile"


class MeasureSetName(StrEnum):
    imacs = "imacs"
    printo = "printo"


PopulationOpt = Annotated[
    Population, typer.Option("--population", help="adult (20/40/60) or juvenile (30/45/70)")
]
MeasureSetOpt = Annotated[
    MeasureSetName, typer.Option("--measure-set", help="imacs, or printo (juvenile only)")
]
Mmt8MaxOpt = Annotated[
    float | None,
    typer.Option("--mmt8-max", help="MMT-8 maximum where the table has none (default 150)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]


@app.command("score")
def score_command(
    visits: Annotated[Path, typer.Argument(help="visits table (CSV or Parquet)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="scored visits (.csv or .parquet)")],
    population: PopulationOpt = Population.adult,
    measure_set: MeasureSetOpt = MeasureSetName.imacs,
    mmt8_max: Mmt8MaxOpt = None,
    chq_phs_range: Annotated[
        float | None, typer.Option(help="CHQ-PhS scale range (required for --measure-set printo)")
    ] = None,
    partial: Annotated[
        bool, typer.Option("--partial", help="score present measures when some are missing")
    ] = False,
    earliest_week: Annotated[
        float | None, typer.Option(help="earliest confirming week for deterioration (default 8)")
    ] = None,
    consecutive_visits: Annotated[
        int | None, typer.Option(help="consecutive worsening visits that confirm (default 2)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score every visit of a trial: TIS, category, IMACS DOI, worsening, confirmed deterioration.

    Writes one row per input row (input columns passed through) plus the scored columns of
    data-format.md. On bad input, lists every problem and writes nothing (exit code 2).
    """
    from myotrial.scoring import SCORED_COLUMNS, score_visits
    from myotrial.tables import read_table, write_table
    from myotrial.tables.io import check_table_path

    try:
        check_table_path(out)
        frame = read_table(visits)
        scored = score_visits(
            frame,
            population=population.value,
            measure_set=measure_set.value,
            mmt8_max=mmt8_max,
            chq_phs_range=chq_phs_range,
            partial=partial,
            earliest_week=earliest_week,
            consecutive_visits=consecutive_visits,
        )
    except InputValidationError as exc:
        exit_with_problems(exc, as_json)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc), as_json)
    write_table(scored, out)
    post = scored[scored["visit_week"] > 0]
    summary: dict[str, Any] = {
        "ok": True,
        "output": str(out),
        "rows": len(scored),
        "subjects": int(scored["subject_id"].nunique()),
        "follow_up_visits": len(post),
        "tis_scored": int(post["tis"].notna().sum()),
        "tis_missing": int(post["tis"].isna().sum()),
        "categories": {k: int(v) for k, v in post["tis_category"].value_counts().items()},
        "worsening_visits": int(post["worsening"].fillna(False).sum()),
        "subjects_with_confirmed_deterioration": int(
            scored.loc[scored["cd_confirmed"], "subject_id"].nunique()
        ),
        "population": population.value,
        "measure_set": measure_set.value,
    }
    if as_json:
        typer.echo(json.dumps(to_jsonable(summary), indent=2))
        return
    table = Table(title=f"Scored {summary['rows']} visits of {summary['subjects']} subjects")
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_row("follow-up visits", str(summary["follow_up_visits"]))
    table.add_row("TIS scored", str(summary["tis_scored"]))
    table.add_row("TIS blank (reason in tis_missing_reason)", str(summary["tis_missing"]))
    for cat in ("none", "minimal", "moderate", "major"):
        table.add_row(f"  category {cat}", str(summary["categories"].get(cat, 0)))
    table.add_row("worsening visits", str(summary["worsening_visits"]))
    table.add_row(
        "subjects with confirmed deterioration",
        str(summary["subjects_with_confirmed_deterioration"]),
    )
    console.print(table)
    console.print(f"Wrote [bold]{out}[/bold] ({len(SCORED_COLUMNS)} scored columns).")


def _fail(message: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": message}))
    else:
        err_console.print(f"[bold red]error:[/bold red] {message}")
    raise typer.Exit(code=EXIT_BAD_INPUT)


Pair = tuple[float, float]


def _pair(help_text: str) -> Any:
    return typer.Option(help=f"{help_text}: BASELINE FOLLOW_UP", show_default=False)


@app.command("tis")
def tis_command(
    pga: Annotated[Pair | None, _pair("physician global activity VAS, cm")] = None,
    ptga: Annotated[Pair | None, _pair("patient/parent global activity VAS, cm")] = None,
    extramuscular: Annotated[Pair | None, _pair("extramuscular activity VAS, cm")] = None,
    mmt8: Annotated[Pair | None, _pair("MMT-8 score")] = None,
    haq: Annotated[Pair | None, _pair("HAQ disability index (adult)")] = None,
    chaq: Annotated[Pair | None, _pair("CHAQ (juvenile)")] = None,
    ck: Annotated[Pair | None, _pair("creatine kinase U/L")] = None,
    aldolase: Annotated[Pair | None, _pair("aldolase U/L")] = None,
    ldh: Annotated[Pair | None, _pair("LDH U/L")] = None,
    alt: Annotated[Pair | None, _pair("ALT U/L")] = None,
    ast: Annotated[Pair | None, _pair("AST U/L")] = None,
    ck_uln: Annotated[float | None, typer.Option(help="CK upper limit of normal")] = None,
    aldolase_uln: Annotated[float | None, typer.Option(help="aldolase ULN")] = None,
    ldh_uln: Annotated[float | None, typer.Option(help="LDH ULN")] = None,
    alt_uln: Annotated[float | None, typer.Option(help="ALT ULN")] = None,
    ast_uln: Annotated[float | None, typer.Option(help="AST ULN")] = None,
    cmas: Annotated[Pair | None, _pair("CMAS (PRINTO set)")] = None,
    das: Annotated[Pair | None, _pair("DAS (PRINTO set)")] = None,
    chq_phs: Annotated[Pair | None, _pair("CHQ physical summary (PRINTO set)")] = None,
    chq_phs_range: Annotated[float | None, typer.Option(help="CHQ-PhS scale range")] = None,
    population: PopulationOpt = Population.adult,
    measure_set: MeasureSetOpt = MeasureSetName.imacs,
    mmt8_max: Annotated[float, typer.Option(help="MMT-8 maximum (150 or 80)")] = 150.0,
    as_json: JsonOpt = False,
) -> None:
    """Total Improvement Score of one patient, measure by measure (the IMACS calculator).

    Example: myotrial tis --pga 6 2 --ptga 6 3 --extramuscular 4 1 --mmt8 120 138
    --haq 1.5 0.75 --ck 1200 300 --ck-uln 200
    """
    from myotrial.scoring.single import score_patient

    pairs = {
        "pga": pga,
        "ptga": ptga,
        "extramuscular": extramuscular,
        "mmt8": mmt8,
        "haq": haq,
        "chaq": chaq,
        "ck": ck,
        "aldolase": aldolase,
        "ldh": ldh,
        "alt": alt,
        "ast": ast,
        "cmas": cmas,
        "das": das,
        "chq_phs": chq_phs,
    }
    given = {k: v for k, v in pairs.items() if v is not None}
    if not given:
        _fail("give at least one measure, e.g. --pga 6 2 (baseline, follow-up)", as_json)
    try:
        result = score_patient(
            {k: v[0] for k, v in given.items()},
            {k: v[1] for k, v in given.items()},
            ulns={
                "ck": ck_uln,
                "aldolase": aldolase_uln,
                "ldh": ldh_uln,
                "alt": alt_uln,
                "ast": ast_uln,
            },
            population=population.value,
            measure_set=measure_set.value,
            mmt8_max=mmt8_max,
            chq_phs_range=chq_phs_range,
        )
    except InputValidationError as exc:
        exit_with_problems(exc, as_json, writes_output=False)
    except ValueError as exc:
        _fail(str(exc), as_json)
    if as_json:
        typer.echo(json.dumps(to_jsonable(result), indent=2))
        return
    _print_breakdown(result)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:g}"
    return str(value)


def _print_breakdown(result: dict[str, Any]) -> None:
    table = Table(
        title=f"Total Improvement Score ({result['population']}, {result['measure_set']})"
    )
    for col, just in (
        ("measure", "left"),
        ("baseline", "right"),
        ("follow-up", "right"),
        ("% improvement", "right"),
        ("points", "right"),
        ("max", "right"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for m in result["measures"]:
        table.add_row(
            f"{m['measure']} [dim]({m['label']})[/dim]",
            _fmt(m["baseline"]),
            _fmt(m["follow_up"]),
            _fmt(m["percent_improvement"], 1),
            _fmt(m["points"], 1),
            _fmt(m["max_points"], 1),
        )
    console.print(table)
    if result["tis"] is not None:
        console.print(
            f"TIS [bold]{_fmt(result['tis'], 1)}[/bold] / 100 — "
            f"[bold]{result['category']}[/bold] improvement"
        )
    else:
        console.print(
            f"TIS not computable: missing {', '.join(result['missing_measures'])} "
            f"(points of the measures given: {_fmt(result['tis_partial'], 1)})"
        )
    doi = {True: "met", False: "not met", None: "undetermined"}[result["doi_met"]]
    console.print(f"IMACS 2004 definition of improvement: {doi}")
    worse = {
        True: f"yes (clause {result['worsening_clauses']})",
        False: "no",
        None: "undetermined (measures missing)",
    }[result["worsening"]]
    console.print(f"ProDERM worsening at this visit: {worse}")
    console.print(f"[dim]{result['citation']}[/dim]")
