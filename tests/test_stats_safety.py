"""Safety summaries: infusion-related window (the protocol's, 72 h in proderm.toml; proderm.md
Safety), arm/period from ADSL, rates."""

from __future__ import annotations

import pandas as pd
import pytest

import myotrial.derive
import myotrial.stats
from myotrial.errors import InputValidationError
from myotrial.protocol import load_protocol
from myotrial.stats import (
    derive_arm_period,
    derive_infusion_related,
    summarise_adverse_events,
    summarise_ae_terms,
)

SUBJECTS = pd.DataFrame({
    "subject_id": ["S1", "S2", "S3"],
    "arm": ["ivig", "ivig", "placebo"],
    "extension_start": ["2024-03-01T08:00", None, "2024-03-01T08:00"],
})
# S1 cycle 1: two infusion days, 2024-01-01 09:00 -> 2024-01-02 15:00 (cycle end)
INFUSIONS = pd.DataFrame({
    "subject_id": ["S1", "S1", "S1", "S3", "S3"],
    "start": ["2024-01-01T09:00", "2024-01-02T09:00", "2024-03-02T09:00",
              "2024-01-01T09:00", "2024-03-02T09:00"],
    "end": ["2024-01-01T15:00", "2024-01-02T15:00", "2024-03-02T15:00",
            "2024-01-01T15:00", "2024-03-02T15:00"],
    "product": ["ivig", "ivig", "ivig", "placebo", "ivig"],
    "dose_g_per_kg": [1.0, 1.0, 2.0, 0, 2.0],
    "rate_ml_per_kg_min": [0.04] * 5,
    "cycle": [1, 1, 2, 1, 2],
})


def _ae(subject: str, onset: str | None, term: str = "headache",
        body: str = "nervous system", **flags: str) -> dict[str, object]:
    row: dict[str, object] = {"subject_id": subject, "term": term, "body_system": body,
                              "onset": onset, "end": None, "serious": "false",
                              "severity": "mild", "related": "false",
                              "thromboembolic": "false"}
    row.update(flags)
    return row


def test_window_comes_from_the_protocol(tmp_path: pd.DataFrame) -> None:
    # one implementation, re-exported; no window constant in code
    assert myotrial.stats.derive_infusion_related is myotrial.derive.derive_infusion_related
    assert not hasattr(myotrial.stats, "INFUSION_RELATED_WINDOW_HOURS")
    assert load_protocol("proderm").infusion_related_window_hours == 72.0  # proderm.md, Safety
    text = load_protocol("proderm").source.read_text()  # type: ignore[union-attr]
    copy = tmp_path / "short_window.toml"  # type: ignore[operator]
    copy.write_text(text.replace("infusion_related_window_hours = 72",
                                 "infusion_related_window_hours = 24"))
    short = load_protocol(copy)
    ae = pd.DataFrame([_ae("S1", "2024-01-03T15:00"), _ae("S1", "2024-01-03T15:01")])
    # 24 h after the cycle end: inside both windows; one minute later only inside 72 h
    assert derive_infusion_related(ae, INFUSIONS)["infusion_related"].tolist() == [True, True]
    assert derive_infusion_related(ae, INFUSIONS, short)["infusion_related"].tolist() == [
        True, False]
    out = summarise_adverse_events(ae, SUBJECTS, INFUSIONS, protocol=short)
    row = out.set_index(["arm", "category"]).loc[("ivig", "infusion_related")]
    assert row["n_events"] == 1


@pytest.mark.parametrize(
    ("onset", "expected", "reason"),
    [
        ("2024-01-01T08:59", False, "just before the first infusion day starts"),
        ("2024-01-01T09:00", True, "at the cycle start (inclusive)"),
        ("2024-01-01T20:00", True, "between the two infusion days of the same cycle"),
        ("2024-01-05T15:00", True, "exactly 72 h after the last infusion day ends (inclusive)"),
        ("2024-01-05T15:01", False, "just after the 72 h window"),
        (None, None, "missing onset: cannot be determined"),
    ],
)
def test_infusion_related_edges(onset: str | None, expected: bool | None, reason: str) -> None:
    ae = pd.DataFrame([_ae("S1", onset)])
    out = derive_infusion_related(ae, INFUSIONS)
    got = out["infusion_related"].iloc[0]
    if expected is None:
        assert pd.isna(got), reason
    else:
        assert bool(got) is expected, reason
        cycle = out["infusion_cycle"].iloc[0]
        assert (cycle == 1) if expected else pd.isna(cycle), reason


def test_window_is_a_parameter() -> None:
    ae = pd.DataFrame([_ae("S1", "2024-01-03T15:00")])  # 24 h after cycle end
    assert bool(derive_infusion_related(ae, INFUSIONS)["infusion_related"].iloc[0])
    assert not bool(derive_infusion_related(ae, INFUSIONS, window_hours=12)
                    ["infusion_related"].iloc[0])
    with pytest.raises(ValueError, match="window_hours=-1"):
        derive_infusion_related(ae, INFUSIONS, window_hours=-1)


def test_input_is_not_mutated_and_rows_kept() -> None:
    ae = pd.DataFrame([_ae("S1", "2024-01-01T10:00"), _ae("S2", None)])
    before = ae.copy()
    out = derive_infusion_related(ae, INFUSIONS)
    pd.testing.assert_frame_equal(ae, before)
    assert len(out) == 2 and not bool(pd.isna(out["infusion_related"].iloc[0]))


def test_nothing_to_pair_gives_what_pairing_with_unrelated_infusions_gives() -> None:
    """No infusions (or no events) skips the pairing; the result is the general path's for
    infusions that cover no event: not related (NA when the onset is missing), no cycle,
    same columns and types."""
    ae = pd.DataFrame([_ae("S1", "2024-01-01T10:00"), _ae("S2", None)])
    elsewhere = INFUSIONS.assign(subject_id="S9")  # pairs with nobody: the general path
    general = derive_infusion_related(ae, elsewhere)
    for infusions in (INFUSIONS.iloc[:0], INFUSIONS.iloc[:0].astype(object)):
        pd.testing.assert_frame_equal(derive_infusion_related(ae, infusions), general)
    assert general["infusion_related"].tolist()[0] is False
    assert pd.isna(general["infusion_related"].iloc[1])
    assert general["infusion_cycle"].isna().all()
    empty = derive_infusion_related(ae.iloc[:0], INFUSIONS)
    assert list(empty.columns) == list(general.columns) and len(empty) == 0


def test_bad_datetime_reported_with_location() -> None:
    ae = pd.DataFrame([_ae("S1", "2024-01-01T10:00"), _ae("S2", "not a date")])
    with pytest.raises(InputValidationError) as err:
        derive_infusion_related(ae, INFUSIONS)
    problems = err.value.problems
    assert problems[["row", "subject_id", "column", "value"]].iloc[0].tolist() == [
        2, "S2", "onset", "not a date"]


ADSL = pd.DataFrame({
    "USUBJID": ["S1", "S2", "S3", "S4"],
    "RANDFL": ["Y", "Y", "Y", "N"],
    "ARMCD": ["ivig", "ivig", "placebo", None],
    "TRT01A": ["ivig", "ivig", "placebo", None],
    "TRT02A": [None, None, "ivig", None],
    "TRT03A": ["ivig", None, "ivig", None],
    "AP01SDT": ["2024-01-01", "2024-01-01", "2024-01-01", None],
    "AP02SDT": [None, None, "2024-02-26", None],
    "AP03SDT": ["2024-03-01", None, "2024-03-01", None],
})


def test_arm_and_period_from_adsl() -> None:
    ae = pd.DataFrame([_ae("S1", "2024-01-01T10:00"), _ae("S1", "2024-03-02T10:00"),
                       _ae("S2", "2024-05-01T10:00"), _ae("S3", None),
                       _ae("S3", "2024-02-25T23:59"), _ae("S3", "2024-02-26T00:00"),
                       _ae("S3", "2024-03-01T00:00")])
    out = derive_arm_period(ae, ADSL)
    assert out["arm"].tolist() == ["ivig"] * 3 + ["placebo"] * 4
    # S2 never entered the extension: stays in the randomised period; S3 switched on
    # 2024-02-26 (that day belongs to the new period) and entered the extension on 03-01
    assert out["period"].tolist() == ["randomised", "extension", "randomised", "unknown",
                                      "randomised", "after_switch", "extension"]
    assert out["APERIOD"].tolist()[4:] == [1, 2, 3]
    assert out["TRTA"].tolist()[4:] == ["placebo", "ivig", "ivig"]
    with pytest.raises(InputValidationError) as err:
        derive_arm_period(pd.DataFrame([_ae("S9", None), _ae("S4", None)]), ADSL)
    assert err.value.problems["subject_id"].tolist() == ["S9", "S4"]
    assert err.value.problems["row"].tolist() == [1, 2]


def test_summary_counts_denominators_and_rates() -> None:
    ae = pd.DataFrame([
        _ae("S1", "2024-01-01T10:00"),  # infusion-related, randomised
        _ae("S1", "2024-01-02T10:00", term="pyrexia", body="general"),  # same subject
        _ae("S2", "2024-02-01T10:00", serious="true", thromboembolic="yes", severity="severe",
            term="deep vein thrombosis", body="vascular"),
        _ae("S3", "2024-03-03T10:00", related="1"),  # extension, infusion-related
    ])
    out = summarise_adverse_events(ae, SUBJECTS, INFUSIONS, period_start="extension_start")
    idx = out.set_index(["arm", "period", "category"])
    r = idx.loc[("ivig", "randomised", "any")]
    assert (r["n_subjects"], r["n_with_event"], r["n_events"]) == (2, 2, 3)
    assert r["n_infusions"] == 2 and r["events_per_100_infusions"] == pytest.approx(150.0)
    assert idx.loc[("ivig", "randomised", "infusion_related"), "n_events"] == 2
    assert idx.loc[("ivig", "randomised", "thromboembolic"), "n_with_event"] == 1
    assert idx.loc[("ivig", "randomised", "severe_or_worse"), "n_events"] == 1
    assert idx.loc[("ivig", "extension", "any"), "n_subjects"] == 1  # only S1 has a start
    assert idx.loc[("placebo", "extension", "related"), "n_events"] == 1
    assert idx.loc[("placebo", "extension", "infusion_related"), "pct"] == 100.0
    assert idx.loc[("placebo", "randomised", "any"), "n_events"] == 0  # zero rows kept

    terms = summarise_ae_terms(ae, SUBJECTS, INFUSIONS, period_start="extension_start",
                               infusion_related_only=True)
    ivig = terms[(terms["arm"] == "ivig") & (terms["period"] == "randomised")]
    assert ivig["term"].tolist() == ["(any)", "pyrexia", "(any)", "headache"]
    assert ivig["pct"].tolist() == [50.0, 50.0, 50.0, 50.0]
    with pytest.raises(ValueError, match="needs the infusions table"):
        summarise_ae_terms(ae, SUBJECTS, infusion_related_only=True)


def test_summary_without_periods_or_infusions() -> None:
    ae = pd.DataFrame([_ae("S1", "2024-01-01T10:00")])
    out = summarise_adverse_events(ae, SUBJECTS)
    assert set(out["period"]) == {"overall"}
    assert "infusion_related" not in set(out["category"])
    assert out["n_infusions"].isna().all()


def test_bad_boolean_reported() -> None:
    ae = pd.DataFrame([_ae("S1", "2024-01-01T10:00", serious="maybe")])
    with pytest.raises(InputValidationError, match="serious"):
        summarise_adverse_events(ae, SUBJECTS)
