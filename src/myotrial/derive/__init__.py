"""Derivations: raw visits + subjects -> scored visits -> analysis tables (ADaM-like).

Small named steps, each documented with its rule (pharmaverse admiral's style):
:func:`derive_adsl` (one row per subject, with the treatment periods of
:mod:`myotrial.derive.periods`), :func:`derive_adrs` (responders), :func:`derive_adeff`
(subject x visit x parameter), :func:`derive_adtte` (time to event); safety:
:func:`derive_infusion_related` and :func:`derive_arm_period` (:mod:`myotrial.derive.safety`).
:func:`derive_all` runs them in order from the canonical tables. Every protocol answer
(periods, switching, thresholds, scoring options) comes from
:class:`myotrial.policy.ProtocolPolicy`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from myotrial.derive._keys import subject_positions
from myotrial.derive.adsl import ADSL_COLUMNS, derive_adsl
from myotrial.derive.endpoints import ADEFF_PARAMS, derive_adeff, derive_adrs, derive_adtte
from myotrial.derive.periods import PERIOD_COLUMNS, derive_periods
from myotrial.derive.safety import (
    derive_arm_period,
    derive_infusion_related,
    has_safety_periods,
    safety_subjects,
)
from myotrial.errors import InputValidationError, Problem
from myotrial.protocol import Protocol, load_protocol
from myotrial.scoring import score_visits
from myotrial.tables import validate_infusions
from myotrial.tables.subjects import validate_subjects

__all__ = [
    "ADEFF_PARAMS",
    "ADSL_COLUMNS",
    "PERIOD_COLUMNS",
    "DerivedTables",
    "derive_adeff",
    "derive_adrs",
    "derive_adsl",
    "derive_adtte",
    "derive_all",
    "derive_arm_period",
    "derive_infusion_related",
    "derive_periods",
    "has_safety_periods",
    "safety_subjects",
]


@dataclass(frozen=True)
class DerivedTables:
    """The analysis tables of one trial, with the scored visits they came from."""

    protocol: Protocol
    scored: pd.DataFrame
    adsl: pd.DataFrame
    adrs: pd.DataFrame
    adeff: pd.DataFrame
    adtte: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "scored_visits": self.scored,
            "adsl": self.adsl,
            "adrs": self.adrs,
            "adeff": self.adeff,
            "adtte": self.adtte,
        }


def derive_all(
    visits: pd.DataFrame,
    subjects: pd.DataFrame,
    protocol: Protocol | str = "proderm",
    *,
    tables: tuple[str, ...] = ("adrs", "adeff", "adtte"),
    infusions: pd.DataFrame | None = None,
) -> DerivedTables:
    """Score the visits and derive ADSL, ADRS, ADEFF and ADTTE under ``protocol``.

    ``tables`` selects the tables after ADSL (which is always derived); a table left out is an
    empty frame (simulations that need only responders skip the long ADEFF). ``infusions``
    (optional) dates ADSL periods whose first visit has no date (:mod:`.periods`).

    Raises
    ------
    InputValidationError
        Bad visits, subjects or infusions, or visits (infusions) of subjects absent from the
        subjects table (nothing is silently dropped).
    """
    proto = load_protocol(protocol) if isinstance(protocol, str) else protocol
    subj = validate_subjects(subjects, arms=proto.arm_codes)
    scored = score_visits(visits, **proto.policy.visits_table_options())
    unknown = subject_positions(scored, pd.Index(subj["subject_id"])) < 0
    orphans = scored.iloc[np.flatnonzero(unknown)]
    if len(orphans):
        raise InputValidationError(
            [
                Problem(
                    "visits",
                    int(i) + 1,
                    str(r.subject_id),
                    str(r.visit_week),
                    "subject_id",
                    str(r.subject_id),
                    "subject is not in the subjects table",
                )
                for i, r in zip(orphans.index, orphans.itertuples(), strict=True)
            ],
            "visits",
        )
    inf = (
        None
        if infusions is None
        else validate_infusions(infusions, subject_ids=subj["subject_id"].astype(str))
    )
    adsl = derive_adsl(scored, subj, proto, infusions=inf)
    return DerivedTables(
        protocol=proto,
        scored=scored,
        adsl=adsl,
        adrs=derive_adrs(scored, adsl, proto) if "adrs" in tables else pd.DataFrame(),
        adeff=derive_adeff(scored, adsl, proto) if "adeff" in tables else pd.DataFrame(),
        adtte=derive_adtte(scored, adsl, proto) if "adtte" in tables else pd.DataFrame(),
    )
