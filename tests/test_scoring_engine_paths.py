"""The engine's paths agree bit for bit: compiled and uncompiled (same source, ``_rows``),
sorted (fused, blocks on threads) and any row order (general path), caller buffers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import numpy.typing as npt
import pytest

from myotrial.scoring import ScoringConfig, score_arrays
from myotrial.scoring import _kernel as kern

CONFIGS = [
    ScoringConfig(),
    ScoringConfig(partial=True),
    ScoringConfig(population="juvenile", partial=True),
    ScoringConfig(population="juvenile", measure_set="printo", chq_phs_range=60.0, partial=True),
    ScoringConfig(earliest_week=0, consecutive_visits=1, mmt8_max=80.0),
]


def _trial(
    n_sub: int, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], dict[str, npt.NDArray[np.float64]]]:
    """Visits sorted by subject and week; values on (and off) band edges, zeros, NaNs."""
    rng = np.random.default_rng(seed)
    per = rng.integers(1, 9, n_sub)
    codes = np.repeat(np.arange(n_sub, dtype=np.int64), per)
    weeks = np.concatenate(
        [np.r_[0, np.sort(rng.choice(np.arange(1, 60), k - 1, replace=False))] for k in per]
    ).astype(np.float64)
    n = codes.size

    def col(lo: float, hi: float, step: float) -> npt.NDArray[np.float64]:
        x = np.round(rng.uniform(lo, hi, n) / step) * step
        x[rng.random(n) < 0.05] = np.nan
        x[rng.random(n) < 0.03] = lo
        return x

    cols = {
        "pga": col(0, 10, 0.5),
        "ptga": col(0, 10, 0.5),
        "extramuscular": col(0, 10, 0.5),
        "mmt8": col(0, 150, 1),
        "mmt8_max": np.where(rng.random(n) < 0.5, 150.0, 80.0),
        "haq": col(0, 3, 0.125),
        "chaq": col(0, 3, 0.125),
        "ck": col(0, 3000, 10),
        "ck_uln": np.full(n, 200.0),
        "ldh": col(0, 900, 5),
        "ldh_uln": np.full(n, 250.0),
        "aldolase": col(0, 20, 0.5),
        "aldolase_uln": np.where(rng.random(n) < 0.5, 7.6, 8.1),
        "cmas": col(0, 52, 1),
        "das": col(0, 20, 1),
        "chq_phs": col(0, 60, 1),
    }
    return codes, weeks, cols


def _same(a: dict[str, npt.NDArray[np.generic]], b: dict[str, npt.NDArray[np.generic]]) -> None:
    assert set(a) == set(b)
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.dtype == y.dtype, k
        if x.dtype.kind == "f":  # bit for bit, NaN included
            assert np.array_equal(x.view(np.int64), y.view(np.int64)), k
        else:
            assert np.array_equal(x, y), k


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("shuffle", [False, True])
def test_compiled_and_uncompiled_agree(config: ScoringConfig, shuffle: bool) -> None:
    codes, weeks, cols = _trial(60, seed=7)
    if shuffle:
        p = np.random.default_rng(1).permutation(codes.size)
        codes, weeks, cols = codes[p], weeks[p], {k: v[p] for k, v in cols.items()}
    fast = score_arrays(codes, weeks, cols, config, details=True, compiled=True)
    slow = score_arrays(codes, weeks, cols, config, details=True, compiled=False)
    _same(fast, slow)


@pytest.mark.parametrize("config", CONFIGS[:2])
def test_row_order_and_blocks_do_not_change_results(
    config: ScoringConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes, weeks, cols = _trial(40_000, seed=3)  # > 65,536 rows: several blocks
    assert codes.size > 2 * 65_536
    blocks = score_arrays(codes, weeks, cols, config, details=True)
    p = np.random.default_rng(2).permutation(codes.size)
    shuffled = score_arrays(codes[p], weeks[p], {k: v[p] for k, v in cols.items()}, config)
    inverse = np.argsort(p)
    _same({k: np.asarray(v)[inverse] for k, v in shuffled.items()},
          {k: v for k, v in blocks.items() if k in shuffled})  # fmt: skip
    monkeypatch.setattr(kern, "block_bounds", lambda c, n: np.array([0, c.size]))
    _same(score_arrays(codes, weeks, cols, config, details=True), blocks)


def test_caller_buffers_are_filled_and_checked() -> None:
    codes, weeks, cols = _trial(500, seed=4)
    ref = score_arrays(codes, weeks, cols)
    out = {k: np.full_like(v, 0) for k, v in ref.items()}
    got = score_arrays(codes, weeks, cols, out=out)
    for k in ref:
        assert got[k] is out[k]
    _same(got, ref)
    with pytest.raises(ValueError, match="out\\['tis'\\]"):
        score_arrays(codes, weeks, cols, out={"tis": np.empty(codes.size, dtype=np.float32)})


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("shuffle", [False, True])
def test_subject_without_baseline_is_an_error(compiled: bool, shuffle: bool) -> None:
    codes, weeks, cols = _trial(50, seed=5)
    keep = ~((codes == 3) & (weeks == 0))
    codes, weeks, cols = codes[keep], weeks[keep], {k: v[keep] for k, v in cols.items()}
    if shuffle:
        p = np.random.default_rng(0).permutation(codes.size)
        codes, weeks, cols = codes[p], weeks[p], {k: v[p] for k, v in cols.items()}
    with pytest.raises(ValueError, match=r"without a baseline \(week 0\) row, codes \[3\]"):
        score_arrays(codes, weeks, cols, compiled=compiled)


def test_one_patient_does_not_load_numba() -> None:
    code = (
        "import sys\n"
        "from myotrial.scoring.single import score_patient\n"
        "r = score_patient({'pga': 6, 'ptga': 6, 'extramuscular': 4, 'mmt8': 120, 'haq': 1.5,"
        " 'ck': 1200}, {'pga': 2, 'ptga': 3, 'extramuscular': 1, 'mmt8': 138, 'haq': 0.75,"
        " 'ck': 300}, ulns={'ck': 200})\n"
        "assert r['tis'] == 75.0, r\n"
        "print('numba' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("compiled", [False, True])
def test_baseline_rows_skipped_without_details_equal_the_full_computation(
    config: ScoringConfig, compiled: bool
) -> None:
    """Without details a baseline row's scores are written directly (no change to score); with
    details the row is computed in full: every output both give is bit for bit the same, in
    sorted and any row order."""
    codes, weeks, cols = _trial(300, 11)
    rng = np.random.default_rng(5)
    shuffled = rng.permutation(codes.size)
    for order in (np.arange(codes.size), shuffled):
        c, w = codes[order], weeks[order]
        cs = {k: v[order] for k, v in cols.items()}
        plain = score_arrays(c, w, cs, config, compiled=compiled)
        full = score_arrays(c, w, cs, config, details=True, compiled=compiled)
        assert plain["is_baseline"].sum() == 300
        for key, value in plain.items():
            assert value.dtype == full[key].dtype and value.tobytes() == full[key].tobytes(), key
