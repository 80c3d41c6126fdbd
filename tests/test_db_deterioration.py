"""Must-show of issue 10: a live database (SQLite and PostgreSQL) holding an IVIG-arm patient and
a placebo-arm patient who both have a confirmed deterioration. After ``myotrial db export``
(unblinded) and ``derive``, the IVIG patient has no crossover (``CROSSFL=N``, deterioration
recorded) and the placebo patient switches to IVIG at the confirming visit. The blinded export
and the service's blinded results are the same for both patients."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import db_support
from db_support import BASELINE, Trial, arm_of, enrol
from myotrial.cli.db import db_app
from myotrial.db import DETERIORATION_DESCRIPTION
from myotrial.derive import derive_all
from myotrial.protocol import load_protocol

database_url = pytest.fixture(params=db_support.BACKENDS)(db_support.database_url)
WORSE_B = {**BASELINE, "extramuscular": 5.5}  # clause B: extramuscular worse by >= 2 cm
PRODERM = load_protocol("proderm")


@pytest.fixture
def trial(database_url: str) -> Trial:
    assert PRODERM.source is not None
    return db_support.make_trial(database_url, protocol=PRODERM.source)


def _one_per_arm(t: Trial) -> dict[str, str]:
    """Enrol until each arm has a patient; arm -> subject id."""
    found: dict[str, str] = {}
    for i in range(8):
        sid = f"D{i:02d}"
        enrol(t, sid)
        found.setdefault(arm_of(t, sid), sid)
        if len(found) == 2:
            return found
    raise AssertionError("a block of 4 holds both arms")


def _export(url: str, folder: Path, user: str) -> dict[str, pd.DataFrame]:
    """``myotrial db export`` as ``user``; the written CSV files read back."""
    result = CliRunner().invoke(db_app, ["export", "-d", url, "-o", str(folder), "--user", user],
                                env={"MYOTRIAL_PASSWORD": db_support.PASSWORD})
    assert result.exit_code == 0, result.output
    return {name: pd.read_csv(folder / f"{name}.csv")
            for name in ("visits", "subjects", "infusions", "adverse_events")}


def test_ivig_patient_deteriorates_without_crossover_placebo_patient_switches(
        trial: Trial, tmp_path: Path) -> None:
    svc, inv = trial.service, trial.inv1
    patients = _one_per_arm(trial)
    assert set(patients) == {"ivig", "placebo"}
    events = {}
    for arm, sid in patients.items():
        svc.record_visit(inv, sid, 4, WORSE_B, visit_date="2024-03-29")
        result = svc.record_visit(inv, sid, 8, WORSE_B, visit_date="2024-04-26")
        assert result.cd_confirmed and result.deterioration is not None
        events[arm] = result.deterioration
        svc.record_visit(inv, sid, 12, WORSE_B)
    # what a blinded user sees is the same for both arms
    for event in events.values():
        assert (event.confirmed_week, event.description, event.new) == (
            8, DETERIORATION_DESCRIPTION, True)
    blinded = _export(trial.url, tmp_path / "blinded", "bstat")["subjects"]
    assert "arm" not in blinded and "crossover_week" not in blinded
    assert "crossover_to" not in blinded
    assert blinded.set_index("subject_id").loc[list(patients.values()),
                                               "deterioration_week"].tolist() == [8, 8]

    tables = _export(trial.url, tmp_path / "unblinded", "ustat")
    subjects = tables["subjects"].set_index("subject_id")
    ivig, placebo = patients["ivig"], patients["placebo"]
    assert subjects.loc[ivig, "deterioration_week"] == 8
    assert pd.isna(subjects.loc[ivig, "crossover_week"])
    assert pd.isna(subjects.loc[ivig, "crossover_to"])
    assert subjects.loc[placebo, "crossover_week"] == 8
    assert subjects.loc[placebo, "crossover_to"] == "ivig"

    derived = derive_all(tables["visits"], tables["subjects"], PRODERM)
    adsl = derived.adsl.set_index("USUBJID")
    assert adsl.loc[ivig, "CROSSFL"] == "N"
    assert adsl.loc[ivig, "CDFL"] == "Y" and adsl.loc[ivig, "CDWK"] == 8
    assert pd.isna(adsl.loc[ivig, "CROSSWK"])
    assert "->" not in str(adsl.loc[ivig, "TRTSEQ"])  # never "switched ivig -> ivig"
    assert adsl.loc[placebo, "CROSSFL"] == "Y" and adsl.loc[placebo, "CROSSWK"] == 8
    assert adsl.loc[placebo, "CDFL"] == "Y" and adsl.loc[placebo, "CDWK"] == 8
    assert adsl.loc[placebo, "TRTSEQ"].startswith("placebo->ivig")
