"""Naming the foreground of a segmentation target through an MSD ``dataset.json``."""

from __future__ import annotations

import pytest

from genesis_core.io.msd import label_table, label_values

V1 = {"labels": {"0": "background", "1": "Liver", "2": "cancer"}}
V2 = {"labels": {"background": 0, "spleen": 1, "vessels": [2, 3]}}


def test_both_msd_label_conventions():
    assert label_table(V1) == {"background": (0,), "liver": (1,), "cancer": (2,)}
    assert label_table(V2) == {"background": (0,), "spleen": (1,), "vessels": (2, 3)}


def test_names_values_and_mixtures_resolve():
    assert label_values(["liver"], V1) == (1,)
    assert label_values(["Liver", "cancer"], V1) == (1, 2)
    assert label_values(["vessels"], V2) == (2, 3)
    assert label_values(["2", "spleen"], V2) == (1, 2)
    assert label_values(["3"], None) == (3,)  # plain values need no dataset.json


def test_unknown_or_background_only_labels_are_clear_errors():
    with pytest.raises(
        ValueError, match=r"d/dataset.json: no label named 'kidney' \(labels: .*liver=1"
    ):
        label_values(["kidney"], V1, "d/dataset.json")
    with pytest.raises(ValueError, match="no label named 'liver' \\(labels: none\\)"):
        label_values(["liver"], None)
    with pytest.raises(ValueError, match="foreground"):
        label_values(["background"], V1)
