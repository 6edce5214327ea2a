#!/usr/bin/env bash
# Engine-overhead benchmark (docs/performance.md): builds release binaries, starts a fresh
# `aos serve` with fsync on commit, and runs the 5-step json_transform plan at concurrency 1, 16, 64.
# usage: tests/bench/engine.sh [--restate] [SECONDS]
#   --restate  first runs the reference engine on the same machine, minutes apart: Restate with a
#              5-step journaled handler, fsync on, wrk as its load client
#              (../shared/bench/restate/run.sh, beside this checkout; ports 8080, 9070, 5122 and
#              9080 must be free), then this benchmark, and prints both with their ratios.
# To compare with another build back to back (e.g. the previous release, built in a worktree):
#   AOS_BIN=../base/target/release/aos tests/bench/engine.sh 10; tests/bench/engine.sh 10
# (AOS_BIN serves with that binary; the load client is always this tree's.)
set -euo pipefail
cd "$(dirname "$0")/../.."
restate=0
if [ "${1:-}" = "--restate" ]; then
  restate=1
  shift
fi
secs=${1:-10}
[ -d "$HOME/.cache/aos-target" ] && export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aos-target}
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p aos-cli --bin aos --example bench_engine
aos=${AOS_BIN:-$target/release/aos}
data=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; [ -n "$pid" ] && wait $pid 2>/dev/null; rm -rf "$data"' EXIT

if [ "$restate" = 1 ]; then
  reference=${AOS_RESTATE_BENCH:-../shared/bench/restate/run.sh}
  [ -f "$reference" ] || { echo "no $reference: the reference benchmark lives beside this checkout" >&2; exit 1; }
  echo "== Restate (the reference), ${secs}s per concurrency level, wrk"
  # Run from a copy (the reference folder stays as it is); RESTATE_BENCH_DIR keeps the copy's npm
  # install between runs (a fresh temporary folder otherwise).
  restate_dir=${RESTATE_BENCH_DIR:-$data/restate}
  mkdir -p "$restate_dir"
  (cd "$(dirname "$reference")" && tar cf - --exclude=node_modules --exclude=results --exclude=restate-data .) | (cd "$restate_dir" && tar xf -)
  HANDLERS=fiveStep CONCS="16 64" DURATION="$secs" LOADGEN=wrk bash "$restate_dir/run.sh" | tee "$data/restate.txt"
  results="$restate_dir/$(sed -n 's/^results: //p' "$data/restate.txt")"
fi

# Rate limits off: one key drives the whole load (the limiter itself is measured by read.sh).
"$aos" serve --port 0 --data-dir "$data/d" --durability fsync --rate-limit-per-minute "${AOS_RATE_LIMIT_PER_MINUTE:-0}" > "$data/out" 2> "$data/err" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$data/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^AOS listening on \([^ ]*\).*/\1/p' "$data/out")
key=$(cat "$data/d/admin.key")
echo "== AOS: aos serve at $url (pid $pid), fsync on commit, ${secs}s per level, $(nproc) cores"
"$target/release/examples/bench_engine" "$url" "$key" "$secs" 1 16 64 | tee "$data/aos.txt"

if [ "$restate" = 1 ]; then
  echo
  echo "== side by side (same machine, same run): ratio = AOS / Restate"
  python3 - "$results" "$data/aos.txt" <<'EOF'
import json, sys
restate = {}
for path in [sys.argv[1]]:
    for line in open(path):
        r = json.loads(line)
        if r.get("kind") == "result" and r.get("handler") == "fiveStep":
            c = 1 if r.get("mode") == "sequential" else int(r["concurrency"])
            restate[c] = (float(r["rps"]), float(r["p50_ms"]))
aos = {}
for line in open(sys.argv[2]):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 5 and cells[0].isdigit():
        aos[int(cells[0])] = (float(cells[2]), float(cells[3]))
print("| concurrency | Restate runs/s (p50 ms) | AOS runs/s (p50 ms) | runs/s ratio | p50 ratio |")
print("|---:|---:|---:|---:|---:|")
for c in sorted(set(restate) & set(aos)):
    (rr, rp), (ar, ap) = restate[c], aos[c]
    print(f"| {c} | {rr:.0f} ({rp:.2f}) | {ar:.0f} ({ap:.2f}) | {ar / rr:.2f}x | {ap / rp:.2f}x |")
EOF
fi
