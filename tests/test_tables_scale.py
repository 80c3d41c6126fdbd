"""Table-level contract cases of issue 11 and the scalable error path of the validators.

Each test of an issue-11 case fails on the code before this change (noted where the old code
already rejected the value: those tests pin the behaviour).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myotrial.errors import PROBLEM_COLUMNS, SHOWN_PROBLEMS, InputValidationError
from myotrial.rules import load_scales
from myotrial.scoring import score_visits
from myotrial.tables import ProblemCollector, read_table, validate_visits
from myotrial.tables.visits import MMT8_ALLOWED_MAX, prepare_visits


def visits(**extra: object) -> pd.DataFrame:
    base: dict[str, object] = {
        "subject_id": ["A", "A"],
        "visit_week": [0, 16],
        "mmt8": [120.0, 138.0],
    }
    base.update(extra)
    return pd.DataFrame(base)


def problems(frame: pd.DataFrame, **kw: object) -> pd.DataFrame:
    with pytest.raises(InputValidationError) as info:
        validate_visits(frame, **kw)  # type: ignore[arg-type]
    return info.value.problems


# ---------------------------------------------------------------------------------------------
# MMT-8 maximum: 80 or 150 only, from the rules data


def test_allowed_mmt8_maxima_come_from_the_rules_data() -> None:
    assert MMT8_ALLOWED_MAX == (80.0, 150.0)
    assert load_scales().measures["mmt8"].allowed_max == (80.0, 150.0)


@pytest.mark.parametrize("mx", [1e308, 100.0, 0.0, -80.0, 79.999])
def test_mmt8_max_column_other_than_80_or_150_is_rejected(mx: float) -> None:
    # issue 11: 1e308 was accepted and changed TIS from 75 to 55
    p = problems(visits(mmt8=[60.0, 70.0], mmt8_max=[150.0, mx]))
    row = p[p["column"] == "mmt8_max"]
    assert row["row"].tolist() == [2] and "80 or 150" in row["rule"].iloc[0]


@pytest.mark.parametrize("mx", [80.0, 150.0])
def test_mmt8_max_80_and_150_are_accepted(mx: float) -> None:
    out = validate_visits(visits(mmt8=[60.0, 70.0], mmt8_max=[mx, np.nan]))
    assert out["mmt8_max"].tolist() == [mx, 150.0]  # blank -> the default


@pytest.mark.parametrize("mx", [1e308, 100.0, float("nan"), float("inf")])
def test_mmt8_max_option_other_than_80_or_150_is_rejected(mx: float) -> None:
    p = problems(visits(), mmt8_max=mx)
    assert p["column"].tolist() == ["mmt8_max"] and "80 or 150" in p["rule"].iloc[0]
    with pytest.raises(InputValidationError, match="80 or 150"):
        score_visits(visits(), mmt8_max=mx)


# ---------------------------------------------------------------------------------------------
# weeks


def test_weeks_beyond_the_protocol_are_rejected_with_max_week() -> None:
    frame = visits(visit_week=[0, 52])
    assert validate_visits(frame)["visit_week"].tolist() == [0, 52]
    p = problems(frame, max_week=40)
    assert p[["row", "column", "value"]].values.tolist() == [[2, "visit_week", "52"]]
    assert "40 (the protocol's last week" in p["rule"].iloc[0]
    assert validate_visits(frame, max_week=52)["visit_week"].tolist() == [0, 52]  # edge: closed


@pytest.mark.parametrize("bad", [-1, 1.5, float("nan"), 10**6, True, "40"])
def test_max_week_option_must_be_a_whole_number_in_range(bad: object) -> None:
    with pytest.raises(InputValidationError, match="max_week"):
        validate_visits(visits(), max_week=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("week", [1e300, 1e18, 2.0**63, -1e300, "1e300", "1e18"])
def test_huge_weeks_are_rejected_never_wrapped(week: object) -> None:
    # issue 11: 1e300 was written out as -9223372036854775808 (already rejected before this
    # change; pinned here for every input type)
    frame = pd.DataFrame({"subject_id": ["A", "A"], "visit_week": [0, week]}, dtype=object)
    p = problems(frame)
    assert p["column"].tolist() == ["visit_week"] and p["row"].tolist() == [2]


# ---------------------------------------------------------------------------------------------
# ULNs


@pytest.mark.parametrize("uln", [np.inf, -np.inf, "inf", "nan", "Infinity"])
def test_non_finite_uln_is_rejected_once(uln: object) -> None:
    frame = visits(ck=[1200.0, 300.0], ck_uln=pd.Series([200.0, uln], dtype=object))
    p = problems(frame)
    # one problem, the ULN is not a finite number (before: also "ULN is required", wrongly)
    assert p[["row", "column"]].values.tolist() == [[2, "ck_uln"]]
    assert "finite number" in p["rule"].iloc[0]


def test_uln_zero_or_negative_is_rejected() -> None:
    p = problems(visits(ck=[1200.0, 300.0], ck_uln=[200.0, 0.0]))
    assert p[["row", "column"]].values.tolist() == [[2, "ck_uln"]]


# ---------------------------------------------------------------------------------------------
# subject ids: factorised once, stripped, text rules


def test_ids_equal_once_stripped_are_one_subject() -> None:
    frame = pd.DataFrame({"subject_id": ["A", " A ", "B", "B"], "visit_week": [0, 4, 0, 4]})
    out, index = (lambda r: (r.table, r.index))(prepare_visits(frame))
    assert out["subject_id"].tolist() == ["A", "A", "B", "B"]
    assert index.codes.tolist() == [0, 0, 1, 1] and index.n_subjects == 2
    assert frame["subject_id"].tolist() == ["A", " A ", "B", "B"]  # input untouched
    p = problems(pd.DataFrame({"subject_id": ["A", " A"], "visit_week": [0, 0]}))
    assert p["rule"].str.contains("duplicate").all()


@pytest.mark.parametrize("sid", ["A\x00", "A\nB", "x" * 65])
def test_subject_id_text_rules(sid: str) -> None:
    p = problems(pd.DataFrame({"subject_id": [sid, "B"], "visit_week": [0, 0]}))
    assert p[["row", "column"]].values.tolist() == [[1, "subject_id"]]


def test_numeric_subject_ids_are_text() -> None:
    out = validate_visits(pd.DataFrame({"subject_id": [7, 7, 8], "visit_week": [0, 4, 0]}))
    assert out["subject_id"].tolist() == ["7", "7", "8"]


def test_index_for_the_engine_sorted_and_unsorted() -> None:
    rng = np.random.default_rng(3)
    ids = np.repeat([f"S{i}" for i in range(50)], 4)
    weeks = np.tile([0, 4, 8, 16], 50)
    grouped = prepare_visits(pd.DataFrame({"subject_id": ids, "visit_week": weeks})).index
    assert grouped.grouped and grouped.order is None
    assert grouped.baseline_row.tolist() == list(range(0, 200, 4))
    perm = rng.permutation(200)
    frame = pd.DataFrame({"subject_id": ids[perm], "visit_week": weeks[perm]})
    idx = prepare_visits(frame).index
    codes, _ = pd.factorize(frame["subject_id"])
    assert idx.codes.tolist() == codes.tolist() and not idx.grouped
    assert idx.order is not None
    assert idx.order.tolist() == np.lexsort((weeks[perm], codes)).tolist()
    assert (frame["visit_week"].to_numpy()[idx.baseline_row] == 0).all()
    assert idx.weeks.dtype == np.float64


def test_untouched_columns_are_not_copied() -> None:
    frame = pd.DataFrame(
        {"subject_id": ["A", "A"], "visit_week": [0, 4], "pga": [1.0, 2.0], "note": ["x", "y"]}
    )
    out = validate_visits(frame)
    assert np.shares_memory(out["pga"].to_numpy(), frame["pga"].to_numpy())
    assert out["note"].tolist() == ["x", "y"] and list(out.columns) == list(frame.columns)


# ---------------------------------------------------------------------------------------------
# the error path scales: counted at once, first 50 in the message, every problem as a table/CSV


def all_invalid(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "subject_id": np.repeat([f"S{i:05d}" for i in range(n // 2)], 2),
            "visit_week": np.tile([0, 4], n // 2),
            "pga": np.full(n, 11.0),  # every row above 10 cm
        }
    )


def test_every_problem_counted_first_50_in_the_message(tmp_path: Path) -> None:
    n = 100_000
    with pytest.raises(InputValidationError) as info:
        validate_visits(all_invalid(n))
    err = info.value
    assert err.count == n
    lines = str(err).splitlines()
    assert lines[0] == f"{n} problem(s) in the visits table:"
    assert len([x for x in lines if x.startswith("  - ")]) == SHOWN_PROBLEMS
    assert lines[-1] == f"  ... and {n - SHOWN_PROBLEMS} more"
    frame = err.problems_frame()
    assert len(frame) == n and list(frame.columns) == list(PROBLEM_COLUMNS)
    assert frame["row"].tolist() == list(range(1, n + 1))
    assert (frame["value"] == "11.0").all()
    path = err.write_problems(tmp_path / "problems.csv")
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert len(back) == n and back["rule"].iloc[0] == frame["rule"].iloc[0]
    assert back["subject_id"].iloc[-1] == frame["subject_id"].iloc[-1]


def test_problems_sorted_by_row_then_column_across_rules() -> None:
    col = ProblemCollector("visits", pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}))
    col.add(np.array([False, True, True]), "b", "rule b")
    col.add(np.array([True, True, False]), "a", "rule a")
    col.add_table("c", "table rule")
    col.add_value("a", 5, "single", row=2)
    with pytest.raises(InputValidationError) as info:
        col.raise_if_any()
    p = info.value.problems
    assert p[["row", "column", "rule"]].values.tolist() == [
        [None, "c", "table rule"],
        [1, "a", "rule a"],
        [2, "a", "single"],  # ties: single values first, then rules in the order added
        [2, "a", "rule a"],
        [2, "b", "rule b"],
        [3, "b", "rule b"],
    ]
    assert info.value.count == 6
    assert info.value.head(3).equals(p.head(3))


def test_error_pickles_with_every_problem() -> None:
    with pytest.raises(InputValidationError) as info:
        validate_visits(all_invalid(10))
    back = pickle.loads(pickle.dumps(info.value))
    assert back.count == 10 and back.problems.equals(info.value.problems)
    assert str(back) == str(info.value)


def test_existing_callers_building_errors_from_frames_and_lists_still_work() -> None:
    err = InputValidationError(pd.DataFrame([{"table": "t", "column": "x", "rule": "r"}]), "t")
    assert err.count == 1 and err.problems["rule"].tolist() == ["r"]
    err.problems = err.problems.assign(row=None)
    assert err.count == 1


# ---------------------------------------------------------------------------------------------
# files: located errors naming the file, never a pandas traceback


@pytest.mark.parametrize(
    ("text", "named"),
    [("subject_id;visit_week\nA;0\n", "semicolons"), ("subject_id\tvisit_week\nA\t0\n", "tabs")],
)
def test_semicolon_and_tab_delimited_files_are_refused_naming_the_delimiter(
    tmp_path: Path, text: str, named: str
) -> None:
    path = tmp_path / "visits.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputValidationError, match=named) as info:
        read_table(path)
    assert info.value.table == "visits.csv" and str(path) in str(info.value)


def test_comma_file_with_semicolons_in_values_is_read(tmp_path: Path) -> None:
    path = tmp_path / "visits.csv"
    path.write_text("subject_id,visit_week,note\nA,0,a;b\n", encoding="utf-8")
    assert read_table(path)["note"].tolist() == ["a;b"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "is empty"),
        (b"subject_id,visit_week,note\nA,0,caf\xe9\n", "not UTF-8"),
        (b'subject_id,visit_week\n"A,0\n', "not a readable CSV"),
    ],
)
def test_unreadable_csv_files_are_located_errors(
    tmp_path: Path, content: bytes, match: str
) -> None:
    path = tmp_path / "visits.csv"
    path.write_bytes(content)
    with pytest.raises(InputValidationError, match=match) as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_a_directory_named_csv_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "x.csv").mkdir()
    with pytest.raises(InputValidationError, match="is a directory"):
        read_table(tmp_path / "x.csv")


def test_not_parquet_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    path.write_text("subject_id,visit_week\n", encoding="utf-8")
    with pytest.raises(InputValidationError, match="not a readable Parquet"):
        read_table(path)


def test_header_only_file(tmp_path: Path) -> None:
    path = tmp_path / "visits.csv"
    path.write_text("subject_id,visit_week\n", encoding="utf-8")
    assert read_table(path).shape == (0, 2)  # a valid, empty table
    with pytest.raises(InputValidationError, match="no data rows"):
        read_table(path, require_rows=True)


def test_pandas_na_and_empty_subject_columns() -> None:
    """Found by the fuzz: pandas NA among object ids, and an empty object column."""
    frame = pd.DataFrame(
        {"subject_id": pd.Series(["A", pd.NA, "A"], dtype=object), "visit_week": [0, 0, 4]}
    )
    assert problems(frame)[["row", "column"]].values.tolist() == [[2, "subject_id"]]
    empty = pd.DataFrame({"subject_id": pd.Series([], dtype=object), "visit_week": []})
    assert validate_visits(empty).shape == (0, 2)


def test_subject_ids_in_a_chunked_arrow_string_column_are_factorised() -> None:
    """pandas.concat of Arrow-backed string columns gives a chunked array (several chunks):
    validation factorises it like any other id column."""
    from myotrial.tables import validate_visits

    first = pd.DataFrame({"subject_id": pd.Series(["A", "A"], dtype="str"),
                          "visit_week": [0, 4], "pga": [5.0, 4.0]})
    second = pd.DataFrame({"subject_id": pd.Series(["B", "B"], dtype="str"),
                           "visit_week": [0, 4], "pga": [6.0, 3.0]})
    visits = pd.concat([first, second], ignore_index=True)
    out = validate_visits(visits)
    assert list(out["subject_id"]) == ["A", "A", "B", "B"]
