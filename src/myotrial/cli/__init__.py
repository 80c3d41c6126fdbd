"""Command-line interface. Each command lives in its own module and registers on ``app``.

The root group is lazy (:class:`myotrial.cli._app.LazyGroup`): a command's module is imported
only when that command runs or shows its help, so ``myotrial --help`` and ``myotrial tis`` do
not pay for scipy, matplotlib, statsmodels, WeasyPrint, SQLAlchemy or FastAPI.
"""

from myotrial.cli._app import COMMANDS, app

__all__ = ["COMMANDS", "app", "main"]


def main() -> None:
    """Entry point of the ``myotrial`` console script."""
    app()
