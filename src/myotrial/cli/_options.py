"""Typer options shared by the commands that read trial tables (analyze, report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "AdverseEventsOpt",
    "DerivedOpt",
    "InfusionsOpt",
    "ProtocolOpt",
    "SubjectsOpt",
    "VisitsOpt",
]

DerivedOpt = Annotated[
    Path | None, typer.Option("--derived", help="folder written by myotrial derive")
]
VisitsOpt = Annotated[Path | None, typer.Option("--visits", help="raw visits table")]
SubjectsOpt = Annotated[Path | None, typer.Option("--subjects", help="raw subjects table")]
AdverseEventsOpt = Annotated[
    Path | None, typer.Option("--adverse-events", help="adverse_events table (optional: safety)")
]
InfusionsOpt = Annotated[
    Path | None, typer.Option("--infusions", help="infusions table (optional: safety)")
]
ProtocolOpt = Annotated[str, typer.Option(help="protocol name or .toml file")]
