#!/usr/bin/env bash
# Starts or stops a moto server for the tests (DynamoDB, SQS, Secrets Manager, Cognito...).
# usage: tests/stack/moto.sh start PORT   -> writes $AOS_TEST_ENV/moto-PORT.pid
#        tests/stack/moto.sh stop PORT
# One pid file per port, so that servers started by different test runs never stop each other.
set -euo pipefail
root=${AOS_TEST_ENV:-$(cd "$(dirname "$0")/../.." && pwd)/.test-env}
port=${2:?usage: $0 start PORT | stop PORT}
pidfile="$root/moto-$port.pid"
case "${1:-}" in
  start)
    "$(dirname "$0")/python-env.sh" moto
    "$root/moto/bin/moto_server" -H 127.0.0.1 -p "$port" > "$root/moto-$port.log" 2>&1 &
    echo $! > "$pidfile"
    for _ in $(seq 100); do
      if curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then exit 0; fi
      sleep 0.1
    done
    echo "moto server did not come up on port $port; log:" >&2
    cat "$root/moto-$port.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    ;;
  *) echo "usage: $0 start PORT | stop PORT" >&2; exit 2 ;;
esac
