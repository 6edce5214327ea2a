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
  BadRequestError,
  canonicalize,
  ConflictError,
  errorFromResponse,
  fallback,
  FailurePager,
  hashValue,
  isFinalStatus,
  MethodNotAllowedError,
  NotFoundError,
  parseRetryAfter,
  PayloadTooLargeError,
  PermissionDeniedError,
  plan,
  PlanBuildError,
  PlanBuilder,
  ProgressTracker,
  RateLimitError,
  ref,
  refInput,
  refSecret,
  refStep,
  RunFailedError,
  RunPager,
  runOutput,
  ServerError,
  ServiceUnavailableError,
  stepOrder,
  stepReferences,
  UnsupportedMediaTypeError,
  ValidationError,
  type FailureList,
  type FetchLike,
  type RunList,
  type RunView,
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
    .inputs(["url"], { url: { type: "string" } })
    .budget({ maxCostUsd: 0.01, maxDurationMs: null })
    .httpCall("fetch", { url: refInput("url"), headers: { authorization: `Bearer ${refSecret("TOKEN")}` } }, {
      retry: { maxAttempts: 4, initialDelayMs: 500, maxDelayMs: 4000, multiplier: 3, retryOn: ["TRANSIENT"] },
      timeoutMs: 5000,
    })
    .jsonTransform("extract", refStep("fetch", "output.body.items[0]"), ".price", {
      dependsOn: ["fetch"],
      condition: '.steps.fetch.status == "succeeded"',
      onError: fallback("json_transform", { data: null, expr: "0" }),
    })
    .step("log", "json_transform", { data: ref.step("extract"), expr: "." }, { dependsOn: ["extract"], onError: "continue", retry: 1 })
    .httpCall("ping", "https://example.com/ping", { dependsOn: ["log"] })
    .build();
  assert.deepEqual(p, {
    name: "demo",
    input_schema: { type: "object", properties: { url: { type: "string" } }, required: ["url"] },
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
        retry: { max_attempts: 1 },
      },
      { id: "ping", skill: "http_call", input: { url: "https://example.com/ping" }, depends_on: ["log"] },
    ],
  });
  // JSON.stringify of a builder is the plan; the builder's options can be given up front.
  const b = new PlanBuilder("x", { budget: { maxCostUsd: 1 } }).jsonTransform("a", 1, ".");
  assert.deepEqual(JSON.parse(JSON.stringify(b)), b.build());
  assert.deepEqual(b.build().budget, { max_cost_usd: 1 });
  assert.deepEqual([...stepReferences({ a: ["{{ steps.x.output }}", { b: "n={{steps.y.output.z}}" }], c: 1 })].sort(), ["x", "y"]);
});

test("plan builder: obvious mistakes throw PlanBuildError before anything is sent", () => {
  assert.throws(() => plan("empty").build(), (e: unknown) => e instanceof PlanBuildError && /at least one step/.test(e.message));
  assert.throws(() => plan(" ").step("a", "json_transform").build(), /name/);
  assert.throws(() => plan("p").step("a b", "json_transform").build(), /letters, digits/);
  assert.throws(() => plan("p").step("a", "x").step("a", "x").build(), /duplicate/);
  assert.throws(() => plan("p").step("a", "x", null, { dependsOn: ["zz"] }).build(), /unknown step "zz"/);
  assert.throws(() => plan("p").step("a", "x", null, { dependsOn: ["b"] }).step("b", "x", null, { dependsOn: ["a"] }).build(), /cycle/);
  assert.throws(
    () => plan("p").jsonTransform("a", 1, ".").jsonTransform("b", refStep("a"), ".").build(),
    /references step "a", which is not upstream/,
  );
  // Transitively upstream is fine.
  plan("p").jsonTransform("a", 1, ".").jsonTransform("b", 2, ".", { dependsOn: ["a"] }).jsonTransform("c", refStep("a"), ".", { dependsOn: ["b"] }).build();
  assert.throws(() => plan("p").step("a", "x", null, { onError: "retry" as never }), /abort' or 'continue/);
  assert.throws(() => refInput("a b"), /invalid/);
  assert.throws(() => refStep("a.b"), /invalid/);
  assert.throws(() => refStep("a", "body"), /starts with 'output'/);
  assert.throws(() => refSecret("A-B"), /invalid/);
  assert.equal(refStep("a", "output.items.0"), "{{ steps.a.output.items.0 }}");
  assert.equal(refStep("a", "output[0]"), "{{ steps.a.output[0] }}");
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
  const v = errorFromResponse(422, body, { method: "POST", url: "http://h/api/v1/runs" });
  assert.ok(v instanceof ValidationError && v instanceof AosError && v instanceof Error);
  assert.equal(v.name, "ValidationError");
  assert.equal(v.status, 422);
  assert.equal(v.code, "PLAN_UNKNOWN_SKILL");
  assert.equal(v.message, "step `a` uses unknown skill `nope`");
  assert.equal(v.field, "steps[0].skill");
  assert.equal(v.stepId, "a");
  assert.equal((v as ValidationError).errors[0]!.field, "steps[0].skill");
  assert.equal(v.method, "POST");
  assert.equal(v.url, "http://h/api/v1/runs");

  const cases: Array<[number, unknown]> = [
    [400, BadRequestError],
    [401, AuthenticationError],
    [403, PermissionDeniedError],
    [404, NotFoundError],
    [405, MethodNotAllowedError],
    [409, ConflictError],
    [413, PayloadTooLargeError],
    [415, UnsupportedMediaTypeError],
    [422, ValidationError],
    [429, RateLimitError],
    [500, ServerError],
    [503, ServiceUnavailableError],
    [418, AosError],
  ];
  for (const [status, cls] of cases) {
    const e = errorFromResponse(status, { error: { code: "X", message: "m", details: {} } });
    assert.equal(e.constructor, cls, `status ${status}`);
    assert.equal(e.status, status);
  }
  assert.ok(errorFromResponse(503, {}) instanceof ServerError);
  const forbidden = errorFromResponse(403, { error: { code: "FORBIDDEN", message: "no", details: {} } });
  assert.ok(forbidden instanceof PermissionDeniedError);
  assert.equal(forbidden.code, "FORBIDDEN");
  // A validation error without a list still has one problem.
  const f = errorFromResponse(422, { error: { code: "INVALID_FIELD", message: "bad", details: { field: "plan.x" } } }) as ValidationError;
  assert.deepEqual(f.errors, [{ code: "INVALID_FIELD", message: "bad", field: "plan.x", step_id: null }]);
  // Retry-After from the answer's headers.
  const r = errorFromResponse(429, { error: { code: "R", message: "m", details: {} } }, { headers: { "retry-after": "3" } });
  assert.equal(r.retryAfterMs, 3000);
  // Not an AOS error body.
  const raw = errorFromResponse(502, "<html>bad gateway</html>", { method: "GET", url: "http://h/x" });
  assert.ok(raw instanceof ServerError);
  assert.equal(raw.code, "HTTP_502");
});

test("RunFailedError carries the run's error", () => {
  const run = { run_id: "r_1", status: "failed", error: { code: "HTTP_503", category: "TRANSIENT", message: "down", retryable: true, details: { a: 1 } } } as unknown as RunView;
  const e = new RunFailedError(run);
  assert.equal(e.code, "HTTP_503");
  assert.deepEqual(e.details, { a: 1 });
  assert.equal(e.message, "run r_1 failed: HTTP_503: down");
  assert.equal(e.run, run);
});

test("ProgressTracker reports each change once: steps first, then the run", () => {
  const view = (status: string, steps: Array<[string, string, number]>) =>
    ({
      run_id: "r_1",
      status,
      step_details: steps.map(([step_id, st, attempt]) => ({ step_id, status: st, attempt, attempts: [], skill: "x", fallback: false })),
    }) as unknown as RunView;
  const t = new ProgressTracker();
  const e1 = t.update(view("queued", [["a", "pending", 0], ["b", "pending", 0]]));
  assert.deepEqual(e1.map(String), ["step a: pending", "step b: pending", "run: queued"]);
  assert.deepEqual(t.update(view("queued", [["a", "pending", 0], ["b", "pending", 0]])), []);
  const e2 = t.update(view("running", [["a", "running", 1], ["b", "pending", 0]]));
  assert.deepEqual(e2.map(String), ["step a: pending -> running (attempt 1)", "run: queued -> running"]);
  const e3 = t.update(view("running", [["a", "running", 2], ["b", "pending", 0]]));
  assert.equal(e3.length, 1);
  assert.equal(e3[0]!.isRetry, true);
  assert.equal(e3[0]!.previousAttempt, 1);
  assert.equal(e3[0]!.step?.step_id, "a");
  assert.equal(e2[0]!.isRetry, false);
  const e4 = t.update(view("succeeded", [["a", "succeeded", 2], ["b", "succeeded", 1]]));
  assert.deepEqual(e4.map(String), ["step a: running -> succeeded (attempt 2)", "step b: pending -> succeeded (attempt 1)", "run: running -> succeeded"]);
  assert.equal(e4[2]!.stepId, null);
  assert.equal(e4[2]!.step, undefined);
});

test("runOutput: only for steps that succeeded", () => {
  const run = {
    step_details: [
      { step_id: "a", status: "succeeded", output: 0 },
      { step_id: "b", status: "failed" },
      { step_id: "c", status: "succeeded" },
    ],
  } as unknown as RunView;
  assert.equal(runOutput(run, "a"), 0);
  assert.equal(runOutput(run, "b"), undefined);
  assert.equal(runOutput(run, "c"), null);
  assert.equal(runOutput(run, "zz"), undefined);
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

test("RunPager follows cursors, honours maxItems and restarts per iteration", async () => {
  const r = (id: string) => ({ run_id: id, plan_name: "p", status: "succeeded" as const, created_at_ms: 1, cost_usd: 0 });
  const pages: Record<string, RunList> = {
    start: { runs: [r("1"), r("2")], next_cursor: "c1" },
    c1: { runs: [r("3"), r("4")], next_cursor: "c2" },
    c2: { runs: [r("5")] },
  };
  const calls: string[] = [];
  const fetchPage = async (c: string | undefined) => {
    calls.push(c ?? "start");
    return pages[c ?? "start"]!;
  };
  const p = new RunPager(fetchPage);
  assert.deepEqual((await p.toList()).map((x) => x.run_id), ["1", "2", "3", "4", "5"]);
  assert.deepEqual(calls, ["start", "c1", "c2"]);
  const again: string[] = [];
  for await (const x of p) again.push(x.run_id);
  assert.deepEqual(again, ["1", "2", "3", "4", "5"]);
  const pageSizes: number[] = [];
  for await (const page of new RunPager(fetchPage, { maxItems: 3 }).pages()) pageSizes.push(page.runs.length);
  assert.deepEqual(pageSizes, [2, 1]);
  assert.deepEqual((await new RunPager(fetchPage, { cursor: "c1" }).toArray()).map((x) => x.run_id), ["3", "4", "5"]);
  const looping = new RunPager(async () => ({ runs: [r("x")], next_cursor: "same" }));
  await assert.rejects(looping.toList(), /cursor repeated/);
});

test("FailurePager follows cursors over empty pages and honours maxItems", async () => {
  const f = (id: string) => ({ id }) as unknown as FailureList["failures"][number];
  const pages: Record<string, FailureList> = {
    start: { failures: [f("1")], next_cursor: "c1" },
    // The listing filters after reading: a page may be empty and still have more after it.
    c1: { failures: [], next_cursor: "c2" },
    c2: { failures: [f("2"), f("3")] },
  };
  const seen: Array<[string, number]> = [];
  const p = new FailurePager(async (c, req) => {
    seen.push([c ?? "start", req.page]);
    return pages[c ?? "start"]!;
  });
  assert.deepEqual((await p.toList()).map((x) => x.id), ["1", "2", "3"]);
  assert.deepEqual(seen, [["start", 0], ["c1", 1], ["c2", 2]]);
  const sizes: number[] = [];
  for await (const page of new FailurePager(async (c) => pages[c ?? "start"]!, { maxItems: 2 }).pages()) sizes.push(page.failures.length);
  assert.deepEqual(sizes, [1, 0, 1]);
});

/** A client whose fetch records each request and answers with `answer(url)`. */
function fakeClient(answer: (url: URL) => Response = () => Response.json({ failures: [] })) {
  const requests: Array<{ method: string; url: URL; headers: Record<string, string>; body: unknown }> = [];
  const fetch: FetchLike = async (url, init) => {
    const u = new URL(url);
    requests.push({ method: init.method ?? "GET", url: u, headers: init.headers as Record<string, string>, body: init.body ? JSON.parse(String(init.body)) : undefined });
    return answer(u);
  };
  return { client: new AosClient({ baseUrl: "http://aos.invalid", apiKey: "k", fetch, maxRetries: 0 }), requests };
}

test("failures: camelCase parameters become the query, Dates become ms", async () => {
  const { client, requests } = fakeClient((u) =>
    u.pathname === "/api/v1/failures/stats" ? Response.json({ total: 0 }) : Response.json({ failures: [] }),
  );
  await client.failures.listPage({ from: new Date(1000), to: 2000, code: "HTTP_503", category: "TRANSIENT", skill: "http_call", matched: true, recovered: false, kind: "attempt", limit: 10, cursor: "c" });
  assert.equal(requests[0]!.method, "GET");
  assert.equal(requests[0]!.url.pathname, "/api/v1/failures");
  assert.deepEqual(Object.fromEntries(requests[0]!.url.searchParams), {
    from: "1000", to: "2000", code: "HTTP_503", category: "TRANSIENT", skill: "http_call", matched: "true", recovered: "false", kind: "attempt", limit: "10", cursor: "c",
  });
  await client.failures.stats({ from: 1, to: new Date(5000), bucketMs: 100, code: "X", category: "AUTH", skill: "s", kind: "run" });
  assert.equal(requests[1]!.url.pathname, "/api/v1/failures/stats");
  assert.deepEqual(Object.fromEntries(requests[1]!.url.searchParams), { from: "1", to: "5000", bucket_ms: "100", code: "X", category: "AUTH", skill: "s", kind: "run" });
  await client.failures.stats();
  assert.equal(requests[2]!.url.search, "");
});

test("failures.list fixes `to` per iteration when it is not given", async () => {
  let n = 0;
  const { client, requests } = fakeClient(() => Response.json(n++ % 2 === 0 ? { failures: [], next_cursor: "next" } : { failures: [] }));
  const before = Date.now();
  const pager = client.failures.list({ code: "HTTP_404" });
  await pager.toList();
  await new Promise((r) => setTimeout(r, 5));
  await pager.toList();
  const tos = requests.map((r) => Number(r.url.searchParams.get("to")));
  assert.equal(tos.length, 4);
  assert.equal(tos[0], tos[1], "the pages of one iteration share the range");
  assert.equal(tos[2], tos[3]);
  assert.ok(tos[0]! >= before && tos[2]! > tos[0]!, "each iteration starts at its own now");
  assert.deepEqual(requests.map((r) => r.url.searchParams.get("cursor")), [null, "next", null, "next"]);
  assert.ok(requests.every((r) => r.url.searchParams.get("code") === "HTTP_404" && !r.url.searchParams.has("from")));
  // A given `to` is kept.
  await client.failures.list({ to: 123 }).toList();
  assert.equal(requests.at(-1)!.url.searchParams.get("to"), "123");
});

test("catalog: paths and the match body", async () => {
  const { client, requests } = fakeClient(() => Response.json({}));
  await client.catalog.list();
  await client.catalog.get("HTTP/NOT FOUND");
  await client.catalog.match({ message: "m", code: "HTTP_503", skill: "http_call", httpStatus: 503 });
  await client.catalog.match({ message: "only" });
  assert.deepEqual(requests.map((r) => `${r.method} ${r.url.pathname}`), [
    "GET /api/v1/catalog",
    "GET /api/v1/catalog/HTTP%2FNOT%20FOUND",
    "POST /api/v1/catalog/match",
    "POST /api/v1/catalog/match",
  ]);
  assert.deepEqual(requests[2]!.body, { message: "m", code: "HTTP_503", skill: "http_call", http_status: 503 });
  assert.deepEqual(requests[3]!.body, { message: "only" });
  assert.equal(requests[2]!.headers["content-type"], "application/json");
});

test("metrics: the answer's text, not JSON; errors are still typed", async () => {
  const prom = '# TYPE runs_total counter\nruns_total{status="failed"} 1\n';
  const { client, requests } = fakeClient((u) =>
    u.pathname === "/metrics" ? new Response(prom, { headers: { "content-type": "text/plain; version=0.0.4" } }) : Response.json({}),
  );
  assert.equal(await client.metrics(), prom);
  assert.equal(requests[0]!.headers.authorization, "Bearer k");
  assert.match(requests[0]!.headers.accept!, /^text\/plain/);
  const empty = fakeClient(() => new Response("", { status: 200 }));
  assert.equal(await empty.client.metrics(), "");
  const missing = fakeClient(() => Response.json({ error: { code: "NOT_FOUND", message: "this deployment does not serve metrics", details: {} } }, { status: 404 }));
  await assert.rejects(missing.client.metrics(), (e: unknown) => e instanceof NotFoundError && e.code === "NOT_FOUND" && /does not serve metrics/.test(e.message));
});

test("client options: env, trailing slashes, exclusive credentials", () => {
  const saved = { url: process.env.AOS_URL, key: process.env.AOS_API_KEY, token: process.env.AOS_TOKEN };
  try {
    process.env.AOS_URL = "http://example.invalid:1234/prefix/";
    process.env.AOS_API_KEY = "aos_env";
    const c = new AosClient();
    assert.equal(c.baseUrl, "http://example.invalid:1234/prefix");
    assert.equal(c.transport.options.token, "aos_env");
    assert.equal(new AosClient({ baseUrl: "http://h/" }).baseUrl, "http://h");
    assert.equal(new AosClient({ baseUrl: "http://h/prefix/api/v1/" }).baseUrl, "http://h/prefix");
    assert.equal(new AosClient({ apiKey: "k" }).transport.options.token, "k");
    delete process.env.AOS_URL;
    delete process.env.AOS_API_KEY;
    delete process.env.AOS_TOKEN;
    assert.equal(new AosClient().baseUrl, "http://127.0.0.1:8080");
    assert.equal(new AosClient().transport.options.token, undefined);
    process.env.AOS_TOKEN = "tok";
    assert.equal(new AosClient().transport.options.token, "tok");
    assert.throws(() => new AosClient({ apiKey: "a", token: "b" }), TypeError);
    assert.throws(() => new AosClient({ maxRetries: -1 }), RangeError);
  } finally {
    if (saved.token === undefined) delete process.env.AOS_TOKEN;
    else process.env.AOS_TOKEN = saved.token;
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
