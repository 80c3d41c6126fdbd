"""The web application reads the protocol: TIS thresholds of the plot and of the visit results
(adult 20/40/60, juvenile 30/45/70), the visit form's measure set, the randomisation scheme
(block sizes from the protocol, not the request) and the infusion-related window shown."""

from __future__ import annotations

import re
from pathlib import Path

from db_support import protocol_copy
from web_support import BASELINE, make_web_trial

JUVENILE_BASE = {**{k: v for k, v in BASELINE.items() if k != "haq"}, "chaq": 1.0}
TIS_22_5 = {"pga": 1.0, "ptga": 2.0}  # TIS 22.5 from the baseline: adult minimal, juvenile none


def _thresholds(svg: str) -> list[str]:
    return re.findall(r'class="tis-threshold" data-tis="([0-9.]+)"', svg)


def test_juvenile_protocol_gives_juvenile_thresholds_in_plot_and_results(tmp_path: Path) -> None:
    juvenile = protocol_copy(tmp_path / "protocols", population="juvenile")
    t = make_web_trial(tmp_path, protocol=juvenile)
    inv = t.client("inv1")
    svc, actor = t.service, t.actors["inv1"]
    from web_support import candidate

    svc.record_screening(actor, candidate("J001"))
    svc.record_visit(actor, "J001", 0, JUVENILE_BASE)
    svc.randomise_subject(actor, "J001")
    r = inv.post_json("/api/subjects/J001/visits",
                      {"visit_week": 4, "measures": {**JUVENILE_BASE, **TIS_22_5}})
    assert r.status_code == 201, r.text
    assert r.json()["tis"] == 22.5 and r.json()["tis_category"] == "none"
    svg = inv.get("/subjects/J001/plot.svg").text
    assert _thresholds(svg) == ["30", "45", "70"]
    page = inv.get("/subjects/J001").text
    assert _thresholds(page) == ["30", "45", "70"]
    assert 'name="chaq"' in page and 'name="haq"' not in page  # the juvenile measure set
    assert inv.get("/api/subjects/J001").json()["tis_thresholds"] == [30, 45, 70]
    # the form posts CHAQ
    r = inv.post_form("/subjects/J001/visits", {
        "visit_week": "8", **{k: str(v) for k, v in {**JUVENILE_BASE, "pga": 1.0, "ptga": 1.0,
                                                      "extramuscular": 1.0}.items()},
        "ck_uln": "200"})
    assert r.status_code == 200 and 'id="visit-tis">TIS 37.5<' in r.text
    assert 'id="visit-category">minimal<' in r.text


def test_adult_protocol_gives_adult_thresholds(tmp_path: Path) -> None:
    t = make_web_trial(tmp_path)
    t.enrol("A001")
    inv = t.client("inv1")
    r = inv.post_json("/api/subjects/A001/visits",
                      {"visit_week": 4, "measures": {**BASELINE, **TIS_22_5}})
    assert r.json()["tis"] == 22.5 and r.json()["tis_category"] == "minimal"
    assert _thresholds(inv.get("/subjects/A001/plot.svg").text) == ["20", "40", "60"]


def test_infusion_related_window_is_the_protocols(tmp_path: Path) -> None:
    """A protocol with a 48-hour window: an event 60 h after the infusion is not
    infusion-related, and the page says 48 hours (proderm: 72 h, it would be related)."""
    source = protocol_copy(tmp_path / "protocols")
    source.write_text(source.read_text().replace("infusion_related_window_hours = 72",
                                                 "infusion_related_window_hours = 48"))
    t = make_web_trial(tmp_path, protocol=source)
    t.enrol("W001")
    inv = t.client("inv1")
    r = inv.post_json("/api/subjects/W001/infusions", {
        "cycle": 1, "start": "2024-03-02T09:00", "end": "2024-03-02T14:00",
        "dose_g_per_kg": 1.0})
    assert r.status_code == 201, r.text
    r = inv.post_form("/subjects/W001/adverse-events", {
        "term": "headache", "onset": "2024-03-05T02:00", "severity": "mild"})  # 60 h after
    assert r.status_code == 200
    assert "not infusion-related (no infusion cycle within 48 hours before onset)" in r.text
    events = inv.get("/api/exports/adverse_events?format=json").json()
    assert [e["infusion_related"] for e in events] == [False]


def test_randomisation_list_follows_the_protocol(tmp_path: Path) -> None:
    t = make_web_trial(tmp_path)  # the list is loaded: its blocks are the protocol's (4)
    frame = t.service.list_allocations(t.actors["ustat"])
    assert frame.empty
    ustat = t.client("ustat")
    page = ustat.get("/randomisation").text
    assert 'id="protocol-block-sizes">4<' in page and 'name="block_sizes"' not in page
    # the loaded list has blocks of 4 only (proderm.toml: block_sizes = [4])
    import sqlalchemy as sa

    from myotrial.db import schema

    with t.service.engine.connect() as conn:
        sizes = set(conn.execute(sa.select(schema.randomisation_slots.c.block_size)).scalars())
    assert sizes == {4}
