"""Report speed: seconds to render the trial report (HTML + PDF) of the 95-patient demo trial.

Target (issue 6): under 10 s. The trial is the simulator's seeded demo trial
(``myotrial.simulate.synthetic_trial``) when the simulator is installed, else the report
package's own seeded 95-patient example. Derivation and analysis are timed separately; the
first render of a process also pays one-off costs (imports, font caches), so it is reported
apart from the repeat runs. Wall-clock and CPU seconds are both printed: on a shared machine
the wall clock also counts time spent waiting for a core.

    python benchmarks/bench_report.py [--repeats 3] [--no-pdf] [--out DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd


def demo_trial() -> tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """(source, visits, subjects, adverse_events, infusions, seed) of the 95-patient trial."""
    try:
        from myotrial.simulate import synthetic_trial
    except ImportError:
        from myotrial.report._example import example_trial

        ex = example_trial(95)
        return (
            "myotrial.report example",
            ex.visits,
            ex.subjects,
            ex.adverse_events,
            ex.infusions,
            ex.seed,
        )
    trial: Any = synthetic_trial()
    return (
        "myotrial.simulate demo trial",
        trial.visits,
        trial.subjects,
        trial.adverse_events,
        trial.infusions,
        int(trial.seed),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed renders after the first")
    parser.add_argument("--no-pdf", action="store_true", help="HTML only")
    parser.add_argument("--out", type=Path, default=None, help="keep the report here")
    args = parser.parse_args()

    t0 = time.perf_counter()
    from myotrial.analysis import analyze
    from myotrial.derive import derive_all
    from myotrial.report import render_report

    t_import = time.perf_counter() - t0
    source, visits, subjects, ae, inf, seed = demo_trial()
    t1 = time.perf_counter()
    derived = derive_all(visits, subjects)
    results = analyze(derived)
    t_analyse = time.perf_counter() - t1
    n = int((derived.adsl["RANDFL"] == "Y").sum())
    print(f"trial: {source}, {n} randomised patients, seed {seed}")
    print(f"  {len(visits)} visits, {len(inf)} infusion days, {len(ae)} adverse events")
    print(f"import {t_import:.2f} s; derive + analyse {t_analyse:.2f} s")

    cpu: list[float] = []

    def render(out: Path) -> float:
        start, start_cpu = time.perf_counter(), time.process_time()
        render_report(
            derived,
            results,
            out_dir=out,
            adverse_events=ae,
            infusions=inf,
            seed=seed,
            synthetic=True,
            pdf=not args.no_pdf,
        )
        cpu.append(time.process_time() - start_cpu)
        return time.perf_counter() - start

    what = "HTML" if args.no_pdf else "HTML + PDF"
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        first = render(out)
        print(
            f"report ({what}), first render in this process: {first:.2f} s "
            f"(CPU time of this process {cpu[0]:.2f} s)"
        )
        times = [render(out) for _ in range(args.repeats)]
    if times:
        print(
            f"report ({what}), repeat renders: median {statistics.median(times):.2f} s, "
            f"best {min(times):.2f} s ({', '.join(f'{t:.2f}' for t in times)}); "
            f"CPU time median {statistics.median(cpu[1:]):.2f} s"
        )
    total = t_import + t_analyse + first
    verdict = "under" if first < 10 else "OVER"
    print(f"seconds: {first:.2f} (first render; {verdict} the 10 s target)")
    print(
        f"end to end from a cold start (imports + derive + analyse + first render): {total:.2f} s"
    )


if __name__ == "__main__":
    main()
