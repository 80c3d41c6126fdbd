"""``myotrial analyze``: the trial's endpoints, from raw tables or from derived tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from myotrial.analysis import AnalysisResults, SensitivityResult, analyze, resolve_strata
from myotrial.cli._app import app
from myotrial.cli._options import (
    AdverseEventsOpt,
    DatabaseOpt,
    DerivedOpt,
    InfusionsOpt,
    JsonOpt,
    SubjectsOpt,
    UserOpt,
    VisitsOpt,
    check_number,
    check_table_paths,
)
from myotrial.cli._output import (
    CliInputError,
    Steps,
    emit_success,
    to_jsonable,
)
from myotrial.derive import DerivedTables, derive_all
from myotrial.protocol import Protocol, load_protocol
from myotrial.sap import ANALYSIS_METHODS
from myotrial.stats import EstimateResult, get_method
from myotrial.tables import read_table

DERIVED = ("scored_visits", "adsl", "adrs", "adeff", "adtte")
#: The results are printed literally: strata values, arm codes, notes naming subjects are user
#: data, never rich markup.
console = Console(markup=False)


def _derived_columns() -> dict[str, tuple[str, ...]]:
    """The columns of each derived table that the analysis reads (all written by
    ``myotrial derive``): a table read back with ``--derived`` must have them."""
    from myotrial.derive.adsl import ADSL_COLUMNS

    return {
        "scored_visits": ("subject_id", "visit_week", "tis", "tis_category", "worsening",
                          "cd_confirmed"),
        "adsl": ADSL_COLUMNS,
        "adrs": ("USUBJID", "ARMCD", "PARAMCD", "PARAM", "POPULATION", "AVISITN", "AVAL",
                 "AVALC", "TIS", "CDWK", "REASON"),
        "adeff": ("USUBJID", "ARMCD", "TRTA", "APERIOD", "APERIODC", "AVISITN", "PARAMCD",
                  "PARAM", "AVAL", "BASE", "CHG", "PCHG", "ABLFL", "WORSFL", "CDFL"),
        "adtte": ("USUBJID", "ARMCD", "PARAMCD", "PARAM", "AVAL", "AVALU", "CNSR"),
    }  # fmt: skip


def derived_files(folder: Path) -> dict[str, Path]:
    """The derived tables' files in ``folder`` (Parquet first, then CSV); a missing table is
    a located error."""
    if not folder.is_dir():
        raise CliInputError(f"--derived {folder}: no such folder (run myotrial derive)")
    found = {}
    for name in DERIVED:
        for suffix in (".parquet", ".csv"):
            path = folder / f"{name}{suffix}"
            if path.exists():
                found[name] = path
                break
        else:
            raise CliInputError(
                f"--derived {folder}: no {name}.csv or {name}.parquet (run myotrial derive)"
            )
    return found


def _read_derived(folder: Path, protocol: str | Protocol) -> DerivedTables:
    proto = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    found = {}
    required = _derived_columns()
    for name, path in derived_files(folder).items():
        frame = read_table(path) if path.suffix != ".csv" else _typed_csv(path)
        missing = [c for c in required[name] if c not in frame.columns]
        if missing:
            raise CliInputError(
                f"{path}: column(s) {', '.join(missing)} missing (the {name} table written "
                "by myotrial derive; docs/derivation.md)"
            )
        found[name] = frame
    return DerivedTables(
        proto,
        found["scored_visits"],
        found["adsl"],
        found["adrs"],
        found["adeff"],
        found["adtte"],
    )


def _typed_csv(path: Path) -> Any:
    """A derived CSV with typed columns (the tables written by ``myotrial derive``)."""
    import pandas as pd

    read_table(path)  # the file-level checks (empty, not UTF-8, delimiter, duplicate header)
    try:
        return pd.read_csv(path, keep_default_na=True)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise CliInputError(f"{path}: is not a readable CSV table: {exc}") from None


@dataclass
class TrialInputs:
    """What ``analyze`` and ``report`` read, validated the same way (:func:`load_trial_inputs`)."""

    tables: DerivedTables
    adverse_events: Any = None
    infusions: Any = None
    raw_visits: Any = None
    raw_subjects: Any = None
    #: input files by name (their SHA-256 go into the report's appendix)
    files: dict[str, Path] = field(default_factory=dict)


def check_source_options(
    *,
    derived: Path | None,
    visits: Path | None,
    subjects: Path | None,
    database: str | None,
    user: str | None,
    adverse_events: Path | None = None,
    infusions: Path | None = None,
) -> bool:
    """One source of data: --derived DIR, or --visits and --subjects, or the database
    (--database/--user). Returns True for the database."""
    if database is not None or user is not None:
        given = [
            name
            for name, value in (
                ("--derived", derived),
                ("--visits", visits),
                ("--subjects", subjects),
                ("--adverse-events", adverse_events),
                ("--infusions", infusions),
            )
            if value is not None
        ]
        if given:
            raise CliInputError(
                f"give --database/--user or {', '.join(given)}, not both (the database holds "
                "every table)"
            )
        if not user:
            raise CliInputError("--database needs --user (your user name in the database)")
        return True
    if derived is not None and (visits is not None or subjects is not None):
        raise CliInputError("give --derived DIR or --visits and --subjects, not both")
    if derived is None and (visits is None or subjects is None):
        raise CliInputError("give --derived DIR, or both --visits and --subjects")
    check_table_paths(visits, subjects, adverse_events, infusions)
    return False


def database_url(database: str | None) -> str:
    """The one database default (:class:`myotrial.settings.Settings`): --database, else
    $MYOTRIAL_DATABASE_URL, else sqlite:///trial.db."""
    from myotrial.settings import Settings

    return Settings.from_env(database_url=database).database_url


def check_arms(tables: DerivedTables) -> None:
    """Both arms must have randomised patients: an empty or single-arm table is an error, not
    a comparison of 0/0 with p = 1."""
    adsl = tables.adsl
    rand = adsl[adsl["RANDFL"].astype(str) == "Y"]
    counts = {arm: int((rand["ARMCD"].astype(str) == arm).sum()) for arm in
              tables.protocol.arm_codes}
    empty = [arm for arm, n in counts.items() if n == 0]
    if empty:
        have = ", ".join(f"{arm} {n}" for arm, n in counts.items())
        raise CliInputError(
            f"no randomised patients in arm(s) {', '.join(empty)} (randomised: {have}): "
            "nothing to compare; check the subjects table's arm and randomised columns "
            "(docs/data-format.md, subjects)"
        )


def load_trial_inputs(
    *,
    derived: Path | None,
    visits: Path | None,
    subjects: Path | None,
    adverse_events: Path | None,
    infusions: Path | None,
    protocol: str,
    steps: Steps | None = None,
) -> TrialInputs:
    """Read and validate the trial's tables for ``analyze`` and ``report`` (one loader: the same
    inputs are accepted or refused by both). Options are checked first
    (:func:`check_source_options`)."""
    from myotrial.report.safety import validate_safety_inputs

    step = steps.step if steps is not None else (lambda _d: None)
    step("reading the protocol")
    proto = load_protocol(protocol)
    files: dict[str, Path] = {}
    step("reading the safety tables")
    ae = None if adverse_events is None else read_table(adverse_events)
    inf = None if infusions is None else read_table(infusions)
    raw_visits = raw_subjects = None
    if derived is not None:
        step(f"reading {derived}")
        tables = _read_derived(derived, proto)
        files.update(derived_files(derived))
        if len(tables.scored) == 0:
            raise CliInputError(f"--derived {derived}: the scored visits table has no rows")
    else:
        assert visits is not None and subjects is not None
        step(f"reading {visits.name} and {subjects.name}")
        # a header-only visits or subjects table is an error, not a trial without data
        raw_visits = read_table(visits, require_rows=True)
        raw_subjects = read_table(subjects, require_rows=True)
        step(f"scoring and deriving {len(raw_visits):,} visits")
        tables = derive_all(raw_visits, raw_subjects, proto, infusions=inf)
        files.update({"visits": visits, "subjects": subjects})
    check_arms(tables)
    rand_ids = tables.adsl.loc[tables.adsl["RANDFL"] == "Y", "USUBJID"].astype(str).tolist()
    validate_safety_inputs(ae, inf, rand_ids)
    if adverse_events is not None:
        files["adverse_events"] = adverse_events
    if infusions is not None:
        files["infusions"] = infusions
    return TrialInputs(tables, ae, inf, raw_visits, raw_subjects, files)


def check_strata(tables: DerivedTables, strata: tuple[str, ...] | None) -> None:
    """The strata (given, else the SAP's) are columns of ADSL, filled for every randomised
    patient (located error otherwise)."""
    sap = tables.protocol.sap
    chosen = strata if strata is not None else (tuple(sap.strata) if sap is not None else ())
    try:
        resolve_strata(tables.adsl, chosen)
    except ValueError as exc:
        raise CliInputError(str(exc)) from None


def check_analysis_options(
    method: str | None, test: str | None, continuous: str | None, conf_level: float | None
) -> None:
    """The SAP overrides name registered methods; the confidence level is in [0.5, 1)."""
    for option, value, kind, role in (
        ("--method", method, "binary", "estimate"),
        ("--test", test, "binary", "test"),
        ("--continuous", continuous, "continuous", "estimate"),
    ):
        valid = ANALYSIS_METHODS[kind][role]
        if value is not None and value not in valid:
            raise CliInputError(f"{option} {value!r}: not one of {', '.join(valid)}")
    check_number("--conf-level", conf_level, low=0.5, high=1, high_open=True)


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
    protocol: Annotated[
        str | None,
        typer.Option(
            help="protocol name or .toml file (default: proderm; with --database, the "
            "protocol stored in the database)"
        ),
    ] = None,
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
        float | None,
        typer.Option(help="override the SAP's confidence level (0.5 to below 1, e.g. 0.95)"),
    ] = None,
    strata: StrataOpt = None,
    no_strata: Annotated[
        bool, typer.Option("--no-strata", help="ignore the SAP's strata (unstratified only)")
    ] = False,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    user: UserOpt = None,
) -> None:
    """Estimate every endpoint of the protocol as its statistical analysis plan says.

    Give either --derived DIR (tables written by `myotrial derive`), --visits and --subjects
    (scoring and derivation run first; tables as in docs/data-format.md), or --user NAME with
    -d/--database URL (the live data, exported unblinded through the service; randomised
    subjects only; an unblinded statistician). The SAP ([sap] of the protocol) names each
    analysis's methods, the strata, the populations, the multiplicity procedure and the
    sensitivity analyses; --method, --test, --continuous, --conf-level and --strata override
    it. Each row names its method; --json prints every computed number. Both arms need
    randomised patients.
    """
    if strata and no_strata:
        raise CliInputError("give --strata or --no-strata, not both")
    check_analysis_options(method, test, continuous, conf_level)
    from_database = check_source_options(
        derived=derived,
        visits=visits,
        subjects=subjects,
        database=database,
        user=user,
        adverse_events=adverse_events,
        infusions=infusions,
    )
    chosen = () if no_strata else (tuple(strata) if strata else None)
    options: dict[str, Any] = dict(
        binary_method=method,
        binary_test=test,
        continuous_method=continuous,
        conf_level=conf_level,
        strata=chosen,
    )
    if from_database:
        live = _export_database(database_url(database), user)
        stored: Protocol = live["protocol"]
        if protocol is not None and load_protocol(protocol).name != stored.name:
            raise CliInputError(
                f"--protocol {protocol!r} is not the protocol of the database "
                f"({stored.name!r}): the live trial is analysed under its own protocol; omit "
                "--protocol"
            )
        tables = derive_all(live["visits"], live["subjects"], stored, infusions=live["infusions"])
        check_arms(tables)
        check_strata(tables, chosen)
        results = analyze(
            tables,
            adverse_events=live["adverse_events"],
            infusions=live["infusions"],
            **options,
        )
        _finish(results, as_json)
        return
    loaded = load_trial_inputs(
        derived=derived,
        visits=visits,
        subjects=subjects,
        adverse_events=adverse_events,
        infusions=infusions,
        protocol=protocol or "proderm",
    )
    check_strata(loaded.tables, chosen)
    results = analyze(
        loaded.tables,
        adverse_events=loaded.adverse_events,
        infusions=loaded.infusions,
        **options,
    )
    _finish(results, as_json)


def live_export(
    url: str, user: str | None, *, blinded: bool, need_unblinded: str | None = None
) -> tuple[Any, dict[str, Any], bool]:
    """(the database's protocol, the canonical tables, whether the user is blinded) of the live
    trial, exported through ``TrialService.export_tables`` (audited) after a login (password
    from ``$MYOTRIAL_PASSWORD`` or a prompt). ``need_unblinded`` (what needs the arms) refuses
    a blinded user. Every failure is a located CLI error (exit 2)."""
    import os

    import sqlalchemy as sa

    from myotrial.db import PermissionDenied, TrialService, make_engine

    if not user:
        raise CliInputError(
            "--database needs --user" + (" (an unblinded statistician)" if need_unblinded else "")
        )
    password = os.environ.get("MYOTRIAL_PASSWORD") or typer.prompt(
        f"Password for {user}", hide_input=True
    )
    engine = make_engine(url)
    try:
        svc = TrialService(engine)
        try:
            actor = svc.authenticate(user, password)
            if need_unblinded and actor.blinded:
                raise PermissionDenied(
                    f"user {user!r} has role {actor.role.value}: {need_unblinded} "
                    "needs the arms, i.e. an unblinded statistician"
                )
            tables = svc.export_tables(actor, blinded=blinded)
        except PermissionDenied as exc:
            raise CliInputError(f"permission denied: {exc}") from None
        except sa.exc.SQLAlchemyError as exc:
            raise CliInputError(f"cannot read database {_safe_url(url)!r}: {exc}") from None
        return svc.protocol, tables, bool(actor.blinded)
    finally:
        engine.dispose()


def _export_database(url: str, user: str | None) -> dict[str, Any]:
    """The live data as the canonical tables, exported unblinded by an unblinded statistician
    (:func:`live_export`); randomised subjects only."""
    protocol, tables, _ = live_export(url, user, blinded=False, need_unblinded="the analysis")
    subjects = tables["subjects"]
    subjects = subjects.loc[subjects["arm"].notna()].reset_index(drop=True)
    keep = set(subjects["subject_id"])
    out: dict[str, Any] = {"subjects": subjects, "protocol": protocol}
    for name in ("visits", "infusions", "adverse_events"):
        frame = tables[name]
        out[name] = frame.loc[frame["subject_id"].isin(keep)].reset_index(drop=True)
    return out


def _safe_url(url: str) -> str:
    from myotrial.settings import Settings

    return Settings(database_url=url).safe_database_url


def _records(frame: Any) -> list[dict[str, Any]]:
    return [{k: to_jsonable(v) for k, v in rec.items()} for rec in frame.to_dict("records")]


def _finish(results: AnalysisResults, as_json: bool) -> None:
    summary = results.summary()
    if as_json:
        payload: dict[str, Any] = {
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
        emit_success({}, as_json, **payload)
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
        console.print(f"note: {n}", highlight=False)


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
