"""Compiled scoring passes (numba), cached on disk; imported only when a table is scored.

The engine's arithmetic is written once, in plain Python, in :mod:`myotrial.scoring._rows`;
this module compiles copies of those functions whose globals point at the compiled helpers and
(so the plain module stays importable, and runnable, without numba). Passes: one fused pass over
visits sorted by subject and week (blocks of whole subjects on threads, the kernels releasing
the GIL: identical to a serial pass), or, for rows in any other order, a baseline pass, a fused
pass over blocks of rows and a confirmation pass in subject/week order. Outputs are allocated by the
caller with numpy (huge pages: far cheaper first touch than allocation inside compiled code).

The percent-change helpers (``absolute_improvement`` ...) back :mod:`myotrial.scoring.change`.
"""

from __future__ import annotations

import math
import os
import types
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numba as nb
import numpy as np

from myotrial.scoring import _rows

__all__ = [
    "absolute_improvement",
    "band_points",
    "baseline_rows",
    "block_bounds",
    "choose_enzymes",
    "confirm_deterioration",
    "reason_codes",
    "reason_pairs",
    "relative_improvement",
    "run_blocks",
    "score_chunk",
    "submit",
    "threads",
]

T = TypeVar("T")

_JIT: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}
_INLINE: dict[str, Any] = {**_JIT, "inline": "always"}

#: ``_rows`` imports no numpy (one patient runs it on plain lists); its compiled copies get it here.
_GLOBALS: dict[str, Any] = {**vars(_rows), "np": np}


def _compile(name: str, **options: Any) -> Any:
    """Compile a copy of ``_rows.<name>`` whose globals resolve to the compiled functions."""
    f = getattr(_rows, name)
    copy = types.FunctionType(f.__code__, _GLOBALS, f.__name__, f.__defaults__, f.__closure__)
    copy.__qualname__, copy.__module__, copy.__doc__ = f.__qualname__, f.__module__, f.__doc__
    compiled = nb.njit(**options)(copy)
    _GLOBALS[name] = compiled
    return compiled


for _helper in ("_count", "_div", "_slot", "_pick", "_ratio", "enzyme_choice"):
    _compile(_helper, **_INLINE)
score_chunk = _compile("score_chunk", **_JIT)
choose_enzymes = _compile("choose_enzymes", **_JIT)
block_bounds = _compile("block_bounds", **_JIT)
baseline_rows = _compile("baseline_rows", **_JIT)
confirm_deterioration = _compile("confirm_deterioration", **_JIT)

_POOL: dict[int, ThreadPoolExecutor] = {}  # by process id: a forked child makes its own


def threads() -> int:
    """Cores this process may use (blocks of subjects are scored on that many threads)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _pool() -> ThreadPoolExecutor:
    pid = os.getpid()
    if pid not in _POOL:  # a pool inherited through fork has no threads in this process
        _POOL.clear()
        _POOL[pid] = ThreadPoolExecutor(max_workers=threads(), thread_name_prefix="myotrial")
    return _POOL[pid]


def run_blocks(kernel: Any, bounds: np.ndarray, *args: Any) -> int:
    """``kernel(lo, hi, *args)`` for each block of ``bounds`` (the kernels release the GIL, so
    blocks run on threads in parallel); returns the largest status. Blocks write disjoint rows,
    so the result is identical to one serial call."""
    blocks = [(int(bounds[k]), int(bounds[k + 1])) for k in range(bounds.size - 1)]
    if len(blocks) == 1:
        return int(kernel(blocks[0][0], blocks[0][1], *args))
    futures = [_pool().submit(kernel, lo, hi, *args) for lo, hi in blocks]
    return max(int(f.result()) for f in futures)


def submit(fn: Callable[..., T], *args: Any) -> Future[T] | None:
    """``fn(*args)`` on the engine's threads when this process may use more than one core
    (``None``: call it here)."""
    return _pool().submit(fn, *args) if threads() > 1 else None


@nb.njit(**_JIT)
def reason_pairs(missing: Any, enzyme: Any, width: int, present: Any) -> None:
    """``present[(missing[i] + 1) * width + enzyme[i] + 1] = True``: the distinct (missing code,
    enzyme) pairs of ``tis_missing_reason`` in one pass (the caller checks the codes' range)."""
    for i in range(missing.size):
        present[(np.int64(missing[i]) + 1) * width + np.int64(enzyme[i]) + 1] = True


@nb.njit(**_JIT)
def reason_codes(missing: Any, enzyme: Any, width: int, lookup: Any, show: Any, out: Any) -> None:
    """``out[i] = lookup[pair key of row i]`` (see :func:`reason_pairs`), -1 where ``show``
    (if not empty) is False."""
    masked = show.size > 0
    for i in range(missing.size):
        code = lookup[(np.int64(missing[i]) + 1) * width + np.int64(enzyme[i]) + 1]
        out[i] = -1 if masked and not show[i] else code


@nb.njit(**_INLINE)
def absolute_improvement(
    baseline: float, follow_up: float, scale_range: float, higher_is_better: bool
) -> float:
    """Percent of the scale range, positive = better (NaN if either value is missing)."""
    diff = follow_up - baseline if higher_is_better else baseline - follow_up
    return diff / scale_range * 100.0


@nb.njit(**_INLINE)
def relative_improvement(baseline: float, follow_up: float, higher_is_better: bool) -> float:
    """Percent of the baseline, positive = better; zero baseline -> 0 if unchanged, +inf if
    better, -inf if worse (division by zero under the numpy error model); NaN if missing."""
    diff = follow_up - baseline if higher_is_better else baseline - follow_up
    return 0.0 if diff == 0.0 else diff / abs(baseline) * 100.0


@nb.njit(**_INLINE)
def band_points(improvement: float, edges: np.ndarray, points: np.ndarray, tol: float) -> float:
    """Points of the half-open band ``(lower, upper]`` holding ``improvement`` (NaN -> NaN)."""
    if math.isnan(improvement):
        return math.nan
    band = 0
    for j in range(edges.size):
        band += improvement > edges[j] + tol
    return float(points[band])


@nb.vectorize(["float64(float64, float64, float64, boolean)"], cache=True)
def absolute_improvement_ufunc(
    baseline: float, follow_up: float, scale_range: float, higher_is_better: bool
) -> float:
    return absolute_improvement(baseline, follow_up, scale_range, higher_is_better)


@nb.vectorize(["float64(float64, float64, boolean)"], cache=True)
def relative_improvement_ufunc(baseline: float, follow_up: float, higher_is_better: bool) -> float:
    return relative_improvement(baseline, follow_up, higher_is_better)


@nb.njit(**_JIT)
def band_points_array(
    improvement: np.ndarray, edges: np.ndarray, points: np.ndarray, tol: float
) -> np.ndarray:
    out = np.empty(improvement.size)
    flat = improvement.ravel()
    for i in range(flat.size):
        out[i] = band_points(flat[i], edges, points, tol)
    return out.reshape(improvement.shape)
