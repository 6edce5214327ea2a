// Retries of 429 and 503 answers honouring Retry-After, bounded: a local proxy in front of a real
// `aos serve` answers the first requests itself with 503/429 and forwards the rest.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AosClient, ConflictError, RateLimitError, ServerError, ServiceUnavailableError, type RetryInfo } from "@aos/sdk";
import { startAos, type AosServer } from "./helpers/aos.js";

let aos: AosServer;
let proxy: Server;
let proxyUrl: string;
/** Answers to give before forwarding: [status, Retry-After header or undefined]. */
let script: Array<[number, string | undefined]> = [];
let seen = 0;

before(async () => {
  aos = await startAos();
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      seen++;
      const next = script.shift();
      if (next) {
        const [status, retryAfter] = next;
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (retryAfter !== undefined) headers["retry-after"] = retryAfter;
        res.writeHead(status, headers);
        const code = status === 429 ? "RATE_LIMITED" : status === 409 ? "CONCURRENT_UPDATE" : "STORAGE_UNAVAILABLE";
        res.end(JSON.stringify({ error: { code, message: `stand-in ${status}`, details: {} } }));
        return;
      }
      const upstream = await fetch(aos.url + req.url, {
        method: req.method,
        headers: req.headers as Record<string, string>,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      const body = Buffer.from(await upstream.arrayBuffer());
      res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
      res.end(body);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

after(async () => {
  proxy?.closeAllConnections?.();
  await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
  await aos?.stop();
});

const trivialPlan = { name: "p", steps: [{ id: "a", skill: "json_transform", input: { data: 1, expr: "." } }] };

test("503 and 429 are retried, waiting at least as long as Retry-After says", async () => {
  const retries: RetryInfo[] = [];
  const client = new AosClient({ baseUrl: proxyUrl, apiKey: aos.apiKey, onRetry: (i) => void retries.push(i) });
  script = [
    [503, "1"],
    [429, "0"],
  ];
  seen = 0;
  const t0 = Date.now();
  const skills = await client.skills.list();
  const elapsed = Date.now() - t0;
  assert.ok(skills.some((s) => s.id === "json_transform"));
  assert.equal(seen, 3);
  assert.deepEqual(retries.map((r) => [r.retry, r.error.status, r.error.code]), [
    [1, 503, "STORAGE_UNAVAILABLE"],
    [2, 429, "RATE_LIMITED"],
  ]);
  assert.ok(retries[0]!.delayMs >= 1000, "at least Retry-After");
  assert.ok(retries[1]!.delayMs >= 500 && retries[1]!.delayMs <= 1000, "equal jitter of the second backoff step (base 1000 ms)");
  assert.ok(elapsed >= 950, `waited ${elapsed} ms`);
});

test("a submission is retried only when it carries an idempotency key", async () => {
  const client = new AosClient({ baseUrl: proxyUrl, apiKey: aos.apiKey, backoffBaseMs: 10 });
  script = [[503, undefined]];
  seen = 0;
  await assert.rejects(client.runs.submit({ plan: trivialPlan }), ServiceUnavailableError);
  assert.equal(seen, 1, "not retried: the server may or may not have taken it");
  script = [[503, undefined]];
  seen = 0;
  const r = await client.runs.submit({ plan: trivialPlan, idempotencyKey: "retry-safe-1" });
  assert.match(r.run_id, /^r_/);
  assert.equal(seen, 2);
});

test("other POSTs: replay, simulate and catalog matching are retried, cancel and workflow creation are not", async () => {
  const client = new AosClient({ baseUrl: proxyUrl, apiKey: aos.apiKey, backoffBaseMs: 10 });
  const { run_id } = await client.runs.submit({ plan: trivialPlan });
  await client.waitForRun(run_id, { timeoutMs: 30_000 });
  for (const [name, call, retried] of [
    ["replay", () => client.runs.replay(run_id), true],
    ["simulate", () => client.simulate(trivialPlan), true],
    ["catalog.match", () => client.catalog.match({ message: "upstream answered 503" }), true],
    ["cancel", () => client.runs.cancel(run_id), false],
    ["workflows.create", () => client.workflows.create("retry-wf", trivialPlan), false],
  ] as const) {
    script = [[503, "0"]];
    seen = 0;
    const p = call();
    if (retried) await p;
    else await assert.rejects(p, ServiceUnavailableError);
    assert.equal(seen, retried ? 2 : 1, name);
  }
});

test("reads of the new resources are retried: failures, stats, catalog, metrics (text)", async () => {
  const client = new AosClient({ baseUrl: proxyUrl, apiKey: aos.apiKey, backoffBaseMs: 10 });
  for (const [name, call] of [
    ["failures.listPage", () => client.failures.listPage()],
    ["failures.stats", () => client.failures.stats()],
    ["failures.candidates", () => client.failures.candidates()],
    ["catalog.list", () => client.catalog.list()],
    ["catalog.get", () => client.catalog.get("HTTP_NOT_FOUND")],
    ["metrics", () => client.metrics()],
  ] as const) {
    script = [[503, "0"]];
    seen = 0;
    await call();
    assert.equal(seen, 2, name);
  }
  script = [[429, "0"]];
  assert.equal(typeof (await client.metrics()), "string");
});

test("retries are bounded: the last error is thrown", async () => {
  const client = new AosClient({ baseUrl: proxyUrl, apiKey: aos.apiKey, maxRetries: 2, backoffBaseMs: 10 });
  script = [
    [503, undefined],
    [503, undefined],
    [503, undefined],
    [503, undefined],
  ];
  seen = 0;
  await assert.rejects(client.skills.list(), (e: unknown) => {
    assert.ok(e instanceof ServiceUnavailableError && e instanceof ServerError);
    assert.equal(e.status, 503);
    assert.equal(e.code, "STORAGE_UNAVAILABLE");
    return true;
  });
  assert.equal(seen, 3, "1 try + 2 retries");
  script = [];
});

test("a Retry-After longer than maxRetryDelayMs is not waited for", async () => {
  const client = new AosClient({ baseUrl: proxyUrl, apiKey: aos.apiKey, maxRetryDelayMs: 2000 });
  script = [[503, "3600"]];
  seen = 0;
  const t0 = Date.now();
  await assert.rejects(client.skills.list(), (e: unknown) => e instanceof ServiceUnavailableError && e.retryAfterMs === 3_600_000);
  assert.equal(seen, 1);
  assert.ok(Date.now() - t0 < 1000);
});

test("maxRetries 0 turns retries off; 429 becomes RateLimitError", async () => {
  const client = new AosClient({ baseUrl: proxyUrl, apiKey: aos.apiKey, maxRetries: 0 });
  script = [[429, "1"]];
  seen = 0;
  await assert.rejects(client.secrets.list(), (e: unknown) => e instanceof RateLimitError && e.retryAfterMs === 1000);
  assert.equal(seen, 1);
});

test("other errors are not retried", async () => {
  const client = new AosClient({ baseUrl: proxyUrl, apiKey: aos.apiKey });
  script = [[500, "0"]];
  seen = 0;
  await assert.rejects(client.skills.list(), ServerError);
  assert.equal(seen, 1);
});

test("409 CONCURRENT_UPDATE is retried; other conflicts are not", async () => {
  const client = new AosClient({ baseUrl: proxyUrl, apiKey: aos.apiKey, backoffBaseMs: 10 });
  script = [[409, "0"]];
  seen = 0;
  assert.ok(Array.isArray(await client.workflows.list()));
  assert.equal(seen, 2);
  // A real conflict from the server (a finished run cannot be cancelled) is thrown at once.
  const { run_id } = await client.runs.submit({ plan: trivialPlan });
  await client.waitForRun(run_id, { timeoutMs: 30_000 });
  seen = 0;
  await assert.rejects(client.runs.cancel(run_id), (e: unknown) => e instanceof ConflictError && e.code === "RUN_ALREADY_FINISHED");
  assert.equal(seen, 1);
});
