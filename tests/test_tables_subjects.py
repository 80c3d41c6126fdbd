"""Subjects and visits contracts, and the issue-11 cases fixed in the tables layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myotrial.errors import InputValidationError
from myotrial.tables import read_table, validate_subjects, validate_visits


def subjects(**changes: object) -> pd.DataFrame:
    row: dict[str, object] = {
        "subject_id": "P1",
        "arm": "ivig",
        "sex": "F",
        "age": "50",
        "msa_group": "dm_specific",
        "randomised": "true",
    }
    row.update(changes)
    return pd.DataFrame([row], dtype=object)


def bad_subjects(frame: pd.DataFrame) -> pd.DataFrame:
    with pytest.raises(InputValidationError) as info:
        validate_subjects(frame, arms=("ivig", "placebo"))
    return info.value.problems


@pytest.mark.parametrize(
    ("column", "good", "bad"),
    [
        ("sex", "m", "Q"),
        ("sex", "NA", "female"),
        ("age", "120", "120.5"),
        ("age", "0", "-1"),
        ("age", "", "inf"),
        ("msa_group", "IMNM", "jo1"),
        ("randomised", "yes", "sometimes"),
        ("arm", "placebo", "active"),
    ],
)
def test_subject_rules_from_both_sides(column: str, good: str, bad: str) -> None:
    validate_subjects(subjects(**{column: good}), arms=("ivig", "placebo"))
    p = bad_subjects(subjects(**{column: bad}))
    assert p["column"].tolist() == [column] and p["row"].tolist() == [1]


def test_blank_or_na_subject_id_is_a_located_problem() -> None:
    frame = pd.concat([subjects(), subjects(subject_id=None), subjects(subject_id=".")])
    p = bad_subjects(frame.reset_index(drop=True))
    assert p[["row", "column"]].values.tolist() == [[2, "subject_id"], [3, "subject_id"]]


def test_subject_codes_are_written_in_the_vocabulary_spelling() -> None:
    out = validate_subjects(subjects(sex="f", msa_group=""), arms=("ivig",))
    assert out["sex"].tolist() == ["F"] and out["msa_group"].tolist() == ["unknown"]


def visits(**changes: object) -> pd.DataFrame:
    rows: list[dict[str, str | None]] = [
        {"subject_id": "A", "visit_week": "0", "pga": "5", "mmt8": "120"},
        {"subject_id": "A", "visit_week": "4", "pga": "4", "mmt8": "125"},
    ]
    rows[1].update({k: str(v) if v is not None else None for k, v in changes.items()})
    return pd.DataFrame(rows, dtype=object)


@pytest.mark.parametrize("token", ["NA", ".", "", " "])
def test_visits_accept_na_and_dot_as_missing(token: str) -> None:
    out = validate_visits(visits(pga=token))
    assert np.isnan(out["pga"].iloc[1])


@pytest.mark.parametrize(
    ("column", "good", "bad"),
    [
        ("pga", "10", "inf"),
        ("pga", "0", "nan"),
        ("visit_week", "1000", "1001"),
        ("visit_week", "999", "1e300"),
        ("subject_id", "A2", "NA"),
        ("visit_date", "2024-03-01", "2024-02-30"),
    ],
)
def test_visit_rules_from_both_sides(column: str, good: str, bad: str) -> None:
    if column == "subject_id":  # a new subject needs its own baseline: probe row 1
        frame = visits()
        frame.loc[:, "subject_id"] = good
        validate_visits(frame)
        frame.loc[0, "subject_id"] = bad
    else:
        validate_visits(visits(**{column: good}))
        frame = visits(**{column: bad})
    with pytest.raises(InputValidationError) as info:
        validate_visits(frame)
    assert column in set(info.value.problems["column"])


def test_duplicate_header_column_is_rejected_not_renamed(tmp_path: Path) -> None:
    path = tmp_path / "visits.csv"
    path.write_text("subject_id,visit_week,pga,PGA\nA,0,1,2\n", encoding="utf-8")
    with pytest.raises(InputValidationError) as info:
        read_table(path)
    assert info.value.problems["column"].tolist() == ["pga"]
    ok = tmp_path / "ok.csv"
    ok.write_text("subject_id,visit_week,pga\nA,0,1\n", encoding="utf-8")
    assert list(read_table(ok).columns) == ["subject_id", "visit_week", "pga"]


def test_duplicate_columns_in_a_dataframe_are_rejected() -> None:
    frame = pd.DataFrame([["A", "0", "1", "2"]], columns=["subject_id", "visit_week", "pga", "PGA"])
    with pytest.raises(InputValidationError, match="more than once"):
        validate_visits(frame)
