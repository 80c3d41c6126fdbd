"""Web: the public TIS calculator page and JSON API (same engine as `myotrial tis`)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from myotrial.web import create_app

client = TestClient(create_app())
EXAMPLE = {
    "baseline": {"pga": 6, "ptga": 6, "extramuscular": 4, "mmt8": 120, "haq": 1.5, "ck": 1200},
    "follow_up": {"pga": 2, "ptga": 3, "extramuscular": 1, "mmt8": 138, "haq": 0.75, "ck": 300},
    "uln": {"ck": 200},
}


def test_api_tis_breakdown() -> None:
    r = client.post("/api/tis", json=EXAMPLE)
    assert r.status_code == 200, r.text
    data = r.json()
    assert (data["tis"], data["category"], data["doi_met"]) == (75.0, "major", True)
    assert {m["slot"]: m["points"] for m in data["measures"]}["pga"] == 17.5  # 40 %: edge


def test_api_juvenile_thresholds() -> None:
    body = {
        **EXAMPLE,
        "population": "juvenile",
        "baseline": {**EXAMPLE["baseline"], "chaq": 1.5},
        "follow_up": {**EXAMPLE["follow_up"], "chaq": 0.75},
    }
    body["baseline"].pop("haq")
    body["follow_up"].pop("haq")
    data = client.post("/api/tis", json=body).json()
    assert (data["tis"], data["category"]) == (75.0, "major")  # >= 70 juvenile major


def test_api_bad_value_is_located() -> None:
    body = {**EXAMPLE, "follow_up": {**EXAMPLE["follow_up"], "pga": 12}}
    r = client.post("/api/tis", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail == [
        {
            "loc": ["follow_up", "pga"],
            "value": "12",
            "msg": "Physician global activity (10 cm VAS) must be between 0 and 10",
        }
    ]
    r = client.post("/api/tis", json={**EXAMPLE, "uln": {"cpk": 200}})
    assert r.status_code == 422 and "unknown enzyme" in r.text
    r = client.post("/api/tis", json={**EXAMPLE, "baseline": {"pgaa": 3}})
    assert r.status_code == 422  # unknown field rejected by the schema


def test_calculator_page_round_trip() -> None:
    assert client.get("/").status_code == 200
    page = client.get("/calculator")
    assert page.status_code == 200 and 'id="calculator"' in page.text
    form = {"population": "adult", "mmt8_max": "150", "ck__uln": "200"}
    for side in ("baseline", "follow_up"):
        for key, value in EXAMPLE[side].items():
            form[f"{key}__{side}"] = str(value)
    r = client.post("/calculator", data=form)
    assert r.status_code == 200
    assert re.search(r'id="tis">TIS 75 / 100', r.text)
    assert "<strong>major</strong>" in r.text


def test_calculator_page_shows_errors_and_keeps_values() -> None:
    r = client.post(
        "/calculator", data={"population": "adult", "pga__baseline": "six", "pga__follow_up": "2"}
    )
    assert r.status_code == 422
    assert "pga baseline: &#39;six&#39; is not a number" in r.text
    assert 'value="six"' in r.text  # nothing lost


def test_openapi_describes_the_calculator() -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/tis" in spec["paths"]
