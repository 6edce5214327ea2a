// src/generated/openapi.ts must be exactly what openapi-typescript makes of docs/openapi.json.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { SDK_DIR } from "./helpers/paths.js";

test("regenerating the OpenAPI types produces the committed file", () => {
  const r = spawnSync(process.execPath, [join(SDK_DIR, "scripts", "generate-openapi.mjs"), "--check"], { encoding: "utf8" });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /up to date/);
});
