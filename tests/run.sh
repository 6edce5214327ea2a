#!/usr/bin/env bash
# Installs what the tests need and runs every test of AOS. This is the README's test command and
# exactly what CI runs (.ci/run). Every service a test needs is started by the test itself
# (`aos serve` on a random port, local HTTP targets) and stopped by it.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
# Each part's header carries the time since the start, so a slow part shows in CI's log.
section() { echo "== [$(( $(date +%s) - start )) s] $*"; }

# Reuse a warm cargo target dir outside the clone when there is one; a cold machine builds in ./target.
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -d "$HOME/.cache/aos-target" ]; then
  export CARGO_TARGET_DIR="$HOME/.cache/aos-target"
fi
export CARGO_TERM_COLOR=never
# CI builds each crate once: incremental compilation's caches would only cost disk (several GB on a
# cold clone) and time. Locally it stays on, for quick rebuilds.
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL=0
fi
export RUST_BACKTRACE=1

section "house rules: cargo fmt --check, cargo clippy -D warnings"
cargo fmt --all --check || { echo "cargo fmt --check failed: run 'cargo fmt --all' (rustfmt.toml holds the settings)"; exit 1; }
cargo clippy --workspace --all-targets --locked --quiet -- -D warnings

section "build (debug, all crates and tests)"
cargo build --workspace --all-targets --locked 2>&1 | tail -n 3

section "each Lambda function alone, with its own features (cargo check -p <function>)"
# The workspace build unifies features across crates; a function is deployed as its own package
# (`aos-api` without `openapi`, one skill executor at most), so each is checked that way too. The
# list is the Makefile's, generated from the lists of functions (aos_lambda::functions).
for function in $(make -s --no-print-directory functions); do
  cargo check --locked --quiet -p "$function" || { echo "cargo check -p $function failed"; exit 1; }
done

section "OpenAPI document is current"
# The binary the build above made: `cargo run -p aos-cli` would build aos-cli again with its own
# feature set (its AWS SDK dependencies differ from the workspace's unified ones).
"${CARGO_TARGET_DIR:-$PWD/target}/debug/aos" openapi > /tmp/aos-openapi.$$.json
if ! diff -q docs/openapi.json /tmp/aos-openapi.$$.json >/dev/null; then
  echo "docs/openapi.json differs from the code: regenerate with 'cargo run -p aos-cli -- openapi > docs/openapi.json'"
  diff docs/openapi.json /tmp/aos-openapi.$$.json | head -n 40
  rm -f /tmp/aos-openapi.$$.json
  exit 1
fi
rm -f /tmp/aos-openapi.$$.json

section "SAM template: cfn-lint and sam validate --lint"
bash tests/e2e/lint.sh

section "test services"
# promtool (Debian's prometheus package) checks the Prometheus exposition the Lambda metrics test renders.
if ! command -v promtool >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
# moto server: DynamoDB, SQS and Secrets Manager for the AWS adapters' and Lambda handlers' tests.
bash tests/stack/python-env.sh moto
moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bash tests/stack/moto.sh start "$moto_port"
trap 'bash tests/stack/moto.sh stop "$moto_port"' EXIT
export AOS_TEST_MOTO_URL="http://127.0.0.1:$moto_port"
echo "moto server on $AOS_TEST_MOTO_URL"
# The skills' protocol servers and reference libraries (standardwebhooks, aiosmtpd): the skill tests
# start them themselves (tests/stack/protocol_receiver.py) from this env.
bash tests/stack/python-env.sh protocols

section "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast --failure-output final
else
  cargo test --workspace --locked --no-fail-fast
fi

# The fuzz targets' nightly build (minutes from cold) overlaps the suites below, which mostly wait
# on servers and clocks: in the background at the lowest CPU priority, so it takes only what they
# leave idle. The live fuzz run at the end waits for it.
fuzz_build_log=$(mktemp)
setsid nice -n 19 bash fuzz/run.sh --build-only > "$fuzz_build_log" 2>&1 &
fuzz_build=$!
# Its own process group (setsid): stopped as a whole if a step fails before the end.
trap 'kill -- -"$fuzz_build" 2>/dev/null || true; bash tests/stack/moto.sh stop "$moto_port"' EXIT

section "serverless: template.yaml deployed into ministack, the 5-step example through its HTTP API"
# The functions are dev-profile binaries built apart from the workspace, with the features a
# deployment gives them (no cargo-lambda, no release build); tests/e2e/ministack.sh without
# --build debug cross-builds the release binaries instead.
bash tests/e2e/ministack.sh --build debug

section "local Lambda invocation: the events/ samples through cargo lambda watch + invoke, over moto"
# The debug binaries built above (no build of its own); infra/local/env.json configures them.
bash tests/e2e/lambda_local.sh

export AOS_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/aos"
export AOS_TEST_ENV="${AOS_TEST_ENV:-$PWD/.test-env}"

section "access control: Cognito (moto) logins, forged tokens, key rotation, aos login"
"$AOS_TEST_ENV/moto/bin/python" tests/auth/cognito_test.py

section "monitoring: alert rules (promtool) and acceptance traffic under a real Prometheus"
# Debian's prometheus (server + promtool); the test starts aos-target, aos serve and prometheus by PID.
bash tests/stack/prometheus.sh
promtool check rules infra/prometheus/aos-alerts.yml
promtool test rules infra/prometheus/aos-alerts.test.yml
# The SLOs' recording rules and burn-rate alerts (docs/slo.md), and the Alertmanager routes
# (amtool from Debian's prometheus-alertmanager).
promtool check rules infra/prometheus/aos-slo.yml
promtool test rules infra/prometheus/aos-slo.test.yml
if ! command -v amtool >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
fi
bash tests/monitoring/alertmanager_routes.sh
python3 tests/monitoring/prometheus_test.py

section "SDKs against a real aos serve"
bash sdks/python/run-tests.sh -q
bash sdks/typescript/run-tests.sh

section "quickstart offline: the README's commands and the BTC → Slack demo (Python SDK) against aos dev"
bash tests/quickstart/offline.sh

section "release: the workflow (actionlint, zizmor --offline), aos-sdk (build, twine check), @aos/sdk (npm publish --dry-run)"
bash tests/release/check.sh

section "web console: its build is current, then Chromium (playwright-core, axe-core) against a real aos serve"
# Starts its own aos serve, aos-target and moto server by PID; writes the screenshots of docs/console.md.
bash console/run-tests.sh

section "upgrade: a data dir of the previous release opened by this one"
# Every fixture in tests/upgrade/fixtures (written by an earlier release, killed with runs in flight).
python3 tests/upgrade/run.py --aos "$AOS_BIN"

section "recovery acceptance: suggestions learning from repeated traffic (429, 503, a timeout, a 400)"
# Starts its own aos serve and aos-target by PID; prints a table per round (docs/recovery.md).
python3 tests/recovery/acceptance.py --aos "$AOS_BIN"

section "learning loop: a week of simulated traffic, the loop active against a baseline without it"
# Starts two aos serve and aos-target by PID; prints the per-day table of docs/recovery.md.
python3 tests/acceptance/learning.py --aos "$AOS_BIN"

section "hostile suite: jq bombs, oversized plans, secret leaks, redirects, slow clients, corrupt storage, kill -9"
# Starts its own aos serve (temp data dir, free port) and local HTTP servers, stops them by PID.
python3 tests/hostile/run.py --aos "$AOS_BIN"

section "contract fuzzing: schemathesis --checks all against aos serve, a key per role (docs/performance.md)"
# Starts its own aos serve (temp data dir, free port, rate limits off), stops it by PID.
AOS_BIN="$AOS_BIN" bash tests/contract/run.sh

section "load: 200 concurrent runs through the API, every one accounted for (a correctness check, not timed)"
# Starts its own aos serve and a counting HTTP target by PID; the 1,000-run burst and the 10-minute
# soak (tests/load/soak.py) are documented figures, not run here (docs/performance.md).
python3 tests/load/burst.py --runs 200 --clients 50

section "docs site: mkdocs build --strict (broken links and anchors, pages missing from the nav), skill pages vs their declarations"
bash tests/docs/build.sh

section "fuzz: every cargo-fuzz target live for ${AOS_FUZZ_SECONDS:-10} s (their committed corpora replayed in the Rust tests above)"
# Nightly toolchain; installs cargo-fuzz when missing. Instrumented build beside the workspace's.
if ! wait "$fuzz_build"; then
  cat "$fuzz_build_log"
  echo "the fuzz targets' build failed"
  exit 1
fi
cat "$fuzz_build_log"
rm -f "$fuzz_build_log"
bash fuzz/run.sh "${AOS_FUZZ_SECONDS:-10}"

section "total test time: $(( $(date +%s) - start )) s"
