"""The preprocess flow: Dask fan-out, manifest commit, idempotent reruns, failures recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genesis_core import catalog
from genesis_core.preprocess import preprocess_scan
from genesis_core.store import CubeStore
from genesis_core.synth import write_luna16

PARAMS = dict(spacing=(1.0, 1.0, 1.0), cube=(32, 32, 16), cubes_per_scan=6, seed=3, workers=2)


@pytest.fixture(scope="module")
def luna_source(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("luna") / "src"
    write_luna16(src, scans=5, seed=11, size_xyz=(256, 256, 112))
    return src


@pytest.fixture()
def ingested(prefect_harness, genesis_root, luna_source):
    from flows.ingest import ingest_flow

    report = ingest_flow(source=str(luna_source), dataset="luna")
    assert report.ok == 5
    return report


def test_preprocess_commits_and_rerun_is_a_noop(ingested, genesis_root) -> None:
    from flows.preprocess import preprocess_flow

    first = preprocess_flow(dataset="luna", **PARAMS)
    assert first.done == 5 and not first.failed
    store = CubeStore(first.store_uri)
    assert len(store) == first.cubes_in_store == first.cubes_written > 0
    assert store.cube_shape == (16, 32, 32)
    assert first.store_bytes > 0

    again = preprocess_flow(dataset="luna", **PARAMS)
    assert again.planned == 0 and again.manifest_version == first.manifest_version

    forced = preprocess_flow(dataset="luna", force=True, **PARAMS)
    assert forced.planned == 5 and forced.manifest_version > first.manifest_version
    again_store = CubeStore(forced.store_uri)
    assert np.array_equal(again_store.read(range(len(again_store))), store.read(range(len(store))))


def test_same_cubes_as_a_plain_sequential_run(ingested, genesis_root, tmp_path) -> None:
    from flows.preprocess import build_config, preprocess_flow

    report = preprocess_flow(dataset="luna", **PARAMS)
    cfg = build_config(PARAMS["spacing"], PARAMS["cube"], PARAMS["cubes_per_scan"], PARAMS["seed"])
    df = catalog.load(catalog.catalog_uri(str(genesis_root), "luna"))
    seq_uri = str(tmp_path / "seq.zarr")
    seq = {}
    for row in df.to_dict("records"):
        out = preprocess_scan(row, cfg, seq_uri, str(tmp_path / "cache"))
        assert out["status"] == "ok", out
        seq[row["scan_id"]] = out
    par = CubeStore(report.store_uri)
    import zarr

    for sid in par.scan_ids:
        mine = par.scan_cubes(sid)
        theirs = zarr.open_group(seq_uri, mode="r")[f"{seq[sid]['path']}/cubes"][...]
        assert np.array_equal(mine, theirs), sid
        assert par.manifest.scans[sid].checksum == seq[sid]["checksum"], sid


def test_different_seed_gives_different_cubes(ingested, genesis_root, tmp_path) -> None:
    from flows.preprocess import preprocess_flow

    a = preprocess_flow(dataset="luna", store=str(tmp_path / "a.zarr"), **PARAMS)
    b = preprocess_flow(dataset="luna", store=str(tmp_path / "b.zarr"), **{**PARAMS, "seed": 4})
    sa, sb = CubeStore(a.store_uri), CubeStore(b.store_uri)
    assert sa.provenance(0)["origin_zyx"] != sb.provenance(0)["origin_zyx"]


def test_scan_failing_late_is_quarantined_and_others_finish(
    ingested, genesis_root, luna_source, tmp_path
) -> None:
    import shutil

    from flows.preprocess import preprocess_flow

    src = tmp_path / "copy"
    shutil.copytree(luna_source, src)
    from flows.ingest import ingest_flow

    ingest_flow(source=str(src), dataset="copy")
    victim = sorted(src.rglob("*.raw"))[0]
    victim.write_bytes(victim.read_bytes()[:1000])  # corrupted after ingest
    report = preprocess_flow(dataset="copy", **PARAMS)
    assert report.done == 4 and len(report.failed) == 1
    assert victim.stem in report.failed[0].reason and "truncated" in report.failed[0].reason
    df = catalog.load(catalog.catalog_uri(str(genesis_root), "copy")).set_index("scan_id")
    assert df.loc[victim.stem, "status"] == "quarantined"
    assert df.loc[victim.stem, "reason"].startswith("preprocess failed:")
    assert preprocess_flow(dataset="copy", **PARAMS).planned == 0


@pytest.mark.integration
def test_attached_to_a_real_dask_scheduler_matches_local(
    ingested, dask_scheduler, tmp_path
) -> None:
    from flows.preprocess import preprocess_flow

    local = preprocess_flow(dataset="luna", store=str(tmp_path / "local.zarr"), **PARAMS)
    remote = preprocess_flow(
        dataset="luna",
        store=str(tmp_path / "remote.zarr"),
        scheduler=dask_scheduler["address"],
        **PARAMS,
    )
    a, b = CubeStore(local.store_uri), CubeStore(remote.store_uri)
    assert a.scan_ids == b.scan_ids and len(a) == len(b)
    assert np.array_equal(a.read(range(len(a))), b.read(range(len(b))))


def test_paper_preset_is_the_references_cube_geometry() -> None:
    from flows.preprocess import build_config

    cfg = build_config(preset="paper")
    assert cfg.spacing_xyz is None  # native spacing, as the reference
    assert cfg.sampling.border_xyz == (100, 100, 30)
    assert cfg.sampling.cube_xyz == (64, 64, 32)
    assert build_config(border=(10, 20, 5)).sampling.border_xyz == (10, 20, 5)
    assert build_config().sampling.border_xyz == "auto"
    with pytest.raises(ValueError, match="border must be"):
        build_config(border=(10, -1, 5))


def test_the_cli_strings_parse_to_the_flows_typed_values() -> None:
    """Comma strings end at the CLI: each parses to the value the flow takes, and a bad one
    is the same one-line message as always."""
    from flows.options import build_config, parse_border, parse_cube, parse_spacing

    assert parse_spacing("1") == parse_spacing("1,1,1") == (1.0, 1.0, 1.0)
    assert parse_spacing("native") is None
    assert parse_cube("32,32,16") == (32, 32, 16)
    assert parse_border("10,20,5") == (10, 20, 5) and parse_border("auto") == "auto"
    for parse, bad, message in (
        (
            parse_spacing,
            "1,x",
            "spacing must be 'native', one value or X,Y,Z in mm (> 0), got '1,x'",
        ),
        (
            parse_cube,
            "30,32,16",
            "cube must be X,Y,Z with each side divisible by 8, got '30,32,16'",
        ),
        (parse_border, "10,x,5", "border must be 'auto' or X,Y,Z voxels (>= 0), got '10,x,5'"),
    ):
        with pytest.raises(ValueError) as e:
            parse(bad)
        assert str(e.value) == message
    # equal values, equal configs (and config hashes: a store built from the CLI's strings
    # is the store a deployment's JSON lists build)
    assert (
        build_config(parse_spacing("1"), parse_cube("32,32,16")).hash()
        == build_config([1, 1, 1], [32, 32, 16]).hash()
    )


def test_flow_parameters_take_lists_and_refuse_comma_strings() -> None:
    """Prefect validates flow parameters with pydantic: a deployment's JSON lists become the
    typed tuples; a comma string (the old form) is refused before the flow starts."""
    from prefect.exceptions import ParameterTypeError

    from flows.preprocess import preprocess_flow

    got = preprocess_flow.validate_parameters(
        {"dataset": "d", "spacing": [1, 1, 2], "cube": [32, 32, 16], "border": [10, 20, 5]}
    )
    assert got["spacing"] == (1.0, 1.0, 2.0) and got["cube"] == (32, 32, 16)
    assert got["border"] == (10, 20, 5)
    native = preprocess_flow.validate_parameters({"dataset": "d", "spacing": None})
    assert native["spacing"] is None
    assert (
        preprocess_flow.validate_parameters({"dataset": "d", "border": "auto"})["border"] == "auto"
    )
    with pytest.raises(ParameterTypeError):
        preprocess_flow.validate_parameters({"dataset": "d", "spacing": "1,1,1"})


def test_paper_preset_skips_a_scan_too_short_for_the_reference_borders() -> None:
    """The reference skips scans with fewer than 32 + 3 + 2·30 slices (its Z border is 30)."""
    from flows.preprocess import build_config
    from genesis_core.preprocess import cubes_from_volume
    from genesis_core.volume import Volume

    hu = np.full((90, 300, 300), -800, np.int16)  # 90 slices: too short for 30 + 35 + 30
    _, cubes, _, _, reason = cubes_from_volume(
        Volume(hu, (0.7, 0.7, 2.5)), "short", build_config(preset="paper")
    )
    assert len(cubes) == 0 and "too small for borders" in reason
