"""Run one file's reading in a child process with a time limit.

Native readers (ITK, GDCM) can crash or hang on a crafted file; in a child process that
costs one catalog row, not the run.  Children come from a ``forkserver`` that has
imported the readers once, so a child starts in milliseconds, and only small results
(catalog rows) travel back.  An ``OSError`` raised in the child is re-raised here: I/O
faults stay I/O faults, to be retried, never turned into data.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
from collections.abc import Callable
from typing import Any

_CTX: Any = None


class ReaderCrashed(RuntimeError):
    """The child died (a native crash) or ran past its time limit."""


def _context():
    global _CTX
    if _CTX is None:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["genesis_core.ingest"])
        _CTX = ctx
    return _CTX


def _child(conn, fn: Callable, args: tuple) -> None:
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
        try:
            conn.send(("error", e))
        except Exception:  # noqa: BLE001 - an unpicklable exception: send its text
            conn.send(("error", RuntimeError(f"{type(e).__name__}: {e}")))
    finally:
        conn.close()


def run_isolated(fn: Callable, args: tuple, timeout_s: float) -> Any:
    """``fn(*args)`` in a child; its exceptions are re-raised, a crash or hang is
    :class:`ReaderCrashed` (with the signal, or the time limit)."""
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout_s):
            proc.kill()
            raise ReaderCrashed(f"reading did not finish within {timeout_s:.0f} s (a hang?)")
        try:
            status, value = parent.recv()
        except EOFError:
            proc.join(5)
            raise ReaderCrashed(f"the reader crashed ({_signal_name(proc.exitcode)})") from None
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
        parent.close()
    if status == "error":
        raise value
    return value


def _signal_name(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"exit code {code}"
