"""CDISC ODM 1.3.2: study metadata valid against the ODM schema, canonical -> ODM -> canonical
round trip, located errors (malformed XML, unknown OIDs, duplicates, ranges)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import xmlschema
from odmlib.schema_manager import get_schema_path
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.interchange.catalogue import build_catalogue
from myotrial.interchange.errors import InterchangeError
from myotrial.interchange.odm import build_odm, import_odm, write_odm
from myotrial.protocol import load_protocol
from myotrial.rules import load_scales

_spec = importlib.util.spec_from_file_location(
    "interchange_support", Path(__file__).parent / "fixtures" / "interchange" / "support.py"
)
assert _spec is not None and _spec.loader is not None
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)

PROTO = load_protocol()
runner = CliRunner()
TABLES = ("subjects", "screening", "visits", "infusions", "adverse_events")


@pytest.fixture(scope="module")
def odm_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("odm") / "study.xml"
    write_odm(build_odm(PROTO, support.small_trial()), path)
    return path


def test_study_metadata_is_valid_odm_132_and_carries_the_protocol(tmp_path: Path) -> None:
    path = write_odm(build_odm(PROTO), tmp_path / "meta.xml")
    schema = xmlschema.XMLSchema(get_schema_path("odm", "1.3.2"))
    assert list(schema.iter_errors(str(path))) == []
    text = path.read_text(encoding="utf-8")
    cat = build_catalogue(PROTO)
    for week in PROTO.assessment_weeks:
        assert f'StudyEventDef OID="SE.WEEK_{week}"' in text
    for f in cat.fields:
        assert f'ItemDef OID="IT.{f.name.upper()}"' in text
    pga_max = load_scales().measures["pga"].max
    assert re.search(r'ItemDef OID="IT.PGA".*?Comparator="LE".*?<CheckValue>'
                     f"{pga_max:g}</CheckValue>", text)
    for arm in PROTO.arms:
        assert f'CodedValue="{arm.code}"' in text
    assert 'ItemGroupDef OID="IG.ADVERSE_EVENTS" Name="Adverse events" Repeating="Yes"' in text


def test_clinical_data_is_schema_valid(odm_file: Path) -> None:
    schema = xmlschema.XMLSchema(get_schema_path("odm", "1.3.2"))
    assert list(schema.iter_errors(str(odm_file))) == []


def test_round_trip_canonical_odm_canonical(odm_file: Path) -> None:
    original = support.small_trial()
    back = import_odm(odm_file, PROTO)
    for name in TABLES:
        a, b = original[name], back[name]
        assert len(a) == len(b), name
        for col in b.columns:
            for i, (x, y) in enumerate(zip(a[col], b[col], strict=True)):
                if pd.isna(x):
                    assert pd.isna(y), (name, col, i)
                elif isinstance(x, bool) or str(x).lower() in ("true", "false"):
                    assert str(x).lower() == y, (name, col, i, x, y)
                elif col in ("start", "end", "onset"):
                    assert pd.Timestamp(x) == pd.Timestamp(y), (name, col, i, x, y)
                elif isinstance(x, int | float):
                    assert float(x) == float(y), (name, col, i, x, y)
                else:
                    assert str(x) == str(y), (name, col, i, x, y)


def _fails(path: Path) -> pd.DataFrame:
    with pytest.raises(InterchangeError) as exc:
        import_odm(path, PROTO)
    return exc.value.problems


def test_malformed_xml_is_located(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text('<?xml version="1.0"?>\n<ODM>\n  <Study OID="x">\n</ODM>\n', encoding="utf-8")
    p = _fails(bad).iloc[0]
    assert p["source"] == "odm" and p["row"] == 4 and "malformed XML" in p["rule"]


def test_unknown_item_and_out_of_range_value_located(odm_file: Path, tmp_path: Path) -> None:
    text = odm_file.read_text(encoding="utf-8")
    cut = text.index("<ClinicalData")
    clinical = text[cut:].replace('ItemData ItemOID="IT.HAQ"', 'ItemData ItemOID="IT.HAQX"', 1)
    text = text[:cut] + clinical
    first_pga = re.search(r'<ItemData ItemOID="IT.PGA" Value="([^"]+)"', text)
    assert first_pga is not None
    text = text[: first_pga.start(1)] + "11" + text[first_pga.end(1):]
    bad = tmp_path / "bad.xml"
    bad.write_text(text.replace("><", ">\n<"), encoding="utf-8")
    problems = _fails(bad)
    by_field = {r["field"]: r for r in problems.to_dict("records")}
    assert "unknown ItemOID" in by_field["IT.HAQX"]["rule"]
    assert by_field["IT.PGA"]["value"] == "11" and "between 0 and 10" in by_field["IT.PGA"]["rule"]
    assert by_field["IT.PGA"]["event"] == "week_0" and by_field["IT.PGA"]["row"] > 1


def test_duplicate_subject_event_located(odm_file: Path, tmp_path: Path) -> None:
    text = odm_file.read_text(encoding="utf-8")
    m = re.search(r'<StudyEventData StudyEventOID="SE.WEEK_4">.*?</StudyEventData>', text)
    assert m is not None
    dup = text[: m.end()] + m.group(0) + text[m.end():]
    bad = tmp_path / "dup.xml"
    bad.write_text(dup, encoding="utf-8")
    p = _fails(bad).iloc[0]
    assert p["event"] == "week_4" and "duplicate record-event" in p["rule"]


def test_cli_export_import_and_bad_input_writes_nothing(tmp_path: Path) -> None:
    t = support.small_trial()
    paths = {}
    for name in TABLES:
        paths[name] = tmp_path / f"{name}.csv"
        t[name].to_csv(paths[name], index=False)
    xml = tmp_path / "study.xml"
    res = runner.invoke(app, ["odm", "export", "-o", str(xml), "--visits", str(paths["visits"]),
                              "--subjects", str(paths["subjects"])])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["odm", "import", str(xml), "-o", str(tmp_path / "in")])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["subjects.csv", "visits.csv"]
    broken = tmp_path / "broken.xml"
    broken.write_text(xml.read_text(encoding="utf-8")[:-20], encoding="utf-8")
    res = runner.invoke(app, ["odm", "import", str(broken), "-o", str(tmp_path / "no"), "--json"])
    assert res.exit_code == 2
    assert json.loads(res.stdout)["problems"][0]["rule"].startswith("malformed XML")
    assert not (tmp_path / "no").exists()
