"""Shared vocabularies of the canonical tables (``tables/vocabularies.toml``).

One data file holds every code list (antibody groups, sex, adverse-event severities, infused
products), each with its source; this module exposes them as constants so the table validators,
the database service, the web forms and the report use the same codes.

>>> SEVERITIES
('mild', 'moderate', 'severe', 'life-threatening', 'fatal')
>>> PRODUCTS
('ivig', 'placebo')
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from myotrial.errors import RulesError
from myotrial.tomlfile import read_toml

__all__ = [
    "MSA_GROUPS",
    "PRODUCTS",
    "SEVERE_OR_WORSE",
    "SEVERITIES",
    "SEX_CODES",
    "VOCABULARIES",
    "Vocabulary",
    "load_vocabularies",
]


@dataclass(frozen=True)
class Vocabulary:
    """One code list: its name, label, the column(s) it applies to, its source and codes."""

    name: str
    label: str
    column: str
    source: str
    codes: tuple[str, ...]


def load_vocabularies(path: str | Path | None = None) -> dict[str, Vocabulary]:
    """Read the vocabularies file strictly (bundled unless ``path``); every code list must be
    non-empty with distinct codes (case-insensitively)."""
    p = (
        Path(str(resources.files("myotrial.tables").joinpath("vocabularies.toml")))
        if path is None
        else Path(path)
    )
    doc = read_toml(p, "vocabularies file")
    out: dict[str, Vocabulary] = {}
    for name, table in doc.subtables():
        codes = table.str_list("codes")
        lowered = [c.lower() for c in codes]
        if not codes or len(set(lowered)) != len(lowered) or any(not c.strip() for c in codes):
            raise table.error("codes", "must list distinct, non-blank codes")
        out[name] = Vocabulary(
            name=name,
            label=table.str("label"),
            column=table.str("column"),
            source=table.str("source"),
            codes=codes,
        )
    doc.finish()
    for needed in ("msa_group", "sex", "severity", "product"):
        if needed not in out:
            raise RulesError(f"{p}: missing vocabulary [{needed}]")
    return out


VOCABULARIES: dict[str, Vocabulary] = load_vocabularies()
#: subjects.msa_group codes (antibody groups).
MSA_GROUPS: tuple[str, ...] = VOCABULARIES["msa_group"].codes
#: subjects.sex / screening.sex codes.
SEX_CODES: tuple[str, ...] = VOCABULARIES["sex"].codes
#: adverse_events.severity codes, mildest first.
SEVERITIES: tuple[str, ...] = VOCABULARIES["severity"].codes
#: Severities counted as "severe or worse" in safety summaries.
SEVERE_OR_WORSE: tuple[str, ...] = SEVERITIES[SEVERITIES.index("severe") :]
#: infusions.product codes.
PRODUCTS: tuple[str, ...] = VOCABULARIES["product"].codes
