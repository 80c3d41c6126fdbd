"""REDCap: the data dictionary against REDCap's documented rules, records round trips
(canonical -> REDCap -> canonical, raw and label exports), located errors with exit 2 and
nothing written, and the API pull (PyCap) against a recorded response."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.interchange.catalogue import build_catalogue
from myotrial.interchange.errors import InterchangeError
from myotrial.interchange.redcap import (
    DICTIONARY_HEADER,
    REDCAP_FIELD_TYPES,
    REDCAP_VALIDATION_TYPES,
    catalogue_from_dictionary,
    data_dictionary,
    events_table,
    fetch_records,
    import_records,
    instrument_event_mapping,
    records_from_tables,
)
from myotrial.protocol import load_protocol
from myotrial.rules import load_scales

_spec = importlib.util.spec_from_file_location(
    "interchange_support", Path(__file__).parent / "fixtures" / "interchange" / "support.py"
)
assert _spec is not None and _spec.loader is not None
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)

FIXTURES = Path(__file__).parent / "fixtures" / "interchange"
PROTO = load_protocol()
runner = CliRunner()
TABLES = ("subjects", "screening", "visits", "infusions", "adverse_events")


def _same_values(original: pd.DataFrame, back: pd.DataFrame, columns: list[str]) -> None:
    """Every value of ``columns`` equal after the round trip (numbers as numbers, booleans as
    booleans, date-times as instants; blank = missing)."""
    assert len(original) == len(back)
    for col in columns:
        a, b = original[col].reset_index(drop=True), back[col].reset_index(drop=True)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if pd.isna(x) or x == "":
                assert pd.isna(y) or y == "", (col, i, x, y)
                continue
            if isinstance(x, bool) or str(x).lower() in ("true", "false"):
                assert str(x).lower() == str(y).lower(), (col, i, x, y)
            elif isinstance(x, int | float) or re.fullmatch(r"-?\d+(\.\d+)?", str(x)):
                assert float(x) == float(y), (col, i, x, y)
            elif re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?", str(x)):
                assert pd.Timestamp(x) == pd.Timestamp(y), (col, i, x, y)
            else:
                assert str(x) == str(y), (col, i, x, y)


# -- the dictionary against REDCap's documented rules ----------------------------------------


@pytest.fixture(scope="module")
def dictionary() -> pd.DataFrame:
    return data_dictionary(PROTO)


def test_header_is_redcaps_exact_18_columns(dictionary: pd.DataFrame) -> None:
    assert tuple(dictionary.columns) == DICTIONARY_HEADER
    assert len(DICTIONARY_HEADER) == 18
    assert DICTIONARY_HEADER[0] == "Variable / Field Name"
    assert DICTIONARY_HEADER[-1] == "Field Annotation"


def test_field_names_follow_redcap_rules(dictionary: pd.DataFrame) -> None:
    names = dictionary["Variable / Field Name"]
    assert names.is_unique
    for name in names:  # lower case letters, digits, underscores; starts with a letter
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert "__" not in name and not name.endswith("_")  # checkbox export uses ___
        assert len(name) <= 100, name  # REDCap's maximum (it recommends <= 26: see docs)
    assert names.iloc[0] == "subject_id"  # first field = the record ID
    forms = dictionary["Form Name"]
    assert forms.iloc[0] == "enrolment"
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", f) for f in forms)
    # an instrument's fields are contiguous
    assert forms.ne(forms.shift()).sum() == forms.nunique()


def test_field_types_and_validation_names(dictionary: pd.DataFrame) -> None:
    for rec in dictionary.to_dict("records"):
        assert rec["Field Type"] in REDCAP_FIELD_TYPES
        validation = rec["Text Validation Type OR Show Slider Number"]
        if validation:
            assert rec["Field Type"] == "text"  # validation only on text fields
            assert validation in REDCAP_VALIDATION_TYPES
        lo, hi = rec["Text Validation Min"], rec["Text Validation Max"]
        if lo or hi:
            assert validation in ("integer", "number")
            if lo and hi:
                assert float(lo) < float(hi)
        assert rec["Required Field?"] in ("", "y")
        assert rec["Identifier?"] in ("", "y")


def test_choices_syntax(dictionary: pd.DataFrame) -> None:
    for rec in dictionary.to_dict("records"):
        choices = rec["Choices, Calculations, OR Slider Labels"]
        if rec["Field Type"] in ("dropdown", "radio", "checkbox"):
            parts = [p.strip() for p in choices.split("|")]
            codes = [p.split(",", 1)[0].strip() for p in parts]
            assert all(re.fullmatch(r"[A-Za-z0-9_-]+", c) for c in codes), choices
            assert all("," in p and p.split(",", 1)[1].strip() for p in parts), choices
            assert len(set(codes)) == len(codes)
        else:
            assert choices == "", rec["Variable / Field Name"]  # yesno has built-in choices


def test_branching_logic_syntax(dictionary: pd.DataFrame) -> None:
    names = list(dictionary["Variable / Field Name"])
    clause = re.compile(r"\[([a-z][a-z0-9_]*)\] (=|<>|>|<|>=|<=) '([^']*)'")
    n = 0
    for rec in dictionary.to_dict("records"):
        logic = rec["Branching Logic (Show field only if...)"]
        if not logic:
            continue
        n += 1
        for part in re.split(r" (?:and|or) ", logic):
            m = clause.fullmatch(part)
            assert m, logic
            ref = m.group(1)
            assert ref in names and names.index(ref) < names.index(rec["Variable / Field Name"])
    assert n >= 8  # ULNs on their enzymes, arm on randomised, crossover on the control arm


def test_values_come_from_the_protocol_and_rules(dictionary: pd.DataFrame) -> None:
    d = dictionary.set_index("Variable / Field Name")
    scales = load_scales()
    assert float(d.loc["pga", "Text Validation Max"]) == scales.measures["pga"].max
    assert float(d.loc["haq", "Text Validation Max"]) == scales.measures["haq"].max
    assert d.loc["arm", "Choices, Calculations, OR Slider Labels"] == " | ".join(
        f"{a.code}, {a.label}" for a in PROTO.arms
    )
    assert d.loc["crossover_week", "Branching Logic (Show field only if...)"] == (
        f"[arm] = '{PROTO.control.code}'"
    )
    assert float(d.loc["inf_dose_g_per_kg", "Text Validation Max"]) == PROTO.dosing.dose_g_per_kg
    events = events_table(PROTO)
    weeks = [int(e.split("_")[1]) for e in events["unique_event_name"] if e.startswith("week_")]
    assert weeks == list(PROTO.assessment_weeks)
    assert set(events["day_offset"][1:-1]) == {7 * w for w in PROTO.assessment_weeks}
    mapping = instrument_event_mapping(PROTO)
    assert set(mapping.columns) == {"arm_num", "unique_event_name", "form"}
    assert set(mapping["form"]) == set(dictionary["Form Name"])


# -- round trips ------------------------------------------------------------------------------


def test_round_trip_canonical_redcap_canonical() -> None:
    tables = support.small_trial()
    records, unmapped = records_from_tables(tables, PROTO)
    assert unmapped["visits"] == ["data_source"]  # reported, not silently lost
    back = import_records(records, PROTO)
    for name in TABLES:
        cols = [c for c in back[name].columns]
        assert set(cols) <= set(tables[name].columns) | {"visit_week"}
        _same_values(tables[name], back[name], cols)
    # every mapped non-empty original column survives
    cat = build_catalogue(PROTO)
    for name in TABLES:
        mapped = {f.column for f in cat.form_of_table(name).fields}
        kept = [c for c in tables[name].columns if c in mapped and tables[name][c].notna().any()]
        assert set(kept) <= set(back[name].columns), (name, kept)


def test_round_trip_through_a_label_export() -> None:
    tables = support.small_trial()
    records, _ = records_from_tables(tables, PROTO)
    cat = build_catalogue(PROTO)
    fields = {f.name: f for f in cat.fields}
    labelled = records.copy()
    for name, f in fields.items():
        if name not in labelled or name == cat.record_id:
            continue
        if f.kind == "boolean":
            labelled[name] = labelled[name].map({"1": "Yes", "0": "No", "": ""})
        elif f.kind == "choice":
            labelled[name] = labelled[name].map(dict(f.choices) | {"": ""})
    ev = {f"{e.name}_arm_1": f"{e.label} (Arm 1: Arm 1)" for e in cat.events}
    labelled["redcap_event_name"] = labelled["redcap_event_name"].map(ev)
    forms = {f.name: f.label for f in cat.forms} | {"": ""}
    labelled["redcap_repeat_instrument"] = labelled["redcap_repeat_instrument"].map(forms)
    headers = {"redcap_event_name": "Event Name", "redcap_repeat_instrument": "Repeat Instrument",
               "redcap_repeat_instance": "Repeat Instance"}
    headers |= {n: f.label for n, f in fields.items()}
    headers |= {c: "Complete?" for c in labelled.columns if c.endswith("_complete")}
    labelled.columns = [headers[c] for c in labelled.columns]
    back = import_records(labelled, PROTO)
    raw = import_records(records, PROTO)
    for name in TABLES:
        pd.testing.assert_frame_equal(back[name], raw[name])


def test_dictionary_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "dict.csv"
    data_dictionary(PROTO).to_csv(path, index=False)
    cat = catalogue_from_dictionary(path, PROTO)
    base = build_catalogue(PROTO)
    assert [(f.name, f.column, f.kind, f.minimum, f.maximum, f.choices) for f in cat.fields] == [
        (f.name, f.column, f.kind, f.minimum, f.maximum, f.choices) for f in base.fields
    ]


# -- bad input: located, exit 2, nothing written -------------------------------------------------


@pytest.fixture()
def project(tmp_path: Path) -> dict[str, Any]:
    dict_path = tmp_path / "dict.csv"
    res = runner.invoke(app, ["redcap", "dictionary", "-o", str(dict_path)])
    assert res.exit_code == 0, res.output
    records, _ = records_from_tables(support.small_trial(), PROTO)
    return {"dict": dict_path, "records": records, "tmp": tmp_path}


def _import(project: dict[str, Any], records: pd.DataFrame) -> tuple[Any, Path]:
    path = project["tmp"] / "records.csv"
    records.to_csv(path, index=False)
    out = project["tmp"] / "out"
    res = runner.invoke(app, ["redcap", "import", str(path), "--dictionary",
                              str(project["dict"]), "-o", str(out), "--json"])
    return res, out


def _problems(res: Any) -> list[dict[str, Any]]:
    import json

    assert res.exit_code == 2, res.output
    doc = json.loads(res.stdout)
    assert doc["ok"] is False
    return list(doc["problems"])


def test_good_import_writes_the_tables(project: dict[str, Any]) -> None:
    res, out = _import(project, project["records"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.csv" for t in TABLES)
    visits = pd.read_csv(out / "visits.csv")
    assert len(visits) == len(support.small_trial()["visits"])


def test_unknown_field(project: dict[str, Any]) -> None:
    bad = project["records"].assign(pga_typo="1")
    res, out = _import(project, bad)
    (p,) = _problems(res)
    assert p["field"] == "pga_typo" and "unknown field" in p["rule"]
    assert not out.exists()


def test_duplicate_record_event(project: dict[str, Any]) -> None:
    rec = project["records"]
    row = rec[rec["redcap_event_name"] == "week_4_arm_1"].iloc[[0]]
    bad = pd.concat([rec, row], ignore_index=True)
    res, out = _import(project, bad)
    (p,) = _problems(res)
    assert p["record"] == row["subject_id"].iloc[0] and p["event"] == "week_4"
    assert p["row"] == len(bad) and "duplicate record-event" in p["rule"]
    assert not out.exists()


def test_value_outside_the_dictionary_range(project: dict[str, Any]) -> None:
    bad = project["records"].copy()
    i = bad.index[bad["redcap_event_name"] == "week_8_arm_1"][0]
    bad.loc[i, "pga"] = "10.5"
    res, out = _import(project, bad)
    (p,) = _problems(res)
    assert (p["row"], p["record"], p["event"], p["field"], p["value"]) == (
        i + 1, bad.loc[i, "subject_id"], "week_8", "pga", "10.5")
    assert "between 0 and 10" in p["rule"]
    assert not out.exists()


def test_missing_baseline(project: dict[str, Any]) -> None:
    rec = project["records"]
    sid = rec["subject_id"].iloc[0]
    bad = rec[~((rec["subject_id"] == sid) & (rec["redcap_event_name"] == "week_0_arm_1"))]
    res, out = _import(project, bad.reset_index(drop=True))
    problems = _problems(res)
    assert any(p["record"] == sid and p["event"] == "week_0" and "missing baseline" in p["rule"]
               for p in problems), problems
    assert not out.exists()


def test_field_at_an_event_without_its_instrument_and_bad_choice(project: dict[str, Any]) -> None:
    bad = project["records"].copy()
    i = bad.index[bad["redcap_event_name"] == "week_4_arm_1"][0]
    bad.loc[i, "haq"] = ""
    bad.loc[i, "ae_term"] = "Headache"  # an adverse-event field on a visit row
    j = bad.index[bad["redcap_event_name"] == "screening_arm_1"][0]
    bad.loc[j, "sex"] = "X"
    res, _ = _import(project, bad)
    problems = {(p["row"], p["field"]): p for p in _problems(res)}
    assert "not collected at event" in problems[(i + 1, "ae_term")]["rule"]
    assert "valid codes: F, M, U" in problems[(j + 1, "sex")]["rule"]


def test_canonical_rule_relocated_to_the_redcap_cell(project: dict[str, Any]) -> None:
    bad = project["records"].copy()
    i = bad.index[bad["redcap_event_name"] == "week_12_arm_1"][0]
    bad.loc[i, "ck_uln"] = ""  # CK without its ULN: a visits-table rule
    res, _ = _import(project, bad)
    (p,) = _problems(res)
    assert (p["source"], p["row"], p["event"], p["field"]) == ("redcap", i + 1, "week_12",
                                                               "ck_uln")


# -- API pull (PyCap) against a recorded response ------------------------------------------------


class _Response:
    """A recorded REDCap API answer (what requests.Response offers PyCap)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.content = text.encode()
        self.status_code = 200
        self.headers = {"content-type": "text/csv; charset=utf-8"}

    def raise_for_status(self) -> None:
        return None

    def json(self) -> Any:
        import json

        return json.loads(self.text)


def test_api_pull_with_recorded_response(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import redcap.request

    recorded = {
        "record": (FIXTURES / "redcap_api_records.csv").read_text(encoding="utf-8"),
        "metadata": (FIXTURES / "redcap_api_metadata.json").read_text(encoding="utf-8"),
    }
    calls: list[dict[str, Any]] = []

    def post(url: str, data: dict[str, Any], **kwargs: Any) -> _Response:
        calls.append({"url": url, **data})
        return _Response(recorded[data["content"]])

    monkeypatch.setattr(redcap.request._session, "post", post)
    frame = fetch_records("https://redcap.example.org/api/", "A" * 32)
    (rec_call,) = [c for c in calls if c["content"] == "record"]
    assert rec_call["format"] == "csv" and rec_call["rawOrLabel"] == "raw"
    assert rec_call["token"] == "A" * 32 and rec_call["url"] == "https://redcap.example.org/api/"
    tables = import_records(frame, PROTO)
    assert list(tables["visits"]["visit_week"]) == ["0", "4"]
    assert list(tables["visits"]["pga"]) == ["6.5", "4.0"]
    # the CLI: token from the environment, nothing in argv
    dict_path = tmp_path / "dict.csv"
    data_dictionary(PROTO).to_csv(dict_path, index=False)
    monkeypatch.setenv("REDCAP_API_TOKEN", "B" * 32)
    res = runner.invoke(app, ["redcap", "import", "--dictionary", str(dict_path), "--api-url",
                              "https://redcap.example.org/api/", "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert calls[-1]["token"] == "B" * 32
    assert pd.read_csv(tmp_path / "o" / "subjects.csv")["arm"].tolist() == ["placebo"]


def test_api_without_token_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDCAP_API_TOKEN", raising=False)
    dict_path = tmp_path / "dict.csv"
    data_dictionary(PROTO).to_csv(dict_path, index=False)
    res = runner.invoke(app, ["redcap", "import", "--dictionary", str(dict_path), "--api-url",
                              "https://redcap.example.org/api/", "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and not (tmp_path / "o").exists()


def test_bad_dictionary_header_is_located(tmp_path: Path) -> None:
    d = data_dictionary(PROTO).rename(columns={"Field Label": "Label"})
    with pytest.raises(InterchangeError) as exc:
        catalogue_from_dictionary(d, PROTO)
    assert exc.value.problems.iloc[0]["source"] == "dictionary"
