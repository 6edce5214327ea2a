#!/usr/bin/env bash
# End-to-end test of the serverless deployment: deploys template.yaml into a ministack emulator on
# a free port, creates the first admin key with `aos keys bootstrap --aws`, runs the 5-step example
# via the HTTP API and checks its records in DynamoDB, then the skills' example workflows against
# the protocol stand-ins of tests/stack/ (tests/e2e/ministack.py), then stops the emulator. The
# functions' binaries:
#   tests/e2e/ministack.sh                  # release build first (make lambdas, x86-64, lambda-release)
#   tests/e2e/ministack.sh --build none     # the last release build's <target>/lambda/<fn>/bootstrap
#   tests/e2e/ministack.sh --build debug    # dev-profile binaries of the functions built alone
#                                           # (tests/run.sh does this; no cargo-lambda needed)
# Other arguments go to ministack.py as well.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${AOS_TEST_ENV:-$PWD/.test-env}
case " $* " in
  *" --build debug "* | *" --build none "* | *" --no-build "*) tests/stack/python-env.sh ministack protocols ;;
  *)
    tests/stack/python-env.sh ministack lambda protocols
    # `cargo lambda` and zig (found as `python3 -m ziglang`) from the pinned venv.
    export PATH="$root/lambda/bin:$PATH"
    ;;
esac
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -d "$HOME/.cache/aos-target" ]; then
  export CARGO_TARGET_DIR="$HOME/.cache/aos-target"
fi

port=${AOS_E2E_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
# The emulator and the functions it spawns inherit this environment: dummy credentials, and
# nothing that points them at a real account.
unset AWS_PROFILE AWS_ENDPOINT_URL AWS_SESSION_TOKEN
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
# AUTH=true: each function calls AWS with its own execution role's credentials, and the emulator
# checks every call against that role's policies (the template's least-privilege policies).
AUTH=true tests/stack/ministack.sh start "$port"
trap 'tests/stack/ministack.sh stop' EXIT
if ! "$root/ministack/bin/python" tests/e2e/ministack.py --endpoint "http://127.0.0.1:$port" "$@"; then
  echo "---- last 80 lines of the emulator's log ($root/ministack.log)"
  tail -n 80 "$root/ministack.log"
  exit 1
fi
