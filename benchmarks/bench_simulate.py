"""Simulation throughput: 10,000 ProDERM-size trials, power of the primary endpoint.

Each trial: 95 patients (47 IVIG / 48 placebo) screened against the eligibility rules, the full
visit schedule (weeks 0, 4, 8, 12, 16, 28, 40), scored by the engine in one call per chunk,
confirmed deterioration and placebo -> IVIG crossover (second pass, rescored), dropout, the
primary endpoint by ``derive_adrs``'s rule, and the Wald risk difference with a Fisher exact test
per trial (vectorised). Target (issue 5): <= 20 s for 10,000 trials on 2 cores.

    python benchmarks/bench_simulate.py [--trials 10000] [--chunk 500]

Prints trials per second in-process (no Dask), with a local Dask cluster of 1 worker process,
and of 2 worker processes, the speed-up from 1 to 2 workers, and checks that the three runs
give identical replicates.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse
import time

import pandas as pd

from myotrial.simulate import PowerDesign, load_scenario, run_power


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=500)
    ap.add_argument("--seed", type=int, default=2022)
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    design = PowerDesign(
        load_scenario("proderm"),
        n_per_arm=(47,),
        allocation_ratio=48 / 47,
        replicates=args.trials,
        chunk_size=args.chunk,
        seed=args.seed,
        test="fisher",
    )
    # warm-up: numba kernels compiled / loaded from cache, rules parsed
    run_power(design.with_options(replicates=20, chunk_size=20))
    t0 = time.perf_counter()
    local = run_power(design)
    t_local = time.perf_counter() - t0
    print(
        f"in-process, vectorised: {args.trials} trials in {t_local:.1f} s = "
        f"{args.trials / t_local:,.0f} trials/s"
    )
    timings: dict[int, float] = {}
    results: dict[int, pd.DataFrame] = {}
    for n in (1, 2):
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cl,
            Client(cl) as client,
        ):
            client.run(
                lambda: run_power(design.with_options(replicates=20, chunk_size=20))
            )  # warm up workers
            t0 = time.perf_counter()
            res = run_power(design, client=client)
            timings[n] = time.perf_counter() - t0
            results[n] = res.replicates
        print(
            f"Dask, {n} worker process(es): {args.trials} trials in {timings[n]:.1f} s = "
            f"{args.trials / timings[n]:,.0f} trials/s"
        )
    print(f"speed-up 1 -> 2 workers: {timings[1] / timings[2]:.2f}x")
    same = results[1].equals(results[2]) and results[1].equals(local.replicates)
    print(f"identical replicates (in-process, 1 worker, 2 workers): {same}")
    print(f"power (Fisher, alpha 0.05): {local.summary['power'].iloc[0]:.4f}")
    target = 20.0
    print(
        f"target <= {target:.0f} s on 2 cores: "
        f"{'met' if timings[2] <= target else 'NOT met'} ({timings[2]:.1f} s)"
    )


if __name__ == "__main__":
    main()
