"""Power and sample size by simulation, vectorised per chunk, locally or on a Dask cluster.

A :class:`PowerDesign` is a grid of design points (patients per arm x IVIG effect scale) with a
number of replicates each. Each replicate is one simulated trial (the calibrated generative
model, scored and crossed over by the engine, primary endpoint by ``derive_adrs``'s rule) or,
for ``kind = "binary"``, one plain two-arm binary trial (two binomial draws). The primary
analysis of every replicate is vectorised: the risk difference with its Wald interval and one
test of no difference:

* ``wald``: z = (p1 - p2) / sqrt(p1 q1 / n1 + p2 q2 / n2); rejects exactly when the Wald
  interval excludes 0 (the interval ``myotrial analyze`` reports);
* ``score``: the pooled-variance z test (= Pearson chi-square without continuity correction),
  the test behind ``statsmodels.stats.proportion.power_proportions_2indep``;
* ``fisher``: two-sided Fisher exact test (``myotrial analyze``'s default), computed for all
  replicates at once from a lookup table of conditional hypergeometric p-values (the same
  "sum of probabilities <= the observed one" rule as ``scipy.stats.fisher_exact``, relative
  tolerance 1e-7), exact and identical to scipy's p-values.

Every SAP endpoint is analysed per replicate too, vectorised in the same way
(:mod:`myotrial.simulate.endpoints`: TIS >= 40 / 60 at week 16, mean TIS, the week-40 rates,
the multiplicity procedure; ``ep__*`` columns), and, with ``[power] subgroups``, the primary
endpoint within each antibody subgroup and the treatment-by-subgroup interaction (``sub__*``,
``int__*``). :func:`summarise_endpoints` gives the power of each (``endpoint_power.csv``,
``subgroup_power.csv``). ``[power] risk_difference`` gives the effect as the expected
difference in primary response rates (:mod:`myotrial.simulate.effect`).

Seeds: replicate ``i`` of design point ``j`` uses ``SeedSequence(seed, spawn_key=(j, i, 0))``
(= ``SeedSequence(seed).spawn(J)[j].spawn(R)[i].spawn(...)[0]``): results do not depend on the
chunk size or on the number of workers. :func:`run_power` writes each finished chunk as a
Parquet file under ``out_dir/chunks`` (atomically) and skips chunks already there, so an
interrupted run restarted with the same design completes without redoing them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special, stats

from myotrial.errors import RulesError
from myotrial.protocol import BinaryEndpoint, load_protocol
from myotrial.simulate.calibration import primary_responders
from myotrial.simulate.effect import effect_scale_for, risk_difference_map
from myotrial.simulate.endpoints import (
    CHANGE_ENDPOINTS,
    EndpointPlan,
    analyse_replicates,
    endpoint_plan,
)
from myotrial.simulate.gsd import (
    SPENDING_FUNCTIONS,
    GroupSequentialDesign,
    group_sequential_design,
    simulate_group_sequential,
)
from myotrial.simulate.model import SimulatedTrials, simulate_trials, trial_seed
from myotrial.simulate.scenario import (
    ANTIBODY_GROUPS,
    CANONICAL_MSA_GROUP,
    Scenario,
    scenario_from_table,
)
from myotrial.tomlfile import TomlTable, read_toml

__all__ = [
    "REPLICATE_COLUMNS",
    "TESTS",
    "PowerDesign",
    "PowerRun",
    "fisher_two_sided",
    "load_power_design",
    "power_curve_svg",
    "run_chunk",
    "run_chunk_responders",
    "run_power",
    "subgroup_members",
    "summarise_endpoints",
    "summarise_power",
    "two_proportion_test",
]

F = npt.NDArray[np.float64]
IntArr = npt.NDArray[np.int64]
TestName = Literal["wald", "score", "fisher"]
TESTS: tuple[str, ...] = ("wald", "score", "fisher")

REPLICATE_COLUMNS = (
    "point",
    "n_treatment",
    "n_control",
    "effect_scale",
    "replicate",
    "x_treatment",
    "x_control",
    "estimate",
    "lower",
    "upper",
    "p_value",
    "reject",
    "crossovers",
    "dropouts",
)


@dataclass(frozen=True)
class PowerDesign:
    """A simulation design: the model (or a plain binary endpoint) and the grid of points.

    Parameters
    ----------
    scenario : the generative model (arm sizes are replaced by each design point's).
    n_per_arm : treatment-arm sizes of the design points.
    allocation_ratio : control patients per treatment patient (``n_control = round(n x r)``).
    effect_scales : multipliers of the IVIG effect (0 = null hypothesis); crossed with n.
    replicates : simulated trials per design point.
    alpha, test : two-sided level and test (:data:`TESTS`).
    seed : the run's seed.
    kind : ``"model"`` (the generative model) or ``"binary"`` (binomial responders with
        ``p_treatment`` / ``p_control``; ``effect_scales`` then scale the difference).
    """

    scenario: Scenario
    n_per_arm: tuple[int, ...] = (47,)
    allocation_ratio: float = 1.0
    effect_scales: tuple[float, ...] = (1.0,)
    replicates: int = 1000
    alpha: float = 0.05
    test: TestName = "fisher"
    seed: int = 0
    kind: Literal["model", "binary"] = "model"
    p_treatment: float = 0.0
    p_control: float = 0.0
    chunk_size: int = 250
    group_sequential: GroupSequentialDesign | None = None
    subgroups: tuple[str, ...] = ()
    risk_differences: tuple[float, ...] | None = None
    effect_map: tuple[tuple[float, float, float, float], ...] = field(default=(), compare=False)
    source: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.test not in TESTS:
            raise ValueError(f"test {self.test!r}; valid: {', '.join(TESTS)}")
        if self.kind not in ("model", "binary"):
            raise ValueError(f"kind {self.kind!r}; valid: model, binary")
        if not self.n_per_arm or any(int(n) < 1 for n in self.n_per_arm):
            raise ValueError(f"n_per_arm must be positive integers, got {list(self.n_per_arm)}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha}")
        if self.replicates < 1 or self.chunk_size < 1:
            raise ValueError("replicates and chunk_size must be >= 1")
        if self.allocation_ratio <= 0:
            raise ValueError("allocation_ratio must be > 0")
        if any(e < 0 for e in self.effect_scales):
            raise ValueError("effect scales must be >= 0")
        if self.kind == "binary":
            for p in (self.p_treatment, self.p_control):
                if not 0 <= p <= 1:
                    raise ValueError(f"p_treatment and p_control must lie in [0, 1], got {p}")
        for g in self.subgroups:
            subgroup_members(g)  # raises on an unknown name

    @property
    def points(self) -> list[tuple[int, int, float]]:
        """Design points ``(n_treatment, n_control, effect_scale)``, index = point number."""
        return [
            (int(n), max(1, round(n * self.allocation_ratio)), float(e))
            for n in self.n_per_arm
            for e in self.effect_scales
        ]

    def fingerprint(self) -> str:
        data = {
            "scenario": self.scenario.fingerprint() if self.kind == "model" else None,
            "points": self.points,
            "replicates": self.replicates,
            "alpha": self.alpha,
            "test": self.test,
            "seed": self.seed,
            "kind": self.kind,
            "p": [self.p_treatment, self.p_control],
            "group_sequential": None
            if self.group_sequential is None
            else [
                self.group_sequential.information_rates,
                self.group_sequential.spending,
                self.group_sequential.futility_bounds,
            ],
            **({"subgroups": list(self.subgroups)} if self.subgroups else {}),
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def with_options(self, **changes: Any) -> PowerDesign:
        return replace(self, **changes)


def subgroup_members(name: str) -> tuple[int, ...]:
    """Simulator antibody-group indices of a subgroup name: a simulator group
    (:data:`~myotrial.simulate.scenario.ANTIBODY_GROUPS`, e.g. ``anti_tif1_gamma``) or a
    canonical ``msa_group`` code (``dm_specific`` = the five DM-specific groups, ``negative``)."""
    if name in ANTIBODY_GROUPS:
        return (ANTIBODY_GROUPS.index(name),)
    members = tuple(i for i, g in enumerate(ANTIBODY_GROUPS) if CANONICAL_MSA_GROUP[g] == name)
    if not members:
        valid = sorted(set(ANTIBODY_GROUPS) | set(CANONICAL_MSA_GROUP.values()))
        raise ValueError(f"unknown subgroup {name!r}; valid: {', '.join(valid)}")
    return members


def load_power_design(path: str | Path) -> PowerDesign:
    """Read a power design TOML strictly: ``[power]`` (the design) and optional model overrides.

    The file overrides the model like a scenario file (``[scenario] base = "proderm"``, the
    default base, plus ``[design]``, ``[baseline]`` (e.g. the antibody mix), ``[response]``,
    ``[flare]``, ``[dropout]``, ``[safety]``, ``[effects]`` with ``drug_effect_scale`` and
    ``[effects.subgroup]`` multipliers). ``[power]`` keys: ``n_per_arm`` (list),
    ``allocation_ratio``, ``effect_scale`` (number or list; the IVIG effect of each point,
    default ``[effects] drug_effect_scale``; give the effect in one place only), ``replicates``,
    ``alpha``, ``test``, ``seed``, ``chunk_size``, ``kind``, ``p_treatment``, ``p_control``;
    ``protocol`` replaces the scenario's protocol. ``risk_difference`` (number or list, instead
    of ``effect_scale``) gives the effect as the expected difference in primary response rates:
    each is solved for its effect scale on the simulated map (:mod:`myotrial.simulate.effect`,
    ``effect_map_trials`` trials per scale, default 400). ``subgroups`` lists antibody subgroups
    (simulator groups or canonical codes) whose effect and interaction are analysed. Every key
    is checked: an unknown or misspelt key is an error naming the file, the key path and the
    key probably meant.
    """
    p = Path(path)
    root = read_toml(p, "power design file")
    pw = root.table("power", None)
    if pw is None:
        raise RulesError(f"{p}: missing table [power]")
    protocol = pw.str("protocol", None)
    scen = scenario_from_table(root, p, default_base="proderm")
    if protocol is not None:
        proto = protocol
        if not Path(proto).is_absolute() and (p.parent / proto).exists():
            proto = str(p.parent / proto)
        try:
            loaded = load_protocol(proto)  # validate now
        except RulesError as exc:
            raise pw.error("protocol", str(exc)) from None
        # arm sizes of the scenario are replaced by each design point's; keep them valid
        arms = {a: scen.n_per_arm.get(a, 1) for a in loaded.arm_codes}
        scen = scen.with_params(protocol=proto, n_per_arm=arms)
    effects = root.data.get("effects")
    if "effect_scale" in pw and isinstance(effects, dict) and "drug_effect_scale" in effects:
        raise pw.error(
            "effect_scale",
            "and [effects] drug_effect_scale both give the IVIG effect; "
            "give it once (effect_scale lists the design points)",
        )
    rds_raw = pw.raw("risk_difference", None)
    rd_list: list[float] | None = None
    rd_map_rows: tuple[tuple[float, float, float, float], ...] = ()
    map_trials = pw.int("effect_map_trials", 400, min=20)
    if rds_raw is not None:
        if "effect_scale" in pw or (isinstance(effects, dict) and "drug_effect_scale" in effects):
            raise pw.error(
                "risk_difference",
                "and effect_scale / [effects] drug_effect_scale both give the IVIG effect; "
                "give it once",
            )
        rd_list = rds_raw if isinstance(rds_raw, list) else [rds_raw]
        for i, e in enumerate(rd_list):
            if isinstance(e, bool) or not isinstance(e, int | float) or e != e or not -1 < e < 1:
                raise pw.error(f"risk_difference[{i}]", f"must be a number in (-1, 1), got {e!r}")
    scales = pw.raw("effect_scale", scen.drug_effect_scale)
    scale_list = scales if isinstance(scales, list) else [scales]
    for i, e in enumerate(scale_list):
        if isinstance(e, bool) or not isinstance(e, int | float) or e != e or e < 0:
            raise pw.error(f"effect_scale[{i}]", f"must be a number >= 0, got {e!r}")
    subgroups = tuple(pw.str_list("subgroups", ())) if "subgroups" in pw else ()
    for i, g in enumerate(subgroups):
        try:
            subgroup_members(g)
        except ValueError as exc:
            raise pw.error(f"subgroups[{i}]", str(exc)) from None
    kind = pw.str("kind", "model", choices=("model", "binary"))
    if rd_list is not None:
        if kind != "model":
            raise pw.error("risk_difference", "applies to model designs (kind = 'model')")
        rd_map = risk_difference_map(
            scen.with_params(drug_effect_scale=1.0),
            trials=map_trials,
            seed=pw.int("seed", 0, min=0) + 1_000_003,
        )
        try:
            scale_list = [effect_scale_for(rd, rd_map) for rd in rd_list]
        except ValueError as exc:
            raise pw.error("risk_difference", str(exc)) from None
        cols = ("effect_scale", "rate_treatment", "rate_control", "risk_difference")
        arr = rd_map.loc[:, list(cols)].to_numpy(dtype=np.float64)
        rd_map_rows = tuple((float(a), float(b), float(c), float(d)) for a, b, c, d in arr.tolist())
    design_alpha = pw.float("alpha", 0.05, min=0.0, max=1.0, min_exclusive=True)
    design = PowerDesign(
        scenario=scen.with_params(drug_effect_scale=1.0),
        n_per_arm=pw.int_list("n_per_arm", (47,), min=1),
        allocation_ratio=pw.float("allocation_ratio", 1.0, min=0.0, min_exclusive=True),
        effect_scales=tuple(float(e) for e in scale_list),
        replicates=pw.int("replicates", 1000, min=1),
        alpha=design_alpha,
        test=pw.str("test", "fisher", choices=TESTS),
        seed=pw.int("seed", 0, min=0),
        kind=kind,
        p_treatment=pw.float("p_treatment", 0.0, min=0.0, max=1.0),
        p_control=pw.float("p_control", 0.0, min=0.0, max=1.0),
        chunk_size=pw.int("chunk_size", 250, min=1),
        group_sequential=_group_sequential(pw.table("group_sequential", None), design_alpha),
        subgroups=subgroups,
        risk_differences=None if rd_list is None else tuple(float(x) for x in rd_list),
        effect_map=rd_map_rows,
        source=p,
    )
    root.finish()
    return design


def _group_sequential(gs: TomlTable | None, alpha: float) -> GroupSequentialDesign | None:
    """``[power.group_sequential]``: ``information_rates`` (ending at 1), ``spending``
    (obrien_fleming or pocock), optional ``futility_z`` (one non-binding z bound per interim).
    The efficacy boundaries are one-sided at ``alpha / 2`` (the design's two-sided alpha)."""
    if gs is None:
        return None
    rates = gs.float_list("information_rates", min=0.0, max=1.0)
    spending = gs.str("spending", "obrien_fleming", choices=SPENDING_FUNCTIONS)
    futility = gs.float_list("futility_z", None)
    try:
        return group_sequential_design(rates, alpha / 2, spending, futility)
    except ValueError as exc:
        raise gs.error(None, str(exc)) from None


# ---- vectorised tests ----------------------------------------------------------------------


@cache
def _fisher_table(n1: int, n2: int) -> F:
    """Two-sided Fisher p-values ``table[m, x1]`` for margins n1, n2 and m responders."""
    n = n1 + n2
    out = np.full((n + 1, n1 + 1), np.nan)
    for m in range(n + 1):
        lo, hi = max(0, m - n2), min(n1, m)
        k = np.arange(lo, hi + 1)
        pmf = stats.hypergeom.pmf(k, n, m, n1)
        for i, x in enumerate(k.tolist()):
            out[m, x] = min(1.0, float(pmf[pmf <= pmf[i] * (1 + 1e-7)].sum()))
    return out


def fisher_two_sided(x1: IntArr, n1: int, x2: IntArr, n2: int) -> F:
    """Two-sided Fisher exact p-values of many 2x2 tables with the same arm sizes."""
    table = _fisher_table(int(n1), int(n2))
    return table[np.asarray(x1) + np.asarray(x2), np.asarray(x1)]


def two_proportion_test(
    x1: IntArr, n1: int, x2: IntArr, n2: int, *, test: str = "wald", conf_level: float = 0.95
) -> dict[str, F]:
    """Risk difference (Wald interval) and the p-value of ``test``, for many trials at once.

    Returns ``estimate``, ``lower``, ``upper`` (Wald, as ``myotrial.stats.risk_difference``
    with ``method="wald"``) and ``p_value`` of the chosen test.
    """
    x1f, x2f = np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64)
    p1, p2 = x1f / n1, x2f / n2
    est = p1 - p2
    se = np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    zc = float(special.ndtri(0.5 + conf_level / 2))
    out = {"estimate": est, "lower": est - zc * se, "upper": est + zc * se}
    if test == "wald":
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, np.abs(est) / se, np.where(est == 0, 0.0, np.inf))
        out["p_value"] = special.erfc(z / math.sqrt(2))
    elif test == "score":
        pool = (x1f + x2f) / (n1 + n2)
        se0 = np.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se0 > 0, np.abs(est) / se0, 0.0)
        out["p_value"] = special.erfc(z / math.sqrt(2))
    elif test == "fisher":
        out["p_value"] = fisher_two_sided(np.asarray(x1), n1, np.asarray(x2), n2)
    else:
        raise ValueError(f"test {test!r}; valid: {', '.join(TESTS)}")
    return out


# ---- one chunk of replicates ---------------------------------------------------------------


def run_chunk(design: PowerDesign, point: int, first: int, count: int) -> pd.DataFrame:
    """Replicates ``first .. first + count - 1`` of design point ``point`` (tidy rows).

    A pure function of its arguments: the same call gives the same rows on any worker.
    """
    n1, n2, scale = design.points[point]
    reps = np.arange(first, first + count, dtype=np.int64)
    if design.kind == "binary":
        p2 = design.p_control
        p1 = p2 + scale * (design.p_treatment - p2)
        x1: IntArr = np.empty(count, dtype=np.int64)
        x2: IntArr = np.empty(count, dtype=np.int64)
        for k, r in enumerate(reps.tolist()):
            rng = np.random.default_rng(trial_seed(design.seed, r, (point,), 0))
            x1[k], x2[k] = rng.binomial(n1, p1), rng.binomial(n2, p2)
        cross: F = np.zeros(count)
        drop: F = np.zeros(count)
        extra: dict[str, Any] = {}
    else:
        sim, resp = _simulate_point(design, point, first, count)
        extra = analyse_replicates(
            sim,
            sim.protocol,
            alpha=design.alpha,
            subgroups=[(g, subgroup_members(g)) for g in design.subgroups],
            subgroup_test=design.test if design.test != "score" else "chisq",
        )
        t = sim.trial - first
        x1 = np.bincount(t[sim.treatment], weights=resp[sim.treatment], minlength=count).astype(
            np.int64
        )
        x2 = np.bincount(t[~sim.treatment], weights=resp[~sim.treatment], minlength=count).astype(
            np.int64
        )
        cross = np.bincount(t, weights=~np.isnan(sim.cross_week), minlength=count).astype(float)
        drop = np.bincount(t, weights=~sim.completed_primary, minlength=count).astype(float)
    res = two_proportion_test(x1, n1, x2, n2, test=design.test, conf_level=1 - design.alpha)
    return pd.DataFrame(
        {
            "point": np.int64(point),
            "n_treatment": np.int64(n1),
            "n_control": np.int64(n2),
            "effect_scale": scale,
            "replicate": reps,
            "x_treatment": x1,
            "x_control": x2,
            "estimate": res["estimate"],
            "lower": res["lower"],
            "upper": res["upper"],
            "p_value": res["p_value"],
            "reject": res["p_value"] < design.alpha,
            "crossovers": cross.astype(np.int64),
            "dropouts": drop.astype(np.int64),
            **extra,
        }
    )


def run_chunk_responders(
    design: PowerDesign, point: int, first: int, count: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Primary-endpoint responder flags of every patient of replicates ``first ..
    first + count - 1`` of design point ``point``, in enrolment order: ``(treatment (count,
    n1), control (count, n2))``. Model designs: the same trials as :func:`run_chunk`; binary
    designs: one Bernoulli draw per patient from the replicate's seed (group-sequential
    analyses need patients, not totals)."""
    n1, n2, scale = design.points[point]
    if design.kind == "binary":
        p2 = design.p_control
        p1 = p2 + scale * (design.p_treatment - p2)
        a = np.empty((count, n1), dtype=bool)
        b = np.empty((count, n2), dtype=bool)
        for k in range(count):
            rng = np.random.default_rng(trial_seed(design.seed, first + k, (point,), 0))
            a[k] = rng.random(n1) < p1
            b[k] = rng.random(n2) < p2
        return a, b
    sim, resp = _simulate_point(design, point, first, count)
    per_trial = resp.reshape(count, n1 + n2)
    trt = sim.treatment.reshape(count, n1 + n2)[0]
    return per_trial[:, trt], per_trial[:, ~trt]


def _simulate_point(
    design: PowerDesign, point: int, first: int, count: int
) -> tuple[SimulatedTrials, npt.NDArray[np.bool_]]:
    n1, n2, scale = design.points[point]
    scen = design.scenario
    proto = load_protocol(scen.protocol)
    pol = proto.policy
    arms = {pol.treatment_arm: n1, pol.control_arm: n2}
    # the point's effect scale times the scenario's (1 for a design read from a file:
    # the file's drug_effect_scale became the points, so the effect is applied once)
    scen = scen.with_params(n_per_arm=arms, drug_effect_scale=scen.drug_effect_scale * scale)
    sim = simulate_trials(scen, count, design.seed, first_trial=first, key=(point,), protocol=proto)
    ep = pol.endpoint(proto.primary)  # threshold as the population reads it
    if not isinstance(ep, BinaryEndpoint):
        raise ValueError(f"the primary endpoint {proto.primary!r} is not binary")
    resp = primary_responders(sim, ep.threshold, ep.week, ep.no_deterioration_through_week)
    return sim, resp


def _protocol_summary(design: PowerDesign) -> dict[str, Any]:
    """The protocol facts a reader of ``run.json`` needs (model designs only)."""
    if design.kind != "model":
        return {}
    proto = load_protocol(design.scenario.protocol)
    pol = proto.policy
    ep = pol.endpoint(proto.primary)
    return {
        "protocol": proto.name,
        "population": pol.population,
        "tis_thresholds": dict(pol.categories),
        "primary_endpoint": {"name": ep.name, "label": ep.label},
    }


def _chunks(design: PowerDesign) -> Iterator[tuple[int, int, int]]:
    for j in range(len(design.points)):
        for first in range(0, design.replicates, design.chunk_size):
            yield j, first, min(design.chunk_size, design.replicates - first)


def _chunk_path(folder: Path, point: int, first: int) -> Path:
    return folder / f"point-{point:03d}-rep-{first:08d}.parquet"


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class PowerRun:
    """The result of :func:`run_power`: every replicate, the summary and where they are."""

    design: PowerDesign
    replicates: pd.DataFrame
    summary: pd.DataFrame
    out_dir: Path | None
    chunks_run: int
    chunks_reused: int


def run_power(
    design: PowerDesign,
    out_dir: str | Path | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    client: Any = None,
    progress: Callable[[int, int], None] | None = None,
    max_chunks: int | None = None,
) -> PowerRun:
    """Simulate every replicate of ``design``; return tidy per-replicate rows and the summary.

    Parameters
    ----------
    out_dir : folder for ``chunks/*.parquet``, ``replicates.parquet``, ``power.csv``,
        ``power_curve.svg`` and ``run.json``. With an existing folder of the same design,
        finished chunks are reused (resume); a folder of another design is refused.
    scheduler : address of a running Dask scheduler (``tcp://host:8786``).
    workers : start a local Dask cluster with this many single-threaded worker processes.
    client : an existing ``distributed.Client`` (tests).
    progress : called with ``(replicates done, total)`` after each chunk.
    max_chunks : stop after running this many new chunks (simulates an interruption).
    Without scheduler/workers/client, chunks run here, one after the other (vectorised).
    """
    folder = Path(out_dir) if out_dir is not None else None
    chunk_dir = folder / "chunks" if folder is not None else None
    if folder is not None and chunk_dir is not None:
        chunk_dir.mkdir(parents=True, exist_ok=True)
        manifest = folder / "run.json"
        fp = design.fingerprint()
        if manifest.exists():
            old = json.loads(manifest.read_text(encoding="utf-8"))
            if old.get("fingerprint") != fp:
                raise ValueError(
                    f"{folder} holds a run of another design (fingerprint "
                    f"{old.get('fingerprint', '?')[:12]}"
                    f" != {fp[:12]}); use a new --out folder or delete it"
                )
        else:
            manifest.write_text(
                json.dumps(
                    {
                        "fingerprint": fp,
                        "seed": design.seed,
                        "points": design.points,
                        "replicates": design.replicates,
                        "test": design.test,
                        "alpha": design.alpha,
                        "kind": design.kind,
                        "scenario": design.scenario.name,
                        "data_source": design.scenario.data_source,
                        "design_file": str(design.source) if design.source else None,
                        "resolved_scenario": design.scenario.resolved(),
                        "subgroups": list(design.subgroups),
                        "risk_differences": None
                        if design.risk_differences is None
                        else list(design.risk_differences),
                        "effect_scale_map": [
                            dict(
                                zip(
                                    (
                                        "effect_scale",
                                        "rate_treatment",
                                        "rate_control",
                                        "risk_difference",
                                    ),
                                    row,
                                    strict=True,
                                )
                            )
                            for row in design.effect_map
                        ],
                        **_protocol_summary(design),
                        "overrides": list(design.scenario.overrides),
                    },
                    indent=1,
                ),
                encoding="utf-8",
            )
    todo: list[tuple[int, int, int]] = []
    parts: dict[tuple[int, int], pd.DataFrame] = {}
    total = design.replicates * len(design.points)
    done = 0
    for j, first, count in _chunks(design):
        path = _chunk_path(chunk_dir, j, first) if chunk_dir is not None else None
        if path is not None and path.exists():
            parts[(j, first)] = pd.read_parquet(path)
            done += count
        else:
            todo.append((j, first, count))
    reused = len(parts)
    if progress is not None:
        progress(done, total)
    if max_chunks is not None:
        todo = todo[:max_chunks]

    def finish(key: tuple[int, int, int], frame: pd.DataFrame) -> None:
        nonlocal done
        j, first, count = key
        if chunk_dir is not None:
            _atomic_parquet(frame, _chunk_path(chunk_dir, j, first))
        parts[(j, first)] = frame
        done += count
        if progress is not None:
            progress(done, total)

    own_cluster = None
    if client is None and (scheduler is not None or workers is not None):
        from distributed import Client, LocalCluster

        if scheduler is not None:
            client = Client(scheduler)  # type: ignore[no-untyped-call]
        else:
            own_cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=int(workers or 1),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = Client(own_cluster)  # type: ignore[no-untyped-call]
    try:
        if client is None:
            for key in todo:
                finish(key, run_chunk(design, *key))
        else:
            from distributed import as_completed

            futures = {client.submit(run_chunk, design, *key, pure=False): key for key in todo}
            for fut in as_completed(list(futures)):  # type: ignore[no-untyped-call]
                finish(futures[fut], fut.result())
    finally:
        if own_cluster is not None:
            client.close()
            own_cluster.close()
    complete = len(parts) == len(list(_chunks(design)))
    frames = [parts[k] for k in sorted(parts)]
    reps = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({c: [] for c in REPLICATE_COLUMNS})
    )
    summary = summarise_power(reps, design)
    if folder is not None and complete and design.group_sequential is not None:
        gsd = design.group_sequential
        gsd.table().to_csv(folder / "gsd_boundaries.csv", index=False)
        oc, stages = simulate_group_sequential(design, gsd)
        oc.to_csv(folder / "gsd_power.csv", index=False)
        stages.to_csv(folder / "gsd_stages.csv", index=False)
    if folder is not None and complete:
        _atomic_parquet(reps, folder / "replicates.parquet")
        summary.to_csv(folder / "power.csv", index=False)
        if design.kind == "model":
            ep_power, sub_power = summarise_endpoints(reps, design)
            ep_power.to_csv(folder / "endpoint_power.csv", index=False)
            if not sub_power.empty:
                sub_power.to_csv(folder / "subgroup_power.csv", index=False)
        (folder / "power_curve.svg").write_text(power_curve_svg(summary, design), encoding="utf-8")
    return PowerRun(design, reps, summary, folder, len(todo), reused)


def summarise_power(reps: pd.DataFrame, design: PowerDesign) -> pd.DataFrame:
    """Power per design point with its Monte-Carlo SE and a 95% Clopper-Pearson interval."""
    rows = []
    for j, (n1, n2, scale) in enumerate(design.points):
        r = reps[reps["point"] == j]
        k, n = int(r["reject"].sum()), len(r)
        lo = float(stats.beta.ppf(0.025, k, n - k + 1)) if k > 0 else 0.0
        hi = float(stats.beta.ppf(0.975, k + 1, n - k)) if k < n else 1.0
        pw = k / n if n else np.nan
        rows.append(
            {
                "point": j,
                "n_treatment": n1,
                "n_control": n2,
                "effect_scale": scale,
                "replicates": n,
                "rejections": k,
                "power": pw,
                "mc_se": math.sqrt(pw * (1 - pw) / n) if n else np.nan,
                "power_lower": lo if n else np.nan,
                "power_upper": hi if n else np.nan,
                "mean_treatment_rate": float((r["x_treatment"] / n1).mean()) if n else np.nan,
                "mean_control_rate": float((r["x_control"] / n2).mean()) if n else np.nan,
                "mean_crossovers": float(r["crossovers"].mean()) if n else np.nan,
                "test": design.test,
                "alpha": design.alpha,
            }
        )
    return pd.DataFrame(rows)


def summarise_endpoints(
    reps: pd.DataFrame, design: PowerDesign
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Power of every SAP endpoint per design point (marginal and after the SAP's multiplicity
    procedure) and of each subgroup effect and interaction, with Monte-Carlo SEs.

    Returns ``(endpoints, subgroups)``; endpoint columns: point, n_treatment, n_control,
    effect_scale, endpoint, role, comparison, estimate_method, test, mean_estimate,
    mean_rate_or_mean_treatment / _control, power, mc_se, power_adjusted (NaN when not in the
    multiplicity family), replicates.
    """
    proto = load_protocol(design.scenario.protocol)
    plans = endpoint_plan(proto) + [
        EndpointPlan(
            n, "continuous", "exploratory", "randomised", "pooled_t", "pooled_t", None, None
        )
        for n in CHANGE_ENDPOINTS
    ]
    rows, srows = [], []

    def pw(x: pd.Series) -> tuple[float, float]:
        v = x.to_numpy(dtype=float)
        p = float(np.mean(v)) if v.size else math.nan
        return p, math.sqrt(p * (1 - p) / v.size) if v.size else math.nan

    for j, (n1, n2, scale) in enumerate(design.points):
        r = reps[reps["point"] == j]
        base = {"point": j, "n_treatment": n1, "n_control": n2, "effect_scale": scale}
        for plan in plans:
            key = f"ep__{plan.name}"
            if f"{key}__reject" not in r:
                continue
            p, se = pw(r[f"{key}__reject"])
            adj = r.get(f"{key}__reject_adjusted")
            t_col = f"{key}__rate_t" if plan.kind == "binary" else f"{key}__mean_t"
            c_col = f"{key}__rate_c" if plan.kind == "binary" else f"{key}__mean_c"
            rows.append(
                {
                    **base,
                    "endpoint": plan.name,
                    "role": plan.role,
                    "comparison": plan.comparison,
                    "estimate_method": plan.estimate,
                    "test": plan.test
                    + (" (if tested)" if plan.comparison == "descriptive" else ""),
                    "mean_treatment": float(r[t_col].mean()),
                    "mean_control": float(r[c_col].mean()),
                    "mean_estimate": float(r[f"{key}__estimate"].mean()),
                    "power": p,
                    "mc_se": se,
                    "power_adjusted": pw(adj)[0] if adj is not None else math.nan,
                    "replicates": len(r),
                }
            )
        for g in design.subgroups:
            p, se = pw(r[f"sub__{g}__reject"])
            pi, sei = pw(r[f"int__{g}__reject"])
            srows.append(
                {
                    **base,
                    "subgroup": g,
                    "mean_patients": float(r[f"sub__{g}__n"].mean()),
                    "mean_estimate": float(r[f"sub__{g}__estimate"].mean()),
                    "power_subgroup_effect": p,
                    "mc_se_subgroup_effect": se,
                    "power_interaction": pi,
                    "mc_se_interaction": sei,
                    "interaction_not_testable": float(r[f"int__{g}__p_value"].isna().mean()),
                    "replicates": len(r),
                }
            )
    return pd.DataFrame(rows), pd.DataFrame(srows)


def power_curve_svg(
    summary: pd.DataFrame, design: PowerDesign, width: int = 640, height: int = 400
) -> str:
    """A self-contained SVG power curve (power vs patients per arm, one line per effect scale,
    95% Clopper-Pearson bars); no plotting library needed."""
    ml, mr, mt, mb = 60, 20, 40, 50
    pw_, ph = width - ml - mr, height - mt - mb
    ns = sorted(summary["n_treatment"].unique().tolist()) or [0]
    lo_n, hi_n = min(ns), max(ns)
    span = (hi_n - lo_n) or 1

    def x(n: float) -> float:
        return ml + (n - lo_n) / span * pw_ if hi_n > lo_n else ml + pw_ / 2

    def y(p: float) -> float:
        return mt + (1 - p) * ph

    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">Power '
        f"({design.test}, two-sided alpha {design.alpha:g}); SYNTHETIC simulation, "
        f"{design.replicates} replicates per point</text>",
    ]
    for t in np.linspace(0, 1, 6):
        out.append(
            f'<line x1="{ml}" x2="{ml + pw_}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#ddd"/>'
        )
        out.append(f'<text x="{ml - 8}" y="{y(t) + 4:.1f}" text-anchor="end">{t:.1f}</text>')
    out.append(
        f'<line x1="{ml}" x2="{ml + pw_}" y1="{y(design.alpha):.1f}" y2="{y(design.alpha):.1f}" '
        'stroke="#999" stroke-dasharray="4 3"/>'
    )
    for n in ns:
        out.append(f'<text x="{x(n):.1f}" y="{mt + ph + 18}" text-anchor="middle">{n}</text>')
    out.append(
        f'<text x="{ml + pw_ / 2}" y="{height - 10}" text-anchor="middle">'
        "patients per arm (treatment)</text>"
    )
    out.append(
        f'<text x="15" y="{mt + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 15 {mt + ph / 2})">power</text>'
    )
    for k, (scale, grp) in enumerate(summary.groupby("effect_scale", sort=True)):
        c = colours[k % len(colours)]
        g = grp.sort_values("n_treatment")
        pts = " ".join(
            f"{x(n):.1f},{y(p):.1f}" for n, p in zip(g["n_treatment"], g["power"], strict=True)
        )
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{pts}"/>')
        for r in g.itertuples():
            rn, rp = float(r.n_treatment), float(r.power)  # type: ignore[arg-type]
            rlo, rhi = float(r.power_lower), float(r.power_upper)  # type: ignore[arg-type]
            out.append(
                f'<line x1="{x(rn):.1f}" x2="{x(rn):.1f}" y1="{y(rlo):.1f}" '
                f'y2="{y(rhi):.1f}" stroke="{c}"/>'
            )
            out.append(f'<circle cx="{x(rn):.1f}" cy="{y(rp):.1f}" r="3" fill="{c}"/>')
        out.append(
            f'<text x="{ml + 10}" y="{mt + 16 + 16 * k}" fill="{c}">effect scale {scale:g}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
