#!/usr/bin/env bash
# Engine CPU per run (docs/performance.md): the server's CPU time (user + system, its jq sandbox
# workers included) per finished 5-step run under tests/bench/engine.sh's load client at one
# concurrency. CPU per run is steadier than throughput on a shared machine: compare two builds
# back to back, alternating, e.g.
#   for i in 1 2 3 4; do AOS_BIN=old/aos tests/bench/engine_cpu.sh 8 16; tests/bench/engine_cpu.sh 8 16; done
# usage: tests/bench/engine_cpu.sh [SECONDS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-8}
conc=${2:-16}
[ -d "$HOME/.cache/aos-target" ] && export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aos-target}
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p aos-cli --bin aos --example bench_engine
aos=${AOS_BIN:-$target/release/aos}
data=$(mktemp -d)
"$aos" serve --port 0 --data-dir "$data/d" --durability fsync --rate-limit-per-minute 0 > "$data/out" 2> "$data/err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$data/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^AOS listening on \([^ ]*\).*/\1/p' "$data/out")
key=$(cat "$data/d/admin.key")
ticks() { local t=0; for p in $pid $(pgrep -P "$pid"); do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
before=$(ticks)
out=$("$target/release/examples/bench_engine" "$url" "$key" "$secs" "$conc")
after=$(ticks)
runs=$(echo "$out" | awk -F'|' -v c="$conc" '$2+0==c {print $3+0}')
hz=$(getconf CLK_TCK)
echo "$(basename "$aos"): concurrency $conc, $runs runs in ${secs}s, server CPU $(( (after - before) * 1000 / hz )) ms, $(( (after - before) * 1000000 / hz / runs )) us per run"
