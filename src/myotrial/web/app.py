"""Application factory."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

import myotrial
from myotrial.web import calculator
from myotrial.web.templating import templates

__all__ = ["create_app"]


def create_app(database_url: str | None = None) -> FastAPI:
    """Build the web application. ``database_url``: the trial database (SQLite file by
    default, PostgreSQL by URL) used by the trial pages; the calculator needs none."""
    app = FastAPI(
        title="myotrial",
        version=myotrial.__version__,
        description="Dermatomyositis trials of the ProDERM design: TIS calculator and trial "
        "operations (screening, randomisation, visits, deterioration, safety).",
    )
    app.state.database_url = database_url
    app.include_router(calculator.router)

    @app.get("/", response_class=HTMLResponse, tags=["pages"])
    def home(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "home.html", {})

    return app
