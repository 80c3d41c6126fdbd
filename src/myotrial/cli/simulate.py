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
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable summary")] = False,
) -> None:
    """Power and sample size by simulation: tidy replicates (Parquet), power.csv, power_curve.svg.

    Runs vectorised here by default, or on Dask (--workers N for a local cluster, --scheduler
    for a running one). Seeds come from numpy SeedSequence per replicate, so results are the
    same whatever the number of workers. Interrupted? Run the same command again: finished
    chunks under OUT/chunks are reused.
    """
    from myotrial.simulate.power import load_power_design, run_power

    if workers is not None and scheduler is not None:
        _fail("give --workers or --scheduler, not both", as_json)
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
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": True,
                    "out": str(out),
                    "chunks_run": run.chunks_run,
                    "chunks_reused": run.chunks_reused,
                    "power": rows,
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
    console.print(
        f"{run.chunks_run} chunks run, {run.chunks_reused} reused; files in {out} "
        "(replicates.parquet, power.csv, power_curve.svg)"
    )
