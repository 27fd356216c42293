"""One-shot S3 setup (idempotent): the buckets of the stack, as the admin account.

    genesis  scans, catalogs, cube stores (GENESIS_ROOT=s3://genesis/root)
    mlflow   MLflow artifacts, written only by the MLflow server (--serve-artifacts)

Per-bucket access is set by the accounts SeaweedFS starts with (seaweedfs-entrypoint.sh):
the pipeline account may touch `genesis` only, the MLflow account `mlflow` only.
A failure is retried a few times (the gateway can answer health checks a moment before
its filer takes writes), then exits non-zero so that nothing depending on it starts.
"""

import os
import sys
import time

import s3fs

BUCKETS = ("genesis", "mlflow")


def main() -> int:
    fs = s3fs.S3FileSystem(
        key=os.environ["S3_ADMIN_ACCESS_KEY_ID"],
        secret=os.environ["S3_ADMIN_SECRET_ACCESS_KEY"],
        client_kwargs={"endpoint_url": os.environ["S3_URL"], "region_name": "us-east-1"},
    )
    for attempt in range(1, 11):
        try:
            existing = {b.rstrip("/") for b in fs.ls("", refresh=True)}
            for bucket in BUCKETS:
                if bucket not in existing:
                    fs.mkdir(bucket)
                    print(f"created bucket {bucket}")
            if not set(BUCKETS) <= {b.rstrip("/") for b in fs.ls("", refresh=True)}:
                raise RuntimeError(f"buckets {BUCKETS} not all listed after creation")
            print("s3 setup done")
            return 0
        except Exception as exc:  # noqa: BLE001 - report, wait, retry
            print(f"s3 setup attempt {attempt}/10 failed: {exc}", file=sys.stderr)
            time.sleep(3)
    return 1


if __name__ == "__main__":
    sys.exit(main())
