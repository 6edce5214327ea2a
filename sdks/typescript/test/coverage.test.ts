// The explicit mapping between OpenAPI operations and SDK methods, checked in both directions, and
// a friendly type alias for every schema.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AosClient, HELPER_METHODS, OPERATIONS } from "@aos/sdk";
import { OPENAPI_PATH, SDK_DIR } from "./helpers/paths.js";

type Doc = {
  paths: Record<string, Record<string, { operationId?: string }>>;
  components: { schemas: Record<string, unknown> };
};
const doc = JSON.parse(readFileSync(OPENAPI_PATH, "utf8")) as Doc;

const docOps = new Map<string, { method: string; path: string }>();
for (const [path, ops] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(ops)) {
    if (op.operationId) docOps.set(op.operationId, { method: method.toUpperCase(), path });
  }
}

const client = new AosClient({ baseUrl: "http://127.0.0.1:9", apiKey: "unused" });

function resolveMethod(dotted: string): unknown {
  let target: unknown = client;
  for (const part of dotted.split(".")) target = (target as Record<string, unknown>)?.[part];
  return target;
}

/** Every public method of the client and its resources, as dotted names. */
function sdkMethods(): string[] {
  const out: string[] = [];
  const collect = (obj: object, prefix: string) => {
    for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(obj))) {
      if (name === "constructor" || name.startsWith("_")) continue;
      if (typeof (obj as Record<string, unknown>)[name] === "function") out.push(prefix + name);
    }
  };
  collect(client, "");
  // Every resource object of the client (instances of the SDK's classes, but not the transport).
  const resources = Object.entries(client).filter(
    ([name, v]) => name !== "transport" && typeof v === "object" && v !== null && Object.getPrototypeOf(v) !== Object.prototype,
  );
  assert.deepEqual(resources.map(([name]) => name).sort(), ["audit", "catalog", "failures", "keys", "policies", "recovery", "runs", "secrets", "skills", "workflows"]);
  for (const [name, obj] of resources) collect(obj as object, `${name}.`);
  return out.sort();
}

test("every OpenAPI operationId maps to an SDK method", () => {
  assert.ok(docOps.size > 0);
  const unmapped = [...docOps.keys()].filter((id) => !(id in OPERATIONS));
  assert.deepEqual(unmapped, [], "operations without an SDK method");
});

test("every mapped operation exists in the OpenAPI document with the same method and path", () => {
  for (const [id, m] of Object.entries(OPERATIONS)) {
    const d = docOps.get(id);
    assert.ok(d, `${id} is mapped but the document has no such operation`);
    assert.equal(m.method, d.method, `${id} method`);
    assert.equal(m.path, d.path, `${id} path`);
  }
});

test("every mapped SDK method exists on the client", () => {
  for (const m of Object.values(OPERATIONS)) {
    assert.equal(typeof resolveMethod(m.sdk), "function", `${m.sdk} is not a method`);
  }
  for (const name of Object.keys(HELPER_METHODS)) assert.equal(typeof resolveMethod(name), "function", `${name} is not a method`);
});

test("every public SDK method is an operation or a declared helper", () => {
  const known = new Set<string>([...Object.values(OPERATIONS).map((m) => m.sdk), ...Object.keys(HELPER_METHODS)]);
  const methods = sdkMethods();
  assert.ok(methods.length >= 21, methods.join());
  assert.deepEqual(methods.filter((m) => !known.has(m)), [], "SDK methods missing from src/operations.ts");
  // And no SDK method is mapped twice.
  const sdkNames = Object.values(OPERATIONS).map((m) => m.sdk);
  assert.equal(new Set(sdkNames).size, sdkNames.length);
});

test("every schema of the document has a friendly type alias", () => {
  const dts = readFileSync(join(SDK_DIR, "dist", "esm", "types.d.ts"), "utf8");
  const missing = Object.keys(doc.components.schemas).filter((name) => !new RegExp(`export (type|interface) ${name}\\b`).test(dts));
  assert.deepEqual(missing, [], "schemas without an alias in src/types.ts");
  const generated = readFileSync(join(SDK_DIR, "src", "generated", "openapi.ts"), "utf8");
  for (const name of Object.keys(doc.components.schemas)) assert.match(generated, new RegExp(`\\b${name}:`), `${name} not generated`);
});
