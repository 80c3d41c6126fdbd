"""XPT v5 files read by an independent reader: R haven::read_xpt (Debian r-cran-haven) vs
pyreadstat vs myotrial's datasets.

Oracle: scripts/r/read_xpt.R run on tests/fixtures/interchange/xpt/*.xpt wrote
tests/fixtures/interchange/r_read_xpt/<name>_meta.csv and <name>_values.csv (committed). The
fixture comparison always runs; R is also run live on freshly written files when Rscript with
haven is installed.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from myotrial.interchange.adam import read_xpt, write_xpt

_spec = importlib.util.spec_from_file_location(
    "interchange_support", Path(__file__).parent / "fixtures" / "interchange" / "support.py"
)
assert _spec is not None and _spec.loader is not None
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("adsl", "adrs", "adeff", "adtte", "adae")
_R_TYPE = {"text": "character", "integer": "numeric", "float": "numeric", "date": "date",
           "datetime": "datetime"}  # fmt: skip


def _text(value: Any, kind: str) -> str:
    """A Python value as read_xpt.R writes it."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    if kind == "date":
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    if kind == "datetime":
        return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%S")
    if kind in ("integer", "float"):
        return f"{float(value):.15g}"
    return str(value)


def _same(a: str, b: str, kind: str) -> bool:
    if kind in ("integer", "float") and a and b:
        return math.isclose(float(a), float(b), rel_tol=1e-13, abs_tol=0.0)
    return a == b


def _compare_with_r(xpt_dir: Path, r_dir: Path) -> int:
    """Compare every dataset's names, labels, types, formats and values; return #values."""
    datasets = {ds.name.lower(): ds for ds in support.fixture_datasets()}
    checked = 0
    for name in NAMES:
        ds = datasets[name]
        meta = pd.read_csv(r_dir / f"{name}_meta.csv", dtype=str, keep_default_na=False)
        values = pd.read_csv(r_dir / f"{name}_values.csv", dtype=str, keep_default_na=False)
        py, py_meta = read_xpt(xpt_dir / f"{name}.xpt")
        # names and order
        assert list(meta["name"]) == [v.name for v in ds.variables] == list(py.columns)
        # labels: R == pyreadstat == metadata
        assert list(meta["label"]) == [v.label for v in ds.variables]
        assert [py_meta["labels"][c] for c in py.columns] == list(meta["label"])
        assert set(meta["dataset_label"]) == {ds.label} and py_meta["label"] == ds.label
        # types and formats
        assert list(meta["type"]) == [_R_TYPE[v.type] for v in ds.variables]
        assert list(meta["format"]) == [v.display_format.rstrip(".") for v in ds.variables]
        # values, cell by cell: R vs pyreadstat vs the dataset written
        assert len(values) == len(py) == len(ds.data)
        for v in ds.variables:
            r_col = values[v.name].tolist()
            py_col = [_text(x, v.type) for x in py[v.name]]
            ds_col = [_text(x, v.type) for x in ds.data[v.name]]
            for i, (r, p, d) in enumerate(zip(r_col, py_col, ds_col, strict=True)):
                assert _same(r, p, v.type), (name, v.name, i, r, p)
                assert _same(p, d, v.type), (name, v.name, i, p, d)
                checked += 1
    return checked


@pytest.mark.r_fixture
def test_committed_xpt_fixture_read_by_r_haven_matches_pyreadstat_and_our_datasets() -> None:
    n = _compare_with_r(support.XPT_DIR, support.R_DIR)
    assert n > 5000  # every cell of five datasets


def test_xpt_writer_still_writes_what_r_read(tmp_path: Path) -> None:
    """A fresh file from the same data reads back identical to the committed fixture."""
    for ds in support.fixture_datasets():
        fresh = tmp_path / f"{ds.name.lower()}.xpt"
        write_xpt(ds, fresh)
        a, ma = read_xpt(fresh)
        b, mb = read_xpt(support.XPT_DIR / f"{ds.name.lower()}.xpt")
        pd.testing.assert_frame_equal(a, b)
        assert ma["labels"] == mb["labels"] and ma["formats"] == mb["formats"]


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not installed")
def test_r_haven_live_on_fresh_files(tmp_path: Path) -> None:
    probe = subprocess.run(["Rscript", "-e", "library(haven)"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip("R package haven not installed (apt-get install r-cran-haven)")
    xpt_dir, r_dir = tmp_path / "xpt", tmp_path / "r"
    xpt_dir.mkdir()
    for ds in support.fixture_datasets():
        write_xpt(ds, xpt_dir / f"{ds.name.lower()}.xpt")
    subprocess.run(
        ["Rscript", str(ROOT / "scripts" / "r" / "read_xpt.R"), str(xpt_dir), str(r_dir)],
        check=True, timeout=120,
    )
    assert _compare_with_r(xpt_dir, r_dir) > 5000
