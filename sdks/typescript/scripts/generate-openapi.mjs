// Generates src/generated/openapi.ts from ../../docs/openapi.json with openapi-typescript.
//   node scripts/generate-openapi.mjs          writes the file
//   node scripts/generate-openapi.mjs --check  exits 1 when the committed file differs from what
//                                              regenerating produces (the spec drifted)
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const spec = join(root, "..", "..", "docs", "openapi.json");
const target = join(root, "src", "generated", "openapi.ts");
const cli = join(root, "node_modules", "openapi-typescript", "bin", "cli.js");
// Objects the document declares without properties may hold anything: `unknown` values, not `never`.
const FLAGS = ["--empty-objects-unknown"];

export function generate() {
  const dir = mkdtempSync(join(tmpdir(), "aos-openapi-"));
  try {
    const out = join(dir, "openapi.ts");
    const r = spawnSync(process.execPath, [cli, spec, "-o", out, ...FLAGS], { encoding: "utf8" });
    if (r.status !== 0) {
      throw new Error(`openapi-typescript failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    }
    return readFileSync(out, "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fresh = generate();
if (process.argv.includes("--check")) {
  const committed = readFileSync(target, "utf8");
  if (committed !== fresh) {
    const a = committed.split("\n");
    const b = fresh.split("\n");
    const i = a.findIndex((line, k) => line !== b[k]);
    console.error(`src/generated/openapi.ts is out of date with docs/openapi.json (first difference at line ${i + 1}):`);
    console.error(`  committed:   ${a[i]}`);
    console.error(`  regenerated: ${b[i]}`);
    console.error("Run `npm run generate` and commit the result.");
    process.exit(1);
  }
  console.log("src/generated/openapi.ts is up to date");
} else {
  writeFileSync(target, fresh);
  console.log(`wrote ${target}`);
}
