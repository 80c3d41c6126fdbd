"""Live data -> the canonical analysis tables of ``shared/reference/data-format.md``.

``visits``, ``subjects``, ``infusions`` and ``adverse_events`` with the documented column names,
so the export feeds ``myotrial score``, ``myotrial derive`` and the statistics unchanged.
Everything protocol-ish comes from the protocol's :class:`~myotrial.policy.ProtocolPolicy`.

Blinded exports contain nothing that differs by arm: no ``arm`` (subjects), no ``product``
(infusions), and ``deterioration_week`` (the week a deterioration was confirmed in the
randomised period) for every arm alike. Unblinded exports add ``arm``, ``crossover_week`` (the
deterioration week, ONLY for arms the protocol switches on deterioration, e.g. placebo -> IVIG),
``crossover_to`` and the infusions' ``product``. Extra columns (kit codes, stratum,
deterioration week, infusion-related flag, record ids) follow the documented ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from myotrial.db import schema as s
from myotrial.derive.safety import derive_infusion_related
from myotrial.policy import ProtocolPolicy

__all__ = ["EXPORT_TABLES", "FORMULA_PREFIXES", "build_exports", "flag_infusion_related",
           "frame_of", "neutralise_formulas"]

EXPORT_TABLES = ("visits", "subjects", "infusions", "adverse_events")


def frame_of(conn: sa.Connection, query: sa.Select[Any], columns: Sequence[str]
             ) -> pd.DataFrame:
    """The rows of ``query`` as a frame with ``columns``."""
    rows = conn.execute(query).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=list(columns))


def _bool(series: pd.Series) -> pd.Series:
    return series.astype("boolean")


def flag_infusion_related(events: pd.DataFrame, infusions: pd.DataFrame,
                          policy: ProtocolPolicy) -> pd.DataFrame:
    """``events`` with ``infusion_related`` (and ``infusion_cycle``) added under the protocol's
    infusion-related window: :func:`myotrial.derive.safety.derive_infusion_related`, the ONE
    derivation, used by the exports and by the service's flag at entry."""
    return derive_infusion_related(events, infusions, policy.protocol)


def build_exports(
    conn: sa.Connection,
    policy: ProtocolPolicy,
    *,
    blinded: bool,
    site_id: str | None = None,
    subject_id: str | None = None,
    with_visits: bool = True,
) -> dict[str, pd.DataFrame]:
    """Build the four canonical tables from the live database (see module docstring).

    ``site_id`` / ``subject_id`` keep one site's / one subject's rows (same derivations);
    ``with_visits=False`` leaves the visits table empty (the subject page reads them itself).

    Unblinded ``product`` of an infusion (PROJECT RULE, documented in docs/database.md): the
    allocated arm during the randomised period's cycles (``cycle <= [dosing]
    cycles_randomised``); the protocol's extension arm for later (open-label extension) cycles
    and, for subjects of an arm that switches on deterioration, the switch target for cycles
    starting on or after the confirming visit's date (or its recording time when the visit has
    no date).
    """
    su, a, sl, xo, vi = (s.subjects, s.allocations, s.randomisation_slots, s.crossover_events,
                         s.visits)
    cond: list[Any] = [] if site_id is None else [su.c.site_id == site_id]
    if subject_id is not None:  # one subject's rows (the subject page), same derivations
        cond.append(su.c.subject_id == subject_id)

    # -- subjects ------------------------------------------------------------------------------
    cols = ["subject_id", "site_id", "arm", "randomised", "age", "sex", "msa_group", "stratum",
            "kit_code", "randomised_at", "completed_week_16", "entered_extension",
            "completed_week_40", "discontinuation_reason", "deterioration_week"]
    query = (
        sa.select(su.c.subject_id, su.c.site_id, sl.c.arm, su.c.randomised, su.c.age, su.c.sex,
                  su.c.msa_group, a.c.stratum, a.c.kit_code, a.c.randomised_at,
                  su.c.completed_week_16, su.c.entered_extension, su.c.completed_week_40,
                  su.c.discontinuation_reason, xo.c.confirmed_week)
        .select_from(su.outerjoin(a, a.c.subject_id == su.c.subject_id)
                     .outerjoin(sl, sl.c.slot_id == a.c.slot_id)
                     .outerjoin(xo, xo.c.subject_id == su.c.subject_id))
        .where(*cond).order_by(su.c.subject_id)
    )
    subjects = frame_of(conn, query, cols)
    flagged = set(conn.execute(sa.select(s.emergency_unblindings.c.subject_id)).scalars())
    subjects["emergency_unblinded"] = subjects["subject_id"].isin(flagged).astype("boolean")
    arms: Mapping[str, Any] = dict(zip(subjects["subject_id"], subjects["arm"], strict=True))
    for col in ("randomised", "completed_week_16", "entered_extension", "completed_week_40"):
        subjects[col] = _bool(subjects[col])
    subjects["deterioration_week"] = subjects["deterioration_week"].astype("Int64")
    subjects["randomised_at"] = pd.to_datetime(subjects["randomised_at"])
    factors = _stratum_columns(subjects["stratum"])
    subjects = pd.concat([subjects, factors], axis=1)
    if blinded:
        subjects = subjects.drop(columns=["arm"])
    else:
        switches = [isinstance(arm, str) and policy.switches_on_deterioration(arm)
                    for arm in subjects["arm"]]
        switched = pd.Series(switches, index=subjects.index) & subjects[
            "deterioration_week"].notna()
        subjects["crossover_week"] = subjects["deterioration_week"].where(switched)
        subjects["crossover_to"] = [
            policy.switch_target(arm) if moved else None
            for arm, moved in zip(subjects["arm"], switched, strict=True)]

    # -- visits --------------------------------------------------------------------------------
    vcols = ["subject_id", "visit_week", "visit_date", *s.MEASURE_COLUMNS]
    vquery = (sa.select(*(vi.c[c] for c in vcols))
              .select_from(vi.join(su, su.c.subject_id == vi.c.subject_id))
              .where(*cond).order_by(vi.c.subject_id, vi.c.visit_week))
    visits = frame_of(conn, vquery if with_visits else vquery.where(sa.false()), vcols)
    visits["visit_week"] = visits["visit_week"].astype("int64")
    for c in s.MEASURE_COLUMNS:
        visits[c] = pd.to_numeric(visits[c], errors="coerce").astype("float64")

    # -- infusions ------------------------------------------------------------------------------
    inf = s.infusions
    icols = ["subject_id", "start", "end", "dose_g_per_kg", "rate_ml_per_kg_min", "cycle",
             "kit_code", "infusion_id"]
    infusions = frame_of(conn, sa.select(*(inf.c[c] for c in icols))
                       .select_from(inf.join(su, su.c.subject_id == inf.c.subject_id))
                       .where(*cond).order_by(inf.c.subject_id, inf.c.start), icols)
    infusions["start"] = pd.to_datetime(infusions["start"])
    infusions["end"] = pd.to_datetime(infusions["end"])
    infusions["cycle"] = infusions["cycle"].astype("int64")
    if not blinded:
        switch = _switch_times(conn, cond, policy, arms)
        randomised_cycles = policy.dosing.cycles_randomised
        products: list[str | None] = []
        for sid, start, cycle in zip(infusions["subject_id"], infusions["start"],
                                     infusions["cycle"], strict=True):
            arm = arms.get(sid)
            if sid in switch and start >= switch[sid][0]:
                products.append(switch[sid][1])
            elif cycle > randomised_cycles:
                products.append(policy.extension_arm)
            else:
                products.append(arm)
        infusions.insert(3, "product", products)

    # -- adverse events -------------------------------------------------------------------------
    ae = s.adverse_events
    acols = ["subject_id", "term", "body_system", "onset", "end", "serious", "severity",
             "related", "thromboembolic", "ae_id"]
    events = frame_of(conn, sa.select(*(ae.c[c] for c in acols))
                    .select_from(ae.join(su, su.c.subject_id == ae.c.subject_id))
                    .where(*cond).order_by(ae.c.subject_id, ae.c.onset), acols)
    events["onset"] = pd.to_datetime(events["onset"])
    events["end"] = pd.to_datetime(events["end"])
    for col in ("serious", "related", "thromboembolic"):
        events[col] = _bool(events[col])
    events = flag_infusion_related(events, infusions, policy)
    return {"visits": visits, "subjects": subjects, "infusions": infusions,
            "adverse_events": events}


def _stratum_columns(strata: pd.Series) -> pd.DataFrame:
    """``"sex=f|site=01"`` -> columns ``stratum_sex``, ``stratum_site``."""
    parsed: list[dict[str, str]] = []
    for key in strata:
        entry: dict[str, str] = {}
        if isinstance(key, str) and key != "all":
            for part in key.split("|"):
                name, _, level = part.partition("=")
                entry[f"stratum_{name}"] = level
        parsed.append(entry)
    names = sorted({k for e in parsed for k in e})
    return pd.DataFrame(parsed, columns=names, index=strata.index, dtype=object)


def _switch_times(conn: sa.Connection, cond: list[Any], policy: ProtocolPolicy,
                  arms: Mapping[str, Any]) -> dict[str, tuple[pd.Timestamp, str]]:
    """Subject -> (time of the switch, treatment switched to), for switching arms only."""
    xo, vi, su = s.crossover_events, s.visits, s.subjects
    rows = conn.execute(
        sa.select(xo.c.subject_id, xo.c.recorded_at, vi.c.visit_date)
        .select_from(xo.join(su, su.c.subject_id == xo.c.subject_id)
                     .outerjoin(vi, sa.and_(vi.c.subject_id == xo.c.subject_id,
                                            vi.c.visit_week == xo.c.confirmed_week)))
        .where(*cond)).all()
    out = {}
    for sid, recorded, day in rows:
        arm = arms.get(sid)
        target = policy.switch_target(arm) if isinstance(arm, str) else None
        if target is not None:
            out[sid] = (pd.Timestamp(day) if day is not None else pd.Timestamp(recorded), target)
    return out


#: First characters a spreadsheet reads as a formula (CSV injection, OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot start a spreadsheet formula: a cell
    beginning with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``
    (OWASP CSV injection). Numbers are left alone (a negative number stays a number)."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            out[name] = [f"'{x}" if isinstance(x, str) and x.startswith(FORMULA_PREFIXES)
                         else x for x in col.tolist()]
    return out
