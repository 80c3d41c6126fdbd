"""Simulation throughput, and when ``--workers N`` (a local Dask cluster) pays on this machine.

Each trial: 95 patients (47 IVIG / 48 placebo) screened against the eligibility rules, the full
visit schedule (weeks 0, 4, 8, 12, 16, 28, 40) with intermittent missing visits and measures,
scored by the engine, confirmed deterioration and placebo -> IVIG crossover (second pass,
rescored), dropout, and the per-replicate analysis of every SAP endpoint (primary with Fisher's
exact test, TIS >= 40 / 60, mean TIS, week-40 rates, the fixed-sequence family, the week-16
changes) - vectorised.

    python benchmarks/bench_simulate.py [--trials 10000] [--chunk 500]

Timings, as a user pays them:

* in-process: ``run_power`` in an interpreter that has imported myotrial and compiled / loaded
  the numba kernels once (a warm-up of 20 trials, timed separately as "first call");
* Dask, N worker processes: from creating the ``LocalCluster`` (worker processes start,
  import myotrial, numpy, scipy, pandas, numba and load the cached kernels on their first
  task) to the last replicate, plus the cluster's shutdown; the start-up alone (cluster up and
  one 20-trial task done on every worker) is reported separately.

Prints trials per second, the ratio Dask / in-process for each N, the break-even number of
trials ``start-up / (1 / in-process rate - 1 / Dask rate)`` where Dask's steady rate is higher,
and the extrapolated wall time of a 1,000,000-trial run. Checks that every run gives identical
replicates.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse
import platform
import time

import pandas as pd

from myotrial.simulate import PowerDesign, load_scenario, run_power


def _warm(design: PowerDesign) -> None:
    run_power(design.with_options(replicates=20, chunk_size=20))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=500)
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("--workers", type=str, default="1,2")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    design = PowerDesign(
        load_scenario("proderm"),
        n_per_arm=(47,),
        allocation_ratio=48 / 47,
        replicates=args.trials,
        chunk_size=args.chunk,
        seed=args.seed,
        test="fisher",
    )
    t0 = time.perf_counter()
    _warm(design)
    t_first = time.perf_counter() - t0
    print(f"first call in this process (rules parsed, kernels loaded, 20 trials): {t_first:.1f} s")
    t0 = time.perf_counter()
    local = run_power(design)
    t_local = time.perf_counter() - t0
    rate_local = args.trials / t_local
    print(
        f"in-process, vectorised: {args.trials} trials in {t_local:.1f} s = "
        f"{rate_local:,.0f} trials/s"
    )
    results: dict[int, pd.DataFrame] = {}
    for n in (int(x) for x in args.workers.split(",")):
        t0 = time.perf_counter()
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cl,
            Client(cl) as client,
        ):
            # start-up as a user pays it: processes, imports, kernels, one task per worker
            futs = [
                client.submit(_warm, design, pure=False, workers=[w])
                for w in client.scheduler_info()["workers"]
            ]
            client.gather(futs)
            t_start = time.perf_counter() - t0
            t1 = time.perf_counter()
            res = run_power(design, client=client)
            t_run = time.perf_counter() - t1
        t_total = time.perf_counter() - t0
        results[n] = res.replicates
        rate = args.trials / t_run
        print(
            f"Dask, {n} worker process(es): start-up {t_start:.1f} s, run {t_run:.1f} s "
            f"({rate:,.0f} trials/s), total incl. shutdown {t_total:.1f} s; "
            f"ratio total / in-process = {t_total / t_local:.2f}"
        )
        if rate > rate_local:
            n_even = t_start / (1 / rate_local - 1 / rate)
            print(
                f"  break-even: Dask with {n} worker(s) pays from about {n_even:,.0f} trials "
                f"(steady-state speed-up {rate / rate_local:.2f}x)"
            )
        else:
            print(
                f"  no break-even: steady-state rate {rate / rate_local:.2f}x the in-process "
                "rate, so Dask never pays on this machine for this worker count"
            )
        print(f"  1,000,000 trials (extrapolated): {(t_start + 1e6 / rate) / 60:.1f} min")
    print(f"1,000,000 trials in-process (extrapolated): {1e6 / rate_local / 60:.1f} min")
    same = all(r.equals(local.replicates) for r in results.values())
    print(f"identical replicates (in-process and every Dask run): {same}")
    print(f"power (Fisher, alpha 0.05): {local.summary['power'].iloc[0]:.4f}")


if __name__ == "__main__":
    main()
