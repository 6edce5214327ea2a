// The real stack the console tests drive: `aos-target` (the tests' local HTTP server) and
// `aos serve` on free ports with a temporary data dir, both started by PID and stopped by PID,
// and the traffic that seeds them through the HTTP API (runs, failures, recovery candidates).

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export function binPath(name) {
  if (name === "aos" && process.env.AOS_BIN) return process.env.AOS_BIN;
  const dir = process.env.AOS_BIN ? dirname(process.env.AOS_BIN) : join(process.env.CARGO_TARGET_DIR || join(ROOT, "target"), "debug");
  return join(dir, name);
}

/** Starts `cmd`, resolves with the process and the first word after `marker` in its output. */
function start(cmd, args, env, marker) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start in 60 s:\n${out.slice(-2000)}`)), 60_000);
    const onData = (chunk) => {
      out += chunk;
      const at = out.indexOf(marker);
      if (at >= 0 && out.slice(at + marker.length).includes("\n")) {
        clearTimeout(timer);
        resolve({ proc: p, value: out.slice(at + marker.length).split(/\s/)[0], log: () => out });
      }
    };
    p.stdout.on("data", onData);
    p.stderr.on("data", onData);
    p.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited with ${code}:\n${out.slice(-2000)}`));
    });
  });
}

export class Stack {
  async start() {
    this.dir = mkdtempSync(join(tmpdir(), "aos-console-"));
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AOS_")));
    Object.assign(env, { AOS_HTTP_ALLOW_HOSTS: "127.0.0.1", AOS_RATE_LIMIT_PER_MINUTE: "0", AOS_AGGREGATE_EVERY: "off", AOS_LOG: "warn" });
    const target = await start(binPath("aos-target"), [], env, "AOS target listening on ");
    this.targetProc = target.proc;
    this.target = target.value;
    const serve = await start(binPath("aos"), ["serve", "--port", "0", "--data-dir", join(this.dir, "data")], env, "AOS listening on ");
    this.serveProc = serve.proc;
    this.serveProc.removeAllListeners("exit");
    this.base = serve.value;
    this.adminKey = readFileSync(join(this.dir, "data", "admin.key"), "utf8").trim();
    this.admin = new Api(this.base, this.adminKey);
    return this;
  }

  /** Stops `aos serve` (SIGTERM, then SIGKILL after 20 s); the target stays up. */
  async stopServer() {
    if (!this.serveProc || this.serveProc.exitCode !== null) return;
    const done = new Promise((r) => this.serveProc.once("exit", r));
    this.serveProc.kill("SIGTERM");
    const t = setTimeout(() => this.serveProc.kill("SIGKILL"), 20_000);
    await done;
    clearTimeout(t);
  }

  async stop() {
    await this.stopServer();
    if (this.targetProc && this.targetProc.exitCode === null) {
      this.targetProc.removeAllListeners("exit");
      this.targetProc.kill("SIGTERM");
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A minimal HTTP client for seeding and for checking what the API says after a browser action. */
export class Api {
  constructor(base, key) {
    this.base = base;
    this.key = key;
  }

  async call(method, path, body) {
    const resp = await fetch(this.base + path, {
      method,
      headers: { authorization: `Bearer ${this.key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await resp.text();
    return { status: resp.status, body: text ? JSON.parse(text) : null };
  }

  async ok(method, path, body, want = [200, 201, 202]) {
    const r = await this.call(method, path, body);
    if (!want.includes(r.status)) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
    return r.body;
  }

  async run(plan, inputs = {}) {
    const { run_id } = await this.ok("POST", "/api/v1/runs", { plan, inputs });
    const view = await this.ok("GET", `/api/v1/runs/${run_id}?wait_ms=30000`);
    if (!["succeeded", "failed"].includes(view.status)) throw new Error(`run ${run_id} did not finish: ${view.status}`);
    return view;
  }
}

const http = (id, url, extra = {}) => ({ id, skill: "http_call", input: { url, ...(extra.input ?? {}) }, ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== "input")) });

/**
 * Seeds the tenant through the API: a multi-step run with a retried flaky step, runs that fail
 * (400, 503 after retries), rounds of 429 and flaky 503 traffic with suggest calls after each so
 * that recovery candidates are proposed, a failure aggregation, and a run whose inputs hold a
 * credential-like field (`api_key`) and whose step sends a secret (for the viewer test).
 */
export async function seed(stack, marker) {
  const { admin, target } = stack;
  const seeded = {};
  seeded.fiveStep = await admin.run({
    name: "five-step",
    steps: [
      http("price", `${target}/price`),
      http("flaky", `${target}/flaky/console-5/2`, { retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 50 } }),
      { id: "extract", skill: "json_transform", depends_on: ["price"], input: { data: "{{ steps.price.output.body }}", expr: ".bitcoin.usd" } },
      {
        id: "combine",
        skill: "json_transform",
        depends_on: ["extract", "flaky"],
        input: { data: { price: "{{ steps.extract.output }}", calls: "{{ steps.flaky.output.body.calls }}" }, expr: "{price, calls}" },
      },
      { id: "message", skill: "json_transform", depends_on: ["combine"], input: { data: "{{ steps.combine.output }}", expr: '"BTC is \\(.price) USD"' } },
    ],
  });
  seeded.badRequest = await admin.run({
    name: "bad-request",
    steps: [http("bad", `${target}/status/400`, { retry: { max_attempts: 2, initial_delay_ms: 10, retry_on: ["VALIDATION"] } })],
  });
  seeded.unavailable = await admin.run({
    name: "always-503",
    steps: [
      http("fetch", `${target}/status/503`, { retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 20 } }),
      { id: "after", skill: "json_transform", depends_on: ["fetch"], input: { data: 1, expr: ". + 1" } },
    ],
  });
  // Repeated recoveries: evidence for the confidence model, then candidates from suggest calls.
  for (let r = 1; r <= 4; r++) {
    await admin.run({ name: "rate-limited", steps: [http("rl", `${target}/limited/console-rl${r}/1/1`)] });
    await admin.run({ name: "flaky", steps: [http("fl", `${target}/flaky/console-fl${r}/2`)] });
    const page = await admin.ok("GET", "/api/v1/failures?limit=200&kind=attempt");
    for (const sid of ["rl", "fl"]) {
      const f = page.failures.find((x) => x.step_id === sid);
      if (f) await admin.ok("POST", "/api/v1/recovery/suggest", { failure_id: f.id });
    }
  }
  // A failure the catalog matches only generically (below the aggregation's confidence): a catalog candidate.
  for (let i = 0; i < 3; i++) {
    await admin.run({ name: "teapot", steps: [http("brew", `${target}/status/418`, { retry: { max_attempts: 1 } })] });
  }
  await admin.ok("POST", "/api/v1/failures/aggregate", {});
  // A secret sent by a step, and a credential-like input field: raw for admins, redacted for viewers.
  await admin.ok("PUT", "/api/v1/secrets/CONSOLE_TOKEN", { value: `secret-${marker}` }, [200, 201, 204]);
  seeded.sensitive = await admin.run(
    {
      name: "sensitive",
      input_schema: { type: "object", properties: { api_key: { type: "string" }, note: { type: "string" } } },
      steps: [
        http("send", `${target}/sink`, {
          input: { method: "POST", headers: { authorization: "Bearer {{ secrets.CONSOLE_TOKEN }}" }, body: { key: "{{ inputs.api_key }}" } },
          retry: { max_attempts: 1 },
        }),
        { id: "echo", skill: "json_transform", depends_on: ["send"], input: { data: "{{ steps.send.output.body }}", expr: "." } },
      ],
    },
    { api_key: `apikey-${marker}`, note: "plain" },
  );
  const viewer = await admin.ok("POST", "/api/v1/keys", { name: "console-viewer", role: "viewer" });
  seeded.viewerKey = viewer.key;
  const cands = await admin.ok("GET", "/api/v1/recovery/candidates?status=pending");
  seeded.pending = cands.candidates;
  return seeded;
}

/** Submits `n` small runs, `parallel` at a time, without waiting for them to finish. */
export async function submitMany(api, n, parallel = 8) {
  let next = 0;
  const plan = { name: "bulk", steps: [{ id: "one", skill: "json_transform", input: { data: 1, expr: ". + 1" } }] };
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        next++;
        await api.ok("POST", "/api/v1/runs", { plan });
      }
    }),
  );
}
