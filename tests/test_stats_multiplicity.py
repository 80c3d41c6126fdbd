"""Holm / Hochberg against stats::p.adjust; fixed-sequence gatekeeping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myotrial.stats import ARD_COLUMNS, adjust_pvalues

FIXTURES = Path(__file__).parent / "fixtures" / "r"
PADJ = pd.read_csv(FIXTURES / "sap_padjust.csv")


@pytest.mark.r_fixture
@pytest.mark.parametrize("family", sorted(PADJ["family"].unique()))
@pytest.mark.parametrize("method", ["holm", "hochberg"])
def test_adjusted_p_against_r(family: int, method: str) -> None:
    # oracle: p.adjust(p, method = "holm" / "hochberg")
    exp = PADJ[PADJ["family"] == family]
    res = adjust_pvalues(exp["p"].tolist(), method=method, alpha=0.05)
    np.testing.assert_allclose(res.table["adjusted_p"], exp[method], atol=1e-12, rtol=0)
    table = res.table
    assert (table["rejected"] == (table["adjusted_p"] <= 0.05)).all()
    # a hypothesis compared with a level is rejected exactly when p <= that level (Holm), and
    # everything rejected was tested (Holm) or implied by a tested rejection (Hochberg)
    if method == "holm":
        tested = table[table["tested"]]
        assert (tested["rejected"] == (tested["p_value"] <= tested["alpha_at_test"])).all()
        assert not table.loc[~table["tested"], "rejected"].any()


def test_fixed_sequence_gatekeeping() -> None:
    res = adjust_pvalues({"TIS>=20": 0.0007, "TIS>=40": 0.0001, "TIS>=60": 0.09,
                          "week 40": 0.001}, method="fixed_sequence")
    t = res.table.set_index("hypothesis")
    assert res.rejected == ("TIS>=20", "TIS>=40")
    assert t.loc["TIS>=60", "tested"] and not t.loc["TIS>=60", "rejected"]
    assert not t.loc["week 40", "tested"] and np.isnan(t.loc["week 40", "alpha_at_test"])
    assert t["adjusted_p"].tolist() == [0.0007, 0.0007, 0.09, 0.09]
    rows = res.to_rows("secondary")
    assert all(tuple(r) == ARD_COLUMNS for r in rows) and len(rows) == 4 * 6


def test_hochberg_rejects_at_least_holm() -> None:
    p = [0.04, 0.045, 0.049]
    assert adjust_pvalues(p, method="hochberg").rejected == ("H1", "H2", "H3")
    assert adjust_pvalues(p, method="holm").rejected == ()


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="valid keys: fixed_sequence, holm, hochberg"):
        adjust_pvalues([0.1], method="bonferroni")
    with pytest.raises(ValueError, match=r"in \[0, 1\]; bad: H2=1.5"):
        adjust_pvalues([0.1, 1.5])
    with pytest.raises(ValueError, match="alpha"):
        adjust_pvalues([0.1], alpha=0)
    with pytest.raises(ValueError, match="empty"):
        adjust_pvalues([])
