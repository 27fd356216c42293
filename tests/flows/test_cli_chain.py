"""The defaults work together: `genesis synth luna16` makes data that the default cubes and
`genesis nightly` accept end to end, and a target store can be inspected."""

from __future__ import annotations

import subprocess

import pytest
from typer.testing import CliRunner

from flows.cli import app
from genesis_core.store import CubeStore

runner = CliRunner()


def test_default_synth_then_nightly_trains_registers_and_then_stops_early(
    tmp_path, genesis_root, prefect_harness, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "incoming"
    made = runner.invoke(app, ["synth", "luna16", str(src), "--scans", "3"])  # default size
    assert made.exit_code == 0, made.output
    night = runner.invoke(app, ["nightly", str(src), "--dataset", "n", "--steps", "2"])
    assert night.exit_code == 0, night.output
    assert "genesis-unet3d v1" in night.output and "ui" in night.output
    store = CubeStore(str(genesis_root / "stores" / "n.zarr"))
    splits = store.split()
    assert store.cube_shape == (32, 64, 64)  # the default cube, from default phantoms
    assert all(len(splits[k]) > 0 for k in ("train", "val", "test")), {
        k: len(v) for k, v in splits.items()
    }
    second = runner.invoke(app, ["nightly", str(src), "--dataset", "n", "--steps", "2"])
    assert second.exit_code == 0 and "no new scans" in second.output, second.output
    # the printed hint runs as printed, from another folder, without an activated venv
    load = next(line for line in night.output.splitlines() if line.startswith("load it:"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    hint = load.removeprefix("load it:").strip()
    assert hint.endswith('"')
    ran = subprocess.run(
        hint[:-1] + "; print('loaded', m)\"",
        shell=True,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0 and "loaded" in ran.stdout, ran.stderr[-2000:]
    assert not (elsewhere / "mlflow.db").exists()  # no stray database where it ran


@pytest.mark.usefixtures("prefect_harness")
def test_inspect_a_target_store(tmp_path, genesis_root, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "src"
    runner.invoke(
        app, ["synth", "luna16", str(src), "--scans", "3", "--size", "96,96,48", "--fov-mm", "200"]
    )
    assert runner.invoke(app, ["ingest", str(src), "--dataset", "t"]).exit_code == 0
    built = runner.invoke(app, ["targets", "--dataset", "t", "--task", "ncc", "--cube", "32,32,16"])
    assert built.exit_code == 0, built.output
    png = tmp_path / "t.png"
    uri = str(genesis_root / "targets" / "t-ncc.zarr")
    shown = runner.invoke(app, ["inspect", uri, "--out", str(png), "--n", "4"])
    assert shown.exit_code == 0, shown.output
    assert "target store (ncc)" in shown.output and png.read_bytes()[:4] == b"\x89PNG"
    again = runner.invoke(app, ["targets", "--dataset", "t", "--task", "ncc", "--cube", "32,32,16"])
    assert again.exit_code == 0 and "nothing to do" in again.output, again.output
