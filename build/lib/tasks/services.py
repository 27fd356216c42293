"""Fail fast, in one line, when a service the run needs is unreachable.

Each check makes a few bounded attempts (well under 30 s in all) and raises
:class:`ServiceUnavailable` naming the service and its URI (credentials redacted), so a
dead tracking server or S3 endpoint costs seconds and one message, not minutes of
retries and pages of tracebacks.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from functools import lru_cache

from genesis_core.io.storage import Location, redact_uri

ATTEMPTS = 3
TIMEOUT_S = 4.0


class ServiceUnavailable(RuntimeError):
    """A server the run depends on cannot be reached; the message names it."""


def _redact(uri: str) -> str:
    return redact_uri(uri)


def _attempt(fn, what: str) -> None:
    last: Exception | None = None
    for i in range(ATTEMPTS):
        try:
            fn()
            return
        except Exception as e:  # noqa: BLE001 - any failure to connect counts
            if type(e).__name__ == "NoCredentialsError":
                raise ServiceUnavailable(
                    f"{what}: no credentials found; set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
                ) from e
            last = e
            time.sleep(0.5 * (i + 1))
    reason = str(last).splitlines()[0][:160] if last else "no answer"
    raise ServiceUnavailable(f"{what} is unreachable after {ATTEMPTS} attempts ({reason})")


@lru_cache(maxsize=16)
def check_tracking(uri: str) -> None:
    """An ``http(s)://`` MLflow tracking server must answer ``/health``."""
    if not uri.startswith(("http://", "https://")):
        return

    def ping() -> None:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=TIMEOUT_S) as r:  # noqa: S310
            if r.status >= 500:
                raise urllib.error.HTTPError(uri, r.status, "server error", r.headers, None)

    _attempt(ping, f"MLflow tracking server {_redact(uri)}")
    check_tracking_credentials(uri)


def check_tracking_credentials(uri: str) -> None:
    """A server behind authentication (the stack's basic-auth app) must take this process's
    credentials (``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``): refused, the run
    stops now with one line saying which variables to set, never their values."""
    import base64
    import os

    req = urllib.request.Request(
        uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1"
    )
    user, password = (
        os.environ.get("MLFLOW_TRACKING_USERNAME"),
        os.environ.get("MLFLOW_TRACKING_PASSWORD"),
    )
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S):  # noqa: S310
            return
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            who = f"user {user!r}" if user else "no credentials"
            raise ServiceUnavailable(
                f"MLflow tracking server {_redact(uri)} refused {who} ({e.code}): set "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an account of it"
            ) from None
    except OSError:
        return  # reachability is ping's business; a later call reports anything else


def check_object_store(where: Location) -> None:
    """An ``s3://`` URI's endpoint must answer (a missing bucket or key is not this check's business)."""
    uri = where.uri
    if not uri.startswith("s3://"):
        return
    import s3fs

    opts = dict(where.options)
    endpoint = (opts.get("client_kwargs") or {}).get("endpoint_url", "AWS S3")
    fs = s3fs.S3FileSystem(
        **{**opts, "skip_instance_cache": True},
        config_kwargs={
            "connect_timeout": TIMEOUT_S,
            "read_timeout": TIMEOUT_S,
            "retries": {"max_attempts": 1},
        },
    )
    bucket = uri.removeprefix("s3://").split("/", 1)[0]

    def ping() -> None:
        try:
            fs.ls(bucket, refresh=True)
        except (FileNotFoundError, PermissionError):
            return  # the endpoint answered

    _attempt(ping, f"S3 endpoint {_redact(str(endpoint))} (for {uri})")


def check_storage(*uris: str | None, root: str | None = None) -> None:
    """Every ``s3://`` URI's endpoint answers (checked once per endpoint and bucket)."""
    from tasks.settings import get_settings

    settings = get_settings(root)
    seen = set()
    for uri in uris:
        if uri and uri.startswith("s3://"):
            bucket = uri.removeprefix("s3://").split("/", 1)[0]
            if bucket not in seen:
                seen.add(bucket)
                check_object_store(settings.location(uri))
