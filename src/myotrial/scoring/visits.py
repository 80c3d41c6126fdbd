"""``score_visits``: the table API of the scoring engine (raw visits in, scored visits out).

Output columns follow ``shared/reference/data-format.md`` (scored visits). One row for every
input row, in input order, with every input column passed through.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

from myotrial.errors import InputValidationError
from myotrial.rules import SLOTS, load_scales, load_tis_rules
from myotrial.scoring.engine import (
    CATEGORY_LABELS,
    CLAUSE_LABELS,
    SMALL_INPUT_ROWS,
    ScoringConfig,
    score_arrays,
)
from myotrial.scoring.subject import missing_reason
from myotrial.tables.visits import _PARALLEL_ROWS, prepare_visits_checked

__all__ = ["SCORED_COLUMNS", "score_visits"]

#: Columns added by :func:`score_visits` (the data-format.md contract), in order.
SCORED_COLUMNS: tuple[str, ...] = (
    "tis",
    "tis_category",
    "tis_missing_reason",
    *(f"points_{s}" for s in SLOTS),
    "enzyme_used",
    "doi_met",
    "worsening",
    "worsening_clauses",
    "cd_confirmed",
)


def _missing_reasons(
    codes: np.ndarray,
    enzyme_code: np.ndarray,
    slot_columns: list[str],
    enzymes: tuple[str, ...],
    partial: bool,
    show: np.ndarray | None,
) -> pd.Categorical:
    """``tis_missing_reason``: text for each (missing bit code, enzyme) pair, composed once per
    distinct pair; rows where ``show`` is False (and empty texts) are missing. A categorical
    column built from codes (no string per row); its categories are the texts present, sorted.
    Large tables take two compiled passes (the pairs present, then the codes, written in the
    categorical's own code type: no conversion copy)."""
    width = len(enzymes) + 1
    n = codes.size
    compiled = n > SMALL_INPUT_ROWS
    top = int(codes.max()) + 2 if n else 1
    if n and (int(codes.min()) < -1 or int(enzyme_code.min()) < -1 or enzyme_code.max() >= width):
        raise ValueError("missing or enzyme codes out of range")
    key = np.empty(0, dtype=np.int32)
    if compiled:
        from myotrial.scoring import _kernel

        seen = np.zeros(top * width, dtype=bool)
        _kernel.reason_pairs(codes, enzyme_code, width, seen)
        present = np.flatnonzero(seen)
    else:
        key = (codes.astype(np.int32) + 1) * width + (enzyme_code.astype(np.int32) + 1)
        present = np.flatnonzero(np.bincount(key)) if n else np.empty(0, dtype=np.int64)
    texts: list[str | None] = []
    for u in present.tolist():
        code, enz = u // width - 1, u % width
        texts.append(missing_reason(code, enz - 1, slot_columns, enzymes, partial))
    labels = sorted({t for t in texts if t})
    position = {t: i for i, t in enumerate(labels)}
    code_type = np.int8 if len(labels) < 127 else np.int16  # pandas' code type for as many
    lookup = np.full(top * width, -1, dtype=code_type)
    lookup[present] = [position[t] if t else -1 for t in texts]
    if compiled:
        index = np.empty(n, dtype=code_type)
        mask = np.empty(0, dtype=bool) if show is None else np.ascontiguousarray(show)
        _kernel.reason_codes(codes, enzyme_code, width, lookup, mask, index)
    else:
        index = lookup[key]
        if show is not None:
            index[~show] = -1  # -> missing
    return _categorical(index, labels)


def _categorical(codes: np.ndarray, labels: list[str]) -> pd.Categorical:
    """The categorical column whose row i is ``labels[codes[i]]`` (-1 = missing), built from
    the codes (no Python string per row). Text categories keep the table's string dtype."""
    return pd.Categorical.from_codes(codes, dtype=_text_categories(tuple(labels)))


@functools.lru_cache(maxsize=64)
def _text_categories(labels: tuple[str, ...]) -> pd.CategoricalDtype:
    """The categorical type of ``labels`` (made once: the fixed label sets recur every call)."""
    return pd.CategoricalDtype(pd.Index(list(labels), dtype="str"))


def score_visits(
    visits: pd.DataFrame,
    *,
    population: str = "adult",
    measure_set: str = "imacs",
    partial: bool = False,
    mmt8_max: float | None = None,
    chq_phs_range: float | None = None,
    earliest_week: float | None = None,
    consecutive_visits: int | None = None,
    details: bool = False,
    max_week: int | None = None,
) -> pd.DataFrame:
    """Validate and score a visits table: TIS, category, DOI, worsening, confirmed deterioration.

    Parameters
    ----------
    visits : the canonical visits table (data-format.md); never modified.
    population : ``"adult"`` (categories 20/40/60) or ``"juvenile"`` (30/45/70).
    measure_set : ``"imacs"`` (adult or juvenile) or ``"printo"`` (juvenile).
    partial : score the measures present when some are missing (PROJECT RULE default False:
        TIS is blank and ``tis_missing_reason`` names the missing measures).
    mmt8_max : MMT-8 maximum where a row has no ``mmt8_max`` (default 150, ProDERM).
    chq_phs_range : CHQ-PhS scale range (required with the PRINTO set: not published).
    earliest_week : earliest confirming visit for confirmed deterioration (default 8).
    consecutive_visits : consecutive worsening visits needed (default 2).
    max_week : the last visit week allowed (a protocol's extension end); later weeks are
        problems. Default: the table contract's plausibility bound.
    details : also return ``pchg_<slot>`` (absolute % improvement used for points),
        ``rchg_<slot>`` (relative % improvement) and ``tis_partial``.

    Returns
    -------
    pandas.DataFrame
        The validated input columns plus :data:`SCORED_COLUMNS`.

    Raises
    ------
    InputValidationError
        Every problem in the input, located (see :func:`~myotrial.tables.validate_visits`).

    Examples
    --------
    >>> import pandas as pd
    >>> visits = pd.DataFrame({
    ...     "subject_id": ["p1", "p1"], "visit_week": [0, 16],
    ...     "pga": [6.0, 2.0], "ptga": [6.0, 3.0], "extramuscular": [4.0, 1.0],
    ...     "mmt8": [120.0, 138.0], "haq": [1.5, 0.75], "ck": [1200.0, 300.0],
    ...     "ck_uln": [200.0, 200.0]})
    >>> scored = score_visits(visits)
    >>> float(scored.loc[1, "tis"]), scored.loc[1, "tis_category"]
    (75.0, 'major')

    PGA 6 -> 2 cm is exactly 40 % of the scale: on the edge, so the lower band (17.5 points).
    """
    tis_rules = load_tis_rules()
    config = ScoringConfig(
        population=population,
        measure_set=measure_set,
        partial=partial,
        mmt8_max=mmt8_max,
        chq_phs_range=chq_phs_range,
        earliest_week=earliest_week,
        consecutive_visits=consecutive_visits,
    )
    ms = tis_rules.measure_set_for(population, measure_set)
    scales = load_scales()
    prepared = prepare_visits_checked(  # large tables: the compiled checks (numba is loaded)
        visits, mmt8_max=mmt8_max, max_week=max_week, compiled=len(visits) >= _PARALLEL_ROWS
    )
    v, index = prepared.table, prepared.index
    needed = [c for c in ms.slots.values() if c != "enzyme"]
    missing_cols = [c for c in needed if c not in v.columns]
    if "enzyme" in ms.slots.values() and not any(e in v.columns for e in scales.enzymes):
        missing_cols.append("an enzyme column (" + ", ".join(scales.enzymes) + ")")
    if missing_cols and not partial:
        raise InputValidationError(
            pd.DataFrame(
                [
                    {
                        "table": "visits",
                        "column": c,
                        "rule": f"column required by the {ms.label} measure set is missing "
                        "(use partial scoring to score without it)",
                    }
                    for c in missing_cols
                ]
            ),
            "visits",
        )
    numeric = {
        c: v[c].to_numpy(dtype=np.float64)
        for c in v.columns
        if c in scales.measures
        or c == "mmt8_max"
        or c in scales.enzymes
        or c in {f"{e}_uln" for e in scales.enzymes}
    }
    res = score_arrays(index.codes, index.weeks, numeric, config, details=details)

    out: dict[str, Any] = {}  # new columns, added to the validated frame in one step
    out["tis"] = res["tis"]
    slot_cols = [ms.slots[s] for s in SLOTS]
    show = None
    if partial:
        show = np.asarray(res["tis_partial"]) | np.isnan(np.asarray(res["tis"]))
    reason_args = (
        np.asarray(res["tis_missing_code"]),
        np.asarray(res["enzyme_code"]),
        slot_cols,
        scales.enzymes,
        partial,
        show,
    )
    # large tables: the missing reasons (compiled passes) on a second core beside the others
    reasons = None
    if len(v) > SMALL_INPUT_ROWS:
        from myotrial.scoring import _kernel

        reasons = _kernel.submit(_missing_reasons, *reason_args)
    cat_codes = np.asarray(res["tis_category_code"])
    out["tis_category"] = _categorical(cat_codes, list(CATEGORY_LABELS))
    out["tis_missing_reason"] = None  # filled below (the column order of SCORED_COLUMNS)
    for s in SLOTS:
        out[f"points_{s}"] = res[f"points_{s}"]
    enz_labels = list(scales.enzymes)
    out["enzyme_used"] = _categorical(
        np.asarray(res["enzyme_code"])
        if "enzyme" in ms.slots.values()
        else np.full(len(v), -1, dtype=np.int8),
        enz_labels,
    )
    out["doi_met"] = _to_boolean(np.asarray(res["doi_met"]))
    out["worsening"] = _to_boolean(np.asarray(res["worsening"]))
    # clause code 0 (no clause met) -> missing; otherwise e.g. "A;C" (every combination a category)
    out["worsening_clauses"] = _categorical(
        np.asarray(res["clause_code"]) - np.int8(1), list(CLAUSE_LABELS[1:])
    )
    out["cd_confirmed"] = np.asarray(res["cd_confirmed"], dtype=bool)
    if details:
        for s in SLOTS:
            out[f"pchg_{s}"] = res[f"improvement_{s}"]
            out[f"rchg_{s}"] = res[f"relative_{s}"]
        out["tis_partial"] = np.asarray(res["tis_partial"], dtype=bool)
    out["tis_missing_reason"] = (
        reasons.result() if reasons is not None else _missing_reasons(*reason_args)
    )
    added = pd.DataFrame(out, index=v.index, copy=False)  # the new arrays, not copied
    again = [c for c in added.columns if c in v.columns]  # scored columns given as input
    return pd.concat([v.drop(columns=again) if again else v, added], axis=1)


def _to_boolean(values: np.ndarray) -> pd.arrays.BooleanArray:
    """1 / 0 / -1 (unknown) -> nullable boolean."""
    return pd.arrays.BooleanArray(values == 1, values < 0)
