"""prefect.yaml against the code and the infrastructure that runs it."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.infra import helpers as h

PLACEHOLDER = re.compile(r"\{\{\s*\$(\w+)\s*\}\}")


def project() -> dict:
    return yaml.safe_load(h.PREFECT_YAML.read_text(encoding="utf-8"))


def deployments() -> dict[str, dict]:
    return {d["name"]: d for d in project()["deployments"]}


def test_prefect_yaml_parses_with_the_stages() -> None:
    assert {"ingest", "preprocess", "pretrain", "nightly"} <= set(deployments())
    assert project()["prefect-version"] == "3.9.1"


def test_entrypoints_are_flows_named_like_their_deployments() -> None:
    """`prefect deployment run 'FLOW/DEPLOYMENT'` in the READMEs relies on flow name == name."""
    from prefect import Flow

    for name, dep in deployments().items():
        path, _, func = dep["entrypoint"].partition(":")
        assert (h.ROOT / path).is_file(), path
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, func)
        assert isinstance(flow, Flow), f"{dep['entrypoint']} is not a Prefect flow"
        assert flow.name == name, f"flow {flow.name!r} behind deployment {name!r}"


def test_nightly_chains_to_an_existing_pretrain_deployment() -> None:
    target = deployments()["nightly"]["parameters"]["pretrain_deployment"]
    flow_name, _, deployment_name = target.partition("/")
    assert deployment_name in deployments()
    assert deployments()[deployment_name]["work_pool"]["name"] == "genesis-gpu"


def test_nightly_has_a_cron_schedule_with_an_explicit_timezone() -> None:
    from prefect.client.schemas.schedules import CronSchedule

    (schedule,) = deployments()["nightly"]["schedules"]
    assert schedule.get("timezone"), "an explicit timezone, or 02:00 drifts with the server's"
    CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])  # Prefect validates both
    with pytest.raises(ValueError):
        CronSchedule(cron=schedule["cron"], timezone="Europe/Nowhere")
    assert schedule.get("active", True)


def test_pull_step_has_no_hard_coded_absolute_paths() -> None:
    pull = project()["pull"]
    assert pull
    for _, node in h.walk(pull):
        if isinstance(node, str):
            assert not re.match(r"(/|~|[A-Za-z]:\\)", node), f"absolute path {node!r}"
    (step,) = pull
    directory = step["prefect.deployments.steps.set_working_directory"]["directory"]
    (var,) = PLACEHOLDER.findall(directory)
    for flavour in ("cpu", "cuda"):
        env = " ".join(
            r
            for w, r in h.dockerfile_instructions(h.DOCKER / f"Dockerfile.{flavour}")
            if w == "ENV"
        )
        assert f"{var}=/opt/genesis" in env, f"Dockerfile.{flavour} does not set {var}"


def test_deploy_time_placeholders_are_set_where_prefect_deploy_runs() -> None:
    needed = set(PLACEHOLDER.findall(h.PREFECT_YAML.read_text(encoding="utf-8")))
    setup = h.services()["prefect-setup"]
    assert "prefect deploy --all --no-prompt" in " ".join(h.command_of(setup))
    image_env = " ".join(
        r for w, r in h.dockerfile_instructions(h.DOCKER / "Dockerfile.cpu") if w == "ENV"
    )
    provided = set(h.env_of(setup)) | set(re.findall(r"(\w+)=", image_env))
    assert needed <= provided, f"unresolved at deploy time: {needed - provided}"
    readme = h.README.read_text(encoding="utf-8")
    for var in needed:
        assert f"{var}=" in readme, f"the README's k8s deploy command does not set {var}"


# --- against a real Prefect server (slow tier) -------------------------------------------


@pytest.mark.slow
@pytest.mark.integration
def test_work_pools_and_deployments_register_on_a_real_server(tmp_path) -> None:
    """Create the Kubernetes work pools from the templates and `prefect deploy --all`."""
    from tests.servers import bin_path, free_port, http_ok, process

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
        "GENESIS_PROJECT_DIR": "/opt/genesis",
        "GENESIS_NIGHTLY_SOURCE": "s3://genesis/incoming/",
    }
    prefect = bin_path("prefect")
    server = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with process(
        server, tmp_path / "server.log", http_ok(f"{api}/health"), "prefect server", 120, env
    ):

        def run(*args: str) -> str:
            r = subprocess.run(
                [prefect, *args],
                env=env,
                cwd=h.ROOT,
                capture_output=True,
                encoding="utf-8",
                timeout=300,
            )
            assert r.returncode == 0, r.stdout + r.stderr
            return r.stdout

        for pool in ("genesis-cpu", "genesis-gpu"):
            run(
                "work-pool",
                "create",
                pool,
                "--type",
                "kubernetes",
                "--base-job-template",
                str(h.POOLS / f"{pool}.json"),
            )
        run("deploy", "--all", "--no-prompt")
        script = (
            "import asyncio, json\n"
            "from prefect.client.orchestration import get_client\n"
            "async def main():\n"
            "    async with get_client() as c:\n"
            "        ds = await c.read_deployments()\n"
            "        print(json.dumps({d.name: [d.work_pool_name, d.pull_steps, d.parameters,\n"
            "            [[s.schedule.cron, s.schedule.timezone] for s in d.schedules]] for d in ds}))\n"
            "asyncio.run(main())\n"
        )
        out = subprocess.run(
            [bin_path("python"), "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(got) == set(deployments())
    for name, (pool, pull, *_) in got.items():
        assert pool == deployments()[name]["work_pool"]["name"]
        assert pull == [
            {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/genesis"}}
        ]
    assert got["nightly"][2]["sources"] == ["s3://genesis/incoming/"]
    assert got["nightly"][3] == [["0 2 * * *", "Europe/Berlin"]]
    assert Path(h.POOLS / "genesis-gpu.json").is_file()


def _flow(dep: dict):
    path, _, func = dep["entrypoint"].partition(":")
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), func)


def test_deployment_parameters_validate_against_their_flows() -> None:
    """Prefect validates a run's parameters with the flow's signature: what prefect.yaml sets
    (placeholders filled) must pass, or every scheduled run fails before it starts."""
    for name, dep in deployments().items():
        params = json.loads(PLACEHOLDER.sub("s3://b/x", json.dumps(dep.get("parameters") or {})))
        required = {
            "ingest": {"source": "s3://b/x", "dataset": "d"},
            "preprocess": {"dataset": "d"},
        }
        required |= {"targets": {"dataset": "d", "task": "ncc"}, "finetune": {"task": "ncc"}}
        required |= {"evaluate": {"task": "ncc"}}
        _flow(dep).validate_parameters({**required.get(name, {}), **params})


def test_list_parameters_are_json_lists_not_comma_strings() -> None:
    """``prefect deployment run -p cube='[32, 32, 16]'`` (JSON) is what the flows take; the
    CLI's comma strings stop at the CLI and are refused here, naming the parameter."""
    from prefect.exceptions import ParameterTypeError

    deps = deployments()
    pre = _flow(deps["preprocess"])
    got = pre.validate_parameters(
        {"dataset": "d", **json.loads('{"cube": [32, 32, 16], "spacing": null, "border": "auto"}')}
    )
    assert got["cube"] == (32, 32, 16) and got["spacing"] is None
    from prefect.utilities.callables import parameter_schema

    form = parameter_schema(pre.fn).model_dump()["properties"]  # the UI's form of a run
    assert form["cube"]["type"] == "array" and form["cube"]["default"] == [64, 64, 32]
    ev = _flow(deps["evaluate"]).validate_parameters(
        {"task": "ncc", "inits": ["scratch", "genesis"], "label_fractions": [0.5, 1]}
    )
    assert ev["label_fractions"] == [0.5, 1.0]
    night = _flow(deps["nightly"]).validate_parameters(
        {"sources": ["s3://b/x"], "cube": [32, 32, 16], "cubes_per_scan": 4}
    )
    assert night["cube"] == (32, 32, 16)
    for flow, params in (
        (pre, {"dataset": "d", "cube": "32,32,16"}),
        (_flow(deps["evaluate"]), {"task": "ncc", "label_fractions": "0.5,1.0"}),
        (_flow(deps["targets"]), {"dataset": "d", "task": "seg", "label": "spleen"}),
    ):
        with pytest.raises(ParameterTypeError):
            flow.validate_parameters(params)
