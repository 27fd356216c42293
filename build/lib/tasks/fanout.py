"""Per-scan fan-out on Dask with a progress bar: plain functions in, small dicts out."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from dask.base import tokenize
from distributed import as_completed

from tasks.dask_cluster import dask_client
from tasks.privacy import shown
from tasks.progress import progress_bar
from tasks.settings import get_settings


def task_keys(
    label: str, rows: list[dict], kwargs: dict[str, Any], root: str | None = None
) -> list[str]:
    """``label-<scan pseudonym>-<token>``: the token hashes the store, the config, each row
    and a fresh run id, so keys are unique per run and per store/config, and name each scan
    as everything outside the data plane does (the scheduler's dashboard shows keys)."""
    run = uuid.uuid4().hex
    return [
        f"{label}-{shown(r['scan_id'], root)}-{tokenize(run, r, sorted(kwargs.items()))[:16]}"
        for r in rows
    ]


def run_per_scan(
    fn: Callable[..., dict[str, Any]],
    rows: list[dict],
    label: str,
    scheduler: str | None = None,
    workers: int | None = None,
    retries: int = 2,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    root: str | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """``fn(row, **kwargs)`` for every row on Dask (LocalCluster or ``scheduler``), as results arrive.

    Keys identify the computation of this run (:func:`task_keys`): two runs sharing a
    scheduler never receive each other's results.  ``fn`` must be idempotent within a run:
    a worker that dies makes Dask run the scan again elsewhere (``retries``).
    """
    if not rows:
        return []
    s = get_settings(root)
    results = []
    with dask_client(scheduler or s.dask_address, workers or s.dask_workers) as client:
        futures = client.map(
            fn,
            rows,
            **kwargs,
            pure=False,
            key=task_keys(label, rows, kwargs, root),
            retries=retries,
        )
        with progress_bar(label, total=len(rows)) as advance:
            for fut in as_completed(futures):
                r = fut.result()
                results.append(r)
                if on_result is not None:
                    on_result(r)  # e.g. an incremental commit
                advance(
                    info=f"{shown(r['scan_id'], root)} {r.get('n_cubes', 0)} cubes "
                    f"{r.get('seconds', 0):.1f}s"
                )
    return results
