"""Boundary validation shared by the stats modules (ValueError naming argument and value)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]


def check_conf_level(conf_level: float) -> float:
    """Return ``conf_level`` as float; must be strictly between 0 and 1."""
    if isinstance(conf_level, bool) or not isinstance(conf_level, (int, float)):
        raise ValueError(f"conf_level={conf_level!r} must be a number strictly between 0 and 1")
    value = float(conf_level)
    if not 0.0 < value < 1.0:
        raise ValueError(f"conf_level={conf_level!r} must be strictly between 0 and 1")
    return value


def check_count(name: str, value: Any) -> int:
    """Return ``value`` as a non-negative int (integral floats accepted)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}={value!r} must be a non-negative whole number")
    if not math.isfinite(float(value)) or float(value) != int(value) or value < 0:
        raise ValueError(f"{name}={value!r} must be a non-negative whole number")
    return int(value)


def check_binomial(
    x_name: str, x: Any, n_name: str, n: Any, *, allow_empty: bool = False
) -> tuple[int, int]:
    """Validate one arm's responders and size: 0 <= x <= n, n > 0 unless ``allow_empty``."""
    xi = check_count(x_name, x)
    ni = check_count(n_name, n)
    if ni == 0 and not allow_empty:
        raise ValueError(f"{n_name}={n!r}: an arm needs at least one patient")
    if xi > ni:
        raise ValueError(f"{x_name}={x!r} exceeds {n_name}={n!r}")
    return xi, ni


def check_counts_vector(name: str, values: Any) -> list[Any]:
    """Turn a scalar or sequence of counts into a list (for stratified inputs)."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name}={values!r} must be a sequence of counts")
    if isinstance(values, (Sequence, np.ndarray, pd.Series)):
        return list(values)
    return [values]


def check_numeric_array(name: str, values: Any, *, min_size: int = 1) -> FloatArray:
    """1-D float array without missing or infinite values, of at least ``min_size``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must contain numbers only: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"{name} has missing or infinite values at positions {idx}")
    if arr.size < min_size:
        raise ValueError(f"{name} needs at least {min_size} values, got {arr.size}")
    return arr


def check_columns(frame: Any, name: str, columns: Sequence[str]) -> None:
    """``frame`` is a DataFrame holding every column in ``columns``."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}")
