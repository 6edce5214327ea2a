// Builds the package: ESM (dist/esm) and CommonJS (dist/cjs), each with its declarations, then the
// tests (build/test) and the examples of ../../examples/ts (build/examples as ESM, build/examples-cjs
// as .cjs files). Usage: node scripts/build.mjs [--lib-only]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const libOnly = process.argv.includes("--lib-only");

function run(project) {
  const r = spawnSync(process.execPath, [tsc, "-p", project], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`tsc -p ${project} failed`);
    process.exit(r.status ?? 1);
  }
}

for (const d of ["dist", "build"]) rmSync(join(root, d), { recursive: true, force: true });

run("tsconfig.json");
run("tsconfig.cjs.json");
// .js files under dist/cjs are CommonJS (and its .d.ts describe CommonJS modules).
writeFileSync(join(root, "dist", "cjs", "package.json"), JSON.stringify({ type: "commonjs" }, null, 2) + "\n");

if (!libOnly) {
  run("tsconfig.test.json");
  if (existsSync(join(root, "..", "..", "examples", "ts"))) {
    run("tsconfig.examples.json");
    run("tsconfig.examples-cjs.json");
    // .cjs so that Node loads them as CommonJS inside this "type": "module" package, where
    // require("@aos/sdk") resolves to the package itself (dist/cjs).
    const cjsDir = join(root, "build", "examples-cjs");
    for (const f of readdirSync(cjsDir)) {
      if (f.endsWith(".js")) renameSync(join(cjsDir, f), join(cjsDir, f.slice(0, -3) + ".cjs"));
    }
  }
}
mkdirSync(join(root, "build"), { recursive: true });
console.log("build ok");
