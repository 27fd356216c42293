"""One long-lived local Prefect server per data root, started on demand by the CLI.

Prefect's ephemeral API starts a server inside every command (10–25 s on a quiet
2-core machine, time-outs under load).  With no ``PREFECT_API_URL`` configured the
``genesis`` command instead reuses a server it started earlier for the same data root:
its state (database, log, ``server.json`` with PID and URL) lives under
``WORK_DIR/prefect``, it binds 127.0.0.1 only, and ``genesis server stop`` ends it.  Its
UI shows every run the CLI made.  ``GENESIS_PREFECT_SERVER=ephemeral`` keeps Prefect's
own per-process server (the test suite does, so nothing outlives it); a configured
``PREFECT_API_URL`` always wins.  Nothing here imports Prefect.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 90


def state_dir(work_dir: Path) -> Path:
    return work_dir / "prefect"


def running(work_dir: Path) -> dict | None:
    """``{"pid", "url"}`` of this data root's server if it answers, else ``None``."""
    try:
        state = json.loads((state_dir(work_dir) / "server.json").read_text())
    except (OSError, ValueError):
        return None
    return state if _healthy(state.get("url", "")) else None


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as r:  # noqa: S310 - loopback
            return r.status == 200
    except (OSError, ValueError):
        return False


def ensure_server(work_dir: Path, say=print) -> str:
    """The API URL of this data root's server, starting it if none answers (one starter at
    a time: a second command waits for the first's server)."""
    home = state_dir(work_dir)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "server.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = running(work_dir)
        if state is None:
            say(
                f"starting a local Prefect server for {work_dir} (once; `genesis server stop` ends it)"
            )
            state = _start(home)
        return state["url"]


def _start(home: Path) -> dict:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_API_URL": url,
    }
    env.pop("PREFECT_API_URL", None)
    prefect = Path(sys.executable).with_name("prefect")
    cmd = [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with open(home / "server.log", "ab") as log:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(
                f"the local Prefect server did not start within {START_TIMEOUT_S} s "
                f"(log: {home / 'server.log'}); set PREFECT_API_URL to use another server"
            )
        time.sleep(0.3)
    state = {"pid": proc.pid, "url": url}
    (home / "server.json").write_text(json.dumps(state))
    return state


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(work_dir: Path) -> int | None:
    """Stop this data root's server; its PID, or ``None`` if none was running."""
    state = running(work_dir)
    path = state_dir(work_dir) / "server.json"
    if state is None:
        path.unlink(missing_ok=True)
        return None
    pid = int(state["pid"])
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(pid, sig)  # the server and its workers
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not alive(pid):
            break
    path.unlink(missing_ok=True)
    return pid


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@contextmanager
def prefect_api(work_dir: Path, say=print) -> Iterator[None]:
    """Point Prefect at this data root's server for the block (see the module doc)."""
    if os.environ.get("PREFECT_API_URL") or _mode() == "ephemeral":
        yield
        return
    url = ensure_server(work_dir, say)
    if "prefect" not in sys.modules:  # the usual CLI case: Prefect reads it on import
        os.environ["PREFECT_API_URL"] = url
        yield
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield


def _mode() -> str:
    mode = os.environ.get("GENESIS_PREFECT_SERVER", "local").strip().lower()
    if mode not in ("local", "ephemeral"):
        raise ValueError(f"GENESIS_PREFECT_SERVER must be 'local' or 'ephemeral', got {mode!r}")
    return mode
