// Contract tests: every operation of the API through the SDK, against a real `aos serve` (no mocked
// HTTP), success and error paths.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  AosClient,
  AosError,
  APIConnectionError,
  BadRequestError,
  RunFailedError,
  runOutput,
  type ProgressEvent,
  AuthenticationError,
  AuditPager,
  ConflictError,
  PermissionDeniedError,
  RecoveryCandidatePager,
  ROLES,
  type CreatedKey,
  type Role,
  NotFoundError,
  OPERATIONS,
  plan,
  ref,
  ValidationError,
  verifyRun,
  WaitTimeoutError,
  type FailureRecord,
  type FetchLike,
  type Plan,
  type RunView,
  type RunSummary,
  type SuggestResponse,
} from "@aos/sdk";
import { startAos, type AosServer } from "./helpers/aos.js";
import { startStandIns, type StandIns } from "./helpers/standins.js";
import { OPENAPI_PATH } from "./helpers/paths.js";

let aos: AosServer;
let web: StandIns;
let client: AosClient;
/** A client of a second tenant (`sdk-other`), whose failures start out empty. */
let other: AosClient;
const calls: Array<{ method: string; path: string; status: number }> = [];

const recordingFetch: FetchLike = async (url, init) => {
  const res = await fetch(url, init);
  calls.push({ method: init.method ?? "GET", path: new URL(url).pathname, status: res.status });
  return res;
};

const double: Plan = plan("double").jsonTransform("a", 21, ". * 2").build();

before(async () => {
  web = await startStandIns();
  aos = await startAos({ AOS_EXTRA_TENANTS: "sdk-other" });
  client = new AosClient({ baseUrl: aos.url, apiKey: aos.apiKey, fetch: recordingFetch });
  const otherKey = readFileSync(join(aos.dataDir, "sdk-other.key"), "utf8").trim();
  other = new AosClient({ baseUrl: aos.url, apiKey: otherKey, fetch: recordingFetch });
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
      assert.match(e.message, /^the API key is not valid/);
      assert.equal(e.method, "GET");
      assert.equal(e.url, `${aos.url}/api/v1/skills`);
      return true;
    });
  });

  test("no key at all is refused too", async () => {
    const none = new AosClient({ baseUrl: aos.url, apiKey: "" });
    await assert.rejects(none.runs.listPage(), AuthenticationError);
  });

  test("a token function is called per request", async () => {
    let n = 0;
    const c = new AosClient({ baseUrl: aos.url, token: () => (n++, aos.apiKey) });
    await c.secrets.list();
    await c.secrets.list();
    assert.equal(n, 2);
  });

  test("an unreachable server is an APIConnectionError", async () => {
    let retries = 0;
    const c = new AosClient({ baseUrl: "http://127.0.0.1:9", apiKey: "x", onRetry: () => retries++ });
    await assert.rejects(c.health(), (e: unknown) => {
      assert.ok(e instanceof APIConnectionError);
      assert.equal(e.status, 0);
      assert.equal(e.code, "CONNECTION_ERROR");
      assert.equal(e.method, "GET");
      assert.equal(e.url, "http://127.0.0.1:9/healthz");
      return true;
    });
    await assert.rejects(c.runs.submit({ plan: double }), APIConnectionError);
    assert.equal(retries, 0, "network failures are not retried");
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
    const seen: ProgressEvent[] = [];
    const run = await client.waitForRun(submitted.run_id, { timeoutMs: 30_000, onProgress: (e) => void seen.push(e) });
    assert.equal(run.status, "succeeded");
    // The first read reports the starting state of the step and the run; the last event is the run's end.
    assert.equal(seen[0]!.stepId, "a");
    assert.equal(seen[0]!.previousStatus, null);
    assert.equal(seen.at(-1)!.stepId, null);
    assert.equal(seen.at(-1)!.status, "succeeded");
    assert.equal(seen.filter((e) => e.stepId === null && e.status === "succeeded").length, 1, "the final state is reported once");
    assert.ok(seen.some((e) => e.stepId === "a" && e.status === "succeeded" && e.attempt === 1));
    assert.equal(runOutput(run, "a"), 42);
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
    const progress: ProgressEvent[] = [];
    const run = await client.waitForRun(run_id, { timeoutMs: 30_000, onProgress: (e) => void progress.push(e), pollIntervalMs: 100 });
    assert.equal(run.status, "failed");
    assert.equal(run.error?.code, "HTTP_503");
    assert.ok(Date.now() - t0 >= 700, "the retry delay is at least half its base");
    assert.equal(progress.at(-1)!.status, "failed");
    // The first attempt fails within milliseconds, so the step may be first seen at attempt 2.
    assert.ok(progress.some((e) => e.stepId === "call" && e.attempt === 2), progress.map(String).join("; "));
    // raiseOnFailure turns the failed run into an exception.
    await assert.rejects(client.waitForRun(run_id, { raiseOnFailure: true }), (e: unknown) => {
      assert.ok(e instanceof RunFailedError);
      assert.equal(e.code, "HTTP_503");
      assert.equal(e.run.run_id, run_id);
      return true;
    });
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
    await assert.rejects(client.waitForRun(run_id, { timeoutMs: 400 }), (e: unknown) => {
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

  test("wait_ms out of range is a BadRequestError (400 INVALID_QUERY)", async () => {
    const { run_id } = await client.runs.submit({ plan: double });
    await assert.rejects(client.runs.get(run_id, { waitMs: 30_001 }), (e: unknown) => {
      assert.ok(e instanceof BadRequestError);
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
    const early = await client.runs.verify(run_id);
    assert.equal(early.ok, false);
    assert.deepEqual(early.problems.map((p) => p.reason), ["not_finished"]);
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

describe("rerun and redrive", () => {
  test("a redrive keeps the succeeded steps (their POST happens once) and restarts the failed one, patched", async () => {
    const p = plan("redrive-ts")
      .httpCall("notify", { url: `${web.url}/slack`, method: "POST", body: { text: "once" } })
      .httpCall("fetch", { url: `${web.url}/always503` }, { dependsOn: ["notify"], retry: { maxAttempts: 1 } })
      .jsonTransform("usd", ref.step("fetch", "output.body"), ".bitcoin.usd", { dependsOn: ["fetch"] })
      .build();
    const failed = await client.runs.submitAndWait({ plan: p }, { timeoutMs: 30_000 });
    assert.equal(failed.status, "failed");
    const posts = () => web.slack.filter((r) => r.body.includes("once")).length;
    assert.equal(posts(), 1);

    const patch = { fetch: { input: { url: `${web.url}/price` } } };
    const redriven = await client.runs.redrive(failed.run_id, { patch, idempotencyKey: "ts-redrive-1" });
    assert.equal(redriven.redrive_of, failed.run_id);
    assert.deepEqual(redriven.seeded_steps, ["notify"]);
    assert.deepEqual(redriven.patched_steps, ["fetch"]);
    const done = await client.runs.wait(redriven.run_id, { timeoutMs: 30_000 });
    assert.equal(done.status, "succeeded");
    assert.equal(runOutput(done, "usd"), 43210.5);
    assert.equal(posts(), 1, "the kept POST was not sent again");
    assert.equal(done.step_details.find((s) => s.step_id === "notify")!.attempts[0]!.seeded_from, failed.run_id);
    const report = await client.runs.replay(done.run_id);
    assert.equal(report.parity, true);
    assert.equal(report.seeded, 1);
    assert.ok((await client.runs.verify(done.run_id)).ok);
    // The same key and request: the same new run.
    assert.equal((await client.runs.redrive(failed.run_id, { patch, idempotencyKey: "ts-redrive-1" })).run_id, redriven.run_id);

    await assert.rejects(client.runs.redrive(done.run_id), (e: unknown) => e instanceof ConflictError && e.code === "RUN_SUCCEEDED");
    await assert.rejects(client.runs.redrive(failed.run_id, { patch: { nope: { timeout_ms: 1000 } } }), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.equal(e.code, "PATCH_UNKNOWN_STEP");
      assert.equal(e.field, "patch.nope");
      return true;
    });
    await assert.rejects(other.runs.redrive(failed.run_id), NotFoundError);
    await assert.rejects(other.runs.rerun(failed.run_id), NotFoundError);

    const rerun = await client.runs.rerun(failed.run_id, { seed: 5 });
    assert.equal(rerun.rerun_of, failed.run_id);
    assert.equal(rerun.seed, 5);
    assert.equal((await client.runs.wait(rerun.run_id, { timeoutMs: 30_000 })).status, "failed");
    assert.equal(posts(), 2, "a rerun runs every step again");
  });
});

describe("replay and verify", () => {
  let run: RunView;

  before(async () => {
    const p = plan("verify-me")
      .httpCall("fetch", { url: `${web.url}/flaky/verify` }, { retry: { maxAttempts: 4, initialDelayMs: 10, retryOn: ["TRANSIENT"] } })
      .jsonTransform("shape", ref.step("fetch", "output.body"), "{ok, hits, note: \"x\\(.hits)\"}", { dependsOn: ["fetch"] })
      .jsonTransform("side", [1.5, 2, 1e21, 0.000001], "map(. * 2)")
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
    assert.deepEqual(rc.problems.map((p) => p.reason), ["trace_order", "root_mismatch"]);

    const d = structuredClone(run);
    d.step_details.find((s) => s.step_id === "fetch")!.attempts.splice(1, 1);
    const rd = await verifyRun(d);
    assert.ok(rd.problems.some((p) => p.reason === "missing_attempt" && p.stepId === "fetch" && p.attempt === 2));
    assert.equal(rd.ok, false);
  });

  test("verify of a failed run (error outcomes hash with details)", async () => {
    const p = plan("fails").jsonTransform("boom", 1, "error(\"nope\")").build();
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
      .jsonTransform("t", ref.step("fetch", "output.body"), ".", { dependsOn: ["fetch"] })
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
    const v2 = await client.workflows.create("sdk-flow", plan("double-v2").jsonTransform("a", 1, ". + 1"));
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
    for (let i = 0; i < 7; i++) fresh.add((await client.runs.submit({ plan: plan(`page-${i}`).jsonTransform("a", i, ".") })).run_id);
    const total = (await client.runs.list().toArray()).length;
    assert.ok(total >= 7);

    const pagesSeen: number[] = [];
    for await (const page of client.runs.list({ limit: 3 }).pages()) pagesSeen.push(page.runs.length);
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
    await assert.rejects(client.runs.listPage({ limit: 500 }), (e: unknown) => e instanceof BadRequestError && e.code === "INVALID_QUERY");
  });
});

describe("failure catalog", () => {
  test("list: version, digest and entries; get: one entry", async () => {
    const catalog = await client.catalog.list();
    assert.equal(typeof catalog.version, "number");
    assert.match(catalog.digest, /^[0-9a-f]{16}$/);
    const codes = catalog.entries.map((e) => e.code);
    assert.ok(codes.length > 20, `${codes.length} entries`);
    assert.equal(new Set(codes).size, codes.length, "codes are unique");
    for (const code of ["HTTP_NOT_FOUND", "HTTP_SERVICE_UNAVAILABLE", "STEP_TIMEOUT"]) assert.ok(codes.includes(code), code);
    const listed = catalog.entries.find((e) => e.code === "HTTP_SERVICE_UNAVAILABLE")!;
    assert.equal(listed.category, "TRANSIENT");
    assert.equal(listed.retryable, true);
    assert.deepEqual(listed.match.http_status, [503]);
    assert.ok(listed.explanation.length > 0 && listed.suggestions.length > 0);
    const one = await client.catalog.get("HTTP_SERVICE_UNAVAILABLE");
    assert.deepEqual(one, listed);
    // The same catalog again: same digest.
    assert.equal((await client.catalog.list()).digest, catalog.digest);
  });

  test("an unknown catalog code is NotFoundError (404)", async () => {
    await assert.rejects(client.catalog.get("NO_SUCH_ENTRY"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.status, 404);
      assert.equal(e.code, "NOT_FOUND");
      assert.match(e.message, /NO_SUCH_ENTRY/);
      return true;
    });
  });

  test("match: a 503 is TRANSIENT and retryable, with the entry's advice", async () => {
    const m = await client.catalog.match({
      message: "upstream answered 503 Service Unavailable",
      code: "HTTP_503",
      skill: "http_call",
      httpStatus: 503,
    });
    assert.equal(m.matched, true);
    assert.equal(m.code, "HTTP_SERVICE_UNAVAILABLE");
    assert.equal(m.category, "TRANSIENT");
    assert.equal(m.retryable, true);
    assert.equal(m.recovery_mode, "retry_after");
    assert.equal(m.severity, "medium");
    assert.ok(m.confidence >= 0.7 && m.confidence <= 0.98, String(m.confidence));
    assert.match(m.signature, /^[0-9a-f]{16}$/);
    const entry = await client.catalog.get("HTTP_SERVICE_UNAVAILABLE");
    assert.equal(m.explanation, entry.explanation);
    assert.deepEqual(m.suggestions, entry.suggestions);
    // Only the message: still classified, from its text.
    const byText = await client.catalog.match({ message: "upstream answered 503 Service Unavailable" });
    assert.equal(byText.matched, true);
    assert.equal(byText.category, "TRANSIENT");
    assert.equal(byText.retryable, true);
    // The signature is stable, and depends on the skill.
    const again = await client.catalog.match({ message: "upstream answered 503 Service Unavailable", code: "HTTP_503", skill: "http_call", httpStatus: 503 });
    assert.equal(again.signature, m.signature);
    const otherSkill = await client.catalog.match({ message: "upstream answered 503 Service Unavailable", code: "HTTP_503", skill: "other_skill", httpStatus: 503 });
    assert.notEqual(otherSkill.signature, m.signature);
  });

  test("match: nothing matched answers nulls", async () => {
    const m = await client.catalog.match({ message: "zzqq florp wibble" });
    assert.deepEqual({ ...m, signature: "" }, {
      matched: false,
      code: null,
      category: null,
      retryable: null,
      severity: null,
      recovery_mode: null,
      confidence: 0,
      match_type: "none",
      signature: "",
      explanation: null,
      suggestions: [],
    });
  });

  test("match: an HTTP status out of range is a BadRequestError (400 INVALID_FIELD)", async () => {
    await assert.rejects(client.catalog.match({ message: "x", httpStatus: 700 }), (e: unknown) => {
      assert.ok(e instanceof BadRequestError);
      assert.equal(e.status, 400);
      assert.equal(e.code, "INVALID_FIELD");
      assert.equal(e.field, "http_status");
      return true;
    });
  });
});

describe("failures", () => {
  // In the second tenant: a run whose http_call gets a 404, and one that recovers from two 503s.
  let t0: number;
  let notFound: RunView;
  let recovered: RunView;

  before(async () => {
    t0 = Date.now();
    const nf = plan("not-found").httpCall("fetch", { url: `${web.url}/missing` }).build();
    notFound = await other.runs.submitAndWait({ plan: nf }, { timeoutMs: 30_000 });
    const flaky = plan("recovers")
      .httpCall("call", { url: `${web.url}/flaky/failures` }, { retry: { maxAttempts: 4, initialDelayMs: 10, retryOn: ["TRANSIENT"] } })
      .build();
    recovered = await other.runs.submitAndWait({ plan: flaky }, { timeoutMs: 30_000 });
  });

  test("a failed run and its failed attempt carry the catalog's classification", async () => {
    assert.equal(notFound.status, "failed");
    assert.equal(notFound.error?.code, "HTTP_404");
    const expected = { matched: true, code: "HTTP_NOT_FOUND", category: "NOT_FOUND", retryable: false, recovery_mode: "fallback", match_type: "http_status" };
    for (const failure of [notFound.failure, notFound.step_details[0]!.attempts[0]!.failure]) {
      assert.ok(failure);
      assert.deepEqual(
        { matched: failure.matched, code: failure.code, category: failure.category, retryable: failure.retryable, recovery_mode: failure.recovery_mode, match_type: failure.match_type },
        expected,
      );
      assert.match(failure.signature, /^[0-9a-f]{16}$/);
    }
    // A successful attempt has no classification, and the classification is not part of the trace.
    assert.equal(recovered.status, "succeeded");
    assert.equal(recovered.step_details[0]!.attempts.at(-1)!.failure ?? null, null);
    assert.ok((await other.runs.verify(notFound.run_id)).ok);
    assert.ok((await other.runs.verify(recovered.run_id)).ok);
  });

  test("list: the 404 shows up as an attempt and a run failure", async () => {
    const records = await other.failures.list({ code: "HTTP_NOT_FOUND" }).toArray();
    assert.deepEqual(records.map((r) => r.kind).sort(), ["attempt", "run"]);
    for (const r of records) {
      assert.equal(r.run_id, notFound.run_id);
      assert.equal(r.step_id, "fetch");
      assert.equal(r.attempt, 1);
      assert.equal(r.skill, "http_call");
      assert.equal(r.code, "HTTP_404");
      assert.equal(r.catalog_code, "HTTP_NOT_FOUND");
      assert.equal(r.matched, true);
      assert.equal(r.category, "NOT_FOUND");
      assert.equal(r.match_type, "http_status");
      assert.equal(r.advised_recovery, "fallback");
      assert.equal(r.recovery_attempted, false);
      assert.equal(r.recovery_succeeded, null);
      assert.equal(r.signature, notFound.failure!.signature);
      assert.match(r.message, /answered HTTP 404/);
      assert.ok(r.at_ms >= t0 && r.at_ms <= Date.now());
      assert.ok(r.expires_at > r.at_ms / 1000);
    }
    // The match endpoint, given the same failure, classifies it the same way.
    const m = await other.catalog.match({ message: records[0]!.message, code: "HTTP_404", skill: "http_call", httpStatus: 404 });
    assert.equal(m.code, "HTTP_NOT_FOUND");
    assert.equal(m.signature, records[0]!.signature);
    // The error code filters the same records; a filter that excludes them finds none.
    assert.deepEqual((await other.failures.list({ code: "HTTP_404" }).toArray()).map((r) => r.id), records.map((r) => r.id));
    assert.deepEqual(await other.failures.list({ code: "HTTP_NOT_FOUND", matched: false }).toArray(), []);
    assert.deepEqual((await other.failures.list({ code: "HTTP_404", kind: "attempt" }).toArray()).map((r) => r.kind), ["attempt"]);
    // Another tenant sees none of them.
    const mine = await client.failures.list({ code: "HTTP_404" }).toArray();
    assert.equal(mine.some((r) => r.run_id === notFound.run_id), false);
  });

  test("list: recovered failures, filters and a time range", async () => {
    const retried = await other.failures.list({ recovered: true }).toArray();
    assert.equal(retried.length, 2);
    for (const r of retried) {
      assert.equal(r.run_id, recovered.run_id);
      assert.equal(r.code, "HTTP_503");
      assert.equal(r.category, "TRANSIENT");
      assert.equal(r.recovery_attempted, true);
      assert.equal(r.recovery_succeeded, true);
      assert.match(r.recovery_mode ?? "", /^retry_/);
    }
    assert.deepEqual(retried.map((r) => r.attempt), [2, 1], "newest first");
    assert.equal((await other.failures.list({ category: "TRANSIENT" }).toArray()).length, 2);
    assert.equal((await other.failures.list({ skill: "http_call" }).toArray()).length, 4);
    assert.deepEqual(await other.failures.list({ skill: "json_transform" }).toArray(), []);
    assert.deepEqual(await other.failures.list({ to: new Date(t0 - 1) }).toArray(), []);
    assert.equal((await other.failures.list({ from: new Date(t0), to: Date.now() }).toArray()).length, 4);
  });

  test("list: pagination across pages, newest first", async () => {
    const all: FailureRecord[] = [];
    for await (const r of other.failures.list({ limit: 1 })) all.push(r);
    assert.equal(all.length, 4);
    assert.equal(new Set(all.map((r) => r.id)).size, 4, "no record twice");
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.at_ms >= all[i]!.at_ms);
    const sizes: number[] = [];
    for await (const page of other.failures.list({ limit: 3 }).pages()) sizes.push(page.failures.length);
    assert.equal(sizes.reduce((a, b) => a + b, 0), 4);
    assert.ok(sizes.length >= 2, `pages: ${sizes}`);

    const page1 = await other.failures.listPage({ limit: 2 });
    assert.deepEqual(page1.failures.map((r) => r.id), all.slice(0, 2).map((r) => r.id));
    assert.ok(page1.next_cursor);
    const page2 = await other.failures.listPage({ limit: 2, cursor: page1.next_cursor! });
    assert.deepEqual(page2.failures.map((r) => r.id), all.slice(2).map((r) => r.id));
    assert.deepEqual((await other.failures.list({ limit: 2, cursor: page1.next_cursor! }).toArray()).map((r) => r.id), all.slice(2).map((r) => r.id));
    assert.equal((await other.failures.list({ limit: 1, maxItems: 3 }).toArray()).length, 3);
  });

  test("list: a bad cursor is INVALID_CURSOR, a bad limit INVALID_QUERY", async () => {
    await assert.rejects(other.failures.list({ cursor: "not-a-cursor" }).toArray(), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.equal(e.code, "INVALID_CURSOR");
      assert.equal(e.field, "cursor");
      return true;
    });
    await assert.rejects(other.failures.listPage({ limit: 500 }), (e: unknown) => e instanceof BadRequestError && e.code === "INVALID_QUERY" && e.field === "limit");
    await assert.rejects(other.failures.listPage({ from: 5, to: 1 }), (e: unknown) => e instanceof BadRequestError && e.code === "INVALID_QUERY" && e.field === "from");
  });

  test("stats: totals, match rate, counts, recovery and buckets", async () => {
    const s = await other.failures.stats();
    assert.equal(s.total, 4);
    assert.equal(s.matched, 4);
    assert.equal(s.match_rate, 1);
    assert.deepEqual(s.by_kind, { attempt: 3, run: 1 });
    assert.deepEqual(s.by_code, { HTTP_404: 2, HTTP_503: 2 });
    assert.deepEqual(s.by_catalog_code, { HTTP_NOT_FOUND: 2, HTTP_SERVICE_UNAVAILABLE: 2 });
    assert.deepEqual(s.by_category, { NOT_FOUND: 2, TRANSIENT: 2 });
    assert.deepEqual(s.by_skill, { http_call: 4 });
    assert.deepEqual(s.recovery, { attempted: 2, succeeded: 2, failed: 0, pending: 0, success_rate: 1 });
    const modes = Object.entries(s.recovery_by_mode);
    assert.equal(modes.length, 1);
    assert.match(modes[0]![0], /^retry_/);
    assert.equal(modes[0]![1].succeeded, 2);
    assert.equal(s.truncated, false);
    assert.equal(s.bucket_ms, 3_600_000);
    assert.equal(s.to_ms - s.from_ms, 86_400_000);
    assert.equal(s.buckets.reduce((a, b) => a + b.total, 0), 4);
    assert.equal(s.buckets.reduce((a, b) => a + b.recovered, 0), 2);

    // A narrower range with small buckets, and a filter.
    const to = Date.now();
    const narrow = await other.failures.stats({ from: new Date(t0 - 60_000), to, bucketMs: 10_000, code: "HTTP_404" });
    assert.equal(narrow.from_ms, t0 - 60_000);
    assert.equal(narrow.to_ms, to);
    assert.equal(narrow.bucket_ms, 10_000);
    assert.equal(narrow.total, 2);
    assert.deepEqual(narrow.by_kind, { attempt: 1, run: 1 });
    assert.equal(narrow.buckets[0]!.start_ms, narrow.from_ms);
    for (let i = 1; i < narrow.buckets.length; i++) assert.equal(narrow.buckets[i]!.start_ms - narrow.buckets[i - 1]!.start_ms, 10_000);
    assert.equal(narrow.buckets.reduce((a, b) => a + b.total, 0), 2);
    const attempts = await other.failures.stats({ kind: "attempt", category: "TRANSIENT", skill: "http_call" });
    assert.equal(attempts.total, 2);
    // Nothing before the runs.
    assert.equal((await other.failures.stats({ to: t0 - 1 })).total, 0);
    assert.equal((await other.failures.stats({ to: t0 - 1 })).recovery.success_rate, null);
  });

  test("candidates: aggregated on demand, read page by page, each tenant its own", async () => {
    // Every failure of this tenant is well known (confidence 0.93): none is a candidate at the default bar.
    const none = await other.failures.aggregate({ days: 1 });
    assert.equal(none.window.days, 1);
    assert.equal(none.low_confidence, 0.75);
    assert.deepEqual(none.candidates, []);
    // At a bar of 1 every matched attempt is one; the runs' own failures repeat their step's.
    const report = await other.failures.aggregate({ days: 1, lowConfidence: 1 });
    assert.deepEqual(report.candidates.map((c) => [c.code, c.count, c.closest_entry]), [["HTTP_503", 2, "HTTP_SERVICE_UNAVAILABLE"], ["HTTP_404", 1, "HTTP_NOT_FOUND"]]);
    const c = report.candidates[1]!;
    assert.deepEqual([c.skills, c.unmatched, c.count_error, c.tenant_count ?? null], [["http_call"], 0, 0, null]);
    assert.equal(c.examples[0]!.run_id, notFound.run_id);
    assert.equal(c.suggested.category, "NOT_FOUND");
    assert.equal(c.suggested.recovery_mode, "fallback");
    const first = await other.failures.candidates({ limit: 1 });
    assert.equal(first.generated_at_ms, report.generated_at_ms);
    assert.equal(first.total, 2);
    assert.ok(first.next_cursor);
    const second = await other.failures.candidates({ limit: 1, cursor: first.next_cursor! });
    assert.deepEqual([...first.candidates, ...second.candidates], report.candidates);
    assert.equal(second.next_cursor ?? null, null);
    // The first tenant's result (signatures may be the same: they do not depend on the tenant) holds
    // none of the second's failures.
    const mine = await client.failures.candidates({ limit: 200 });
    const theirs = new Set([notFound.run_id, recovered.run_id]);
    assert.ok(mine.candidates.flatMap((m) => m.examples).every((e) => !theirs.has(e.run_id ?? "")));
    await assert.rejects(other.failures.aggregate({ days: 0 }), (e: unknown) => e instanceof BadRequestError && e.code === "INVALID_QUERY" && e.field === "days");
    await assert.rejects(other.failures.candidates({ limit: 0 }), (e: unknown) => e instanceof BadRequestError && e.field === "limit");
    await assert.rejects(other.failures.candidates({ cursor: "zz" }), (e: unknown) => e instanceof ValidationError && e.code === "INVALID_CURSOR");
  });

  test("stats: too many buckets is a BadRequestError naming bucket_ms", async () => {
    await assert.rejects(other.failures.stats({ bucketMs: 1 }), (e: unknown) => {
      assert.ok(e instanceof BadRequestError);
      assert.equal(e.code, "INVALID_QUERY");
      assert.equal(e.field, "bucket_ms");
      return true;
    });
  });

  test("a refused submission is recorded as a rejected failure without a run", async () => {
    await assert.rejects(other.runs.submit({ plan: plan("refused").step("a", "nope", {}).build() }), ValidationError);
    const rejected = await other.failures.list({ kind: "rejected" }).toArray();
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0]!.code, "PLAN_UNKNOWN_SKILL");
    assert.equal(rejected[0]!.run_id ?? null, null);
    assert.equal(rejected[0]!.attempt, 0);
    assert.equal((await other.failures.stats()).by_kind.rejected, 1);
  });
});

describe("metrics", () => {
  test("the Prometheus text, with the catalog's hits", async () => {
    const text = await client.metrics();
    assert.equal(typeof text, "string");
    assert.match(text, /^# (HELP|TYPE) /m);
    assert.match(text, /^# TYPE runs_total counter$/m);
    assert.match(text, /^failure_match_hits_total\{code="HTTP_NOT_FOUND",category="NOT_FOUND"\} [1-9]\d*$/m);
  });

  test("metrics need a key", async () => {
    const none = new AosClient({ baseUrl: aos.url, apiKey: "" });
    await assert.rejects(none.metrics(), (e: unknown) => e instanceof AuthenticationError && e.status === 401 && e.code === "UNAUTHENTICATED");
  });
});

describe("access: whoami, keys, audit", () => {
  const doc = JSON.parse(readFileSync(OPENAPI_PATH, "utf8")) as {
    paths: Record<string, Record<string, { security?: Array<Record<string, string[]>> }>>;
  };
  /** Every permission the document names (each operation's security scope). */
  const SCOPES = [
    ...new Set(Object.values(doc.paths).flatMap((ops) => Object.values(ops).flatMap((op) => (op.security ?? []).flatMap((r) => Object.values(r).flat())))),
  ].sort();
  const as = (key: string) => new AosClient({ baseUrl: aos.url, apiKey: key, fetch: recordingFetch, maxRetries: 0 });
  const unique = () => "t" + Math.random().toString(16).slice(2, 10);

  test("whoami: the bootstrap admin holds every permission the document names", async () => {
    const me = await client.whoami();
    assert.equal(me.tenant, "dev");
    assert.equal(me.role, "admin");
    assert.equal(me.kind, "api_key");
    assert.ok(aos.apiKey.startsWith(`aos_${me.id}_`));
    assert.deepEqual([...me.permissions].sort(), SCOPES);
  });

  test("keys of every role; whoami as each; only admins manage keys", async () => {
    const admin = await client.whoami();
    const u = unique();
    const created = new Map<Role, CreatedKey>();
    for (const role of ROLES) {
      const k = await client.keys.create({ name: `${u}-${role}`, role, expiresInDays: role === "machine" ? 7 : undefined });
      assert.equal(k.record.role, role);
      assert.equal(k.record.name, `${u}-${role}`);
      assert.equal(k.record.prefix, `aos_${k.record.key_id}`);
      assert.ok(k.key.startsWith(k.record.prefix + "_"));
      assert.equal(k.record.created_by, `key:${admin.id}`);
      created.set(role, k);
    }
    const machine = created.get("machine")!.record;
    assert.ok(Math.abs(machine.expires_at_ms! - (machine.created_at_ms + 7 * 86_400_000)) < 5_000);
    assert.equal(created.get("viewer")!.record.expires_at_ms, undefined);
    const managers: Role[] = [];
    for (const [role, k] of created) {
      const c = as(k.key);
      const me = await c.whoami();
      assert.deepEqual([me.tenant, me.role, me.kind, me.id, me.name], ["dev", role, "api_key", k.record.key_id, `${u}-${role}`]);
      assert.equal(me.expires_at_ms ?? undefined, k.record.expires_at_ms ?? undefined);
      assert.ok(me.permissions.every((p) => SCOPES.includes(p)) && me.permissions.includes("profile:read"));
      // The permissions whoami reports are the ones the API enforces.
      if (me.permissions.includes("keys:manage")) {
        managers.push(role);
        assert.ok((await c.keys.list()).some((r) => r.key_id === me.id));
      } else {
        await assert.rejects(c.keys.list(), PermissionDeniedError);
      }
    }
    assert.deepEqual(managers, ["admin"]);
    const mine = (await client.keys.list()).filter((r) => r.name?.startsWith(u));
    assert.deepEqual(mine.map((r) => r.key_id), [...ROLES].reverse().map((r) => created.get(r)!.record.key_id), "newest first");
  });

  test("a viewer gets PermissionDeniedError (403 FORBIDDEN) creating a key", async () => {
    const u = unique();
    const viewer = as((await client.keys.create({ name: `${u}-viewer`, role: "viewer" })).key);
    await assert.rejects(viewer.keys.create({ name: `${u}-escalate`, role: "admin" }), (e: unknown) => {
      assert.ok(e instanceof PermissionDeniedError);
      assert.equal(e.status, 403);
      assert.equal(e.code, "FORBIDDEN");
      assert.match(e.message, /keys:manage/);
      return true;
    });
    await assert.rejects(viewer.audit.listPage(), PermissionDeniedError);
    assert.ok(!(await client.keys.list()).some((r) => r.name === `${u}-escalate`));
  });

  test("rotate: the old key fails with 401, the new one works; rotating again is 409 KEY_INACTIVE", async () => {
    const u = unique();
    const old = await client.keys.create({ name: `${u}-ci`, role: "machine", expiresInDays: 30 });
    const rotated = await client.keys.rotate(old.record.key_id);
    assert.notEqual(rotated.key, old.key);
    assert.equal(rotated.record.rotated_from, old.record.key_id);
    assert.deepEqual([rotated.record.role, rotated.record.name, rotated.record.expires_at_ms], ["machine", `${u}-ci`, old.record.expires_at_ms]);
    await assert.rejects(as(old.key).whoami(), (e: unknown) => e instanceof AuthenticationError && e.status === 401 && e.code === "UNAUTHENTICATED");
    assert.equal((await as(rotated.key).whoami()).id, rotated.record.key_id);
    await assert.rejects(client.keys.rotate(old.record.key_id), (e: unknown) => e instanceof ConflictError && e.code === "KEY_INACTIVE");
  });

  test("revoke: the key stops working at once; revoking again changes nothing; unknown keys are 404", async () => {
    const k = await client.keys.create({ name: `${unique()}-dev`, role: "developer" });
    const c = as(k.key);
    assert.equal((await c.whoami()).role, "developer");
    const revoked = await client.keys.revoke(k.record.key_id);
    assert.equal(typeof revoked.revoked_at_ms, "number");
    await assert.rejects(c.whoami(), AuthenticationError);
    assert.equal((await client.keys.revoke(k.record.key_id)).revoked_at_ms, revoked.revoked_at_ms);
    const listed = (await client.keys.list()).find((r) => r.key_id === k.record.key_id)!;
    assert.equal(listed.revoked_at_ms, revoked.revoked_at_ms);
    await assert.rejects(client.keys.revoke("00000000"), NotFoundError);
  });

  test("bad input is a ValidationError (422) naming the field", async () => {
    for (const name of ["   ", "x".repeat(65)]) {
      await assert.rejects(client.keys.create({ name, role: "viewer" }), (e: unknown) => {
        assert.ok(e instanceof ValidationError);
        assert.deepEqual([e.status, e.code, e.field], [422, "INVALID_FIELD", "name"]);
        assert.equal(e.errors[0]!.field, "name");
        return true;
      });
    }
    await assert.rejects(
      client.keys.create({ name: "ok", role: "root" as Role }),
      (e: unknown) => e instanceof ValidationError && e.field === "role" && /admin/.test(e.message),
    );
    assert.throws(() => client.keys.create({ name: "ok", role: "viewer", expiresInDays: 0 }), RangeError);
    assert.throws(() => client.audit.listPage({ limit: 501 }), RangeError);
    await assert.rejects(
      client.audit.listPage({ from: Date.now(), to: Date.now() - 60_000 }),
      (e: unknown) => e instanceof BadRequestError && e.status === 400 && e.code === "INVALID_QUERY" && e.field === "from",
    );
    await assert.rejects(
      client.audit.listPage({ cursor: "not-a-cursor" }),
      (e: unknown) => e instanceof ValidationError && e.code === "INVALID_CURSOR" && e.field === "cursor",
    );
  });

  test("audit: for await follows next_cursor, newest first; filters by action; tenants see their own", async () => {
    const since = Date.now();
    const me = await client.whoami();
    const u = unique();
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await client.keys.create({ name: `${u}-${i}`, role: "machine" })).record.key_id);
    const viewer = await client.keys.create({ name: `${u}-viewer`, role: "viewer" });
    await assert.rejects(as(viewer.key).keys.list(), PermissionDeniedError);
    await client.keys.revoke(made[0]!);

    const pager = client.audit.list({ from: since, action: "key.created", limit: 2 });
    assert.ok(pager instanceof AuditPager);
    const pages = [];
    for await (const p of pager.pages()) pages.push(p);
    assert.ok(pages.length >= 3 && pages.every((p) => p.events.length <= 2));
    assert.ok(pages.slice(0, -1).every((p) => p.next_cursor));
    const events = pages.flatMap((p) => p.events);
    assert.deepEqual(await pager.toList(), events);
    assert.ok(events.every((e) => e.action === "key.created"));
    const times = events.map((e) => e.at_ms);
    assert.deepEqual(times, [...times].sort((a, b) => b - a), "newest first");
    const targets = new Set(made.map((k) => `key:${k}`));
    assert.deepEqual(events.filter((e) => targets.has(e.target)).map((e) => e.target), [...made].reverse().map((k) => `key:${k}`));
    const first = events.find((e) => e.target === `key:${made[0]}`)!;
    assert.deepEqual([first.actor, first.role, first.detail.name, first.detail.role], [`key:${me.id}`, "admin", `${u}-0`, "machine"]);
    assert.equal((await client.audit.list({ from: since, action: "key.created", limit: 2, maxItems: 3 }).toList()).length, 3);

    const all = await client.audit.list({ from: since }).toList();
    for (const a of ["key.created", "key.revoked", "permission.denied"]) assert.ok(all.some((e) => e.action === a), a);
    const denied = all.find((e) => e.action === "permission.denied" && e.actor === `key:${viewer.record.key_id}`)!;
    assert.deepEqual([denied.role, denied.target, denied.detail.permission], ["viewer", "GET /api/v1/keys", "keys:manage"]);
    assert.ok(!(await other.audit.list({ from: since }).toList()).some((e) => targets.has(e.target)));
    assert.ok(!(await other.keys.list()).some((r) => r.name?.startsWith(u)));
  });

  test("token: an API key passed as token works (both are bearer credentials); a JWT needs an identity provider", async () => {
    const k = await client.keys.create({ name: `${unique()}-tok`, role: "operator" });
    assert.equal((await new AosClient({ baseUrl: aos.url, token: k.key }).whoami()).role, "operator");
    await assert.rejects(
      new AosClient({ baseUrl: aos.url, token: "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", maxRetries: 0 }).whoami(),
      (e: unknown) => e instanceof AuthenticationError && /identity-provider tokens/.test(e.message),
    );
  });
});

describe("recovery: suggestions and the review of candidates", () => {
  const u = "r" + Math.random().toString(16).slice(2, 10);
  const asKey = (key: string) => new AosClient({ baseUrl: aos.url, apiKey: key, fetch: recordingFetch, maxRetries: 0 });
  const ACTIONS = ["retry", "retry_after", "raise_timeout", "fallback", "continue", "refresh_credentials", "fix_input", "reduce_payload", "do_not_retry"];
  let failureId: string;
  /**
   * Candidates proposed for short-backoff retries that recovered 502s and 504s of http_call three
   * times each (codes no other test of this file fails with: their evidence is this test's alone).
   */
  let for502: string;
  let for504: string;

  const checkRanked = (answer: SuggestResponse) => {
    assert.ok(answer.suggestions.length > 0);
    const lowers = answer.suggestions.map((s) => s.confidence.lower);
    assert.deepEqual(lowers, [...lowers].sort((a, b) => b - a), "best first, by the lower bound");
    for (const s of answer.suggestions) {
      assert.ok(ACTIONS.includes(s.action), s.action);
      assert.ok(0 <= s.confidence.lower && s.confidence.lower <= s.confidence.mean && s.confidence.mean <= 1);
      assert.ok(["catalog", "history"].includes(s.source) && s.explanation.length > 0);
    }
  };

  before(async () => {
    const t0 = Date.now();
    const retry = { maxAttempts: 4, initialDelayMs: 10, maxDelayMs: 10, retryOn: ["TRANSIENT" as const] };
    for (let i = 0; i < 3; i++) {
      for (const status of [502, 504]) {
        const p = plan(`recovers-${status}`).httpCall("call", { url: `${web.url}/flaky/${u}-${status}-${i}?status=${status}` }, { retry });
        const run = await client.runs.submitAndWait({ plan: p }, { timeoutMs: 30_000 });
        assert.deepEqual([run.status, run.step_details[0]!.attempts.length], ["succeeded", 3]);
      }
    }
    const failing = plan("recovery-fails").httpCall("call", { url: `${web.url}/flaky/${u}-fails?status=502` }, { retry: { maxAttempts: 1 } });
    const failed = await client.runs.submitAndWait({ plan: failing }, { timeoutMs: 30_000 });
    assert.equal(failed.status, "failed");
    for (let tries = 0; !failureId; tries++) {
      const found = (await client.failures.list({ from: t0, kind: "attempt" }).toList()).find((f) => f.run_id === failed.run_id);
      if (found) failureId = found.id;
      else if (tries > 100) throw new Error("no failure record for the failed run");
      else await new Promise((r) => setTimeout(r, 100));
    }
    const proposed = async (status: number) => {
      const answer = await client.recovery.suggest({ message: `upstream ${u} answered ${status}`, code: `HTTP_${status}`, skill: "http_call", httpStatus: status });
      checkRanked(answer);
      assert.ok(answer.candidates[0], `the suggestion for ${status} proposed no candidate: ${JSON.stringify(answer.suggestions.slice(0, 2))}`);
      return answer.candidates[0]!;
    };
    for502 = await proposed(502);
    for504 = await proposed(504);
  });

  test("suggest for a stored failure of a real run, for one described by hand, and for a permanent one", async () => {
    const stored = await client.recovery.suggest({ failureId });
    assert.deepEqual([stored.match.matched, stored.match.code, stored.match.category], [true, "HTTP_BAD_GATEWAY", "TRANSIENT"]);
    assert.deepEqual([stored.key.code, stored.key.skill], ["HTTP_BAD_GATEWAY", "http_call"]);
    checkRanked(stored);
    const best = stored.suggestions[0]!;
    assert.deepEqual([best.action, best.params, best.source], ["retry", { backoff: "short" }, "history"], "the retries that worked come first");
    assert.ok(best.evidence.observed >= 3 && best.evidence.successes > 0 && best.evidence.last_seen_ms);
    assert.ok(best.patch && "retry" in best.patch);
    assert.ok(stored.candidates.includes(for502));
    const permanent = await client.recovery.suggest({ message: "POST /orders answered 400: missing sku", httpStatus: 400 });
    assert.equal(permanent.match.retryable, false);
    assert.ok(["do_not_retry", "fix_input"].includes(permanent.suggestions[0]!.action), permanent.suggestions[0]!.action);
    assert.deepEqual(permanent.candidates, []);
    const unknown = await client.recovery.suggest({ message: `the flux capacitor ${u} overheated` });
    assert.deepEqual([unknown.match.matched, unknown.key.code, unknown.key.skill], [false, `sig:${unknown.match.signature}`, null]);
    await assert.rejects(client.recovery.suggest({ failureId: failureId + "-missing" }), NotFoundError);
    await assert.rejects(client.recovery.suggest({ message: "m", skill: "no_such_skill" }), (e: unknown) => e instanceof ValidationError && e.field === "skill");
    assert.throws(() => client.recovery.suggest({ message: "m", httpStatus: 600 }), RangeError);
    assert.throws(() => client.recovery.suggest({} as { message: string }), TypeError);
  });

  test("candidates: listed page by page, approved, retired; a decision in the wrong state is 409", async () => {
    const candidate = await client.recovery.get(for502);
    assert.deepEqual([candidate.status, candidate.code, candidate.skill, candidate.action], ["pending", "HTTP_BAD_GATEWAY", "http_call", "retry"]);
    assert.ok(candidate.occurrences >= 1 && candidate.history.length === 0 && candidate.confidence.lower >= 0.6);

    const pager = client.recovery.candidates({ status: "pending", limit: 1 });
    assert.ok(pager instanceof RecoveryCandidatePager);
    const pages = [];
    for await (const p of pager.pages()) pages.push(p);
    assert.ok(pages.length >= 2 && pages.every((p) => p.candidates.length === 1));
    const ids = pages.flatMap((p) => p.candidates.map((c) => c.id));
    assert.ok(ids.includes(for502) && ids.includes(for504));
    assert.deepEqual((await pager.toList()).map((c) => c.id), ids);
    assert.equal((await client.recovery.candidates({ limit: 1, maxItems: 1 }).toList()).length, 1);
    const filtered = await client.recovery.candidatesPage({ code: "HTTP_GATEWAY_TIMEOUT", skill: "http_call" });
    assert.deepEqual(filtered.candidates.map((c) => c.id), [for504]);

    const me = await client.whoami();
    const approved = await client.recovery.approve(for502, { note: "retries fix it" });
    assert.equal(approved.status, "approved");
    assert.deepEqual(approved.history.map((h) => [h.from, h.to, h.actor, h.role, h.note]), [["pending", "approved", `key:${me.id}`, "admin", "retries fix it"]]);
    await assert.rejects(client.recovery.approve(for502), (e: unknown) => {
      assert.ok(e instanceof ConflictError);
      assert.deepEqual([e.status, e.code], [409, "CANDIDATE_STATE_CONFLICT"]);
      return true;
    });
    const retired = await client.recovery.retire(for502);
    assert.deepEqual(retired.history.map((h) => h.to), ["approved", "retired"]);
    await assert.rejects(client.recovery.retire(for502), (e: unknown) => e instanceof ConflictError && e.code === "CANDIDATE_STATE_CONFLICT");
    assert.equal((await client.recovery.get(for502)).status, "retired");
    await assert.rejects(client.recovery.get("rc_0000000000000000"), NotFoundError);
    assert.throws(() => client.recovery.approve(for504, { note: "x".repeat(1001) }), RangeError);
    await assert.rejects(client.recovery.candidatesPage({ cursor: "zz" }), (e: unknown) => e instanceof AosError && e.field === "cursor");
  });

  test("a viewer reads but may not decide; an operator rejects; another tenant sees nothing", async () => {
    const viewer = asKey((await client.keys.create({ name: `${u}-viewer`, role: "viewer" })).key);
    assert.equal((await viewer.recovery.get(for504)).status, "pending");
    await assert.rejects(viewer.recovery.reject(for504), (e: unknown) => e instanceof PermissionDeniedError && e.status === 403 && /recovery:review/.test(e.message));
    const machine = asKey((await client.keys.create({ name: `${u}-machine`, role: "machine" })).key);
    await assert.rejects(machine.recovery.candidatesPage(), PermissionDeniedError);
    await assert.rejects(other.recovery.get(for504), NotFoundError);
    assert.ok(!(await other.recovery.candidates().toList()).some((c) => c.id === for504));
    const operator = asKey((await client.keys.create({ name: `${u}-operator`, role: "operator" })).key);
    const rejected = await operator.recovery.reject(for504, { note: "we queue instead" });
    assert.deepEqual([rejected.status, rejected.history.at(-1)!.role, rejected.history.at(-1)!.note], ["rejected", "operator", "we queue instead"]);
    await assert.rejects(client.recovery.approve(for504), ConflictError);
  });
});

describe("recovery policies, automatic approval and drift", () => {
  const u = "p" + Math.random().toString(16).slice(2, 10);
  const asKey = (key: string) => new AosClient({ baseUrl: aos.url, apiKey: key, fetch: recordingFetch, maxRetries: 0 });
  /** A plan whose http_call step has no retry settings of its own. */
  const fragile = (name: string, options: { policies?: "on" | "off" | "override" } = {}) =>
    plan("policies-fragile", options).httpCall("get", `${web.url}/flaky/${u}-${name}?status=500`).build();
  let candidate: string;
  let policy: string;

  before(async () => {
    // Three runs whose 500s (a code no other test fails with) a short-backoff retry recovered, a
    // suggestion that proposes retrying, and its approval.
    const retry = { maxAttempts: 4, initialDelayMs: 10, maxDelayMs: 10, retryOn: ["TRANSIENT" as const] };
    for (let i = 0; i < 3; i++) {
      const p = plan("policies-teach").httpCall("call", { url: `${web.url}/flaky/${u}-teach-${i}?status=500` }, { retry });
      assert.equal((await client.runs.submitAndWait({ plan: p }, { timeoutMs: 30_000 })).status, "succeeded");
    }
    const answer = await client.recovery.suggest({ message: `upstream ${u} answered 500`, code: "HTTP_500", skill: "http_call", httpStatus: 500 });
    assert.ok(answer.candidates[0], `no candidate proposed: ${JSON.stringify(answer.suggestions.slice(0, 2))}`);
    candidate = answer.candidates[0]!;
    policy = "pol_" + candidate.slice("rc_".length);
  });

  after(async () => {
    // Later tests of this file must not run with the policy.
    if (policy) await client.policies.disable(policy).catch(() => undefined);
  });

  test("settings: read, changed a field at a time, audited; refused out of range and to a viewer", async () => {
    const initial = await client.recovery.settings();
    assert.deepEqual(initial, { mode: "off", min_lower: 0.8, min_evidence: 10 });
    assert.deepEqual(await client.recovery.putSettings({ minEvidence: 3 }), { mode: "off", min_lower: 0.8, min_evidence: 3 });
    const hooked = await client.recovery.putSettings({ mode: "shadow", driftWebhookUrl: "https://hooks.example.com/drift" });
    assert.deepEqual(hooked, { mode: "shadow", min_lower: 0.8, min_evidence: 3, drift_webhook_url: "https://hooks.example.com/drift" });
    assert.deepEqual(await client.recovery.settings(), hooked);
    const back = await client.recovery.putSettings({ mode: "off", minLower: 0.65, driftWebhookUrl: null });
    assert.deepEqual(back, { mode: "off", min_lower: 0.65, min_evidence: 3 });
    const events = await client.audit.list({ action: "recovery.settings" }).toList();
    assert.deepEqual(events.map((e) => e.detail.mode), ["off", "shadow", "off"], "each change audited, newest first");
    assert.equal(events[0]!.role, "admin");

    assert.throws(() => client.recovery.putSettings({ minLower: 0.3 }), RangeError);
    assert.throws(() => client.recovery.putSettings({ minLower: 1 }), RangeError);
    assert.throws(() => client.recovery.putSettings({ minEvidence: 0 }), RangeError);
    assert.throws(() => client.recovery.putSettings({ mode: "sometimes" as "off" }), RangeError);
    await assert.rejects(
      client.transport.request("PUT", "/api/v1/recovery/settings", { body: { mode: "off", min_lower: 0.3, min_evidence: 3 } }),
      (e: unknown) => e instanceof ValidationError && e.status === 422 && e.field === "min_lower",
    );
    const viewer = asKey((await client.keys.create({ name: `${u}-viewer`, role: "viewer" })).key);
    assert.equal((await viewer.recovery.settings()).mode, "off");
    await assert.rejects(viewer.recovery.putSettings({ mode: "active" }), (e: unknown) => e instanceof PermissionDeniedError && e.status === 403);
    assert.deepEqual(await client.recovery.settings(), back, "refused changes change nothing");
  });

  test("an approved candidate becomes an active policy that runs take unless their plan opts out", async () => {
    const me = await client.whoami();
    await client.recovery.approve(candidate, { note: "retries fix it" });
    const listed = await client.policies.list();
    const p = listed.find((x) => x.id === policy);
    assert.ok(p, `${policy} not listed: ${listed.map((x) => x.id).join()}`);
    assert.deepEqual(await client.policies.get(policy), p);
    assert.deepEqual([p.status, p.candidate_id, p.skill, p.code, p.target, p.action, p.params], ["active", candidate, "http_call", "HTTP_INTERNAL_SERVER_ERROR", null, "retry", { backoff: "short" }]);
    assert.ok(p.approved_lower >= 0.6 && p.approved_evidence.observed >= 3 && p.created_at_ms <= p.updated_at_ms);
    assert.deepEqual(p.history.map((h) => [h.from, h.to, h.actor, h.note]), [[null, "active", `key:${me.id}`, "retries fix it"]]);
    const patchRetry = p.patch.retry as { max_attempts: number };
    assert.ok(patchRetry.max_attempts >= 2);

    // A policy applies to the steps of a plan that met its failure in an earlier run: a first run of
    // the plan fails for good with a 500. The server reuses a tenant's policies for up to 5 s.
    const first = plan("policies-fragile").httpCall("get", `${web.url}/flaky/${u}-first?status=500`, { retry: { maxAttempts: 1 } }).build();
    assert.equal((await client.runs.submitAndWait({ plan: first }, { timeoutMs: 30_000 })).status, "failed");
    let run: RunView | undefined;
    for (let i = 0; !run?.applied_policies?.length; i++) {
      if (i > 30) assert.fail(`no run took the policy: ${JSON.stringify(run)}`);
      if (i > 0) await new Promise((r) => setTimeout(r, 500));
      run = await client.runs.submitAndWait({ plan: fragile(`a${i}`) }, { timeoutMs: 30_000 });
    }
    assert.equal(run.status, "succeeded");
    assert.equal(run.applied_policies.length, 1);
    const applied = run.applied_policies[0]!;
    assert.deepEqual([applied.policy_id, applied.step_id, applied.patch, applied.replaced], [policy, "get", p.patch, { retry: null }]);
    assert.equal(run.plan.steps[0]!.retry?.max_attempts, patchRetry.max_attempts, "the run's plan is the compiled one");
    assert.equal(run.shadow_policies, undefined);

    const optedOut = await client.runs.submitAndWait({ plan: fragile("off", { policies: "off" }) }, { timeoutMs: 30_000 });
    assert.deepEqual([optedOut.applied_policies, optedOut.plan.policies, optedOut.plan.steps[0]!.retry], [undefined, "off", undefined]);

    for (let i = 0; ; i++) {
      const outcomes = (await client.policies.get(policy)).outcomes;
      if (outcomes.steps >= 1) {
        assert.ok(outcomes.succeeded >= 1 && outcomes.succeeded <= outcomes.steps);
        break;
      }
      if (i > 100) assert.fail("the patched run's outcome is not counted");
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  test("disable: a viewer may not; the first disables, the second is a 409 POLICY_STATE_CONFLICT", async () => {
    const viewer = asKey((await client.keys.create({ name: `${u}-viewer2`, role: "viewer" })).key);
    assert.ok((await viewer.policies.list()).some((x) => x.id === policy));
    await assert.rejects(viewer.policies.disable(policy), (e: unknown) => e instanceof PermissionDeniedError && e.status === 403);
    assert.deepEqual(await other.policies.list(), []);
    await assert.rejects(other.policies.get(policy), NotFoundError);
    assert.throws(() => client.policies.disable(policy, { note: "x".repeat(1001) }), RangeError);
    assert.equal((await client.policies.get(policy)).status, "active", "refusals change nothing");

    const disabled = await client.policies.disable(policy, { note: "enough" });
    assert.equal(disabled.status, "disabled");
    assert.deepEqual(disabled.history.map((h) => [h.from, h.to, h.note ?? null]), [[null, "active", "retries fix it"], ["active", "disabled", "enough"]]);
    await assert.rejects(client.policies.disable(policy), (e: unknown) => {
      assert.ok(e instanceof ConflictError);
      assert.deepEqual([e.status, e.code], [409, "POLICY_STATE_CONFLICT"]);
      return true;
    });
    await assert.rejects(client.policies.get("pol_0000000000000000"), NotFoundError);
    const events = await client.audit.list({ action: "policy.disabled" }).toList();
    assert.equal(events[0]?.target, `policy:${policy}`);
  });

  test("drift is evaluated on demand", async () => {
    const report = await client.failures.drift();
    assert.ok(report.baseline_from_ms < report.current_from_ms && report.current_from_ms <= report.evaluated_at_ms);
    assert.equal(report.drifting, report.items.filter((i) => i.drifting).length);
    for (const i of report.items) assert.ok(i.current.failures <= i.current.attempts || i.current.attempts === 0);
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
