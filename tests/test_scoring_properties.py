"""Property tests: TIS bounds, monotonicity, category consistency, and agreement with the
independent per-visit reference scorer (exact rational arithmetic, no float tolerance)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myotrial.rules import load_tis_rules
from myotrial.scoring import score_visits
from myotrial.scoring.reference import (
    reference_confirmed_deterioration,
    reference_score_visit,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def tenths(lo: int, hi: int) -> st.SearchStrategy[float]:
    return st.integers(lo * 10, hi * 10).map(lambda v: round(v / 10, 1))


def measures(allow_missing: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    def maybe(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(st.none(), s) if allow_missing else s

    return st.fixed_dictionaries(
        {
            "pga": maybe(tenths(0, 10)),
            "ptga": maybe(tenths(0, 10)),
            "extramuscular": maybe(tenths(0, 10)),
            "mmt8": maybe(st.integers(0, 150).map(float)),
            "haq": maybe(st.integers(0, 24).map(lambda v: v / 8)),
            "ck": maybe(st.integers(0, 4000).map(float)),
            "ck_uln": st.sampled_from([170.0, 200.0, 250.0]),
            "aldolase": maybe(tenths(0, 40)),
            "aldolase_uln": st.sampled_from([7.6, 8.1]),
        }
    )


@st.composite
def trials(draw: st.DrawFn, allow_missing: bool = False) -> pd.DataFrame:
    n_subjects = draw(st.integers(1, 6))
    rows = []
    for s in range(n_subjects):
        weeks = [0, *sorted(draw(st.sets(st.integers(1, 40), min_size=1, max_size=5)))]
        for w in weeks:
            rows.append(
                {"subject_id": f"P{s:02d}", "visit_week": w, **draw(measures(allow_missing))}
            )
    return pd.DataFrame(rows)


@SETTINGS
@given(trials(allow_missing=True))
def test_tis_bounds_and_category_consistency(frame: pd.DataFrame) -> None:
    out = score_visits(frame)
    tis = out["tis"].dropna()
    assert ((tis >= 0) & (tis <= 100)).all()
    th = load_tis_rules().categories["adult"]
    expected = np.select(
        [tis >= th.major, tis >= th.moderate, tis >= th.minimal],
        ["major", "moderate", "minimal"],
        "none",
    )
    assert out.loc[tis.index, "tis_category"].astype(str).tolist() == expected.tolist()
    assert out.loc[out["tis"].isna(), "tis_missing_reason"].notna().all()
    assert out["tis_category"].isna().equals(out["tis"].isna())


BETTER = {"pga": -1, "ptga": -1, "extramuscular": -1, "haq": -1, "mmt8": +1, "ck": -1}
STEP = {"pga": 0.1, "ptga": 0.1, "extramuscular": 0.1, "haq": 0.125, "mmt8": 1.0, "ck": 10.0}
LIMIT = {
    "pga": (0, 10),
    "ptga": (0, 10),
    "extramuscular": (0, 10),
    "haq": (0, 3),
    "mmt8": (0, 150),
    "ck": (0, 4000),
}


@SETTINGS
@given(measures(), measures(), st.sampled_from(sorted(BETTER)), st.integers(1, 40))
def test_tis_never_decreases_when_one_measure_improves(
    base: dict[str, Any], follow: dict[str, Any], measure: str, steps: int
) -> None:
    follow = {**follow, "ck_uln": base["ck_uln"], "aldolase_uln": base["aldolase_uln"]}
    lo, hi = LIMIT[measure]
    better = min(hi, max(lo, follow[measure] + BETTER[measure] * STEP[measure] * steps))
    rows = [
        {"subject_id": "S", "visit_week": 0, **base},
        {"subject_id": "S", "visit_week": 4, **follow},
        {"subject_id": "T", "visit_week": 0, **base},
        {"subject_id": "T", "visit_week": 4, **follow, measure: better},
    ]
    out = score_visits(pd.DataFrame(rows))
    assert out["tis"].iloc[3] >= out["tis"].iloc[1]


@SETTINGS
@given(trials(allow_missing=True))
def test_engine_agrees_with_exact_reference_scorer(frame: pd.DataFrame) -> None:
    out = score_visits(frame)
    records = frame.to_dict("records")
    for sid, idx in frame.groupby("subject_id").groups.items():
        rows = sorted(idx, key=lambda i: records[i]["visit_week"])
        base = records[rows[0]]
        worsening = []
        for i in rows:
            ref = reference_score_visit(base, records[i])
            got = out.iloc[i]
            if records[i]["visit_week"] == 0:
                worsening.append(False)
                continue
            label = f"{sid} week {records[i]['visit_week']}"
            if ref["tis"] is None:
                assert np.isnan(got["tis"]), label
            else:
                assert got["tis"] == ref["tis"], label
                assert got["tis_category"] == ref["category"], label
            for slot, pts in ref["points"].items():
                assert (
                    np.isnan(got[f"points_{slot}"]) if pts is None else got[f"points_{slot}"] == pts
                ), (label, slot)
            assert (None if pd.isna(got["doi_met"]) else bool(got["doi_met"])) == ref["doi_met"], (
                label
            )
            assert (None if pd.isna(got["worsening"]) else bool(got["worsening"])) == ref[
                "worsening"
            ], label
            clauses = "" if pd.isna(got["worsening_clauses"]) else got["worsening_clauses"]
            assert set(filter(None, clauses.split(";"))) == ref["clauses"], label
            assert (got["enzyme_used"] if not pd.isna(got["enzyme_used"]) else None) == ref[
                "enzyme"
            ]
            worsening.append(ref["worsening"])
        expected_cd = reference_confirmed_deterioration(
            [records[i]["visit_week"] for i in rows], worsening
        )
        assert out["cd_confirmed"].iloc[rows].tolist() == expected_cd, sid


@SETTINGS
@given(
    measures(allow_missing=True),
    measures(allow_missing=True),
    st.sampled_from(["adult", "juvenile"]),
)
def test_single_patient_path_equals_table_engine(
    base: dict[str, Any], follow: dict[str, Any], population: str
) -> None:
    """`score_patient` (no DataFrame) gives exactly what `score_visits` gives for two rows."""
    from myotrial.scoring.single import score_patient

    ulns = {"ck": base["ck_uln"], "aldolase": base["aldolase_uln"]}
    b = {k: v for k, v in base.items() if not k.endswith("_uln")}
    f = {k: v for k, v in follow.items() if not k.endswith("_uln")}
    if population == "juvenile":
        b["chaq"], f["chaq"] = b.pop("haq"), f.pop("haq")
    fast = score_patient(b, f, ulns=ulns, population=population)
    rows = pd.DataFrame(
        [
            {"subject_id": "p", "visit_week": 0, **b, **{f"{k}_uln": v for k, v in ulns.items()}},
            {"subject_id": "p", "visit_week": 1, **f, **{f"{k}_uln": v for k, v in ulns.items()}},
        ]
    )
    table = score_visits(rows, population=population, partial=True, details=True).iloc[1]
    slots = [m["slot"] for m in fast["measures"]]
    for m, slot in zip(fast["measures"], slots, strict=True):
        expected = table[f"points_{slot}"]
        assert (m["points"] is None) if pd.isna(expected) else m["points"] == expected
    complete = not fast["missing_measures"]
    assert fast["tis"] == (table["tis"] if complete else None)
    assert fast["doi_met"] == (None if pd.isna(table["doi_met"]) else bool(table["doi_met"]))
    assert fast["worsening"] == (None if pd.isna(table["worsening"]) else bool(table["worsening"]))
    assert fast["worsening_clauses"] == (
        "" if pd.isna(table["worsening_clauses"]) else table["worsening_clauses"]
    )
