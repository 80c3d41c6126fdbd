"""Service layer: the trial flow end to end, validation that changes nothing, safety flags,
corrections with reasons, randomisation rules. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

import db_support
from db_support import BASELINE, Trial, arm_of, candidate, enrol, snapshot
from myotrial.db import DETERIORATION_DESCRIPTION, PermissionDenied, verify_audit_chain
from myotrial.db.exports import flag_infusion_related
from myotrial.errors import InputValidationError
from myotrial.protocol import load_protocol
from myotrial.randomisation import AllocationError
from myotrial.scoring import score_visits

database_url = pytest.fixture(params=db_support.BACKENDS)(db_support.database_url)
trial = pytest.fixture(db_support.trial)

WORSE_B = {**BASELINE, "extramuscular": 5.5}  # clause B: extramuscular worse by >= 2 cm


def test_full_flow_screen_randomise_visits_deterioration_crossover(trial: Trial) -> None:
    svc, inv = trial.service, trial.inv1
    screening = svc.record_screening(inv, candidate("P001"), msa_group="dm_specific")
    assert screening.eligible is True and screening.status == "eligible"
    assert screening.bohan_peter_class == "definite_dm"
    base = svc.record_visit(inv, "P001", 0, BASELINE, visit_date="2024-03-01")
    assert base.tis is None and base.tis_missing_reason == "baseline visit"
    rand = svc.randomise_subject(inv, "P001")
    assert rand.kit_code.startswith("K") and rand.sequence == 1
    assert not hasattr(rand, "arm")

    improved = svc.record_visit(inv, "P001", 4, {**BASELINE, "pga": 2.0})
    oracle = score_visits(pd.DataFrame([{"subject_id": "P001", "visit_week": 0, **BASELINE},
                                        {"subject_id": "P001", "visit_week": 4, **BASELINE,
                                         "pga": 2.0}]))
    assert improved.tis == oracle.loc[1, "tis"] > 0
    assert improved.tis_category == oracle.loc[1, "tis_category"]
    assert improved.worsening is False
    w8 = svc.record_visit(inv, "P001", 8, WORSE_B)
    assert w8.worsening is True and w8.worsening_clauses == ("B",) and not w8.cd_confirmed
    assert w8.deterioration is None
    w12 = svc.record_visit(inv, "P001", 12, WORSE_B)
    assert w12.cd_confirmed is True
    assert w12.deterioration is not None and w12.deterioration.new
    assert w12.deterioration.confirmed_week == 12
    assert w12.deterioration.description == DETERIORATION_DESCRIPTION
    # a later visit reports the existing event, and no second one is recorded
    w16 = svc.record_visit(inv, "P001", 16, WORSE_B)
    assert w16.deterioration is not None and not w16.deterioration.new

    view = svc.get_subject(inv, "P001")
    assert view.randomised and view.kit_code == rand.kit_code
    assert view.deterioration is not None and view.deterioration.confirmed_week == 12
    tables = svc.export_tables(trial.bstat)
    subjects = tables["subjects"]
    assert subjects["deterioration_week"].tolist() == [12]
    assert "crossover_week" not in subjects.columns  # blinded: no switch information
    assert tables["visits"]["visit_week"].tolist() == [0, 4, 8, 12, 16]
    scored = svc.score_subject(trial.monitor, "P001")
    assert scored["cd_confirmed"].tolist() == [False, False, False, True, True]
    report = verify_audit_chain(trial.engine)
    assert report.ok, report.summary()


def test_unblinded_export_shows_the_switch_of_a_crossover_arm(trial: Trial) -> None:
    svc, inv = trial.service, trial.inv1
    switcher = None
    for i in range(6):
        sid = f"P{i:03d}"
        enrol(trial, sid)
        if arm_of(trial, sid) == db_support.ARMS[1]:
            switcher = sid
            break
    assert switcher is not None
    svc.record_infusion(inv, switcher, cycle=1, start="2024-03-02T09:00",
                        end="2024-03-02T14:00", dose_g_per_kg=1.0)
    svc.record_visit(inv, switcher, 4, WORSE_B, visit_date="2024-03-29")
    svc.record_visit(inv, switcher, 8, WORSE_B, visit_date="2024-04-26")
    svc.record_infusion(inv, switcher, cycle=3, start="2024-04-27T09:00",
                        end="2024-04-27T14:00", dose_g_per_kg=1.0)
    tables = svc.export_tables(trial.ustat, blinded=False)
    row = tables["subjects"].set_index("subject_id").loc[switcher]
    assert row["arm"] == db_support.ARMS[1] and row["crossover_to"] == db_support.ARMS[0]
    products = tables["infusions"].query("subject_id == @switcher")["product"].tolist()
    assert products == [db_support.ARMS[1], db_support.ARMS[0]]


def test_ineligible_subject_is_not_randomised(trial: Trial) -> None:
    svc, inv = trial.service, trial.inv1
    result = svc.record_screening(inv, candidate("P050", age=85))
    assert result.eligible is False and any("age" in r for r in result.reasons)
    before = snapshot(trial.engine)
    with pytest.raises(InputValidationError, match="not eligible"):
        svc.randomise_subject(inv, "P050")
    assert snapshot(trial.engine) == before


def test_only_baseline_before_randomisation(trial: Trial) -> None:
    svc, inv = trial.service, trial.inv1
    svc.record_screening(inv, candidate("P060"))
    svc.record_visit(inv, "P060", 0, BASELINE)
    with pytest.raises(InputValidationError, match="not randomised"):
        svc.record_visit(inv, "P060", 4, BASELINE)


# ----------------------------------------------------------------------------------------------
# invalid input changes nothing and names subject, visit and field

BadCall = Callable[[Trial], Any]
BAD_CALLS: dict[str, tuple[BadCall, list[tuple[str | None, str | None]]]] = {
    # name: (call, expected located problems [(column, visit_week)])
    "out-of-range and non-numeric measures": (
        lambda t: t.service.record_visit(t.inv1, "P001", 4, {**BASELINE, "pga": 11,
                                                             "mmt8": "abc", "xyz": 1}),
        [("pga", "4"), ("mmt8", "4"), ("xyz", "4")]),
    "enzyme without ULN": (
        lambda t: t.service.record_visit(t.inv1, "P001", 4, {**BASELINE, "ldh": 300}),
        [("ldh_uln", "4")]),
    "duplicate visit": (
        lambda t: t.service.record_visit(t.inv1, "P001", 0, BASELINE), [("visit_week", "0")]),
    "negative week": (
        lambda t: t.service.record_visit(t.inv1, "P001", -4, BASELINE), [("visit_week", "-4")]),
    "unknown subject": (
        lambda t: t.service.record_visit(t.inv1, "NOPE", 4, BASELINE), [("subject_id", None)]),
    "infusion ends before it starts, dose too high": (
        lambda t: t.service.record_infusion(t.inv1, "P001", cycle=1, start="2024-03-02T09:00",
                                            end="2024-03-02T08:00", dose_g_per_kg=3.0),
        [("end", None), ("dose_g_per_kg", None)]),
    "infusion with a bad date and no cycle": (
        lambda t: t.service.record_infusion(t.inv1, "P001", cycle=None,  # type: ignore[arg-type]
                                            start="yesterday", end="2024-03-02T08:00",
                                            dose_g_per_kg=1.0),
        [("cycle", None), ("start", None)]),
    "adverse event with unknown severity": (
        lambda t: t.service.record_adverse_event(t.inv1, "P001", term="headache",
                                                 onset="2024-03-02T10:00", severity="awful"),
        [("severity", None)]),
    "correction without a reason": (
        lambda t: t.service.correct_record(t.inv1, "visits",
                                           {"subject_id": "P001", "visit_week": 0}, "pga",
                                           5.0, "  "),
        [("reason", "0")]),
    "correction out of range": (
        lambda t: t.service.correct_record(t.inv1, "visits",
                                           {"subject_id": "P001", "visit_week": 0}, "haq", 4.0,
                                           "typo"),
        [("haq", "0")]),
    "correction of an allocation": (
        lambda t: t.service.correct_record(t.inv1, "allocations", {"subject_id": "P001"},
                                           "kit_code", "K1", "swap"),
        [("table", None)]),
    "screening with a non-numeric age": (
        lambda t: t.service.record_screening(t.inv1, candidate("P099", age="old")),
        [("age", None)]),
}


def test_invalid_input_is_located_and_changes_nothing(trial: Trial) -> None:
    enrol(trial, "P001")
    for case, (call, expected) in BAD_CALLS.items():
        before = snapshot(trial.engine)
        with pytest.raises(InputValidationError) as info:
            call(trial)
        problems = info.value.problems
        located = [(c, None if pd.isna(w) else str(w))
                   for c, w in zip(problems["column"], problems["visit_week"], strict=True)]
        for item in expected:
            assert item in located, (case, located)
        if case not in ("unknown subject", "screening with a non-numeric age"):
            assert set(problems["subject_id"].dropna()) == {"P001"}, case
        assert snapshot(trial.engine) == before, case
    assert verify_audit_chain(trial.engine).ok


# ----------------------------------------------------------------------------------------------
# safety


def test_adverse_events_within_72_hours_of_a_cycle_are_infusion_related(trial: Trial) -> None:
    svc, inv = trial.service, trial.inv1
    enrol(trial, "P001")
    # cycle 1 over two days; its last infusion day ends 2024-03-03 14:00
    svc.record_infusion(inv, "P001", cycle=1, start="2024-03-02T09:00", end="2024-03-02T14:00",
                        dose_g_per_kg=1.0, rate_ml_per_kg_min=0.04)
    svc.record_infusion(inv, "P001", cycle=1, start="2024-03-03T09:00", end="2024-03-03T14:00",
                        dose_g_per_kg=1.0, rate_ml_per_kg_min=0.04)
    cases = {  # onset -> infusion-related?
        "2024-03-02T08:59": False,  # before the cycle starts
        "2024-03-02T20:00": True,   # between the two infusion days: during the cycle
        "2024-03-06T13:59": True,   # 71:59 h after the last end
        "2024-03-06T14:00": True,   # exactly 72 h: closed edge
        "2024-03-06T14:01": False,  # 72 h 1 min
    }
    results = {onset: svc.record_adverse_event(inv, "P001", term="headache", onset=onset,
                                               severity="mild")
               for onset in cases}
    for onset, expected in cases.items():
        assert results[onset].infusion_related is expected, onset
        assert (results[onset].infusion_cycle == 1) is expected
    dvt = svc.record_adverse_event(inv, "P001", term="deep vein thrombosis",
                                   onset="2024-03-04T10:00", severity="severe", serious=True,
                                   thromboembolic=True)
    assert dvt.infusion_related and dvt.thromboembolic
    assert any("THROMBOEMBOLIC" in h for h in dvt.highlights)
    assert any("serious" in h for h in dvt.highlights)
    events = svc.export_tables(trial.monitor)["adverse_events"]
    assert events["infusion_related"].tolist() == [False, True, True, True, True, False]


def test_infusion_related_flag_is_pure_per_subject_and_uses_the_protocol_window(
        tmp_path: Any) -> None:
    ae = pd.DataFrame({"subject_id": ["A", "B", "A"],
                       "onset": pd.to_datetime(["2024-01-02T12:00"] * 2 + ["2024-01-05T15:00"])})
    inf = pd.DataFrame({"subject_id": ["A"], "cycle": [1], "start": ["2024-01-01T09:00"],
                        "end": ["2024-01-01T15:00"]})
    out = flag_infusion_related(ae, inf, load_protocol("proderm").policy)  # 72 h
    assert out["infusion_related"].tolist() == [True, False, False]  # 96 h after: no
    assert "infusion_related" not in ae.columns
    text = load_protocol("proderm").source.read_text()  # type: ignore[union-attr]
    longer = tmp_path / "window.toml"
    longer.write_text(text.replace("infusion_related_window_hours = 72",
                                   "infusion_related_window_hours = 96"))
    out = flag_infusion_related(ae, inf, load_protocol(longer).policy)
    assert out["infusion_related"].tolist() == [True, False, True]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_infusion_warnings_for_rate_and_cycle_dose(trial: Trial) -> None:
    svc, inv = trial.service, trial.inv1
    enrol(trial, "P001")
    first = svc.record_infusion(inv, "P001", cycle=1, start="2024-03-02T09:00",
                                end="2024-03-02T14:00", dose_g_per_kg=1.5,
                                rate_ml_per_kg_min=0.06)
    assert any("protocol maximum 0.04" in w for w in first.warnings)
    second = svc.record_infusion(inv, "P001", cycle=1, start="2024-03-03T09:00",
                                 end="2024-03-03T14:00", dose_g_per_kg=1.0)
    assert any("2.5 g/kg" in w for w in second.warnings)


# ----------------------------------------------------------------------------------------------
# corrections


def test_correction_is_audited_with_old_new_and_reason_and_rescored(trial: Trial) -> None:
    svc, inv = trial.service, trial.inv1
    enrol(trial, "P001")
    svc.record_visit(inv, "P001", 4, {**BASELINE, "pga": 2.0})
    result = svc.correct_record(inv, "visits", {"subject_id": "P001", "visit_week": 4}, "pga",
                                1.0, "source document says 1.0 cm")
    assert (result.old_value, result.new_value) == (2.0, 1.0)
    assert result.visit is not None and result.visit.visit_week == 4
    trail = svc.audit_trail(trial.monitor, subject_id="P001")
    last = trail.iloc[-1]
    assert (last["action"], last["table_name"], last["field"]) == ("update", "visits", "pga")
    assert (last["old_value"], last["new_value"]) == ("2.0", "1.0")
    assert last["reason"] == "source document says 1.0 cm" and last["username"] == "inv1"
    with pytest.raises(InputValidationError, match="already has this value"):
        svc.correct_record(inv, "visits", {"subject_id": "P001", "visit_week": 4}, "pga", 1.0,
                           "again")
    ae = svc.record_adverse_event(inv, "P001", term="rash", onset="2024-03-10T10:00",
                                  severity="mild")
    svc.correct_record(inv, "adverse_events", {"ae_id": ae.ae_id}, "severity", "moderate",
                       "re-graded")
    svc.record_disposition(inv, "P001", completed_week_16=True)
    with pytest.raises(InputValidationError, match="already recorded"):
        svc.record_disposition(inv, "P001", completed_week_16=False)
    svc.correct_record(inv, "subjects", {"subject_id": "P001"}, "completed_week_16", False,
                       "withdrew at week 15")
    assert svc.get_subject(inv, "P001").completed_week_16 is False
    assert verify_audit_chain(trial.engine).ok


def test_correction_that_confirms_deterioration_records_the_event(trial: Trial) -> None:
    svc, inv = trial.service, trial.inv1
    enrol(trial, "P001")
    svc.record_visit(inv, "P001", 4, WORSE_B)
    svc.record_visit(inv, "P001", 8, BASELINE)
    result = svc.correct_record(inv, "visits", {"subject_id": "P001", "visit_week": 8},
                                "extramuscular", 5.5, "value entered in the wrong field")
    assert result.visit is not None and result.visit.cd_confirmed
    assert result.visit.deterioration is not None and result.visit.deterioration.confirmed_week == 8


# ----------------------------------------------------------------------------------------------
# randomisation


def test_randomisation_rules(trial: Trial) -> None:
    svc, inv = trial.service, trial.inv1
    kit = enrol(trial, "P001")
    with pytest.raises(AllocationError, match=f"already randomised \\(kit {kit}\\)"):
        svc.randomise_subject(inv, "P001")
    with pytest.raises(AllocationError, match="already loaded"):
        svc.generate_randomisation_list(trial.ustat, svc.protocol_scheme(), seed=1)
    with pytest.raises(TypeError):  # issue 12: the stratum is never typed at randomisation
        svc.randomise_subject(inv, "P002", {"sex": "female"})  # type: ignore[call-arg]
    with pytest.raises(InputValidationError, match="cannot be re-screened"):
        svc.record_screening(inv, candidate("P001"))


def test_list_exhaustion_and_concurrent_randomisation(database_url: str) -> None:
    t = db_support.make_trial(database_url, n_per_stratum=4)
    try:
        ids = [f"C{i}" for i in range(6)]
        for sid in ids:
            t.service.record_screening(t.inv1, candidate(sid))
        errors: list[BaseException] = []
        kits: list[str] = []

        def worker(sid: str) -> None:
            try:
                kits.append(t.service.randomise_subject(t.inv1, sid).kit_code)
            except AllocationError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(sid,)) for sid in ids]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        # 4 slots: exactly 4 distinct kits, 2 refusals naming the stratum, not an arm
        assert len(kits) == len(set(kits)) == 4
        assert len(errors) == 2 and all("no allocations left" in str(e) for e in errors)
        assert verify_audit_chain(t.engine).ok
    finally:
        t.engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deactivated_user_is_refused(trial: Trial) -> None:
    svc = trial.service
    svc.deactivate_user(trial.admin, "inv2", "left the site")
    with pytest.raises(PermissionDenied):
        svc.list_subjects(trial.inv2)
    with pytest.raises(PermissionDenied, match="unknown user name or wrong password"):
        svc.authenticate("inv2", db_support.PASSWORD)
    assert svc.authenticate("inv1", db_support.PASSWORD) == trial.inv1
    with pytest.raises(PermissionDenied, match="unknown user name or wrong password"):
        svc.authenticate("inv1", "wrong password!")


def test_times_are_stored_in_utc(trial: Trial) -> None:
    enrol(trial, "P001")
    aware = dt.datetime(2024, 3, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    res = trial.service.record_infusion(trial.inv1, "P001", cycle=1, start=aware,
                                        end="2024-03-02T12:00Z", dose_g_per_kg=1.0)
    assert res.start == dt.datetime(2024, 3, 2, 8, 0)
    assert res.end == dt.datetime(2024, 3, 2, 12, 0)
