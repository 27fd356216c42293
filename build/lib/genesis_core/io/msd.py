"""Label names of a Medical Segmentation Decathlon dataset (``dataset.json``).

MSD v1 writes ``"labels": {"0": "background", "1": "liver", "2": "cancer"}``; nnU-Net v2
style writes ``"labels": {"background": 0, "liver": 1, "cancer": 2}`` (a value may also be
a list of values, a region).  :func:`label_values` turns names (or plain numbers) into the
label values a segmentation target treats as foreground.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

from genesis_core.io.storage import Location, LocationLike


def label_table(dataset_json: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """``{name: values}`` from either MSD ``labels`` convention."""
    labels = dataset_json.get("labels") or {}
    table: dict[str, tuple[int, ...]] = {}
    for key, value in labels.items():
        if str(key).lstrip("-").isdigit() and isinstance(value, str):  # v1: "1": "liver"
            table[value.strip().lower()] = (int(key),)
        elif isinstance(value, int):  # v2: "liver": 1
            table[str(key).strip().lower()] = (value,)
        elif isinstance(value, list) and all(isinstance(v, int) for v in value):
            table[str(key).strip().lower()] = tuple(value)
    return table


def label_values(
    names: Sequence[str], dataset_json: Mapping[str, Any] | None, where: str = "dataset.json"
) -> tuple[int, ...]:
    """Label values for ``names`` (names from ``dataset_json``, or integers as they are)."""
    table = label_table(dataset_json or {})
    values: list[int] = []
    for raw in names:
        name = raw.strip()
        if name.lstrip("-").isdigit():
            values.append(int(name))
        elif name.lower() in table:
            values.extend(table[name.lower()])
        else:
            known = ", ".join(f"{k}={'/'.join(map(str, v))}" for k, v in table.items()) or "none"
            raise ValueError(f"{where}: no label named {name!r} (labels: {known})")
    if not values or all(v == 0 for v in values):
        raise ValueError(f"{where}: name at least one foreground label, got {list(names)}")
    return tuple(sorted(set(values)))


def dataset_json_for(label: LocationLike) -> tuple[str, dict | None]:
    """``(uri, parsed dataset.json)`` of the MSD dataset a ``labelsTr/…`` file belongs to;
    ``None`` content when there is no such file (e.g. a LiTS layout)."""
    label = Location.of(label)
    spec = label.at(posixpath.join(posixpath.dirname(posixpath.dirname(label.uri)), "dataset.json"))
    uri = spec.uri
    if not spec.exists():
        return uri, None
    try:
        return uri, json.loads(spec.read_bytes())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{uri}: not valid JSON ({e})") from e
