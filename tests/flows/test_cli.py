"""The `genesis` command line: exit codes and the store inspection picture."""

from __future__ import annotations

from typer.testing import CliRunner

from flows.cli import app
from tests.helpers.stores import phantom_store

runner = CliRunner()


def text(result) -> str:
    """The output with rich's line wrapping undone (it wraps at the terminal width, so a long
    temporary path moves the break)."""
    return " ".join(result.output.split())


def test_ingest_missing_source_exits_2(tmp_path) -> None:
    result = runner.invoke(
        app, ["ingest", str(tmp_path / "nope"), "--dataset", "d", "--root", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "is not a folder" in text(result)


def test_inspect_writes_a_montage(tmp_path) -> None:
    uri = phantom_store(str(tmp_path / "s.zarr"))
    png = tmp_path / "m.png"
    result = runner.invoke(app, ["inspect", uri, "--out", str(png), "--n", "3"])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert "48" in result.output  # 6 scans × 8 cubes


def test_inspect_empty_store_exits_2(tmp_path) -> None:
    result = runner.invoke(app, ["inspect", str(tmp_path / "missing.zarr")])
    assert result.exit_code == 2 and "no committed scans" in text(result)


def test_synth_writes_luna16_layout(tmp_path) -> None:
    result = runner.invoke(
        app, ["synth", "luna16", str(tmp_path / "d"), "--scans", "2", "--size", "96,96,48"]
    )
    assert result.exit_code == 0, result.output
    assert (
        len(list((tmp_path / "d").rglob("*.mhd"))) == 2
        and (tmp_path / "d" / "candidates.csv").exists()
    )
