"""``myotrial score`` (a whole visits table) and ``myotrial tis`` (one patient, per measure)."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from myotrial.cli._app import app
from myotrial.cli._options import (
    ForceOpt,
    JsonOpt,
    check_mmt8_max,
    check_number,
    check_table_paths,
    check_week,
)
from myotrial.cli._output import (
    CliInputError,
    check_outputs,
    console,
    emit_success,
    progress,
    write_output_table,
)
from myotrial.cli._plain import PlainOptionsCommand

# The scoring engine and the table readers are imported inside the commands: ``myotrial tis``
# (one patient) never loads the compiled engine, and ``--help`` loads neither.

#: Rows from which ``myotrial score`` shows a progress bar (on a terminal, not with --json).
PROGRESS_ROWS = 100_000
#: Largest --consecutive-visits accepted (a trial has far fewer visits per patient).
MAX_CONSECUTIVE_VISITS = 100


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
    typer.Option(
        "--mmt8-max", help="MMT-8 maximum where the table has none: 150 (default) or 80"
    ),
]


def _check_measure_set(
    population: Population, measure_set: MeasureSetName, chq_phs_range: float | None
) -> None:
    check_number("--chq-phs-range", chq_phs_range, low=0, low_open=True)
    if measure_set is MeasureSetName.printo:
        if population is not Population.juvenile:
            raise CliInputError("--measure-set printo is for --population juvenile only")
        if chq_phs_range is None:
            raise CliInputError(
                "--measure-set printo needs --chq-phs-range (the CHQ-PhS scale range is not "
                "published)"
            )


@app.command("score")
def score_command(
    visits: Annotated[
        Path,
        typer.Argument(help="visits table (CSV or Parquet; columns in docs/data-format.md)"),
    ],
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
        float | None,
        typer.Option(help="earliest confirming week for deterioration, 0 to 1000 (default 8)"),
    ] = None,
    consecutive_visits: Annotated[
        int | None,
        typer.Option(help="consecutive worsening visits that confirm, 1 to 100 (default 2)"),
    ] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Score every visit of a trial: TIS, category, IMACS DOI, worsening, confirmed deterioration.

    Writes one row per input row (input columns passed through) plus the scored columns of
    docs/data-format.md. On bad input, lists every problem and writes nothing (exit code 2).
    """
    check_mmt8_max("--mmt8-max", mmt8_max)
    _check_measure_set(population, measure_set, chq_phs_range)
    check_week("--earliest-week", earliest_week)
    if consecutive_visits is not None and not 1 <= consecutive_visits <= MAX_CONSECUTIVE_VISITS:
        raise CliInputError(
            f"--consecutive-visits {consecutive_visits}: must be 1 to {MAX_CONSECUTIVE_VISITS}"
        )
    check_table_paths(visits, out)
    check_outputs([out], inputs=[visits], force=force, as_json=as_json)

    from myotrial.scoring import SCORED_COLUMNS, score_visits
    from myotrial.tables import read_table

    frame = read_table(visits)
    with progress(2, as_json=as_json, enabled=len(frame) >= PROGRESS_ROWS) as steps:
        steps.step(f"scoring {len(frame):,} visits")
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
        steps.step(f"writing {out}")
        write_output_table(scored, out, as_json=as_json)
    post = scored[scored["visit_week"] > 0]
    summary: dict[str, Any] = {
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
        emit_success({"scored": out}, as_json, **summary)
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
    console.print(Text(f"Wrote {out} ({len(SCORED_COLUMNS)} scored columns)."))


Pair = tuple[float, float]


def _pair(help_text: str) -> Any:
    return typer.Option(help=f"{help_text}: BASELINE FOLLOW_UP", show_default=False)


# ``tis`` options are coerced without pydantic (myotrial.cli._plain): a quick start for one patient
@app.command("tis", cls=PlainOptionsCommand)
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
    mmt8_max: Annotated[float, typer.Option(help="MMT-8 maximum: 150 or 80")] = 150.0,
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
        raise CliInputError("give at least one measure, e.g. --pga 6 2 (baseline, follow-up)")
    ulns = {"ck": ck_uln, "aldolase": aldolase_uln, "ldh": ldh_uln, "alt": alt_uln, "ast": ast_uln}
    for name, uln in ulns.items():
        check_number(f"--{name}-uln", uln, low=0, low_open=True)
    check_mmt8_max("--mmt8-max", mmt8_max)
    _check_measure_set(population, measure_set, chq_phs_range)
    _check_measures_in_set(given, population, measure_set)
    result = score_patient(
        {k: v[0] for k, v in given.items()},
        {k: v[1] for k, v in given.items()},
        ulns=ulns,
        population=population.value,
        measure_set=measure_set.value,
        mmt8_max=mmt8_max,
        chq_phs_range=chq_phs_range,
    )
    if as_json:
        emit_success({}, as_json, **result)
        return
    _print_breakdown(result)


def _check_measures_in_set(
    given: dict[str, Any], population: Population, measure_set: MeasureSetName
) -> None:
    """A measure the chosen set does not score would be silently ignored: refuse it."""
    from myotrial.rules import load_scales, load_tis_rules

    slots = load_tis_rules().measure_set_for(population.value, measure_set.value).slots
    used = set(slots.values())
    if "enzyme" in used:
        used |= set(load_scales().enzymes)
    unused = [k for k in given if k not in used]
    if unused:
        options = ", ".join("--" + k.replace("_", "-") for k in unused)
        measures = ", ".join(m for m in slots.values())
        raise CliInputError(
            f"{options}: not part of the {measure_set.value} {population.value} set "
            f"({measures}); it would be ignored (--population juvenile scores chaq; "
            "--measure-set printo scores cmas, das and chq_phs)"
        )


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
            Text.assemble(str(m["measure"]), (f" ({m['label']})", "dim")),
            _fmt(m["baseline"]),
            _fmt(m["follow_up"]),
            _fmt(m["percent_improvement"], 1),
            _fmt(m["points"], 1),
            _fmt(m["max_points"], 1),
        )
    console.print(table)
    if result["tis"] is not None:
        console.print(
            Text.assemble(
                "TIS ",
                (_fmt(result["tis"], 1), "bold"),
                " / 100 — ",
                (str(result["category"]), "bold"),
                " improvement",
            )
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
    console.print(Text(str(result["citation"]), style="dim"))
