"""One helper process for the demo pipeline: the results-free part of the report
(:func:`myotrial.report.render.draft_report`: three figures, the safety tables, checksums) is
built in it while the caller analyses, and the report's PDF (WeasyPrint) is rendered in it
while the caller writes the tables and the interchange outputs.

The process is a fresh interpreter (``python -c ...``: nothing is forked from a process that
may already run threads, and the caller's ``__main__`` is never imported again, unlike
``multiprocessing``'s spawn). It imports the report stack and WeasyPrint and loads the
report's fonts in the background, while the caller imports and simulates; the caller never
imports WeasyPrint. Tasks run one after the other, in the order they are submitted; arguments
and results travel pickled over pipes (a reader thread in the helper takes every message at
once, so the caller never waits to hand work over): the draft and the PDF are the same as
built in one process (``tests/test_simulate_demo.py`` compares a run with the helper with a
serial one). An error of a task is raised in the caller as it is; when the helper cannot start
or dies, :meth:`Pending.result` raises ``BrokenExecutor`` and the caller does the task itself.

``benchmarks/bench_demo.py`` measures the gain on a 2-core machine (``demo`` vs ``demo
--serial``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import subprocess
import sys
import threading
import traceback
from concurrent.futures import BrokenExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from myotrial.derive import DerivedTables
    from myotrial.report.render import ReportDraft

__all__ = ["Pending", "ReportWorker", "helper_pays"]

T = TypeVar("T")
_LEN = 8  # message length prefix, bytes (big-endian)


def helper_pays(load: float | None = None) -> bool:
    """Whether the helper process is worth starting: at least 2 CPUs usable here and, by the
    1-minute load average (``load``, default the system's), at least about one of them idle.

    The helper saves wall-clock time only on an idle CPU: it costs CPU time of its own (an
    interpreter and the report's imports, about 1.5 CPU-seconds), so on a busy machine the
    demo is faster in one process. The files are the same either way."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        usable = os.cpu_count() or 1
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # pragma: no cover - no load average here
            load = 0.0
    return usable >= 2 and load < usable - 0.5


def _warm_report() -> None:
    import importlib

    importlib.import_module("myotrial.report.render")


def _draft(derived: DerivedTables, options: dict[str, Any]) -> ReportDraft:
    from myotrial.report.render import draft_report

    return draft_report(derived, **options)


def _warm_pdf() -> None:
    from myotrial.report._pdf import warm_up

    warm_up()


def _pdf(html: str) -> bytes:
    from myotrial.report._pdf import html_to_pdf

    return html_to_pdf(html)


_TASKS = {f.__name__: f for f in (_warm_report, _draft, _warm_pdf, _pdf)}


def _send(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(_LEN, "big") + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(_LEN)
    if len(head) < _LEN:
        raise EOFError
    size = int.from_bytes(head, "big")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _main() -> None:  # pragma: no cover - runs in the helper process
    """The helper process: run each task received on stdin, answer on the original stdout
    (stray prints of libraries go to stderr)."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inbox: queue.Queue[Any] = queue.Queue()

    def read() -> None:
        try:
            while True:
                inbox.put(_receive(sys.stdin.buffer))
        except (EOFError, OSError):
            inbox.put(None)

    threading.Thread(target=read, daemon=True).start()
    while (message := inbox.get()) is not None:
        name, args = message
        try:
            reply: tuple[bool, Any] = (True, _TASKS[name](*args))
        except Exception as exc:
            try:
                pickle.dumps(exc)
                reply = (False, exc)
            except Exception:
                reply = (False, RuntimeError("".join(traceback.format_exception(exc))))
        _send(answers, reply)


class Pending(Generic[T]):
    """A task submitted to the helper; :meth:`result` waits for it."""

    def __init__(self, worker: ReportWorker, index: int) -> None:
        self._worker = worker
        self._index = index

    def result(self) -> T:
        """The task's return value; its exception re-raised; ``BrokenExecutor`` when the
        helper process died."""
        ok, value = self._worker._wait(self._index)
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]


class ReportWorker:
    """The helper process (see the module docstring); :meth:`start` returns None when it
    cannot be started (the caller then runs everything itself)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self._submitted = 0
        self._replies: list[tuple[bool, Any]] = []
        self._broken = False

    @classmethod
    def start(cls) -> ReportWorker | None:
        """Start the process; it imports the report stack, then WeasyPrint (and loads the
        report's fonts), at once."""
        import myotrial

        package_root = str(Path(myotrial.__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [package_root, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
        )
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from myotrial.report._worker import _main; _main()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        except OSError:
            return None
        worker = cls(proc)
        worker._submit("_warm_report")
        worker._submit("_warm_pdf")
        return worker

    def _submit(self, name: str, *args: Any) -> Pending[Any]:
        if self._broken or self._proc.stdin is None:
            raise BrokenExecutor("the helper process is not running")
        try:
            _send(self._proc.stdin, (name, args))
        except (OSError, ValueError) as exc:  # ValueError: the pipe was closed here
            self._broken = True
            raise BrokenExecutor(f"the helper process stopped: {exc}") from exc
        self._submitted += 1
        return Pending(self, self._submitted - 1)

    def _wait(self, index: int) -> tuple[bool, Any]:
        while len(self._replies) <= index:
            if self._broken or self._proc.stdout is None:
                raise BrokenExecutor("the helper process is not running")
            try:
                self._replies.append(_receive(self._proc.stdout))
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                self._broken = True
                raise BrokenExecutor(f"the helper process stopped: {exc}") from exc
        return self._replies[index]

    def draft(self, derived: DerivedTables, **options: Any) -> Pending[ReportDraft]:
        """:func:`myotrial.report.render.draft_report` in the helper process."""
        return self._submit("_draft", derived, options)

    def pdf(self, html: str) -> Pending[bytes]:
        """:func:`myotrial.report.render.html_to_pdf` in the helper process."""
        return self._submit("_pdf", html)

    def close(self) -> None:
        """Stop the process (a task still running is abandoned; nothing it would write is
        written: the caller writes every file)."""
        self._broken = True
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
