"""PostgreSQL on 127.0.0.1 from Debian's server binaries, set up as the compose stack's.

``initdb`` into a fresh folder (password auth over TCP, trust on the private socket),
``postgres`` on a free loopback port with its socket in that folder, then the compose
stack's own init script (``infra/compose/postgres/init-databases.sh``) creates the roles
and databases ``prefect`` and ``mlflow``.  The server refuses to run as root: as root it
runs as the ``postgres`` system user that Debian's package creates.  Stopped by PID (a
fast shutdown), the folder removed.  Durability settings are off: a test database.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port, process, stop

REPO = Path(__file__).resolve().parents[2]
INIT_SCRIPT = REPO / "infra" / "compose" / "postgres" / "init-databases.sh"
SUPERUSER = "postgres"
BINARIES = ("initdb", "postgres", "pg_isready", "psql")


class PostgresMissing(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` (``GENESIS_TEST_PG_BINDIR`` wins)
    that holds every binary the fixture runs."""
    override = os.environ.get("GENESIS_TEST_PG_BINDIR")
    found = [Path(override)] if override else []
    if not found:
        majors = Path("/usr/lib/postgresql").glob("*/bin")
        found = sorted(majors, key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0))[::-1]
    for d in found:
        missing = [b for b in BINARIES if not (d / b).is_file()]
        if not missing:
            return d
    where = override or "/usr/lib/postgresql/*/bin"
    first = next((b for b in BINARIES if not found or not (found[0] / b).is_file()), BINARIES[0])
    raise PostgresMissing(
        f"PostgreSQL binary {first!r} not found in {where}: install the Debian package "
        "'postgresql' (scripts/test.sh does) or set GENESIS_TEST_PG_BINDIR"
    )


@dataclass(frozen=True)
class Postgres:
    """A running server: the application roles' passwords and their connection URLs."""

    port: int
    passwords: dict[str, str]  # role (= database) -> password
    socket_dir: Path

    def url(self, db: str, driver: str = "postgresql") -> str:
        """``driver://db:password@127.0.0.1:port/db`` for the role that owns ``db``."""
        return f"{driver}://{db}:{self.passwords[db]}@127.0.0.1:{self.port}/{db}"


def _run_as() -> tuple[str | None, int, int]:
    """Who runs the server: ourselves, or ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return None, os.getuid(), os.getgid()
    try:
        user = pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise PostgresMissing(
            "running as root but there is no 'postgres' system user to run PostgreSQL as: "
            "install the Debian package 'postgresql' (scripts/test.sh does)"
        ) from None
    return SUPERUSER, user.pw_uid, user.pw_gid


@contextmanager
def postgres_server(logs: Path, timeout: float = 60) -> Iterator[Postgres]:
    """Yield a fresh server with databases ``prefect`` and ``mlflow``; logs go to ``logs``."""
    bins = bindir()
    user, uid, gid = _run_as()
    as_user = {"user": uid, "group": gid, "extra_groups": []} if user else {}
    # Not under pytest's tmp folder: that is private to root, and the server's user must
    # own its data directory.
    folder = Path(tempfile.mkdtemp(prefix="genesis-pg-"))
    try:
        os.chown(folder, uid, gid)
        data, sock = folder / "data", folder / "sock"
        sock.mkdir()
        os.chown(sock, uid, gid)
        superpw = secrets.token_hex(16)
        pwfile = folder / "pwfile"
        pwfile.write_text(superpw + "\n")
        os.chown(pwfile, uid, gid)
        logs.mkdir(parents=True, exist_ok=True)
        initdb = [
            str(bins / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
        ]
        with open(logs / "initdb.log", "wb") as out:
            done = subprocess.run(
                initdb,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=120,
                **as_user,
            )
        pwfile.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"initdb exited {done.returncode}; see {logs / 'initdb.log'}")
        port = free_port()
        cmd = [
            str(bins / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(sock),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ]
        env = {"PGHOST": str(sock), "PGPORT": str(port), "PATH": f"{bins}:{os.environ['PATH']}"}

        def ready() -> bool:
            check = [str(bins / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
            return subprocess.run(check, timeout=10).returncode == 0

        with process(cmd, logs / "postgres.log", ready, "postgres", timeout, as_user=as_user) as pg:
            try:
                passwords = {db: secrets.token_hex(16) for db in ("prefect", "mlflow")}
                init_env = {
                    **os.environ,
                    **env,
                    "POSTGRES_USER": SUPERUSER,
                    "POSTGRES_PREFECT_PASSWORD": passwords["prefect"],
                    "POSTGRES_MLFLOW_PASSWORD": passwords["mlflow"],
                }
                init = subprocess.run(
                    ["bash", str(INIT_SCRIPT)],
                    env=init_env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                if init.returncode != 0:
                    raise RuntimeError(f"{INIT_SCRIPT.name} failed:\n{init.stderr[-2000:]}")
                yield Postgres(port, passwords, sock)
            finally:
                _fast_shutdown(pg)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fast_shutdown(pg: subprocess.Popen) -> None:
    """SIGINT to the postmaster: roll back open sessions and stop now (SIGTERM would wait
    for every client to leave)."""
    if pg.poll() is None:
        pg.send_signal(signal.SIGINT)
        try:
            pg.wait(30)
        except subprocess.TimeoutExpired:
            stop(pg)
