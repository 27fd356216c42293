#!/usr/bin/env bash
# Generate the Dask cluster's TLS material (mutual authentication): a private CA and one
# certificate + key per role, each signed by that CA.  Run at set-up; the files become
# secrets (compose: infra/compose/secrets/dask/, mounted read-only; Kubernetes: the Secret
# genesis-dask-tls), never part of an image.
#
#   bash infra/scripts/dask-tls.sh OUTDIR            # DASK_TLS_DAYS (default 365)
#
# OUTDIR (mode 0700) gets ca.pem, and ROLE.pem + ROLE.key for scheduler, worker, client.
# ca.key stays in OUTDIR/ca/ (never mounted anywhere): keep it offline, or delete it and
# rerun this script to rotate everything at once.  Rotation: rerun into a new folder,
# swap the secret, restart the scheduler, workers and clients.
set -euo pipefail
OUT="${1:?usage: dask-tls.sh OUTDIR}"
DAYS="${DASK_TLS_DAYS:-365}"
umask 077
mkdir -p "$OUT/ca"
chmod 700 "$OUT"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$DAYS" \
  -subj "/CN=genesis-dask-ca" -keyout "$OUT/ca/ca.key" -out "$OUT/ca.pem" 2>/dev/null
for role in scheduler worker client; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=genesis-dask-$role" -keyout "$OUT/$role.key" -out "$OUT/$role.csr" 2>/dev/null
  printf 'subjectAltName=DNS:dask-scheduler,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' \
    > "$OUT/$role.ext"
  openssl x509 -req -in "$OUT/$role.csr" -CA "$OUT/ca.pem" -CAkey "$OUT/ca/ca.key" \
    -CAcreateserial -days "$DAYS" -extfile "$OUT/$role.ext" -out "$OUT/$role.pem" 2>/dev/null
  rm -f "$OUT/$role.csr" "$OUT/$role.ext"
done
rm -f "$OUT/ca.srl"
# Readable by the containers' non-root users (uid 10001) through read-only mounts; the
# folder itself stays 0700, so nobody else on the host reaches them.
chmod 644 "$OUT"/*.pem "$OUT"/*.key
echo "dask TLS: CA and scheduler/worker/client certificates in $OUT (valid $DAYS days)"
