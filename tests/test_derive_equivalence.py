"""The fast derivations (numpy, Categorical text columns) give the same tables as before.

``test_derive_reference.py`` is a frozen copy of ``derive/periods.py``, ``adsl.py`` and
``endpoints.py`` as they were before the rewrite. Every derived table (ADSL, ADRS, ADEFF, ADTTE)
of :func:`myotrial.derive.derive_all` is compared with the reference's, frame-equal: same
columns, same row order, same values (NaN where NaN), same dtypes - except that a text column
may now be a pandas Categorical, which must hold exactly the reference's values (it is cast to
the reference's dtype before the comparison). Inputs: the hand-built trials of
``test_derive.py`` and ``test_periods.py`` (their ``derive_all`` is :func:`checked_derive_all`),
the simulated demo trial, and random synthetic tables with missing values, missing visits,
rows in random order, crossovers (derived and recorded), recorded dispositions, visit
dates with gaps, infusions, subjects without visits and subjects not randomised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import test_derive_reference as ref
from myotrial.derive import DerivedTables, derive_all
from myotrial.errors import InputValidationError
from myotrial.protocol import Protocol, load_protocol
from myotrial.scoring import score_visits
from myotrial.tables import validate_infusions
from myotrial.tables.subjects import validate_subjects


def reference_tables(
    visits: pd.DataFrame,
    subjects: pd.DataFrame,
    protocol: Protocol | str = "proderm",
    *,
    infusions: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """ADSL, ADRS, ADEFF and ADTTE by the reference implementation (derive_all's pipeline)."""
    proto = load_protocol(protocol) if isinstance(protocol, str) else protocol
    subj = validate_subjects(subjects, arms=proto.arm_codes)
    scored = score_visits(visits, **proto.policy.visits_table_options())
    inf = (
        None
        if infusions is None
        else validate_infusions(infusions, subject_ids=subj["subject_id"].astype(str))
    )
    adsl = ref.derive_adsl(scored, subj, proto, infusions=inf)
    return {
        "adsl": adsl,
        "adrs": ref.derive_adrs(scored, adsl, proto),
        "adeff": ref.derive_adeff(scored, adsl, proto),
        "adtte": ref.derive_adtte(scored, adsl, proto),
    }


def assert_same_table(name: str, new: pd.DataFrame, old: pd.DataFrame) -> None:
    assert list(new.columns) == list(old.columns), name
    cast = new.copy()
    for c in new.columns:
        if new[c].dtype != old[c].dtype:
            # a Categorical text column; or text now always ``str`` where the reference's
            # concat of an empty endpoint part fell back to ``object``
            assert isinstance(new[c].dtype, pd.CategoricalDtype) or (
                isinstance(new[c].dtype, pd.StringDtype) and old[c].dtype == object
            ), (name, c, new[c].dtype)
            cast[c] = new[c].astype(old[c].dtype)
    pd.testing.assert_frame_equal(cast, old, check_exact=True, obj=name)


def assert_same(new: DerivedTables, old: dict[str, pd.DataFrame]) -> None:
    for name, frame in old.items():
        assert_same_table(name, getattr(new, name), frame)


def checked_derive_all(
    visits: pd.DataFrame,
    subjects: pd.DataFrame,
    protocol: Protocol | str = "proderm",
    **kw: Any,
) -> DerivedTables:
    """:func:`derive_all`, checked against the reference (same tables, or the same error)."""
    try:
        new = derive_all(visits, subjects, protocol, **kw)
    except InputValidationError as err:
        if (err.problems["rule"] == "subject is not in the subjects table").all():
            raise  # derive_all's own check, before any derivation
        with pytest.raises(InputValidationError) as old_err:
            reference_tables(visits, subjects, protocol, infusions=kw.get("infusions"))
        assert str(old_err.value) == str(err)
        pd.testing.assert_frame_equal(old_err.value.problems, err.problems)
        raise
    if kw.get("tables", ("adrs", "adeff", "adtte")) == ("adrs", "adeff", "adtte"):
        assert_same(new, reference_tables(visits, subjects, protocol,
                                          infusions=kw.get("infusions")))
    return new


# ---- the simulated demo trial ---------------------------------------------------------------


@pytest.mark.parametrize("seed", [20240601, 7])
def test_demo_trial_equivalent(seed: int) -> None:
    from myotrial.simulate import synthetic_trial

    t = synthetic_trial(seed=seed)
    checked_derive_all(t.visits, t.subjects, "proderm", infusions=t.infusions)
    checked_derive_all(t.visits, t.subjects, "proderm")


# ---- random synthetic tables ----------------------------------------------------------------

MEASURES = {
    "pga": (0.0, 10.0),
    "ptga": (0.0, 10.0),
    "extramuscular": (0.0, 10.0),
    "mmt8": (40.0, 150.0),
    "haq": (0.0, 3.0),
    "ck": (20.0, 3000.0),
    "aldolase": (1.0, 30.0),
}
WEEKS = (0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40)


def random_trial(seed: int, n_subjects: int = 60) -> tuple[pd.DataFrame, pd.DataFrame,
                                                          pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"P{rng.integers(0, 10**6):06d}-{k}" for k in range(n_subjects)]
    arms = rng.choice(["ivig", "placebo"], size=n_subjects)
    rows: list[dict[str, Any]] = []
    day0 = pd.Timestamp("2023-01-01")
    for sid in ids:
        if rng.random() < 0.08:  # no visit at all
            continue
        level = {m: rng.uniform(lo, hi) for m, (lo, hi) in MEASURES.items()}
        drop_after = rng.choice([*WEEKS, 99])
        start = pd.Timedelta(days=int(rng.integers(0, 400)))
        for w in WEEKS:
            if w > 0 and (w > drop_after or rng.random() < 0.12):  # dropout, missed visit
                continue
            rec: dict[str, Any] = {"subject_id": sid, "visit_week": w}
            for m, (lo, hi) in MEASURES.items():
                drift = rng.normal(0.0, (hi - lo) * 0.25)
                v = float(np.clip(level[m] + drift, lo, hi))
                if m == "mmt8" or m == "ck":
                    v = round(v)
                rec[m] = np.nan if rng.random() < 0.07 else v  # missing values
            rec["ck_uln"] = 200.0
            rec["aldolase_uln"] = 7.6
            if rng.random() < 0.85:  # some visits undated
                rec["visit_date"] = (day0 + start + pd.Timedelta(weeks=w)).date().isoformat()
            rows.append(rec)
    visits = pd.DataFrame(rows)
    order = rng.permutation(len(visits))  # rows in any order
    visits = visits.iloc[order].reset_index(drop=True)
    subjects = pd.DataFrame({"subject_id": ids, "arm": arms})
    subjects["randomised"] = rng.random(n_subjects) > 0.05
    subjects["age"] = rng.integers(18, 80, n_subjects).astype(float)
    subjects["sex"] = rng.choice(["F", "M"], n_subjects)
    subjects["site_id"] = rng.choice(["S1", "S2", "S3"], n_subjects)
    # recorded crossovers: placebo, randomised, week 8..16 (others would be rejected)
    cw = np.where(
        (arms == "placebo") & subjects["randomised"].to_numpy() & (rng.random(n_subjects) < 0.2),
        rng.choice([8, 12, 16], n_subjects), np.nan)
    subjects["crossover_week"] = pd.Series(cw).astype(object).where(~np.isnan(cw), "")
    dw = np.where(rng.random(n_subjects) < 0.1, rng.choice([4, 8, 12, 20], n_subjects), np.nan)
    subjects["deterioration_week"] = pd.Series(dw).astype(object).where(~np.isnan(dw), None)
    ext = rng.choice(np.array([True, False, None], dtype=object), n_subjects, p=[0.2, 0.1, 0.7])
    subjects["entered_extension"] = ext
    subjects["discontinuation_reason"] = rng.choice(
        np.array(["", "withdrew consent", None], dtype=object), n_subjects)
    subjects["randomisation_date"] = np.where(rng.random(n_subjects) < 0.5, "2023-01-01", None)
    inf_rows = []
    for sid in ids:
        for cycle in range(1, int(rng.integers(0, 11)) + 1):
            day = day0 + pd.Timedelta(days=int(rng.integers(0, 400)) + 28 * cycle)
            inf_rows.append({
                "subject_id": sid, "cycle": cycle, "start": day.isoformat(),
                "end": (day + pd.Timedelta(hours=5)).isoformat(),
                "product": rng.choice(["ivig", "placebo"]),
            })
    infusions = pd.DataFrame(inf_rows, columns=["subject_id", "cycle", "start", "end",
                                                "product"])
    return visits, subjects, infusions


@pytest.mark.parametrize("seed", range(12))
def test_random_trials_equivalent(seed: int) -> None:
    visits, subjects, infusions = random_trial(seed)
    d = checked_derive_all(visits, subjects, "proderm", infusions=infusions)
    assert len(d.adeff) > 0
    checked_derive_all(visits, subjects, "proderm")
    no_dates = visits.drop(columns="visit_date")
    checked_derive_all(no_dates, subjects.drop(columns=["randomisation_date"]), "proderm")


def test_random_trials_cover_crossovers_and_gaps() -> None:
    """The random trials exercise what they claim to."""
    seen = {"cross": 0, "cd2": 0, "no_visit": 0, "no_base": 0, "ext": 0}
    for seed in range(12):
        visits, subjects, infusions = random_trial(seed)
        d = derive_all(visits, subjects, "proderm", infusions=infusions)
        seen["cross"] += int((d.adsl["CROSSFL"] == "Y").sum())
        seen["cd2"] += int((d.adsl["CD2FL"] == "Y").sum())
        seen["no_visit"] += int((d.adsl["NVISITS"] == 0).sum())
        seen["ext"] += int((d.adsl["EXTFL"] == "Y").sum())
        seen["no_base"] += int((d.adeff["BASE"].isna() & (d.adeff["PARAMCD"] != "TIS")).sum())
    assert all(v > 0 for v in seen.values()), seen


def test_one_subject_with_visits_and_a_single_parameter() -> None:
    visits, subjects, _ = random_trial(3, n_subjects=5)
    first = visits["subject_id"].iloc[0]
    checked_derive_all(visits[visits["subject_id"] == first], subjects, "proderm")
    one = visits.assign(**{m: np.nan for m in MEASURES if m != "pga"})  # only PGA has values
    d = checked_derive_all(one, subjects, "proderm")
    assert set(d.adeff["PARAMCD"]) == {"PGA"}


def test_categorical_columns_write_and_read_back(tmp_path: Any) -> None:
    """CSV and Parquet outputs hold the same text as the reference's plain strings."""
    visits, subjects, infusions = random_trial(5)
    new = derive_all(visits, subjects, "proderm", infusions=infusions)
    old = reference_tables(visits, subjects, "proderm", infusions=infusions)
    for name in ("adsl", "adrs", "adeff", "adtte"):
        a, b = getattr(new, name), old[name]
        a.to_csv(tmp_path / "new.csv", index=False)
        b.to_csv(tmp_path / "old.csv", index=False)
        assert (tmp_path / "new.csv").read_bytes() == (tmp_path / "old.csv").read_bytes(), name
        a.to_parquet(tmp_path / "new.parquet")
        back = pd.read_parquet(tmp_path / "new.parquet")
        assert_same_table(name, back, b.reset_index(drop=True).pipe(
            lambda f: pd.read_parquet(_write(f, tmp_path / "old.parquet"))))


def _write(frame: pd.DataFrame, path: Any) -> Any:
    frame.to_parquet(path)
    return path
