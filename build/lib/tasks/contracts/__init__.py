"""What each stage's tasks and flows hand on: frozen dataclasses, one module per stage.

``ingest``, ``preprocess``, ``targets``, ``pretrain``, ``finetune`` and ``evaluate`` hold the
results of their stage; :mod:`tasks.contracts.base` the shared pieces.  A result that is
written to a JSON file (a run folder's ``result.json`` or ``registered.json``) has
``to_dict()``/``from_dict()`` keeping the keys those files have always had, so existing run
folders are still read.  Per-scan results cross Dask as the plain dicts ``genesis_core``
makes (the store's committer reads them there); the tasks hand them on as
:class:`~tasks.contracts.base.ScanReport`.
"""
