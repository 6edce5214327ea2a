#!/usr/bin/env bash
# A short, time-boxed live fuzz run of every target (the corpus replay runs in every `cargo test`:
# shared/aos-fuzz-targets/tests/replay.rs). Needs the nightly toolchain; installs cargo-fuzz
# (crates.io, `cargo install --locked`, about 70 s) when it is missing. New inputs go to a
# temporary corpus (the committed one is only read); a crash fails the run and is left in
# fuzz/artifacts/<target>/ — add it to fuzz/corpus/<target>/ with the fix, so it stays a test.
# usage: fuzz/run.sh [SECONDS per target, default 20] [TARGET...]
#        fuzz/run.sh --build-only   (installs cargo-fuzz if needed and builds the targets; the test
#                                    command starts this early, at low priority, in the background)
set -euo pipefail
cd "$(dirname "$0")"
build_only=0
if [ "${1:-}" = "--build-only" ]; then
  build_only=1
  shift
fi
seconds=${1:-20}
shift || true
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: SKIPPED the live run: no nightly toolchain (rustup toolchain install nightly); the corpora were replayed by the Rust tests"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
# Beside the workspace's build, never in it: other flags (sanitizer, coverage), other profile.
export CARGO_TARGET_DIR=${AOS_FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/../target}/fuzz}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
# The test command's short run: a dev build without a sanitizer, which compiles in a fraction of the
# time of an optimized AddressSanitizer build (panics and hangs are what a Rust target finds);
# the long runs of docs/performance.md use `AOS_FUZZ_FLAGS="--debug-assertions"` (release, ASan).
read -r -a flags <<<"${AOS_FUZZ_FLAGS:---dev --sanitizer none}"
build_start=$(date +%s)
cargo +nightly fuzz build "${flags[@]}" 2>&1 | tail -n 1
echo "fuzz: built ${#targets[@]} targets in $(( $(date +%s) - build_start )) s"
[ "$build_only" = 1 ] && exit 0
status=0
for target in "${targets[@]}"; do
  work=$(mktemp -d)
  log=$(mktemp)
  if cargo +nightly fuzz run "${flags[@]}" "$target" "$work" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=3072 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $target: $runs executions in $seconds s, no failure"
  else
    echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target/:"
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -n 20
    status=1
  fi
  rm -rf "$work" "$log"
done
exit "$status"
