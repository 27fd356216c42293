#!/bin/sh
# Write the S3 accounts from the environment, then run SeaweedFS in one process.
#   S3_ADMIN_ACCESS_KEY_ID / S3_ADMIN_SECRET_ACCESS_KEY        every action (bucket setup)
#   S3_PIPELINE_ACCESS_KEY_ID / S3_PIPELINE_SECRET_ACCESS_KEY  bucket `genesis` only
#   S3_MLFLOW_ACCESS_KEY_ID / S3_MLFLOW_SECRET_ACCESS_KEY      bucket `mlflow` only
# The file is written with a JSON encoder, so no key can break its syntax.
set -eu
python - <<'PY'
import json, os, sys

def account(name, prefix, buckets):
    try:
        key, secret = os.environ[f"{prefix}_ACCESS_KEY_ID"], os.environ[f"{prefix}_SECRET_ACCESS_KEY"]
    except KeyError as missing:
        sys.exit(f"seaweedfs-entrypoint: {missing.args[0]} is not set")
    if buckets:
        actions = [f"{a}:{b}" for b in buckets for a in ("Read", "Write", "List", "Tagging")]
    else:
        actions = ["Admin", "Read", "Write", "List", "Tagging"]
    return {"name": name, "credentials": [{"accessKey": key, "secretKey": secret}], "actions": actions}

config = {"identities": [
    account("admin", "S3_ADMIN", ()),
    account("pipeline", "S3_PIPELINE", ("genesis",)),
    account("mlflow", "S3_MLFLOW", ("mlflow",)),
]}
fd = os.open("/etc/seaweedfs/s3.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(config, f)
PY
exec weed server -dir=/data -ip.bind=0.0.0.0 \
  -s3 -s3.port=8333 -s3.config=/etc/seaweedfs/s3.json -s3.port.iceberg=0 -s3.port.lance=0 \
  -master.volumeSizeLimitMB=1024 -volume.max=0 "$@"
