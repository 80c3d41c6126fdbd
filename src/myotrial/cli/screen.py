"""``myotrial screen``: ProDERM eligibility, Bohan and Peter class, EULAR/ACR score."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from myotrial.cli._app import app
from myotrial.cli._options import ForceOpt, JsonOpt, check_table_paths
from myotrial.cli._output import check_outputs, console, emit_success, plain, write_output_table
from myotrial.cli._output import to_jsonable as _jsonable
from myotrial.eligibility import (
    ScreeningDecision,
    decisions_to_frame,
    load_eligibility_rules,
    screen_candidates,
)
from myotrial.tables.io import read_table

__all__ = ["screen"]


def _decision_json(d: ScreeningDecision) -> dict[str, Any]:
    ea = d.eular_acr
    return {
        "subject_id": d.subject_id,
        "row": d.row,
        "status": d.status.value,
        "eligible": d.eligible,
        "criteria_met": list(d.criteria_met),
        "criteria_failed": list(d.criteria_failed),
        "criteria_not_assessable": list(d.criteria_not_assessable),
        "missing_fields": list(d.missing_fields),
        "not_checked": list(d.not_checked),
        "notes": list(d.notes),
        "bohan_peter": {
            "class": d.bohan_peter.category.value,
            "words": d.bohan_peter.words,
            "missing": list(d.bohan_peter.missing),
        },
        "eular_acr": None
        if ea is None
        else {
            "score": float(ea.score),
            "max_score": float(ea.max_score),
            "biopsy": ea.biopsy,
            "class": ea.category.value,
            "probability_approximate": _jsonable(ea.probability),
            "subclass_unconfirmed": ea.subclass,
            "missing": list(ea.missing),
        },
    }


@app.command("screen")
def screen(
    screening: Annotated[
        Path,
        typer.Argument(
            help="Screening table, one row per candidate (CSV or Parquet; columns in "
            "docs/data-format.md)."
        ),
    ],
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Screened table to write (CSV or Parquet).")
    ],
    rules: Annotated[
        Path | None,
        typer.Option(help="Eligibility rules TOML (default: the shipped ProDERM rules)."),
    ] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Screen candidates against the ProDERM eligibility criteria.

    Writes every input column plus eligible, screening_status, reasons, criteria_met,
    missing_fields, bohan_peter_class and the EULAR/ACR 2017 score, class, approximate
    probability and (unconfirmed) subclass (docs/data-format.md). Bad input: every problem is
    listed with its row, subject and column, nothing is written and the exit code is 2.
    """
    check_table_paths(screening, out)
    check_outputs([out], inputs=[screening, rules], force=force, as_json=as_json)
    eligibility_rules = load_eligibility_rules(rules)
    frame = read_table(screening)
    decisions = screen_candidates(frame, eligibility_rules)
    result = decisions_to_frame(frame, decisions)
    write_output_table(result, out, as_json=as_json)
    counts = {
        s: sum(1 for d in decisions if d.status.value == s)
        for s in ("eligible", "ineligible", "not_assessable")
    }
    if as_json:
        emit_success(
            {"screened": out},
            as_json,
            rules=eligibility_rules.source,
            counts=counts,
            candidates=[_decision_json(d) for d in decisions],
        )
        return
    table = Table(title=f"Screening against {eligibility_rules.citation}", show_lines=True)
    for col in (
        "subject",
        "status",
        "why (criteria failed / not assessable)",
        "Bohan & Peter",
        "EULAR/ACR 2017",
    ):
        table.add_column(col, overflow="fold")
    style = {"eligible": "green", "ineligible": "red", "not_assessable": "yellow"}
    for d in decisions:
        ea = d.eular_acr
        ea_text = "-" if ea is None else f"{ea.score} {ea.category.value}"
        table.add_row(
            plain(d.subject_id),
            Text(d.status.value, style=style[d.status.value]),
            plain("\n".join(d.reasons) or "all criteria met"),
            plain(d.bohan_peter.category.value),
            plain(ea_text),
        )
    console.print(table)
    console.print(
        Text(
            f"{len(decisions)} candidate(s): {counts['eligible']} eligible, "
            f"{counts['ineligible']} ineligible, {counts['not_assessable']} not assessable. "
            f"Wrote {out}."
        )
    )
