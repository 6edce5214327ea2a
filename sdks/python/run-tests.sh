#!/usr/bin/env bash
# Runs the Python SDK's test suite: creates (or reuses) a virtualenv with the pinned dev
# dependencies under ${AOS_TEST_ENV:-/work/main/.test-env}/py-sdk, installs the SDK editable, and
# runs pytest. The tests start `aos serve` themselves from $AOS_BIN (default: the cargo target dir,
# see tests/conftest.py) and local stand-in HTTP servers on 127.0.0.1; they need PyPI for the
# packaging tests. Extra arguments go to pytest, e.g. `run-tests.sh -k verify`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
env_dir="${AOS_TEST_ENV:-/work/main/.test-env}/py-sdk"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null; then
  echo "run-tests.sh: $python is missing or older than Python 3.9" >&2
  exit 1
fi

stamp="$env_dir/.requirements.sha256"
want="$( (echo "$here"; cat "$here/requirements-dev.txt" "$here/pyproject.toml") | sha256sum | cut -d' ' -f1)"
if [ ! -x "$env_dir/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== creating $env_dir"
  rm -rf "$env_dir"
  mkdir -p "$(dirname "$env_dir")"
  "$python" -m venv "$env_dir"
  "$env_dir/bin/python" -m pip install --disable-pip-version-check -q -r "$here/requirements-dev.txt"
  # Editable install without build isolation: hatchling is among the pinned dev dependencies.
  "$env_dir/bin/python" -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e "$here"
  echo "$want" > "$stamp"
fi

if [ -z "${AOS_BIN:-}" ]; then
  for candidate in "${CARGO_TARGET_DIR:-}/debug/aos" "$HOME/.cache/aos-target/debug/aos" "$here/../../target/debug/aos"; do
    if [ -x "$candidate" ]; then export AOS_BIN="$candidate"; break; fi
  done
fi
echo "== aos binary: ${AOS_BIN:-<not found: the contract tests will fail>}"

cd "$here"
set +e
"$env_dir/bin/python" -m pytest -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "run-tests.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
