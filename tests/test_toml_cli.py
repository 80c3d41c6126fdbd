"""A misspelt key in each kind of TOML file ends the command with exit 2 naming the file, the
key and the key probably meant (issue 10). Scenario and power design files are covered in
tests/test_simulate_design_files.py, SDTM mapping files in tests/test_interchange_sdtm.py."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from myotrial.protocol import load_protocol
from myotrial.rules import rules_path

runner = CliRunner()
DATA = Path(__file__).resolve().parents[1] / "src" / "myotrial" / "data"
PROTOCOL = load_protocol("proderm").source.read_text(encoding="utf-8")  # type: ignore[union-attr]


def _derive(protocol: Path, out: Path) -> tuple[int, str]:
    from myotrial.cli import app

    res = runner.invoke(
        app,
        ["derive", "--visits", str(DATA / "example_visits.csv"), "--subjects",
         str(DATA / "example_subjects.csv"), "--protocol", str(protocol), "-o", str(out)],
        env={"COLUMNS": "300"},
    )
    return res.exit_code, " ".join(res.output.split())


def test_misspelt_protocol_key_exits_2_with_file_key_and_suggestion(tmp_path: Path) -> None:
    bad = tmp_path / "protocol.toml"
    bad.write_text(PROTOCOL.replace("extension_end_week = 40", "extension_end_wek = 40\n"
                                    "extension_end_week = 40"), encoding="utf-8")
    code, text = _derive(bad, tmp_path / "out")
    assert code == 2, text
    assert str(bad) in text and "'extension_end_wek'" in text
    assert "did you mean 'extension_end_week'?" in text
    assert not (tmp_path / "out").exists()


def test_misspelt_key_in_a_referenced_rules_file_exits_2(tmp_path: Path) -> None:
    rules = tmp_path / "deterioration.toml"
    rules.write_text(
        rules_path("proderm_deterioration.toml").read_text(encoding="utf-8").replace(
            "worse_pct = 30.0", "worse_pc = 30.0\nworse_pct = 30.0"), encoding="utf-8")
    proto = tmp_path / "protocol.toml"
    proto.write_text(PROTOCOL.replace('rules = "proderm_deterioration"',
                                      f'rules = "{rules}"'), encoding="utf-8")
    code, text = _derive(proto, tmp_path / "out")
    assert code == 2, text
    assert str(rules) in text and "'worse_pc'" in text and "did you mean 'worse_pct'?" in text
