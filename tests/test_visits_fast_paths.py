"""The fast paths of visits validation and of ``score_visits``' output columns give exactly what
the plain paths give (issue 16): subject ids factorised from runs of equal neighbours, control
characters found by a byte scan, ids parsed on a second thread for large tables (same problems,
same order), text columns built as categoricals from codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from myotrial.errors import InputValidationError
from myotrial.scoring import score_visits
from myotrial.scoring.engine import CLAUSE_LABELS
from myotrial.tables import visits as tv


def _reference_codes(arr: pa.Array) -> tuple[np.ndarray, pa.Array]:
    enc = pc.dictionary_encode(arr)
    codes = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), np.int64)
    return codes, enc.dictionary


@pytest.mark.parametrize("seed", range(40))
def test_arrow_codes_equal_dictionary_encode(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    pool = ["a", "b", "c", "aa", "ab", " a", "b ", "é", "", None]
    kind = seed % 4
    if kind == 0:  # grouped in increasing order (the fast path without hashing)
        ids: list[str | None] = sorted(rng.choice(pool[:8], n).tolist())
    elif kind == 1:  # grouped runs in any order, ids may come back later
        ids = [str(x) for x in np.repeat(rng.choice(pool[:8], max(1, n // 4)), 4)][:n]
    elif kind == 2:  # nulls among the ids
        ids = [None if x is None else str(x) for x in rng.choice(np.array(pool, object), n)]
    else:  # unsorted, no runs (hashed row by row)
        ids = [str(x) for x in rng.choice(pool[:8], n)]
    for typ in (pa.large_string(), pa.string()):
        arr = pa.array(ids, type=typ)
        codes, dictionary = tv._arrow_codes(arr)
        ref_codes, ref_dict = _reference_codes(arr)
        assert codes.tolist() == ref_codes.tolist(), ids
        assert dictionary.to_pylist() == ref_dict.to_pylist(), ids


def test_control_byte_scan() -> None:
    assert not tv._any_control_byte(pa.array(["S1", "é", "ß", None], type=pa.large_string()))
    for bad in ("a\tb", "x\x00", "\x7f", "a\nb", "\x1f"):
        assert tv._any_control_byte(pa.array(["ok", bad], type=pa.string()))
    sliced = pa.array(["a\tb", "ok"], type=pa.large_string()).slice(1)
    assert not tv._any_control_byte(sliced)  # only the bytes of the array's own slots


def _problem_rows(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    with pytest.raises(InputValidationError) as err:
        tv.prepare_visits(frame)
    return [tuple(x) for x in err.value.problems.astype(object).itertuples(index=False)]


def test_large_table_same_problems_in_the_same_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above ``_PARALLEL_ROWS`` the ids are parsed on a second thread: the problems (subject id
    text rules, missing ids, numbers, ranges) are the serial path's, in the same order."""
    n_sub = 12_000
    weeks = np.tile([0, 4, 8, 12, 16, 28], n_sub)
    sid = np.repeat(np.char.add("S", np.arange(n_sub).astype(str)), 6).astype(object)
    sid[7] = "S1\x01"
    sid[100] = None
    sid[200] = "x" * 70
    pga = np.tile([5.0, 4.0, 3.0, 2.0, 1.0, 0.5], n_sub).astype(object)
    pga[50] = "abc"
    pga[60] = 11.5
    frame = pd.DataFrame({"subject_id": pd.Series(sid, dtype="str"), "visit_week": weeks,
                          "pga": pga})  # fmt: skip
    assert len(frame) >= tv._PARALLEL_ROWS
    threaded = _problem_rows(frame)
    monkeypatch.setattr(tv, "_PARALLEL_ROWS", len(frame) + 1)
    serial = _problem_rows(frame)
    assert threaded == serial
    assert {p[4] for p in serial} >= {"subject_id", "pga"}


def test_large_valid_table_same_index(monkeypatch: pytest.MonkeyPatch) -> None:
    n_sub = 12_000
    frame = pd.DataFrame(
        {
            "subject_id": pd.Series(np.repeat([f"P{i:05d}" for i in range(n_sub)], 6)[::-1]),
            "visit_week": np.tile([40, 28, 16, 8, 4, 0], n_sub),
            "pga": np.tile([5.0, 4.0, 3.0, 2.0, 1.0, 0.5], n_sub),
        }
    )
    threaded = tv.prepare_visits(frame)
    monkeypatch.setattr(tv, "_PARALLEL_ROWS", len(frame) + 1)
    serial = tv.prepare_visits(frame)
    assert np.array_equal(threaded.index.codes, serial.index.codes)
    assert np.array_equal(threaded.index.baseline_row, serial.index.baseline_row)
    assert threaded.index.codes[:7].tolist() == [0] * 6 + [1]
    pd.testing.assert_frame_equal(threaded.table, serial.table)


def test_text_columns_are_categoricals_of_the_documented_texts() -> None:
    frame = pd.DataFrame(
        {
            "subject_id": ["p1"] * 4 + ["p2"] * 2,
            "visit_week": [0, 8, 12, 16, 0, 8],
            "pga": [2.0, 5.0, 5.0, 1.0, 4.0, None],
            "ptga": [5.0, 5.0, 5.0, 2.0, 4.0, 4.0],
            "extramuscular": [1.0, 1.0, 4.0, 0.5, 2.0, 2.0],
            "mmt8": [140.0, 100.0, 100.0, 145.0, 120.0, 120.0],
            "haq": [1.0, 1.0, 1.0, 0.25, 1.0, 1.0],
            "ck": [400.0, 400.0, 400.0, 200.0, 300.0, 300.0],
            "ck_uln": [200.0] * 6,
        }
    )
    out = score_visits(frame)
    for c in ("tis_category", "tis_missing_reason", "enzyme_used", "worsening_clauses"):
        assert isinstance(out[c].dtype, pd.CategoricalDtype), c
    assert list(out["worsening_clauses"].cat.categories) == list(CLAUSE_LABELS[1:])
    clauses = out["worsening_clauses"].astype(object).where(out["worsening_clauses"].notna())
    assert [c if isinstance(c, str) else None for c in clauses] == [
        None, "A", "A;B", None, None, None
    ]  # fmt: skip
    reasons = out["tis_missing_reason"].astype("string").fillna("").tolist()
    assert reasons[0] == reasons[4] == "baseline visit"
    assert reasons[5] == "missing at this visit: pga"
    assert reasons[1:4] == ["", "", ""]
    assert out["enzyme_used"].astype(object).tolist() == ["ck"] * 6
    assert out.to_csv(index=False).count("A;B") == 1


@pytest.mark.parametrize("partial", [False, True])
def test_missing_reasons_compiled_equal_numpy(
    partial: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above ``SMALL_INPUT_ROWS`` the reason codes come from two compiled passes: the same
    texts, row by row, as the numpy path (every bit code, every enzyme, a show mask)."""
    from myotrial.rules import load_scales
    from myotrial.scoring import visits as sv

    rng = np.random.default_rng(7)
    n = 5_000
    codes = rng.integers(-1, 4096, n).astype(np.int16)
    codes[::5] = 0  # nothing missing: no reason
    enzymes = load_scales().enzymes
    enzyme = rng.integers(-1, len(enzymes), n).astype(np.int8)
    show = rng.random(n) < 0.7 if partial else None
    slots = ["pga", "ptga", "mmt8", "haq", "enzyme", "extramuscular"]
    compiled = sv._missing_reasons(codes, enzyme, slots, enzymes, partial, show)
    monkeypatch.setattr(sv, "SMALL_INPUT_ROWS", n + 1)
    plain = sv._missing_reasons(codes, enzyme, slots, enzymes, partial, show)
    assert list(compiled.categories) == list(plain.categories)
    assert np.array_equal(np.asarray(compiled.codes), np.asarray(plain.codes))
    assert compiled.isna().sum() > 0 and compiled.notna().sum() > 1000
    with pytest.raises(ValueError, match="out of range"):
        sv._missing_reasons(codes - np.int16(2), enzyme, slots, enzymes, partial, show)


def _score_large_table() -> None:
    n_sub = 20_000
    frame = pd.DataFrame(
        {
            "subject_id": pd.Series(np.repeat([f"P{i:05d}" for i in range(n_sub)], 7)),
            "visit_week": np.tile([0, 4, 8, 12, 16, 28, 40], n_sub),
            "pga": np.tile([5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.5], n_sub),
            "ptga": 5.0, "extramuscular": 2.0, "mmt8": 120.0, "haq": 1.0,
            "ck": 400.0, "ck_uln": 200.0,
        }
    )  # fmt: skip
    out = score_visits(frame)  # the ids' thread (validation) and the engine's block threads
    assert len(out) == len(frame) and out["tis"].notna().sum() == 6 * n_sub


def test_thread_pools_work_in_a_forked_child() -> None:
    """A child forked after the pools exist gets pools of its own (an inherited pool has no
    threads in the child: a task submitted to it would never run)."""
    import multiprocessing

    _score_large_table()  # creates both pools in this process
    child = multiprocessing.get_context("fork").Process(target=_score_large_table)
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("scoring hung in a forked child")
    assert child.exitcode == 0
