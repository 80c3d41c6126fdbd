"""The vectorised scoring engine: whole-trial arrays in, per-visit scores out.

This is the hot path: numpy only, no per-row Python. ``score_visits`` (the table API) prepares
its inputs from a validated visits table; benchmarks call it directly.

Rules (each from ``myotrial/rules/*.toml``, with their citations):

* TIS points and categories: 2016 ACR/EULAR criteria (``tis_2016.toml``).
* Enzyme CSM: the enzyme with the highest value / ULN at baseline, ties broken in the order
  CK, aldolase, LDH, ALT, AST, used at every visit (PROJECT RULE); its change is relative and
  computed on ULN multiples, so a change of laboratory (ULN) between visits is accounted for
  (PROJECT RULE; identical to the raw relative change when the ULN is unchanged).
* IMACS 2004 DOI (``imacs_doi_2004.toml``) and ProDERM worsening clauses A/B/C and confirmation
  (``proderm_deterioration.toml``).

The per-visit arithmetic is written once in :mod:`myotrial.scoring._rows` and runs compiled
(:mod:`myotrial.scoring._kernel`, numba, imported on first use) or, for a few rows, uncompiled;
every rule parameter is read here from the rules files and passed in.

Missing values use three-valued logic for DOI and worsening: *true* when the rule is met by the
measures present whatever the missing ones are, *false* when it cannot be met whatever they are,
*unknown* (NaN) otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from myotrial.errors import InputValidationError, MyotrialError, Problem
from myotrial.rules import (
    SLOTS,
    DeteriorationRules,
    DOIRules,
    MeasureSet,
    TISRules,
    load_deterioration_rules,
    load_doi_rules,
    load_scales,
    load_tis_rules,
)
from myotrial.scoring._params import name_outputs, rule_parameters, slot_parameters
from myotrial.tables.ranges import MMT8_ALLOWED_MAX, mmt8_max_rule

__all__ = [
    "CATEGORY_LABELS",
    "CLAUSE_LABELS",
    "SMALL_INPUT_ROWS",
    "ScoringConfig",
    "ScoringOptionError",
    "score_arrays",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Category codes 0..3 of ``tis_category_code``; -1 = no TIS.
CATEGORY_LABELS: tuple[str, ...] = ("none", "minimal", "moderate", "major")
#: ``worsening_clauses`` text for each bit code (A=1, B=2, C=4).
CLAUSE_LABELS: tuple[str, ...] = ("", "A", "B", "A;B", "C", "A;C", "B;C", "A;B;C")


class ScoringOptionError(MyotrialError, ValueError):
    """A scoring option (earliest week, consecutive visits, scale range) is not valid."""


@dataclass(frozen=True)
class ScoringConfig:
    """Options of a scoring run. ``None`` means "the default in the rules file".

    Parameters
    ----------
    population : ``"adult"`` or ``"juvenile"`` (category thresholds 20/40/60 or 30/45/70).
    measure_set : ``"imacs"`` or ``"printo"`` (juvenile only); see ``tis_2016.toml``.
    partial : score the measures present when some are missing (TIS flagged partial). Default
        False: a TIS needs all six measures at baseline and at the visit (PROJECT RULE).
    mmt8_max : MMT-8 maximum where the table has no ``mmt8_max`` value (default 150).
    chq_phs_range : scale range of the CHQ physical summary (required for the PRINTO set).
    earliest_week : earliest week of a confirming visit (default 8, ProDERM).
    consecutive_visits : number of consecutive worsening visits that confirm (default 2).
    """

    population: str = "adult"
    measure_set: str = "imacs"
    partial: bool = False
    mmt8_max: float | None = None
    chq_phs_range: float | None = None
    earliest_week: float | None = None
    consecutive_visits: int | None = None

    def __post_init__(self) -> None:
        """Options are checked where they are given: a non-finite week would silently turn off
        confirmed deterioration (``nan >= 8`` is false), a non-integer count would be
        truncated, a non-finite scale range would change every TIS (issue 11)."""
        problems = []
        week = self.earliest_week
        if week is not None and (
            isinstance(week, bool)
            or not isinstance(week, int | float | np.integer | np.floating)
            or not math.isfinite(float(week))
            or float(week) < 0
        ):
            problems.append(f"earliest_week={week!r} must be a finite week >= 0")
        k = self.consecutive_visits
        if k is not None and (
            isinstance(k, bool) or not isinstance(k, int | np.integer) or int(k) < 1
        ):
            problems.append(f"consecutive_visits={k!r} must be a whole number >= 1")
        mx = self.mmt8_max
        if mx is not None and (
            isinstance(mx, bool)
            or not isinstance(mx, int | float | np.integer | np.floating)
            or float(mx) not in MMT8_ALLOWED_MAX
        ):  # the same located problem as the table validator's (measures.toml allowed_max)
            raise InputValidationError(
                [
                    Problem(
                        "visits",
                        None,
                        None,
                        None,
                        "mmt8_max",
                        str(mx),
                        mmt8_max_rule("the MMT-8 maximum option"),
                    )
                ],
                "visits",
            )
        for name in ("chq_phs_range",):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float | np.integer | np.floating)
                or not math.isfinite(float(value))
                or float(value) <= 0
            ):
                problems.append(f"{name}={value!r} must be a finite number > 0")
        if not isinstance(self.partial, bool):
            problems.append(f"partial={self.partial!r} must be True or False")
        if problems:
            raise ScoringOptionError("; ".join(problems))

    def resolved(self, tis: TISRules, det: DeteriorationRules) -> tuple[MeasureSet, float, int]:
        ms = tis.measure_set_for(self.population, self.measure_set)
        earliest = det.earliest_week if self.earliest_week is None else float(self.earliest_week)
        k = (
            det.consecutive_visits
            if self.consecutive_visits is None
            else int(self.consecutive_visits)
        )
        return ms, earliest, k


#: Up to this many rows, :func:`score_arrays` runs the engine's source uncompiled (one patient:
#: no numba import, no compiled-code load); above it, the compiled kernels. Same results.
SMALL_INPUT_ROWS = 32


def score_arrays(
    subject_codes: IntArray,
    weeks: npt.NDArray[np.integer] | FloatArray,
    columns: Mapping[str, FloatArray],
    config: ScoringConfig = ScoringConfig(),
    *,
    details: bool = False,
    out: Mapping[str, npt.NDArray[np.generic]] | None = None,
    compiled: bool | None = None,
) -> dict[str, npt.NDArray[np.generic]]:
    """Score every visit of a trial from column arrays (one fused pass, see ``_rows``).

    Parameters
    ----------
    subject_codes : int array, subject of each row as 0..S-1 (e.g. from ``pandas.factorize``).
    weeks : visit week of each row; 0 is the baseline; each subject has exactly one baseline.
    columns : float arrays (NaN = missing) keyed by visits-table column name
        (pga, ptga, mmt8, mmt8_max, haq, extramuscular, enzymes and ``*_uln``, juvenile columns).
    config : :class:`ScoringConfig`.
    details : also return ``improvement_<slot>`` (absolute % used for points) and
        ``relative_<slot>`` (relative %).
    out : caller-provided output arrays by result name (each C-contiguous, writeable, of the
        result's dtype and length), reused instead of allocating (saves first-touch page
        faults when scoring many tables of the same size); any result not given is allocated.
    compiled : run the compiled kernels (True) or the same source uncompiled (False); default:
        uncompiled up to :data:`SMALL_INPUT_ROWS` rows. Both give identical results.

    Rows grouped by subject with weeks increasing take one fused pass (parallel over blocks of
    whole subjects where numba has threads; identical to serial); other orders take a general
    path with the same results.

    Returns
    -------
    dict of arrays, one value per row: ``tis`` (float64), ``tis_category_code`` (int8, -1..3),
    ``tis_missing_code`` (int16; bit i: slot i missing at baseline; bit 6+i: at the visit; -1
    at baseline), ``points_<slot>`` (float64), ``enzyme_code`` (int8, index into the enzyme
    order, -1 none), ``doi_met``/``worsening`` (int8: 1 true, 0 false, -1 unknown),
    ``clause_code`` (int8, bits A=1, B=2, C=4), ``cd_confirmed``, ``is_baseline``,
    ``tis_partial`` (bool).
    """
    tis_rules = load_tis_rules()
    det = load_deterioration_rules()
    doi: DOIRules = load_doi_rules()
    scales = load_scales()
    ms, earliest_week, k_consecutive = config.resolved(tis_rules, det)
    codes = _writeable(subject_codes, np.int64)
    wk = _writeable(weeks, np.float64)
    n = codes.size
    if wk.size != n:
        raise ValueError(f"subject_codes has {n} rows but weeks has {wk.size}")
    tol = tis_rules.edge_tolerance
    sp = slot_parameters(
        tis_rules, scales, ms, columns, lambda name: _column(columns, name), np.empty(0),
        mmt8_max=config.mmt8_max, chq_phs_range=config.chq_phs_range,
    )
    for arr in (*sp.xs, *sp.ev, *sp.eu, sp.max_col):
        if arr.size not in (0, n):
            raise ValueError(f"a column has {arr.size} rows, expected {n}")
    rules, weights = rule_parameters(
        tis_rules, doi, det, ms, tol=tol, partial=config.partial, k_consecutive=k_consecutive,
        earliest_week=earliest_week, enzyme_slot=sp.enzyme_slot, max_slot=sp.max_slot,
        max_low=sp.max_low,
    )

    given = out or {}
    points = _block(given, [f"points_{s}" for s in SLOTS], n)
    changes = _block(
        given,
        [f"improvement_{s}" for s in SLOTS] + [f"relative_{s}" for s in SLOTS],
        n if details else 0,
    )
    flag_spec = (
        ("tis_category_code", np.int8),
        ("doi_met", np.int8),
        ("worsening", np.int8),
        ("clause_code", np.int8),
        ("enzyme_code", np.int8),
        ("tis_missing_code", np.int16),
        ("tis_partial", np.bool_),
        ("is_baseline", np.bool_),
    )
    flags = tuple(_buffer(given, key, n, dtype) for key, dtype in flag_spec)
    tis = _buffer(given, "tis", n, np.float64)
    confirmed = _buffer(given, "cd_confirmed", n, np.bool_)
    args = (
        sp.xs,
        sp.ev,
        sp.eu,
        sp.max_col,
        tuple(tuple(float(v) for v in p) for p in sp.params),
        tuple(float(v) for v in rules),
        weights,
        tuple(points),
        (tis, *changes),
        flags,
    )
    use_compiled = n > SMALL_INPUT_ROWS if compiled is None else compiled
    with np.errstate(all="ignore"):  # the uncompiled path: x / 0 -> inf, as compiled
        status = _run(use_compiled, codes, wk, args, confirmed, k_consecutive, earliest_week)
    if status == 2:
        n_sub = int(codes.max()) + 1 if n else 0
        has_base = np.zeros(n_sub, dtype=bool)
        has_base[codes[wk == 0]] = True
        missing = np.flatnonzero(~has_base)[:5].tolist()
        raise ValueError(f"subjects without a baseline (week 0) row, codes {missing}")
    return name_outputs(tis, flags, confirmed, points, changes, details)


def _run(
    use_compiled: bool,
    codes: IntArray,
    wk: FloatArray,
    args: tuple[Any, ...],
    confirmed: npt.NDArray[np.bool_],
    k_consecutive: int,
    earliest_week: float,
) -> int:
    """Run the passes; 0 when done, 2 when a subject has no baseline row."""
    if use_compiled:
        from myotrial.scoring import _kernel as kern  # numba: loaded on first use

        n_blocks = max(1, min(codes.size // 65536, 4 * kern.threads()))
        bounds = kern.block_bounds(codes, n_blocks)
        run_blocks = kern.run_blocks
    else:
        from myotrial.scoring import _rows as kern  # type: ignore[no-redef]

        bounds = np.array([0, codes.size], dtype=np.int64)

        def run_blocks(kernel: Any, bounds: np.ndarray, *a: Any) -> int:
            return int(kernel(int(bounds[0]), int(bounds[1]), *a))

    none = np.empty(0, dtype=np.int64)
    status = run_blocks(kern.score_chunk, bounds, False, codes, wk, none, none, *args, confirmed)
    if status != 1:
        return status
    # rows not grouped by subject with weeks increasing: the general path (same results)
    n_sub = int(codes.max()) + 1
    base_row = np.full(n_sub, -1, dtype=np.int64)
    kern.baseline_rows(codes, wk, base_row)
    if (base_row < 0).any():
        return 2
    chosen = np.empty(n_sub, dtype=np.int64)
    kern.choose_enzymes(base_row, args[1], args[2], chosen)
    bounds = np.linspace(0, codes.size, bounds.size, dtype=np.int64)
    run_blocks(kern.score_chunk, bounds, True, codes, wk, base_row, chosen, *args, confirmed)
    order = np.lexsort((wk, codes))
    worsening = args[-1][2]
    kern.confirm_deterioration(codes, wk, order, worsening, k_consecutive, earliest_week, confirmed)
    return 0


def _buffer(
    given: Mapping[str, npt.NDArray[np.generic]], key: str, n: int, dtype: type[np.generic]
) -> npt.NDArray[Any]:
    """The caller's output array for ``key`` (checked), or a new one."""
    arr = given.get(key)
    if arr is None:
        return np.empty(n, dtype=dtype)
    if (
        arr.shape != (n,)
        or arr.dtype != np.dtype(dtype)
        or not arr.flags.c_contiguous
        or not arr.flags.writeable
    ):
        raise ValueError(
            f"out[{key!r}] must be a writeable C-contiguous {np.dtype(dtype)} array of {n} rows"
        )
    return arr


def _block(
    given: Mapping[str, npt.NDArray[np.generic]], keys: list[str], n: int
) -> list[FloatArray]:
    """Float output rows for ``keys``: the caller's arrays, else rows of one new block."""
    block = np.empty((len(keys), n)) if any(k not in given for k in keys) else None
    return [
        _buffer(given, k, n, np.float64) if k in given or block is None else block[i]
        for i, k in enumerate(keys)
    ]


def _column(columns: Mapping[str, FloatArray], name: str) -> FloatArray:
    return _writeable(columns[name], np.float64)


def _writeable(arr: npt.ArrayLike, dtype: type[np.generic]) -> npt.NDArray[Any]:
    """``arr`` as a C-contiguous, writeable array of ``dtype`` (numba types read-only arrays
    differently). A read-only view of writeable memory (pandas' copy-on-write views) becomes a
    writeable view, not a copy: the kernels never write to their inputs."""
    if (
        isinstance(arr, np.ndarray)
        and arr.dtype == dtype
        and arr.flags.c_contiguous
        and not arr.flags.writeable
    ):
        view = arr.view()
        try:
            view.flags.writeable = True
            return view
        except ValueError:  # memory that is read-only itself: copied below
            pass
    return np.require(arr, dtype, ["C", "W"])
