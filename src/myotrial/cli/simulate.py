"""``myotrial demo`` (one synthetic trial end to end) and ``myotrial simulate`` (power)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from myotrial.cli._app import app
from myotrial.cli._output import (
    check_outputs,
    console,
    dumps,
    emit_success,
    err_console,
    exit_with_problems,
    fail,
    plain,
    progress,
    to_jsonable,
)
from myotrial.errors import InputValidationError, RulesError

#: Steps of ``myotrial demo`` shown by its progress bar (the ``progress`` names of run_demo).
DEMO_STEPS = 6
#: Interchange files the demo writes (under ``interchange/``), for the overwrite check.
_DEMO_INTERCHANGE = (
    *(f"adam/{d}.{x}" for d in ("adsl", "adrs", "adeff", "adtte", "adae") for x in ("xpt", "json")),
    "adam/define.xml",
    "ard/ard.csv",
    "ard/ard.json",
    "redcap/dictionary.csv",
    "redcap/events.csv",
    "redcap/instrument_event_mapping.csv",
    "odm/study.xml",
)
_DEMO_FIGURES = ("consort", "fig-csm", "fig-forest", "fig-km", "fig-mean-tis", "fig-responses",
                 "fig-tipping")


def demo_outputs(out: Path, *, pdf: bool = True) -> list[Path]:
    """Every file ``myotrial demo`` may write under ``out`` (checked before the work starts:
    none may exist without --force)."""
    names = [
        "README.txt",
        *(f"data/{t}.csv" for t in ("screening", "subjects", "visits", "infusions",
                                    "adverse_events", "randomisation")),
        *(f"derived/{t}.csv" for t in ("scored_visits", "adsl", "adrs", "adeff", "adtte")),
        "analysis/summary.csv",
        "analysis/ard.csv",
        "analysis/analysis.json",
        "report/report.html",
        *(["report/report.pdf"] if pdf else []),
        *(f"report/figures/{f}.svg" for f in _DEMO_FIGURES),
        *(f"interchange/{f}" for f in _DEMO_INTERCHANGE),
    ]
    return [out / n for n in names]


def _fail(message: str, as_json: bool) -> NoReturn:
    """:func:`fail` (exit 2, message printed literally); the JSON envelope also repeats the
    message as ``error`` for callers written before the envelope (tests of ``simulate``)."""
    if as_json:
        typer.echo(dumps({"ok": False, "outputs": {}, "problems": [{"message": message}],
                          "error": message}))
        raise typer.Exit(code=2)
    fail(message, as_json, wrote_nothing=False)


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = Path("out/demo"),
    seed: Annotated[
        int, typer.Option(min=0, help="seed of the synthetic trial (a whole number >= 0)")
    ] = 20221006,
    scenario: Annotated[str, typer.Option(help="scenario name or .toml file")] = "proderm",
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="also write report.pdf")] = True,
    force: Annotated[
        bool, typer.Option("--force", help="overwrite the files of an earlier demo in OUT")
    ] = False,
    parallel: Annotated[
        bool | None,
        typer.Option(
            "--parallel/--serial",
            help="draft the report and render the PDF in a helper process beside the "
            "analysis and the other writes, or all in this process (default: the helper "
            "where 2 CPUs are usable and one is idle)",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable summary")] = False,
) -> None:
    """Simulate one SYNTHETIC ProDERM-like trial and run the whole pipeline to the report.

    Screening, randomisation, scoring, deterioration and crossover (the engine), derivation,
    analysis, the HTML/PDF report and the interchange outputs (ADaM XPT and Dataset-JSON,
    define.xml, ARD, REDCap dictionary, ODM) are written under OUT (README.txt says what is
    there). The same seed gives the same files, except the kit codes (README.txt). An earlier
    demo's files in OUT are kept unless --force. Not patient data.
    """
    check_outputs(demo_outputs(out, pdf=pdf), force=force, as_json=as_json, directories=[out])
    worker = None
    if pdf and parallel is not False:
        from myotrial.report._worker import ReportWorker, helper_pays

        if parallel or helper_pays():  # started first: it imports while this process imports
            worker = ReportWorker.start()
    try:
        from myotrial.simulate.demo import run_demo

        with progress(DEMO_STEPS, as_json=as_json) as steps:
            res = run_demo(
                out, seed, scenario=scenario, pdf=pdf, parallel=False, worker=worker,
                progress=steps.step,
            )
    except InputValidationError as exc:
        exit_with_problems(exc, as_json)
    except (RulesError, FileNotFoundError, ValueError) as exc:
        fail(str(exc), as_json, wrote_nothing=False)
    finally:
        if worker is not None:
            worker.close()
    summary = res.results.summary()
    primary = summary[summary["endpoint"] == res.derived.protocol.primary].iloc[0]
    primary_info = {
        k: to_jsonable(primary[k])
        for k in ("treatment", "control", "estimate", "lower", "upper", "p_value")
    }
    crossovers = int((res.derived.adsl["CROSSFL"] == "Y").sum())
    outputs = {**{k: v for k, v in res.files.items()}, **{f"report/{k}": v
                                                          for k, v in res.report.items()
                                                          if isinstance(v, Path)}}
    if as_json:
        emit_success(
            outputs,
            True,
            synthetic=True,
            seed=seed,
            out=str(res.out_dir),
            report={k: str(v) for k, v in res.report.items()},
            report_note=res.report_note,
            primary=primary_info,
            crossovers=crossovers,
        )
        return
    from myotrial.report.formatting import format_p_equals

    head = Text("SYNTHETIC DATA", style="bold yellow")
    head.append(f" (seed {seed}) written to ")
    head.append(plain(res.out_dir))
    console.print(head)
    console.print(
        plain(
            f"primary endpoint: {primary['treatment']} vs {primary['control']}; risk difference "
            f"{100 * primary['estimate']:.1f} "
            f"({100 * primary['lower']:.1f} to {100 * primary['upper']:.1f}) "
            f"points, {format_p_equals(primary['p_value'])}; {crossovers} placebo -> IVIG "
            "crossovers"
        )
    )
    if res.report:
        for k, v in res.report.items():
            if v:
                console.print(plain(f"report {k}: {v}"))
    else:
        console.print(plain(f"report: {res.report_note}"))
    console.print(plain(f"interchange: {res.out_dir / 'interchange'} (ADaM, define.xml, ARD, "
                        "REDCap, ODM)"))


def _positive(value: int | None, option: str, as_json: bool) -> None:
    if value is not None and value < 1:
        _fail(f"{option} {value}: must be a whole number >= 1", as_json)


def _power_outputs(out: Path, design: Any, targets: list[float]) -> tuple[list[Path], bool]:
    """The files ``simulate`` writes under ``out``, and whether they may be rewritten without
    --force (a resumed run of the same design: OUT/run.json holds its fingerprint)."""
    if targets:
        tags = [f"{round(100 * t):d}" for t in targets]
        files = [out / "sample_size.json"]
        files += [out / f"sample_size_{tag}.{ext}" for tag in tags for ext in ("csv", "svg")]
        return files, False
    files = [out / n for n in ("replicates.parquet", "power.csv", "power_curve.svg")]
    if design.group_sequential is not None:
        files += [out / n for n in ("gsd_power.csv", "gsd_boundaries.csv", "gsd_stages.csv")]
    manifest = out / "run.json"
    same = False
    if manifest.is_file():
        try:
            same = json.loads(manifest.read_text(encoding="utf-8")).get("fingerprint") == (
                design.fingerprint()
            )
        except (OSError, ValueError, AttributeError):
            same = False
    return files, same


@app.command("simulate")
def simulate_command(
    design_file: Annotated[Path, typer.Argument(help="power scenario .toml (\\[power] table)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder (resumable)")] = Path(
        "out/power"
    ),
    seed: Annotated[
        int | None, typer.Option(min=0, help="seed (default: the file's; a whole number >= 0)")
    ] = None,
    replicates: Annotated[
        int | None, typer.Option(min=1, help="replicates per design point")
    ] = None,
    n_per_arm: Annotated[
        str | None, typer.Option("--n-per-arm", help="treatment-arm sizes, e.g. 20,30,40")
    ] = None,
    test: Annotated[str | None, typer.Option(help="wald, score or fisher")] = None,
    chunk_size: Annotated[int | None, typer.Option(min=1, help="replicates per task")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="start a local Dask cluster with N worker processes"),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="address of a Dask scheduler, e.g. tcp://host:8786")
    ] = None,
    solve: Annotated[
        str | None,
        typer.Option(
            help="solve for the sample size: 'n' (smallest n per arm reaching the target)"
        ),
    ] = None,
    target_power: Annotated[
        str | None,
        typer.Option("--target-power", help="target power(s) for --solve n, e.g. 0.8 or 0.8,0.9"),
    ] = None,
    n_max: Annotated[int, typer.Option("--n-max", min=1, help="largest n per arm searched")] = 500,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="overwrite result files in OUT that are not a resumed run of the same design",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable summary")] = False,
) -> None:
    """Power and sample size by simulation: tidy replicates (Parquet), power.csv, power_curve.svg.

    With --solve n --target-power 0.8 it finds the smallest n per arm whose power reaches the
    target (bisection, then a probit fit of power on sqrt(n) with a 95% Monte-Carlo interval
    for n; the power at the answer is simulated again): sample_size.json and
    sample_size_<target>.csv under OUT.

    Runs vectorised here by default, or on Dask (--workers N for a local cluster, --scheduler
    for a running one). Seeds come from numpy SeedSequence per replicate, so results are the
    same whatever the number of workers. Interrupted? Run the same command again: finished
    chunks under OUT/chunks are reused (a finished run of the same design is rewritten the
    same; other result files in OUT need --force).
    """
    if workers is not None and scheduler is not None:
        _fail("give --workers or --scheduler, not both", as_json)
    targets: list[float] = []
    if solve is not None and solve != "n":
        _fail(f"--solve {solve!r}: valid: n (the sample size per arm)", as_json)
    if target_power is not None and solve is None:
        _fail("--target-power needs --solve n", as_json)
    if solve is not None:
        if target_power is None:
            _fail("--solve n needs --target-power, e.g. 0.8", as_json)
        for item in target_power.split(","):
            try:
                value = float(item)
            except ValueError:
                _fail(f"--target-power {item!r}: not a number", as_json)
            if not (math.isfinite(value) and 0 < value < 1):
                _fail(f"--target-power {item!r}: must lie in (0, 1)", as_json)
            targets.append(value)
    sizes: tuple[int, ...] | None = None
    if n_per_arm is not None:
        try:
            sizes = tuple(int(x) for x in n_per_arm.split(",") if x.strip())
        except ValueError:
            _fail(f"--n-per-arm {n_per_arm!r}: whole numbers separated by commas", as_json)
        if not sizes or min(sizes) < 1:
            _fail(f"--n-per-arm {n_per_arm!r}: every size must be a whole number >= 1", as_json)
    from myotrial.simulate.power import load_power_design, run_power

    try:
        design = load_power_design(design_file)
        changes: dict[str, Any] = {}
        if seed is not None:
            changes["seed"] = seed
        if replicates is not None:
            changes["replicates"] = replicates
        if sizes is not None:
            changes["n_per_arm"] = sizes
        if test is not None:
            changes["test"] = test
        if chunk_size is not None:
            changes["chunk_size"] = chunk_size
        if changes:
            design = design.with_options(**changes)
    except (RulesError, FileNotFoundError, ValueError, OSError) as exc:
        _fail(str(exc), as_json)
    files, resumed = _power_outputs(out, design, targets)
    check_outputs(files, force=force or resumed, as_json=as_json, directories=[out])
    try:
        if targets:
            _solve(design, targets, out, n_max, as_json)
            return
        show_bar = not as_json and err_console.is_terminal
        if not show_bar:
            run = run_power(design, out, workers=workers, scheduler=scheduler)
        else:
            with Progress(
                TextColumn("[bold]simulating[/bold]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("replicates"),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task("power", total=design.replicates * len(design.points))

                def advance(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                run = run_power(
                    design, out, workers=workers, scheduler=scheduler, progress=advance
                )
    except (RulesError, FileNotFoundError, ValueError, OSError) as exc:
        _fail(str(exc), as_json)
    rows = [{k: to_jsonable(v) for k, v in r.items()} for r in run.summary.to_dict("records")]
    gsd_rows: list[dict[str, Any]] = []
    if design.group_sequential is not None and (out / "gsd_power.csv").exists():
        import pandas as pd

        gsd_frame = pd.read_csv(out / "gsd_power.csv")
        gsd_rows = [
            {str(k): to_jsonable(v) for k, v in r.items()} for r in gsd_frame.to_dict("records")
        ]
    if as_json:
        emit_success(
            {f.name: f for f in files if f.exists()},
            True,
            out=str(out),
            chunks_run=run.chunks_run,
            chunks_reused=run.chunks_reused,
            power=rows,
            group_sequential=gsd_rows,
        )
        return
    table = Table(title=f"Power ({design.test}, alpha {design.alpha:g}) - SYNTHETIC simulation")
    for col in (
        "n per arm",
        "effect scale",
        "replicates",
        "power",
        "95% CI",
        "control rate",
        "treatment rate",
    ):
        table.add_column(col, justify="right")
    for r in run.summary.itertuples():
        table.add_row(
            f"{r.n_treatment}/{r.n_control}",
            f"{r.effect_scale:g}",
            str(r.replicates),
            f"{r.power:.3f}",
            f"{r.power_lower:.3f}-{r.power_upper:.3f}",
            f"{r.mean_control_rate:.3f}",
            f"{r.mean_treatment_rate:.3f}",
        )
    console.print(table)
    for g in gsd_rows:
        console.print(
            plain(
                f"group-sequential, n {g['n_treatment']}/{g['n_control']}, "
                f"effect {g['effect_scale']:g}: power "
                f"{g['power']:.3f} (MC SE {g['mc_se']:.3f}), expected patients "
                f"{g['expected_patients']:.1f} of {g['max_patients']} (gsd_*.csv)"
            )
        )
    console.print(
        plain(
            f"{run.chunks_run} chunks run, {run.chunks_reused} reused; files in {out} "
            "(replicates.parquet, power.csv, power_curve.svg)"
        )
    )


def _solve(design: Any, targets: list[float], out: Path, n_max: int, as_json: bool) -> None:
    """``--solve n``: the sample size for each target power, written under ``out``."""
    from myotrial.simulate.power import power_curve_svg
    from myotrial.simulate.sample_size import solve_sample_size

    out.mkdir(parents=True, exist_ok=True)
    results = []
    for target in targets:
        res = solve_sample_size(
            design,
            target,
            n_max=n_max,
            progress=None if as_json else (lambda msg: console.print(plain(f"  {msg}"))),
        )
        tag = f"{round(100 * target):d}"
        ev = res.evaluations.copy()
        ev.to_csv(out / f"sample_size_{tag}.csv", index=False)
        lo = [
            0.0 if k == 0 else float(_beta_ppf(0.025, k, r - k + 1))
            for k, r in zip(ev["rejections"], ev["replicates"], strict=True)
        ]
        hi = [
            1.0 if k == r else float(_beta_ppf(0.975, k + 1, r - k))
            for k, r in zip(ev["rejections"], ev["replicates"], strict=True)
        ]
        curve = ev.assign(effect_scale=res.effect_scale, power_lower=lo, power_upper=hi)
        (out / f"sample_size_{tag}.svg").write_text(
            power_curve_svg(curve, design), encoding="utf-8"
        )
        results.append(res.as_dict())
        if not as_json:
            console.print(
                f"target power {target:g}: n = {res.n_per_arm} per arm "
                f"(control {res.n_control}); fitted n* = {res.n_star:.1f} "
                f"(95% Monte-Carlo interval {res.n_lower:.1f}-{res.n_upper:.1f}); "
                f"simulated power at n: {res.power_at_n:.3f} "
                f"(MC SE {res.power_mc_se:.3f}); {res.trials} trials - SYNTHETIC simulation"
            )
    info = {
        "ok": True,
        "out": str(out),
        "test": design.test,
        "alpha": design.alpha,
        "replicates_per_point": design.replicates,
        "sample_size": results,
    }
    text = json.dumps(info, indent=1)
    (out / "sample_size.json").write_text(text, encoding="utf-8")
    written = [out / "sample_size.json"]
    for target in targets:
        tag = f"{round(100 * target):d}"
        written += [out / f"sample_size_{tag}.csv", out / f"sample_size_{tag}.svg"]
    extra = {k: v for k, v in info.items() if k != "ok"}
    emit_success({p.name: p for p in written}, as_json, **extra)


def _beta_ppf(q: float, a: float, b: float) -> float:
    from scipy import stats

    return float(stats.beta.ppf(q, a, b))
