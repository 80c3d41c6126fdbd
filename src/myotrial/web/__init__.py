"""The myotrial web application (FastAPI, server-rendered pages, JSON API).

``create_app()`` builds the application; ``myotrial serve`` runs it with uvicorn.
"""

from myotrial.web.app import create_app

__all__ = ["create_app"]
