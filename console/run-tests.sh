#!/usr/bin/env bash
# The console's tests (tests/run.sh runs this): installs the pinned npm packages (npm ci) and
# Debian's Chromium when missing, checks that the committed build (console/dist, embedded in the
# `aos` binary) is what a fresh build of these sources gives, then drives the console in headless
# Chromium against a real `aos serve` and `aos-target` that the tests start and stop by PID.
# Binaries: $AOS_BIN (default target/debug/aos) and aos-target beside it.
set -euo pipefail
cd "$(dirname "$0")"

export AOS_BIN="${AOS_BIN:-${CARGO_TARGET_DIR:-$PWD/../target}/debug/aos}"
if [ ! -x "$AOS_BIN" ] || [ ! -x "$(dirname "$AOS_BIN")/aos-target" ]; then
  echo "aos or aos-target not found beside $AOS_BIN: build them with 'cargo build -p aos-cli -p aos-testkit' (or set AOS_BIN)" >&2
  exit 1
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian's chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "== console/dist is the build of these sources"
# Like docs/openapi.json: the binary embeds the committed build, so it must match a fresh one.
fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
npx tsc --noEmit -p tsconfig.json
npx vite build --logLevel warn --outDir "$fresh/dist"
if ! diff -r dist "$fresh/dist" >/dev/null; then
  echo "console/dist differs from a fresh build of console/src and sdks/typescript/src (the SDK is compiled in):" >&2
  echo "run 'cd console && npm ci && npm run build' and commit console/dist" >&2
  diff -r dist "$fresh/dist" | head -n 20 >&2
  exit 1
fi

echo "== initial load (gzipped): index.html and the files it names"
node tests/bundle-size.mjs

echo "== console in Chromium against aos serve (API keys), and OpenID Connect sign-in against moto's Cognito"
# moto server (tests/oidc.test.mjs starts its own on a free port) from the project's pinned venv.
bash ../tests/stack/python-env.sh moto
node --test --test-concurrency=1 --test-timeout=300000 --test-reporter=spec tests/console.test.mjs tests/oidc.test.mjs
