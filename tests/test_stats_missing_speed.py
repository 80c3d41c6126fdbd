"""The imputation's fast paths give the same bits as the code they replace (issue 16: the
demo's speed): numpy's correlation matrix, and the whole multiple imputation of the demo's
sensitivity analysis (logged events and pooled estimate)."""

from __future__ import annotations

import numpy as np
import pytest

from myotrial.stats.missing import _corrcoef_columns, remove_lindep


@pytest.mark.parametrize("seed", range(20))
def test_correlation_matrix_bitwise_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(2, 60)), int(rng.integers(2, 7))
    x = rng.normal(size=(n, k)) * rng.uniform(0.1, 100, k)
    if seed % 3 == 0:
        x = np.round(x)  # band-like integer values with ties
    if seed % 4 == 0:
        x[:, -1] = x[:, 0] + x[:, 1]  # an exact linear dependency
    expected = np.corrcoef(x, rowvar=False)
    got = _corrcoef_columns(x)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected, equal_nan=True)
    # also on a strided view, as remove_lindep passes it
    view = x[::2][:, ::-1]
    if view.shape[0] >= 2:
        assert np.array_equal(_corrcoef_columns(view), np.corrcoef(view, rowvar=False),
                              equal_nan=True)


def test_remove_lindep_drops_the_dependent_predictor() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    x = np.column_stack([x, x[:, 0] + x[:, 1]])  # the 4th is the sum of the first two
    y = rng.normal(size=40)
    keep = remove_lindep(x, y, np.ones(40, dtype=bool))
    assert keep.sum() == 3 and not keep.all()
    assert remove_lindep(x[:, :3], y, np.ones(40, dtype=bool)).all()


def test_imputation_same_with_numpy_corrcoef(monkeypatch: pytest.MonkeyPatch) -> None:
    """impute_chained with the fast correlation matrix and with numpy's: identical frames and
    logged events (a dependent and a constant predictor make remove_lindep work)."""
    import pandas as pd

    import myotrial.stats.missing as missing

    rng = np.random.default_rng(7)
    n = 80
    frame = pd.DataFrame({
        "arm": np.repeat(["a", "b"], n // 2),
        "p1": rng.integers(0, 5, n).astype(float),
        "p2": rng.integers(0, 5, n).astype(float),
        "p3": rng.integers(0, 5, n).astype(float),
    })
    frame["p4"] = frame["p1"] + frame["p2"]
    frame["p5"] = 2.0
    for col in ("p1", "p2", "p3"):
        frame.loc[rng.uniform(size=n) < 0.25, col] = np.nan
    kwargs = {"seed": 3, "by": "arm", "predictors": ["p4", "p5"], "n_imputations": 5,
              "n_iter": 4}
    fast = missing.impute_chained(frame, ["p1", "p2", "p3"], **kwargs)
    monkeypatch.setattr(missing, "_corrcoef_columns",
                        lambda x: np.corrcoef(x, rowvar=False))
    slow = missing.impute_chained(frame, ["p1", "p2", "p3"], **kwargs)
    events = missing.logged_events(fast)
    assert len(events) > 0
    pd.testing.assert_frame_equal(events, missing.logged_events(slow))
    for a, b in zip(fast, slow, strict=True):
        pd.testing.assert_frame_equal(a, b)
