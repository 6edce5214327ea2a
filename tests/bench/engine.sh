#!/usr/bin/env bash
# Engine-overhead benchmark (docs/performance.md): builds release binaries, starts a fresh
# `aos serve` with fsync on commit, and runs the 5-step json_transform plan at concurrency 1, 16, 64.
# usage: tests/bench/engine.sh [SECONDS]
# To compare with another build back to back (e.g. the previous release, built in a worktree):
#   AOS_BIN=../base/target/release/aos tests/bench/engine.sh 10; tests/bench/engine.sh 10
# (AOS_BIN serves with that binary; the load client is always this tree's.)
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
[ -d "$HOME/.cache/aos-target" ] && export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aos-target}
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p aos-cli --bin aos --example bench_engine
aos=${AOS_BIN:-$target/release/aos}
data=$(mktemp -d)
# Rate limits off: one key drives the whole load (the limiter itself is measured by read.sh).
"$aos" serve --port 0 --data-dir "$data/d" --durability fsync --rate-limit-per-minute "${AOS_RATE_LIMIT_PER_MINUTE:-0}" > "$data/out" 2> "$data/err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$data/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^AOS listening on \([^ ]*\).*/\1/p' "$data/out")
key=$(cat "$data/d/admin.key")
echo "aos serve at $url (pid $pid), fsync on commit, ${secs}s per level, $(nproc) cores"
"$target/release/examples/bench_engine" "$url" "$key" "$secs" 1 16 64
