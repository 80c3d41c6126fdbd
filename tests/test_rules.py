"""The rules files load, match the published tables, and the loader rejects malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from myotrial.errors import RulesError
from myotrial.rules import (
    load_deterioration_rules,
    load_doi_rules,
    load_scales,
    load_tis_rules,
    rules_path,
)


def test_points_table_is_the_published_table() -> None:
    # Rider LG et al. Arthritis Rheumatol 2017;69:911-923, Table 3 (as in response-criteria.md 1.1)
    rules = load_tis_rules()
    expected = {
        "pga": (0, 7.5, 15, 17.5, 20),
        "ptga": (0, 2.5, 5, 7.5, 10),
        "haq": (0, 5, 7.5, 7.5, 10),
        "enzyme": (0, 2.5, 5, 7.5, 7.5),
        "extramuscular": (0, 7.5, 12.5, 15, 20),
        "mmt8": (0, 10, 20, 27.5, 32.5),
    }
    for slot, points in expected.items():
        assert rules.slots[slot].points == tuple(float(p) for p in points), slot
    assert rules.slots["pga"].edges == (5, 15, 25, 40)
    assert rules.slots["mmt8"].edges == (2, 10, 20, 30)
    assert sum(s.max_points for s in rules.slots.values()) == 100


def test_category_thresholds_are_published() -> None:
    cats = load_tis_rules().categories
    assert (cats["adult"].minimal, cats["adult"].moderate, cats["adult"].major) == (20, 40, 60)
    assert (cats["juvenile"].minimal, cats["juvenile"].moderate, cats["juvenile"].major) == (
        30,
        45,
        70,
    )


def test_doi_and_deterioration_rules() -> None:
    doi = load_doi_rules()
    assert (doi.improved_pct, doi.min_improved, doi.worse_pct, doi.max_worse) == (20, 3, 25, 2)
    assert doi.no_worse_measures == ("mmt8",)
    det = load_deterioration_rules()
    assert (det.pga_worse_cm, det.mmt8_worse_pct, det.extramuscular_worse_cm) == (2, 20, 2)
    assert (det.clause_c_worse_pct, det.clause_c_min_worse) == (30, 3)
    assert (det.consecutive_visits, det.earliest_week) == (2, 8)
    assert load_scales().enzymes == ("ck", "aldolase", "ldh", "alt", "ast")


def _mutated(tmp_path: Path, old: str, new: str) -> Path:
    text = rules_path("tis_2016.toml").read_text()
    assert old in text
    p = tmp_path / "tis.toml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'criterion = ">5% to 15% improvement"\nlower = 5.0',
            'criterion = "x"\nlower = 6.0',
            "gap",
        ),
        (
            'criterion = ">5% to 15% improvement"\nlower = 5.0',
            'criterion = "x"\nlower = 4.0',
            "overlap",
        ),
        (
            "points = [0.0, 7.5, 15.0, 17.5, 20.0]",
            "points = [0.0, 15.0, 7.5, 17.5, 20.0]",
            "decrease",
        ),
        (
            "points = [0.0, 7.5, 15.0, 17.5, 20.0]",
            "points = [0.0, 7.5, 15.0, 17.5, 25.0]",
            "sum to 100",
        ),
        ("points = [0.0, 7.5, 15.0, 17.5, 20.0]", "points = [0.0, 7.5, 15.0, 20.0]", "points for"),
        ('upper = "inf"', "upper = 99.0", "inf"),
        ('edge_rule = "lower_band"', 'edge_rule = "upper_band"', "edge_rule"),
        ("minimal = 20.0", "minimal = 50.0", "thresholds"),
    ],
)
def test_loader_rejects_malformed_tables(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        load_tis_rules(_mutated(tmp_path, old, new))


def test_loader_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="not found"):
        load_tis_rules(tmp_path / "nope.toml")
