"""Command-line interface. Each command lives in its own module and registers on ``app``."""

from myotrial.cli._app import app

# Importing a command module registers its command(s) on ``app``.
from myotrial.cli import score as _score  # noqa: E402,F401  (registration)

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``myotrial`` console script."""
    app()
