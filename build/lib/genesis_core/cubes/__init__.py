"""Cubes: picking pre-training cubes in a scan and building target-task cubes.

Modules, one concept each:

* :mod:`.acceptance` — the SPEC §1 lung acceptance test, vectorised (+ the reference port);
* :mod:`.sampling` — candidate origins with borders, batched acceptance, ``sample_cubes``;
* :mod:`.extract` — cutting ``(k, Z, Y, X)`` cubes at voxel origins (optionally padded);
* :mod:`.rng` — ``rng_for(seed, scan_id)``, the per-scan deterministic generator;
* :mod:`.targets` — candidate cubes at world-mm points, image/mask pairs, sphere masks.

Arrays are (Z, Y, X); cube sizes (X, Y, Z) voxels (see :mod:`genesis_core.axes`).
"""
