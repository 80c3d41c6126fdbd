"""Method registry and analysis-results rows."""

from __future__ import annotations

import re

import pytest

from myotrial.stats import (
    ARD_COLUMNS,
    METHODS,
    chisq_test,
    get_method,
    kaplan_meier,
    method_footnote,
    methods_table,
    risk_difference,
)


def test_every_method_has_reference_and_equivalents() -> None:
    for key, info in METHODS.items():
        assert info.key == key
        assert info.label and info.description and info.r_equivalent and info.sas_equivalent
        assert re.search(r"doi:10\.\d{4,}/|JSTOR \d+", info.reference), key
    assert len(methods_table()) == len(METHODS)


def test_bad_key_lists_valid_keys() -> None:
    with pytest.raises(ValueError, match="valid keys: wald, newcombe"):
        get_method("bogus")


def test_results_name_a_registered_method_and_make_rows() -> None:
    res = risk_difference(x1=37, n1=47, x2=21, n2=48, method="newcombe")
    rows = res.to_rows("TIS>=20 and no CD, week 16")
    assert all(tuple(r) == ARD_COLUMNS for r in rows)
    stats = {r["statistic"]: r["value"] for r in rows}
    assert stats["estimate"] == res.estimate and stats["n1"] == 47
    assert rows[0]["method_label"] == METHODS["newcombe"].label
    assert list(chisq_test(x1=37, n1=47, x2=21, n2=48).as_ard()["statistic"])[:2] == [
        "statistic", "p_value"]
    km = kaplan_meier([1, 2, 3], [1, 1, 0]).as_ard()
    assert "median" in set(km["statistic"])
    assert "Newcombe" in method_footnote("newcombe", 0.95)


def test_docs_list_every_method_key() -> None:
    from pathlib import Path

    doc = Path(__file__).parents[1] / "docs" / "statistics.md"
    text = doc.read_text(encoding="utf-8")
    for key, info in METHODS.items():
        assert f"| `{key}` |" in text, f"docs/statistics.md lacks method {key}"
        assert info.reference in text, f"docs/statistics.md has a stale reference for {key}"
