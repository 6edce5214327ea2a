// Contract tests: every operation of the API through the SDK, against a real `aos serve` (no mocked
// HTTP), success and error paths.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  AosClient,
  AosConnectionError,
  AuthenticationError,
  ConflictError,
  NotFoundError,
  OPERATIONS,
  plan,
  ref,
  ValidationError,
  verifyRun,
  WaitTimeoutError,
  AosError,
  type FetchLike,
  type Plan,
  type RunView,
  type RunSummary,
} from "@aos/sdk";
import { startAos, type AosServer } from "./helpers/aos.js";
import { startStandIns, type StandIns } from "./helpers/standins.js";
import { OPENAPI_PATH } from "./helpers/paths.js";

let aos: AosServer;
let web: StandIns;
let client: AosClient;
const calls: Array<{ method: string; path: string; status: number }> = [];

const recordingFetch: FetchLike = async (url, init) => {
  const res = await fetch(url, init);
  calls.push({ method: init.method ?? "GET", path: new URL(url).pathname, status: res.status });
  return res;
};

const double: Plan = plan("double").jsonTransform("a", { data: 21, expr: ". * 2" }).build();

before(async () => {
  web = await startStandIns();
  aos = await startAos();
  client = new AosClient({ baseUrl: aos.url, apiKey: aos.apiKey, fetch: recordingFetch });
});

after(async () => {
  await Promise.all([aos?.stop(), web?.close()]);
});

describe("health and openapi", () => {
  test("health answers ok", async () => {
    assert.deepEqual(await client.health(), { status: "ok" });
  });

  test("the served OpenAPI document equals docs/openapi.json", async () => {
    const served = await client.openapi();
    assert.deepEqual(served, JSON.parse(readFileSync(OPENAPI_PATH, "utf8")));
  });
});

describe("authentication", () => {
  test("a bad key is refused with AuthenticationError (401 UNAUTHENTICATED)", async () => {
    const bad = new AosClient({ baseUrl: aos.url, apiKey: "aos_00000000_" + "0".repeat(48), fetch: recordingFetch });
    await assert.rejects(bad.skills.list(), (e: unknown) => {
      assert.ok(e instanceof AuthenticationError);
      assert.equal(e.status, 401);
      assert.equal(e.code, "UNAUTHENTICATED");
      assert.equal(e.message, "the API key is not valid");
      assert.equal(e.request, "GET /api/v1/skills");
      return true;
    });
  });

  test("no key at all is refused too", async () => {
    const none = new AosClient({ baseUrl: aos.url, apiKey: "" });
    await assert.rejects(none.runs.listPage(), AuthenticationError);
  });

  test("a bearer token function is called per request", async () => {
    let n = 0;
    const c = new AosClient({ baseUrl: aos.url, bearerToken: () => (n++, aos.apiKey) });
    await c.secrets.list();
    await c.secrets.list();
    assert.equal(n, 2);
  });

  test("an unreachable server is an AosConnectionError", async () => {
    const c = new AosClient({ baseUrl: "http://127.0.0.1:9", apiKey: "x", maxRetries: 1, maxRetryDelayMs: 10 });
    let retries = 0;
    const c2 = new AosClient({ baseUrl: "http://127.0.0.1:9", apiKey: "x", maxRetries: 2, maxRetryDelayMs: 10, onRetry: () => retries++ });
    await assert.rejects(c.health(), (e: unknown) => e instanceof AosConnectionError && e.status === 0 && e.code === "CONNECTION_ERROR");
    await assert.rejects(c2.skills.list(), AosConnectionError);
    assert.equal(retries, 2, "GET is retried on network failures");
    retries = 0;
    await assert.rejects(c2.runs.submit({ plan: double }), AosConnectionError);
    assert.equal(retries, 0, "POST is not retried on network failures");
  });
});

describe("skills", () => {
  test("list and get", async () => {
    const skills = await client.skills.list();
    const ids = skills.map((s) => s.id);
    assert.ok(ids.includes("http_call") && ids.includes("json_transform"));
    assert.deepEqual([...ids].sort(), ids);
    const jt = await client.skills.get("json_transform");
    assert.equal(jt.id, "json_transform");
    assert.equal(jt.side_effects, "none");
    assert.equal(jt.determinism, "deterministic");
    assert.equal(jt.default_timeout_ms, 5000);
    assert.ok(jt.failure_modes.some((f) => f.code === "JQ_RUNTIME_ERROR" && f.category === "VALIDATION"));
  });

  test("an unknown skill is NotFoundError", async () => {
    await assert.rejects(client.skills.get("no_such_skill"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.status, 404);
      assert.equal(e.code, "NOT_FOUND");
      return true;
    });
  });
});

describe("secrets", () => {
  test("put and list (names only)", async () => {
    await client.secrets.put("SDK_TOKEN", "s3cret-value");
    await client.secrets.put("SDK_TOKEN", "replaced-value");
    await client.secrets.put("ANOTHER", "x");
    const names = await client.secrets.list();
    assert.ok(names.includes("SDK_TOKEN") && names.includes("ANOTHER"));
    assert.deepEqual([...names].sort(), names);
  });

  test("an invalid name is a ValidationError", async () => {
    await assert.rejects(client.secrets.put("not-valid!", "x"), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.equal(e.status, 422);
      assert.equal(e.code, "INVALID_SECRET_NAME");
      return true;
    });
  });

  test("secret values never reach the run record", async () => {
    await client.secrets.put("ECHO_SECRET", "very-secret-42");
    const p = plan("secret-use").httpCall("call", {
      url: `${web.url}/price`,
      headers: { "x-token": ref.secret("ECHO_SECRET") },
    }).build();
    const run = await client.runs.submitAndWait({ plan: p }, { timeoutMs: 30_000 });
    assert.equal(run.status, "succeeded");
    assert.equal(JSON.stringify(run).includes("very-secret-42"), false);
    assert.equal(web.all.at(-1)?.headers["x-token"], "very-secret-42");
    assert.ok((await client.runs.verify(run.run_id)).ok);
  });
});

describe("runs", () => {
  test("submit validation error: 422 PLAN_UNKNOWN_SKILL with field and step", async () => {
    const bad = plan("bad").step("a", "nope", {}).build();
    await assert.rejects(client.runs.submit({ plan: bad }), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.equal(e.status, 422);
      assert.equal(e.code, "PLAN_UNKNOWN_SKILL");
      assert.equal(e.message, "step `a` uses unknown skill `nope`");
      assert.equal(e.field, "steps[0].skill");
      assert.equal(e.stepId, "a");
      assert.deepEqual(e.errors, [
        { code: "PLAN_UNKNOWN_SKILL", field: "steps[0].skill", message: "step `a` uses unknown skill `nope`", step_id: "a" },
      ]);
      return true;
    });
  });

  test("every problem of a plan is listed", async () => {
    const bad: Plan = {
      name: "bad",
      steps: [
        { id: "a", skill: "nope" },
        { id: "b", skill: "json_transform", input: { data: 1, expr: "." }, depends_on: ["zz"] },
      ],
    };
    await assert.rejects(client.runs.submit({ plan: bad }), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      const codes = e.errors.map((p) => p.code).sort();
      assert.deepEqual(codes, ["PLAN_UNKNOWN_DEPENDENCY", "PLAN_UNKNOWN_SKILL"]);
      return true;
    });
  });

  test("unknown fields are INVALID_FIELD naming the path", async () => {
    const bad = { name: "x", steps: [{ id: "a", skill: "json_transform", input: { data: 1, expr: "." }, bogus: 1 }] } as unknown as Plan;
    await assert.rejects(client.runs.submit({ plan: bad }), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.equal(e.code, "INVALID_FIELD");
      assert.match(e.field ?? "", /steps\[0\]/);
      return true;
    });
  });

  test("submit, waitForRun with progress, get", async () => {
    const submitted = await client.runs.submit({ plan: double, seed: 42 });
    assert.match(submitted.run_id, /^r_[0-9a-f]{32}$/);
    assert.equal(submitted.created, true);
    const seen: RunView[] = [];
    const run = await client.waitForRun(submitted.run_id, { timeoutMs: 30_000, onProgress: (r) => void seen.push(r) });
    assert.equal(run.status, "succeeded");
    assert.ok(seen.length >= 1);
    assert.equal(seen.at(-1)!.status, "succeeded");
    assert.equal(seen.filter((r) => r.status === "succeeded").length, 1, "the final state is reported once");
    assert.equal(run.seed, 42);
    const step = run.step_details[0]!;
    assert.equal(step.output, 42);
    assert.deepEqual(step.attempts[0]!.outcome, { ok: true, output: 42 });
    assert.equal(step.attempts[0]!.input_hash, "4e7efa2adc9553d7377ad5cb0ecedc31d9eb7abb9b6b28dd3ebec57f06d1adf2");
    const again = await client.runs.get(submitted.run_id);
    assert.equal(again.trace_root, run.trace_root);
    const longPolled = await client.runs.get(submitted.run_id, { waitMs: 5000 });
    assert.equal(longPolled.status, "succeeded");
  });

  test("long polling actually waits on the server", async () => {
    const p = plan("slow").httpCall("call", { url: `${web.url}/always503` }, { retry: { maxAttempts: 2, initialDelayMs: 1500, retryOn: ["TRANSIENT"] } }).build();
    const { run_id } = await client.runs.submit({ plan: p });
    const t0 = Date.now();
    const progress: string[] = [];
    const run = await client.waitForRun(run_id, { timeoutMs: 30_000, onProgress: (r) => void progress.push(r.status) });
    assert.equal(run.status, "failed");
    assert.equal(run.error?.code, "HTTP_503");
    assert.ok(Date.now() - t0 >= 700, "the retry delay is at least half its base");
    assert.equal(progress.at(-1), "failed");
    // A failed attempt: its outcome carries the structured error (failures are data).
    const attempts = run.step_details[0]!.attempts;
    assert.equal(attempts.length, 2);
    const o = attempts[0]!.outcome;
    assert.equal(o.ok, false);
    if (!o.ok) {
      assert.equal(o.error.code, "HTTP_503");
      assert.equal(o.error.category, "TRANSIENT");
      assert.equal(o.error.retryable, true);
    }
  });

  test("waitForRun gives up with WaitTimeoutError", async () => {
    const p = plan("stuck").httpCall("call", { url: `${web.url}/always503` }, { retry: { maxAttempts: 2, initialDelayMs: 20_000, maxDelayMs: 20_000, retryOn: ["TRANSIENT"] } }).build();
    const { run_id } = await client.runs.submit({ plan: p });
    await assert.rejects(client.waitForRun(run_id, { timeoutMs: 400, pollWaitMs: 100 }), (e: unknown) => {
      assert.ok(e instanceof WaitTimeoutError);
      assert.equal(e.code, "WAIT_TIMEOUT");
      assert.ok(e.run && (e.run.status === "queued" || e.run.status === "running"));
      return true;
    });
    await client.runs.cancel(run_id);
  });

  test("get of an unknown run is NotFoundError", async () => {
    await assert.rejects(client.runs.get("r_00000000000000000000000000000000"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.code, "NOT_FOUND");
      assert.equal(e.status, 404);
      return true;
    });
  });

  test("wait_ms out of range is a ValidationError (400 INVALID_QUERY)", async () => {
    const { run_id } = await client.runs.submit({ plan: double });
    await assert.rejects(client.runs.get(run_id, { waitMs: 30_001 }), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.equal(e.status, 400);
      assert.equal(e.code, "INVALID_QUERY");
      return true;
    });
  });

  test("idempotency key returns the same run", async () => {
    const a = await client.runs.submit({ plan: double, idempotencyKey: "sdk-ts-key-1" });
    const b = await client.runs.submit({ plan: double, idempotencyKey: "sdk-ts-key-1" });
    assert.equal(a.created, true);
    assert.equal(b.created, false);
    assert.equal(b.run_id, a.run_id);
  });

  test("cancel an unfinished run, then 409 on a second cancel", async () => {
    const p = plan("to-cancel").httpCall("call", { url: `${web.url}/always503` }, { retry: { maxAttempts: 3, initialDelayMs: 60_000, maxDelayMs: 60_000, retryOn: ["TRANSIENT"] } }).build();
    const { run_id } = await client.runs.submit({ plan: p });
    // Wait until the first attempt failed and the retry is waiting out its delay.
    for (let i = 0; i < 100; i++) {
      const r = await client.runs.get(run_id);
      if (r.steps.call?.due_at_ms) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    // Replay of an unfinished run is a conflict.
    await assert.rejects(client.runs.replay(run_id), (e: unknown) => e instanceof ConflictError && e.status === 409 && e.code === "RUN_NOT_FINISHED");
    await assert.rejects(client.runs.verify(run_id), (e: unknown) => e instanceof AosError && e.code === "RUN_NOT_FINISHED");
    const res = await client.runs.cancel(run_id);
    assert.deepEqual(res, { run_id, status: "cancelled" });
    const run = await client.runs.get(run_id);
    assert.equal(run.status, "cancelled");
    assert.equal(run.error?.code, "RUN_CANCELLED");
    await assert.rejects(client.runs.cancel(run_id), (e: unknown) => {
      assert.ok(e instanceof ConflictError);
      assert.equal(e.status, 409);
      assert.equal(e.code, "RUN_ALREADY_FINISHED");
      return true;
    });
    // A cancelled run is finished: it verifies.
    assert.ok((await client.runs.verify(run_id)).ok);
  });

  test("cancel and replay of an unknown run are NotFoundError", async () => {
    await assert.rejects(client.runs.cancel("r_00000000000000000000000000000000"), NotFoundError);
    await assert.rejects(client.runs.replay("r_00000000000000000000000000000000"), NotFoundError);
  });
});

describe("replay and verify", () => {
  let run: RunView;

  before(async () => {
    const p = plan("verify-me")
      .httpCall("fetch", { url: `${web.url}/flaky/verify` }, { retry: { maxAttempts: 4, initialDelayMs: 10, retryOn: ["TRANSIENT"] } })
      .jsonTransform("shape", { data: ref.step("fetch", "body"), expr: "{ok, hits, note: \"x\\(.hits)\"}" }, { dependsOn: ["fetch"] })
      .jsonTransform("side", { data: [1.5, 2, 1e21, 0.000001], expr: "map(. * 2)" })
      .build();
    run = await client.runs.submitAndWait({ plan: p, seed: 7 }, { timeoutMs: 30_000 });
  });

  test("the run retried twice and succeeded", () => {
    assert.equal(run.status, "succeeded");
    assert.equal(run.step_details.find((s) => s.step_id === "fetch")!.attempts.length, 3);
    assert.equal(run.trace?.length, 5);
  });

  test("server replay has parity", async () => {
    const r = await client.runs.replay(run.run_id);
    assert.equal(r.parity, true);
    assert.equal(r.reexecuted, 2);
    assert.equal(r.recorded, 3);
    assert.equal(r.trace_root, run.trace_root);
    assert.equal(r.divergence ?? null, null);
  });

  test("client verify recomputes the root", async () => {
    const report = await client.runs.verify(run.run_id);
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.equal(report.computedRoot, run.trace_root);
    assert.equal(report.traceRoot, run.trace_root);
    assert.deepEqual(report.entries, run.trace);
    assert.deepEqual(report.problems, []);
  });

  test("a tampered output is caught", async () => {
    const copy = structuredClone(run);
    const fetch = copy.step_details.find((s) => s.step_id === "fetch")!;
    const last = fetch.attempts.at(-1)!;
    assert.ok(last.outcome.ok);
    (last.outcome as { output: unknown }).output = { status: 200, headers: {}, body: { ok: true, hits: 99 } };
    const report = await verifyRun(copy);
    assert.equal(report.ok, false);
    const reasons = report.problems.map((p) => p.reason);
    assert.ok(reasons.includes("output_hash_mismatch"), reasons.join());
    assert.ok(reasons.includes("root_mismatch"), reasons.join());
    const p = report.problems.find((x) => x.reason === "output_hash_mismatch")!;
    assert.equal(p.stepId, "fetch");
    assert.equal(p.attempt, 3);
  });

  test("a tampered input, trace root or trace entry is caught", async () => {
    const a = structuredClone(run);
    (a.step_details.find((s) => s.step_id === "side")!.attempts[0]!.input as { expr: string }).expr = "map(. * 3)";
    const ra = await verifyRun(a);
    assert.deepEqual(ra.problems.map((p) => p.reason), ["input_hash_mismatch", "trace_mismatch", "root_mismatch"]);

    const b = structuredClone(run);
    b.trace_root = "0".repeat(64);
    const rb = await verifyRun(b);
    assert.deepEqual(rb.problems.map((p) => p.reason), ["root_mismatch"]);

    const c = structuredClone(run);
    c.trace!.reverse();
    const rc = await verifyRun(c);
    assert.equal(rc.ok, false);
    assert.ok(rc.problems.some((p) => p.reason === "trace_mismatch"));

    const d = structuredClone(run);
    d.step_details.find((s) => s.step_id === "fetch")!.attempts.splice(1, 1);
    const rd = await verifyRun(d);
    assert.ok(rd.problems.some((p) => p.reason === "missing_attempt" && p.stepId === "fetch" && p.attempt === 2));
    assert.equal(rd.ok, false);
  });

  test("verify of a failed run (error outcomes hash with details)", async () => {
    const p = plan("fails").jsonTransform("boom", { data: 1, expr: "error(\"nope\")" }).build();
    const failed = await client.runs.submitAndWait({ plan: p }, { timeoutMs: 30_000 });
    assert.equal(failed.status, "failed");
    assert.equal(failed.error?.code, "JQ_RUNTIME_ERROR");
    const report = await client.runs.verify(failed.run_id);
    assert.equal(report.ok, true, JSON.stringify(report.problems));
  });
});

describe("simulate", () => {
  test("estimates a valid plan", async () => {
    const p = plan("sim")
      .httpCall("fetch", { url: "https://example.com/x" })
      .jsonTransform("t", { data: ref.step("fetch", "body"), expr: "." }, { dependsOn: ["fetch"] })
      .budget({ maxCostUsd: 1 })
      .build();
    const sim = await client.simulate(p);
    assert.equal(sim.feasible, true);
    assert.deepEqual(sim.steps.map((s) => s.step_id), ["fetch", "t"]);
    assert.equal(sim.budget_max_cost_usd, 1);
    assert.equal(sim.budget_max_duration_ms, 900000);
    assert.ok(sim.total_latency_ms_p95 >= sim.total_latency_ms_p50);
  });

  test("an invalid plan is a ValidationError", async () => {
    await assert.rejects(client.simulate(plan("bad").step("a", "nope", {}).build()), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.equal(e.code, "PLAN_UNKNOWN_SKILL");
      assert.equal(e.field, "steps[0].skill");
      return true;
    });
  });
});

describe("workflows", () => {
  test("create versions, list, get, run one", async () => {
    const v1 = await client.workflows.create("sdk-flow", double);
    assert.equal(v1.name, "sdk-flow");
    assert.equal(v1.version, 1);
    const v2 = await client.workflows.create("sdk-flow", plan("double-v2").jsonTransform("a", { data: 1, expr: ". + 1" }));
    assert.equal(v2.version, 2);
    const all = await client.workflows.list();
    assert.deepEqual(all.filter((w) => w.name === "sdk-flow").map((w) => w.version), [1, 2]);
    assert.equal((await client.workflows.get("sdk-flow")).version, 2);
    const first = await client.workflows.get("sdk-flow", { version: 1 });
    assert.equal(first.plan.name, "double");
    const run = await client.runs.submitAndWait({ workflow: "sdk-flow", version: 1 }, { timeoutMs: 30_000 });
    assert.deepEqual(run.workflow, { name: "sdk-flow", version: 1 });
    assert.equal(run.step_details[0]!.output, 42);
    const latest = await client.runs.submitAndWait({ workflow: "sdk-flow" }, { timeoutMs: 30_000 });
    assert.equal(latest.step_details[0]!.output, 2);
  });

  test("unknown workflow or version is NotFoundError; unknown at submission is a ValidationError", async () => {
    await assert.rejects(client.workflows.get("no-such-flow"), NotFoundError);
    await assert.rejects(client.workflows.get("sdk-flow", { version: 99 }), NotFoundError);
    await assert.rejects(client.runs.submit({ workflow: "no-such-flow" }), (e: unknown) => e instanceof ValidationError && e.code === "WORKFLOW_NOT_FOUND");
  });

  test("an invalid name is a ValidationError", async () => {
    await assert.rejects(client.workflows.create("bad name!", double), (e: unknown) => e instanceof ValidationError && e.code === "INVALID_WORKFLOW_NAME");
  });
});

describe("pagination", () => {
  test("for await follows next_cursor through every page", async () => {
    const fresh = new Set<string>();
    for (let i = 0; i < 7; i++) fresh.add((await client.runs.submit({ plan: plan(`page-${i}`).jsonTransform("a", { data: i, expr: "." }) })).run_id);
    const total = (await client.runs.list().toArray()).length;
    assert.ok(total >= 7);

    const pagesSeen: number[] = [];
    for await (const page of client.runs.list({ limit: 3 }).pages()) pagesSeen.push(page.items.length);
    assert.ok(pagesSeen.length >= 3, `pages: ${pagesSeen}`);
    assert.equal(pagesSeen.reduce((a, b) => a + b, 0), total);
    assert.ok(pagesSeen.slice(0, -1).every((n) => n === 3));

    const ids: string[] = [];
    const runs: RunSummary[] = [];
    for await (const r of client.runs.list({ limit: 3 })) {
      ids.push(r.run_id);
      runs.push(r);
    }
    assert.equal(new Set(ids).size, ids.length, "no run twice");
    assert.equal(ids.length, total);
    for (const id of fresh) assert.ok(ids.includes(id));
    // Newest first.
    for (let i = 1; i < runs.length; i++) assert.ok(runs[i - 1]!.created_at_ms >= runs[i]!.created_at_ms);

    // One page by hand, and its cursor.
    const page1 = await client.runs.listPage({ limit: 2 });
    assert.equal(page1.runs.length, 2);
    assert.ok(page1.next_cursor);
    const page2 = await client.runs.listPage({ limit: 2, cursor: page1.next_cursor! });
    assert.deepEqual(page2.runs.map((r) => r.run_id), ids.slice(2, 4));

    // maxItems stops early; a cursor starts later.
    assert.equal((await client.runs.list({ limit: 2, maxItems: 5 }).toArray()).length, 5);
    const fromCursor = await client.runs.list({ limit: 2, cursor: page1.next_cursor! }).toArray();
    assert.deepEqual(fromCursor.map((r) => r.run_id), ids.slice(2));
  });

  test("filters: status and creation time", async () => {
    const succeeded = await client.runs.list({ status: "succeeded", limit: 2 }).toArray();
    assert.ok(succeeded.length > 0);
    assert.ok(succeeded.every((r) => r.status === "succeeded"));
    const failed = await client.runs.list({ status: "failed" }).toArray();
    assert.ok(failed.length > 0 && failed.every((r) => r.status === "failed" && typeof r.error_code === "string"));
    const future = await client.runs.list({ createdAfter: new Date(Date.now() + 3_600_000) }).toArray();
    assert.deepEqual(future, []);
    const past = await client.runs.list({ createdBefore: 1 }).toArray();
    assert.deepEqual(past, []);
  });

  test("an altered cursor is a ValidationError (INVALID_CURSOR)", async () => {
    await assert.rejects(client.runs.list({ cursor: "not-a-cursor" }).toArray(), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.equal(e.code, "INVALID_CURSOR");
      assert.equal(e.field, "cursor");
      return true;
    });
    await assert.rejects(client.runs.listPage({ limit: 500 }), (e: unknown) => e instanceof ValidationError && e.code === "INVALID_QUERY");
  });
});

describe("operation coverage", () => {
  test("every OpenAPI operation was called through the SDK in this file", () => {
    const doc = JSON.parse(readFileSync(OPENAPI_PATH, "utf8")) as { paths: Record<string, Record<string, { operationId?: string }>> };
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (!op.operationId) continue;
        const re = new RegExp("^" + path.replace(/\{[^}]+\}/g, "[^/]+") + "$");
        const hit = calls.some((c) => c.method === method.toUpperCase() && re.test(c.path) && c.status < 300);
        if (!hit) missing.push(`${op.operationId} (${method.toUpperCase()} ${path})`);
      }
    }
    assert.deepEqual(missing, [], "operations never called successfully");
    assert.equal(Object.keys(OPERATIONS).length, Object.values(doc.paths).flatMap((o) => Object.values(o)).filter((o) => o.operationId).length);
  });
});
