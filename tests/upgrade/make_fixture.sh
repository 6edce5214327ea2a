#!/usr/bin/env bash
# Makes tests/upgrade/fixtures/data-<release>.tar.gz with a release's `aos` binary (see README.md).
#
#   tests/upgrade/make_fixture.sh --aos /work/base-target/release/aos --release f96a76c
#
# --target defaults to target/debug/aos-target (cargo build -p aos-testkit). Takes about 10 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
aos="" release="" target="${CARGO_TARGET_DIR:-$PWD/target}/debug/aos-target"
while [ $# -gt 0 ]; do
  case "$1" in
    --aos) aos="$2"; shift 2 ;;
    --release) release="$2"; shift 2 ;;
    --target) target="$2"; shift 2 ;;
    *) echo "usage: $0 --aos PATH --release COMMIT [--target PATH]" >&2; exit 2 ;;
  esac
done
if [ -z "$aos" ] || [ -z "$release" ]; then
  echo "usage: $0 --aos PATH --release COMMIT [--target PATH]" >&2; exit 2
fi
[ -x "$aos" ] || { echo "no executable aos binary at $aos" >&2; exit 1; }
[ -x "$target" ] || { echo "no aos-target at $target: cargo build -p aos-testkit" >&2; exit 1; }
exec python3 tests/upgrade/make_fixture.py --aos "$aos" --target "$target" --release "$release" \
  --out "tests/upgrade/fixtures/data-$release.tar.gz"
