"""define.xml validation: the schema built once without checking odmlib's XSD files against
the XSD meta-schema (``define_schema``) reports exactly what the fully checked schema reports,
on the written define.xml and on broken copies of it (issue 16: the demo's speed)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from myotrial.interchange.adam import write_adam
from myotrial.interchange.define import define_schema, validate_define
from myotrial.interchange.errors import InterchangeError
from myotrial.protocol import load_protocol

_spec = importlib.util.spec_from_file_location(
    "interchange_support", Path(__file__).parent / "fixtures" / "interchange" / "support.py"
)
assert _spec is not None and _spec.loader is not None
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)


@pytest.fixture(scope="module")
def define_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("adam")
    write_adam(list(support.fixture_datasets()), load_protocol(), out)
    return (out / "define.xml").read_text(encoding="utf-8")


#: Broken copies: (what is broken, old text, new text).
BREAKS = [
    ("unknown attribute value", 'Repeating="No"', 'Repeating="Maybe"'),
    ("missing required attribute", ' Name="ADSL" Repeating', " Repeating"),
    ("unknown element", "<def:Standards>", "<def:Standards><Nonsense/>"),
    ("duplicate OID (key constraint)", 'ItemGroupDef OID="IG.ADSL"', 'ItemGroupDef OID="IG.ADRS"'),
    ("text for a number", 'OrderNumber="1"', 'OrderNumber="first"'),
    ("bad data type", 'DataType="integer"', 'DataType="number"'),
]


def _errors(schema: object, path: Path) -> list[tuple[str | None, str]]:
    """Each violation's path and reason; of a duplicate key, which of the element's unique
    constraints is named varies between runs (and builds), so the name is left out."""
    return [
        (e.path, re.sub(r"XsdUnique\(name='[^']*'\)", "XsdUnique", str(e.reason)))
        for e in schema.iter_errors(str(path))  # type: ignore[attr-defined]
    ]


def test_written_define_is_valid(define_text: str, tmp_path: Path) -> None:
    path = tmp_path / "define.xml"
    path.write_text(define_text, encoding="utf-8")
    validate_define(path)  # raises on any violation
    assert define_schema() is define_schema()  # built once per process


@pytest.mark.parametrize(("what", "old", "new"), BREAKS, ids=[b[0] for b in BREAKS])
def test_broken_define_same_errors_as_the_checked_schema(
    define_text: str, tmp_path: Path, what: str, old: str, new: str
) -> None:
    assert old in define_text, what
    path = tmp_path / "define.xml"
    path.write_text(define_text.replace(old, new, 1), encoding="utf-8")
    fast = _errors(define_schema(), path)
    assert fast, f"{what}: not detected"
    assert fast == _errors(define_schema("strict"), path), what
    with pytest.raises(InterchangeError) as exc:
        validate_define(path)
    assert len(exc.value.problems) == len(fast)
    assert exc.value.problems["rule"].str.startswith("Define-XML 2.1 schema").all()
