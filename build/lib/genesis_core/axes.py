"""The one axis convention of the code base.

Arrays are always ordered **(Z, Y, X)** — slice axis first — exactly as
``SimpleITK.GetArrayFromImage`` returns them.  Batched tensors are
``(N, C, D, H, W)`` with ``D = Z``, ``H = Y``, ``W = X``.

Physical quantities (sizes, spacings, origins, world coordinates, the
``--cube`` and ``--spacing`` command-line options, catalog columns ending in
``_xyz``) are always ordered **(X, Y, Z)**, as SimpleITK reports them and as the
paper writes cube sizes (64×64×32 = X×Y×Z → array shape (32, 64, 64)).

Use :func:`xyz_to_zyx` / :func:`zyx_to_xyz` at the boundary; never reorder
anywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def xyz_to_zyx(v: Sequence[T]) -> tuple[T, ...]:
    """(X, Y, Z) physical order → (Z, Y, X) array order."""
    if len(v) != 3:
        raise ValueError(f"expected 3 values, got {len(v)}: {v!r}")
    return (v[2], v[1], v[0])


def zyx_to_xyz(v: Sequence[T]) -> tuple[T, ...]:
    """(Z, Y, X) array order → (X, Y, Z) physical order."""
    return xyz_to_zyx(v)
