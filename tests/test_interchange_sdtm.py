"""SDTM in: DM, EX, AE, LB (enzymes + ULN) and the custom core set findings domain XM into
the canonical tables, with located errors (unknown test code, missing baseline, range)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.interchange.errors import InterchangeError
from myotrial.interchange.sdtm import import_sdtm, load_mapping
from myotrial.protocol import load_protocol

PROTO = load_protocol()
runner = CliRunner()


def _domains() -> dict[str, pd.DataFrame]:
    dm = pd.DataFrame({
        "STUDYID": "P", "DOMAIN": "DM", "USUBJID": ["P-001", "P-002", "P-003"],
        "SITEID": ["S1", "S1", "S2"], "AGE": ["52", "61", "44"], "SEX": ["F", "M", "F"],
        "ARMCD": ["IVIG", "PLACEBO", "SCRNFAIL"], "RFSTDTC": ["2021-01-04", "2021-01-11", ""],
    })
    xm, lb = [], []
    values = {"P-001": {0: (6.5, 118, 1200.0), 4: (4.0, 126, 800.0)},
              "P-002": {0: (5.0, 120, 300.0), 4: (5.5, 119, 320.0)}}
    for sid, visits in values.items():
        for week, (pga, mmt8, ck) in visits.items():
            visit = "BASELINE" if week == 0 else f"WEEK {week}"
            for code, val in (("PGA", pga), ("PTGA", 5.0), ("EXTRAMUS", 3.0), ("MMT8", mmt8),
                              ("HAQ", 1.0)):
                xm.append({"USUBJID": sid, "XMTESTCD": code, "XMSTRESN": str(val),
                           "VISIT": visit, "XMDTC": f"2021-02-0{1 + week // 4}"})
            lb.append({"USUBJID": sid, "LBTESTCD": "CK", "LBSTRESN": str(ck),
                       "LBSTNRHI": "200", "VISIT": visit})
    ex = pd.DataFrame({"USUBJID": ["P-001"], "EXTRT": ["IVIG"], "EXDOSE": ["1"],
                       "EXDOSU": ["g/kg"], "EXSTDTC": ["2021-01-04T09:00"],
                       "EXENDTC": ["2021-01-04T12:00"], "EXGRPID": ["1"]})
    ae = pd.DataFrame({"USUBJID": ["P-002"], "AETERM": ["Headache"], "AEDECOD": ["Headache"],
                       "AEBODSYS": ["Nervous system disorders"], "AESEV": ["MILD"],
                       "AESER": ["N"], "AEREL": ["POSSIBLE"], "AESTDTC": ["2021-01-12T10:00"],
                       "AEENDTC": [""]})
    return {"DM": dm, "XM": pd.DataFrame(xm), "LB": pd.DataFrame(lb), "EX": ex, "AE": ae}


def test_sdtm_to_canonical_tables() -> None:
    t = import_sdtm(_domains(), PROTO)
    subj = t["subjects"].set_index("subject_id")
    assert subj.loc["P-001", "arm"] == "ivig" and subj.loc["P-003", "randomised"] == "false"
    v = t["visits"].set_index(["subject_id", "visit_week"])
    assert v.loc[("P-001", "4"), "pga"] == "4.0" and v.loc[("P-001", "0"), "ck_uln"] == "200"
    assert v.loc[("P-002", "4"), "mmt8"] == "119"
    assert t["infusions"].iloc[0]["product"] == "ivig"
    ae = t["adverse_events"].iloc[0]
    assert (ae["severity"], ae["related"], ae["serious"]) == ("mild", "true", "false")


def _fails(domains: dict[str, pd.DataFrame]) -> pd.DataFrame:
    with pytest.raises(InterchangeError) as exc:
        import_sdtm(domains, PROTO)
    return exc.value.problems


def test_unknown_test_code_is_located() -> None:
    d = _domains()
    d["LB"].loc[2, "LBTESTCD"] = "GLUC"
    p = _fails(d).iloc[0]
    assert (p["source"], p["row"], p["record"], p["field"], p["value"]) == (
        "LB", 3, "P-002", "LBTESTCD", "GLUC")
    assert "unknown SDTM test code" in p["rule"]
    mapping = load_mapping(None, PROTO)
    lb = next(f for f in mapping.findings if f.domain == "LB")
    assert lb.ignore == ()  # listing GLUC under ignore is the documented way to skip it


def test_missing_baseline_and_range_located_in_the_domain_row() -> None:
    d = _domains()
    d["XM"] = d["XM"][~((d["XM"]["USUBJID"] == "P-002") & (d["XM"]["VISIT"] == "BASELINE"))]
    d["LB"] = d["LB"][~((d["LB"]["USUBJID"] == "P-002") & (d["LB"]["VISIT"] == "BASELINE"))]
    d["XM"] = d["XM"].reset_index(drop=True)
    d["XM"].loc[0, "XMSTRESN"] = "12"  # PGA of P-001 at baseline: out of 0-10
    problems = _fails(d).to_dict("records")
    rules = {(p["source"], p["record"], p["field"]): p for p in problems}
    assert "between 0 and 10" in rules[("XM", "P-001", "XMSTRESN")]["rule"]
    assert rules[("XM", "P-001", "XMSTRESN")]["row"] == 1
    assert any(p["record"] == "P-002" and "baseline" in p["rule"] for p in problems)


def test_cli_sdtm_import(tmp_path: Path) -> None:
    folder = tmp_path / "sdtm"
    folder.mkdir()
    for name, frame in _domains().items():
        frame.to_csv(folder / f"{name.lower()}.csv", index=False)
    res = runner.invoke(app, ["sdtm", "import", str(folder), "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(tmp_path / "out" / "visits.csv").shape[0] == 4
    bad = pd.read_csv(folder / "xm.csv", dtype=str)
    bad.loc[0, "XMTESTCD"] = "PGAX"
    bad.to_csv(folder / "xm.csv", index=False)
    res = runner.invoke(app, ["sdtm", "import", str(folder), "-o", str(tmp_path / "o2"),
                              "--json"])
    assert res.exit_code == 2
    assert json.loads(res.stdout)["problems"][0]["value"] == "PGAX"
    assert not (tmp_path / "o2").exists()


def test_a_misspelt_key_in_the_mapping_file_is_named_with_the_suggestion(tmp_path: Path) -> None:
    from myotrial.errors import RulesError
    from myotrial.interchange.sdtm import default_mapping_path

    text = default_mapping_path().read_text(encoding="utf-8")
    bad = tmp_path / "mapping.toml"
    bad.write_text(text.replace('dose_unit = "g/kg"', 'dose_units = "g/kg"'), encoding="utf-8")
    with pytest.raises(RulesError, match=r"\[ex\]: unknown key 'dose_units'; did you mean "
                       r"'dose_unit'\?") as err:
        load_mapping(bad, PROTO)
    assert str(bad) in str(err.value)
    bad.write_text(text.replace("[visits]", "[visits]\nweek_pattern2 = 'x'"), encoding="utf-8")
    with pytest.raises(RulesError, match="unknown key 'week_pattern2'"):
        load_mapping(bad, PROTO)
