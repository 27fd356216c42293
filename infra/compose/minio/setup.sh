#!/bin/sh
# One-shot MinIO setup (idempotent): buckets, least-privilege policies, service accounts.
#   genesis  scans, catalogs, cube stores (GENESIS_ROOT=s3://genesis/root)
#   mlflow   MLflow artifacts, written only by the MLflow server (--serve-artifacts)
set -eu
mc alias set local "$S3_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
for bucket in genesis mlflow; do
  mc mb --ignore-existing "local/$bucket"
  mc admin policy create local "$bucket-rw" "/setup/$bucket-rw.json"
done

# attach fails when the policy is already attached (a rerun); anything else is an error
attach() {
  if ! out=$(mc admin policy attach local "$1" --user "$2" 2>&1); then
    case "$out" in
      *already*) ;;
      *) echo "$out" >&2; exit 1 ;;
    esac
  fi
}
mc admin user add local "$S3_PIPELINE_ACCESS_KEY_ID" "$S3_PIPELINE_SECRET_ACCESS_KEY"
attach genesis-rw "$S3_PIPELINE_ACCESS_KEY_ID"
mc admin user add local "$S3_MLFLOW_ACCESS_KEY_ID" "$S3_MLFLOW_SECRET_ACCESS_KEY"
attach mlflow-rw "$S3_MLFLOW_ACCESS_KEY_ID"
echo "minio setup done"
