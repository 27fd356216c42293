"""Transient faults versus bad data: the one place that tells them apart.

Only bad data becomes a quarantine row.  An I/O or network fault (a full disk, a reset
connection, a timeout, an S3 error) is retried and, if it persists, fails the run with a
clear message; the scan stays as it was and is tried again on the next run.
"""

from __future__ import annotations

import re

_TRANSIENT_MODULES = ("botocore", "aiobotocore", "urllib3", "aiohttp", "requests")
# How transient faults read in reasons written by older code, which quarantined them.
_TRANSIENT_TEXT = re.compile(
    r"No space left|Errno|OSError|TimeoutError|ConnectionError|Connection reset|"
    r"timed out|EndpointConnectionError|ClientError|Service Unavailable|SlowDown"
)
# Where each stage's transient quarantines came from (older code wrote them with these prefixes).
STAGE_PREFIX = {"ingest": "cannot fetch:", "preprocess": "preprocess failed:"}
# A read cut at its time limit may have met a slow disk rather than a bad file: retried next run.
TIMED_OUT = "did not finish within"


def is_transient(e: BaseException) -> bool:
    """An I/O or network fault, not bad data.

    A file that vanished (``FileNotFoundError``) counts as bad data: rereading it will
    not bring it back.
    """
    if isinstance(e, FileNotFoundError):
        return False
    if isinstance(e, OSError | TimeoutError | ConnectionError):
        return True
    return type(e).__module__.startswith(_TRANSIENT_MODULES)


def transient_reason(reason: str, stage: str) -> bool:
    """Whether a quarantine reason from ``stage`` (ingest / preprocess) records a transient
    fault (older code wrote those) or, at ingest, a read cut at its time limit."""
    if stage == "ingest" and TIMED_OUT in reason:
        return True
    return reason.startswith(STAGE_PREFIX[stage]) and bool(_TRANSIENT_TEXT.search(reason))
