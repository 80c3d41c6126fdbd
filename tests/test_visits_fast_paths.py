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
from myotrial.scoring import SCORED_COLUMNS, score_visits
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


# -- the compiled checks of large tables (tables/_visits_kernel.py) equal the general path -----


@pytest.mark.parametrize("seed", range(30))
def test_nan_range_equals_numpy(seed: int) -> None:
    from myotrial.tables import _visits_kernel as kernel

    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 12)) if seed % 3 else int(rng.integers(0, 3000))
    a = rng.normal(0, 100, n)
    for value, share in ((np.nan, 0.3), (np.inf, 0.05), (-np.inf, 0.05), (-0.0, 0.1)):
        if seed % 5 == 0 or rng.random() < 0.5:
            a[rng.random(n) < share] = value
    if seed % 7 == 1:
        a[:] = np.nan
    if seed % 7 == 2:
        a[:] = np.inf
    if seed % 7 == 3:
        a[:] = -np.inf
    lo, hi, has_nan = kernel.nan_range(a)
    assert has_nan == bool(np.isnan(a).any())
    if n == 0 or np.isnan(a).all():
        assert np.isnan(lo) and np.isnan(hi)
    else:
        assert (lo, hi) == (np.fmin.reduce(a), np.fmax.reduce(a))
    read_only = a.copy()
    read_only.flags.writeable = False
    assert kernel.nan_range(read_only) == pytest.approx((lo, hi, has_nan), nan_ok=True)


_ID_POOL = [
    "S01", "S02", "S03", "S10", "S2", "a b", " S01", "S01 ", "NA", ".", "", "é1", "S\x01",
    "x" * 65, "y" * 64, "S 4",
]  # fmt: skip


def _random_visits(rng: np.random.Generator) -> pd.DataFrame:
    """A small visits table, valid or not: ids sorted or not, in runs or not, blank, tokens,
    spaces, non-ASCII, control characters, too long; weeks grouped or not, duplicates, missing
    baselines, fractions; values out of range, infinite, missing."""
    n_sub = int(rng.integers(1, 7))
    plain = rng.random() < 0.6
    pool = [f"S{i:02d}" for i in range(1, n_sub + 1)] if plain else _ID_POOL
    ids = list(rng.choice(np.array(pool, dtype=object), n_sub, replace=len(pool) < n_sub))
    if rng.random() < 0.5:
        ids.sort()
    per = [int(rng.integers(1, 5)) for _ in ids]
    sid: list[object] = [i for i, k in zip(ids, per, strict=True) for _ in range(k)]
    weeks: list[float] = [float(w) for k in per for w in (0, 4, 8, 12, 16)[:k]]
    n = len(sid)
    if rng.random() < 0.3:  # rows shuffled: not grouped
        perm = rng.permutation(n)
        sid, weeks = [sid[i] for i in perm], [weeks[i] for i in perm]
    if rng.random() < 0.2:
        weeks[int(rng.integers(0, n))] = float(rng.choice([0.0, 4.0, 2.5, np.nan, 1001.0, -4.0]))
    if rng.random() < 0.1:
        sid[int(rng.integers(0, n))] = None if rng.random() < 0.5 else np.nan
    if rng.random() < 0.1:  # numbers as ids: converted to text
        sid = [int(rng.integers(1, 4)) for _ in sid]
    pga = rng.uniform(0, 10, n)
    if rng.random() < 0.3:
        pga[int(rng.integers(0, n))] = float(rng.choice([np.nan, np.inf, 11.0, -1.0]))
    frame = pd.DataFrame(
        {
            "subject_id": pd.Series(sid, dtype="str" if rng.random() < 0.7 else object),
            "visit_week": weeks,
            "pga": pga,
            "mmt8": rng.uniform(60, 150, n),
            "ck": rng.uniform(100, 900, n),
            "ck_uln": np.full(n, 200.0),
        }
    )
    if rng.random() < 0.5 and not np.isnan(weeks).any():
        frame["visit_week"] = frame["visit_week"].astype(np.int64)
    if rng.random() < 0.2:  # a ULN missing where the enzyme is given
        frame.loc[int(rng.integers(0, n)), "ck_uln"] = np.nan
    if rng.random() < 0.3:  # per-row MMT-8 maxima, some blank (the default fills them)
        frame["mmt8_max"] = rng.choice([150.0, 150.0, np.nan], n)
    return frame


def _prepared(frame: pd.DataFrame, compiled: bool) -> object:
    try:
        return tv.prepare_visits_checked(frame, compiled=compiled)
    except InputValidationError as err:
        return [tuple(x) for x in err.problems.astype(object).itertuples(index=False)]


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("seed", range(80))
def test_compiled_checks_equal_general_path(
    seed: int, threaded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same problems in the same order, or the same typed table and index (codes, order,
    baselines), with the compiled checks and without; threaded: ids and columns parsed on two
    threads (every table counts as large)."""
    if threaded:
        monkeypatch.setattr(tv, "_PARALLEL_ROWS", 1)
    frame = _random_visits(np.random.default_rng(seed))
    fast, general = _prepared(frame, True), _prepared(frame, False)
    if isinstance(general, list):
        assert fast == general, frame
        return
    assert isinstance(fast, tv.PreparedVisits) and isinstance(general, tv.PreparedVisits)
    pd.testing.assert_frame_equal(fast.table, general.table, check_exact=True)
    a, b = fast.index, general.index
    assert a.n_subjects == b.n_subjects and a.grouped == b.grouped
    for x, y in ((a.codes, b.codes), (a.weeks, b.weeks), (a.baseline_row, b.baseline_row)):
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True)
    assert (a.order is None) == (b.order is None)
    if a.order is not None:
        assert np.array_equal(a.order, b.order)


@pytest.mark.parametrize("typ", [pa.string(), pa.large_string()])
def test_sorted_text_codes_read_the_arrow_buffers(typ: pa.DataType) -> None:
    """Sliced and chunked Arrow arrays; ``None`` (the general path) for anything else than
    sorted runs of plain ASCII ids."""
    ids = ["A", "A", "B", "C", "C", "C", "D" * 70]
    arr = pa.array(["zz", *ids], type=typ).slice(1)
    series = pd.Series(pd.arrays.ArrowStringArray(arr))
    got = tv._sorted_text_codes(series, np.empty(0))
    assert got is not None
    assert got[0].tolist() == [0, 0, 1, 2, 2, 2, 3]
    assert got[1].tolist() == [False, False, False, True]
    chunked = pa.chunked_array([pa.array(ids[:3], type=typ), pa.array(ids[3:], type=typ)])
    got = tv._sorted_text_codes(pd.Series(pd.arrays.ArrowStringArray(chunked)), np.empty(0))
    assert got is not None and got[0].tolist() == [0, 0, 1, 2, 2, 2, 3]
    for other in (["B", "A"], ["A", "B", "A"], ["A", " B"], ["A", "B "], ["A", "NA"], [".", "A"],
                  ["A", ""], ["A", "é"], ["A", "B\tC"], ["A", "B\x7f"], ["A", None]):  # fmt: skip
        series = pd.Series(pd.arrays.ArrowStringArray(pa.array(other, type=typ)))
        assert tv._sorted_text_codes(series, np.empty(0)) is None, other
    assert tv._sorted_text_codes(pd.Series(["A B", "A C"], dtype="str"), np.empty(0)) is not None


@pytest.mark.parametrize("seed", range(20))
def test_sorted_text_codes_find_the_grouped_order_and_baselines(seed: int) -> None:
    """With the weeks, the ids' pass says whether the weeks increase within every subject and
    gives each subject's week-0 row: what ``grouped_baselines`` gives after the fact."""
    from myotrial.tables import _visits_kernel as kernel

    rng = np.random.default_rng(seed)
    per = rng.integers(1, 5, int(rng.integers(1, 8)))
    ids = np.repeat([f"S{i:02d}" for i in range(per.size)], per)
    weeks = np.concatenate([np.sort(rng.choice([0, 4, 8, 12, 16], k, replace=False)) for k in per])
    if seed % 3 == 0:  # a week out of order, or repeated
        k = int(rng.integers(0, weeks.size))
        weeks[k] = weeks[max(k - 1, 0)]
    for w in (weeks.astype(np.int64), weeks.astype(np.float64)):
        got = tv._sorted_text_codes(pd.Series(ids, dtype="str"), w)
        assert got is not None
        codes, _, baselines = got
        expected = np.full(per.size, -1, dtype=np.int64)
        in_order = kernel.grouped_baselines(codes, w.astype(np.float64), expected)
        assert (baselines is not None) == in_order, (ids, w)
        if baselines is not None:
            assert baselines.tolist() == expected.tolist()


@pytest.mark.parametrize("partial", [False, True])
def test_score_visits_compiled_checks_same_output(
    partial: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``score_visits`` with the compiled checks (large tables) and without: the same frame,
    bit for bit (values, dtypes, columns, categories)."""
    from myotrial.scoring import visits as sv

    rng = np.random.default_rng(3)
    n_sub = 300
    frame = pd.DataFrame(
        {
            "subject_id": pd.Series(np.repeat([f"P{i:04d}" for i in range(n_sub)], 5), dtype="str"),
            "visit_week": np.tile([0, 4, 8, 12, 16], n_sub),
            "pga": rng.uniform(0, 10, 5 * n_sub).round(1),
            "ptga": rng.uniform(0, 10, 5 * n_sub).round(1),
            "extramuscular": rng.uniform(0, 10, 5 * n_sub).round(1),
            "mmt8": rng.uniform(60, 150, 5 * n_sub).round(),
            "haq": rng.uniform(0, 3, 5 * n_sub).round(2),
            "ck": rng.uniform(50, 900, 5 * n_sub).round(),
            "ck_uln": 200.0,
        }
    )
    frame.loc[rng.random(len(frame)) < 0.05, "haq"] = np.nan
    for rows in (frame, frame.sample(frac=1.0, random_state=1)):
        monkeypatch.setattr(sv, "_PARALLEL_ROWS", 1)
        fast = score_visits(rows, partial=partial, details=True)
        monkeypatch.setattr(sv, "_PARALLEL_ROWS", 10**12)
        plain = score_visits(rows, partial=partial, details=True)
        pd.testing.assert_frame_equal(fast, plain, check_exact=True)


def test_whole_numbers_checks_and_converts_in_one_pass() -> None:
    from myotrial.tables import _visits_kernel as kernel

    weeks = np.array([0.0, -0.0, 4.0, 1000.0, 52.0])
    out = np.empty(weeks.size, dtype=np.int64)
    assert kernel.whole_numbers(weeks, out)
    assert out.tolist() == weeks.astype(np.int64).tolist()
    for bad in (2.5, np.nan, 0.999999, 1e-300):
        assert not kernel.whole_numbers(np.array([0.0, 4.0, bad]), out[:3]), bad


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_subject_codes_equal_factorising_the_stripped_ids(seed: int, compiled: bool) -> None:
    """Object and Arrow text ids, in runs or not, sorted or not, with blanks, tokens, spaces,
    None and NaN: the codes are ``pandas.factorize`` of the stripped ids (blank and missing
    tokens missing), the too-long / control-character flags those of the distinct ids."""
    rng = np.random.default_rng(seed)
    pool = np.array([*_ID_POOL, None, np.nan, "S01", "S02", "S03"], dtype=object)
    n = int(rng.integers(1, 40))
    ids = rng.choice(pool, n)
    if seed % 3 == 0:
        ids = np.repeat(ids, 3)
    if seed % 4 == 1:  # sorted runs of plain ids (the fast paths)
        ids = np.repeat(np.array(sorted(rng.choice(pool[-3:], n)), dtype=object), 2)
    cleaned = [
        None if not isinstance(x, str) or x.strip() in ("", "NA", ".") else x.strip() for x in ids
    ]
    want, uniq = pd.factorize(np.array(cleaned, dtype=object), use_na_sentinel=True)
    want_bad = [len(u) > 64 or any(ord(ch) < 32 or ord(ch) == 127 for ch in u) for u in uniq]
    for dtype in (object, "str"):
        series = pd.Series(ids, dtype=dtype)
        codes, bad, out = tv._subject_codes(series, compiled)
        assert codes.tolist() == want.tolist(), (dtype, ids)
        assert bad.tolist() == want_bad, (dtype, ids)
        if out is not None:
            assert [None if pd.isna(x) else x for x in out] == cleaned


def test_scoring_a_scored_table_again_gives_the_same_frame() -> None:
    """Scored columns given as input are replaced (the output column order of a first run);
    the missing reasons, built on a second thread for large tables, in their place."""
    n_sub = 20
    frame = pd.DataFrame(
        {
            "subject_id": np.repeat([f"P{i:02d}" for i in range(n_sub)], 3),
            "visit_week": np.tile([0, 8, 16], n_sub),
            "pga": np.tile([6.0, 3.0, np.nan], n_sub),
            "ptga": 5.0, "extramuscular": 2.0, "mmt8": 120.0, "haq": 1.0,
            "ck": 400.0, "ck_uln": 200.0,
        }
    )  # fmt: skip
    once = score_visits(frame)
    assert list(once.columns) == [*frame.columns, "mmt8_max", *SCORED_COLUMNS]
    assert once["tis_missing_reason"].notna().sum() == 2 * n_sub
    pd.testing.assert_frame_equal(score_visits(once), once, check_exact=True)


def test_float_range_converts_as_numpy_does() -> None:
    from myotrial.tables import _visits_kernel as kernel

    rng = np.random.default_rng(2)
    big = np.array([2**62 + 1, -(2**63), 2**63 - 1, 2**53 + 1, 0, -7], dtype=np.int64)
    for values in (rng.integers(-1000, 1000, 1001), big, np.empty(0, dtype=np.int64)):
        out = np.empty(values.size)
        lo, hi = kernel.float_range(values, out)
        want = values.astype(np.float64)
        assert out.tobytes() == want.tobytes()
        if values.size:
            assert (lo, hi) == (want.min(), want.max())
        else:
            assert np.isnan(lo) and np.isnan(hi)
