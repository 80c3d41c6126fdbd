"""``myotrial simulate`` and ``myotrial demo`` command-line rules (issue 11): escaped help, bad
numbers refused with exit 2 before any work, the JSON envelope, no overwriting without
--force (a resumed run of the same design excepted), progress only on a terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.cli.simulate import DEMO_STEPS, demo_outputs

DESIGN = (
    '[power]\nkind = "binary"\np_treatment = 0.79\np_control = 0.44\nn_per_arm = [12]\n'
    'test = "fisher"\nreplicates = 16\nchunk_size = 16\nseed = 3\n'
)


def _design(tmp_path: Path, text: str = DESIGN) -> Path:
    path = tmp_path / "design.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(*args: str) -> tuple[int, dict]:
    res = CliRunner().invoke(app, [*args, "--json"])
    return res.exit_code, json.loads(res.output)


def test_simulate_help_shows_the_power_table_name() -> None:
    res = CliRunner().invoke(app, ["simulate", "--help"], env={"COLUMNS": "150"})
    assert res.exit_code == 0 and "([power] table)" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target-power", "nan", "--solve", "n"], "must lie in (0, 1)"),
        (["--target-power", "inf", "--solve", "n"], "must lie in (0, 1)"),
        (["--target-power", "0.8,1", "--solve", "n"], "must lie in (0, 1)"),
        (["--n-per-arm", "10,0"], "whole number >= 1"),
        (["--n-per-arm", "10,x"], "whole numbers"),
        (["--n-per-arm", "1e3"], "whole numbers"),
    ],
)
def test_simulate_refuses_bad_numbers(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "run"
    code, body = _run("simulate", str(_design(tmp_path)), "-o", str(out), *args)
    assert code == 2 and body["ok"] is False and body["outputs"] == {}
    assert message in body["problems"][0]["message"]
    assert not out.exists()  # refused before any work


@pytest.mark.parametrize(
    "args",
    [
        ["--replicates", "0"],
        ["--chunk-size", "-1"],
        ["--workers", "0"],
        ["--n-max", "0"],
        ["--seed", "-1"],
        ["--replicates", "nan"],
    ],
)
def test_simulate_refuses_out_of_range_options(tmp_path: Path, args: list[str]) -> None:
    res = CliRunner().invoke(app, ["simulate", str(_design(tmp_path)), *args, "--json"])
    assert res.exit_code == 2, res.output


@pytest.mark.parametrize("args", [["--seed", "-1"], ["--seed", "inf"]])
def test_demo_refuses_a_bad_seed(tmp_path: Path, args: list[str]) -> None:
    res = CliRunner().invoke(app, ["demo", "-o", str(tmp_path / "d"), *args, "--json"])
    assert res.exit_code == 2 and not (tmp_path / "d").exists()


def test_demo_refuses_an_earlier_demo_and_a_file_as_folder(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    (out / "report").mkdir(parents=True)
    (out / "report" / "report.html").write_text("earlier", encoding="utf-8")
    code, body = _run("demo", "-o", str(out))
    assert code == 2 and "report.html: exists; pass --force" in body["problems"][0]["message"]
    assert (out / "report" / "report.html").read_text(encoding="utf-8") == "earlier"
    a_file = tmp_path / "file"
    a_file.write_text("x", encoding="utf-8")
    code, body = _run("demo", "-o", str(a_file))
    assert code == 2 and body["ok"] is False
    assert DEMO_STEPS >= 5 and out / "README.txt" in demo_outputs(out)


def test_simulate_envelope_resume_and_force(tmp_path: Path) -> None:
    spec = _design(tmp_path)
    out = tmp_path / "run"
    code, body = _run("simulate", str(spec), "-o", str(out))
    assert code == 0 and body["ok"] is True and body["problems"] == []
    assert body["outputs"]["power.csv"] == str(out / "power.csv") and body["power"]
    # the same design again: a resumed run, rewritten the same without --force
    code, again = _run("simulate", str(spec), "-o", str(out))
    assert code == 0 and again["chunks_reused"] == 1 and again["power"] == body["power"]
    # result files that are not this design's run: refused without --force
    (out / "run.json").unlink()
    code, refused = _run("simulate", str(spec), "-o", str(out))
    assert code == 2 and "--force" in refused["problems"][0]["message"]
    code, forced = _run("simulate", str(spec), "-o", str(out), "--force")
    assert code == 0 and forced["power"] == body["power"]


def test_solve_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "ss"
    out.mkdir()
    (out / "sample_size.json").write_text("{}", encoding="utf-8")
    code, body = _run(
        "simulate", str(_design(tmp_path)), "-o", str(out), "--solve", "n", "--target-power", "0.8"
    )
    assert code == 2 and "sample_size.json: exists" in body["problems"][0]["message"]


def test_no_progress_bar_off_a_terminal(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["simulate", str(_design(tmp_path)), "-o", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "simulating" not in res.output and "Power (fisher" in res.output
