"""Command-line interface. Each command lives in its own module and registers on ``app``."""

# Importing a command module registers its command(s) on ``app``.
from myotrial.cli import analyze as _analyze  # noqa: F401  (registration)
from myotrial.cli import db as _db  # noqa: F401  (registration)
from myotrial.cli import derive as _derive  # noqa: F401  (registration)
from myotrial.cli import interchange as _interchange  # noqa: F401  (registration)
from myotrial.cli import randomize as _randomize  # noqa: F401  (registration)
from myotrial.cli import report as _report  # noqa: F401  (registration)
from myotrial.cli import score as _score  # noqa: F401  (registration)
from myotrial.cli import screen as _screen  # noqa: F401  (registration)
from myotrial.cli import serve as _serve  # noqa: F401  (registration)
from myotrial.cli import simulate as _simulate  # noqa: F401  (registration)
from myotrial.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``myotrial`` console script."""
    app()
