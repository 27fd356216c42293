"""Train/val/test splits of target-task scans, never sharing a scan between splits.

* LUNA16 scans (a ``subset`` is known): subsets 0–4 train, 5–6 val, 7–9 test (SPEC §1, §4).
* LiTS (every id is ``volume-N`` with 0 ≤ N ≤ 129): volumes 0–99 train, 100–114 val,
  115–129 test, as in the paper — but only when that leaves every split non-empty (a
  subset of LiTS such as volumes 0–19 would otherwise have no validation or test scans).
* Anything else: a stable hash of the scan id (see :func:`genesis_core.store.reader.split_scans`).
  A small dataset (≥ 3 scans) whose hash split leaves a split empty is instead cut in
  hash order into the same fractions, each split getting at least one scan; such a split
  may move when scans are added, which a hash split never does.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from genesis_core.store.reader import split_scans

LITS_ID = re.compile(r"^volume-(\d+)$")
LITS_SPLIT = {"train": range(0, 100), "val": range(100, 115), "test": range(115, 130)}


def lits_split(scan_ids: list[str]) -> dict[str, list[str]] | None:
    """The paper's LiTS split, or None unless every id is ``volume-N`` with N in 0–129."""
    numbers = {}
    for sid in scan_ids:
        m = LITS_ID.match(sid)
        if m is None or int(m.group(1)) > 129:
            return None
        numbers[sid] = int(m.group(1))
    if not numbers:
        return None
    out: dict[str, list[str]] = {k: [] for k in LITS_SPLIT}
    for sid in sorted(numbers, key=numbers.get):  # type: ignore[arg-type]
        name = next(k for k, r in LITS_SPLIT.items() if numbers[sid] in r)
        out[name].append(sid)
    return out if all(out.values()) else None


def split_target_scans(
    subsets: Mapping[str, int | None], fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> dict[str, list[str]]:
    """``{"train", "val", "test"}`` → scan ids, by the rules in the module docstring."""
    if not any(v is not None for v in subsets.values()):
        lits = lits_split(list(subsets))
        if lits is not None:
            return lits
    out = split_scans(subsets, fractions)
    if len(subsets) >= 3 and not all(out.values()) and all(v is None for v in subsets.values()):
        return _small_split(list(subsets), fractions)
    return out


def _small_split(
    scan_ids: list[str], fractions: tuple[float, float, float]
) -> dict[str, list[str]]:
    """Hash order, cut into ``fractions`` with at least one scan per split."""
    ordered = sorted(scan_ids, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    n, total = len(ordered), sum(fractions)
    n_val = max(1, round(n * fractions[1] / total))
    n_test = max(1, round(n * fractions[2] / total))
    n_train = n - n_val - n_test
    return {
        "train": sorted(ordered[:n_train]),
        "val": sorted(ordered[n_train : n_train + n_val]),
        "test": sorted(ordered[n_train + n_val :]),
    }
