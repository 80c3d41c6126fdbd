"""The interchange writers' fast paths report exactly what the slow ones did (issue 16: the
demo's speed): ASCII text is kept as it is, and Dataset-JSON rows that are arrays are not
validated one by one against the schema (a row must only be an array)."""

from __future__ import annotations

import copy
import importlib.util
import unicodedata
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from myotrial.interchange.adam import (
    _ASCII,
    _ascii,
    dataset_json_schema,
    to_dataset_json,
    validate_dataset_json,
)
from myotrial.interchange.errors import InterchangeError
from myotrial.protocol import load_protocol

_spec = importlib.util.spec_from_file_location(
    "interchange_support", Path(__file__).parent / "fixtures" / "interchange" / "support.py"
)
assert _spec is not None and _spec.loader is not None
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)


def _slow_ascii(text: str) -> str:
    for k, v in _ASCII.items():
        text = text.replace(k, v)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


@pytest.mark.parametrize("text", ["", "TIS >= 20 at week 16", "a\tb\nc", "\x7f\x00",
                                  "TIS ≥ 20 — week 16", "café naïve", "x → y … “z”", "日本",
                                  "Ångström ×2"])
def test_ascii_same_as_before(text: str) -> None:
    assert _ascii(text) == _slow_ascii(text)
    assert all(not k.isascii() for k in _ASCII)  # what the fast path relies on


def _problems_full(doc: dict[str, Any]) -> list[tuple[str, str]]:
    validator = jsonschema.Draft201909Validator(dataset_json_schema())
    return [("/".join(str(p) for p in e.absolute_path) or "(root)",
             f"Dataset-JSON schema: {e.message[:200]}") for e in validator.iter_errors(doc)]


def _problems_fast(doc: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        validate_dataset_json(doc)
    except InterchangeError as exc:
        return [(str(r["field"]), str(r["rule"])) for r in exc.problems.to_dict("records")]
    return []


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    ds = next(iter(support.fixture_datasets()))
    return to_dataset_json(ds, load_protocol())


def _broken(doc: dict[str, Any], how: str) -> dict[str, Any]:
    bad = copy.deepcopy(doc)
    if how == "column type":
        bad["columns"][0]["dataType"] = "text"
    elif how == "no label":
        del bad["label"]
    elif how == "row is an object":
        bad["rows"][1] = {"value": [1]}
    elif how == "row is a string":
        bad["rows"][2] = "x"
    elif how == "rows not a list":
        bad["rows"] = {"a": 1}
    elif how == "extra key":
        bad["unexpected"] = 1
    return bad


@pytest.mark.parametrize("how", ["valid", "column type", "no label", "row is an object",
                                 "row is a string", "rows not a list", "extra key"])
def test_dataset_json_same_problems_as_full_validation(document: dict[str, Any],
                                                       how: str) -> None:
    doc = document if how == "valid" else _broken(document, how)
    assert len(document["rows"]) > 2
    expected = _problems_full(doc)
    assert (expected == []) == (how == "valid")
    assert _problems_fast(doc) == expected
