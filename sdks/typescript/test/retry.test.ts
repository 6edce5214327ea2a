// Retries of 429 and 503 answers honouring Retry-After, bounded: a local proxy in front of a real
// `aos serve` answers the first requests itself with 503/429 and forwards the rest.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AosClient, ConflictError, RateLimitError, ServerError, type RetryInfo } from "@aos/sdk";
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

test("503 and 429 are retried, waiting as long as Retry-After says", async () => {
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
  assert.deepEqual(retries.map((r) => [r.retry, r.delayMs, r.error.status, r.error.code]), [
    [1, 1000, 503, "STORAGE_UNAVAILABLE"],
    [2, 0, 429, "RATE_LIMITED"],
  ]);
  assert.ok(elapsed >= 950, `waited ${elapsed} ms`);
});

test("POST requests are retried on 503 too (the server did not take them)", async () => {
  const client = new AosClient({ baseUrl: proxyUrl, apiKey: aos.apiKey, maxRetryDelayMs: 50 });
  script = [[503, undefined]];
  const r = await client.runs.submit({ plan: { name: "p", steps: [{ id: "a", skill: "json_transform", input: { data: 1, expr: "." } }] } });
  assert.match(r.run_id, /^r_/);
});

test("retries are bounded: the last error is thrown", async () => {
  const client = new AosClient({ baseUrl: proxyUrl, apiKey: aos.apiKey, maxRetries: 2, maxRetryDelayMs: 20 });
  script = [
    [503, "3600"],
    [503, "3600"],
    [503, "3600"],
    [503, "3600"],
  ];
  seen = 0;
  const t0 = Date.now();
  await assert.rejects(client.skills.list(), (e: unknown) => {
    assert.ok(e instanceof ServerError);
    assert.equal(e.status, 503);
    assert.equal(e.code, "STORAGE_UNAVAILABLE");
    assert.equal(e.retryAfterMs, 3_600_000);
    return true;
  });
  assert.equal(seen, 3, "1 try + 2 retries");
  assert.ok(Date.now() - t0 < 2000, "Retry-After is capped by maxRetryDelayMs");
  script = [];
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
  const client = new AosClient({ baseUrl: proxyUrl, apiKey: aos.apiKey, maxRetryDelayMs: 50 });
  script = [[409, "1"]];
  seen = 0;
  assert.ok(Array.isArray(await client.workflows.list()));
  assert.equal(seen, 2);
  // A real conflict from the server (a finished run cannot be cancelled) is thrown at once.
  const { run_id } = await client.runs.submit({ plan: { name: "p", steps: [{ id: "a", skill: "json_transform", input: { data: 1, expr: "." } }] } });
  await client.waitForRun(run_id, { timeoutMs: 30_000 });
  seen = 0;
  await assert.rejects(client.runs.cancel(run_id), (e: unknown) => e instanceof ConflictError && e.code === "RUN_ALREADY_FINISHED");
  assert.equal(seen, 1);
});
