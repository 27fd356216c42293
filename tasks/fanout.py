"""Per-scan fan-out on Dask with a progress bar: plain functions in, small dicts out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distributed import as_completed

from tasks.dask_cluster import dask_client
from tasks.progress import progress_bar
from tasks.settings import get_settings


def run_per_scan(
    fn: Callable[..., dict[str, Any]],
    rows: list[dict],
    label: str,
    scheduler: str | None = None,
    workers: int | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """``fn(row, **kwargs)`` for every row on Dask (LocalCluster or ``scheduler``), as results arrive.

    Keys are deterministic per scan, and ``fn`` must be idempotent: a worker that
    dies makes Dask run the scan again elsewhere.
    """
    if not rows:
        return []
    s = get_settings()
    results = []
    with dask_client(scheduler or s.dask_address, workers or s.dask_workers) as client:
        futures = client.map(
            fn, rows, **kwargs, pure=False, key=[f"{label}-{r['scan_id']}" for r in rows]
        )
        with progress_bar(label, total=len(rows)) as advance:
            for fut in as_completed(futures):
                r = fut.result()
                results.append(r)
                advance(
                    info=f"{r['scan_id'][-20:]} {r.get('n_cubes', 0)} cubes {r.get('seconds', 0):.1f}s"
                )
    return results
