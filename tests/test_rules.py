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


# --- strict reading: a misspelt key in any rules file is an error naming file, key, suggestion ---

_MISSPELLINGS = [
    # (bundled file, loader, (original line, misspelt line), misspelt key, suggestion)
    (
        "tis_2016.toml",
        "tis",
        ("edge_tolerance = 1e-9", "edge_tolerence = 1e-9"),
        "edge_tolerence",
        "edge_tolerance",
    ),
    (
        "measures.toml",
        "scales",
        (
            'direction = "lower_better"\nmin = 0.0\nmax = 10.0',
            'direction = "lower_better"\nminn = 0.0\nmax = 10.0',
        ),
        "minn",
        "min",
    ),
    ("imacs_doi_2004.toml", "doi", ("max_worse = 2", "max_wrose = 2"), "max_wrose", "max_worse"),
    (
        "proderm_deterioration.toml",
        "deterioration",
        ("earliest_week = 8", "earliest_weeks = 8"),
        "earliest_weeks",
        "earliest_week",
    ),
    (
        "eligibility_proderm.toml",
        "eligibility",
        ("min_count = 2", "min_cont = 2"),
        "min_cont",
        "min_count",
    ),
    (
        "bohan_peter_1975.toml",
        "bohan_peter",
        ("requires_rash = true\nmin_count = 3", "requires_rash = true\nmin_counts = 3"),
        "min_counts",
        "min_count",
    ),
    (
        "eular_acr_2017.toml",
        "eular_acr",
        ("c_with_biopsy = 6.49", "c_with_biopsi = 6.49"),
        "c_with_biopsi",
        "c_with_biopsy",
    ),
]


def _loader(kind: str):  # type: ignore[no-untyped-def]
    from myotrial.eligibility import (
        load_bohan_peter_rules,
        load_eligibility_rules,
        load_eular_acr_rules,
    )

    return {
        "tis": load_tis_rules,
        "scales": load_scales,
        "doi": load_doi_rules,
        "deterioration": load_deterioration_rules,
        "eligibility": load_eligibility_rules,
        "bohan_peter": load_bohan_peter_rules,
        "eular_acr": load_eular_acr_rules,
    }[kind]


@pytest.mark.parametrize(("name", "kind", "edit", "key", "hint"), _MISSPELLINGS)
def test_misspelt_key_in_each_rules_file_is_rejected(
    tmp_path: Path, name: str, kind: str, edit: tuple[str, str], key: str, hint: str
) -> None:
    text = rules_path(name).read_text(encoding="utf-8")
    assert edit[0] in text, f"fixture line not found in {name}"
    bad = tmp_path / name
    bad.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(RulesError) as info:
        _loader(kind)(bad)
    message = str(info.value)
    assert message.startswith(str(bad))
    assert repr(key) in message
    assert f"did you mean {hint!r}" in message


@pytest.mark.parametrize(("name", "kind"), [(m[0], m[1]) for m in _MISSPELLINGS])
def test_unmodified_copy_of_each_rules_file_loads(tmp_path: Path, name: str, kind: str) -> None:
    """The control for the test above: the copy loads when nothing is misspelt."""
    good = tmp_path / name
    good.write_text(rules_path(name).read_text(encoding="utf-8"), encoding="utf-8")
    assert _loader(kind)(good) is not None


def test_documentation_keys_stay_allowed_but_must_be_text(tmp_path: Path) -> None:
    text = rules_path("proderm_deterioration.toml").read_text(encoding="utf-8")
    ok = tmp_path / "ok.toml"
    ok.write_text(text.replace("[clause_b]\n", '[clause_b]\nnote = "our reading"\n'), "utf-8")
    assert load_deterioration_rules(ok).verbatim["clause_b"].startswith("global extramuscular")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("[clause_b]\n", "[clause_b]\nnote = 3\n"), "utf-8")
    with pytest.raises(RulesError, match="note"):
        load_deterioration_rules(bad)


def test_band_edge_text_other_than_inf_is_rejected(tmp_path: Path) -> None:
    text = rules_path("tis_2016.toml").read_text(encoding="utf-8")
    bad = tmp_path / "tis.toml"
    bad.write_text(text.replace('upper = "inf"', 'upper = "infinity"', 1), "utf-8")
    with pytest.raises(RulesError, match="'-inf'/'inf'"):
        load_tis_rules(bad)
