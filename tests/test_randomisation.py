"""Stratified permuted-block randomisation: reproducibility, balance, ratios, concealment."""

from __future__ import annotations

import copy
import doctest
import json
import pickle
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import myotrial.randomisation.randomiser as randomiser_module
from myotrial.randomisation import (
    Allocation,
    AllocationError,
    ConcealmentError,
    RandomisationScheme,
    Randomiser,
    StratumFactor,
)

SEX = StratumFactor("sex", ("female", "male"))
SITE = StratumFactor("site", ("01", "02", "03"))


def scheme(**kw: object) -> RandomisationScheme:
    base: dict[str, object] = {"factors": (SEX, SITE), "n_per_stratum": 30}
    return RandomisationScheme(**(base | kw))  # type: ignore[arg-type]


pytestmark = pytest.mark.filterwarnings("ignore::myotrial.randomisation.SeededListWarning")
_DESIGN = ["stratum", "sequence", "block", "block_size", "arm"]


def full_list(s: RandomisationScheme, seed: int | None) -> pd.DataFrame:
    return Randomiser(s, seed).export_list(unblinded=True)


def test_same_seed_identical_list_different_seed_different_list() -> None:
    """A seed (validation only) reproduces arms, blocks and block sizes; kit codes never
    depend on it (issue 12: kit codes random and independent of allocation and seed)."""
    s = scheme()
    a, b, c = full_list(s, 2024), full_list(s, 2024), full_list(s, 2025)
    pd.testing.assert_frame_equal(a[_DESIGN], b[_DESIGN])
    assert a["arm"].tolist() != c["arm"].tolist()
    assert a["kit_code"].tolist() != b["kit_code"].tolist()  # same seed, fresh kits


def test_seed_warns_and_default_list_comes_from_the_os_csprng() -> None:
    s = scheme(n_per_stratum=8)
    with pytest.warns(randomiser_module.SeededListWarning, match="explicit seed 7"):
        seeded = Randomiser(s, 7)
    assert seeded.source == "seeded" and seeded.entropy_bits == 3
    lists = [Randomiser(s) for _ in range(3)]
    assert all(r.seed is None and r.source == "csprng" and (r.entropy_bits or 0) >= 128
               for r in lists)
    arms = {tuple(r.export_list(unblinded=True)["arm"]) for r in lists}
    assert len(arms) == 3  # 48 slots of 2.58 bits per block: a repeat is ~2^-31


def test_import_of_a_pre_generated_list_is_checked_against_the_scheme() -> None:
    s = RandomisationScheme(n_per_stratum=4, block_sizes=(4,))
    rows = [{"stratum": "all", "sequence": i + 1, "block": 1, "block_size": 4, "arm": a}
            for i, a in enumerate(["ivig", "placebo", "placebo", "ivig"])]
    rz = Randomiser.from_slots(s, rows)
    assert rz.source == "imported" and rz.entropy_bits is None
    lst = rz.export_list(unblinded=True)
    assert lst["arm"].tolist() == ["ivig", "placebo", "placebo", "ivig"]
    assert lst["kit_code"].is_unique and len(rz.list_sha256) == 64
    bad = [dict(r) for r in rows]
    bad[0]["arm"] = "placebo"
    with pytest.raises(AllocationError, match="not a complete block"):
        Randomiser.from_slots(s, bad)
    with pytest.raises(AllocationError, match="lacks arm"):
        Randomiser.from_slots(s, [{k: v for k, v in rows[0].items() if k != "arm"}])


def test_list_structure() -> None:
    s = scheme(block_sizes=(4, 6))
    lst = full_list(s, 1)
    assert set(lst["stratum"]) == set(s.strata) and len(s.strata) == 6
    assert lst["kit_code"].is_unique
    for _, g in lst.groupby("stratum"):
        assert len(g) >= 30 and g["sequence"].tolist() == list(range(1, len(g) + 1))
        assert set(g["block_size"]) <= {4, 6}


@pytest.mark.parametrize(("ratio", "sizes"), [((1, 1), (2, 4, 6)), ((2, 1), (3, 6, 9)),
                                              ((3, 2), (5, 10))])
def test_ratio_realised_exactly_in_every_complete_block(
    ratio: tuple[int, int], sizes: tuple[int, ...]
) -> None:
    s = scheme(ratio=ratio, block_sizes=sizes)
    lst = full_list(s, 99)
    for (_, _), block in lst.groupby(["stratum", "block"]):
        size = int(block["block_size"].iloc[0])
        assert len(block) == size  # whole blocks only
        counts = Counter(block["arm"])
        unit = size // sum(ratio)
        assert counts == {"ivig": ratio[0] * unit, "placebo": ratio[1] * unit}


@settings(max_examples=60, deadline=None)
@given(
    ratio=st.lists(st.integers(1, 3), min_size=2, max_size=3),
    multiples=st.lists(st.integers(1, 4), min_size=1, max_size=3, unique=True),
    seed=st.integers(0, 2**32 - 1),
)
def test_imbalance_within_a_block_never_exceeds_half_the_block(
    ratio: list[int], multiples: list[int], seed: int
) -> None:
    arms = tuple(f"arm{i}" for i in range(len(ratio)))
    unit = sum(ratio)
    s = RandomisationScheme(arms=arms, ratio=tuple(ratio),
                            block_sizes=tuple(m * unit for m in multiples),
                            factors=(StratumFactor("site", ("a", "b")),), n_per_stratum=24)
    rz = Randomiser(s, seed)
    lst = rz.export_list(unblinded=True)
    for stratum, g in lst.groupby("stratum"):
        counts = Counter[str]()
        for n, (arm, size) in enumerate(zip(g["arm"], g["block_size"], strict=True), start=1):
            counts[arm] += 1
            for a, r in zip(arms, ratio, strict=True):
                deviation = abs(counts[a] - Fraction(n * r, unit))
                assert deviation <= Fraction(int(size), 2), (stratum, n, a)
            if ratio == [1, 1]:
                assert abs(counts["arm0"] - counts["arm1"]) <= int(size) // 2
    # the same through the API, randomising everyone in order: balance() agrees
    for i, stratum in enumerate(s.strata * 12):
        rz.randomise(f"S{i}", stratum)
    for b in rz.balance().strata:
        assert b.imbalance <= max(s.block_sizes) / 2


def test_one_to_one_pairwise_difference_bounded_by_half_block() -> None:
    s = scheme(block_sizes=(2, 4, 6, 8), n_per_stratum=200)
    lst = full_list(s, 7)
    for _, g in lst.groupby("stratum"):
        diff = 0
        for arm, size in zip(g["arm"], g["block_size"], strict=True):
            diff += 1 if arm == "ivig" else -1
            assert abs(diff) <= size // 2


def test_randomise_reveals_in_list_order_per_stratum() -> None:
    s = scheme()
    rz = Randomiser(s)
    secret = rz.export_list(unblinded=True)
    a1 = rz.randomise("P1", {"sex": "female", "site": "02"})
    a2 = rz.randomise("P2", "site=01|sex=male")  # order of factors does not matter
    a3 = rz.randomise("P3", "sex=female,site=02")
    assert isinstance(a1, Allocation)
    assert (a1.stratum, a1.sequence, a3.sequence) == ("sex=female|site=02", 1, 2)
    assert a2.stratum == "sex=male|site=01" and a2.sequence == 1
    row = secret[(secret["stratum"] == a3.stratum) & (secret["sequence"] == 2)].iloc[0]
    assert (a3.arm, a3.kit_code) == (row["arm"], row["kit_code"])
    assert rz.n_assigned() == 3 and rz.n_assigned("sex=female|site=02") == 2


def test_concealment_is_enforced_by_the_api() -> None:
    rz = Randomiser(scheme(), 11)
    secret = rz.export_list(unblinded=True)
    future_kits = set(secret["kit_code"])
    with pytest.raises(ConcealmentError):
        rz.export_list()
    with pytest.raises(ConcealmentError):
        rz.export_list(unblinded="yes")  # type: ignore[arg-type]  # only True unlocks
    text = repr(rz) + str(rz)
    assert "concealed" in text and not any(k in text for k in future_kits)
    for dump in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="concealed list"):
            dump(rz)
    with pytest.raises(TypeError):
        vars(rz)  # __slots__: no __dict__ to browse
    public = {n for n in dir(rz) if not n.startswith("_")}
    assert public == {"allocations", "balance", "entropy_bits", "export_list", "from_slots",
                      "list_sha256", "load", "n_assigned", "n_remaining", "randomise", "save",
                      "scheme", "seed", "source"}
    assert rz.allocations() == ()  # nothing revealed yet
    a = rz.randomise("P1", "sex=male|site=03")
    assert rz.allocations() == (a,)


def test_randomise_errors_name_the_problem() -> None:
    rz = Randomiser(scheme(n_per_stratum=2, block_sizes=(2,)), 5)
    rz.randomise("P1", "sex=male|site=01")
    with pytest.raises(AllocationError, match="P1 was already randomised"):
        rz.randomise("P1", "sex=male|site=01")
    with pytest.raises(ValueError, match="'x' is not a level of sex; levels: female, male"):
        rz.randomise("P2", "sex=x|site=01")
    with pytest.raises(ValueError, match="lacks factor 'site'"):
        rz.randomise("P2", "sex=male")
    with pytest.raises(ValueError, match="unknown stratification factor"):
        rz.randomise("P2", "sex=male|site=01|age=old")
    rz.randomise("P2", "sex=male|site=01")
    with pytest.raises(AllocationError, match="no allocations left"):
        rz.randomise("P3", "sex=male|site=01")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratio": (2, 1), "block_sizes": (4,)}, "not positive multiples of 3"),
        ({"ratio": (1,)}, "has 1 parts for 2 arms"),
        ({"arms": ("ivig", "ivig")}, "distinct"),
        ({"arms": ("ivig",), "ratio": (1,)}, "at least two arms"),
        ({"ratio": (0, 1)}, "positive integers"),
        ({"n_per_stratum": 0}, "positive integer"),
        ({"arms": ("iv ig", "placebo")}, "letters, digits"),
    ],
)
def test_scheme_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RandomisationScheme(**kwargs)  # type: ignore[arg-type]


def test_unstratified_scheme_has_one_stratum() -> None:
    rz = Randomiser(RandomisationScheme(n_per_stratum=4, block_sizes=(4,)), 0)
    assert rz.randomise("P1").stratum == "all"
    assert Counter(rz.export_list(unblinded=True)["arm"]) == {"ivig": 2, "placebo": 2}


def test_state_round_trip_and_tamper_detection(tmp_path: Path) -> None:
    s = scheme()
    rz = Randomiser(s, 42)
    first = rz.randomise("P1", "sex=female|site=01")
    path = rz.save(tmp_path / "state.json")
    loaded = Randomiser.load(path)
    assert loaded.allocations() == (first,)
    pd.testing.assert_frame_equal(loaded.export_list(unblinded=True),
                                  rz.export_list(unblinded=True))
    nxt = loaded.randomise("P2", "sex=female|site=01")
    assert nxt.sequence == 2
    same = rz.randomise("P2", "sex=female|site=01")  # the original object, same next slot
    assert (same.sequence, same.arm, same.kit_code) == (nxt.sequence, nxt.arm, nxt.kit_code)
    data = json.loads(path.read_text())
    data["list"][0]["arm"] = "placebo" if data["list"][0]["arm"] == "ivig" else "ivig"
    path.write_text(json.dumps(data))
    with pytest.raises(AllocationError, match="checksum"):
        Randomiser.load(path)


def test_balance_report_counts() -> None:
    rz = Randomiser(scheme(ratio=(2, 1), block_sizes=(3,)), 8)
    for i in range(3):
        rz.randomise(f"P{i}", "sex=male|site=02")
    report = rz.balance()
    stratum = next(b for b in report.strata if b.stratum == "sex=male|site=02")
    assert stratum.counts == {"ivig": 2, "placebo": 1}
    assert stratum.imbalance == 0.0 and stratum.max_difference == 0.0
    assert report.overall.n == 3
    assert len(report.to_frame()) == len(report.strata) + 1


def test_docstring_examples_run() -> None:
    result = doctest.testmod(randomiser_module)
    assert result.failed == 0 and result.attempted > 0
