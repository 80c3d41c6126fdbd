"""``myotrial demo`` (one synthetic trial end to end) and ``myotrial simulate`` (power)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from myotrial.cli._app import app
from myotrial.cli._output import (
    EXIT_BAD_INPUT,
    console,
    err_console,
    exit_with_problems,
    to_jsonable,
)
from myotrial.errors import InputValidationError, RulesError


def _fail(message: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": message}))
    else:
        err_console.print(f"[bold red]error:[/bold red] {message}")
    raise typer.Exit(code=EXIT_BAD_INPUT)


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = Path("out/demo"),
    seed: Annotated[int, typer.Option(help="seed of the synthetic trial")] = 20221006,
    scenario: Annotated[str, typer.Option(help="scenario name or .toml file")] = "proderm",
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="also write report.pdf")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable summary")] = False,
) -> None:
    """Simulate one SYNTHETIC ProDERM-like trial and run the whole pipeline to the report.

    Screening, randomisation, scoring, deterioration and crossover (the engine), derivation,
    analysis and the HTML/PDF report are written under OUT (README.txt says what is there).
    The same seed gives identical files. Not patient data.
    """
    from myotrial.simulate.demo import run_demo

    try:
        res = run_demo(out, seed, scenario=scenario, pdf=pdf)
    except InputValidationError as exc:
        exit_with_problems(exc, as_json)
    except (RulesError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc), as_json)
    summary = res.results.summary()
    primary = summary[summary["endpoint"] == res.derived.protocol.primary].iloc[0]
    info: dict[str, Any] = {
        "ok": True,
        "synthetic": True,
        "seed": seed,
        "out": str(res.out_dir),
        "report": {k: str(v) for k, v in res.report.items()},
        "report_note": res.report_note,
        "primary": {
            k: to_jsonable(primary[k])
            for k in ("treatment", "control", "estimate", "lower", "upper", "p_value")
        },
        "crossovers": int((res.derived.adsl["CROSSFL"] == "Y").sum()),
    }
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    console.print(
        f"[bold yellow]SYNTHETIC DATA[/bold yellow] (seed {seed}) written to {res.out_dir}"
    )
    console.print(
        f"primary endpoint: {primary['treatment']} vs {primary['control']}; risk difference "
        f"{100 * primary['estimate']:.1f} "
        f"({100 * primary['lower']:.1f} to {100 * primary['upper']:.1f}) "
        f"points, p = {primary['p_value']:.4f}; {info['crossovers']} placebo -> IVIG crossovers"
    )
    if res.report:
        for k, v in res.report.items():
            if v:
                console.print(f"report {k}: {v}")
    else:
        console.print(f"report: {res.report_note}")


@app.command("simulate")
def simulate_command(
    design_file: Annotated[Path, typer.Argument(help="power scenario .toml ([power] table)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder (resumable)")] = Path(
        "out/power"
    ),
    seed: Annotated[int | None, typer.Option(help="seed (default: the file's)")] = None,
    replicates: Annotated[int | None, typer.Option(help="replicates per design point")] = None,
    n_per_arm: Annotated[
        str | None, typer.Option("--n-per-arm", help="treatment-arm sizes, e.g. 20,30,40")
    ] = None,
    test: Annotated[str | None, typer.Option(help="wald, score or fisher")] = None,
    chunk_size: Annotated[int | None, typer.Option(help="replicates per task")] = None,
    workers: Annotated[
        int | None, typer.Option(help="start a local Dask cluster with N worker processes")
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
    n_max: Annotated[int, typer.Option("--n-max", help="largest n per arm searched")] = 500,
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
    chunks under OUT/chunks are reused.
    """
    from myotrial.simulate.power import load_power_design, run_power

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
        assert target_power is not None
        for item in target_power.split(","):
            try:
                value = float(item)
            except ValueError:
                _fail(f"--target-power {item!r}: not a number", as_json)
            if not 0 < value < 1:
                _fail(f"--target-power {item!r}: must lie in (0, 1)", as_json)
            targets.append(value)
    try:
        design = load_power_design(design_file)
        changes: dict[str, Any] = {}
        if seed is not None:
            changes["seed"] = seed
        if replicates is not None:
            changes["replicates"] = replicates
        if n_per_arm is not None:
            changes["n_per_arm"] = tuple(int(x) for x in n_per_arm.split(",") if x.strip())
        if test is not None:
            changes["test"] = test
        if chunk_size is not None:
            changes["chunk_size"] = chunk_size
        if changes:
            design = design.with_options(**changes)
        if targets:
            _solve(design, targets, out, n_max, as_json)
            return
        if as_json:
            run = run_power(design, out, workers=workers, scheduler=scheduler)
        else:
            with Progress(
                TextColumn("[bold]simulating[/bold]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("replicates"),
                TimeRemainingColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("power", total=design.replicates * len(design.points))

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                run = run_power(
                    design, out, workers=workers, scheduler=scheduler, progress=progress
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
        typer.echo(
            json.dumps(
                {
                    "ok": True,
                    "out": str(out),
                    "chunks_run": run.chunks_run,
                    "chunks_reused": run.chunks_reused,
                    "power": rows,
                    "group_sequential": gsd_rows,
                },
                indent=2,
            )
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
            f"group-sequential, n {g['n_treatment']}/{g['n_control']}, "
            f"effect {g['effect_scale']:g}: power "
            f"{g['power']:.3f} (MC SE {g['mc_se']:.3f}), expected patients "
            f"{g['expected_patients']:.1f} of {g['max_patients']} (gsd_*.csv)"
        )
    console.print(
        f"{run.chunks_run} chunks run, {run.chunks_reused} reused; files in {out} "
        "(replicates.parquet, power.csv, power_curve.svg)"
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
            progress=None if as_json else (lambda msg: console.print(f"  {msg}")),
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
                f"[bold]target power {target:g}[/bold]: n = {res.n_per_arm} per arm "
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
    if as_json:
        typer.echo(text)


def _beta_ppf(q: float, a: float, b: float) -> float:
    from scipy import stats

    return float(stats.beta.ppf(q, a, b))
