#!/usr/bin/env bash
# Installs the SDK's pinned dev dependencies (npm ci), builds it (ESM, CJS, tests, examples) and
# runs every test with Node's built-in runner. The contract, example and packaging tests start
# their own `aos serve` (binary: $AOS_BIN, default ~/.cache/aos-target/debug/aos) and stop it.
# Fails when any test fails, and when no test ran at all.
set -euo pipefail
cd "$(dirname "$0")"

AOS_BIN="${AOS_BIN:-$HOME/.cache/aos-target/debug/aos}"
if [ ! -x "$AOS_BIN" ]; then
  echo "aos binary not found at $AOS_BIN" >&2
  echo "build it with: CARGO_TARGET_DIR=~/.cache/aos-target cargo build -p aos-cli   (or set AOS_BIN)" >&2
  exit 1
fi
export AOS_BIN

echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "== build"
node scripts/build.mjs

echo "== tests"
shopt -s nullglob
files=(build/test/*.test.js)
if [ "${#files[@]}" -eq 0 ]; then
  echo "no test files found under build/test" >&2
  exit 1
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# The spec reporter writes to stdout (a pipe, written synchronously), so its summary survives
# --test-force-exit, which ends the run even if a test leaked a handle.
set +e
node --test --test-timeout=180000 --test-force-exit --test-reporter=spec "${files[@]}" | tee "$log"
status=${PIPESTATUS[0]}
set -e

count() { { grep -E "^ℹ $1 [0-9]+" "$log" || true; } | tail -n 1 | awk '{print $3}'; }
tests=$(count tests); pass=$(count pass); fail=$(count fail)
tests=${tests:-0}; pass=${pass:-0}; fail=${fail:-0}
echo "${pass} passed, ${fail} failed"
if [ "$tests" -eq 0 ]; then
  echo "no tests ran" >&2
  exit 1
fi
# Node reports a test file that declared no test as one passing "test" named after the file.
if grep -E '^✔ .*build/test/[^ ]*\.test\.js' "$log" >&2; then
  echo "the test files above ran no test" >&2
  exit 1
fi
if [ "$status" -ne 0 ] || [ "$fail" -ne 0 ]; then
  exit 1
fi
