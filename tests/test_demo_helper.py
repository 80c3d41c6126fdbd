"""The demo's helper process (issue 16 item 3): when it is used, that a task's error reaches
the caller located (exit 2 in the CLI), and that the caller does the work itself when the
helper is gone. Same files with and without it: ``tests/test_simulate_demo.py``."""

from __future__ import annotations

from concurrent.futures import BrokenExecutor
from pathlib import Path

import pytest

from myotrial.derive import derive_all
from myotrial.errors import InputValidationError
from myotrial.report import _worker
from myotrial.report._worker import ReportWorker, helper_pays
from myotrial.simulate import run_demo, synthetic_trial


@pytest.mark.parametrize(
    ("cpus", "load", "pays"),
    [(1, 0.0, False), (2, 0.0, True), (2, 1.4, True), (2, 1.6, False), (2, 9.0, False),
     (8, 6.0, True)],
)
def test_helper_only_with_an_idle_cpu(
    monkeypatch: pytest.MonkeyPatch, cpus: int, load: float, pays: bool
) -> None:
    monkeypatch.setattr(_worker.os, "sched_getaffinity", lambda _pid: set(range(cpus)),
                        raising=False)
    assert helper_pays(load) is pays


def test_a_task_error_is_raised_in_the_caller_located() -> None:
    trial = synthetic_trial(seed=3)
    derived = derive_all(trial.visits, trial.subjects)
    bad = trial.adverse_events.copy()
    bad.loc[bad.index[0], "subject_id"] = "NOBODY"  # not a subject of the trial
    worker = ReportWorker.start()
    assert worker is not None
    try:
        with pytest.raises(InputValidationError) as exc:
            worker.draft(derived, adverse_events=bad, infusions=trial.infusions).result()
        assert "NOBODY" in str(exc.value)
        # the helper goes on with the next task
        draft = worker.draft(derived, adverse_events=trial.adverse_events,
                             infusions=trial.infusions).result()
        assert len(draft.figures) == 3
    finally:
        worker.close()


def test_a_dead_helper_is_replaced_by_the_caller(tmp_path: Path) -> None:
    worker = ReportWorker.start()
    assert worker is not None
    worker._proc.kill()  # the process dies before any task
    worker._proc.wait()
    with pytest.raises(BrokenExecutor):
        worker.pdf("<p>x</p>").result()
    res = run_demo(tmp_path / "demo", seed=4, pdf=False, worker=worker)
    worker.close()
    with pytest.raises(BrokenExecutor):  # and after close
        worker.pdf("<p>x</p>")
    assert (tmp_path / "demo" / "report" / "report.html").is_file()
    assert res.results.summary()["p_value"].notna().any()
