#!/usr/bin/env bash
# The README's and docs/quickstart.md's commands, end to end and offline, against `aos dev`: in a
# fresh directory holding a copy of examples/, start `aos dev` (data in ./.aos, as the README has
# it), run the README's second command, then the BTC → Slack demo with the Python SDK against the
# dev stand-ins, then `runs list` and `replay`. Fails unless every step succeeds, the Slack stand-in
# received the demo's message and the banner was printed.
# usage: tests/quickstart/offline.sh   (AOS_BIN: the aos binary; AOS_TEST_ENV/py-sdk: the Python SDK's
#        test virtualenv, made by sdks/python/run-tests.sh)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
aos=${AOS_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/aos}
python=${AOS_TEST_ENV:-$repo/.test-env}/py-sdk/bin/python
[ -x "$aos" ] || { echo "offline.sh: no aos binary at $aos (build it, or set AOS_BIN)" >&2; exit 1; }
aos=$(cd "$(dirname "$aos")" && pwd)/$(basename "$aos")
[ -x "$python" ] || { echo "offline.sh: no Python SDK env at $python (run sdks/python/run-tests.sh first)" >&2; exit 1; }

work=$(mktemp -d)
dev_pid=
cleanup() {
  if [ -n "$dev_pid" ]; then kill "$dev_pid" 2>/dev/null || true; wait "$dev_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
cp -r "$repo/examples" "$work/examples"
cd "$work"
unset AOS_API_KEY AOS_HTTP_ALLOW_HOSTS AOS_SLACK_API_URL AOS_DATA_DIR AOS_URL

"$aos" dev --port 0 --stand-in-port 0 --smtp-port 0 > dev.out 2> dev.err &
dev_pid=$!
for _ in $(seq 300); do grep -q '^Ready:' dev.out 2>/dev/null && break; sleep 0.2; done
grep -q '^Ready:' dev.out || { echo "aos dev did not start:"; cat dev.out dev.err; exit 1; }
grep -q 'AOS DEVELOPMENT MODE' dev.err || { echo "no development-mode banner on stderr:"; cat dev.err; exit 1; }
export AOS_URL=$(grep -o 'AOS listening on http://[0-9.:]*' dev.out | awk '{print $4}')
stand_ins=$(grep -o 'http://[0-9.:]*/echo' dev.out | head -n 1 | sed 's|/echo$||')
echo "aos dev on $AOS_URL, stand-ins on $stand_ins"

echo "== README: runs submit examples/hello-transform.json --wait"
"$aos" runs submit examples/hello-transform.json --inputs "$(cat examples/hello-transform.inputs.json)" --wait

echo "== quickstart: the BTC → Slack demo with the Python SDK, offline"
AOS_API_KEY=$(cat .aos/admin.key) PRICE_URL="$stand_ins/price" SLACK_WEBHOOK_URL="$stand_ins/slack/webhook" \
  "$python" examples/btc_price_slack.py | tee demo.out
run_id=$(grep -o 'r_[0-9a-f]*' demo.out | head -n 1)
for _ in $(seq 50); do grep -q 'slack webhook: BTC price: 43210.5 USD' dev.out && break; sleep 0.1; done
grep -q '\[stand-in\] slack webhook: BTC price: 43210.5 USD' dev.out || { echo "the Slack stand-in did not get the demo's message:"; cat dev.out; exit 1; }

echo "== quickstart: runs list, replay"
"$aos" runs list --limit 5
"$aos" replay "$run_id" | tee replay.out
grep -qi 'parity.*true' replay.out || { echo "replay of $run_id: no parity"; exit 1; }
echo "quickstart offline: ok"
