"""One-shot MLflow account setup (idempotent), as the admin account of the basic-auth app.

    pipeline  creates experiments and registered models, and so owns them (MANAGE);
              the Prefect and Dask workers use it (MLFLOW_TRACKING_USERNAME/PASSWORD)
    viewer    reads everything (the server's default_permission is READ), writes nothing

Passwords come from the environment (MLFLOW_PIPELINE_PASSWORD, MLFLOW_VIEWER_PASSWORD); an
account that exists gets the password it is given now, so rerunning this after changing
them rotates them.  Nothing is printed but account names.
"""

import os
import sys
import time

from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient

ACCOUNTS = {"pipeline": "MLFLOW_PIPELINE_PASSWORD", "viewer": "MLFLOW_VIEWER_PASSWORD"}


def ensure(client: AuthServiceClient, name: str, password: str) -> str:
    try:
        client.get_user(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_user(name, password)
        return "created"
    client.update_user_password(name, password)
    return "password set"


def main() -> int:
    client = AuthServiceClient(os.environ["MLFLOW_TRACKING_URI"])  # admin: MLFLOW_TRACKING_*
    for attempt in range(1, 11):
        try:
            for name, var in ACCOUNTS.items():
                print(f"mlflow account {name}: {ensure(client, name, os.environ[var])}")
            return 0
        except KeyError as missing:
            print(f"mlflow setup: {missing.args[0]} is not set", file=sys.stderr)
            return 1
        except Exception as exc:  # noqa: BLE001 - report (no secret in it), wait, retry
            print(
                f"mlflow setup attempt {attempt}/10 failed: {type(exc).__name__}", file=sys.stderr
            )
            time.sleep(3)
    return 1


if __name__ == "__main__":
    sys.exit(main())
