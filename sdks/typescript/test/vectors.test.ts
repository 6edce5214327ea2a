// Every file of tests/vectors/, checked byte for byte (the same vectors the Rust tests check).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  backoffDelayMs,
  canonicalBytes,
  canonicalize,
  chainRoot,
  EMPTY_ROOT,
  hashValue,
  rootHash,
  rootHashes,
  SeededRng,
  sha256Hex,
  stepHash,
  type RetryPolicy,
  type TraceEntry,
} from "@aos/sdk";
import { VECTORS_DIR } from "./helpers/paths.js";

const load = (name: string) => JSON.parse(readFileSync(join(VECTORS_DIR, name), "utf8"));

// webhooks.json is checked by webhooks.test.ts.
const CHECKED = new Set(["canonical.json", "trace.json", "rng.json", "backoff.json", "webhooks.json"]);

test("every vector file has a checker", () => {
  const files = readdirSync(VECTORS_DIR).filter((f) => f.endsWith(".json")).sort();
  assert.ok(files.length > 0, "no vector files found");
  assert.deepEqual(files.filter((f) => !CHECKED.has(f)), [], "vector files without a checker in this test");
});

test("canonical.json: canonical text and sha256 byte for byte", async (t) => {
  const { cases } = load("canonical.json") as { cases: Array<{ name: string; input: string; canonical: string; sha256: string }> };
  assert.ok(cases.length >= 10);
  for (const c of cases) {
    await t.test(c.name, async () => {
      const value = JSON.parse(c.input);
      const text = canonicalize(value);
      assert.equal(text, c.canonical);
      assert.deepEqual(Buffer.from(canonicalBytes(value)), Buffer.from(c.canonical, "utf8"));
      assert.equal(await hashValue(value), c.sha256);
      assert.equal(await sha256Hex(canonicalBytes(value)), c.sha256);
      // Canonical text is a fixed point.
      assert.equal(canonicalize(JSON.parse(text)), text);
    });
  }
});

test("trace.json: step hashes, every root and the final root", async () => {
  const v = load("trace.json") as { entries: Array<{ entry: TraceEntry; step_hash: string }>; roots: string[]; root: string };
  assert.equal(v.roots[0], EMPTY_ROOT);
  assert.equal(await sha256Hex(""), EMPTY_ROOT);
  for (const [i, e] of v.entries.entries()) {
    assert.equal(await stepHash(e.entry), e.step_hash, `step_hash of entry ${i + 1}`);
    assert.equal(await chainRoot(v.roots[i]!, e.step_hash), v.roots[i + 1], `root ${i + 1}`);
  }
  const entries = v.entries.map((e) => e.entry);
  assert.deepEqual(await rootHashes(entries), v.roots);
  assert.equal(await rootHash(entries), v.root);
  assert.equal(await rootHash([]), EMPTY_ROOT);
});

test("trace.json: the worked example of docs/determinism.md (inputs and outcomes behind the entries)", async () => {
  const v = load("trace.json") as { entries: Array<{ entry: TraceEntry }> };
  const fetchInput = { url: "https://example.com/price", method: "GET" };
  assert.equal(canonicalize(fetchInput), '{"method":"GET","url":"https://example.com/price"}');
  assert.equal(await hashValue(fetchInput), v.entries[0]!.entry.input_hash);
  assert.equal(await hashValue({ ok: true, output: { price: 42000.5 } }), v.entries[0]!.entry.output_hash);
  assert.equal(await hashValue({ url: "https://example.com/flaky" }), v.entries[1]!.entry.input_hash);
  const err = { ok: false, error: { code: "HTTP_503", category: "TRANSIENT", message: "503 Service Unavailable", retryable: true, details: null } };
  assert.equal(
    canonicalize(err),
    '{"error":{"category":"TRANSIENT","code":"HTTP_503","details":null,"message":"503 Service Unavailable","retryable":true},"ok":false}',
  );
  assert.equal(await hashValue(err), v.entries[1]!.entry.output_hash);
  const fmt = { data: { p: 42000.5 }, expr: '"BTC \\(.p)"' };
  assert.equal(canonicalize(fmt), '{"data":{"p":42000.5},"expr":"\\"BTC \\\\(.p)\\""}');
  assert.equal(await hashValue(fmt), v.entries[3]!.entry.input_hash);
  assert.equal(await hashValue({ ok: true, output: "BTC 42000.5" }), v.entries[3]!.entry.output_hash);
});

test("rng.json: keys, u64 and f64 sequences, SplitMix64 from a state", async (t) => {
  const v = load("rng.json") as {
    cases: Array<{ seed: number; step_id: string; attempt: number; stream: string; key: string; u64: string[]; f64: number[] }>;
    splitmix64_from_state_1234567: string[];
  };
  assert.ok(v.cases.length >= 4);
  for (const c of v.cases) {
    await t.test(c.key, async () => {
      assert.equal(SeededRng.key(c.seed, c.step_id, c.attempt, c.stream), c.key);
      const rng = await SeededRng.derive(c.seed, c.step_id, c.attempt, c.stream);
      assert.deepEqual(c.u64.map(() => rng.nextU64().toString()), c.u64);
      const fresh = await SeededRng.derive(c.seed, c.step_id, c.attempt, c.stream);
      const f = c.f64.map(() => fresh.nextF64());
      assert.deepEqual(f, c.f64);
      // Byte for byte as JSON numbers, too.
      assert.deepEqual(f.map(String), c.f64.map(String));
    });
  }
  const sm = SeededRng.fromState(1234567n);
  assert.deepEqual(v.splitmix64_from_state_1234567.map(() => sm.nextU64().toString()), v.splitmix64_from_state_1234567);
});

test("rng: the documented state of [42,\"fetch\",1,\"skill\"]", async () => {
  const rng = await SeededRng.derive(42, "fetch", 1, "skill");
  assert.equal(rng.state, 0x6395623ec91042d5n);
  assert.equal(rng.state, 7175749603085533909n);
  const b = await SeededRng.derive(42, "flaky", 1, "backoff");
  assert.equal(b.state, 10154537382511017307n);
  assert.equal(b.nextU64(), 954922130659097617n);
});

test("backoff.json: the delay after each failed attempt", async (t) => {
  const v = load("backoff.json") as { cases: Array<{ policy: RetryPolicy; seed: number; step_id: string; delays_ms: number[] }> };
  assert.ok(v.cases.length >= 2);
  for (const c of v.cases) {
    await t.test(JSON.stringify(c.policy), async () => {
      const delays: number[] = [];
      for (let n = 1; n <= c.delays_ms.length; n++) delays.push(await backoffDelayMs(c.policy, c.seed, c.step_id, n));
      assert.deepEqual(delays, c.delays_ms);
      assert.equal(c.delays_ms.length, c.policy.max_attempts - 1);
    });
  }
});

test("the derived vector files regenerate to exactly their content", async () => {
  // trace.json
  const trace = load("trace.json");
  const entries = (trace.entries as Array<{ entry: TraceEntry }>).map((e) => e.entry);
  const roots = await rootHashes(entries);
  assert.deepEqual(
    {
      description: trace.description,
      entries: await Promise.all(entries.map(async (entry) => ({ entry, step_hash: await stepHash(entry) }))),
      root: roots.at(-1),
      roots,
    },
    trace,
  );
  // rng.json
  const rng = load("rng.json");
  const cases = [];
  for (const c of rng.cases as Array<{ seed: number; step_id: string; attempt: number; stream: string }>) {
    const g = await SeededRng.derive(c.seed, c.step_id, c.attempt, c.stream);
    const u64 = Array.from({ length: 5 }, () => g.nextU64().toString());
    const h = await SeededRng.derive(c.seed, c.step_id, c.attempt, c.stream);
    const f64 = Array.from({ length: 3 }, () => h.nextF64());
    cases.push({ attempt: c.attempt, f64, key: SeededRng.key(c.seed, c.step_id, c.attempt, c.stream), seed: c.seed, step_id: c.step_id, stream: c.stream, u64 });
  }
  const sm = SeededRng.fromState(1234567);
  assert.deepEqual(
    { cases, description: rng.description, splitmix64_from_state_1234567: [sm.nextU64(), sm.nextU64(), sm.nextU64()].map(String) },
    rng,
  );
  // backoff.json
  const backoff = load("backoff.json");
  const bcases = [];
  for (const c of backoff.cases as Array<{ policy: RetryPolicy; seed: number; step_id: string }>) {
    const delays_ms: number[] = [];
    for (let n = 1; n < c.policy.max_attempts; n++) delays_ms.push(await backoffDelayMs(c.policy, c.seed, c.step_id, n));
    bcases.push({ delays_ms, policy: c.policy, seed: c.seed, step_id: c.step_id });
  }
  assert.deepEqual({ cases: bcases, description: backoff.description }, backoff);
});
