"""Synthetic ProDERM-design trials: generative model, calibration, power and the demo.

* :func:`load_scenario` - the model's parameters as data (``scenarios/proderm.toml``, fitted
  to the published ProDERM aggregates by ``scripts/calibrate.py``).
* :func:`simulate_trials` - many seeded trials at once, scored, screened for deterioration
  and crossed over by the scoring engine; :func:`to_tables` gives the canonical tables and
  :func:`simulate_safety` / :func:`safety_tables` the infusions and adverse events.
* :func:`trial_statistics` / :func:`calibration_table` - published vs simulated aggregates.
* :func:`run_power` - power (vectorised, or on Dask), resumable; :func:`solve_sample_size`
  the smallest n per arm for a target power, :func:`fisher_exact_power` the exact oracle.
* :func:`run_demo` / :func:`synthetic_trial` - one synthetic trial through the whole pipeline.

Everything generated is SYNTHETIC and labelled so (``data_source`` column). See
``docs/simulation.md``.
"""

from myotrial.simulate.calibration import (
    TARGETS,
    TOLERANCE_SD,
    Target,
    calibration_table,
    primary_responders,
    simulate_statistics,
    trial_statistics,
)
from myotrial.simulate.demo import DemoResult, SyntheticTrial, run_demo, synthetic_trial
from myotrial.simulate.model import (
    MEASURES,
    SimulatedTrials,
    eligible_mask,
    simulate_trials,
    trial_seed,
)
from myotrial.simulate.power import (
    REPLICATE_COLUMNS,
    TESTS,
    PowerDesign,
    PowerRun,
    fisher_two_sided,
    load_power_design,
    power_curve_svg,
    run_chunk,
    run_power,
    summarise_power,
    two_proportion_test,
)
from myotrial.simulate.safety import EVENT_TYPES, SafetyArrays, safety_tables, simulate_safety
from myotrial.simulate.sample_size import (
    SampleSizeResult,
    exact_power,
    exact_sample_size,
    fisher_exact_power,
    solve_sample_size,
)
from myotrial.simulate.scenario import Scenario, available_scenarios, load_scenario
from myotrial.simulate.tables import screening_table, subject_ids, to_tables

__all__ = [
    "EVENT_TYPES",
    "MEASURES",
    "REPLICATE_COLUMNS",
    "TARGETS",
    "TESTS",
    "TOLERANCE_SD",
    "DemoResult",
    "PowerDesign",
    "PowerRun",
    "SafetyArrays",
    "SampleSizeResult",
    "Scenario",
    "SimulatedTrials",
    "SyntheticTrial",
    "Target",
    "available_scenarios",
    "calibration_table",
    "eligible_mask",
    "exact_power",
    "exact_sample_size",
    "fisher_exact_power",
    "fisher_two_sided",
    "load_power_design",
    "load_scenario",
    "power_curve_svg",
    "primary_responders",
    "run_chunk",
    "run_demo",
    "run_power",
    "safety_tables",
    "screening_table",
    "simulate_safety",
    "simulate_statistics",
    "simulate_trials",
    "solve_sample_size",
    "subject_ids",
    "summarise_power",
    "synthetic_trial",
    "to_tables",
    "trial_seed",
    "trial_statistics",
    "two_proportion_test",
]
