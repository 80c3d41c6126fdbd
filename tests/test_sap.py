"""The statistical analysis plan as data ([sap] of the protocol file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from myotrial.errors import RulesError
from myotrial.protocol import load_protocol

PRODERM = load_protocol("proderm")
TEXT = PRODERM.source.read_text(encoding="utf-8")  # type: ignore[union-attr]


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    assert old in TEXT, old
    path = tmp_path / "variant.toml"
    path.write_text(TEXT.replace(old, new, 1), encoding="utf-8")
    return path


def test_proderm_sap_states_the_primary_estimand() -> None:
    sap = PRODERM.sap
    assert sap is not None and not sap.defaulted
    est = sap.estimand("primary")
    assert (est.endpoint, est.population) == ("tis20_w16", "itt")
    assert {(ie.event, ie.strategy) for ie in est.intercurrent_events} == {
        ("confirmed_deterioration", "composite"),
        ("crossover", "composite"),
        ("discontinuation", "composite"),
        ("missing_measure", "composite"),
    }
    primary = sap.analysis("tis20_w16")
    assert primary is not None and (primary.estimate, primary.test) == ("wald", "fisher")
    for name in ("tis20_w40", "tis40_w40", "tis60_w40"):
        a = sap.analysis(name)
        assert a is not None and a.comparison == "descriptive" and a.test is None
    assert sap.multiplicity.procedure == "fixed_sequence"
    assert sap.multiplicity.hypotheses[0] == "tis20_w16"
    assert {s.method for s in sap.sensitivity} == {
        "bounded_tis",
        "multiple_imputation",
        "tipping_point",
        "population",
    }


def test_protocol_without_sap_gets_the_default_plan(tmp_path: Path) -> None:
    cut = TEXT.index("# ----------------------------------------------------------------------")
    path = tmp_path / "nosap.toml"
    path.write_text(TEXT[:cut], encoding="utf-8")
    sap = load_protocol(path).sap
    assert sap is not None and sap.defaulted
    w40 = sap.analysis("tis20_w40")
    assert w40 is not None and w40.comparison == "descriptive"
    w16 = sap.analysis("tis20_w16")
    assert w16 is not None and (w16.estimate, w16.test) == ("wald", "fisher")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'procedure = "fixed_sequence"',
            'procedur = "fixed_sequence"',
            r"unknown key 'procedur'; did you mean 'procedure'\?",
        ),
        (
            'estimate = "wald"\ntest = "fisher"',
            'estimate = "wlad"\ntest = "fisher"',
            r"estimate = 'wlad'; valid: wald, newcombe",
        ),
        (
            'endpoint = "tis40_w40"\ncomparison = "descriptive"',
            'endpoint = "tis40_w40"\ncomparison = "descriptive"\ntest = "fisher"',
            "tis40_w40 is descriptive: a between-arm test is not planned",
        ),
        (
            'hypotheses = ["tis20_w16", "tis40_w16"',
            'hypotheses = ["tis20_w16", "tis40_w40"',
            "'tis40_w40' is descriptive",
        ),
        (
            'hypotheses = ["tis20_w16", ',
            "hypotheses = [",
            "the fixed sequence must start with the primary",
        ),
        ('strategy = "composite"', 'strategy = "compos"', "strategy = 'compos'; valid: composite"),
        ("n_imputations = 50\n", "", "needs n_imputations"),
        (
            'estimand = "primary"\ncomparison',
            'estimand = "nope"\ncomparison',
            "estimand = 'nope'; valid: primary, week40",
        ),
    ],
)
def test_bad_sap_is_a_located_error(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = _variant(tmp_path, old, new)
    with pytest.raises(RulesError, match=message) as err:
        load_protocol(path)
    assert str(path) in str(err.value) and "[sap" in str(err.value)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (  # a stratified method as the unstratified estimate
            'estimate = "wald"\ntest = "fisher"',
            'estimate = "mh_sato"\ntest = "fisher"',
            r"estimate = 'mh_sato'; valid: wald, newcombe, miettinen_nurminen, mn_score_test",
        ),
        (  # an unstratified test as the stratified test
            'estimate = "wald"\ntest = "fisher"',
            'estimate = "wald"\ntest = "fisher"\nstratified_test = "fisher"',
            r"stratified_test = 'fisher'; valid: cmh",
        ),
        (  # a binary test for a continuous endpoint
            'endpoint = "tis_w16"\ncomparison = "randomised"\nestimate = "pooled_t"',
            'endpoint = "tis_w16"\ncomparison = "randomised"\nestimate = "pooled_t"\n'
            'test = "fisher"',
            "none for a continuous endpoint",
        ),
    ],
)
def test_method_keys_are_checked_by_endpoint_kind_and_role(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = _variant(tmp_path, old, new)
    with pytest.raises(RulesError, match=message):
        load_protocol(path)


def test_analysis_methods_are_registered_keys() -> None:
    from myotrial.sap import ANALYSIS_METHODS
    from myotrial.stats import METHODS

    keys = {k for roles in ANALYSIS_METHODS.values() for ks in roles.values() for k in ks}
    assert keys <= set(METHODS)
