#!/usr/bin/env bash
# Builds the documentation site (mkdocs.yml) with `mkdocs build --strict`: a broken link or anchor,
# a page missing from the nav or a nav entry without a page fails. Checks first that the skill pages
# (docs/skills/) match the skills' declarations of a real `aos serve` ($AOS_BIN).
# usage: tests/docs/build.sh [SITE_DIR]   (default: a temporary directory, removed afterwards)
set -euo pipefail
cd "$(dirname "$0")/../.."
env_root=${AOS_TEST_ENV:-$PWD/.test-env}
bash tests/stack/python-env.sh docs
python3 tests/docs/skill_pages.py --check --aos "${AOS_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/aos}"
site=${1:-}
cleanup=""
if [ -z "$site" ]; then
  site=$(mktemp -d)
  cleanup=$site
fi
log=$(mktemp)
status=0
NO_MKDOCS_2_WARNING=1 "$env_root/docs/bin/mkdocs" build --strict --site-dir "$site" >"$log" 2>&1 || status=$?
grep -v '^INFO' "$log" || true
rm -f "$log"
if [ "$status" -eq 0 ]; then
  # The API reference embeds Swagger UI over the committed document (bundled, no CDN).
  test -f "$site/openapi.json" || { echo "the site has no openapi.json"; status=1; }
  grep -q 'swagger' "$site/reference/api/index.html" || { echo "the API reference page has no Swagger UI"; status=1; }
  echo "docs site: $(find "$site" -name index.html | wc -l) pages"
fi
[ -n "$cleanup" ] && rm -rf "$cleanup"
exit "$status"
