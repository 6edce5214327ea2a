#!/usr/bin/env bash
# Suggest-latency benchmark (docs/performance.md, docs/recovery.md): POST /api/v1/recovery/suggest
# under wrk — a failure described by its facts, whose evidence partition holds real history (runs
# whose failing step went on under `on_error: continue`) — with /healthz measured in the same run
# as the baseline. Needs wrk (apt-get install wrk).
# usage: tests/bench/suggest.sh [SECONDS] [CONNECTIONS]
# AOS_BIN=<path> serves with another build.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-16}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
[ -d "$HOME/.cache/aos-target" ] && export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aos-target}
target=${CARGO_TARGET_DIR:-target}
[ -n "${AOS_BIN:-}" ] || cargo build -q --release -p aos-cli --bin aos
aos=${AOS_BIN:-$target/release/aos}
data=$(mktemp -d)
"$aos" serve --port 0 --data-dir "$data/d" --rate-limit-per-minute 0 > "$data/out" 2> "$data/err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$data/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^AOS listening on \([^ ]*\).*/\1/p' "$data/out")
key=$(cat "$data/d/admin.key")
# History: 20 runs whose jq step fails (JQ_RUNTIME_ERROR) and goes on, each an observation of `continue`.
plan='{"name":"suggest-bench","steps":[
 {"id":"a","skill":"json_transform","input":{"data":1,"expr":"error(\"no price in the feed\")"},"on_error":{"action":"continue"}},
 {"id":"b","skill":"json_transform","input":{"data":2,"expr":"."}}]}'
for i in $(seq 20); do
  run=$(curl -sf -X POST "$url/api/v1/runs" -H "Authorization: Bearer $key" -H 'content-type: application/json' -d "{\"plan\":$plan}" | sed -n 's/.*"run_id":"\([^"]*\)".*/\1/p')
  curl -sf "$url/api/v1/runs/$run?wait_ms=10000" -H "Authorization: Bearer $key" > /dev/null
done
body='{"message":"jq: error (at <unknown>): no price in the feed","code":"JQ_RUNTIME_ERROR","skill":"json_transform"}'
answer=$(curl -sf -X POST "$url/api/v1/recovery/suggest" -H "Authorization: Bearer $key" -H 'content-type: application/json' -d "$body")
echo "$answer" | grep -q '"source":"history"' || { echo "no history in the suggestion: $answer" >&2; exit 1; }
lua=$data/suggest.lua
cat > "$lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA
echo "aos serve at $url; evidence of 20 runs; wrk -t2 -c$conns -d${secs}s --latency; $(nproc) cores"
echo "--- baseline: GET /healthz"
wrk -t2 -c"$conns" -d"${secs}s" --latency "$url/healthz" | grep -E "Requests/sec|50%|99%"
echo "--- POST /api/v1/recovery/suggest"
wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$lua" "$url/api/v1/recovery/suggest" | grep -E "Requests/sec|50%|99%|Non-2xx"
