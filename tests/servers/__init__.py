"""Real local servers for integration tests: started on 127.0.0.1, health-checked, stopped by PID."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited early with code {proc.returncode}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{what} not healthy after {timeout}s")


def basic_auth(auth: tuple[str, str] | str) -> str:
    """The ``Authorization`` header value of HTTP Basic auth: (user, password) or a raw
    string (Prefect's auth string)."""
    raw = auth if isinstance(auth, str) else ":".join(auth)
    return "Basic " + base64.b64encode(raw.encode()).decode()


def http_call(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    auth: tuple[str, str] | str | None = None,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    """One request on a loopback URL: (HTTP status, body), errors included."""
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Content-Type", content_type)
    if auth is not None:
        req.add_header("Authorization", basic_auth(auth))
    try:
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - loopback only
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback only
            return 200 <= r.status < 500

    return check


@contextmanager
def process(
    cmd: list[str],
    log: Path,
    health: Callable[[], bool],
    what: str,
    timeout: float = 60,
    env: dict | None = None,
    as_user: dict | None = None,
):
    """Run ``cmd`` in its own process group; yield it once ``health`` passes; stop by PID.

    ``as_user``: Popen's ``user``/``group``/``extra_groups`` (a server that refuses root)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            **(as_user or {}),
        )
    try:
        wait_until(health, timeout, what, proc)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, grace: float = 10) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def bin_path(name: str) -> str:
    """An executable installed beside this interpreter (the project's venv)."""
    return str(Path(sys.executable).parent / name)
