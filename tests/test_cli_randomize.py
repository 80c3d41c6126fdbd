"""``myotrial randomize``: generate, assign one at a time, export (unblinded only), balance."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from myotrial.cli import app

runner = CliRunner()


def _generate(state: Path, *extra: str) -> dict[str, object]:
    result = runner.invoke(app, [
        "randomize", "generate", "--seed", "2022", "--strata", "sex=female,male",
        "--strata", "site=01,02", "--n-per-stratum", "12", "-o", str(state), "--json", *extra,
    ])
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.output)
    return payload


def test_generate_assign_balance_export(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    info = _generate(state)
    assert info["strata"] == ["sex=female|site=01", "sex=female|site=02",
                              "sex=male|site=01", "sex=male|site=02"]
    arms = []
    for i, sex in enumerate(["female", "female", "male"]):
        res = runner.invoke(app, ["randomize", "assign", str(state), "--subject", f"P{i}",
                                  "--stratum", f"sex={sex}", "--stratum", "site=01", "--json"])
        assert res.exit_code == 0, res.output
        alloc = json.loads(res.output)["allocation"]
        arms.append(alloc["arm"])
        assert alloc["subject_id"] == f"P{i}" and alloc["kit_code"].startswith("K")
    assert json.loads(runner.invoke(app, ["randomize", "assign", str(state), "--subject",
                                          "P9", "--stratum", "sex=male", "--stratum",
                                          "site=02", "--json", "--kit-only"]).output
                      )["allocation"].keys() == {"subject_id", "stratum", "sequence",
                                                 "kit_code", "randomised_at"}
    bal = runner.invoke(app, ["randomize", "balance", str(state), "--json"])
    assert bal.exit_code == 0
    overall = json.loads(bal.output)["overall"]
    assert overall["n"] == 4
    human = runner.invoke(app, ["randomize", "balance", str(state)])
    assert human.exit_code == 0 and "overall" in human.output

    out = tmp_path / "list.csv"
    refused = runner.invoke(app, ["randomize", "export", str(state), "-o", str(out)])
    assert refused.exit_code == 2 and not out.exists()
    assert "--unblinded" in " ".join(refused.output.split())
    ok = runner.invoke(app, ["randomize", "export", str(state), "-o", str(out), "--unblinded"])
    assert ok.exit_code == 0, ok.output
    lst = pd.read_csv(out, dtype=str, keep_default_na=False)
    assigned = lst[lst["subject_id"] != ""].set_index("subject_id")
    assert [assigned.loc[f"P{i}", "arm"] for i in range(3)] == arms


def _design(state: Path) -> list[dict[str, object]]:
    return [{k: v for k, v in slot.items() if k != "kit_code"}
            for slot in json.loads(state.read_text())["list"]]


def test_same_seed_same_list_through_the_cli(tmp_path: Path) -> None:
    """--seed (validation only) reproduces the arms and blocks, never the kit codes, and
    warns; without --seed the list comes from the OS CSPRNG."""
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    _generate(a)
    _generate(b)
    assert _design(a) == _design(b)
    kits = [[s["kit_code"] for s in json.loads(p.read_text())["list"]] for p in (a, b)]
    assert kits[0] != kits[1]
    seeded = runner.invoke(app, ["randomize", "generate", "--seed", "5", "-o",
                                 str(tmp_path / "s.json")])
    assert seeded.exit_code == 0 and "warning" in seeded.output
    free = runner.invoke(app, ["randomize", "generate", "-o", str(tmp_path / "c.json"),
                               "--json"])
    info = json.loads(free.output)
    assert free.exit_code == 0 and info["seed"] is None and info["source"] == "csprng"
    assert info["entropy_bits"] >= 128 and info["warning"] is None
    assert _design(tmp_path / "c.json") != _design(a)


def test_errors_exit_2_and_do_not_change_state(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    _generate(state)
    again = runner.invoke(app, ["randomize", "generate", "--seed", "1", "-o", str(state)])
    assert again.exit_code == 2 and "--force" in " ".join(again.output.split())
    before = state.read_text()
    first = runner.invoke(app, ["randomize", "assign", str(state), "--subject", "P1",
                                "--stratum", "sex=female", "--stratum", "site=01"])
    assert first.exit_code == 0
    after_first = state.read_text()
    assert after_first != before
    for args, message in [
        (["--subject", "P1", "--stratum", "sex=female", "--stratum", "site=01"],
         "already randomised"),
        (["--subject", "P2", "--stratum", "sex=other", "--stratum", "site=01"],
         "not a level of sex"),
        (["--subject", "P2", "--stratum", "sex=female"], "lacks factor 'site'"),
    ]:
        res = runner.invoke(app, ["randomize", "assign", str(state), *args, "--json"])
        assert res.exit_code == 2
        body = json.loads(res.output)
        assert body["ok"] is False and message in body["problems"][0]["message"]
    assert state.read_text() == after_first
    bad = runner.invoke(app, ["randomize", "generate", "--seed", "1", "--ratio", "2:1",
                              "--block-sizes", "4", "-o", str(tmp_path / "x.json")])
    assert bad.exit_code == 2 and "multiples of 3" in " ".join(bad.output.split())
    assert not (tmp_path / "x.json").exists()
    missing = runner.invoke(app, ["randomize", "balance", str(tmp_path / "none.json")])
    assert missing.exit_code == 2


def test_generate_reads_arms_ratio_and_block_sizes_from_the_protocol(tmp_path: Path) -> None:
    """No block sizes written in the CLI: the protocol's [randomisation] (ProDERM: 4)."""
    import os
    import stat

    state = tmp_path / "s.json"
    res = runner.invoke(app, ["randomize", "generate", "-o", str(state), "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["ok"] is True and body["outputs"] == {"state": str(state)}
    assert (body["arms"], body["ratio"], body["block_sizes"]) == (["ivig", "placebo"], "1:1", [4])
    out = tmp_path / "list.csv"
    ok = runner.invoke(app, ["randomize", "export", str(state), "-o", str(out), "--unblinded"])
    assert ok.exit_code == 0, ok.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600  # unblinded material
    again = runner.invoke(app, ["randomize", "export", str(state), "-o", str(out), "--unblinded"])
    assert again.exit_code == 2 and "--force" in again.output
    into_state = runner.invoke(
        app, ["randomize", "export", str(state), "-o", str(state), "--unblinded", "--force"]
    )
    assert into_state.exit_code == 2 and "input" in into_state.output
