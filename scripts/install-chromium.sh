#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (test/policy-page-browser.test.ts) when it is missing: the tests
# drive it with playwright-core and never download a browser. Needs root (apt-get); without root it says what to run
# and exits 0, and the browser tests then skip with a notice naming this script.
set -euo pipefail
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  echo "chromium present: $CHROMIUM"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is missing and this is not root: run 'sudo apt-get install -y chromium' (the browser tests skip until then)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium > /dev/null
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
