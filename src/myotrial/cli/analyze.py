"""``myotrial analyze``: the trial's endpoints, from raw tables or from derived tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from myotrial.analysis import AnalysisResults, SensitivityResult, analyze
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
from myotrial.sap import ANALYSIS_METHODS
from myotrial.stats import EstimateResult, get_method
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


StrataOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--strata",
        help="stratify by this subject column (repeat for several; default: the SAP's "
        "strata): MH/Sato risk difference and CMH test beside the unadjusted ones, stratified "
        "ANCOVA, Cox model and log-rank test",
    ),
]


@app.command("analyze")
def analyze_command(
    derived: DerivedOpt = None,
    visits: VisitsOpt = None,
    subjects: SubjectsOpt = None,
    adverse_events: AdverseEventsOpt = None,
    infusions: InfusionsOpt = None,
    protocol: ProtocolOpt = "proderm",
    method: Annotated[
        str | None,
        typer.Option(
            help="override the SAP's risk-difference interval: "
            + ", ".join(ANALYSIS_METHODS["binary"]["estimate"])
        ),
    ] = None,
    test: Annotated[
        str | None,
        typer.Option(
            help="override the SAP's binary test: " + ", ".join(ANALYSIS_METHODS["binary"]["test"])
        ),
    ] = None,
    continuous: Annotated[
        str | None,
        typer.Option(
            help="override the SAP's mean difference: "
            + ", ".join(ANALYSIS_METHODS["continuous"]["estimate"])
        ),
    ] = None,
    conf_level: Annotated[
        float | None, typer.Option(help="override the SAP's confidence level")
    ] = None,
    strata: StrataOpt = None,
    no_strata: Annotated[
        bool, typer.Option("--no-strata", help="ignore the SAP's strata (unstratified only)")
    ] = False,
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
    """Estimate every endpoint of the protocol as its statistical analysis plan says.

    Give either --derived DIR (tables written by `myotrial derive`), --visits and --subjects
    (scoring and derivation run first), or --database URL --user NAME (the live data, exported
    unblinded through the service; randomised subjects only). The SAP ([sap] of the protocol)
    names each analysis's methods, the strata, the populations, the multiplicity procedure and
    the sensitivity analyses; --method, --test, --continuous, --conf-level and --strata override
    it. Each row names its method; --json prints every computed number.
    """
    try:
        if strata and no_strata:
            raise ValueError("give --strata or --no-strata, not both")
        chosen = () if no_strata else (tuple(strata) if strata else None)
        options: dict[str, Any] = dict(
            binary_method=method,
            binary_test=test,
            continuous_method=continuous,
            conf_level=conf_level,
            strata=chosen,
        )
        if database is not None:
            live = _export_database(database, user)
            tables = derive_all(
                live["visits"], live["subjects"], protocol, infusions=live["infusions"]
            )
            results = analyze(
                tables,
                adverse_events=live["adverse_events"],
                infusions=live["infusions"],
                **options,
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
            **options,
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


def _records(frame: Any) -> list[dict[str, Any]]:
    return [{k: to_jsonable(v) for k, v in rec.items()} for rec in frame.to_dict("records")]


def _finish(results: AnalysisResults, as_json: bool) -> None:
    summary = results.summary()
    if as_json:
        payload: dict[str, Any] = {
            "ok": True,
            "protocol": results.protocol,
            "conf_level": results.conf_level,
            "strata": list(results.strata),
            "overrides": results.overrides,
            "results": _records(summary),
            "populations": [
                {"name": p.name, "label": p.label, "rule": p.rule, "n": p.n}
                for p in results.populations
            ],
            "multiplicity": None
            if results.multiplicity is None
            else {
                "procedure": results.multiplicity.method,
                "alpha": results.multiplicity.alpha,
                "hypotheses": _records(results.multiplicity.table),
                "notes": list(results.multiplicity_notes),
            },
            "sensitivity": [
                {
                    "name": s.name,
                    "endpoint": s.endpoint,
                    "method": s.method,
                    "population": s.population,
                    "arms": to_jsonable(s.arms),
                    "estimate": None if s.estimate is None else s.estimate.estimate,
                    "lower": None if s.estimate is None else s.estimate.lower,
                    "upper": None if s.estimate is None else s.estimate.upper,
                    "estimate_method": None if s.estimate is None else s.estimate.method,
                    "p_value": to_jsonable(s.p_value),
                    "test": None if s.test is None else s.test.method,
                    "tipping_point": s.tipping_summary() or None,
                    "notes": list(s.notes),
                }
                for s in results.sensitivity
            ],
            "ard": _records(results.to_ard()),
        }
        if results.safety_overview is not None:
            payload["safety"] = _records(results.safety_overview)
        typer.echo(json.dumps(payload, indent=2))
        return
    _print(results)


def _p(p: float | None) -> str:
    """A p-value for the terminal: never ``0.0000`` (``< 0.0001``)."""
    if p is None or p != p:
        return ""
    return "< 0.0001" if p < 0.0001 else f"{p:.4f}"


def _effect(est: EstimateResult | None) -> str:
    if est is None or est.estimate != est.estimate:
        return ""
    if est.effect in ("risk_difference", "proportion"):
        unit = " pts" if est.effect == "risk_difference" else "%"
        return (
            f"{100 * est.estimate:.1f} ({100 * est.lower:.1f} to {100 * est.upper:.1f}){unit}"
        )
    name = {"odds_ratio": "OR ", "hazard_ratio": "HR "}.get(est.effect, "")
    return f"{name}{est.estimate:.2f} ({est.lower:.2f} to {est.upper:.2f})"


def _label(*keys: str | None) -> str:
    return "; ".join(get_method(k).label for k in keys if k)


def _median(km: Any) -> str:
    if km is None:
        return ""
    if km.n_events == 0:
        return f"no events (n={km.n})"
    if km.median != km.median:
        return f"median not reached, {km.n_events}/{km.n} events"
    lo = "NR" if km.median_lower != km.median_lower else f"{km.median_lower:g}"
    hi = "NR" if km.median_upper != km.median_upper else f"{km.median_upper:g}"
    return f"median {km.median:g} days ({lo} to {hi}), {km.n_events}/{km.n} events"


def _print(results: AnalysisResults) -> None:
    ci = f"{results.conf_level:.0%} CI" if results.conf_level * 100 % 1 == 0 else (
        f"{100 * results.conf_level:g}% CI"
    )
    sap = results.sap
    plan = "default plan (no [sap])" if sap is None or sap.defaulted else "the protocol's SAP"
    over = ", ".join(f"{k}={v}" for k, v in results.overrides.items())
    title = (
        f"{results.protocol}: {results.treatment} vs {results.control} ({plan}"
        + (f"; overrides: {over}" if over else "")
        + (f"; strata: {', '.join(results.strata)}" if results.strata else "")
        + ")"
    )
    t, c = results.treatment, results.control
    table = Table(title=title)
    for col, just in (
        ("endpoint", "left"),
        (t, "right"),
        (c, "right"),
        (f"effect ({ci})", "right"),
        ("p", "right"),
        ("method", "left"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    summary = {r["endpoint"]: r for r in results.summary().to_dict("records")}
    notes: list[str] = []
    for ep in results.endpoints:
        rec = summary[ep.endpoint]
        tag = " (primary)" if ep.role == "primary" else ""
        if ep.kind == "time_to_event":
            lr = ep.test
            no_events = lr is not None and int(sum(k.n_events for k in ep.km.values())) == 0
            table.add_row(
                ep.endpoint, _median(ep.km.get(t)), _median(ep.km.get(c)),
                _effect(None if ep.cox is None else ep.cox.hazard_ratio),
                "no events" if no_events else ("" if lr is None else _p(lr.p_value)),
                _label(None if ep.cox is None else ep.cox.method, None if lr is None
                       else lr.method),
            )
            if ep.cox is not None:
                table.add_row(
                    "  PH check", "", "", "", _p(ep.cox.ph_test.global_p_value),
                    _label(ep.cox.ph_test.method),
                )
            if ep.cox_stratified is not None or ep.stratified_logrank is not None:
                sl = ep.stratified_logrank
                table.add_row(
                    f"  stratified by {'+'.join(results.strata)}", "", "",
                    _effect(None if ep.cox_stratified is None else ep.cox_stratified.hazard_ratio),
                    "" if sl is None else _p(sl.p_value),
                    _label(None if ep.cox_stratified is None else ep.cox_stratified.method,
                           None if sl is None else sl.method),
                )
        elif ep.comparison == "descriptive":
            cells = []
            for arm in (t, c):
                a = ep.arms.get(arm, {})
                e = ep.arm_estimates.get(arm)
                text = rec["treatment" if arm == t else "control"]
                if e is not None and ep.kind == "binary":
                    text += f"; {100 * e.lower:.1f} to {100 * e.upper:.1f}%"
                cells.append(text if a else "")
            table.add_row(
                ep.endpoint + " (descriptive)", *cells, "no between-arm comparison", "",
                _label(*(e.method for e in list(ep.arm_estimates.values())[:1])),
            )
        else:
            est = ep.estimate
            table.add_row(
                ep.endpoint + tag, rec["treatment"], rec["control"], _effect(est),
                _p(ep.p_value),
                _label(None if est is None else est.method, None if ep.test is None
                       else ep.test.method),
            )
            for x in ep.extra:
                table.add_row(
                    "  " + {"odds_ratio": "odds ratio", "risk_difference": "exact"}.get(
                        x.effect, "adjusted for baseline"
                    ),
                    "", "", _effect(x), _p(x.p_value), _label(x.method),
                )
            if ep.stratified_estimate is not None or ep.stratified_test is not None:
                se, st = ep.stratified_estimate, ep.stratified_test
                table.add_row(
                    f"  stratified by {'+'.join(ep.strata)}", "", "", _effect(se),
                    _p(st.p_value if st is not None else (se.p_value if se else None)),
                    _label(None if se is None else se.method, None if st is None else st.method),
                )
        for n in ep.notes:
            if not n.startswith("descriptive"):
                notes.append(f"{ep.endpoint}: {n}")
        if ep.pairing and ep.role == "primary":
            notes.append(f"{ep.endpoint}: CI/test pairing: {ep.pairing}")
    console.print(table)
    _print_mmrm(results, ci)
    _print_multiplicity(results)
    _print_sensitivity(results, ci)
    if results.populations:
        pops = "; ".join(
            f"{p.name} ({p.rule}): " + ", ".join(f"{a} {n}" for a, n in p.n.items())
            for p in results.populations
        )
        console.print(f"Analysis populations: {pops}")
    for n in notes:
        console.print(f"[dim]note[/dim] {n}", highlight=False)


def _print_mmrm(results: AnalysisResults, ci: str) -> None:
    fits = [ep for ep in results.endpoints if ep.mmrm is not None]
    if not fits:
        return
    visits = [str(v) for v in fits[0].mmrm.differences["visit"]] if fits[0].mmrm else []
    table = Table(title=f"Repeated measures (MMRM): difference {results.treatment} - "
                  f"{results.control} by week ({ci})")
    table.add_column("endpoint")
    for v in visits:
        table.add_column(f"week {v}", justify="right")
    for ep in fits:
        assert ep.mmrm is not None
        cells = [_effect(ep.mmrm.estimates.get(v)) for v in visits]
        table.add_row(ep.label, *cells)
    console.print(table)


def _print_multiplicity(results: AnalysisResults) -> None:
    mult = results.multiplicity
    if mult is None:
        for n in results.multiplicity_notes:
            console.print(f"Multiplicity: {n}")
        return
    table = Table(title=f"Multiplicity: {get_method(mult.method).label}, family-wise alpha "
                  f"{mult.alpha:g}")
    for col in ("step", "hypothesis", "p", "adjusted p", "tested at alpha", "rejected"):
        table.add_column(col)
    for rec in mult.table.sort_values("step").to_dict("records"):
        tested = "not tested" if not rec["tested"] else f"{rec['alpha_at_test']:.4g}"
        table.add_row(str(rec["step"]), str(rec["hypothesis"]), _p(rec["p_value"]),
                      _p(rec["adjusted_p"]), tested, "yes" if rec["rejected"] else "no")
    console.print(table)


def _print_sensitivity(results: AnalysisResults, ci: str) -> None:
    if not results.sensitivity:
        return
    t, c = results.treatment, results.control
    table = Table(title="Sensitivity analyses (SAP)")
    for col, just in (("analysis", "left"), (t, "right"), (c, "right"),
                      (f"effect ({ci})", "right"), ("p", "right"), ("what", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for s in results.sensitivity:
        def arm(code: str, s: SensitivityResult = s) -> str:
            a = s.arms.get(code)
            if not a:
                return ""
            if "missing" in a:
                return f"{a['x_observed']}/{a['n_observed']} observed, {a['missing']} missing"
            x = a["x"]
            text = f"{x:.2f}" if isinstance(x, float) and not float(x).is_integer() else (
                f"{int(x)}"
            )
            return f"{text}/{int(a['n'])}" + (
                f" (+{a['gained']:g})" if a.get("gained") else ""
            )

        what = s.tipping_summary() if s.tipping is not None else s.description
        if not s.arms and s.notes:
            what = s.notes[0]
        table.add_row(s.name, arm(t), arm(c), _effect(s.estimate), _p(s.p_value), what)
    console.print(table)
