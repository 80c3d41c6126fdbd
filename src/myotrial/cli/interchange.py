"""Interchange commands: ``myotrial redcap``, ``myotrial odm``, ``myotrial sdtm``,
``myotrial export`` (REDCap, CDISC ODM 1.3.2, SDTM in; ADaM XPT / Dataset-JSON, ARD out)."""

from __future__ import annotations

import typer

from myotrial.cli._app import app

redcap_app = typer.Typer(help="REDCap data dictionary and records import.", no_args_is_help=True)
odm_app = typer.Typer(help="CDISC ODM 1.3.2 study metadata and clinical data.", no_args_is_help=True)
sdtm_app = typer.Typer(help="SDTM domains into the canonical tables.", no_args_is_help=True)
export_app = typer.Typer(help="ADaM datasets and analysis results for submission.", no_args_is_help=True)

app.add_typer(redcap_app, name="redcap")
app.add_typer(odm_app, name="odm")
app.add_typer(sdtm_app, name="sdtm")
app.add_typer(export_app, name="export")
