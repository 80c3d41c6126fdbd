"""Blinded roles never see an allocation: not in service results, exports, the audit trail or
error messages. The arm codes of the test list (``armzulu``, ``armyankee``) occur in no other
text, so any occurrence in a blinded view is a leak."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

import db_support
from db_support import ARMS, BASELINE, Trial, arm_of, candidate
from myotrial.db import PermissionDenied
from myotrial.randomisation import AllocationError

database_url = pytest.fixture(params=db_support.BACKENDS)(db_support.database_url)
WORSE_B = {**BASELINE, "extramuscular": 5.5}


def _leaks(text: str) -> list[str]:
    return [arm for arm in ARMS if arm in text]


def _text(value: Any) -> str:
    if isinstance(value, pd.DataFrame):
        return value.to_csv(index=False)
    if isinstance(value, dict):
        return json.dumps({k: _text(v) for k, v in value.items()})
    if isinstance(value, tuple | list):
        return json.dumps([_text(v) for v in value])
    if hasattr(value, "as_dict"):
        return json.dumps(value.as_dict(), default=str)
    return str(value)


def _run_trial(t: Trial, seen: list[Any]) -> None:
    """Enrol four subjects (both arms, both sites); confirmed deterioration in each arm;
    infusions, adverse events, a correction. Everything returned to a blinded user is kept."""
    svc = t.service
    for i, inv in enumerate([t.inv1, t.inv1, t.inv2, t.inv2]):
        sid = f"B{i}"
        seen.append(svc.record_screening(inv, candidate(sid)))
        seen.append(svc.record_visit(inv, sid, 0, BASELINE, visit_date="2024-03-01"))
        seen.append(svc.randomise_subject(inv, sid))
        seen.append(svc.record_infusion(inv, sid, cycle=1, start="2024-03-02T09:00",
                                        end="2024-03-02T14:00", dose_g_per_kg=1.0,
                                        kit_code=seen[-1].kit_code))
        seen.append(svc.record_visit(inv, sid, 4, WORSE_B, visit_date="2024-03-29"))
        seen.append(svc.record_visit(inv, sid, 8, WORSE_B, visit_date="2024-04-26"))
        seen.append(svc.record_infusion(inv, sid, cycle=3, start="2024-04-27T09:00",
                                        end="2024-04-27T14:00", dose_g_per_kg=1.0))
        seen.append(svc.record_adverse_event(inv, sid, term="headache",
                                             onset="2024-04-28T10:00", severity="mild"))
        seen.append(svc.correct_record(inv, "visits", {"subject_id": sid, "visit_week": 4},
                                       "pga", 4.5, "source verification"))


_KEYS = {"subject_id", "site_id", "kit_code", "randomised_at", "stratum", "recorded_at",
         "infusion_id", "ae_id", "crossover_id", "visit_id", "screening_id", "timestamp",
         "record_key", "id", "hash", "prev_hash", "username", "screened_at", "sequence",
         "slot_id"}


def _strip(value: Any) -> Any:
    """A view without the keys that name a subject, a record or a time (never an arm)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items()
                if k not in _KEYS and not str(k).startswith("stratum")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, str) and value.startswith("{"):
        return _strip(json.loads(value))
    return value


def _rows(frame: pd.DataFrame, sid: str) -> list[Any]:
    part = frame.loc[frame["subject_id"] == sid]
    return _strip(json.loads(part.to_json(orient="records", date_format="iso")))


def test_deterioration_looks_the_same_in_every_arm_to_blinded_users(database_url: str) -> None:
    """Four subjects with the same data, in both arms, all with a confirmed deterioration at
    week 8 (the control arm switches, the treatment arm does not): every blinded view, export
    and audit row of an arm-A subject equals that of an arm-B subject once subject ids, record
    ids and times are taken out. Whether a crossover happened shows in no blinded view."""
    t = db_support.make_trial(database_url, n_per_stratum=4)
    try:
        _run_trial(t, [])
        svc = t.service
        by_arm: dict[str, list[str]] = {}
        for i in range(4):
            by_arm.setdefault(arm_of(t, f"B{i}"), []).append(f"B{i}")
        assert set(by_arm) == set(ARMS)
        a, b = by_arm[ARMS[0]][0], by_arm[ARMS[1]][0]
        for actor in (t.monitor, t.bstat):
            va, vb = (svc.get_subject(actor, s).as_dict() for s in (a, b))
            assert va["deterioration"]["description"] == "confirmed deterioration per protocol"
            assert _strip(va) == _strip(vb)
            tables = svc.export_tables(actor)
            assert "crossover_week" not in tables["subjects"].columns
            assert tables["subjects"]["deterioration_week"].tolist() == [8, 8, 8, 8]
            for name, frame in tables.items():
                assert _rows(frame, a) == _rows(frame, b), name
            trail = svc.audit_trail(actor)
            assert _rows(trail.drop(columns=["site_id", "role"]), a) == \
                _rows(trail.drop(columns=["site_id", "role"]), b)
        # the unblinded view tells them apart: only the control arm switched
        unblinded = svc.export_tables(t.ustat, blinded=False)["subjects"].set_index("subject_id")
        assert unblinded.loc[b, "crossover_week"] == 8 and unblinded.loc[b, "crossover_to"] == \
            ARMS[0]
        assert pd.isna(unblinded.loc[a, "crossover_week"])
        assert pd.isna(unblinded.loc[a, "crossover_to"])
    finally:
        t.engine.dispose()


def test_blinded_roles_never_see_allocations(database_url: str) -> None:
    t = db_support.make_trial(database_url, n_per_stratum=4)
    try:
        seen: list[Any] = []
        _run_trial(t, seen)
        arms = {arm_of(t, f"B{i}") for i in range(4)}
        assert arms == set(ARMS), "the run must cover both arms"
        svc = t.service
        for actor in t.blinded_readers:
            seen.append(svc.list_subjects(actor))
            seen.append(svc.get_subject(actor, "B0"))
            seen.append(svc.score_subject(actor, "B0"))
            tables = svc.export_tables(actor)
            seen.append(tables)
            assert "arm" not in tables["subjects"].columns
            assert "crossover_to" not in tables["subjects"].columns
            assert "product" not in tables["infusions"].columns
            seen.append(svc.audit_trail(actor))
        seen.append(svc.audit_trail(t.admin))
        seen.append(svc.list_users(t.admin))
        # errors a blinded user can provoke
        errors: list[BaseException] = []
        attempts = [
            lambda: svc.randomise_subject(t.inv1, "B0"),  # already randomised
            lambda: (svc.record_screening(t.inv1, candidate("B9")),
                     svc.randomise_subject(t.inv1, "B9")),  # stratum exhausted
            lambda: svc.export_tables(t.bstat, blinded=False),
            lambda: svc.export_tables(t.inv1, blinded=False),
            lambda: svc.list_allocations(t.monitor),
            lambda: svc.list_allocations(t.admin),
            lambda: svc.correct_record(t.inv1, "allocations", {"subject_id": "B0"},
                                       "slot_id", 2, "swap"),
            lambda: svc.record_visit(t.inv1, "B2", 12, BASELINE),  # other site
        ]
        for attempt in attempts:
            with pytest.raises((PermissionDenied, AllocationError, ValueError)) as info:
                attempt()
            errors.append(info.value)
        seen.extend(str(e) for e in errors)
        for item in seen:
            text = _text(item)
            assert not _leaks(text), (type(item).__name__, text[:300])
        # the stored audit trail itself holds no arm (blind-safe by construction)
        with t.engine.connect() as conn:
            audit = pd.DataFrame(conn.execute(sa.text("SELECT * FROM audit_log")).all())
        assert not _leaks(audit.to_csv())
        # the unblinded statistician does see them, and the switch of the crossover arm
        unblinded = svc.export_tables(t.ustat, blinded=False)
        subjects = unblinded["subjects"]
        assert set(subjects["arm"].dropna()) == set(ARMS)
        assert set(subjects["deterioration_week"].dropna()) == {8}  # every arm
        assert set(subjects["crossover_week"].dropna()) == {8}  # the switching arm only
        assert subjects.loc[subjects["arm"] == ARMS[0], "crossover_week"].isna().all()
        switched = subjects.loc[subjects["arm"] == ARMS[1], "crossover_to"]
        assert set(switched) == {ARMS[0]}
        assert subjects.loc[subjects["arm"] == ARMS[0], "crossover_to"].isna().all()
        assert set(unblinded["infusions"]["product"]) == set(ARMS)
        # the unblinded statistician's default export is blinded too (explicit opt-in)
        assert "arm" not in svc.export_tables(t.ustat)["subjects"].columns
    finally:
        t.engine.dispose()
