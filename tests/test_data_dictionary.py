"""docs/data-format.md documents every column the validators read and the scoring writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from myotrial.eligibility import OUTPUT_COLUMNS as SCREENING_OUTPUT
from myotrial.rules import load_scales
from myotrial.scoring import SCORED_COLUMNS
from myotrial.tables import ADVERSE_EVENT_COLUMNS, INFUSION_COLUMNS, SUBJECT_COLUMNS
from myotrial.tables.screening import screening_boolean_columns, screening_required_columns
from myotrial.tables.visits import NUMERIC_VISIT_COLUMNS
from myotrial.tables.vocabularies import VOCABULARIES

DOC = Path(__file__).resolve().parents[1] / "docs" / "data-format.md"


def section(title: str) -> str:
    """The text of the ``## title`` section of the dictionary."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\b.*?(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"no section '## {title}' in {DOC}"
    return match.group(0)


def documented(title: str) -> set[str]:
    return set(re.findall(r"`([a-z0-9_]+)`", section(title)))


def _screening_columns() -> set[str]:
    enzymes = load_scales().enzymes
    return {
        *screening_boolean_columns(),
        *screening_required_columns(),
        *enzymes,
        *(f"{e}_uln" for e in enzymes),
        "sex",
        "mmt8_max",
        "age_at_onset",
    }


CASES = {
    "visits": {"subject_id", "visit_week", "visit_date", *NUMERIC_VISIT_COLUMNS},
    "scored visits": set(SCORED_COLUMNS),
    "subjects": {c.name for c in SUBJECT_COLUMNS},
    "infusions": {c.name for c in INFUSION_COLUMNS},
    "adverse_events": {c.name for c in ADVERSE_EVENT_COLUMNS},
    "screening": _screening_columns() | set(SCREENING_OUTPUT),
}


@pytest.mark.parametrize("table", sorted(CASES))
def test_every_column_read_or_written_is_documented(table: str) -> None:
    missing = sorted(CASES[table] - documented(table))
    assert not missing, f"docs/data-format.md section {table!r} lacks {missing}"


def test_every_vocabulary_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for vocab in VOCABULARIES.values():
        for code in vocab.codes:
            assert f"`{code}`" in text, (vocab.name, code)


def test_the_check_can_fail() -> None:
    """A column that is not in the dictionary is noticed."""
    assert "no_such_column" not in documented("visits")
