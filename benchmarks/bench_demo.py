"""`myotrial demo` against its floor: WeasyPrint rendering of the report PDF + the simulation.

Issue 16 item 3: the demo within 2x of its floor. Every round runs, side by side in fresh
processes (interleaved, best of N, so a busy shared machine hurts both alike):

* ``demo``: ``myotrial demo --force`` as a user runs it (interpreter start, imports, every
  output; where 2 CPUs are usable and one is idle by the load average, a helper process
  drafts the report while the demo analyses and renders the PDF while it writes the other
  outputs), wall clock and CPU seconds (of both processes);
* ``demo --parallel`` / ``demo --serial``: the same, with the helper forced / all in one
  process (every round checks that both wrote the same files);
* ``phases``: one process timing each phase one after the other: imports (simulator,
  analysis, report, WeasyPrint, interchange), simulation, derive, analyze, figures, HTML,
  PDF, interchange outputs, writing files (each the first call in the process, as a user
  pays it);
* ``floor, cold``: a fresh process that imports WeasyPrint and renders the same PDF, and one
  that imports the simulator and simulates the trial (interpreter start included).

The floor is printed twice: *warm* (simulation + PDF compute, from ``phases``) and *cold*
(the two fresh processes, imports included, like the demo's own wall clock). ``--figures``
also measures the two figure strategies: SVG + PNG (each figure drawn twice, PNG in the PDF)
against SVG only (drawn once, WeasyPrint rasterising the SVG in the PDF).

    python benchmarks/bench_demo.py [--repeats 3] [--figures] [--before OLD/src]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MYOTRIAL = Path(sys.executable).with_name("myotrial")


CPU: dict[str, list[float]] = {}


def _children_cpu() -> float:
    import resource

    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _wall(
    cmd: list[str], env: dict[str, str] | None = None, label: str | None = None
) -> tuple[float, str]:
    """Wall-clock seconds and stdout of ``cmd``; its CPU seconds (every process it started,
    the demo's helper included) are kept under ``label``."""
    cpu0 = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    took = time.perf_counter() - start
    if label is not None:
        CPU.setdefault(label, []).append(_children_cpu() - cpu0)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return took, proc.stdout


def check_same(a: Path, b: Path) -> int:
    """Both demo folders hold the same files, byte for byte (except the kit codes and the XPT
    header's creation time, which differ between any two runs); the number of files."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    if files != sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()):
        raise SystemExit(f"{a} and {b} hold different files")
    if Path("report/report.pdf") not in files:
        raise SystemExit(f"{a}: no report.pdf")
    for rel in files:
        if rel.suffix != ".xpt" and rel.name != "randomisation.csv" and (
            (a / rel).read_bytes() != (b / rel).read_bytes()
        ):
            raise SystemExit(f"{rel} differs between {a} and {b}")
    return len(files)


def phases(out: Path, figures: bool) -> dict[str, Any]:
    """Each phase of the demo, serially, in this (fresh) process."""
    timings: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - t
        t = now

    import myotrial.simulate.demo as demo

    lap("import: simulator")
    import myotrial.analysis
    import myotrial.derive

    lap("import: analysis")
    import myotrial.report.figures as figs
    import myotrial.report.render as render

    lap("import: report")
    import weasyprint  # type: ignore[import-untyped]  # noqa: F401

    lap("import: WeasyPrint")
    import myotrial.interchange.outputs as interchange

    lap("import: interchange")
    trial = demo.synthetic_trial(seed=demo.DEFAULT_SEED)
    lap("simulation")
    derived = myotrial.derive.derive_all(trial.visits, trial.subjects)
    lap("derive")
    results = myotrial.analysis.analyze(derived)
    lap("analyze")

    drawn = 0.0

    def timed(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal drawn
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                drawn += time.perf_counter() - start

        return wrapper

    for name in dir(render):
        if name.startswith("figure_"):
            setattr(render, name, timed(getattr(render, name)))
    report = render.build_report(
        derived,
        results,
        adverse_events=trial.adverse_events,
        infusions=trial.infusions,
        seed=trial.seed,
        synthetic=True,
        print_version=True,
    )
    lap("figures + HTML")
    timings["figures"] = drawn
    timings["HTML"] = timings.pop("figures + HTML") - drawn
    assert report.print_html is not None
    pdf = render.html_to_pdf(report.print_html)
    lap("PDF")
    interchange.write_interchange_outputs(
        derived,
        results,
        out / "interchange",
        derived.protocol,
        adverse_events=trial.adverse_events,
        infusions=trial.infusions,
        created=demo.DEMO_CREATED,
    )
    lap("interchange")
    for name, frame in {**trial.tables(), **derived.tables()}.items():
        frame.to_csv(out / f"{name}.csv", index=False)
    render.write_report(report, out / "report", pdf)
    lap("writing files")
    (out / "print.html").write_text(report.print_html, encoding="utf-8")
    if figures:
        for name in dir(render):  # undo the timers
            if name.startswith("figure_"):
                setattr(render, name, getattr(figs, name))
        t = time.perf_counter()
        render.build_report(derived, results, adverse_events=trial.adverse_events,
                            infusions=trial.infusions, seed=trial.seed, synthetic=True,
                            print_version=True)
        lap("strategy SVG+PNG: figures + HTML (second build)")
        svg_only = render.build_report(derived, results, adverse_events=trial.adverse_events,
                                       infusions=trial.infusions, seed=trial.seed,
                                       synthetic=True, print_version=False)
        lap("strategy SVG only: figures + HTML (second build)")
        render.html_to_pdf(report.print_html)
        lap("strategy SVG+PNG: PDF (second render)")
        render.html_to_pdf(svg_only.html)
        lap("strategy SVG only: PDF (second render)")
    return timings


FLOOR_PDF = """
import sys, time
t = time.perf_counter()
from myotrial.report._pdf import html_to_pdf
html = open(sys.argv[1], encoding="utf-8").read()
t1 = time.perf_counter()
html_to_pdf(html)
print(time.perf_counter() - t1)
"""
FLOOR_SIM = """
import time
from myotrial.simulate.demo import synthetic_trial
t1 = time.perf_counter()
synthetic_trial()
print(time.perf_counter() - t1)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (best of)")
    parser.add_argument("--figures", action="store_true", help="also time figure strategies")
    parser.add_argument(
        "--before",
        type=Path,
        help="also time the demo of another source tree (its src/ folder, e.g. from git archive)",
    )
    parser.add_argument("--phases-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phases_only is not None:
        print(json.dumps(phases(args.phases_only, args.figures)))
        return

    rows: dict[str, list[float]] = {}
    breakdowns: list[dict[str, float]] = []
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rnd in range(args.repeats):
            out = root / f"round{rnd}"
            out.mkdir()
            wall, _ = _wall([str(MYOTRIAL), "demo", "-o", str(out / "demo"), "--force"],
                            label="demo")
            rows.setdefault("demo", []).append(wall)
            for mode in ("parallel", "serial"):
                wall, _ = _wall([str(MYOTRIAL), "demo", "-o", str(out / mode), "--force",
                                 f"--{mode}"], label=f"demo --{mode}")
                rows.setdefault(f"demo --{mode}", []).append(wall)
            checked = check_same(out / "parallel", out / "serial")
            check_same(out / "demo", out / "serial")
            if args.before is not None:
                env = {**os.environ, "PYTHONPATH": str(args.before.resolve())}
                cli = "from myotrial.cli import main; main()"
                wall, _ = _wall([py, "-c", cli, "demo", "-o", str(out / "before")], env=env,
                                label="demo (before)")
                rows.setdefault("demo (before)", []).append(wall)
            figures = ["--figures"] if args.figures and rnd == 0 else []
            _, text = _wall([py, __file__, "--phases-only", str(out), *figures])
            breakdowns.append(json.loads(text))
            wall, text = _wall([py, "-c", FLOOR_PDF, str(out / "print.html")],
                               label="floor, cold: PDF process")
            rows.setdefault("floor, cold: PDF process", []).append(wall)
            rows.setdefault("floor, warm: PDF", []).append(float(text))
            wall, text = _wall([py, "-c", FLOOR_SIM], label="floor, cold: simulation process")
            rows.setdefault("floor, cold: simulation process", []).append(wall)
            rows.setdefault("floor, warm: simulation", []).append(float(text))
    best = {k: min(v) for k, v in rows.items()}
    phase_best = {k: min(b[k] for b in breakdowns if k in b) for k in breakdowns[0]}
    for b in breakdowns[1:]:
        for k in b:
            phase_best.setdefault(k, b[k])
    cpus = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"myotrial demo vs its floor; {args.repeats} interleaved rounds, best of each; "
          f"{cpus} CPUs, load average {load:.2f} at the end; demo, --parallel and --serial "
          f"wrote the same {checked} files (kit codes, XPT header times aside)")
    print("\nphases, one after the other in one process (best of rounds), seconds:")
    for k, v in phase_best.items():
        if not k.startswith("strategy"):
            print(f"  {k:<40} {v:6.2f}")
    serial_sum = sum(v for k, v in phase_best.items() if not k.startswith("strategy"))
    print(f"  {'sum':<40} {serial_sum:6.2f}")
    if any(k.startswith("strategy") for k in phase_best):
        print("\nfigure strategies (first round, after the first build):")
        for k, v in phase_best.items():
            if k.startswith("strategy"):
                print(f"  {k:<52} {v:6.2f}")
    print("\nend to end (fresh processes), seconds: wall best (all rounds); CPU best")
    for k, walls in rows.items():
        cpu = f"{min(CPU[k]):6.2f}" if k in CPU else ""
        print(f"  {k:<34} {min(walls):6.2f} ({', '.join(f'{x:.2f}' for x in walls)}) {cpu}")
    warm = best["floor, warm: PDF"] + best["floor, warm: simulation"]
    cold = best["floor, cold: PDF process"] + best["floor, cold: simulation process"]
    demo_s = best["demo"]
    print(f"\nfloor, warm (simulation + PDF compute): {warm:.2f} s; "
          f"cold (both processes, imports included): {cold:.2f} s")
    for key in ("demo", "demo --parallel", "demo --serial"):
        print(f"ratio {key} / floor: {best[key] / warm:.2f} (warm floor), "
              f"{best[key] / cold:.2f} (cold floor); target <= 2")
    print("per round, demo / cold floor of the same round: "
          + ", ".join(f"{d / (p + s):.2f}" for d, p, s in zip(
              rows["demo"], rows["floor, cold: PDF process"],
              rows["floor, cold: simulation process"], strict=True)))
    print(f"ratio demo --parallel / demo --serial: "
          f"{best['demo --parallel'] / best['demo --serial']:.2f} (< 1: the helper pays)")
    if "demo (before)" in best:
        before = best["demo (before)"]
        print(f"before: {before:.2f} s = {before / warm:.2f} x the warm floor, "
              f"{before / cold:.2f} x the cold floor; demo now / before: {demo_s / before:.2f}")


if __name__ == "__main__":
    main()
