"""Safety derivations (table in -> table out): infusion-related adverse events, and the study
period and treatment actually received at each adverse event or infusion, read from ADSL.

Both are the ONE implementation used by analysis (``myotrial.analysis``), the report
(``myotrial.report``) and the statistics (``myotrial.stats.summarise_adverse_events``); the
live database reads :func:`derive_infusion_related` too.

Rules
-----
* **Infusion-related** (:func:`derive_infusion_related`): onset during an infusion cycle - from
  the start of the cycle's first infusion day to the end of its last infusion day, per subject
  and ``cycle`` - or within the protocol's ``[safety] infusion_related_window_hours`` after
  that end, both ends inclusive. Source: ProDERM safety definition ("start during an infusion
  cycle or within 72 hours after its end"), ``reference/proderm.md`` Safety; Aggarwal R et al.
  Arthritis Res Ther 2024;26:27, doi:10.1186/s13075-023-03232-2. The number lives in the
  protocol file only. An event with a missing onset is ``<NA>`` (not counted).
* **Period at a date-time** (:func:`derive_arm_period`): the ADSL period (``APxxSDT``, see
  :mod:`myotrial.derive.periods`) that started last at or before it; before the first period's
  start (or when the patient has no period dates) the randomised period. The treatment is that
  period's ``TRTxxA``. A missing date-time is period ``unknown``.
* **Safety periods** (:func:`safety_subjects`): the randomised period ends when open-label
  treatment with the extension arm's product starts - at the switch (``AP02SDT``) or, without
  one, at the extension (``AP03SDT``); "all extension-arm exposure" starts at the first period
  whose ``TRTxxA`` is the extension arm (treatment arm: ``AP01SDT``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from myotrial.errors import InputValidationError, Problem
from myotrial.protocol import Protocol, load_protocol
from myotrial.tables import datetime_column

__all__ = [
    "PERIOD_NUMBERS",
    "derive_arm_period",
    "derive_infusion_related",
    "has_safety_periods",
    "parse_datetimes",
    "safety_subjects",
]

#: ADSL period number of each policy period code (admiral APxx).
PERIOD_NUMBERS: dict[str, int] = {"randomised": 1, "after_switch": 2, "extension": 3}


def _check_columns(frame: pd.DataFrame, table: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputValidationError(
            [
                Problem(table, None, None, None, c, None, "required column is missing")
                for c in missing
            ],
            table=table,
        )


def parse_datetimes(frame: pd.DataFrame, table: str, column: str, *, required: bool) -> pd.Series:
    """Parse an ISO date-time column with the shared parser
    (:func:`myotrial.tables.datetime_column`: naive UTC); every unparseable (or missing
    required) value reported with its row, subject and column."""
    raw = frame[column]
    parsed = datetime_column(raw)
    bad = parsed.bad | (parsed.missing if required else False)
    if bool(np.any(bad)):
        problems = [
            Problem(
                table=table,
                row=int(pos) + 1,
                subject_id=str(frame["subject_id"].iloc[pos]) if "subject_id" in frame else None,
                visit_week=None,
                column=column,
                value=None if pd.isna(raw.iloc[pos]) else str(raw.iloc[pos]),
                rule="ISO date-time required" if required else "ISO date-time or blank",
            )
            for pos in np.flatnonzero(np.asarray(bad))
        ]
        raise InputValidationError(problems, table=table)
    return pd.Series(parsed.values.to_numpy(dtype="datetime64[ns]"), index=frame.index)


def _protocol(protocol: Protocol | str) -> Protocol:
    return load_protocol(protocol) if isinstance(protocol, str) else protocol


def derive_infusion_related(
    adverse_events: pd.DataFrame,
    infusions: pd.DataFrame,
    protocol: Protocol | str = "proderm",
    *,
    window_hours: float | None = None,
) -> pd.DataFrame:
    """Flag infusion-related adverse events (table in -> table out).

    An event is infusion-related when its onset lies in ``[cycle start, cycle end +
    window]`` for any infusion cycle of the same subject, where cycle start is the earliest
    ``start`` and cycle end the latest ``end`` of the subject's infusion days with that
    ``cycle`` number (module docstring; ProDERM safety definition, doi:10.1186/s13075-023-03232-2).

    Parameters
    ----------
    adverse_events : pandas.DataFrame
        Canonical ``adverse_events`` table (needs ``subject_id``, ``onset``).
    infusions : pandas.DataFrame
        Canonical ``infusions`` table (needs ``subject_id``, ``start``, ``end``, ``cycle``).
    protocol : Protocol or str
        The window is the protocol's ``infusion_related_window_hours`` (ProDERM: 72 h).
    window_hours : float, optional
        Overrides the protocol's window (hours after the end of the cycle's last infusion day,
        finite and >= 0).

    Returns
    -------
    pandas.DataFrame
        A copy of ``adverse_events`` (all rows and columns kept) plus ``infusion_related``
        (boolean; <NA> when onset is missing) and ``infusion_cycle`` (Int64: the latest cycle
        whose window contains the onset, else <NA>).

    Raises
    ------
    InputValidationError
        Missing columns, unparseable date-times or cycle numbers, each located.
    ValueError
        ``window_hours`` negative or not a finite number.
    """
    if window_hours is None:
        window_hours = _protocol(protocol).infusion_related_window_hours
    if (
        isinstance(window_hours, bool)
        or not isinstance(window_hours, (int, float))
        or not (np.isfinite(window_hours) and window_hours >= 0)
    ):
        raise ValueError(f"window_hours={window_hours!r} must be a finite number >= 0")
    _check_columns(adverse_events, "adverse_events", ["subject_id", "onset"])
    _check_columns(infusions, "infusions", ["subject_id", "start", "end", "cycle"])
    onset = parse_datetimes(adverse_events, "adverse_events", "onset", required=False)
    start = parse_datetimes(infusions, "infusions", "start", required=True)
    end = parse_datetimes(infusions, "infusions", "end", required=True)
    cycle = pd.to_numeric(infusions["cycle"], errors="coerce")
    bad_cycle = (cycle.isna() | (cycle != cycle.round())).to_numpy()
    if bad_cycle.any():
        raise InputValidationError(
            [
                Problem(
                    "infusions",
                    int(p) + 1,
                    str(infusions["subject_id"].iloc[p]),
                    None,
                    "cycle",
                    str(infusions["cycle"].iloc[p]),
                    "integer cycle number required",
                )
                for p in np.flatnonzero(bad_cycle)
            ],
            table="infusions",
        )
    inf = pd.DataFrame(
        {
            "subject_id": infusions["subject_id"].astype(str).str.strip().to_numpy(),
            "cycle": cycle.astype(int).to_numpy(),
            "start": start.to_numpy(),
            "end": end.to_numpy(),
        }
    )
    if len(inf) and len(adverse_events):
        cycles = inf.groupby(["subject_id", "cycle"], as_index=False).agg(
            cycle_start=("start", "min"), cycle_end=("end", "max")
        )
        cycles["window_end"] = cycles["cycle_end"] + pd.Timedelta(hours=float(window_hours))
        ae = pd.DataFrame(
            {
                "_row": np.arange(len(adverse_events)),
                "subject_id": adverse_events["subject_id"].astype(str).str.strip().to_numpy(),
                "onset": onset.to_numpy(),
            }
        )
        pairs = ae.merge(cycles, on="subject_id", how="inner")
        hit = pairs[
            (pairs["onset"] >= pairs["cycle_start"]) & (pairs["onset"] <= pairs["window_end"])
        ]
        latest = hit.groupby("_row")["cycle"].max()
    else:  # no events, or no infusions to pair them with: no event is infusion-related
        latest = pd.Series([], dtype="int64")
    out = adverse_events.copy()
    related = np.zeros(len(out), dtype=bool)
    related[latest.index.to_numpy(dtype=int)] = True
    flag = pd.array(related, dtype="boolean")
    flag[onset.isna().to_numpy()] = pd.NA
    out["infusion_related"] = flag
    cyc = pd.Series(pd.NA, index=range(len(out)), dtype="Int64")
    cyc[latest.index] = latest.to_numpy()
    out["infusion_cycle"] = cyc.to_numpy()
    return out


def _adsl_dates(adsl: pd.DataFrame, column: str) -> pd.Series:
    """An ADSL date column as datetime64 (ADSL read back from CSV holds ISO text)."""
    if column not in adsl.columns:
        return pd.Series(pd.NaT, index=adsl.index, dtype="datetime64[ns]")
    parsed = pd.to_datetime(adsl[column], errors="coerce", format="ISO8601")
    return pd.Series(parsed.to_numpy(dtype="datetime64[ns]"), index=adsl.index)


def _randomised(adsl: pd.DataFrame) -> pd.DataFrame:
    return adsl[adsl["RANDFL"].astype(str) == "Y"]


def derive_arm_period(
    table: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    when: str = "onset",
    table_name: str = "adverse_events",
) -> pd.DataFrame:
    """Attach the randomised arm, the ADSL period and the treatment received to each row.

    Parameters
    ----------
    table : pandas.DataFrame
        ``adverse_events`` (``when="onset"``) or ``infusions`` (``when="start"``); needs
        ``subject_id`` and the ``when`` column (ISO date-time, may be blank).
    adsl : pandas.DataFrame
        ADSL from :func:`myotrial.derive.derive_adsl` (period columns ``APxxSDT``, ``TRTxxA``).

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` with ``arm`` (ADSL ``ARMCD``), ``APERIOD`` (Int64 1/2/3, <NA> when
        unknown), ``period`` (``randomised``, ``after_switch``, ``extension`` or ``unknown``)
        and ``TRTA`` (the period's ``TRTxxA``). Rule: the module docstring.

    Raises
    ------
    InputValidationError
        Rows of subjects who are not randomised in ADSL, unparseable date-times; located.
    """
    _check_columns(table, table_name, ["subject_id", when])
    rand = _randomised(adsl).set_index(adsl.loc[_randomised(adsl).index, "USUBJID"].astype(str))
    ids = table["subject_id"].astype(str).str.strip()
    unknown = ~ids.isin(rand.index)
    if unknown.any():
        raise InputValidationError(
            [
                Problem(
                    table_name,
                    int(p) + 1,
                    str(ids.iloc[p]),
                    None,
                    "subject_id",
                    str(ids.iloc[p]),
                    "subject is not a randomised patient of the trial (ADSL)",
                )
                for p in np.flatnonzero(unknown.to_numpy())
            ],
            table=table_name,
        )
    moment = parse_datetimes(table, table_name, when, required=False).to_numpy()
    period = np.full(len(table), "randomised", dtype=object)
    number = np.ones(len(table), dtype=np.int64)
    trt = rand["TRT01A"].reindex(ids).to_numpy(dtype=object)
    for code in ("after_switch", "extension"):
        k = PERIOD_NUMBERS[code]
        start = _adsl_dates(rand, f"AP{k:02d}SDT").reindex(ids).to_numpy()
        started = ~pd.isna(start) & ~pd.isna(moment) & (moment >= start)
        period[started] = code
        number[started] = k
        trt[started] = rand[f"TRT{k:02d}A"].reindex(ids).to_numpy(dtype=object)[started]
    missing = pd.isna(moment)
    period[missing] = "unknown"
    trt[missing] = None
    out = table.copy()
    out["arm"] = rand["ARMCD"].reindex(ids).to_numpy(dtype=object)
    out["APERIOD"] = pd.array(np.where(missing, 0, number), dtype="Int64")
    out.loc[missing, "APERIOD"] = pd.NA
    out["period"] = period
    out["TRTA"] = trt
    return out


def safety_subjects(adsl: pd.DataFrame, protocol: Protocol | str = "proderm") -> pd.DataFrame:
    """One row per randomised patient: ``subject_id, arm, ole_start, ivig_start`` from ADSL.

    ``arm`` is the randomised arm (``ARMCD``); ``ole_start`` the start of open-label treatment
    with the extension arm's product (``AP02SDT``, else ``AP03SDT``); ``ivig_start`` the start of
    the first period whose ``TRTxxA`` is the extension arm (module docstring). Both are
    date-times or missing; this is the ``subjects`` table of
    :func:`myotrial.stats.summarise_adverse_events` (``period_start="ole_start"``).
    """
    proto = _protocol(protocol)
    rand = _randomised(adsl)
    ole = _adsl_dates(rand, "AP02SDT")
    ole = ole.where(ole.notna(), _adsl_dates(rand, "AP03SDT"))
    ext_start = pd.Series(pd.NaT, index=rand.index, dtype="datetime64[ns]")
    for k in (3, 2, 1):  # the earliest period on the extension arm wins
        col = f"TRT{k:02d}A"
        if col not in rand.columns:
            continue
        on_ext = (rand[col].astype("string") == proto.extension_arm).fillna(False).to_numpy()
        start = _adsl_dates(rand, f"AP{k:02d}SDT")
        ext_start[on_ext & start.notna().to_numpy()] = start[on_ext & start.notna().to_numpy()]
    return pd.DataFrame(
        {
            "subject_id": rand["USUBJID"].astype(str).to_numpy(),
            "arm": rand["ARMCD"].astype(str).to_numpy(),
            "ole_start": ole.to_numpy(),
            "ivig_start": ext_start.to_numpy(),
        }
    )


def has_safety_periods(subjects: pd.DataFrame) -> bool:
    """True when ADSL's period dates tell the periods apart (some patient has a start of
    open-label or extension-arm treatment); else adverse events are summarised in one
    ``overall`` period per arm."""
    return bool(subjects["ole_start"].notna().any() or subjects["ivig_start"].notna().any())
