"""One call that writes every interchange output of an analysed trial (used by the demo)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from myotrial.interchange.adam import build_adam, write_adam
from myotrial.interchange.ard import to_cards, write_ard
from myotrial.interchange.odm import build_odm, write_odm
from myotrial.interchange.redcap import (
    data_dictionary,
    events_table,
    instrument_event_mapping,
)
from myotrial.protocol import Protocol
from myotrial.tables import write_table

__all__ = ["read_derived", "write_interchange_outputs", "write_tables_atomically"]


def write_interchange_outputs(
    derived: Any,
    results: Any,
    out_dir: str | Path,
    protocol: Protocol,
    *,
    adverse_events: pd.DataFrame | None = None,
    infusions: pd.DataFrame | None = None,
    created: dt.datetime | None = None,
) -> dict[str, Path]:
    """Write under ``out_dir``: ``adam/`` (XPT v5, Dataset-JSON 1.1, define.xml 2.1 for ADSL,
    ADRS, ADEFF, ADTTE and, with ``adverse_events``, ADAE), ``ard/`` (cards-style ARD of
    ``results``), ``redcap/`` (data dictionary, events, instrument-event mapping) and
    ``odm/study.xml`` (ODM 1.3.2 study metadata).

    ``derived`` is a :class:`myotrial.derive.DerivedTables` (or a mapping of table name to
    frame); ``results`` an :class:`myotrial.analysis.AnalysisResults` (or ``None``).
    """
    out = Path(out_dir)
    tables = derived.tables() if hasattr(derived, "tables") else dict(derived)
    datasets = build_adam(tables, protocol, adverse_events=adverse_events, infusions=infusions)
    files = {
        f"adam/{k}": v for k, v in write_adam(datasets, protocol, out / "adam",
                                              created=created).items()
    }
    if results is not None:
        cards = to_cards(results.to_ard(), protocol.arm_codes)
        files.update({f"ard/{k}": v for k, v in write_ard(cards, out / "ard").items()})
    files["redcap/dictionary.csv"] = write_table(data_dictionary(protocol),
                                                 out / "redcap" / "dictionary.csv")
    files["redcap/events.csv"] = write_table(events_table(protocol), out / "redcap" / "events.csv")
    files["redcap/instrument_event_mapping.csv"] = write_table(
        instrument_event_mapping(protocol), out / "redcap" / "instrument_event_mapping.csv"
    )
    files["odm/study.xml"] = write_odm(build_odm(protocol, created=created),
                                       out / "odm" / "study.xml")
    return files


DERIVED_TABLES = ("adsl", "adrs", "adeff", "adtte")


def read_derived(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The tables written by ``myotrial derive`` (CSV or Parquet): ``adsl`` is required,
    ``adrs``, ``adeff``, ``adtte`` are read when present (and ``scored_visits``)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (run myotrial derive)")
    found: dict[str, pd.DataFrame] = {}
    for name in ("scored_visits", *DERIVED_TABLES):
        for suffix in (".parquet", ".csv"):
            path = root / f"{name}{suffix}"
            if path.exists():
                found[name] = (
                    pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
                )
                break
    if "adsl" not in found:
        raise FileNotFoundError(f"{root}: no adsl.csv or adsl.parquet (run myotrial derive)")
    return found


def write_tables_atomically(
    tables: dict[str, pd.DataFrame], out_dir: str | Path, suffix: str = ".csv"
) -> dict[str, Path]:
    """Write every table to ``out_dir/<name><suffix>``: all are written into a temporary folder
    first and moved into place only when every one succeeded."""
    import os
    import tempfile

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        names = {name: write_table(frame, tmp / f"{name}{suffix}") for name, frame in
                 tables.items()}
        out.mkdir(parents=True, exist_ok=True)
        written = {}
        for name, path in names.items():
            os.replace(path, out / path.name)
            written[name] = out / path.name
        return written
    finally:
        for leftover in tmp.iterdir():
            leftover.unlink()
        tmp.rmdir()
