"""Jinja2 templates shipped with the package (no CDN, no external assets)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi.templating import Jinja2Templates

__all__ = ["templates"]

templates = Jinja2Templates(
    directory=str(Path(str(resources.files("myotrial.web").joinpath("templates"))))
)
