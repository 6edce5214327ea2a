// Unit tests of the parts that need no server: canonical JSON edge cases, step order, backoff with
// Retry-After, the plan builder, error mapping, Retry-After parsing, pagination, WebCrypto fallback.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import {
  AosClient,
  AosError,
  AuthenticationError,
  backoffDelayMs,
  canonicalize,
  ConflictError,
  errorFromResponse,
  hashValue,
  isFinalStatus,
  NotFoundError,
  Paginator,
  parseRetryAfter,
  PermissionDeniedError,
  plan,
  PlanBuilder,
  RateLimitError,
  ref,
  ServerError,
  stepOrder,
  ValidationError,
} from "@aos/sdk";

test("canonicalize: undefined members are left out, non-JSON values throw", () => {
  assert.equal(canonicalize({ b: undefined, a: 1 }), '{"a":1}');
  assert.throws(() => canonicalize(NaN), TypeError);
  assert.throws(() => canonicalize(Infinity), TypeError);
  assert.throws(() => canonicalize(1n), TypeError);
  assert.throws(() => canonicalize([undefined]), TypeError);
  assert.throws(() => canonicalize(() => 1), TypeError);
  assert.equal(canonicalize(-0), "0");
  assert.equal(canonicalize(9007199254740993), "9007199254740992");
  assert.equal(canonicalize({ "\ufb33": 1, "\ud83d\ude00": 2 }), '{"\ud83d\ude00":2,"\ufb33":1}');
  assert.equal(canonicalize("\u007f/\u2028"), '"\u007f/\u2028"');
});

test("hashValue of {} is the documented hash", async () => {
  assert.equal(await hashValue({}), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
});

test("stepOrder: Kahn's algorithm with plan position as tie-breaker", () => {
  assert.deepEqual(stepOrder({ steps: [{ id: "a" }, { id: "b", depends_on: ["a"] }, { id: "c" }] }), ["a", "b", "c"]);
  assert.deepEqual(stepOrder({ steps: [{ id: "x", depends_on: ["y"] }, { id: "y" }, { id: "z" }] }), ["y", "x", "z"]);
  assert.deepEqual(
    stepOrder({ steps: [{ id: "d", depends_on: ["b", "c"] }, { id: "c", depends_on: ["a"] }, { id: "b", depends_on: ["a"] }, { id: "a" }] }),
    ["a", "c", "b", "d"],
  );
  // A cycle falls back to plan order, as AOS does.
  assert.deepEqual(stepOrder({ steps: [{ id: "p", depends_on: ["q"] }, { id: "q", depends_on: ["p"] }] }), ["p", "q"]);
});

test("backoffDelayMs: defaults, retry_after_ms floor and the 15-minute cap", async () => {
  const withDefaults = await backoffDelayMs({}, 42, "flaky", 1);
  assert.equal(withDefaults, await backoffDelayMs({ initial_delay_ms: 200, max_delay_ms: 10000, multiplier: 2 }, 42, "flaky", 1));
  assert.equal(await backoffDelayMs({}, 42, "flaky", 1, 5000), 5000);
  assert.equal(await backoffDelayMs({}, 42, "flaky", 1, 10), withDefaults);
  assert.equal(await backoffDelayMs({}, 42, "flaky", 1, -5), withDefaults);
  assert.equal(await backoffDelayMs({}, 42, "flaky", 1, 1.5), withDefaults);
  assert.equal(await backoffDelayMs({}, 42, "flaky", 1, 10_000_000), 900_000);
  const big = await backoffDelayMs({ initial_delay_ms: 5_000_000, max_delay_ms: 5_000_000, multiplier: 1 }, 1, "s", 1);
  assert.equal(big, 900_000);
  // multiplier below 1 counts as 1
  assert.equal(
    await backoffDelayMs({ initial_delay_ms: 1000, max_delay_ms: 5000, multiplier: 0.5 }, 3, "s", 4),
    await backoffDelayMs({ initial_delay_ms: 1000, max_delay_ms: 5000, multiplier: 1 }, 3, "s", 4),
  );
});

test("plan builder: camelCase options become the wire format", () => {
  const p = plan("demo")
    .inputSchema({ type: "object", properties: { url: { type: "string" } } })
    .budget({ maxCostUsd: 0.01, maxDurationMs: null })
    .httpCall("fetch", { url: ref.input("url"), headers: { authorization: `Bearer ${ref.secret("TOKEN")}` } }, {
      retry: { maxAttempts: 4, initialDelayMs: 500, maxDelayMs: 4000, multiplier: 3, retryOn: ["TRANSIENT"] },
      timeoutMs: 5000,
    })
    .jsonTransform("extract", { data: ref.step("fetch", "body.items[0]"), expr: ".price" }, {
      dependsOn: ["fetch"],
      condition: ".steps.fetch.status == \"succeeded\"",
      onError: { action: "fallback", skill: "json_transform", input: { data: null, expr: "0" } },
    })
    .step("log", "json_transform", { data: ref.step("extract"), expr: "." }, { dependsOn: ["extract"], onError: "continue" })
    .build();
  assert.deepEqual(p, {
    name: "demo",
    input_schema: { type: "object", properties: { url: { type: "string" } } },
    budget: { max_cost_usd: 0.01, max_duration_ms: null },
    steps: [
      {
        id: "fetch",
        skill: "http_call",
        input: { url: "{{ inputs.url }}", headers: { authorization: "Bearer {{ secrets.TOKEN }}" } },
        retry: { max_attempts: 4, initial_delay_ms: 500, max_delay_ms: 4000, multiplier: 3, retry_on: ["TRANSIENT"] },
        timeout_ms: 5000,
      },
      {
        id: "extract",
        skill: "json_transform",
        input: { data: "{{ steps.fetch.output.body.items[0] }}", expr: ".price" },
        depends_on: ["fetch"],
        condition: '.steps.fetch.status == "succeeded"',
        on_error: { action: "fallback", skill: "json_transform", input: { data: null, expr: "0" } },
      },
      {
        id: "log",
        skill: "json_transform",
        input: { data: "{{ steps.extract.output }}", expr: "." },
        depends_on: ["extract"],
        on_error: { action: "continue" },
      },
    ],
  });
  // JSON.stringify of a builder is the plan.
  const b = new PlanBuilder("x").jsonTransform("a", { data: 1, expr: "." });
  assert.deepEqual(JSON.parse(JSON.stringify(b)), b.build());
});

test("plan builder: obvious mistakes throw before anything is sent", () => {
  assert.throws(() => plan("empty").build(), /at least one step/);
  assert.throws(() => plan(" ").step("a", "json_transform").build(), /name/);
  assert.throws(() => plan("p").step("a b", "json_transform").build(), /letters, digits/);
  assert.throws(() => plan("p").step("a", "x").step("a", "x").build(), /duplicate/);
  assert.throws(() => plan("p").step("a", "x", null, { dependsOn: ["zz"] }).build(), /unknown step "zz"/);
  assert.throws(() => plan("p").step("a", "x", null, { dependsOn: ["b"] }).step("b", "x", null, { dependsOn: ["a"] }).build(), /cycle/);
  assert.throws(() => ref.input("a b"), /invalid/);
  assert.throws(() => ref.step("a.b"), /invalid/);
  assert.throws(() => ref.secret("A-B"), /invalid/);
  assert.equal(ref.step("a", "items.0"), "{{ steps.a.output.items.0 }}");
});

test("errors: status maps to a class carrying code, message, status and details", () => {
  const body = {
    error: {
      code: "PLAN_UNKNOWN_SKILL",
      message: "step `a` uses unknown skill `nope`",
      details: {
        errors: [{ code: "PLAN_UNKNOWN_SKILL", field: "steps[0].skill", message: "step `a` uses unknown skill `nope`", step_id: "a" }],
        field: "steps[0].skill",
        step_id: "a",
      },
    },
  };
  const v = errorFromResponse(422, body, "POST /api/v1/runs");
  assert.ok(v instanceof ValidationError && v instanceof AosError && v instanceof Error);
  assert.equal(v.name, "ValidationError");
  assert.equal(v.status, 422);
  assert.equal(v.code, "PLAN_UNKNOWN_SKILL");
  assert.equal(v.message, "step `a` uses unknown skill `nope`");
  assert.equal(v.field, "steps[0].skill");
  assert.equal(v.stepId, "a");
  assert.equal((v as ValidationError).errors[0]!.field, "steps[0].skill");
  assert.equal(v.request, "POST /api/v1/runs");

  const cases: Array<[number, unknown]> = [
    [400, ValidationError],
    [401, AuthenticationError],
    [403, PermissionDeniedError],
    [404, NotFoundError],
    [409, ConflictError],
    [429, RateLimitError],
    [500, ServerError],
    [503, ServerError],
    [413, AosError],
  ];
  for (const [status, cls] of cases) {
    const e = errorFromResponse(status, { error: { code: "X", message: "m", details: {} } }, "GET /x");
    assert.equal(e.constructor, cls, `status ${status}`);
    assert.equal(e.status, status);
  }
  const forbidden = errorFromResponse(403, { error: { code: "FORBIDDEN", message: "no", details: {} } }, "PUT /api/v1/secrets/A");
  assert.ok(forbidden instanceof PermissionDeniedError);
  assert.equal(forbidden.code, "FORBIDDEN");
  // A validation error without a list still has one problem.
  const q = errorFromResponse(400, { error: { code: "INVALID_JSON", message: "bad json", details: {} } }, "POST /x") as ValidationError;
  assert.deepEqual(q.errors, [{ code: "INVALID_JSON", message: "bad json", field: null, step_id: null }]);
  // Not an AOS error body.
  const raw = errorFromResponse(502, "<html>bad gateway</html>", "GET /x");
  assert.ok(raw instanceof ServerError);
  assert.equal(raw.code, "HTTP_502");
});

test("parseRetryAfter: seconds and HTTP dates", () => {
  assert.equal(parseRetryAfter("2"), 2000);
  assert.equal(parseRetryAfter("0"), 0);
  assert.equal(parseRetryAfter(" 1.5 "), 1500);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter("soon"), undefined);
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:05 GMT", now), 5000);
  assert.equal(parseRetryAfter("Wed, 31 Dec 2025 23:59:00 GMT", now), 0);
});

test("Paginator follows cursors, honours maxItems and restarts per iteration", async () => {
  const pages: Record<string, { items: number[]; nextCursor?: string }> = {
    start: { items: [1, 2], nextCursor: "c1" },
    c1: { items: [3, 4], nextCursor: "c2" },
    c2: { items: [5] },
  };
  const calls: string[] = [];
  const p = new Paginator<number>(async (c) => {
    calls.push(c ?? "start");
    const page = pages[c ?? "start"]!;
    return { items: page.items, nextCursor: page.nextCursor };
  });
  assert.deepEqual(await p.toArray(), [1, 2, 3, 4, 5]);
  assert.deepEqual(calls, ["start", "c1", "c2"]);
  const again: number[] = [];
  for await (const n of p) again.push(n);
  assert.deepEqual(again, [1, 2, 3, 4, 5]);
  const limited = new Paginator<number>(async (c) => ({ items: pages[c ?? "start"]!.items, nextCursor: pages[c ?? "start"]!.nextCursor }), { maxItems: 3 });
  assert.deepEqual(await limited.toArray(), [1, 2, 3]);
  const looping = new Paginator<number>(async () => ({ items: [1], nextCursor: "same" }));
  await assert.rejects(looping.toArray(), /cursor repeated/);
});

test("client options: env, trailing slashes, exclusive credentials", () => {
  const saved = { url: process.env.AOS_URL, key: process.env.AOS_API_KEY };
  try {
    process.env.AOS_URL = "http://example.invalid:1234/prefix/";
    process.env.AOS_API_KEY = "aos_env";
    const c = new AosClient();
    assert.equal(c.baseUrl, "http://example.invalid:1234/prefix");
    assert.equal(c.transport.options.token, "aos_env");
    assert.equal(new AosClient({ baseUrl: "http://h/" }).baseUrl, "http://h");
    assert.equal(new AosClient({ apiKey: "k" }).transport.options.token, "k");
    delete process.env.AOS_URL;
    delete process.env.AOS_API_KEY;
    assert.equal(new AosClient().baseUrl, "http://127.0.0.1:8080");
    assert.equal(new AosClient().transport.options.token, undefined);
    assert.throws(() => new AosClient({ apiKey: "a", bearerToken: "b" }), TypeError);
  } finally {
    if (saved.url === undefined) delete process.env.AOS_URL;
    else process.env.AOS_URL = saved.url;
    if (saved.key === undefined) delete process.env.AOS_API_KEY;
    else process.env.AOS_API_KEY = saved.key;
  }
});

test("isFinalStatus", () => {
  assert.deepEqual(["queued", "running", "succeeded", "failed", "cancelled"].map(isFinalStatus), [false, false, true, true, true]);
});

test("SHA-256 falls back to node:crypto when globalThis.crypto is missing (Node 18)", async () => {
  const require = createRequire(import.meta.url);
  const path = require.resolve("@aos/sdk");
  assert.match(path, /dist[\\/]cjs[\\/]index\.js$/);
  const desc = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  assert.ok(desc?.configurable, "globalThis.crypto is not configurable here");
  // A fresh copy of the CommonJS build, so that no SubtleCrypto is cached yet.
  for (const k of Object.keys(require.cache)) if (k.includes(`${"dist"}`)) delete require.cache[k];
  Object.defineProperty(globalThis, "crypto", { value: undefined, configurable: true, writable: true });
  try {
    const fresh = require("@aos/sdk") as typeof import("@aos/sdk");
    assert.equal((globalThis as { crypto?: unknown }).crypto, undefined);
    assert.equal(await fresh.hashValue({}), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  } finally {
    Object.defineProperty(globalThis, "crypto", desc!);
  }
});
