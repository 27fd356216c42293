"""The ``genesis`` command line: every command calls the same Prefect flows a deployment runs.

One module per group of commands (``data``: synth, ingest, preprocess, inspect, store;
``training``: pretrain, targets, finetune, evaluate; ``operations``: nightly, demo,
server, ui).  Commands validate their options, print a first line, and say "nothing to
do" (and why) before anything heavy is imported; flows are imported inside the
commands, after :func:`flows.local_api.prefect_api` has pointed Prefect at its server.
"""

from __future__ import annotations

from flows.cli import data, operations, training  # noqa: E402,F401 - registers the commands
from flows.cli.base import app

__all__ = ["app"]
