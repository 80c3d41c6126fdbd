"""One patient's TIS, measure by measure (the IMACS calculator), in plain Python (no numpy).

Used by ``myotrial tis`` and the web calculator. The engine's own row logic
(:func:`myotrial.scoring._rows.score_chunk`, the source the compiled engine runs) evaluated on two
plain-Python rows (baseline and follow-up), with the rule parameters read from the same rules
files, packed as :func:`myotrial.scoring.engine.score_arrays` packs them, after the same range
rules (:func:`myotrial.tables.ranges.check_measure_values`, the twin of the table validator's
checks). Nothing here imports numpy, pandas or numba, so ``myotrial tis`` starts quickly.
``tests/test_scoring_single_equivalence.py`` checks, on thousands of random patients, that every
output (scores, codes, changes, breakdown) and every error equals the array path
(:func:`~myotrial.tables.ranges.check_measure_ranges` then ``score_arrays``).
"""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any

from myotrial.errors import InputValidationError, Problem
from myotrial.rules import (
    SLOTS,
    load_deterioration_rules,
    load_doi_rules,
    load_scales,
    load_tis_rules,
)
from myotrial.scoring import _rows
from myotrial.scoring._params import name_outputs, rule_parameters, slot_parameters
from myotrial.tables.ranges import MMT8_ALLOWED_MAX, check_measure_values

__all__ = ["PATIENT_MEASURES", "score_patient"]

#: Measures a single-patient calculation accepts (baseline and follow-up values).
PATIENT_MEASURES: tuple[str, ...] = (
    "pga",
    "ptga",
    "extramuscular",
    "mmt8",
    "haq",
    "chaq",
    "cmas",
    "das",
    "chq_phs",
    *load_scales().enzymes,
)

# The engine's code tables (``myotrial.scoring.engine``; a test checks they are the same).
_CATEGORY_LABELS: tuple[str, ...] = ("none", "minimal", "moderate", "major")
_CLAUSE_LABELS: tuple[str, ...] = ("", "A", "B", "A;B", "C", "A;C", "B;C", "A;B;C")

Columns = Mapping[str, Sequence[float]]


def score_patient(
    baseline: Mapping[str, float | None],
    follow_up: Mapping[str, float | None],
    *,
    ulns: Mapping[str, float | None] | None = None,
    population: str = "adult",
    measure_set: str = "imacs",
    mmt8_max: float = 150.0,
    chq_phs_range: float | None = None,
) -> dict[str, Any]:
    """Score one follow-up against its baseline and break the TIS down by measure.

    Same rules and results as :func:`myotrial.scoring.score_visits` (the range checks of
    :func:`myotrial.tables.visits.check_measure_ranges`, then the engine's row logic), without
    numpy or a DataFrame, so one call takes well under a millisecond (the web calculator) and
    ``myotrial tis`` starts quickly.

    Parameters
    ----------
    baseline, follow_up : values by visits-table column name (``pga``, ``mmt8``, ``ck``, ...);
        ``None`` or absent = not measured.
    ulns : upper limits of normal by enzyme (``{"ck": 200}``), the same at both visits.

    Returns
    -------
    dict with ``tis`` (None unless all six measures are given), ``tis_partial`` (points of the
    measures given), ``category``, ``missing_measures``, per-measure ``measures`` (baseline,
    follow-up, percent improvement, points, max points), ``doi_met``, ``worsening``,
    ``worsening_clauses`` and the rules ``citation``.

    Raises
    ------
    InputValidationError
        A value out of range or not a finite number (located by visit and column).
    ValueError
        Unknown measure, population or measure set, or the CHQ-PhS range missing for PRINTO.
    """
    numeric = _validated(baseline, follow_up, ulns, mmt8_max)
    _check_options(population, measure_set, mmt8_max, chq_phs_range)
    res = _evaluate(numeric, population, measure_set, mmt8_max, chq_phs_range)
    return _breakdown(res, numeric, population, measure_set)


def _validated(
    baseline: Mapping[str, Any],
    follow_up: Mapping[str, Any],
    ulns: Mapping[str, Any] | None,
    mmt8_max: Any,
) -> dict[str, list[float]]:
    """The two rows as float lists by column (NaN = missing), or every problem raised."""
    unknown = sorted((set(baseline) | set(follow_up)) - set(PATIENT_MEASURES))
    if unknown:
        raise ValueError(
            f"unknown measure(s): {', '.join(unknown)}; valid: {', '.join(PATIENT_MEASURES)}"
        )
    numeric: dict[str, list[float]] = {}
    problems: list[Problem] = []
    for name in PATIENT_MEASURES:
        b, f = baseline.get(name), follow_up.get(name)
        if b is None and f is None:
            continue
        numeric[name] = _pair(name, b, f, problems)
    for enzyme, uln in (ulns or {}).items():
        if uln is not None:
            numeric[f"{enzyme}_uln"] = _pair(f"{enzyme}_uln", uln, uln, problems)
    numeric["mmt8_max"] = _pair("mmt8_max", mmt8_max, mmt8_max, problems)
    if not problems:

        def add(rows: list[int], column: str, rule: str) -> None:
            for i in rows:
                value = numeric[column][i] if column in numeric else None
                problems.append(_problem(i, column, value, rule))

        if not float(mmt8_max) > 0:
            problems.append(_problem(0, "mmt8_max", mmt8_max, "mmt8_max must be > 0"))
        check_measure_values(numeric, add)
    if problems:
        raise InputValidationError(problems, "visits")
    return numeric


def _pair(column: str, b: Any, f: Any, problems: list[Problem]) -> list[float]:
    out = [math.nan, math.nan]
    for i, value in enumerate((b, f)):
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems.append(_problem(i, column, value, "must be a number (blank = missing)"))
            continue
        if not math.isfinite(number):
            problems.append(_problem(i, column, value, "must be a number (blank = missing)"))
            continue
        out[i] = number
    return out


def _problem(i: int, column: str, value: Any, rule: str) -> Problem:
    shown = None if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
    return Problem("visits", i + 1, "patient", ("baseline", "follow_up")[i], column, shown, rule)


def _check_options(population: str, measure_set: str, mmt8_max: Any, chq_phs_range: Any) -> None:
    """The checks of :class:`~myotrial.scoring.engine.ScoringConfig` on the options given here.

    Options as the CLI and the web calculator give them pass without numpy; anything else is
    handed to ``ScoringConfig`` itself (importing the engine), which raises its own error.
    """
    np = sys.modules.get("numpy")  # a numpy scalar can only be given once numpy is loaded
    kinds: tuple[type, ...] = (int, float) if np is None else (int, float, np.integer, np.floating)

    def number(x: Any) -> bool:
        return not isinstance(x, bool) and isinstance(x, kinds)

    ok = number(mmt8_max) and float(mmt8_max) in MMT8_ALLOWED_MAX
    ok &= chq_phs_range is None or (
        number(chq_phs_range) and math.isfinite(float(chq_phs_range)) and float(chq_phs_range) > 0
    )
    if not ok:
        from myotrial.scoring.engine import ScoringConfig

        ScoringConfig(
            population=population,
            measure_set=measure_set,
            partial=True,
            mmt8_max=mmt8_max,
            chq_phs_range=chq_phs_range,
        )


# ---------------------------------------------------------------------------------------------
# The engine's row logic on plain lists
# ---------------------------------------------------------------------------------------------


def _ieee_div(a: float, b: float) -> float:
    """``a / b`` as numpy and the compiled engine compute it: +/-inf for a zero ``b``, NaN for
    0/0 and NaN/0 (plain Python raises ZeroDivisionError)."""
    if b != 0.0:
        return a / b
    if a != a or a == 0.0:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _plain_copy() -> dict[str, Any]:
    """Copies of ``_rows``' functions whose globals resolve ``_div`` to :func:`_ieee_div` (as
    ``_kernel`` compiles copies whose globals resolve to compiled helpers)."""
    namespace: dict[str, Any] = {**vars(_rows), "_div": _ieee_div}
    for name in ("_slot", "_pick", "_ratio", "enzyme_choice", "score_chunk"):
        f = getattr(_rows, name)
        copy = types.FunctionType(f.__code__, namespace, f.__name__, f.__defaults__, f.__closure__)
        copy.__qualname__, copy.__doc__ = f.__qualname__, f.__doc__
        namespace[name] = copy
    return namespace


_score_chunk = _plain_copy()["score_chunk"]


class _Col(list[Any]):
    """A list with the ``size`` that ``score_chunk`` asks of its arrays."""

    @property
    def size(self) -> int:
        return len(self)


_EMPTY = _Col()


def _evaluate(
    columns: Columns,
    population: str,
    measure_set: str,
    mmt8_max: float | None,
    chq_phs_range: float | None,
) -> dict[str, list[Any]]:
    """``score_arrays(zeros(2), [0, 1], columns, ScoringConfig(population, measure_set,
    partial=True, mmt8_max=..., chq_phs_range=...), details=True)`` in plain Python: the same
    parameters from the same rules files, the same row logic, the same outputs (lists, two rows).
    """
    tis_rules = load_tis_rules()
    det = load_deterioration_rules()
    doi = load_doi_rules()
    scales = load_scales()
    ms = tis_rules.measure_set_for(population, measure_set)
    earliest_week, k_consecutive = det.earliest_week, det.consecutive_visits
    n = 2
    tol = tis_rules.edge_tolerance
    sp = slot_parameters(
        tis_rules, scales, ms, columns, lambda name: _Col(columns[name]), _EMPTY,
        mmt8_max=mmt8_max, chq_phs_range=chq_phs_range,
    )
    rules, weights = rule_parameters(
        tis_rules, doi, det, ms, tol=tol, partial=True, k_consecutive=k_consecutive,
        earliest_week=earliest_week, enzyme_slot=sp.enzyme_slot, max_slot=sp.max_slot,
        max_low=sp.max_low,
    )

    def new(fill: Any) -> _Col:
        return _Col([fill] * n)

    points = [new(math.nan) for _ in SLOTS]
    changes = [new(math.nan) for _ in range(12)]
    tis = new(math.nan)
    flags = tuple(new(0) for _ in range(8))
    confirmed = new(False)
    status = _score_chunk(
        0, n, False, _Col([0] * n), _Col([0.0, 1.0]), _EMPTY, _EMPTY,
        sp.xs, sp.ev, sp.eu, sp.max_col,
        tuple(tuple(float(v) for v in p) for p in sp.params),
        tuple(float(v) for v in rules), weights,
        tuple(points), (tis, *changes), flags, confirmed,
    )  # fmt: skip
    if status != 0:  # pragma: no cover - two rows, a baseline then a follow-up
        raise AssertionError(f"score_chunk returned {status} for one patient")
    return name_outputs(tis, flags, confirmed, points, changes, True)


def _breakdown(
    res: Mapping[str, Any],
    numeric: Mapping[str, Any],
    population: str,
    measure_set: str,
) -> dict[str, Any]:
    """The per-measure breakdown from the engine outputs of the two rows (lists, or arrays)."""
    rules = load_tis_rules()
    ms = rules.measure_set_for(population, measure_set)
    enzymes = load_scales().enzymes
    code = int(res["enzyme_code"][1])
    enzyme = enzymes[code] if code >= 0 else None
    measures = []
    for slot in SLOTS:
        column = ms.slots[slot]
        src = enzyme if column == "enzyme" else column
        values = numeric.get(src) if src is not None else None
        measures.append(
            {
                "slot": slot,
                "measure": src if src is not None else "enzyme (none given)",
                "label": rules.slots[slot].label,
                "baseline": None if values is None else _num(values[0]),
                "follow_up": None if values is None else _num(values[1]),
                "percent_improvement": _num(res[f"improvement_{slot}"][1]),
                "change_basis": "relative to baseline (x ULN)"
                if column == "enzyme"
                else "percent of scale range",
                "points": _num(res[f"points_{slot}"][1]),
                "max_points": rules.slots[slot].max_points,
            }
        )
    missing = [m["measure"] for m in measures if m["points"] is None]
    complete = not missing
    tis = _num(res["tis"][1])
    category = int(res["tis_category_code"][1])
    doi = int(res["doi_met"][1])
    worse = int(res["worsening"][1])
    return {
        "population": population,
        "measure_set": measure_set,
        "tis": tis if complete else None,
        "tis_partial": None if complete else tis,
        "category": _CATEGORY_LABELS[category] if complete and category >= 0 else None,
        "missing_measures": missing,
        "measures": measures,
        "doi_met": None if doi < 0 else doi == 1,
        "worsening": None if worse < 0 else worse == 1,
        "worsening_clauses": _CLAUSE_LABELS[int(res["clause_code"][1])],
        "citation": rules.citation,
    }


def _num(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return None if math.isnan(f) else f
