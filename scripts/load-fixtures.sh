#!/bin/sh
# Loads the synthetic fixture bundles into a FHIR server: docker-compose's hapi-loader runs it in the
# curlimages/curl image (the HAPI image is distroless: no shell or curl for a healthcheck of its own).
# Waits until {FHIR_BASE}/metadata answers (at most FHIR_WAIT_S seconds), then POSTs every transaction bundle of
# BUNDLES_DIR. Fails loudly: a server that never answers, or a bundle it refuses (its status and answer are
# printed), ends the script with exit 1. POSIX sh (busybox ash in the image, dash here); test/docker-files.test.ts
# runs it against local servers.
set -eu
BASE="${FHIR_BASE:-http://hapi:8080/fhir}"
DIR="${BUNDLES_DIR:-/bundles}"
WAIT_S="${FHIR_WAIT_S:-300}"
INTERVAL_S="${FHIR_WAIT_INTERVAL_S:-3}"

waited=0
until curl -sf -o /dev/null --max-time 10 "$BASE/metadata"; do
  if [ "$waited" -ge "$WAIT_S" ]; then
    echo "load-fixtures: $BASE/metadata did not answer within $WAIT_S s" >&2
    exit 1
  fi
  sleep "$INTERVAL_S"
  waited=$((waited + INTERVAL_S))
done
echo "load-fixtures: $BASE answers /metadata"

count=0
answer=$(mktemp)
trap 'rm -f "$answer"' EXIT
for f in "$DIR"/*.json; do
  if [ ! -e "$f" ]; then
    echo "load-fixtures: no bundle in $DIR" >&2
    exit 1
  fi
  status=$(curl -s -o "$answer" -w '%{http_code}' --max-time 120 -X POST \
    -H 'Content-Type: application/fhir+json' --data-binary @"$f" "$BASE") || status=000
  case "$status" in
    2??) ;;
    *)
      echo "load-fixtures: $BASE refused $f (HTTP $status):" >&2
      head -c 2000 "$answer" >&2 || true
      echo >&2
      exit 1
      ;;
  esac
  count=$((count + 1))
  echo "load-fixtures: loaded $f"
done
echo "load-fixtures: $count bundles loaded"
