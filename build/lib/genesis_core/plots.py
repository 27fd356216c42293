"""Pictures a person can check: cube montages (three orthogonal mid-slices per cube)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display on workers), imported lazily."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int) -> Path:
    """Lay out ``fig``, write it to ``path`` (creating folders) and free it."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def mid_slices(cube: np.ndarray) -> list[np.ndarray]:
    """Axial (Z), coronal (Y) and sagittal (X) mid-slices of a (D, H, W) cube."""
    d, h, w = cube.shape
    return [cube[d // 2], cube[:, h // 2, :], cube[:, :, w // 2]]


def cube_montage(
    cubes: Sequence[np.ndarray],
    titles: Sequence[str],
    path: Path,
    vmin: float = 0.0,
    vmax: float = 1.0,
) -> Path:
    """Save one row per cube, three columns (axial, coronal, sagittal), grey scale."""
    plt = pyplot()

    n = len(cubes)
    fig, axes = plt.subplots(n, 3, figsize=(7.5, 2.4 * n), squeeze=False)
    for row, (cube, title) in enumerate(zip(cubes, titles, strict=True)):
        for col, (sl, name) in enumerate(
            zip(mid_slices(cube), ("axial", "coronal", "sagittal"), strict=True)
        ):
            ax = axes[row][col]
            ax.imshow(sl, cmap="gray", vmin=vmin, vmax=vmax, origin="lower" if col else "upper")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(title, fontsize=7)
            if row == 0:
                ax.set_title(name, fontsize=9)
    return save_figure(fig, path, dpi=80)


def restoration_montage(
    inputs: np.ndarray, targets: np.ndarray, outputs: np.ndarray, path: Path, title: str = ""
) -> Path:
    """Rows = cubes; columns = input / target / output axial mid-slices ((n, D, H, W) arrays)."""
    plt = pyplot()

    n = len(inputs)
    fig, axes = plt.subplots(n, 3, figsize=(6, 2.1 * n), squeeze=False)
    for row in range(n):
        for col, (arr, name) in enumerate(
            zip((inputs, targets, outputs), ("input", "target", "output"), strict=True)
        ):
            ax = axes[row][col]
            ax.imshow(arr[row][arr.shape[1] // 2], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, dpi=80)


def loss_plot(history: list[dict], path: Path) -> Path:
    """Train and validation loss against step."""
    plt = pyplot()

    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(steps, [h.get("train_loss") for h in history], label="train")
    ax.plot(steps, [h.get("val_loss") for h in history], label="validation (fixed corruptions)")
    ax.set_xlabel("step")
    ax.set_ylabel("MSE")
    ax.set_yscale("log")
    ax.legend()
    return save_figure(fig, path, dpi=90)
