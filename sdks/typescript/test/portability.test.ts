// The library itself uses web-platform APIs only (fetch, WebCrypto, TextEncoder); Node-only APIs
// appear only behind guards. (It is also type-checked without Node's types: tsconfig.json.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SDK_DIR } from "./helpers/paths.js";

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? jsFiles(join(dir, d.name)) : d.name.endsWith(".js") ? [join(dir, d.name)] : [],
  );
}

test("the ESM build imports nothing from Node and touches no Node globals unguarded", () => {
  const files = jsFiles(join(SDK_DIR, "dist", "esm"));
  assert.ok(files.length >= 8);
  for (const f of files) {
    const src = readFileSync(f, "utf8");
    assert.doesNotMatch(src, /^\s*import[^;]*from\s+["'](node:|fs|path|crypto|http|os|child_process)/m, f);
    assert.doesNotMatch(src, /\brequire\(/, f);
    assert.doesNotMatch(src, /\bBuffer\b/, f);
    assert.doesNotMatch(src, /(^|[^.\w])process\./m, `${f}: process used directly (read it through globalThis, guarded)`);
  }
  // The one Node fallback: a guarded dynamic import of node:crypto for Node 18.
  const det = readFileSync(join(SDK_DIR, "dist", "esm", "determinism.js"), "utf8");
  assert.match(det, /if \(g\.crypto\?\.subtle\)/);
});
