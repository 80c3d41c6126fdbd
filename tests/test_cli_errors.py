"""Issue 11, the command line: no traceback, no silent change, one vocabulary.

Each test is one finding of the issue in the commands of ``myotrial.cli`` (score, tis, screen,
derive, analyze, report, interchange) and fails on the code before the fix.
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import os
import re
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

import myotrial
from myotrial.cli import _output as output
from myotrial.cli import app
from myotrial.errors import RulesError
from myotrial.rules import rules_path

runner = CliRunner()
DATA = rules_path("x").parents[1] / "data"
VISITS = DATA / "example_visits.csv"
SUBJECTS = DATA / "example_subjects.csv"
SCREENING = DATA / "example_screening.csv"
TIS = ["tis", "--pga", "6", "2", "--ptga", "6", "3", "--extramuscular", "4", "1", "--mmt8",
       "120", "138", "--haq", "1.5", "0.75", "--ck", "1200", "300", "--ck-uln", "200"]  # fmt: skip


def _text(result: Any) -> str:
    """Everything a command printed (stdout and stderr), with rich's line wrapping undone."""
    return " ".join(result.output.split())


def _header_only(tmp_path: Path, source: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text(source.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    return path


# -- the top-level handler ------------------------------------------------------------------------


def test_project_error_exits_2_with_its_message_printed_literally(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import myotrial.scoring.single as single

    def broken(*args: object, **kwargs: object) -> None:
        raise RulesError("rules file [red]bad[/red] at [x]")

    monkeypatch.setattr(single, "score_patient", broken)
    result = runner.invoke(app, TIS)
    assert result.exit_code == 2, result.output
    assert "rules file [red]bad[/red] at [x]" in _text(result)
    assert "Traceback" not in result.output


def test_a_bug_exits_1_with_a_report_pointer_and_a_traceback_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import myotrial.scoring.single as single

    def buggy(*args: object, **kwargs: object) -> None:
        raise ValueError("plain [bold]value[/bold] error")

    monkeypatch.setattr(single, "score_patient", buggy)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    result = runner.invoke(app, TIS)
    assert result.exit_code == 1
    text = _text(result)
    assert (
        f"internal error in myotrial {myotrial.__version__}: ValueError: plain [bold]value[/bold] "
        "error — please report it"
    ) in text
    match = re.search(r"The traceback is in (\S+) ", text)
    assert match is not None, text
    trace = Path(match.group(1))
    assert trace.parent == tmp_path and "Traceback" in trace.read_text(encoding="utf-8")
    assert "Traceback" not in result.output  # on screen: the message, not the traceback
    as_json = runner.invoke(app, [*TIS, "--json"])
    assert as_json.exit_code == 1
    body = json.loads(as_json.stdout)
    assert body["ok"] is False and body["problems"][0]["internal_error"] is True


def test_run_returns_the_exit_code(tmp_path: Path) -> None:
    from myotrial.cli import run

    assert run(TIS) == 0
    assert run(["tis", "--pga", "6", "2", "--mmt8-max", "1e308"]) == 2
    assert run(["score", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.csv")]) == 2
    assert run(["no-such-command"]) == 2


def test_a_directory_named_like_a_file_is_a_located_error(tmp_path: Path) -> None:
    folder = tmp_path / "protocol.toml"
    folder.mkdir()
    result = runner.invoke(
        app,
        ["derive", "--visits", str(VISITS), "--subjects", str(SUBJECTS), "--protocol",
         str(folder), "-o", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "protocol.toml" in _text(result) and "Traceback" not in result.output
    rules = tmp_path / "rules.toml"
    rules.mkdir()
    screened = runner.invoke(
        app, ["screen", str(SCREENING), "-o", str(tmp_path / "s.csv"), "--rules", str(rules)]
    )
    assert screened.exit_code == 2 and "rules.toml" in _text(screened)
    visits_dir = tmp_path / "visits.csv"
    visits_dir.mkdir()
    scored = runner.invoke(app, ["score", str(visits_dir), "-o", str(tmp_path / "o.csv")])
    assert scored.exit_code == 2 and "visits.csv" in _text(scored)


def _error_classes() -> set[str]:
    """Dotted names of every ``class ...Error``/``...Denied`` defined under src/myotrial."""
    root = Path(myotrial.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and re.search(r"(Error|Denied)$", node.name):
                found.add(f"{module}.{node.name}")
    return found


#: Error classes that are not the user's input: HTTP control flow of the web application.
NOT_USER_ERRORS = {"myotrial.web.app._BodyTooLargeError"}


def _derives_from_the_base(name: str) -> bool:
    import importlib

    from myotrial.errors import MyotrialError

    module, _, cls = name.rpartition(".")
    return issubclass(getattr(importlib.import_module(module), cls), MyotrialError)


def test_every_project_error_class_is_listed_for_the_handler() -> None:
    """Every error class of the project is a user error for the handler: it derives from
    ``MyotrialError`` or is listed in ``PROJECT_ERRORS``."""
    listed = set(output.PROJECT_ERRORS)
    unlisted = {
        n for n in _error_classes() - NOT_USER_ERRORS - listed if not _derives_from_the_base(n)
    }
    assert not unlisted
    for name in listed:
        module, _, cls = name.rpartition(".")
        assert issubclass(getattr(importlib.import_module(module), cls), Exception), name


# -- one vocabulary -------------------------------------------------------------------------------


def test_screen_writes_with_out_and_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "screened.csv"
    first = runner.invoke(app, ["screen", str(SCREENING), "--out", str(out), "--json"])
    assert first.exit_code == 0, first.output
    body = json.loads(first.stdout)
    assert body["ok"] is True and body["outputs"] == {"screened": str(out)}
    assert body["problems"] == []
    again = runner.invoke(app, ["screen", str(SCREENING), "-o", str(out)])
    assert again.exit_code == 2 and "--force" in _text(again)
    forced = runner.invoke(app, ["screen", str(SCREENING), "-o", str(out), "--force"])
    assert forced.exit_code == 0, forced.output


@pytest.mark.parametrize("command", ["score", "derive"])
def test_existing_outputs_are_kept_without_force(tmp_path: Path, command: str) -> None:
    if command == "score":
        out = tmp_path / "scored.csv"
        args = ["score", str(VISITS), "-o", str(out)]
    else:
        out = tmp_path / "derived" / "adsl.csv"
        args = ["derive", "--visits", str(VISITS), "--subjects", str(SUBJECTS), "-o",
                str(out.parent)]  # fmt: skip
    out.parent.mkdir(exist_ok=True)
    out.write_text("keep me\n", encoding="utf-8")
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "--force" in _text(result)
    assert out.read_text(encoding="utf-8") == "keep me\n"
    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert out.read_text(encoding="utf-8") != "keep me\n"


def test_an_input_is_never_overwritten_even_with_force(tmp_path: Path) -> None:
    visits = tmp_path / "visits.csv"
    visits.write_text(VISITS.read_text(encoding="utf-8"), encoding="utf-8")
    before = visits.read_bytes()
    result = runner.invoke(app, ["score", str(visits), "-o", str(visits), "--force"])
    assert result.exit_code == 2 and "input" in _text(result)
    assert visits.read_bytes() == before


def test_tis_json_is_the_envelope_without_infinity() -> None:
    result = runner.invoke(
        app, ["tis", "--pga", "6", "2", "--ck", "0", "300", "--ck-uln", "200", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert "Infinity" not in result.stdout and "NaN" not in result.stdout
    body = json.loads(result.stdout)
    assert body["ok"] is True and body["outputs"] == {} and body["problems"] == []
    assert body["measures"][4]["percent_improvement"] is None


@pytest.mark.parametrize("command", ["score", "screen", "derive", "analyze", "report"])
def test_help_points_to_the_data_format(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "data-format.md" in _text(result)


@pytest.mark.parametrize("command", ["analyze", "report"])
def test_database_option_is_d_with_the_settings_default(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import myotrial.cli.analyze as analyze_cli
    import myotrial.cli.report as report_cli

    seen: list[str] = []

    def export(url: str, user: str | None) -> Any:
        seen.append(url)
        raise RulesError("stop here")

    monkeypatch.setattr(analyze_cli, "_export_database", export)
    monkeypatch.setattr(report_cli, "_blinded_export", export)
    monkeypatch.delenv("MYOTRIAL_DATABASE_URL", raising=False)
    extra = ["-o", str(tmp_path / "r")] if command == "report" else []
    default = runner.invoke(app, [command, "--user", "stat", *extra])
    assert default.exit_code == 2 and "stop here" in _text(default)
    given = runner.invoke(app, [command, "-d", "sqlite:///x.db", "--user", "stat", *extra])
    assert given.exit_code == 2
    assert seen == ["sqlite:///trial.db", "sqlite:///x.db"]
    both = runner.invoke(
        app, [command, "-d", "sqlite:///x.db", "--user", "s", "--visits", str(VISITS), *extra]
    )
    assert both.exit_code == 2 and "not both" in _text(both)


def test_user_data_is_printed_literally_not_as_markup(tmp_path: Path) -> None:
    frame = pd.read_csv(SCREENING, dtype=str, keep_default_na=False)
    frame.loc[0, "subject_id"] = "[b]S1[/b]"
    path = tmp_path / "screening.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["screen", str(path), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    assert "[b]S1[/b]" in result.output
    bad = pd.read_csv(VISITS, dtype=str, keep_default_na=False)
    bad.loc[1, "subject_id"] = "[bold]X[/bold]"
    bad.loc[1, "pga"] = "[1]"
    bad.to_csv(tmp_path / "v.csv", index=False)
    scored = runner.invoke(app, ["score", str(tmp_path / "v.csv"), "-o", str(tmp_path / "o.csv")])
    assert scored.exit_code == 2
    assert "[bold]X[/bold]" in scored.output and "[1]" in scored.output


# -- options: finite and in range -----------------------------------------------------------------


@pytest.mark.parametrize("week", ["nan", "inf", "-inf", "-1", "1e9"])
def test_earliest_week_must_be_a_finite_week(tmp_path: Path, week: str) -> None:
    out = tmp_path / "scored.csv"
    result = runner.invoke(
        app, ["score", str(VISITS), "-o", str(out), f"--earliest-week={week}", "--json"]
    )
    assert result.exit_code == 2, result.output
    body = json.loads(result.stdout)
    assert body["ok"] is False and "--earliest-week" in body["problems"][0]["message"]
    assert not out.exists()


@pytest.mark.parametrize("command", ["score", "tis"])
@pytest.mark.parametrize("value", ["1e308", "100", "nan"])
def test_mmt8_max_is_150_or_80(tmp_path: Path, command: str, value: str) -> None:
    out = tmp_path / "scored.csv"
    args = ["score", str(VISITS), "-o", str(out)] if command == "score" else TIS
    result = runner.invoke(app, [*args, "--mmt8-max", value])
    assert result.exit_code == 2
    assert "--mmt8-max" in _text(result) and "80 or 150" in _text(result)
    assert not out.exists()
    assert runner.invoke(app, [*TIS, "--mmt8-max", "150"]).exit_code == 0


@pytest.mark.parametrize("measure", ["--cmas", "--chaq", "--das", "--chq-phs"])
def test_measures_outside_the_adult_set_are_refused(measure: str) -> None:
    result = runner.invoke(app, [*TIS, measure, "10", "20"])
    assert result.exit_code == 2, result.output
    assert measure in _text(result) and "ignored" in _text(result)
    juvenile = runner.invoke(
        app, ["tis", "--pga", "6", "2", "--chaq", "1", "0.5", "--population", "juvenile"]
    )
    assert juvenile.exit_code == 0, juvenile.output


@pytest.mark.parametrize("level", ["1.5", "0", "nan", "1", "0.3"])
def test_conf_level_out_of_range_is_refused(level: str) -> None:
    result = runner.invoke(
        app, ["analyze", "--visits", str(VISITS), "--subjects", str(SUBJECTS),
              "--conf-level", level],
    )  # fmt: skip
    assert result.exit_code == 2 and "--conf-level" in _text(result)


def test_bad_method_and_consecutive_visits_are_refused(tmp_path: Path) -> None:
    method = runner.invoke(
        app, ["analyze", "--visits", str(VISITS), "--subjects", str(SUBJECTS), "--method", "x"]
    )
    assert method.exit_code == 2 and "--method" in _text(method)
    k = runner.invoke(
        app, ["score", str(VISITS), "-o", str(tmp_path / "o.csv"), "--consecutive-visits", "0"]
    )
    assert k.exit_code == 2 and "--consecutive-visits" in _text(k)


# -- analyze and report: one loader ---------------------------------------------------------------


def _analyze_and_report(tmp_path: Path, args: list[str]) -> tuple[Any, Any]:
    analysed = runner.invoke(app, ["analyze", *args, "--json"])
    out = tmp_path / "report"
    reported = runner.invoke(app, ["report", *args, "-o", str(out), "--no-pdf", "--json"])
    assert not (out / "report.html").exists()
    return analysed, reported


def test_analyze_and_report_refuse_the_same_infusions(tmp_path: Path) -> None:
    infusions = tmp_path / "infusions.csv"
    infusions.write_text(
        "subject_id,start,end,cycle\n"
        "EX-001,2024-01-01T09:00,2024-01-01T13:00,1\n"
        "ZZZ-9,2024-01-01T09:00,2024-01-01T13:00,1\n",
        encoding="utf-8",
    )
    derived = tmp_path / "derived"
    done = runner.invoke(
        app, ["derive", "--visits", str(VISITS), "--subjects", str(SUBJECTS), "-o", str(derived)]
    )
    assert done.exit_code == 0, done.output
    raw = ["--visits", str(VISITS), "--subjects", str(SUBJECTS)]
    for source in (raw, ["--derived", str(derived)]):
        analysed, reported = _analyze_and_report(tmp_path, [*source, "--infusions", str(infusions)])
        assert analysed.exit_code == reported.exit_code == 2, analysed.output
        a, r = json.loads(analysed.stdout), json.loads(reported.stdout)
        assert a["table"] == r["table"] == "infusions"
        assert a["problems"] == r["problems"]
        assert a["problems"][0]["subject_id"] == "ZZZ-9"


def test_derived_with_visits_is_refused(tmp_path: Path) -> None:
    derived = tmp_path / "derived"
    done = runner.invoke(
        app, ["derive", "--visits", str(VISITS), "--subjects", str(SUBJECTS), "-o", str(derived)]
    )
    assert done.exit_code == 0, done.output
    analysed, reported = _analyze_and_report(
        tmp_path, ["--derived", str(derived), "--visits", str(VISITS)]
    )
    assert analysed.exit_code == reported.exit_code == 2
    assert "not both" in json.loads(analysed.stdout)["problems"][0]["message"]


def test_header_only_tables_are_an_error_not_p_1(tmp_path: Path) -> None:
    visits = _header_only(tmp_path, VISITS, "visits.csv")
    subjects = _header_only(tmp_path, SUBJECTS, "subjects.csv")
    analysed, reported = _analyze_and_report(
        tmp_path, ["--visits", str(visits), "--subjects", str(subjects)]
    )
    assert analysed.exit_code == reported.exit_code == 2, reported.output
    for result in (analysed, reported):
        problem = json.loads(result.stdout)["problems"][0]
        assert "no data rows" in problem["rule"] and problem["table"] == "visits.csv"
        assert "Traceback" not in result.output
    # the report's IndexError: a header-only visits file with a full subjects table
    analysed, reported = _analyze_and_report(
        tmp_path, ["--visits", str(visits), "--subjects", str(SUBJECTS)]
    )
    assert analysed.exit_code == reported.exit_code == 2, reported.output
    assert "no data rows" in json.loads(reported.stdout)["problems"][0]["rule"]


def test_no_randomised_patient_in_an_arm_is_an_error(tmp_path: Path) -> None:
    subjects = pd.read_csv(SUBJECTS, dtype=str, keep_default_na=False)
    subjects["randomised"] = "false"
    subjects.to_csv(tmp_path / "subjects.csv", index=False)
    analysed, reported = _analyze_and_report(
        tmp_path, ["--visits", str(VISITS), "--subjects", str(tmp_path / "subjects.csv")]
    )
    assert analysed.exit_code == reported.exit_code == 2, analysed.output
    for result in (analysed, reported):
        assert "no randomised patients" in json.loads(result.stdout)["problems"][0]["message"]


def test_single_arm_trial_is_an_error(tmp_path: Path) -> None:
    subjects = pd.read_csv(SUBJECTS, dtype=str, keep_default_na=False)
    subjects["arm"] = "ivig"
    subjects.to_csv(tmp_path / "subjects.csv", index=False)
    analysed, reported = _analyze_and_report(
        tmp_path, ["--visits", str(VISITS), "--subjects", str(tmp_path / "subjects.csv")]
    )
    assert analysed.exit_code == reported.exit_code == 2
    assert "placebo" in json.loads(analysed.stdout)["problems"][0]["message"]


def test_missing_column_in_derived_tables_is_located(tmp_path: Path) -> None:
    derived = tmp_path / "derived"
    done = runner.invoke(
        app, ["derive", "--visits", str(VISITS), "--subjects", str(SUBJECTS), "-o", str(derived)]
    )
    assert done.exit_code == 0, done.output
    adrs = pd.read_csv(derived / "adrs.csv")
    adrs.drop(columns=["AVAL"]).to_csv(derived / "adrs.csv", index=False)
    analysed, reported = _analyze_and_report(tmp_path, ["--derived", str(derived)])
    assert analysed.exit_code == reported.exit_code == 2
    message = json.loads(analysed.stdout)["problems"][0]["message"]
    assert "adrs.csv" in message and "AVAL" in message


def test_parquet_write_of_a_mixed_column_is_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import myotrial.scoring as scoring

    real = scoring.score_visits

    def mixed(*args: Any, **kwargs: Any) -> pd.DataFrame:
        frame = real(*args, **kwargs)
        frame["note"] = [1 if i % 2 else "text" for i in range(len(frame))]
        return frame

    monkeypatch.setattr(scoring, "score_visits", mixed)
    out = tmp_path / "scored.parquet"
    result = runner.invoke(app, ["score", str(VISITS), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "'note'" in _text(result) and "Parquet" in _text(result)
    assert not out.exists() and list(tmp_path.iterdir()) == []


# -- output paths: checked before the work --------------------------------------------------------


@pytest.mark.parametrize("command", ["score", "derive", "report"])
def test_output_under_a_file_fails_before_the_work(
    tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import myotrial.tables as tables

    reads: list[object] = []
    real = tables.read_table
    def counting(*args: Any, **kwargs: Any) -> pd.DataFrame:
        reads.append(args)
        return real(*args, **kwargs)

    import myotrial.cli.analyze as analyze_cli
    import myotrial.cli.derive as derive_cli

    for module in (tables, analyze_cli, derive_cli):
        monkeypatch.setattr(module, "read_table", counting)
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    args = {
        "score": ["score", str(VISITS), "-o", str(blocker / "scored.csv")],
        "derive": ["derive", "--visits", str(VISITS), "--subjects", str(SUBJECTS), "-o",
                   str(blocker / "derived")],
        "report": ["report", "--visits", str(VISITS), "--subjects", str(SUBJECTS), "-o",
                   str(blocker / "report"), "--no-pdf"],
    }[command]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "is a file" in _text(result)
    assert reads == []


def _lock(folder: Path) -> Callable[[], None]:
    """Make ``folder`` unwritable, for root too (root ignores mode bits: the immutable
    attribute, ``chattr +i``, binds root); returns the unlock."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        return lambda: folder.chmod(0o700)
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"root, and chattr +i is not available here: {done.stderr!r}")
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_unwritable_output_folder_fails_before_the_work(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    unlock = _lock(locked)
    try:
        assert not os.access(locked, os.W_OK)
        result = runner.invoke(app, ["score", str(VISITS), "-o", str(locked / "scored.csv")])
    finally:
        unlock()
    assert result.exit_code == 2 and "no write permission" in _text(result)
    assert list(locked.iterdir()) == []


# -- file modes and progress ----------------------------------------------------------------------


def test_shareable_outputs_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        out = tmp_path / "scored.csv"
        assert runner.invoke(app, ["score", str(VISITS), "-o", str(out)]).exit_code == 0
        report = tmp_path / "report"
        done = runner.invoke(
            app, ["report", "--visits", str(VISITS), "--subjects", str(SUBJECTS), "-o",
                  str(report), "--no-pdf"],
        )  # fmt: skip
        assert done.exit_code == 0, done.output
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert stat.S_IMODE((report / "report.html").stat().st_mode) == 0o644


def test_set_file_mode_private_is_600(tmp_path: Path) -> None:
    path = tmp_path / "closed.html"
    path.write_text("x", encoding="utf-8")
    output.set_file_mode([path], private=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("as_json", [False, True])
def test_derive_shows_progress_on_a_terminal_only_without_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(output, "err_console", Console(file=buffer, force_terminal=True))
    args = ["derive", "--visits", str(VISITS), "--subjects", str(SUBJECTS), "-o",
            str(tmp_path / "d")] + (["--json"] if as_json else [])  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    shown = buffer.getvalue()
    if as_json:
        assert shown == ""
    else:
        assert "scoring and deriving" in shown and "writing adsl.csv" in shown


def test_score_progress_only_for_large_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import myotrial.cli.score as score_cli

    buffer = io.StringIO()
    monkeypatch.setattr(output, "err_console", Console(file=buffer, force_terminal=True))
    small = runner.invoke(app, ["score", str(VISITS), "-o", str(tmp_path / "a.csv")])
    assert small.exit_code == 0 and buffer.getvalue() == ""
    monkeypatch.setattr(score_cli, "PROGRESS_ROWS", 10)
    large = runner.invoke(app, ["score", str(VISITS), "-o", str(tmp_path / "b.csv")])
    assert large.exit_code == 0 and "scoring 84 visits" in buffer.getvalue()
