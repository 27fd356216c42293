"""Run one file's reading in a separate reader process, with a time limit.

Native readers (ITK, GDCM) can crash or hang on a crafted file; in a reader process that
costs one catalog row, not the run.  Each calling thread keeps one long-lived reader
process (a fresh interpreter, started once: ``python -c "...serve()"``; never a fork of
a multi-threaded caller, and never a re-import of the caller's ``__main__``), and sends
it one call at a time over a pipe; only small results (catalog rows) travel back.  A
reader that crashes or runs past its limit is killed and replaced on the next call, and
the reader of a thread that has ended is stopped when another starts, so a long-lived
process whose threads come and go (a Dask or Prefect worker) keeps at most one reader
per live thread.  An ``OSError`` raised in the reader is re-raised here: I/O faults stay I/O faults.
"""

from __future__ import annotations

import atexit
import importlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

_LOCAL = threading.local()
_ALL: dict[threading.Thread, subprocess.Popen] = {}  # each reader, by the thread it serves
_ALL_LOCK = threading.Lock()
_HEADER = struct.Struct("<Q")


class ReaderCrashed(RuntimeError):
    """The reader process died (a native crash) or ran past its time limit."""


def serve() -> None:
    """The reader process: answer framed calls on stdin until it closes."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to stderr, never into the protocol
    inp = sys.stdin.buffer
    while True:
        head = inp.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        module, name, args = pickle.loads(inp.read(_HEADER.unpack(head)[0]))
        try:
            reply = ("ok", getattr(importlib.import_module(module), name)(*args))
        except BaseException as e:  # noqa: BLE001 - everything goes back to the caller
            reply = ("error", e)
        try:
            data = pickle.dumps(reply)
        except Exception as e:  # noqa: BLE001 - an unpicklable value: send its text
            data = pickle.dumps(("error", RuntimeError(f"{type(e).__name__}: {e}")))
        out.write(_HEADER.pack(len(data)) + data)
        out.flush()


def _start() -> subprocess.Popen:
    _stop_orphans()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from genesis_core.io.isolation import serve; serve()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    with _ALL_LOCK:
        _ALL[threading.current_thread()] = proc
    return proc


def _stop_orphans() -> None:
    """Stop the readers of threads that have ended (each is ~200 MB of interpreter)."""
    with _ALL_LOCK:
        dead = [t for t in _ALL if not t.is_alive()]
        procs = [_ALL.pop(t) for t in dead]
    for proc in procs:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def live_readers() -> int:
    """Reader processes running now (for tests and diagnostics)."""
    with _ALL_LOCK:
        return sum(p.poll() is None for p in _ALL.values())


def _reader() -> subprocess.Popen:
    proc = getattr(_LOCAL, "proc", None)
    if proc is None or proc.poll() is not None:
        proc = _LOCAL.proc = _start()
    return proc


def _discard(proc: subprocess.Popen) -> None:
    _stop(proc)
    _LOCAL.proc = None


def run_isolated(fn: Callable, args: tuple, timeout_s: float) -> Any:
    """``fn(*args)`` in this thread's reader process; its exceptions are re-raised, a crash
    or a hang is :class:`ReaderCrashed` (naming the signal, or the time limit)."""
    proc = _reader()
    data = pickle.dumps((fn.__module__, fn.__qualname__, args))
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(_HEADER.pack(len(data)) + data)
        proc.stdin.flush()
    except BrokenPipeError:
        _discard(proc)
        raise ReaderCrashed("the reader process died before the call") from None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    if not ready:
        _discard(proc)
        raise ReaderCrashed(f"reading did not finish within {timeout_s:.0f} s (a hang?)")
    head = proc.stdout.read(_HEADER.size)
    if len(head) < _HEADER.size:
        proc.wait()
        code = proc.returncode
        _discard(proc)
        raise ReaderCrashed(f"the reader crashed ({_signal_name(code)})")
    status, value = pickle.loads(proc.stdout.read(_HEADER.unpack(head)[0]))
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


@atexit.register
def _stop_all() -> None:
    with _ALL_LOCK:
        procs = list(_ALL.values())
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
