"""ADaM out: XPT v5 and Dataset-JSON 1.1 round trips, the official schema, define.xml 2.1,
ADaM naming checks, metadata-driven columns, the CLI (exit 2, nothing written) and the ARD."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.interchange.adam import (
    build_adam,
    dataset_json_schema,
    endpoint_paramcd,
    read_dataset_json,
    read_xpt,
    to_dataset_json,
    validate_dataset_json,
    write_adam,
)
from myotrial.interchange.ard import CARDS_COLUMNS, to_cards
from myotrial.interchange.errors import InterchangeError
from myotrial.interchange.outputs import write_interchange_outputs
from myotrial.protocol import load_protocol

_spec = importlib.util.spec_from_file_location(
    "interchange_support", Path(__file__).parent / "fixtures" / "interchange" / "support.py"
)
assert _spec is not None and _spec.loader is not None
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)

PROTO = load_protocol()
runner = CliRunner()
STAMP = dt.datetime(2024, 1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def datasets() -> list[Any]:
    return list(support.fixture_datasets())


@pytest.fixture(scope="module")
def written(datasets: list[Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("adam")
    write_adam(datasets, PROTO, out, created=STAMP)
    return out


def _equal(a: Any, b: Any) -> bool:
    missing = [x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NaT
               for x in (a, b)]
    if any(missing):
        return all(missing)
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        return pd.Timestamp(a) == pd.Timestamp(b)
    return bool(a == b)


@pytest.mark.parametrize("reader,suffix", [(read_xpt, "xpt"), (read_dataset_json, "json")])
def test_round_trip_identical_values(
    datasets: list[Any], written: Path, reader: Any, suffix: str
) -> None:
    for ds in datasets:
        back, meta = reader(written / f"{ds.name.lower()}.{suffix}")
        assert list(back.columns) == [v.name for v in ds.variables]
        assert len(back) == len(ds.data) > 0
        for v in ds.variables:
            for i, (x, y) in enumerate(zip(ds.data[v.name], back[v.name], strict=True)):
                assert _equal(x, y), (ds.name, v.name, i, x, y)
        labels = meta["labels"] if suffix == "xpt" else {c["name"]: c["label"]
                                                          for c in meta["columns"]}
        assert labels == {v.name: v.label for v in ds.variables}


def test_xpt_is_version_5_with_sas_dates(written: Path) -> None:
    head = (written / "adsl.xpt").read_bytes()[:80]
    assert head.startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!")  # v5, not LIBV8
    _, meta = read_xpt(written / "adsl.xpt")
    assert meta["formats"]["AP01SDT"] == "DATE9" and meta["types"]["AP01SDT"] == "double"
    _, meta = read_xpt(written / "adae.xpt")
    assert meta["formats"]["ASTDTM"] == "DATETIME20"


def test_transport_limits_and_adam_naming(datasets: list[Any]) -> None:
    for ds in datasets:
        for v in ds.variables:
            assert len(v.name) <= 8 and v.name == v.name.upper() and v.name[0].isalpha()
            assert len(v.label) <= 40
            if v.type == "text":
                assert max((len(s.encode()) for s in ds.data[v.name]), default=0) <= 200
                assert all(s.isascii() for s in ds.data[v.name])
            if v.name.endswith("FL") and v.type == "text":
                allowed = {"Y", "N", ""} if ds.name == "ADSL" else {"Y", ""}
                assert set(ds.data[v.name]) <= allowed, (ds.name, v.name)
        names = {v.name: v for v in ds.variables}
        if "PARAMCD" in names:
            assert ds.data["PARAMCD"].str.len().max() <= 8
            assert names["AVAL"].type in ("integer", "float")
            if "AVALC" in names:
                assert names["AVALC"].type == "text"
    adrs = next(ds for ds in datasets if ds.name == "ADRS")
    assert set(adrs.data["PARAMCD"]) == {endpoint_paramcd(PROTO, e.name) for e in PROTO.binary}
    assert endpoint_paramcd(PROTO, "tis20_w16") == "TIS20W16"
    assert endpoint_paramcd(PROTO, "tt_deterioration") == "TTCD"
    assert set(adrs.data["ENDPOINT"]) == {e.name for e in PROTO.binary}  # original names kept


def test_every_derived_column_is_exported_with_a_label() -> None:
    """Metadata-driven: a column the derivation adds later (here TRT04A, a new period, and an
    unknown one) is exported with a label, nothing dropped."""
    derived = dict(support.small_derived())
    adsl = derived["adsl"].copy()
    adsl["TRT04A"] = "ivig"
    adsl["AP04SDT"] = "2020-01-01"
    adsl["site_region_code"] = "EU"
    derived["adsl"] = adsl
    ds = build_adam(derived, PROTO)[0]
    v = {x.source: x for x in ds.variables}
    assert v["TRT04A"].label == "Actual Treatment for Period 04"
    assert v["AP04SDT"].type == "date" and v["AP04SDT"].label == "Period 04 Start Date"
    assert v["site_region_code"].name == "SITE_REG" and v["site_region_code"].origin == (
        "Predecessor")
    assert [x.source for x in ds.variables if x.source != "STATUS_REASON"] == [
        c for c in adsl.columns if c != "STATUS_REASON"
    ]


def test_long_text_is_split_not_cut() -> None:
    derived = dict(support.small_derived())
    adsl = derived["adsl"].copy()
    long = "word " * 90  # 450 bytes
    adsl.loc[0, "STATUS_REASON"] = long.strip()
    derived["adsl"] = adsl
    ds = build_adam(derived, PROTO)[0]
    parts = [v.name for v in ds.variables if v.source == "STATUS_REASON"]
    assert parts == ["STATRSN", "STATRSN1", "STATRSN2"]
    assert "".join(ds.data.loc[0, p] for p in parts) == long.strip()


def test_dataset_json_matches_the_official_schema(datasets: list[Any], written: Path) -> None:
    schema = dataset_json_schema()
    assert schema["properties"]["datasetJSONVersion"]["pattern"].startswith("^1.1")
    for ds in datasets:
        doc = json.loads((written / f"{ds.name.lower()}.json").read_text(encoding="utf-8"))
        validate_dataset_json(doc)
        assert doc["records"] == len(ds.data) and doc["itemGroupOID"] == f"IG.{ds.name}"
    bad = to_dataset_json(datasets[0], PROTO, created=STAMP)
    bad["columns"][0]["dataType"] = "text"  # not a Dataset-JSON data type
    del bad["label"]
    with pytest.raises(InterchangeError) as exc:
        validate_dataset_json(bad)
    fields = set(exc.value.problems["field"])
    assert {"columns/0/dataType", "(root)"} <= fields


def test_define_xml_describes_every_dataset_and_variable(
    datasets: list[Any], written: Path
) -> None:
    text = (written / "define.xml").read_text(encoding="utf-8")
    assert 'def:DefineVersion="2.1.0"' in text
    for ds in datasets:
        assert f'ItemGroupDef OID="IG.{ds.name}"' in text
        assert f'href="{ds.name.lower()}.xpt"' in text
        for v in ds.variables:
            assert f'ItemDef OID="IT.{ds.name}.{v.name}"' in text
    # derivation text from the protocol and rules
    assert "at or after week 8" in text and "TIS &gt;= 20 at week 16" in text
    assert 'CodedValue="TIS20W16"' in text


def test_bad_paramcd_is_located() -> None:
    derived = dict(support.small_derived())
    adrs = derived["adrs"].copy()
    adrs.loc[3, "PARAMCD"] = "not_an_endpoint"
    derived["adrs"] = adrs
    with pytest.raises(InterchangeError) as exc:
        build_adam(derived, PROTO)
    p = exc.value.problems.iloc[0]
    assert (p["source"], p["field"], p["value"]) == ("ADRS", "PARAMCD", "not_an_endpoint")


def test_cli_export_adam_and_nothing_written_on_error(tmp_path: Path) -> None:
    der = tmp_path / "derived"
    der.mkdir()
    for name, frame in support.small_derived().items():
        frame.to_csv(der / f"{name}.csv", index=False)
    ae = tmp_path / "ae.csv"
    support.small_trial()["adverse_events"].to_csv(ae, index=False)
    out = tmp_path / "adam"
    res = runner.invoke(app, ["export", "adam", str(der), "-o", str(out), "--format", "xpt",
                              "--adverse-events", str(ae), "--json"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "adae.xpt", "adeff.xpt", "adrs.xpt", "adsl.xpt", "adtte.xpt", "define.xml"]
    adsl, _ = read_xpt(out / "adsl.xpt")
    assert list(adsl["USUBJID"]) == list(support.small_derived()["adsl"]["USUBJID"])
    bad = pd.read_csv(der / "adsl.csv")
    bad.loc[0, "RANDFL"] = "X"
    bad.to_csv(der / "adsl.csv", index=False)
    out2 = tmp_path / "adam2"
    res = runner.invoke(app, ["export", "adam", str(der), "-o", str(out2), "--json"])
    assert res.exit_code == 2
    (p,) = json.loads(res.stdout)["problems"]
    assert (p["source"], p["row"], p["field"], p["value"]) == ("ADSL", 1, "RANDFL", "X")
    assert not out2.exists()


def test_cards_ard_and_demo_writer(tmp_path: Path) -> None:
    from myotrial.analysis import analyze
    from myotrial.derive import derive_all

    t = support.small_trial()
    derived = derive_all(t["visits"], t["subjects"])
    results = analyze(derived)
    cards = to_cards(results.to_ard(), PROTO.arm_codes)
    assert tuple(cards.columns) == CARDS_COLUMNS and len(cards) == len(results.to_ard())
    rd = cards[(cards["variable"] == PROTO.primary) & (cards["context"] == "risk_difference")
               & (cards["stat_name"] == "estimate")]
    assert rd["stat"].iloc[0] == pytest.approx(results.get(PROTO.primary).estimate.estimate)
    arms = cards[(cards["group1"] == "ARMCD") & (cards["variable"] == PROTO.primary)]
    assert set(arms["group1_level"]) == set(PROTO.arm_codes)
    files = write_interchange_outputs(derived, results, tmp_path, PROTO,
                                      adverse_events=t["adverse_events"],
                                      infusions=t["infusions"], created=STAMP)
    for key in ("adam/adsl.xpt", "adam/adae.json", "adam/define.xml", "ard/ard.csv",
                "ard/ard.json", "redcap/dictionary.csv", "odm/study.xml"):
        assert files[key].exists(), key
    back = pd.read_csv(files["ard/ard.csv"])
    assert float(back["stat"].iloc[0]) == pytest.approx(float(cards["stat"].iloc[0]))
