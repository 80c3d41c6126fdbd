"""Range rules of the visits table without pandas: the scale ranges, MMT-8 maxima, enzyme and
ULN rules of ``rules/measures.toml`` (docs/data-format.md, visits).

Shared by the table validator (:mod:`myotrial.tables.visits`) and the one-patient calculator
(:mod:`myotrial.scoring.single`), so both say exactly the same thing; kept free of pandas so that
``myotrial tis`` starts quickly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from myotrial.rules import load_scales

__all__ = [
    "DEFAULT_MMT8_MAX",
    "ENZYME_COLUMNS",
    "MAX_VISIT_WEEK",
    "MMT8_ALLOWED_MAX",
    "ULN_COLUMNS",
    "check_measure_ranges",
    "cite",
    "mmt8_max_rule",
    "nan_range",
]


def cite(table: str) -> str:
    """The data-dictionary reference appended to every rule of ``table``."""
    return f"(docs/data-format.md, {table})"


_SCALES = load_scales()
ENZYME_COLUMNS: tuple[str, ...] = _SCALES.enzymes
ULN_COLUMNS: tuple[str, ...] = tuple(f"{e}_uln" for e in ENZYME_COLUMNS)
DEFAULT_MMT8_MAX = float(_SCALES.measures["mmt8"].default_max or 150.0)
#: The MMT-8 maxima accepted (``measures.toml``, ``allowed_max``: 80 unilateral, 150 bilateral).
MMT8_ALLOWED_MAX: tuple[float, ...] = _SCALES.measures["mmt8"].allowed_max
_WHERE = cite("visits")
#: Largest accepted visit_week (plausibility bound: about 19 years of follow-up); a caller that
#: knows the protocol passes its own, smaller ``max_week``.
MAX_VISIT_WEEK = 1000


def nan_range(arr: np.ndarray) -> tuple[float, float]:
    """NaN-ignoring (min, max); (nan, nan) when every value is missing or there is none."""
    if arr.size == 0:
        return math.nan, math.nan
    return float(np.fmin.reduce(arr)), float(np.fmax.reduce(arr))


def _range_rule(lo: float | None, hi: float | str | None, label: str) -> str:
    if hi is None:
        return f"{label} must be >= {lo:g}"
    hi_txt = hi if isinstance(hi, str) else f"{hi:g}"
    return f"{label} must be between {lo:g} and {hi_txt}"


def _allowed_words(values: Sequence[float]) -> str:
    words = [f"{v:g}" for v in values]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def mmt8_max_rule(column: str = "mmt8_max") -> str:
    """The rule broken by an MMT-8 maximum that is not one of :data:`MMT8_ALLOWED_MAX`."""
    return (
        f"{column} must be {_allowed_words(MMT8_ALLOWED_MAX)} (the MMT-8 scale: 80 unilateral, "
        "150 bilateral + axial; measures.toml)"
    )


def check_measure_ranges(
    numeric: Mapping[str, np.ndarray],
    add: Callable[[np.ndarray, str, str], None],
    bad: Mapping[str, np.ndarray | None] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> None:
    """Apply the scale-range, MMT-8 maximum, enzyme and ULN rules of ``measures.toml`` to
    numeric columns.

    ``numeric`` maps visits-table columns to float arrays (NaN = missing; ``mmt8_max`` filled
    in); ``add(mask, column, rule)`` receives every violation (only non-empty masks);
    ``bad`` optionally gives, per column, the cells already reported as unparseable (so a bad
    ULN is not also reported as missing) and ``ranges`` the NaN-ignoring (min, max) of columns
    already known. Shared by the table validator and the single-patient calculator so both say
    exactly the same thing. Each column is first checked with its min and max; a per-row mask is
    computed only when that fails.
    """
    already = bad or {}
    known = dict(ranges or {})

    def _lo_hi(name: str) -> tuple[float, float]:
        if name not in known:
            known[name] = nan_range(numeric[name])
        return known[name]

    for name, scale in _SCALES.measures.items():
        if scale.max_column is not None and scale.allowed_max and scale.max_column in numeric:
            mx = numeric[scale.max_column]
            lo_m, hi_m = _lo_hi(scale.max_column)
            if not (math.isnan(lo_m) or (lo_m == hi_m and lo_m in scale.allowed_max)):
                wrong = ~np.isnan(mx) & ~np.isin(mx, scale.allowed_max)
                if wrong.any():
                    add(wrong, scale.max_column, f"{mmt8_max_rule(scale.max_column)} {_WHERE}")
        if name not in numeric:
            continue
        v = numeric[name]
        vmin, vmax = _lo_hi(name)
        if math.isnan(vmin):
            continue  # every value missing
        lo = scale.min if scale.min is not None else -np.inf
        if scale.max_column is not None:
            hi_arr = numeric[scale.max_column]
            if vmin >= lo and vmax <= _lo_hi(scale.max_column)[0]:
                continue
            with np.errstate(invalid="ignore"):
                out = ~np.isnan(v) & ((v < lo) | (v > hi_arr))
            for hi in np.unique(hi_arr[out]):
                same = out & (hi_arr == hi) if not np.isnan(hi) else out & np.isnan(hi_arr)
                add(same, name, _range_rule(lo, f"{hi:g} ({scale.max_column})", scale.label))
            continue
        hi = scale.max if scale.max is not None else np.inf
        if vmin >= lo and vmax <= hi:
            continue
        with np.errstate(invalid="ignore"):
            out = ~np.isnan(v) & ((v < lo) | (v > hi))
        add(out, name, _range_rule(lo, scale.max, scale.label))

    for enz, uln in zip(ENZYME_COLUMNS, ULN_COLUMNS, strict=True):
        u = numeric.get(uln)
        if enz in numeric:
            v = numeric[enz]
            vmin, vmax = _lo_hi(enz)
            if vmin < 0 or math.isinf(vmax):
                add(
                    ~np.isnan(v) & ((v < 0) | np.isinf(v)),
                    enz,
                    f"{enz} must be a finite number >= 0 (U/L)",
                )
            if not math.isnan(vmin):  # some enzyme value is given
                if u is None:
                    given = ~np.isnan(v)
                    no_uln = given
                elif np.isnan(u).any():
                    no_uln = ~np.isnan(v) & np.isnan(u)
                    was_bad = already.get(uln)
                    if was_bad is not None:
                        no_uln &= ~was_bad
                else:
                    no_uln = None
                if no_uln is not None and no_uln.any():
                    add(
                        no_uln,
                        uln,
                        f"{uln} (upper limit of normal) is required when {enz} is given",
                    )
        if u is not None:
            umin, umax = _lo_hi(uln)
            if umin <= 0 or math.isinf(umax):
                add(
                    ~np.isnan(u) & ((u <= 0) | np.isinf(u)),
                    uln,
                    f"{uln} must be a finite number > 0",
                )
