#!/usr/bin/env bash
# Installs Debian's postgresql for the PostgreSQL store tests (test/pg-*.test.ts) when it is missing. The tests never
# use the package's own cluster (installing the package may create and start one on port 5432: it is left alone);
# they start a throwaway cluster of their own with the binaries under /usr/lib/postgresql/<version>/bin, as the
# `postgres` user when run as root (test/helpers/postgres.ts). Needs root (apt-get); without root it says what to
# run and exits 0, and the PostgreSQL tests then skip with a notice naming this script (never under .ci/run).
set -euo pipefail
found() {
  ls -d /usr/lib/postgresql/*/bin/initdb 2> /dev/null | sort -V | tail -n 1
}
initdb=$(found || true)
if [ -n "$initdb" ] && [ -x "$initdb" ] && id -u postgres > /dev/null 2>&1; then
  echo "postgresql present: $(dirname "$initdb")"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "postgresql is missing and this is not root: run 'sudo apt-get install -y postgresql' (the PostgreSQL tests skip until then)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql > /dev/null
initdb=$(found || true)
if [ -z "$initdb" ]; then
  echo "postgresql was installed but no /usr/lib/postgresql/<version>/bin/initdb was found" >&2
  exit 1
fi
echo "postgresql installed: $(dirname "$initdb")"
