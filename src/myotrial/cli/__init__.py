"""Command-line interface. Each command lives in its own module and registers on ``app``.

The root group is lazy (:class:`myotrial.cli._app.LazyGroup`): a command's module is imported
only when that command runs or shows its help, so ``myotrial --help`` and ``myotrial tis`` do
not pay for scipy, matplotlib, statsmodels, WeasyPrint, SQLAlchemy or FastAPI.

Every command ends in one of three exit codes (README, "Command-line conventions"): 0 done;
2 bad input, a bad option or a path that cannot be read or written (a located message, nothing
written); 1 an internal error, i.e. a bug in myotrial (the traceback is written to a file in the
temporary folder). The root group's :meth:`~myotrial.cli._app.LazyGroup.invoke` applies this to
every command, so ``main()``, :func:`run` and ``CliRunner().invoke(app, ...)`` behave alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from myotrial.cli._app import COMMANDS, app

__all__ = ["COMMANDS", "app", "main", "run"]


def run(args: Sequence[str]) -> int:
    """Run ``myotrial ARGS`` in this process and return its exit code (never raises for a
    command's error: see the module docstring)."""
    import typer

    command = typer.main.get_command(app)
    try:
        command.main(list(args), prog_name="myotrial", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    return 0


def main() -> None:
    """Entry point of the ``myotrial`` console script. A closed pipe (``myotrial ... | head``)
    ends quietly, as other command-line tools do."""
    import os
    import sys

    try:
        code = run(sys.argv[1:])
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away: send what is left to /dev/null so the final flush is quiet
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    sys.exit(code)
