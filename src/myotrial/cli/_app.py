"""The Typer application object shared by every command module, with a lazy root group.

Each command module registers its command(s) on ``app`` when it is imported. The root group
(:class:`LazyGroup`) knows every top-level command by name, with its module and the first
paragraph of its help (:data:`COMMANDS`), and imports a command's module only when that command
is resolved. ``myotrial --help`` lists the commands without importing any of them, and
``myotrial tis`` imports only ``myotrial.cli.score`` (not scipy, matplotlib, statsmodels,
WeasyPrint, SQLAlchemy or FastAPI). ``tests/test_cli_lazy.py`` checks that :data:`COMMANDS`
matches what the modules register.
"""

from __future__ import annotations

import importlib
from difflib import get_close_matches

import typer
from typer import _click as click  # the click that typer's groups and commands are built on
from typer.core import TyperCommand, TyperGroup, TyperOption
from typer.exceptions import TyperException

from myotrial.cli._plain import PlainOptions

__all__ = ["COMMANDS", "LazyGroup", "app"]

#: Every top-level command in help order: name -> (module registering it, first paragraph of
#: its help as the root help lists it). Add a command here when a module registers a new one.
COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": (
        "myotrial.cli.analyze",
        "Estimate every endpoint of the protocol as its statistical analysis plan says.",
    ),
    "derive": (
        "myotrial.cli.derive",
        "Derive scored visits, ADSL, ADRS (responders), ADEFF (by visit) and ADTTE.",
    ),
    "report": (
        "myotrial.cli.report",
        "Write the trial report: OUT/report.html (self-contained) and OUT/report.pdf.",
    ),
    "score": (
        "myotrial.cli.score",
        "Score every visit of a trial: TIS, category, IMACS DOI, worsening, confirmed "
        "deterioration.",
    ),
    "tis": (
        "myotrial.cli.score",
        "Total Improvement Score of one patient, measure by measure (the IMACS calculator).",
    ),
    "screen": (
        "myotrial.cli.screen",
        "Screen candidates against the ProDERM eligibility criteria.",
    ),
    "serve": (
        "myotrial.cli.serve",
        "Serve the TIS calculator, trial pages and JSON API (OpenAPI at /openapi.json).",
    ),
    "demo": (
        "myotrial.cli.simulate",
        "Simulate one SYNTHETIC ProDERM-like trial and run the whole pipeline to the report.",
    ),
    "simulate": (
        "myotrial.cli.simulate",
        "Power and sample size by simulation: tidy replicates (Parquet), power.csv, "
        "power_curve.svg.",
    ),
    "db": (
        "myotrial.cli.db",
        "The trial database: init/upgrade, verify the audit trail, export, create users.",
    ),
    "redcap": ("myotrial.cli.interchange", "REDCap data dictionary and records import."),
    "odm": ("myotrial.cli.interchange", "CDISC ODM 1.3.2 study metadata and clinical data."),
    "sdtm": ("myotrial.cli.interchange", "SDTM domains into the canonical tables."),
    "export": ("myotrial.cli.interchange", "ADaM datasets and analysis results for submission."),
    "randomize": (
        "myotrial.cli.randomize",
        "Stratified permuted-block randomisation with allocation concealment.",
    ),
}


_display_type_rich = TyperOption.display_type_rich


def _no_flag_metavar(self: TyperOption, ctx: click.Context) -> str | None:
    """Typer 0.29 shows ``<bool>`` beside every on/off flag (``--json <bool>``), which reads
    as if the flag took a value; flags show no metavar (issue 11)."""
    return None if self.is_flag else _display_type_rich(self, ctx)


TyperOption.display_type_rich = _no_flag_metavar  # type: ignore[method-assign]


class LazyGroup(PlainOptions, TyperGroup):
    """Root group that imports a command's module only when the command is resolved.

    Its own options (``--help``) are coerced without pydantic (:mod:`myotrial.cli._plain`), so a
    command that does the same (``tis``) starts without importing pydantic.

    While the root help is being formatted, commands not loaded yet are listed from
    :data:`COMMANDS` (name and help text only), so ``--help`` imports nothing.
    """

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(n for n in self.commands if n not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = self.commands.get(cmd_name)
        if cmd is not None or cmd_name not in COMMANDS:
            return cmd
        module, help_text = COMMANDS[cmd_name]
        if self._listing:
            return TyperCommand(name=cmd_name, help=help_text, callback=None)
        importlib.import_module(module)  # registers the command on ``app``
        built = typer.main.get_command(app)
        cmd = getattr(built, "commands", {}).get(cmd_name)
        if cmd is not None:
            self.commands[cmd_name] = cmd
        return cmd

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; an exception that reaches here goes to the top-level handler
        (:func:`myotrial.cli._output.handle_exception`): the project's errors and errors on a
        user's path exit 2 with their message, anything else is a bug (exit 1, traceback in a
        file). Click's own exits, usage errors and aborts pass through."""
        argv = [*ctx._protected_args, *ctx.args]
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort):  # click errors, exits, aborts
            raise
        except Exception as exc:
            from myotrial.cli._output import handle_exception

            handle_exception(exc, "--json" in argv, argv)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.UsageError as exc:  # suggest from every command, loaded or not
            if args and "Did you mean" not in exc.message:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    suggestions = ", ".join(repr(m) for m in matches)
                    exc.message = f"{exc.message.rstrip('.')}. Did you mean {suggestions}?"
            raise


app = typer.Typer(
    name="myotrial",
    cls=LazyGroup,
    help="Run and analyse dermatomyositis trials of the ProDERM design.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:  # a callback: the root builds as a group before any module registers
    pass
