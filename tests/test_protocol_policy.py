"""The strict TOML reader and the protocol policy seam (issue: one protocol drives everything)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from myotrial.errors import RulesError
from myotrial.protocol import load_protocol
from myotrial.randomisation import RandomisationScheme
from myotrial.tomlfile import toml_from_text

PRODERM = load_protocol("proderm")


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = PRODERM.source.read_text(encoding="utf-8")  # type: ignore[union-attr]
    assert old in text, old
    path = tmp_path / "variant.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_reader_rejects_unknown_key_with_suggestion() -> None:
    root = toml_from_text("[effects]\neffect_scales = [0.0]\n", "design.toml")
    effects = root.table("effects")
    assert effects.float_list("effect_scale", (1.0,)) == (1.0,)
    with pytest.raises(
        RulesError,
        match=r"design.toml: \[effects\]: unknown key 'effect_scales'; "
        r"did you mean 'effect_scale'\?",
    ):
        root.finish()


def test_reader_typed_getters_locate_bad_values() -> None:
    root = toml_from_text("a = 1.5\nb = nan\nc = true\nd = 'x'\n", "f.toml")
    with pytest.raises(RulesError, match="a: must be an integer"):
        root.int("a")
    with pytest.raises(RulesError, match="b: must be a finite number"):
        root.float("b")
    with pytest.raises(RulesError, match="c: must be a number"):
        root.float("c")
    with pytest.raises(RulesError, match=r"d = 'x'; valid: y, z"):
        root.str("d", choices=("y", "z"))
    with pytest.raises(RulesError, match="missing required key 'e'"):
        root.int("e")


def test_reader_allows_documentation_keys_only_as_text() -> None:
    root = toml_from_text("x = 1\nnote = 'why'\ncitation = 'Smith 2020'\n", "f.toml")
    root.int("x")
    root.finish()
    bad = toml_from_text("x = 1\nnote = 3\n", "f.toml")
    bad.int("x")
    with pytest.raises(RulesError, match="unknown key 'note'"):
        bad.finish()


@pytest.mark.parametrize(
    ("old", "new", "key", "hint"),
    [
        (
            'extension_arm = "ivig"',
            'extension_arm = "ivig"\nextension_arms = 1',
            "extension_arms",
            "extension_arm",
        ),
        (
            "earliest_week = 8\n\n[crossover]",
            "earliest_wek = 8\n\n[crossover]",
            "earliest_wek",
            "earliest_week",
        ),
        (
            "infusion_related_window_hours = 72",
            "infusion_related_window_hour = 72",
            "infusion_related_window_hour",
            "infusion_related_window_hours",
        ),
        (
            'category = "minimal"\nweek = 16',
            'categroy = "minimal"\ncategory = "minimal"\nweek = 16',
            "categroy",
            "category",
        ),
    ],
)
def test_protocol_misspelt_key_is_named_with_suggestion(
    tmp_path: Path, old: str, new: str, key: str, hint: str
) -> None:
    path = _variant(tmp_path, old, new)
    with pytest.raises(RulesError, match=rf"unknown key '{key}'; did you mean '{hint}'\?") as err:
        load_protocol(path)
    assert str(path) in str(err.value)


def test_protocol_deterioration_must_agree_with_rules_file(tmp_path: Path) -> None:
    path = _variant(
        tmp_path, "earliest_week = 8\n\n[crossover]", "earliest_week = 4\n\n[crossover]"
    )
    with pytest.raises(RulesError, match=r"earliest_week = 4 disagrees with 8 in \[confirmation\]"):
        load_protocol(path)


def test_protocol_rejects_bad_mmt8_max_and_off_schedule_endpoint(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="mmt8_max = 100; valid: 80 or 150"):
        load_protocol(_variant(tmp_path, "mmt8_max = 150", "mmt8_max = 100"))
    with pytest.raises(RulesError, match="endpoint tis20_w16 week 10 is not an assessment week"):
        load_protocol(
            _variant(tmp_path, 'category = "minimal"\nweek = 16', 'category = "minimal"\nweek = 10')
        )


def test_policy_crossover_only_for_the_control_arm() -> None:
    pol = PRODERM.policy
    assert pol.switches_on_deterioration("placebo")
    assert not pol.switches_on_deterioration("ivig")
    assert pol.switch_target("ivig") is None and pol.switch_target("placebo") == "ivig"
    assert pol.switching_arms == ("placebo",)
    assert pol.on_deterioration("ivig") == "no_extension"
    assert pol.may_switch_at(8) and not pol.may_switch_at(4) and not pol.may_switch_at(28)
    with pytest.raises(ValueError, match="arm 'drug'"):
        pol.on_deterioration("drug")


def test_policy_periods_per_patient_and_vectorised() -> None:
    pol = PRODERM.policy
    ivig = pol.periods("ivig", switch_week=12.0, entered_extension=False)
    assert [(p.code, p.start_week, p.end_week, p.treatment) for p in ivig] == [
        ("randomised", 0.0, 16.0, "ivig")
    ]
    placebo = pol.periods("placebo", switch_week=12.0)
    assert [(p.code, p.treatment) for p in placebo] == [
        ("randomised", "placebo"),
        ("after_switch", "ivig"),
        ("extension", "ivig"),
    ]
    weeks = np.array([0, 8, 12, 16, 28, 0, 16])
    switch = np.array([12, 12, 12, 12, 12, np.nan, np.nan])
    assert list(pol.period_at_weeks(weeks, switch)) == [
        "randomised",
        "randomised",
        "after_switch",
        "after_switch",
        "extension",
        "randomised",
        "randomised",
    ]
    arms = np.array(["placebo"] * 5 + ["ivig", "placebo"], dtype=object)
    assert list(pol.treatment_at_weeks(arms, weeks, switch)) == [
        "placebo",
        "placebo",
        "ivig",
        "ivig",
        "ivig",
        "ivig",
        "placebo",
    ]


def test_policy_schedule_dosing_safety_scoring() -> None:
    pol = PRODERM.policy
    assert [w for w in (0, 4, 5, 16, 40, 99, 2**40) if pol.is_scheduled_week(w)] == [0, 4, 16, 40]
    assert not pol.is_scheduled_week(float("nan")) and not pol.is_scheduled_week(True)
    assert pol.visit_window(dt.date(2026, 1, 1), 4) == (dt.date(2026, 1, 22), dt.date(2026, 2, 5))
    assert pol.max_cycle == 10 and pol.cycle_week(5) == 16
    assert pol.max_rate_ml_per_kg_min == 0.04 and pol.max_cycle_dose(0) == 2.0
    assert pol.infusion_related_window == dt.timedelta(hours=72)
    assert pol.threshold_values == (20.0, 40.0, 60.0)
    assert pol.scoring_options() == {
        "population": "adult",
        "measure_set": "imacs",
        "mmt8_max": 150.0,
        "earliest_week": 8.0,
        "consecutive_visits": 2,
    }


def test_juvenile_protocol_gives_juvenile_thresholds(tmp_path: Path) -> None:
    proto = load_protocol(_variant(tmp_path, 'population = "adult"', 'population = "juvenile"'))
    assert proto.policy.threshold_values == (30.0, 45.0, 70.0)
    assert proto.policy.scoring_options()["population"] == "juvenile"


def test_endpoint_names_a_category_or_gives_a_threshold(tmp_path: Path) -> None:
    assert [(e.name, e.threshold, e.category) for e in PRODERM.binary[:3]] == [
        ("tis20_w16", 20.0, "minimal"),
        ("tis40_w16", 40.0, "moderate"),
        ("tis60_w16", 60.0, "major"),
    ]
    assert PRODERM.binary[0].label.startswith("At least minimal improvement (TIS >= 20)")
    juvenile = load_protocol(_variant(tmp_path, 'population = "adult"', 'population = "juvenile"'))
    assert [e.threshold for e in juvenile.binary] == [30.0, 45.0, 70.0, 30.0, 45.0, 70.0]
    assert [e.threshold for e in juvenile.time_to_event] == [30.0, 45.0, 70.0, None]
    assert "TIS >= 30" in juvenile.binary[0].label
    literal = load_protocol(
        _variant(tmp_path, 'category = "minimal"\nweek = 16', "threshold = 35.0\nweek = 16")
    )
    assert literal.binary[0].threshold == 35.0 and "TIS >= 35" in literal.binary[0].label
    with pytest.raises(RulesError, match="either category or threshold, not both"):
        load_protocol(
            _variant(
                tmp_path,
                'category = "minimal"\nweek = 16',
                'category = "minimal"\nthreshold = 20.0\nweek = 16',
            )
        )


def test_randomisation_scheme_from_protocol() -> None:
    scheme = RandomisationScheme.from_protocol(PRODERM)
    assert scheme.arms == ("ivig", "placebo") and scheme.block_sizes == (4,)
    assert scheme.ratio == (1, 1)
