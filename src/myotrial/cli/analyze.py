"""``myotrial analyze``: the trial's endpoints, from raw tables or from derived tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from myotrial.analysis import AnalysisResults, analyze
from myotrial.cli._app import app
from myotrial.cli._options import (
    AdverseEventsOpt,
    DerivedOpt,
    InfusionsOpt,
    ProtocolOpt,
    SubjectsOpt,
    VisitsOpt,
)
from myotrial.cli._output import (
    EXIT_BAD_INPUT,
    console,
    err_console,
    exit_with_problems,
    to_jsonable,
)
from myotrial.derive import DerivedTables, derive_all
from myotrial.errors import InputValidationError, RulesError
from myotrial.protocol import load_protocol
from myotrial.stats import get_method
from myotrial.tables import read_table

DERIVED = ("scored_visits", "adsl", "adrs", "adeff", "adtte")


def _read_derived(folder: Path, protocol: str) -> DerivedTables:
    found = {}
    for name in DERIVED:
        for suffix in (".parquet", ".csv"):
            path = folder / f"{name}{suffix}"
            if path.exists():
                found[name] = read_table(path) if suffix == ".parquet" else _typed_csv(path)
                break
        else:
            raise FileNotFoundError(
                f"{folder}: no {name}.csv or {name}.parquet (run myotrial derive)"
            )
    return DerivedTables(
        load_protocol(protocol),
        found["scored_visits"],
        found["adsl"],
        found["adrs"],
        found["adeff"],
        found["adtte"],
    )


def _typed_csv(path: Path) -> Any:
    import pandas as pd

    return pd.read_csv(path, keep_default_na=True)


@app.command("analyze")
def analyze_command(
    derived: DerivedOpt = None,
    visits: VisitsOpt = None,
    subjects: SubjectsOpt = None,
    adverse_events: AdverseEventsOpt = None,
    infusions: InfusionsOpt = None,
    protocol: ProtocolOpt = "proderm",
    method: Annotated[
        str, typer.Option(help="risk-difference CI: wald, newcombe, miettinen_nurminen")
    ] = "wald",
    test: Annotated[str, typer.Option(help="binary test: fisher, chisq, chisq_yates")] = "fisher",
    continuous: Annotated[
        str, typer.Option(help="mean difference: pooled_t or welch")
    ] = "pooled_t",
    conf_level: Annotated[float, typer.Option(help="confidence level")] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="result rows as JSON")] = False,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="analyse the live trial database at this URL (export "
            "as --user, an unblinded statistician)",
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            help="with --database: your user name (password from $MYOTRIAL_PASSWORD or a prompt)",
        ),
    ] = None,
) -> None:
    """Estimate every endpoint of the protocol (primary, secondary, time to event, subgroups).

    Give either --derived DIR (tables written by `myotrial derive`), --visits and --subjects
    (scoring and derivation run first), or --database URL --user NAME (the live data, exported
    unblinded through the service; randomised subjects only). Each row names its method;
    --json prints the rows.
    """
    try:
        if database is not None:
            live = _export_database(database, user)
            tables = derive_all(
                live["visits"], live["subjects"], protocol, infusions=live["infusions"]
            )
            results = analyze(
                tables,
                adverse_events=live["adverse_events"],
                infusions=live["infusions"],
                binary_method=method,
                binary_test=test,
                continuous_method=continuous,
                conf_level=conf_level,
            )
            _finish(results, as_json)
            return
        inf = None if infusions is None else read_table(infusions)
        if derived is not None:
            tables = _read_derived(derived, protocol)
        elif visits is not None and subjects is not None:
            tables = derive_all(read_table(visits), read_table(subjects), protocol, infusions=inf)
        else:
            raise ValueError("give --derived DIR, or both --visits and --subjects")
        results = analyze(
            tables,
            adverse_events=None if adverse_events is None else read_table(adverse_events),
            infusions=inf,
            binary_method=method,
            binary_test=test,
            continuous_method=continuous,
            conf_level=conf_level,
        )
    except InputValidationError as exc:
        exit_with_problems(exc, as_json, writes_output=False)
    except (RulesError, FileNotFoundError, ValueError) as exc:
        if as_json:
            typer.echo(json.dumps({"ok": False, "error": str(exc)}))
        else:
            err_console.print(f"[bold red]error:[/bold red] {exc}")
        raise typer.Exit(code=EXIT_BAD_INPUT) from None
    _finish(results, as_json)


def _export_database(url: str, user: str | None) -> dict[str, Any]:
    """The live data as the canonical tables, exported unblinded by an unblinded statistician
    through ``TrialService.export_tables`` (audited); randomised subjects only."""
    import os

    import sqlalchemy as sa

    from myotrial.db import PermissionDenied, TrialService, make_engine

    if not user:
        raise ValueError("--database needs --user (an unblinded statistician)")
    password = os.environ.get("MYOTRIAL_PASSWORD") or typer.prompt(
        f"Password for {user}", hide_input=True
    )
    engine = make_engine(url)
    try:
        svc = TrialService(engine)
        try:
            actor = svc.authenticate(user, password)
            if actor.blinded:
                raise PermissionDenied(
                    f"user {user!r} has role {actor.role.value}: the analysis "
                    "needs the arms, i.e. an unblinded statistician"
                )
            tables = svc.export_tables(actor, blinded=False)
        except PermissionDenied as exc:
            raise ValueError(f"permission denied: {exc}") from None
        except sa.exc.SQLAlchemyError as exc:
            raise ValueError(f"cannot read database {url!r}: {exc}") from None
    finally:
        engine.dispose()
    subjects = tables["subjects"]
    subjects = subjects.loc[subjects["arm"].notna()].reset_index(drop=True)
    keep = set(subjects["subject_id"])
    out: dict[str, Any] = {"subjects": subjects}
    for name in ("visits", "infusions", "adverse_events"):
        frame = tables[name]
        out[name] = frame.loc[frame["subject_id"].isin(keep)].reset_index(drop=True)
    return out


def _finish(results: AnalysisResults, as_json: bool) -> None:
    summary = results.summary()
    if as_json:
        rows = [{k: to_jsonable(v) for k, v in rec.items()} for rec in summary.to_dict("records")]
        payload: dict[str, Any] = {"ok": True, "protocol": results.protocol, "results": rows}
        if results.safety_overview is not None:
            payload["safety"] = [
                {k: to_jsonable(v) for k, v in rec.items()}
                for rec in results.safety_overview.to_dict("records")
            ]
        typer.echo(json.dumps(payload, indent=2))
        return
    _print(results, summary)


def _print(results: AnalysisResults, summary: Any) -> None:
    table = Table(title=f"{results.protocol}: {results.treatment} vs {results.control}")
    for col, just in (
        ("endpoint", "left"),
        (results.treatment, "right"),
        (results.control, "right"),
        ("effect (95% CI)", "right"),
        ("p", "right"),
        ("method", "left"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for rec in summary.to_dict("records"):
        est = rec["estimate"]
        if est is None or est != est:
            effect = ""
        elif rec["effect"] == "risk_difference":
            effect = f"{100 * est:.1f} ({100 * rec['lower']:.1f} to {100 * rec['upper']:.1f}) pts"
        else:
            effect = f"{est:.2f} ({rec['lower']:.2f} to {rec['upper']:.2f})"
        p = rec["p_value"]
        methods = [m for m in (rec["method"], rec["test"]) if isinstance(m, str) and m]
        table.add_row(
            rec["endpoint"],
            rec["treatment"],
            rec["control"],
            effect,
            "" if p is None or p != p else f"{p:.4f}",
            "; ".join(get_method(m).label for m in methods),
        )
    console.print(table)
