#!/usr/bin/env bash
# Makes sure Debian's `prometheus` (server and promtool, 2.42 on bookworm) is installed; installs it
# with apt-get when it is missing, and fails loudly when that is not possible.
# usage: tests/stack/prometheus.sh
set -euo pipefail
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "prometheus/promtool are missing and there is no apt-get: install Prometheus 2.x and put both on PATH" >&2
  exit 1
fi
echo "installing prometheus (apt-get)"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
$sudo apt-get update -qq
# The package's service is not started here (no init system); the tests start their own server.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq prometheus >/dev/null
command -v prometheus >/dev/null && command -v promtool >/dev/null || { echo "prometheus install failed" >&2; exit 1; }
