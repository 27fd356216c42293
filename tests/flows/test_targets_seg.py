"""A generic segmentation target from an MSD-layout dataset, foreground named by label."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genesis_core.volume import Volume
from tests.helpers import volumes


def _msd(root, n: int = 2):
    (root / "dataset.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(
        json.dumps({"name": "Toy", "labels": {"0": "background", "1": "organ", "2": "cyst"}})
    )
    labels = {}
    for i in range(n):
        image = volumes.volume(shape_zyx=(40, 72, 72), spacing=(1.0, 1.0, 1.0), seed=i)
        lab = np.zeros(image.array.shape, np.uint8)
        lab[5:35, 10:60, 10:60] = 1  # organ
        lab[15:25, 25 + i : 40 + i, 30:45] = 2  # cyst inside it
        volumes.write(image, root / "imagesTr" / f"toy_{i}.nii.gz")
        volumes.write(
            Volume(lab, image.spacing, image.origin, image.direction),
            root / "labelsTr" / f"toy_{i}.nii.gz",
        )
        labels[f"toy_{i}"] = lab
    return labels


def test_seg_target_takes_the_named_label_as_foreground(
    prefect_harness, genesis_root, tmp_path, monkeypatch
):
    from flows.ingest import ingest_flow
    from flows.targets import targets_flow
    from genesis_core.targets import TargetStore

    labels = _msd(tmp_path / "msd", n=4)
    ingest_flow(source=str(tmp_path / "msd"), dataset="toy")
    report = targets_flow(
        dataset="toy",
        task="seg",
        label=["cyst"],
        spacing=None,  # native
        cube=(16, 16, 8),
        samples_per_scan=4,
        foreground_ratio=1.0,
        workers=1,
    )
    assert report.done == 4, report
    store = TargetStore(report.store_uri)
    assert store.task == "seg" and len(store) == 16
    _, masks = store.read(range(len(store)))
    for i in range(len(store)):
        p = store.provenance(i)
        z, y, x = p["origin_zyx"]
        expected = labels[p["scan_id"]][z : z + 8, y : y + 16, x : x + 16] == 2
        assert np.array_equal(masks[i].astype(bool), expected), "mask = the cyst label only"
        assert expected.any(), "foreground_ratio 1: every cube is centred on the cyst"

    from flows.finetune import finetune_flow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert report.store_uri.endswith("toy-seg-cyst.zarr"), "the label names the store"
    fit = finetune_flow(task="seg", init="scratch", dataset="toy", label=["cyst"], steps=2)
    assert fit.registration.versions == (1,) and 0.0 <= fit.fit.score("iou") <= 1.0, fit
    assert fit.registration.model_name == "genesis-seg-toy-cyst", "one champion per label"

    with pytest.raises(ValueError, match="no label named 'tumor'.*cyst=2"):
        targets_flow(dataset="toy", task="seg", label=["tumor"], workers=1)
    with pytest.raises(ValueError, match="needs --label"):
        targets_flow(dataset="toy", task="seg", workers=1)


def test_target_names_carry_the_label() -> None:
    from flows.options import default_model_name, target_store_uri

    organ = target_store_uri("/r", "toy", "seg", "organ")
    assert organ != target_store_uri("/r", "toy", "seg", "cyst")
    assert organ.endswith("targets/toy-seg-organ.zarr")
    assert target_store_uri("/r", "luna", "ncc").endswith("targets/luna-ncc.zarr")
    assert target_store_uri("/r", "toy", "seg", "1,2").endswith("toy-seg-1-2.zarr")
    # the flows take the label as a list: the same names as the CLI's comma string
    assert target_store_uri("/r", "toy", "seg", ["1", "2"]) == target_store_uri(
        "/r", "toy", "seg", "1,2"
    )
    assert default_model_name("seg", "toy", ["Left Kidney"], organ) == "genesis-seg-toy-left-kidney"
    assert default_model_name("seg", "toy", "Left Kidney", organ) == "genesis-seg-toy-left-kidney"
    assert default_model_name("ncc", "luna", None, "/r/targets/luna-ncc.zarr") == "genesis-ncc"
    assert default_model_name("seg", None, None, organ) == "genesis-seg-toy-seg-organ"
    with pytest.raises(ValueError, match="needs --label"):
        target_store_uri("/r", "toy", "seg")
