"""The infusions and adverse_events contracts (docs/data-format.md): every rule probed from
both sides of its edge; every problem located; nothing dropped, clipped or changed."""

from __future__ import annotations

import pandas as pd
import pytest

from myotrial.errors import InputValidationError
from myotrial.tables import (
    PRODUCTS,
    SEVERITIES,
    validate_adverse_events,
    validate_infusions,
)


def infusion(**changes: object) -> pd.DataFrame:
    row: dict[str, object] = {
        "subject_id": "P1",
        "start": "2024-03-01T09:00",
        "end": "2024-03-01T13:00",
        "product": "ivig",
        "dose_g_per_kg": "0.5",
        "rate_ml_per_kg_min": "0.04",
        "cycle": "1",
        "site_note": "kept",
    }
    row.update(changes)
    return pd.DataFrame([row], dtype=object)


def event(**changes: object) -> pd.DataFrame:
    row: dict[str, object] = {
        "subject_id": "P1",
        "term": "Headache",
        "body_system": "Nervous system disorders",
        "onset": "2024-03-01T15:00",
        "end": "2024-03-02T08:00",
        "serious": "false",
        "severity": "mild",
        "related": "true",
        "thromboembolic": "false",
    }
    row.update(changes)
    return pd.DataFrame([row], dtype=object)


def problems(fn, frame: pd.DataFrame) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    with pytest.raises(InputValidationError) as info:
        fn(frame)
    p = info.value.problems
    assert p["rule"].str.contains("data-format.md").all()  # every rule cites the dictionary
    return p


def test_valid_infusion_is_typed_and_extra_columns_kept() -> None:
    frame = infusion()
    out = validate_infusions(frame)
    assert out["start"].dtype.kind == "M" and out["cycle"].tolist() == [1]
    assert out["site_note"].tolist() == ["kept"]
    assert frame["cycle"].tolist() == ["1"]  # input untouched


@pytest.mark.parametrize(
    ("column", "good", "bad"),
    [
        ("end", "2024-03-01T09:00", "2024-03-01T08:59"),  # end == start ok, 1 min before not
        ("dose_g_per_kg", "0", "-0.001"),
        ("dose_g_per_kg", "", "inf"),
        ("rate_ml_per_kg_min", "0", "-0.01"),
        ("rate_ml_per_kg_min", "NA", "nan"),
        ("cycle", "1", "0"),
        ("cycle", "2", "1.5"),
        ("product", "PLACEBO", "saline"),
        ("product", "", "ivig "),  # whitespace is stripped: not bad, so probe another value
        ("start", "2024-03-01T09:00+00:00", "2024-03-01 9am"),
        ("subject_id", "P 2", ""),
        ("subject_id", "P2", "NA"),
    ],
)
def test_infusion_rules_from_both_sides(column: str, good: str, bad: str) -> None:
    if column == "product" and bad == "ivig ":
        validate_infusions(infusion(product=bad))
        return
    validate_infusions(infusion(**{column: good}))
    p = problems(validate_infusions, infusion(**{column: bad}))
    assert list(p["column"]) == [column]
    assert p["row"].tolist() == [1] and p["table"].tolist() == ["infusions"]


@pytest.mark.parametrize("column", ["subject_id", "start", "end", "cycle"])
def test_infusion_required_columns(column: str) -> None:
    p = problems(validate_infusions, infusion().drop(columns=[column]))
    assert p["column"].tolist() == [column] and p["row"].isna().all()


def test_infusions_every_problem_at_once_and_unknown_subjects() -> None:
    frame = pd.concat(
        [
            infusion(cycle="0"),
            infusion(subject_id="X9", dose_g_per_kg="abc"),
            infusion(end="2024-02-01T00:00"),
        ],
        ignore_index=True,
    )
    p = problems(lambda f: validate_infusions(f, subject_ids=["P1"]), frame)
    assert set(zip(p["row"], p["column"], strict=True)) == {
        (1, "cycle"),
        (2, "subject_id"),
        (2, "dose_g_per_kg"),
        (3, "end"),
    }


def test_valid_adverse_event_is_typed() -> None:
    out = validate_adverse_events(event(serious="Yes", severity="SEVERE", end=""))
    assert out["serious"].tolist() == [True]
    assert out["severity"].tolist() == ["severe"]
    assert out["end"].isna().all()


@pytest.mark.parametrize(
    ("column", "good", "bad"),
    [
        ("onset", "2024-03-01T15:00", ""),  # onset is required
        ("onset", "2024-03-01", "2024-13-01"),
        ("end", "2024-03-01T15:00", "2024-03-01T14:59"),  # end == onset ok, before not
        ("serious", "no", "maybe"),
        ("related", "1", "2"),
        ("thromboembolic", "", "yes please"),
        ("severity", "life-threatening", "grade 3"),
        ("term", "Rash", "Rash\nsecond line"),
        ("term", "Rash", ""),
    ],
)
def test_adverse_event_rules_from_both_sides(column: str, good: str, bad: str) -> None:
    validate_adverse_events(event(**{column: good}))
    p = problems(validate_adverse_events, event(**{column: bad}))
    assert list(p["column"]) == [column]


def test_vocabularies_come_from_the_data_file() -> None:
    assert PRODUCTS == ("ivig", "placebo")
    assert SEVERITIES == ("mild", "moderate", "severe", "life-threatening", "fatal")


def test_simulated_trial_tables_validate() -> None:
    from myotrial.simulate import synthetic_trial

    trial = synthetic_trial(seed=3)
    ids = trial.subjects["subject_id"].tolist()
    inf = validate_infusions(trial.infusions, subject_ids=ids)
    ae = validate_adverse_events(trial.adverse_events, subject_ids=ids)
    assert len(inf) == len(trial.infusions) and len(ae) == len(trial.adverse_events)
