"""Fuzz of the command line (issue 11): random option values and random small tables.

For score, tis, screen, derive, analyze and report, with cells replaced by brackets, control
characters, NaN, huge numbers, blank ids, missing values, with header-only files, dropped
columns and directories given as paths, the only allowed outcomes are exit 0, or exit 2 with a
message. Never exit 1 (an internal error) and never a traceback. Runs in ``make test`` in well
under a minute (the example budgets below).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from myotrial.cli import app
from myotrial.rules import rules_path

runner = CliRunner()
DATA = rules_path("x").parents[1] / "data"
SOURCES = {
    "visits": pd.read_csv(DATA / "example_visits.csv", dtype=str, keep_default_na=False),
    "subjects": pd.read_csv(DATA / "example_subjects.csv", dtype=str, keep_default_na=False),
    "screening": pd.read_csv(DATA / "example_screening.csv", dtype=str, keep_default_na=False),
}
NASTY = [
    "", " ", "NA", ".", "nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1e300", "-1",
    "9999999999999999999999", "0", "[red]x[/red]", "[bold]", "]", "\x01", "a\tb", "é",
    "007", "true", "maybe", "2024-13-45", "1,5",
]  # fmt: skip
SETTINGS = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_counter = itertools.count()


@st.composite
def tables(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """A mutated copy of an example table, or a header-only table, or a directory."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "header", "directory"]))
    frame = SOURCES[name].copy()
    if kind == "mutated":
        rows = draw(st.just(len(frame)) | st.integers(min_value=1, max_value=len(frame)))
        frame = frame.head(rows).copy()
        for _ in range(draw(st.just(0) | st.integers(min_value=0, max_value=4))):
            row = draw(st.integers(min_value=0, max_value=len(frame) - 1))
            col = draw(st.sampled_from(list(frame.columns)))
            frame.loc[frame.index[row], col] = draw(st.sampled_from(NASTY) | st.text(max_size=6))
        if draw(st.booleans()) and draw(st.booleans()):
            frame = frame.drop(columns=[draw(st.sampled_from(list(frame.columns)))])
    return {"kind": kind, "frame": frame}


def _write(spec: dict[str, Any], folder: Path, name: str) -> Path:
    path = folder / f"{name}.csv"
    if spec["kind"] == "directory":
        path.mkdir()
    elif spec["kind"] == "header":
        path.write_text(",".join(spec["frame"].columns) + "\n", encoding="utf-8")
    else:
        spec["frame"].to_csv(path, index=False)
    return path


def _folder() -> Path:
    return Path(tempfile.mkdtemp(prefix=f"fuzz{next(_counter)}-"))


def _check(args: list[str]) -> None:
    result = runner.invoke(app, args)
    where = f"myotrial {' '.join(args)}\n{result.output}"
    assert result.exit_code in (0, 2), where
    assert "Traceback" not in result.output, where
    assert result.exception is None or isinstance(result.exception, SystemExit), where
    if result.exit_code == 2:
        assert result.output.strip(), where


numbers = st.sampled_from(["nan", "inf", "-inf", "1e308", "-1", "0", "8", "80", "150", "0.95",
                           "1", "1.5", "[1]", "x"])  # fmt: skip
maybe = st.none() | numbers
#: Mostly valid measure values (the calculator's inputs), with the odd bad one.
values = st.sampled_from(["0", "1", "2.5", "6", "10", "100", "138", "150", "1200"]) | numbers


@SETTINGS
@given(
    visits=tables("visits"),
    fmt=st.sampled_from([".csv", ".parquet", ".xlsx", "/"]),
    options=st.fixed_dictionaries(
        {
            "--earliest-week": maybe,
            "--mmt8-max": maybe,
            "--consecutive-visits": st.none() | st.sampled_from(["0", "1", "2", "-3", "x"]),
            "--population": st.none() | st.sampled_from(["adult", "juvenile", "[x]"]),
            "--measure-set": st.none() | st.sampled_from(["imacs", "printo"]),
            "--chq-phs-range": maybe,
        }
    ),
    flags=st.lists(st.sampled_from(["--json", "--partial", "--force"]), unique=True),
)
def test_fuzz_score(visits: dict[str, Any], fmt: str, options: dict[str, Any],
                    flags: list[str]) -> None:  # fmt: skip
    folder = _folder()
    try:
        path = _write(visits, folder, "visits")
        out = folder / "out" if fmt == "/" else folder / f"scored{fmt}"
        args = ["score", str(path), "-o", str(out), *flags]
        for option, value in options.items():
            if value is not None:
                args.append(f"{option}={value}")
        _check(args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


pairs = st.none() | st.tuples(values, values)


@SETTINGS
@given(
    measures=st.fixed_dictionaries(
        {m: pairs for m in ("--pga", "--ptga", "--mmt8", "--haq", "--ck", "--cmas", "--chaq")}
    ),
    options=st.fixed_dictionaries(
        {
            "--ck-uln": st.none() | st.just("200") | numbers,
            "--mmt8-max": st.none() | st.none() | numbers,
            "--population": st.none() | st.sampled_from(["adult", "juvenile"]),
        }
    ),
    as_json=st.booleans(),
)
def test_fuzz_tis(measures: dict[str, Any], options: dict[str, Any], as_json: bool) -> None:
    args = ["tis"] + (["--json"] if as_json else [])
    for option, value in measures.items():
        if value is not None:
            args += [option, *value]
    for option, value in options.items():
        if value is not None:
            args.append(f"{option}={value}")
    _check(args)


@SETTINGS
@given(screening=tables("screening"), flags=st.lists(st.sampled_from(["--json", "--force"])))
def test_fuzz_screen(screening: dict[str, Any], flags: list[str]) -> None:
    folder = _folder()
    try:
        path = _write(screening, folder, "screening")
        _check(["screen", str(path), "-o", str(folder / "out.csv"), *flags])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@SETTINGS
@given(
    visits=tables("visits"),
    subjects=tables("subjects"),
    fmt=st.sampled_from(["csv", "parquet"]),
    as_json=st.booleans(),
)
def test_fuzz_derive(visits: dict[str, Any], subjects: dict[str, Any], fmt: str,
                     as_json: bool) -> None:  # fmt: skip
    folder = _folder()
    try:
        args = ["derive", "--visits", str(_write(visits, folder, "visits")), "--subjects",
                str(_write(subjects, folder, "subjects")), "-o", str(folder / "out"),
                "--format", fmt] + (["--json"] if as_json else [])  # fmt: skip
        _check(args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(SETTINGS, max_examples=12)
@given(
    visits=tables("visits"),
    subjects=tables("subjects"),
    conf_level=maybe,
    strata=st.none() | st.sampled_from(["sex", "[x]", "nope"]),
)
def test_fuzz_analyze(visits: dict[str, Any], subjects: dict[str, Any], conf_level: str | None,
                      strata: str | None) -> None:  # fmt: skip
    folder = _folder()
    try:
        args = ["analyze", "--visits", str(_write(visits, folder, "visits")), "--subjects",
                str(_write(subjects, folder, "subjects")), "--json"]  # fmt: skip
        if conf_level is not None:
            args.append(f"--conf-level={conf_level}")
        if strata is not None:
            args += ["--strata", strata]
        _check(args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(SETTINGS, max_examples=6)
@given(visits=tables("visits"), subjects=tables("subjects"))
def test_fuzz_report(visits: dict[str, Any], subjects: dict[str, Any]) -> None:
    folder = _folder()
    try:
        args = ["report", "--visits", str(_write(visits, folder, "visits")), "--subjects",
                str(_write(subjects, folder, "subjects")), "-o", str(folder / "report"),
                "--no-pdf", "--json"]  # fmt: skip
        _check(args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
