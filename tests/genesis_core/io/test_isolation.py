"""A reader that crashes or hangs costs one row, not the run; I/O faults stay I/O faults."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from genesis_core.io.isolation import ReaderCrashed, live_readers, run_isolated


def _crash() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _hang() -> None:
    time.sleep(3600)


def _io_fault() -> None:
    raise OSError(5, "Input/output error")


def _rows(n: int) -> list[dict]:
    return [{"scan_id": str(i)} for i in range(n)]


def test_results_come_back() -> None:
    assert run_isolated(_rows, (3,), timeout_s=60) == _rows(3)


def test_native_crash_is_reported_with_its_signal() -> None:
    with pytest.raises(ReaderCrashed, match="SIGSEGV"):
        run_isolated(_crash, (), timeout_s=60)


def test_hang_is_cut_at_the_time_limit() -> None:
    t0 = time.perf_counter()
    with pytest.raises(ReaderCrashed, match="did not finish within 1 s"):
        run_isolated(_hang, (), timeout_s=1)
    assert time.perf_counter() - t0 < 10


def test_os_errors_are_re_raised_not_swallowed() -> None:
    with pytest.raises(OSError, match="Input/output error"):
        run_isolated(_io_fault, (), timeout_s=60)


def test_threads_that_end_do_not_leave_readers_behind() -> None:
    """A worker whose threads come and go keeps one reader per live thread, not one per
    thread it ever had (each reader is a whole interpreter, ~200 MB)."""
    before = live_readers()
    for _ in range(5):
        t = threading.Thread(target=run_isolated, args=(_rows, (1,), 60))
        t.start()
        t.join()
    # the last thread's reader is stopped when the next reader starts
    assert run_isolated(_rows, (2,), timeout_s=60) == _rows(2)
    assert live_readers() <= before + 1
