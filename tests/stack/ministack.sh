#!/usr/bin/env bash
# Starts or stops a ministack emulator for the end-to-end test (CloudFormation, Lambda running the
# real `bootstrap` binaries as local processes, API Gateway v2, SQS, DynamoDB, Secrets Manager...).
# usage: tests/stack/ministack.sh start PORT   -> prints nothing; writes $AOS_TEST_ENV/ministack.pid
#        tests/stack/ministack.sh stop
# Its log is $AOS_TEST_ENV/ministack.log. It binds 127.0.0.1 only; IOT_MTLS_ENABLED=0 and
# SFTP_ENABLED=0 keep it from opening the MQTT (8883) and SFTP ports. With AUTH=true in the
# environment it checks signatures and IAM policies (the test credentials test/test are the root).
set -euo pipefail
root=${AOS_TEST_ENV:-$(cd "$(dirname "$0")/../.." && pwd)/.test-env}
pidfile="$root/ministack.pid"
case "${1:-}" in
  start)
    port=${2:?port}
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "port $port is already in use" >&2
      exit 1
    fi
    "$(dirname "$0")/python-env.sh" ministack
    # Its own temp dir: the Lambda code cache and state live there, one per run.
    tmp="$root/ministack-tmp"
    rm -rf "$tmp" && mkdir -p "$tmp"
    # Its own process group (setsid), so that stopping it also stops the Lambda processes it runs.
    # AWS_ENDPOINT_URL is handed to the `provided.*` functions it runs (only when it has one
    # itself), so that their SDK clients call the emulator, not AWS.
    AWS_ENDPOINT_URL="http://127.0.0.1:$port" GATEWAY_PORT="$port" BIND_HOST=127.0.0.1 IOT_MTLS_ENABLED=0 SFTP_ENABLED=0 TMPDIR="$tmp" \
      setsid "$root/ministack/bin/ministack" > "$root/ministack.log" 2>&1 < /dev/null &
    echo $! > "$pidfile"
    for _ in $(seq 300); do
      if curl -sf "http://127.0.0.1:$port/_ministack/ready" >/dev/null 2>&1; then exit 0; fi
      if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then break; fi
      sleep 0.1
    done
    echo "ministack did not come up on port $port; log:" >&2
    cat "$root/ministack.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      # The whole group: the emulator and the function processes it started.
      kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 -- "-$pid" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    ;;
  *) echo "usage: $0 start PORT | stop" >&2; exit 2 ;;
esac
