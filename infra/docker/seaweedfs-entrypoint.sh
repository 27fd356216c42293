#!/bin/sh
# Write the S3 accounts and security.toml from the environment, then run SeaweedFS in one
# process.  Only the S3 API (port 8333) listens beyond the container: master, volume
# server and filer bind 127.0.0.1, so nobody else reaches their unauthenticated HTTP
# APIs (listing, reading, writing and deleting any object of any bucket).  The JWT keys
# make them refuse unsigned reads and writes even from inside the container.  gRPC (the S3
# gateway's listens beyond the container, and takes IAM updates) is mutual TLS with a CA
# made afresh at every start, inside the container: only its own processes hold a cert.
#   SEAWEEDFS_JWT_SIGNING_KEY                                               master <-> volume writes
#   SEAWEEDFS_JWT_FILER_SIGNING_KEY / SEAWEEDFS_JWT_FILER_SIGNING_READ_KEY  S3 gateway <-> filer
#   S3_ADMIN_ACCESS_KEY_ID / S3_ADMIN_SECRET_ACCESS_KEY        every action (bucket setup)
#   S3_PIPELINE_ACCESS_KEY_ID / S3_PIPELINE_SECRET_ACCESS_KEY  bucket `genesis` only
#   S3_MLFLOW_ACCESS_KEY_ID / S3_MLFLOW_SECRET_ACCESS_KEY      bucket `mlflow` only
# The file is written with a JSON encoder, so no key can break its syntax.
set -eu
umask 077
grpc=/etc/seaweedfs/grpc
rm -rf "$grpc" && mkdir -p "$grpc"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
  -subj "/CN=seaweedfs-grpc-ca" -keyout "$grpc/ca.key" -out "$grpc/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=seaweedfs" \
  -keyout "$grpc/node.key" -out "$grpc/node.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > "$grpc/ext"
openssl x509 -req -in "$grpc/node.csr" -CA "$grpc/ca.pem" -CAkey "$grpc/ca.key" -CAcreateserial \
  -days 3650 -extfile "$grpc/ext" -out "$grpc/node.pem" 2>/dev/null
rm -f "$grpc/ca.key" "$grpc/node.csr" "$grpc/ext" "$grpc/ca.srl"
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

keys = {}
for section, var in (
    ("jwt.signing", "SEAWEEDFS_JWT_SIGNING_KEY"),
    ("jwt.filer_signing", "SEAWEEDFS_JWT_FILER_SIGNING_KEY"),
    ("jwt.filer_signing.read", "SEAWEEDFS_JWT_FILER_SIGNING_READ_KEY"),
):
    if not os.environ.get(var):
        sys.exit(f"seaweedfs-entrypoint: {var} is not set")
    keys[section] = os.environ[var]
toml = "".join(f"[{s}]\nkey = {json.dumps(k)}\nexpires_after_seconds = 10\n\n" for s, k in keys.items())
toml += "[access]\nui = false\n\n[filer.expose_directory_metadata]\nenabled = false\n\n"
grpc = "/etc/seaweedfs/grpc"
toml += f'[grpc]\nca = "{grpc}/ca.pem"\n\n'
for part in ("master", "volume", "filer", "s3", "client"):
    toml += f'[grpc.{part}]\ncert = "{grpc}/node.pem"\nkey = "{grpc}/node.key"\n\n'
fd = os.open("/etc/seaweedfs/security.toml", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    f.write(toml)
PY
cd /etc/seaweedfs  # weed reads ./security.toml first
exec weed server -dir=/data -ip=127.0.0.1 -ip.bind=127.0.0.1 \
  -s3 -s3.ip.bind=0.0.0.0 -s3.port=8333 -s3.config=/etc/seaweedfs/s3.json \
  -s3.port.iceberg=0 -s3.port.lance=0 -s3.port.grpc=0 \
  -master.volumeSizeLimitMB=1024 -volume.max=0 "$@"
