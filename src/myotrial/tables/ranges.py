"""Range rules of the visits table without pandas: the scale ranges, MMT-8 maxima, enzyme and
ULN rules of ``rules/measures.toml`` (docs/data-format.md, visits).

Shared by the table validator (:mod:`myotrial.tables.visits`, :func:`check_measure_ranges` on
numpy columns) and the one-patient calculator (:mod:`myotrial.scoring.single`,
:func:`check_measure_values`, its twin on plain lists), so both say exactly the same thing
(``tests/test_scoring_single_equivalence.py`` checks the twins agree). Importing this module loads
neither pandas nor numpy, so that ``myotrial tis`` starts quickly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from myotrial.rules import load_scales

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT_MMT8_MAX",
    "ENZYME_COLUMNS",
    "MAX_SUBJECT_ID_LENGTH",
    "MAX_VISIT_WEEK",
    "MMT8_ALLOWED_MAX",
    "ULN_COLUMNS",
    "check_measure_ranges",
    "check_measure_values",
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
#: Longest subject_id (docs/data-format.md, conventions).
MAX_SUBJECT_ID_LENGTH = 64


def nan_range(arr: np.ndarray) -> tuple[float, float]:
    """NaN-ignoring (min, max); (nan, nan) when every value is missing or there is none."""
    import numpy as np

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
    complete: Collection[str] = (),
) -> None:
    """Apply the scale-range, MMT-8 maximum, enzyme and ULN rules of ``measures.toml`` to
    numeric columns.

    ``numeric`` maps visits-table columns to float arrays (NaN = missing; ``mmt8_max`` filled
    in); ``add(mask, column, rule)`` receives every violation (only non-empty masks);
    ``bad`` optionally gives, per column, the cells already reported as unparseable (so a bad
    ULN is not also reported as missing) and ``ranges`` the NaN-ignoring (min, max) of columns
    already known, ``complete`` the columns known to have no NaN (not scanned for one). Shared
    by the table validator and the single-patient calculator so both say
    exactly the same thing. Each column is first checked with its min and max; a per-row mask is
    computed only when that fails.
    """
    import numpy as np

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
                elif uln not in complete and np.isnan(u).any():
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


def _plain_range(values: Sequence[float]) -> tuple[float, float]:
    """:func:`nan_range` of a plain list."""
    present = [v for v in values if not math.isnan(v)]
    return (min(present), max(present)) if present else (math.nan, math.nan)


def check_measure_values(
    numeric: Mapping[str, Sequence[float]],
    add: Callable[[list[int], str, str], None],
) -> None:
    """:func:`check_measure_ranges` for a few rows held in plain lists (one patient), without numpy.

    The same rules in the same order with the same text: ``add(rows, column, rule)`` receives the
    violating row indices (ascending; possibly empty where the array version passes an all-false
    mask) instead of a mask. ``numeric`` as there (float lists, NaN = missing, ``mmt8_max``
    filled in); no ``bad``/``ranges`` (the calculator has neither).
    """
    nan, inf = math.isnan, math.isinf

    for name, scale in _SCALES.measures.items():
        if scale.max_column is not None and scale.allowed_max and scale.max_column in numeric:
            mx = numeric[scale.max_column]
            lo_m, hi_m = _plain_range(mx)
            if not (nan(lo_m) or (lo_m == hi_m and lo_m in scale.allowed_max)):
                wrong = [i for i, m in enumerate(mx) if not nan(m) and m not in scale.allowed_max]
                if wrong:
                    add(wrong, scale.max_column, f"{mmt8_max_rule(scale.max_column)} {_WHERE}")
        if name not in numeric:
            continue
        v = numeric[name]
        vmin, vmax = _plain_range(v)
        if nan(vmin):
            continue  # every value missing
        lo = scale.min if scale.min is not None else -math.inf
        if scale.max_column is not None:
            hi_col = numeric[scale.max_column]
            if vmin >= lo and vmax <= _plain_range(hi_col)[0]:
                continue
            out = [not nan(x) and (x < lo or x > h) for x, h in zip(v, hi_col, strict=True)]
            his = [h for h, o in zip(hi_col, out, strict=True) if o]
            unique = sorted({h for h in his if not nan(h)})
            if any(map(nan, his)):
                unique.append(math.nan)  # np.unique's order: ascending, one NaN last
            for hi in unique:
                same = [
                    i for i, (o, h) in enumerate(zip(out, hi_col, strict=True))
                    if o and (nan(h) if nan(hi) else h == hi)
                ]  # fmt: skip
                add(same, name, _range_rule(lo, f"{hi:g} ({scale.max_column})", scale.label))
            continue
        hi_fixed = scale.max if scale.max is not None else math.inf
        if vmin >= lo and vmax <= hi_fixed:
            continue
        add(
            [i for i, x in enumerate(v) if not nan(x) and (x < lo or x > hi_fixed)],
            name,
            _range_rule(lo, scale.max, scale.label),
        )

    for enz, uln in zip(ENZYME_COLUMNS, ULN_COLUMNS, strict=True):
        u = numeric.get(uln)
        if enz in numeric:
            v = numeric[enz]
            vmin, vmax = _plain_range(v)
            if vmin < 0 or inf(vmax):
                add(
                    [i for i, x in enumerate(v) if not nan(x) and (x < 0 or inf(x))],
                    enz,
                    f"{enz} must be a finite number >= 0 (U/L)",
                )
            if not nan(vmin):  # some enzyme value is given
                if u is None:
                    no_uln = [i for i, x in enumerate(v) if not nan(x)]
                elif any(map(nan, u)):
                    no_uln = [i for i, x in enumerate(v) if not nan(x) and nan(u[i])]
                else:
                    no_uln = []
                if no_uln:
                    rule = f"{uln} (upper limit of normal) is required when {enz} is given"
                    add(no_uln, uln, rule)
        if u is not None:
            umin, umax = _plain_range(u)
            if umin <= 0 or inf(umax):
                add(
                    [i for i, x in enumerate(u) if not nan(x) and (x <= 0 or inf(x))],
                    uln,
                    f"{uln} must be a finite number > 0",
                )
