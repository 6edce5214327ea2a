// Packaging: `npm pack` makes a tarball that installs (offline) into a fresh, empty project, where
// an example runs through both `import` and `require`, and TypeScript finds the types of both.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAos, type AosServer } from "./helpers/aos.js";
import { SDK_DIR } from "./helpers/paths.js";
import { runNode } from "./helpers/run.js";

let aos: AosServer;
let work: string;
let tarball: string;
let project: string;

function sh(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} failed in ${cwd}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

before(async () => {
  aos = await startAos();
  work = mkdtempSync(join(tmpdir(), "aos-sdk-pack-"));
});
after(async () => {
  await aos?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("npm pack produces a tarball with the builds and nothing else", () => {
  const out = sh("npm", ["pack", "--json", "--pack-destination", work], SDK_DIR);
  const [info] = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }>; name: string; version: string }>;
  assert.equal(info!.name, "@aos/sdk");
  tarball = join(work, info!.filename);
  const files = info!.files.map((f) => f.path).sort();
  for (const f of ["package.json", "README.md", "LICENSE", "dist/esm/index.js", "dist/esm/index.d.ts", "dist/cjs/index.js", "dist/cjs/index.d.ts", "dist/cjs/package.json"]) {
    assert.ok(files.includes(f), `${f} missing from the tarball`);
  }
  const stray = files.filter((f) => !(f.startsWith("dist/") || ["package.json", "README.md", "LICENSE"].includes(f)));
  assert.deepEqual(stray, [], "unexpected files in the tarball");
  const pkg = JSON.parse(readFileSync(join(SDK_DIR, "package.json"), "utf8"));
  assert.equal(pkg.license, "Apache-2.0");
  assert.deepEqual(pkg.engines, { node: ">=18" });
  assert.equal(pkg.sideEffects, false);
  assert.ok(pkg.description && pkg.keywords.length > 0 && pkg.repository);
  assert.equal(pkg.dependencies, undefined, "the SDK has no runtime dependencies");
  for (const v of Object.values(pkg.devDependencies) as string[]) assert.match(v, /^\d+\.\d+\.\d+$/, "dev dependencies are pinned exactly");
});

test("the tarball installs offline into a fresh project", () => {
  project = join(work, "consumer");
  sh("mkdir", ["-p", project], work);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }, null, 2));
  sh("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", tarball], project);
  const installed = JSON.parse(readFileSync(join(project, "node_modules", "@aos", "sdk", "package.json"), "utf8"));
  assert.equal(installed.name, "@aos/sdk");
  const consumerPkg = JSON.parse(readFileSync(join(project, "package.json"), "utf8"));
  assert.ok(consumerPkg.dependencies["@aos/sdk"].startsWith("file:"));
});

test("an example runs there through import (ESM)", async () => {
  copyFileSync(join(SDK_DIR, "build", "examples", "json_transform_demo.js"), join(project, "demo.mjs"));
  const r = await runNode(join(project, "demo.mjs"), { AOS_URL: aos.url, AOS_API_KEY: aos.apiKey }, project);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /verified: true/);
});

test("an example runs there through require (CommonJS)", async () => {
  copyFileSync(join(SDK_DIR, "build", "examples-cjs", "json_transform_demo.cjs"), join(project, "demo.cjs"));
  const r = await runNode(join(project, "demo.cjs"), { AOS_URL: aos.url, AOS_API_KEY: aos.apiKey }, project);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /replay parity: true/);
});

test("import and require load the ESM and CJS builds", () => {
  writeFileSync(
    join(project, "which.cjs"),
    `const sdk = require("@aos/sdk");
     console.log(require.resolve("@aos/sdk"));
     console.log(typeof sdk.AosClient, typeof sdk.canonicalize);
     import("@aos/sdk").then((m) => console.log(typeof m.AosClient, m.canonicalize({ b: 1, a: 2 })));`,
  );
  const out = sh(process.execPath, ["which.cjs"], project);
  assert.match(out, /node_modules\/@aos\/sdk\/dist\/cjs\/index\.js/);
  assert.match(out, /function function/);
  assert.match(out, /function \{"a":2,"b":1\}/);
});

test("TypeScript resolves the types for both import and require", () => {
  writeFileSync(
    join(project, "esm.mts"),
    `import { AosClient, ValidationError, type RunView } from "@aos/sdk";
const c: AosClient = new AosClient({ apiKey: "k" });
export const f = async (id: string): Promise<RunView> => c.waitForRun(id, { timeoutMs: 1 });
export const isV = (e: unknown): boolean => e instanceof ValidationError && e.errors.length > 0;
`,
  );
  writeFileSync(
    join(project, "cjs.cts"),
    `import sdk = require("@aos/sdk");
const c: sdk.AosClient = new sdk.AosClient({ apiKey: "k" });
export const p: sdk.Plan = sdk.plan("x").jsonTransform("a", 1, ".").build();
export const g = () => c.runs.list({ status: "failed" });
`,
  );
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", strict: true, noEmit: true, lib: ["ES2022", "DOM"], types: [] },
      files: ["esm.mts", "cjs.cts"],
    }),
  );
  sh(process.execPath, [join(SDK_DIR, "node_modules", "typescript", "bin", "tsc"), "-p", project], project);
});
