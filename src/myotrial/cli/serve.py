"""``myotrial serve``: run the web application."""

from __future__ import annotations

from typing import Annotated

import typer

from myotrial.cli._app import app


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    database: Annotated[
        str, typer.Option(help="database URL (SQLite file by default, or PostgreSQL)")
    ] = "sqlite:///myotrial.db",
) -> None:
    """Serve the TIS calculator, trial pages and JSON API (OpenAPI at /openapi.json)."""
    import uvicorn

    from myotrial.web import create_app

    uvicorn.run(create_app(database), host=host, port=port, log_level="info")
