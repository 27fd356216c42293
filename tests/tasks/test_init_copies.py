"""A/A calibration (#26): an init named twice runs twice, with independent weight inits and
the same label subsets and data order."""

from __future__ import annotations

import torch

from flows.evaluate import copies
from tasks.finetune import init_copy, resolve_init


def test_repeated_inits_become_numbered_copies() -> None:
    assert copies(["scratch", "scratch", "genesis", "scratch"]) == [
        "scratch",
        "scratch#2",
        "genesis",
        "scratch#3",
    ]
    assert init_copy("scratch#2") == ("scratch", 1) and init_copy("scratch") == ("scratch", 0)
    assert init_copy("file:/a#b") == ("file:/a#b", 0), "a # inside a path is not a copy"
    assert resolve_init("scratch#2") == (None, {})


def test_a_copy_starts_from_other_weights_on_the_same_data(tmp_path) -> None:
    from genesis_core.finetuning import finetune_profile, fit
    from genesis_core.synth.targets import write_ncc_store
    from genesis_core.targets import TargetStore

    sp = TargetStore(write_ncc_store(str(tmp_path / "ncc.zarr"), scans=10, per_scan=8)).split()
    prof = finetune_profile("tiny", "ncc", 2, 0, device="cpu")
    a, _ = fit("ncc", sp["train"], sp["val"], sp["test"], None, prof)
    b, _ = fit("ncc", sp["train"], sp["val"], sp["test"], None, prof)
    c, _ = fit("ncc", sp["train"], sp["val"], sp["test"], None, prof, init_seed=1_000_003)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        if va.is_floating_point():
            torch.testing.assert_close(va, vb, msg=f"{k}: same seed, same fit")
    differs = [
        k
        for (k, va), vc in zip(a.state_dict().items(), c.state_dict().values(), strict=True)
        if va.is_floating_point() and not torch.equal(va, vc)
    ]
    assert differs, "another init seed gives other weights"


def test_alternatives_give_one_pretrained_init_per_seed() -> None:
    from tasks.finetune import for_seed

    three = "models:/g/1|models:/g/2|models:/g/3"
    assert [for_seed(three, s) for s in range(5)] == [
        "models:/g/1",
        "models:/g/2",
        "models:/g/3",
        "models:/g/1",
        "models:/g/2",
    ]
    assert for_seed("scratch", 4) == "scratch"
