"""Boundary validation of the visits table: every problem, located, nothing clipped or dropped."""

from __future__ import annotations

import pandas as pd
import pytest

from myotrial.errors import InputValidationError
from myotrial.tables import validate_visits


def problems_of(frame: pd.DataFrame) -> pd.DataFrame:
    with pytest.raises(InputValidationError) as info:
        validate_visits(frame)
    return info.value.problems


def test_every_problem_is_reported_at_once_with_location() -> None:
    frame = pd.DataFrame(
        {
            "subject_id": ["A", "A", "B", "B", "C", ""],
            "visit_week": ["0", "4", "4", "4", "0", "0"],
            "pga": ["5", "10.5", "abc", "2", "-1", "3"],
            "mmt8": ["120", "151", "", "90", "80", "80"],
            "haq": ["1", "3.01", "1", "1", "1", "1"],
            "ck": ["300", "", "10", "10", "-5", ""],
            "ck_uln": ["200", "", "", "200", "200", ""],
        }
    )
    p = problems_of(frame)
    got = {(r.row, r.subject_id, r.column, r.value) for r in p.itertuples()}
    expected = {
        (2, "A", "pga", "10.5"),  # above 10 cm
        (2, "A", "mmt8", "151"),  # above mmt8_max 150
        (2, "A", "haq", "3.01"),  # above 3
        (3, "B", "pga", "abc"),  # non-numeric
        (3, "B", "ck_uln", ""),  # enzyme without ULN
        (3, "B", "visit_week", "4"),  # duplicate
        (4, "B", "visit_week", "4"),  # duplicate
        (5, "C", "pga", "-1"),  # below 0
        (5, "C", "ck", "-5"),  # negative enzyme
        (6, "", "subject_id", ""),  # missing subject
    }
    assert expected <= got
    assert (3, "B", "visit_week", "4") in got
    rules = " ".join(p["rule"])
    assert "no baseline" in rules  # subject B has no week 0
    assert p.loc[p["column"] == "mmt8", "rule"].iloc[0].endswith("150 (mmt8_max)")
    assert list(p.columns) == [
        "table",
        "row",
        "subject_id",
        "visit_week",
        "column",
        "value",
        "rule",
    ]


@pytest.mark.parametrize(
    ("week", "ok"),
    [("12", True), ("4", True), ("4.5", False), ("-4", False), ("", False), ("four", False)],
)
def test_visit_week_must_be_whole_and_non_negative(week: str, ok: bool) -> None:
    frame = pd.DataFrame({"subject_id": ["A", "A"], "visit_week": ["0", week], "pga": ["1", "1"]})
    if ok:
        assert validate_visits(frame)["visit_week"].tolist() == [0, int(week)]
    else:
        assert (problems_of(frame)["column"] == "visit_week").any()


def test_boundary_values_are_valid_and_not_clipped() -> None:
    frame = pd.DataFrame(
        {
            "subject_id": ["A", "A"],
            "visit_week": [0, 4],
            "pga": [0.0, 10.0],
            "haq": [0.0, 3.0],
            "mmt8": [0.0, 80.0],
            "mmt8_max": [80.0, 80.0],
        }
    )
    out = validate_visits(frame)
    assert out["pga"].tolist() == [0.0, 10.0] and out["mmt8"].tolist() == [0.0, 80.0]


def test_mmt8_above_unilateral_max_is_rejected() -> None:
    frame = pd.DataFrame(
        {
            "subject_id": ["A", "A"],
            "visit_week": [0, 4],
            "mmt8": [70.0, 81.0],
            "mmt8_max": [80.0, 80.0],
        }
    )
    p = problems_of(frame)
    assert p["rule"].str.contains("80 \\(mmt8_max\\)").any()


def test_missing_required_columns() -> None:
    p = problems_of(pd.DataFrame({"pga": [1.0]}))
    assert set(p["column"]) == {"subject_id", "visit_week"}


def test_bad_visit_date() -> None:
    frame = pd.DataFrame(
        {"subject_id": ["A", "A"], "visit_week": [0, 4], "visit_date": ["2024-01-02", "02/03/2024"]}
    )
    p = problems_of(frame)
    assert p[["row", "column", "value"]].values.tolist() == [[2, "visit_date", "02/03/2024"]]


def test_valid_table_keeps_rows_order_and_extra_columns() -> None:
    frame = pd.DataFrame(
        {
            "subject_id": ["B", "A", "B", "A"],
            "visit_week": ["4", "0", "0", "8"],
            "pga": ["1", "", "2", "3.5"],
            "note": ["x", "y", "z", "w"],
        }
    )
    out = validate_visits(frame)
    assert out["subject_id"].tolist() == ["B", "A", "B", "A"]
    assert out["note"].tolist() == ["x", "y", "z", "w"]
    assert out["pga"].isna().tolist() == [False, True, False, False]
    assert frame["pga"].tolist() == ["1", "", "2", "3.5"]  # input untouched
