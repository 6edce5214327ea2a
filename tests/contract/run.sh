#!/usr/bin/env bash
# Contract fuzzing: schemathesis (`--checks all`) against a real `aos serve`, once per role.
# Starts `aos serve` on a free port with a temp data dir and rate limits off, creates a key per
# role (POST /api/v1/keys), runs `st run` against docs/openapi.json (the committed contract) for
# each role, stops the server by PID. Fails on any failure: a 5xx, a response that does not match
# the document (status, schema, content type, headers), a schema-valid request refused or a
# schema-invalid one accepted, a refusal outside the JSON error envelope.
#
# usage: tests/contract/run.sh [--aos BIN] [--max-examples N] [--roles "admin operator ..."] [--phases LIST]
#                              [--stateful-examples N] [--report-dir DIR]
# --stateful-examples: scenarios of the stateful phase (default: four times --max-examples).
# --report-dir writes one VCR cassette per schemathesis run into DIR (every request, its phase and
# the answer); tests/contract/reach.py DIR counts what reached real runs, workflows and keys.
# The test command uses the defaults (bounded, under ~2 min on 2 cores); docs/performance.md
# ("Contract fuzzing") has the longer run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
aos=${AOS_BIN:-$root/target/debug/aos}
max_examples=${CONTRACT_MAX_EXAMPLES:-5}
roles=${CONTRACT_ROLES:-"admin operator developer viewer machine"}
phases=${CONTRACT_PHASES:-"examples,coverage,fuzzing,stateful"}
stateful_examples=${CONTRACT_STATEFUL_EXAMPLES:-}
report_dir=${CONTRACT_REPORT_DIR:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --aos) aos=$2; shift 2 ;;
    --max-examples) max_examples=$2; shift 2 ;;
    --roles) roles=$2; shift 2 ;;
    --phases) phases=$2; shift 2 ;;
    --stateful-examples) stateful_examples=$2; shift 2 ;;
    --report-dir) report_dir=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
stateful_examples=${stateful_examples:-$((4 * max_examples))}

bash "$root/tests/stack/python-env.sh" contract
st="${AOS_TEST_ENV:-$root/.test-env}/contract/bin/st"

work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
# The committed configuration plus the stateful phase's scenario count (a phase's own setting wins
# over --max-examples).
config="$work/schemathesis.toml"
{ cat "$here/schemathesis.toml"; printf '\n[phases.stateful.generation]\nmax-examples = %d\n' "$stateful_examples"; } >"$config"

"$aos" serve --port 0 --data-dir "$work/data" --rate-limit-per-minute 0 >"$work/serve.out" 2>"$work/serve.err" </dev/null &
pid=$!
base=""
for _ in $(seq 1 600); do
  base=$(grep -o 'AOS listening on [^ ]*' "$work/serve.out" 2>/dev/null | awk '{print $4}' || true)
  [ -n "$base" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "aos serve exited before listening" >&2; cat "$work/serve.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { echo "aos serve did not listen within 60 s" >&2; exit 1; }
admin=$(cat "$work/data/admin.key")

# The served document must be the committed contract.
curl -fsS "$base/api/v1/openapi.json" | python3 -c '
import json, sys
served = json.load(sys.stdin)
committed = json.load(open(sys.argv[1]))
sys.exit(0 if served == committed else "GET /api/v1/openapi.json differs from docs/openapi.json: regenerate it")
' "$root/docs/openapi.json"

# Every role, admin included, fuzzes with a fresh key of its own (the bootstrap key only makes them).
key_for() { # role -> a fresh key of that role
  curl -fsS -X POST "$base/api/v1/keys" -H "authorization: Bearer $admin" -H 'content-type: application/json' \
    -d "{\"name\":\"contract-$1\",\"role\":\"$1\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}

failed=0
fuzz() { # label key [st options...]: one schemathesis run; its log is printed when it fails
  local label=$1 key=$2
  shift 2
  echo "-- schemathesis: $label (at most $max_examples examples per operation, $stateful_examples stateful scenarios, phases $phases)"
  if [ -n "$report_dir" ]; then
    mkdir -p "$report_dir"
    set -- "$@" --report vcr --report-vcr-path "$report_dir/$(echo "$label" | tr -c 'A-Za-z0-9\n' '-').yaml"
  fi
  # hooks.py: runnable plans for a share of the generated ones (reach), and the fuzzing key
  # (aos_<key id>_<secret>) is never revoked or rotated by its own run.
  if ! SCHEMATHESIS_HOOKS="$here/hooks.py" CONTRACT_KEY_ID=$(echo "$key" | cut -d_ -f2) \
      "$st" --config-file "$config" run "$root/docs/openapi.json" --url "$base" \
      -H "Authorization: Bearer $key" \
      --checks all --max-examples "$max_examples" --phases "$phases" \
      --workers 2 --request-timeout 35 --generation-deterministic \
      --no-color "$@" >"$work/st.log" 2>&1; then
    failed=1
    cat "$work/st.log"
  else
    grep -E '^ *(Operations|Scenarios|API Links):|generated, |=====.* in ' "$work/st.log"
  fi
  kill -0 "$pid" 2>/dev/null || { echo "aos serve died during the $label run" >&2; cat "$work/serve.err" >&2; exit 1; }
}
start=$(date +%s)
for role in $roles; do
  if [ "$role" = admin ]; then
    # Revoking or rotating a key by id may hit the fuzzing key itself (its id is in GET /keys and
    # /whoami): those two operations run last, on their own, below.
    fuzz "$role" "$(key_for "$role")" --exclude-path-regex '^/api/v1/keys/'
  else
    fuzz "$role" "$(key_for "$role")"
  fi
done
case " $roles " in
  *" admin "*) fuzz "admin, key routes" "$(key_for admin)" --include-path-regex '^/api/v1/keys' ;;
esac
echo "contract fuzzing: roles [$roles] in $(( $(date +%s) - start )) s"
if grep -q '"level":"ERROR"\|panicked' "$work/serve.err"; then
  echo "aos serve logged errors or panics:" >&2
  grep '"level":"ERROR"\|panicked' "$work/serve.err" | head -20 >&2
  failed=1
fi
exit $failed
