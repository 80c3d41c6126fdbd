"""The lazy root CLI: ``--help`` and ``tis`` load no heavy stack; every command still resolves.

Module sets are tested, not times (``benchmarks/bench_cli.py`` measures the times).
"""

from __future__ import annotations

import enum
import importlib
import inspect
import json
import random
import subprocess
import sys
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from myotrial.cli import COMMANDS, app

HEAVY = ("numba", "scipy", "matplotlib", "statsmodels", "weasyprint", "sqlalchemy", "fastapi")
#: Not loaded by ``tis`` either: the one-patient path is plain Python (myotrial.scoring.single)
#: and its options are coerced without pydantic (myotrial.cli._plain).
ARRAYS = ("numpy", "pandas", "pyarrow", "pydantic", "myotrial.scoring.engine")
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
arrays = sorted(m for m in {ARRAYS!r} if m in sys.modules)
print(json.dumps({{"exit": result.exit_code, "heavy": heavy, "arrays": arrays,
                  "output": result.output}}))
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
    assert res["arrays"] == []
    for name in COMMANDS:
        assert f" {name} " in str(res["output"])


def test_tis_imports_no_heavy_stack_and_no_compiled_engine() -> None:
    res = _loaded_after(TIS)
    assert res["exit"] == 0, res["output"]
    assert "TIS 75 / 100" in str(res["output"])
    assert res["heavy"] == []


JUVENILE = ["tis", "--population", "juvenile", "--pga", "6", "2", "--ptga", "6", "3",
            "--extramuscular", "4", "1", "--mmt8", "60", "70", "--mmt8-max", "80", "--chaq",
            "1.5", "0.75", "--ldh", "300", "300", "--ldh-uln", "250", "--aldolase", "0", "4",
            "--aldolase-uln", "7.5"]  # fmt: skip


@pytest.mark.parametrize("argv", [TIS, [*TIS, "--json"], JUVENILE, ["tis", "--pga", "6", "6"]])
def test_tis_imports_no_numpy_or_pandas(argv: list[str]) -> None:
    """One patient is scored in plain Python: no numpy, pandas, pydantic or array engine."""
    res = _loaded_after(argv)
    assert res["exit"] == 0, res["output"]
    assert res["arrays"] == []
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


def _coerced(runtime: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        out = runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # typer's BadParameter (or anything else): compared as is
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        return type(exc).__name__, message
    return "ok", (type(out).__name__, repr(out))


def test_plain_coercion_gives_typers_values_and_errors() -> None:
    """Every ``tis`` option and the root ``--help``: the plain coercion (no pydantic) gives what
    typer's own pydantic coercion gives, value (type and repr) or error message, on plain
    decimals, awkward numbers, words, choices and tuples of the wrong length."""
    from typer._coercion import build_runtime_param

    from myotrial.cli._plain import _PlainRuntimeParam

    rng = random.Random(16)
    numbers: list[Any] = [
        "0", "6", "-2", "+1", "1.", ".5", "1e3", "1E-3", "-0", "0.1000000000000000055511", "1e400",
        "-1e-400", "123456789012345678901234567890", "nan", "NaN", "inf", "-Infinity", "1_000",
        " 3", "3 ", "0x10", "１", "", "abc", "1e", "e3", "--1", "1.2.3", 1.5, 2, True, None,
    ]  # fmt: skip
    for _ in range(400):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25)))
        cut = rng.randint(0, len(digits))
        text = f"{rng.choice(['', '-', '+'])}{digits[:cut]}.{digits[cut:]}"
        numbers.append(text + rng.choice(["", f"e{rng.randint(-330, 330)}", "E+5"]))
    choices = ["adult", "juvenile", "imacs", "printo", "Adult", "JUVENILE", "child", "", None]
    root = typer.main.get_command(app)
    root_ctx = typer.Context(root)
    assert isinstance(root, typer.core.TyperGroup)
    tis = root.get_command(root_ctx, "tis")
    assert tis is not None
    ctx = typer.Context(tis, parent=root_ctx)
    params = [*tis.get_params(ctx), *root.get_params(root_ctx)]
    checked = 0
    for param in params:
        desc = getattr(param, "type_descriptor")  # noqa: B009 - typer's parameters only
        plain = _PlainRuntimeParam(parameter_info=desc.parameter_info, annotation=desc.annotation)
        typers = build_runtime_param(desc)
        values: list[Any] = [*numbers, *choices, True, False]
        values += [(a, b) for a, b in zip(numbers, reversed(numbers), strict=True)]
        values += [("1",), ("1", "2", "3"), ["4", "5"], "1 2", [], ()]
        if isinstance(desc.annotation, type) and issubclass(desc.annotation, enum.Enum):
            values += list(desc.annotation)
        for value in values:
            want = _coerced(typers, value, param, ctx)
            got = _coerced(plain, value, param, ctx)
            assert got == want, (param.name, value)
            checked += 1
    assert checked > 10_000
