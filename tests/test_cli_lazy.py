"""The lazy root CLI: ``--help`` and ``tis`` load no heavy stack; every command still resolves.

Module sets are tested, not times (``benchmarks/bench_cli.py`` measures the times).
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from myotrial.cli import COMMANDS, app

HEAVY = ("numba", "scipy", "matplotlib", "statsmodels", "weasyprint", "sqlalchemy", "fastapi")
TIS = ["tis", "--pga", "6", "2", "--ptga", "6", "3", "--extramuscular", "4", "1", "--mmt8",
       "120", "138", "--haq", "1.5", "0.75", "--ck", "1200", "300", "--ck-uln", "200"]  # fmt: skip


def _loaded_after(argv: list[str]) -> dict[str, object]:
    """Run the CLI with ``argv`` in a fresh interpreter; the heavy modules it loaded."""
    code = f"""
import json, sys
from typer.testing import CliRunner
import myotrial.cli
result = CliRunner().invoke(myotrial.cli.app, {argv!r})
heavy = sorted(m for m in {HEAVY!r} + ("myotrial.scoring._kernel",) if m in sys.modules)
print(json.dumps({{"exit": result.exit_code, "heavy": heavy, "output": result.output}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    out: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def test_root_help_imports_no_heavy_stack() -> None:
    res = _loaded_after(["--help"])
    assert res["exit"] == 0
    assert res["heavy"] == []
    for name in COMMANDS:
        assert f" {name} " in str(res["output"])


def test_tis_imports_no_heavy_stack_and_no_compiled_engine() -> None:
    res = _loaded_after(TIS)
    assert res["exit"] == 0, res["output"]
    assert "TIS 75 / 100" in str(res["output"])
    assert res["heavy"] == []


def test_registry_matches_what_the_modules_register() -> None:
    """Every module named in COMMANDS registers exactly the commands listed for it, with the
    help text the root help shows; no module registers a command missing from COMMANDS."""
    for module in {m for m, _ in COMMANDS.values()}:
        importlib.import_module(module)
    built = typer.main.get_command(app)
    registered = {n: c for n, c in built.commands.items()}  # type: ignore[attr-defined]
    assert set(registered) == set(COMMANDS)
    for name, (module, help_text) in COMMANDS.items():
        cmd = registered[name]
        first = inspect.cleandoc(cmd.short_help or cmd.help or "").split("\n\n")[0]
        assert " ".join(first.split()) == help_text, name
        callback = getattr(cmd, "callback", None)
        if callback is not None and not isinstance(cmd, typer.core.TyperGroup):
            assert callback.__module__ == module, name


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_resolves_and_shows_its_help(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"myotrial {name}" in result.output
    assert COMMANDS[name][1].split()[0] in result.output


def test_a_typo_suggests_commands_not_loaded_yet() -> None:
    result = CliRunner().invoke(app, ["tsi"])
    assert result.exit_code == 2
    assert "Did you mean 'tis'" in result.output
