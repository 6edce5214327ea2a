#!/usr/bin/env bash
# Local Lambda invocation without Docker (docs/deploy.md, "Invoking a function locally"): the
# sample events of events/ sent with `cargo lambda invoke --data-file` to api-runs, the
# orchestrator, skill-json-transform and the aggregator, run by `cargo lambda watch`'s runtime
# emulator, over moto configured by infra/local/env.json (tests/e2e/lambda_local.py says what is
# invoked and asserted).
# usage: tests/e2e/lambda_local.sh            (needs AOS_TEST_MOTO_URL, as tests/run.sh exports;
#                                              otherwise starts a moto server of its own)
# The functions are the debug binaries of the cargo target dir. The test command's build leaves
# them there; when one is missing they are built the way tests/e2e/ministack.sh --build debug
# builds them (every function package together), so the two share one build.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${AOS_TEST_ENV:-$PWD/.test-env}
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -d "$HOME/.cache/aos-target" ]; then
  export CARGO_TARGET_DIR="$HOME/.cache/aos-target"
fi
target=${CARGO_TARGET_DIR:-$PWD/target}
tests/stack/python-env.sh moto cargo-lambda

missing=0
for f in aos api-runs orchestrator skill-json-transform aggregator; do
  [ -x "$target/debug/$f" ] || missing=1
done
if [ "$missing" = 1 ]; then
  packages=()
  for f in $(make -s --no-print-directory functions); do packages+=(-p "$f"); done
  cargo build --locked "${packages[@]}"
  [ -x "$target/debug/aos" ] || cargo build --locked -p aos-cli --bin aos
fi

if [ -z "${AOS_TEST_MOTO_URL:-}" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  tests/stack/moto.sh start "$port"
  trap 'tests/stack/moto.sh stop "$port"' EXIT
  export AOS_TEST_MOTO_URL="http://127.0.0.1:$port"
fi
"$root/moto/bin/python" tests/e2e/lambda_local.py --moto "$AOS_TEST_MOTO_URL" --target-dir "$target" \
  --cargo-lambda "$root/cargo-lambda/bin/cargo-lambda"
