"""The command line as a user meets it: one error style, ``--version``, "nothing to do"
without starting anything, ``inspect`` on target stores, progress names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flows.cli import app
from flows.console import friendly
from genesis_core.synth import write_luna16

runner = CliRunner()
GENESIS = str(Path(sys.executable).with_name("genesis"))


def lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


@pytest.fixture()
def isolated(tmp_path, monkeypatch, genesis_root):
    monkeypatch.chdir(tmp_path)
    return genesis_root


BAD = [
    (["preprocess", "--dataset", "d", "--spacing", "abc"], "--spacing"),
    (["preprocess", "--dataset", "d", "--cube", "30,30,30"], "--cube"),
    (["preprocess", "--dataset", "d", "--border", "1,x,2"], "--border"),
    (["preprocess", "--dataset", "d", "--acceptance", "liver"], "--acceptance"),
    (["preprocess", "--dataset", "d", "--cubes-per-scan", "0"], "--cubes-per-scan"),
    (["preprocess", "--dataset", "d", "--preset", "nnunet"], "--preset"),
    (["pretrain", "--dataset", "d", "--sampling", "shuffled"], "--sampling"),
    (["pretrain", "--dataset", "d", "--profile", "huge"], "--profile"),
    (["pretrain", "--dataset", "d", "--mode", "exact"], "--mode"),
    (["pretrain"], "--store"),
    (["targets", "--dataset", "d", "--task", "seg"], "--label"),
    (["targets", "--dataset", "d", "--task", "xyz"], "--task"),
    (["targets", "--dataset", "d", "--task", "ncc", "--spacing", "0"], "--spacing"),
    (["finetune", "--task", "ncc", "--fraction", "1.5"], "--fraction"),
    (["finetune", "--task", "ncc"], "--store"),
    (
        ["evaluate", "--task", "ncc", "--store", "x", "--label-fractions", "0,2"],
        "--label-fractions",
    ),
    (["evaluate", "--task", "ncc", "--store", "x", "--inits", "imagenet"], "--inits"),
    (["synth", "luna16", "out", "--size", "64,64"], "--size"),
    (["synth", "luna16", "out", "--slice-mm", "3,1"], "--slice-mm"),
    (["store", "gc", "x", "--grace-hours", "-1"], "--grace-hours"),
    (["ui", "--port", "0"], "--port"),
    (["ingest"], "source"),
    (["nope"], "nope"),
]


@pytest.mark.parametrize("args, option", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_argument_is_one_line_naming_the_option(isolated, args, option) -> None:
    result = runner.invoke(app, args)
    out = lines(result)
    assert result.exit_code == 2, result.output
    assert len(out) == 1 and out[0].startswith("error:") and option in out[0], result.output
    assert not (isolated / "prefect").exists()  # nothing was started


MISSING = [
    (["preprocess", "--dataset", "none"], "genesis ingest"),
    (["targets", "--dataset", "none", "--task", "ncc"], "genesis ingest"),
    (["pretrain", "--dataset", "none"], "genesis preprocess"),
    (
        ["finetune", "--task", "ncc", "--dataset", "none"],
        "genesis targets --dataset none --task ncc",
    ),
    (
        ["evaluate", "--task", "lcs", "--dataset", "none"],
        "genesis targets --dataset none --task lcs",
    ),
    (["inspect", "nothing.zarr"], "genesis preprocess"),
    (["store", "verify", "nothing.zarr"], "genesis preprocess"),
    (["ingest", "no-such-folder", "--dataset", "d"], "is not a folder"),
]


@pytest.mark.parametrize("args, fix", MISSING, ids=[" ".join(a) for a, _ in MISSING])
def test_a_missing_input_is_one_line_naming_the_fix(isolated, args, fix) -> None:
    result = runner.invoke(app, args)
    errors = [line for line in lines(result) if line.startswith("error:")]
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert len(errors) == 1 and fix in text and "Traceback" not in text, result.output
    assert text.endswith(" ".join(text.split("error:", 1)[1].split()))  # the error comes last


def test_an_unexpected_failure_is_one_line_and_exit_1(capsys, monkeypatch) -> None:
    monkeypatch.delenv("GENESIS_VERBOSE", raising=False)

    def broken() -> None:
        raise ZeroDivisionError("a bug")

    with pytest.raises(typer.Exit) as exit_info:
        friendly(broken)()
    assert exit_info.value.exit_code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected ZeroDivisionError: a bug" in err
    assert "--verbose" in err


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("genesis 0.")


def _genesis(args: list[str], root: Path, **env: str) -> subprocess.CompletedProcess:
    """The installed command in a fresh process, as a user runs it."""
    base = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return subprocess.run(
        [GENESIS, *args],
        env={**base, "GENESIS_ROOT": str(root), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRE = ["preprocess", "--dataset", "d", "--cube", "32,32,16", "--cubes-per-scan", "4"]


def test_a_rerun_with_nothing_new_says_why_and_starts_nothing(
    isolated, tmp_path, prefect_harness
) -> None:
    src = tmp_path / "src"
    write_luna16(src, scans=3, seed=0, size_xyz=(96, 96, 48))
    assert runner.invoke(app, ["ingest", str(src), "--dataset", "d"]).exit_code == 0
    first = runner.invoke(app, PRE)
    assert first.exit_code == 0, first.output
    # in a fresh process with the long-lived server mode on: a rerun must not need it
    for args in (["ingest", str(src), "--dataset", "d"], PRE):
        out = _genesis(args, isolated, GENESIS_PREFECT_SERVER="local")
        assert out.returncode == 0, out.stderr
        assert "nothing to do:" in out.stdout and "--force" in out.stdout, out.stdout
    assert not (isolated / "prefect").exists()  # no Prefect server was started
    # new input is noticed: a fourth scan makes both stages run again
    write_luna16(src, scans=4, seed=0, size_xyz=(96, 96, 48))
    assert "nothing to do" not in runner.invoke(app, ["ingest", str(src), "--dataset", "d"]).output
    rerun = runner.invoke(app, PRE)
    assert rerun.exit_code == 0 and "nothing to do" not in rerun.output, rerun.output


def test_a_changed_config_is_refused_before_anything_starts(isolated, tmp_path, prefect_harness):
    src = tmp_path / "src"
    write_luna16(src, scans=3, seed=0, size_xyz=(96, 96, 48))
    runner.invoke(app, ["ingest", str(src), "--dataset", "d"])
    assert runner.invoke(app, PRE).exit_code == 0
    other = runner.invoke(app, [*PRE[:-1], "5"])
    text = " ".join(other.output.split())
    assert other.exit_code == 2 and "another config (sampling.n: 4 → 5)" in text, text
