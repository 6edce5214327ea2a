#!/usr/bin/env bash
# Read-path benchmark (docs/performance.md): GET /api/v1/runs/{id} of a finished 5-step run under
# wrk, with /healthz measured in the same run as the baseline. Needs wrk (apt-get install wrk).
# usage: tests/bench/read.sh [SECONDS] [CONNECTIONS]
# AOS_BIN=<path> serves with another build (e.g. the previous release) for a back-to-back comparison.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-64}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
[ -d "$HOME/.cache/aos-target" ] && export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aos-target}
target=${CARGO_TARGET_DIR:-target}
[ -n "${AOS_BIN:-}" ] || cargo build -q --release -p aos-cli --bin aos
aos=${AOS_BIN:-$target/release/aos}
data=$(mktemp -d)
# One key drives the whole load: rate limits off unless AOS_RATE_LIMIT_PER_MINUTE is set (to measure the limiter).
"$aos" serve --port 0 --data-dir "$data/d" --rate-limit-per-minute "${AOS_RATE_LIMIT_PER_MINUTE:-0}" --rate-limit-burst "${AOS_RATE_LIMIT_BURST:-300}" > "$data/out" 2> "$data/err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$data/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^AOS listening on \([^ ]*\).*/\1/p' "$data/out")
key=$(cat "$data/d/admin.key")
plan='{"name":"read-bench","steps":[
 {"id":"a","skill":"json_transform","input":{"data":[1,2,3],"expr":"map(.*2)"}},
 {"id":"b","skill":"json_transform","depends_on":["a"],"input":{"data":"{{ steps.a.output }}","expr":"add"}},
 {"id":"c","skill":"json_transform","depends_on":["b"],"input":{"data":"{{ steps.b.output }}","expr":".+1"}},
 {"id":"d","skill":"json_transform","depends_on":["c"],"input":{"data":{"v":"{{ steps.c.output }}"},"expr":"{total:.v}"}},
 {"id":"e","skill":"json_transform","depends_on":["d"],"input":{"data":"{{ steps.d.output }}","expr":".total|tostring"}}]}'
run=$(curl -sf -X POST "$url/api/v1/runs" -H "Authorization: Bearer $key" -H 'content-type: application/json' -d "{\"plan\":$plan}" | sed -n 's/.*"run_id":"\([^"]*\)".*/\1/p')
curl -sf "$url/api/v1/runs/$run?wait_ms=10000" -H "Authorization: Bearer $key" | grep -q '"status":"succeeded"'
bytes=$(curl -sf "$url/api/v1/runs/$run" -H "Authorization: Bearer $key" | wc -c)
echo "aos serve at $url; run $run ($bytes bytes of JSON); wrk -t2 -c$conns -d${secs}s --latency; $(nproc) cores"
echo "--- baseline: GET /healthz"
wrk -t2 -c"$conns" -d"${secs}s" --latency "$url/healthz" | grep -E "Requests/sec|50%|99%"
echo "--- GET /api/v1/runs/{id}"
wrk -t2 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $key" "$url/api/v1/runs/$run" | grep -E "Requests/sec|50%|99%|Non-2xx"
