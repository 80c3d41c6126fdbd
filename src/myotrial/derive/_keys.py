"""Keys shared by the derivations: the scored visits' subjects, factorised once, and the
distinct combinations of values a reason sentence is made of.

Reason sentences are built once per distinct input, then spread to every row.

ADSL's ``STATUS_REASON`` and ADRS's ``REASON`` are sentences made from a few values of each
row (status, weeks, arm, TIS, a recorded reason). Trials of 10^5 subjects repeat a few thousand
distinct combinations, so the sentence builders run on one row per distinct combination
(:func:`distinct_rows`) and the others take its result: the same text as building it for every
row, without string arithmetic on every row (issue 11: derivation at scale).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["distinct_rows", "subject_positions"]


def _codes(values: object) -> tuple[npt.NDArray[np.int64], int]:
    """Integer codes of ``values`` (missing values get a code of their own) and their count.

    Floats are keyed by their bit pattern, so that values a text formatter writes differently
    (``0.0`` and ``-0.0``) stay apart; every NaN is one missing value."""
    arr = np.asarray(values) if not isinstance(values, pd.Series) else values.to_numpy()
    if arr.dtype.kind == "f":
        f = arr.astype(np.float64)
        f = np.where(np.isnan(f), np.nan, f)
        arr = f.view(np.int64)
    elif arr.dtype.kind == "b":
        return arr.astype(np.int64), 2
    codes, uniques = pd.factorize(pd.Series(arr, copy=False), use_na_sentinel=False)
    return np.asarray(codes, dtype=np.int64), max(len(uniques), 1)


def distinct_rows(
    keys: Mapping[str, object],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """One representative row per distinct combination of ``keys`` (equal-length arrays or
    Series) and, for every row, the index of its combination: ``(first, inverse)`` with
    ``rows == first[inverse]`` up to equal keys."""
    columns = list(keys.values())
    n = len(np.asarray(columns[0])) if columns else 0
    combined = np.zeros(n, dtype=np.int64)
    size = 1
    for col in columns:
        codes, k = _codes(col)
        if size * k >= 2**62:  # re-number the combinations so far before they overflow
            combined = np.unique(combined, return_inverse=True)[1].astype(np.int64)
            size = int(combined.max()) + 1 if n else 1
        combined = combined * k + codes
        size *= k
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    return first.astype(np.intp), inverse.reshape(-1).astype(np.intp)


def subject_positions(scored: pd.DataFrame, ids: pd.Index) -> npt.NDArray[np.intp]:
    """Each scored row's position in ``ids`` (-1: not there); the subject ids are factorised
    once and only the distinct ones looked up."""
    codes, uniques = pd.factorize(scored["subject_id"])
    where = np.asarray(ids.get_indexer(pd.Index(uniques)), dtype=np.intp)
    return where[np.asarray(codes, dtype=np.intp)] if len(codes) else np.zeros(0, np.intp)
