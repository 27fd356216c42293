"""The stack tier (``-m stack``): the images built with podman, ``infra/compose/compose.yaml``
brought up, the nightly scenario run inside the containers and driven from this host, as
a user would (``prefect`` and MLflow clients on 127.0.0.1).

Not in the default suite; one command from a fresh clone: ``bash scripts/test-stack.sh``
(installs podman, builds the base image, runs this tier).  Set ``GENESIS_STACK_KEEP=1`` to
leave the stack running afterwards (``podman-compose -p genesis-stack-test ... down -v``).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Stack
from tests.stack.podman import COMPOSE, REPO, ComposeStack, available

PROJECT = "genesis-stack-test"
HOST_PORTS = (4200, 5000, 8333, 8786, 8787)  # the compose file's 127.0.0.1 ports
REPORT: list[str] = []  # timings and image sizes, printed at the end of the run


def pytest_collection_modifyitems(config, items) -> None:
    """Stack tests run only when asked for by marker (they build images for minutes)."""
    if "stack" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="the stack tier runs with -m stack (bash scripts/test-stack.sh)")
    for item in items:
        if "stack" in item.keywords:
            item.add_marker(skip)


def _env_file(path: Path, dask_tls: Path) -> Path:
    """Every variable of .env.example with a fresh random value (URL-safe, as it asks), and
    the folder of Dask's certificates, made as infra/README.md says (dask-tls.sh)."""
    example = (COMPOSE.parent / ".env.example").read_text(encoding="utf-8")
    names = re.findall(r"^([A-Z0-9_]+)=", example, flags=re.M)
    subprocess.run(
        ["bash", str(REPO / "infra" / "scripts" / "dask-tls.sh"), str(dask_tls)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    lines = [f"{n}={secrets.token_hex(16)}\n" for n in names]
    path.write_text("".join(lines) + f"GENESIS_DASK_TLS_DIR={dask_tls}\n")
    path.chmod(0o600)
    return path


def _env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _ports_free() -> None:
    taken = []
    for port in HOST_PORTS:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                taken.append(port)
    if taken:
        pytest.fail(
            f"127.0.0.1 ports {taken} are in use; the compose stack binds them "
            "(is another stack running? podman ps)"
        )


class ContainerStack(Stack):
    """The integration tier's ``Stack``, pointing at the compose stack's published ports."""

    compose: ComposeStack
    admin: dict[str, str]
    dask_tls: Path  # the CA and certificates of infra/scripts/dask-tls.sh

    def dask_security(self, role: str = "client"):
        """The Dask ``Security`` of a client holding the stack's client certificate."""
        from distributed.security import Security

        d = self.dask_tls
        return Security(
            tls_ca_file=str(d / "ca.pem"),
            tls_client_cert=str(d / f"{role}.pem"),
            tls_client_key=str(d / f"{role}.key"),
            require_encryption=True,
        )

    def dask_client(self, **kw):
        from distributed import Client

        return Client(self.dask_address, security=self.dask_security(), timeout="30s", **kw)

    def s3(self, admin: bool = False):
        import s3fs

        key, secret = (
            (self.admin["key"], self.admin["secret"])
            if admin
            else (self.aws["AWS_ACCESS_KEY_ID"], self.aws["AWS_SECRET_ACCESS_KEY"])
        )
        return s3fs.S3FileSystem(
            key=key,
            secret=secret,
            use_listings_cache=False,
            client_kwargs={"endpoint_url": self.s3_url, "region_name": "us-east-1"},
        )

    def storage_options(self) -> dict:
        return {
            "key": self.aws["AWS_ACCESS_KEY_ID"],
            "secret": self.aws["AWS_SECRET_ACCESS_KEY"],
            "client_kwargs": {"endpoint_url": self.s3_url, "region_name": "us-east-1"},
        }

    def location(self, uri: str):
        """The storage handle for ``uri`` on the stack's object store, from the host."""
        from genesis_core.io.storage import Location

        return Location(uri, self.storage_options())


@pytest.fixture(scope="session")
def compose_stack(tmp_path_factory) -> Iterator[ContainerStack]:
    why = available()
    if why:
        pytest.fail(f"the stack tier cannot run: {why}")
    _ports_free()
    work = tmp_path_factory.mktemp("compose")
    env_file = _env_file(work / ".env", work / "dask-tls")
    cs = ComposeStack(PROJECT, env_file, work)
    t0 = time.perf_counter()
    try:
        cs.build()
        cs.timings["build (all images)"] = time.perf_counter() - t0
        cs.up()
        cs.timings["build + up"] = time.perf_counter() - t0
        env = _env(env_file)
        aws = {
            "AWS_ACCESS_KEY_ID": env["S3_PIPELINE_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": env["S3_PIPELINE_SECRET_ACCESS_KEY"],
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        s = ContainerStack(
            prefect_url="http://127.0.0.1:4200/api",
            mlflow=None,
            mlflow_url="http://127.0.0.1:5000",
            s3_url="http://127.0.0.1:8333",
            db=None,
            bucket="genesis",
            root="s3://genesis/root",
            source="s3://genesis/incoming/",
            dask_address="tls://127.0.0.1:8786",
            secrets=dict(env),
            env={},
            aws=aws,
            tmp=work,
            prefect_auth=env["PREFECT_AUTH_STRING"],
            # the host browses the registry as the read-only viewer; the pipeline writes
            mlflow_auth=("viewer", env["MLFLOW_VIEWER_PASSWORD"]),
        )
        s.compose = cs
        s.dask_tls = work / "dask-tls"
        s.admin = {
            "key": env["S3_ADMIN_ACCESS_KEY_ID"],
            "secret": env["S3_ADMIN_SECRET_ACCESS_KEY"],
        }
        yield s
    finally:
        cs.timings["session"] = time.perf_counter() - t0
        try:
            if os.environ.get("GENESIS_STACK_KEEP") != "1":
                cs.down()
        finally:
            REPORT.extend(f"{k}: {v:.1f} s" for k, v in cs.timings.items())
            try:
                REPORT.extend(f"image {k}: {v / 1e6:,.0f} MB" for k, v in cs.image_sizes().items())
            except RuntimeError as exc:
                REPORT.append(f"image sizes unavailable: {exc}")


def pytest_terminal_summary(terminalreporter) -> None:
    if REPORT:
        terminalreporter.section("stack tier: timings and image sizes")
        for line in REPORT:
            terminalreporter.write_line(line)
