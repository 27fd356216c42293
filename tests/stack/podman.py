"""The compose stack of ``infra/compose/compose.yaml`` under podman, on this machine.

The compose file is the one users run with Docker.  What this module adds is only what
this machine forces (infra/README.md, "The stack in containers"):

- **no container registry**: every base image is ``localhost/genesis-base:bookworm``, built
  from Debian's archive by ``scripts/stack-base-image.sh`` (``GENESIS_PYTHON_IMAGE`` and
  ``GENESIS_DEBIAN_IMAGE``, the compose file's own build arguments);
- **pip behind a TLS-intercepting proxy**: the host pip's CA bundle is a build secret, and
  the PyTorch CPU index is out of reach, so the CPU wheel comes from the host's wheel
  folder, mounted into the build;
- **the runtime and limits**: ``runc`` (``crun`` fails on this kernel's cgroup layout) and
  ulimits within the machine's hard limits, in a private ``containers.conf``;
- **podman 4.3 and no systemd**: podman-compose cannot wait for ``service_healthy`` here
  and podman's health-check timers need systemd, so services are started one at a time in
  dependency order and this module runs the health checks and waits for the one-shot
  services itself, as the compose file's ``depends_on`` conditions say;
- **no GPU**: ``--profile no-gpu``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "infra" / "compose" / "compose.yaml"
DOCKERFILES = REPO / "infra" / "docker"
BASE_IMAGE = "localhost/genesis-base:bookworm"
PROFILE = "no-gpu"


def _pip_cert() -> str | None:
    """The CA bundle the host's pip is configured with (``cert``), if any."""
    if os.environ.get("PIP_CERT"):
        return os.environ["PIP_CERT"]
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith(".cert"):
            return value.strip().strip("'\"")
    return None


def _torch_wheels() -> str | None:
    """A local folder holding the torch CPU wheel (pip's find-links), if the host has one."""
    for folder in filter(None, os.environ.get("PIP_FIND_LINKS", "/opt/wheels").split()):
        if any(Path(folder).glob("torch-2.13.0+cpu-*.whl")):
            return folder
    return None


def containers_conf(path: Path) -> Path:
    """runc, and ulimits under the machine's hard limits (podman's defaults exceed them)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 65536 if nofile == resource.RLIM_INFINITY else min(nofile, 65536)
    nproc = 32768 if nproc == resource.RLIM_INFINITY else min(nproc // 2, 32768)
    path.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
    )
    return path


@dataclass
class ComposeStack:
    """One compose project: build, up in dependency order, exec, kill, down."""

    project: str
    env_file: Path
    workdir: Path
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.conf = containers_conf(self.workdir / "containers.conf")
        self.spec = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))

    # ------------------------------------------------------------------ commands

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.conf),
            "GENESIS_PYTHON_IMAGE": BASE_IMAGE,
            "GENESIS_DEBIAN_IMAGE": BASE_IMAGE,
        }

    def podman(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        res = subprocess.run(
            ["podman", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and res.returncode != 0:
            raise RuntimeError(
                f"podman {' '.join(args)} failed ({res.returncode}):\n"
                f"{(res.stdout or '')[-3000:]}{(res.stderr or '')[-3000:]}"
            )
        return res

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        cmd = [
            str(Path(sys.executable).with_name("podman-compose")),
            "-p",
            self.project,
            "-f",
            str(COMPOSE),
            "--env-file",
            str(self.env_file),
            "--profile",
            PROFILE,
            *args,
        ]
        res = subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if res.returncode != 0:
            raise RuntimeError(
                f"podman-compose {' '.join(args)} failed ({res.returncode}):\n"
                f"{res.stdout[-3000:]}{res.stderr[-3000:]}"
            )
        return res

    # ------------------------------------------------------------------ images

    def images(self) -> dict[str, tuple[str, str]]:
        """image tag → (Dockerfile, base-image build argument) of every active service."""
        out: dict[str, tuple[str, str]] = {}
        for svc in self.active().values():
            build = svc.get("build")
            if build:
                (arg,) = build.get("args", {}) or {"PYTHON_IMAGE": None}
                out[svc["image"]] = (build["dockerfile"], arg)
        return out

    def build(self) -> dict[str, float]:
        """Build every image the active services need (layers cached); seconds per image."""
        cert, wheels = _pip_cert(), _torch_wheels()
        for tag, (dockerfile, base_arg) in sorted(self.images().items()):
            args = [
                "build",
                "-f",
                dockerfile,
                "--ignorefile",
                f"{dockerfile}.dockerignore",
                "-t",
                tag,
                "--build-arg",
                f"{base_arg}={BASE_IMAGE}",
            ]
            if cert:
                args += ["--secret", f"id=pip-cert,src={cert}"]
            if wheels and dockerfile.endswith("Dockerfile.cpu"):
                args += [
                    "-v",
                    f"{wheels}:/wheels:ro",
                    "--build-arg",
                    "PIP_FIND_LINKS=/wheels",
                    "--build-arg",
                    "TORCH_INDEX_URL=https://pypi.org/simple",
                ]
            t0 = time.perf_counter()
            res = subprocess.run(
                ["podman", *args, "."],
                cwd=REPO,
                env=self.env,
                text=True,
                capture_output=True,
                timeout=3600,
                check=False,
            )
            if res.returncode != 0:
                raise RuntimeError(
                    f"building {tag} from {dockerfile} failed:\n"
                    f"{res.stdout[-4000:]}{res.stderr[-4000:]}"
                )
            self.timings[f"build {tag}"] = time.perf_counter() - t0
        return self.timings

    def image_sizes(self) -> dict[str, int]:
        sizes = {}
        for tag in self.images():
            out = self.podman("image", "inspect", tag, "--format", "{{.Size}}").stdout
            sizes[tag] = int(out.strip())
        return sizes

    # ------------------------------------------------------------------ services

    def active(self) -> dict[str, dict]:
        """The services of the compose file that run with ``--profile no-gpu``."""
        return {
            name: svc
            for name, svc in self.spec["services"].items()
            if not svc.get("profiles") or PROFILE in svc["profiles"]
        }

    def order(self) -> list[str]:
        """Services in dependency order (the compose file's ``depends_on``)."""
        services, done, out = self.active(), set(), []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in done:
                return
            if name in path:
                raise ValueError(f"depends_on cycle: {' → '.join((*path, name))}")
            for dep in services[name].get("depends_on", {}):
                visit(dep, (*path, name))
            done.add(name)
            out.append(name)

        for name in services:
            visit(name, ())
        return out

    def containers(self, service: str) -> list[str]:
        out = self.podman(
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ).stdout
        return sorted(out.split())

    def container(self, service: str) -> str:
        names = self.containers(service)
        if not names:
            raise RuntimeError(f"service {service} has no container")
        return names[0]

    def wait_healthy(self, service: str, timeout: float = 300) -> None:
        """Run the service's health check (no systemd timers here) until it passes."""
        deadline = time.monotonic() + timeout
        for name in self.containers(service):
            while True:
                res = self.podman("healthcheck", "run", name, check=False, timeout=60)
                if res.returncode == 0:
                    break
                state = self.podman("inspect", name, "--format", "{{.State.Status}}").stdout.strip()
                if state in {"exited", "stopped"} or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{name} not healthy ({state}) after {timeout:.0f}s:\n{self.logs(service)}"
                    )
                time.sleep(2)

    def wait_completed(self, service: str, timeout: float = 600) -> None:
        name = self.container(service)
        code = self.podman("wait", name, timeout=timeout).stdout.strip()
        if code != "0":
            raise RuntimeError(f"one-shot {service} exited with {code}:\n{self.logs(service)}")

    def up(self) -> None:
        """Start every service once its dependencies meet their conditions."""
        services = self.active()
        conditions: dict[str, str] = {}
        for svc in services.values():
            for dep, spec in (svc.get("depends_on") or {}).items():
                conditions[dep] = (spec or {}).get("condition", "service_started")
        for name in self.order():
            t0 = time.perf_counter()
            self.compose("up", "-d", "--no-deps", name)
            cond = conditions.get(name)
            if cond == "service_healthy":
                self.wait_healthy(name)
            elif cond == "service_completed_successfully":
                self.wait_completed(name)
            elif services[name].get("healthcheck"):
                self.wait_healthy(name)
            self.timings[f"up {name}"] = time.perf_counter() - t0

    def down(self) -> None:
        self.compose("down", "-v", "-t", "10", timeout=300)

    def logs(self, service: str, tail: int = 80) -> str:
        out = []
        for name in self.containers(service):
            res = self.podman("logs", "--tail", str(tail), name, check=False)
            out.append(f"--- {name}\n{res.stdout}{res.stderr}")
        return "\n".join(out)

    def inspect(self, name: str) -> dict:
        return json.loads(self.podman("inspect", name).stdout)[0]


def available() -> str | None:
    """Why the stack tier cannot run here, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed (bash scripts/stack-setup.sh installs it)"
    if not Path(sys.executable).with_name("podman-compose").exists():
        return "podman-compose is not installed in this environment"
    res = subprocess.run(["podman", "image", "exists", BASE_IMAGE], check=False)
    if res.returncode != 0:
        return f"base image {BASE_IMAGE} missing (bash scripts/stack-setup.sh builds it)"
    return None
