/**
 * `AosClient`: every operation of the AOS API, grouped by resource.
 */

import { WaitTimeoutError } from "./errors.js";
import { Transport, type FetchLike, type RetryInfo, type TokenSource } from "./http.js";
import { Paginator } from "./pagination.js";
import { PlanBuilder } from "./plan.js";
import { canonicalize } from "./determinism.js";
import { verifyRun, type VerifyReport } from "./verify.js";
import {
  isFinalStatus,
  type CancelResult,
  type Health,
  type JsonObject,
  type Plan,
  type ReplayReport,
  type RunList,
  type RunStatus,
  type RunSummary,
  type RunView,
  type SecretNames,
  type Simulation,
  type SkillList,
  type SkillSpec,
  type Submitted,
  type Workflow,
  type WorkflowList,
} from "./types.js";

/** The default API address, as the `aos` CLI uses. */
export const DEFAULT_BASE_URL = "http://127.0.0.1:8080";

export interface AosClientOptions {
  /** API base URL; default `AOS_URL` from the environment, else `http://127.0.0.1:8080`. */
  baseUrl?: string;
  /** An AOS API key (`aos_<8 hex>_<48 hex>`); default `AOS_API_KEY` from the environment. */
  apiKey?: string;
  /**
   * Another bearer credential (e.g. a token from an identity provider), or a function returning
   * one, called before every request. Give either `apiKey` or `bearerToken`.
   */
  bearerToken?: TokenSource;
  /** The `fetch` to use; the global one by default. */
  fetch?: FetchLike;
  /** Timeout of each request in ms (long polls get their wait added); default 30000. */
  timeoutMs?: number;
  /**
   * Retries of a request answered 429, 503 or 409 `CONCURRENT_UPDATE` (and of network failures of
   * GET and PUT); default 3.
   */
  maxRetries?: number;
  /** Longest wait before a retry, also the cap on `Retry-After`; default 30000 ms. */
  maxRetryDelayMs?: number;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
  /** Called before each retry. */
  onRetry?: (info: RetryInfo) => void;
}

/** Reads an environment variable where there is a `process` (Node); `undefined` elsewhere. */
function env(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  if (p && typeof p === "object" && p.env && typeof p.env === "object") {
    const v = p.env[name];
    return v === undefined || v === "" ? undefined : v;
  }
  return undefined;
}

const seg = (s: string | number) => encodeURIComponent(String(s));

type PlanLike = Plan | PlanBuilder;
const toPlan = (p: PlanLike): Plan => (p instanceof PlanBuilder ? p.build() : p);

/** What a run starts from: an inline plan or a saved workflow (latest version by default). */
export type RunSource = { plan: PlanLike; workflow?: never; version?: never } | { workflow: string; version?: number; plan?: never };

/** `runs.submit` parameters. */
export type SubmitRunParams = RunSource & {
  /** The run's inputs (`{}` when absent). */
  inputs?: JsonObject;
  /** 1–200 bytes; the same key returns the same run for 7 days. */
  idempotencyKey?: string;
  /** The run's seed, below 2^53; random when absent. */
  seed?: number;
};

/** `runs.list` filters. */
export interface ListRunsParams {
  status?: RunStatus;
  /** Only runs created at or after this time (ms since the epoch, or a Date). */
  createdAfter?: number | Date;
  /** Only runs created at or before this time (ms since the epoch, or a Date). */
  createdBefore?: number | Date;
  /** Page size, 1–200 (the server's default is 50). */
  limit?: number;
  /** Start from this cursor instead of the first page. */
  cursor?: string;
  /** Stop after this many runs. */
  maxItems?: number;
}

export interface GetRunOptions {
  /** Long polling: wait up to this long (1–30000 ms) for the run to finish. */
  waitMs?: number;
  signal?: AbortSignal;
}

export interface WaitForRunOptions {
  /** Give up after this long (default 300000 ms = 5 minutes), throwing `WaitTimeoutError`. */
  timeoutMs?: number;
  /**
   * Called with the run on the first read and whenever its status or any step's status or attempt
   * changes, including the final state.
   */
  onProgress?: (run: RunView) => void | Promise<void>;
  /**
   * Longest single long poll (1–30000 ms). Default 30000, or 1000 when `onProgress` is given (a long
   * poll returns early only when the run finishes, so shorter polls report progress sooner).
   */
  pollWaitMs?: number;
  signal?: AbortSignal;
}

const toMs = (v: number | Date | undefined) => (v instanceof Date ? v.getTime() : v);

/** Runs: submit, read, list, wait, cancel, replay, verify. */
export class Runs {
  constructor(private readonly client: AosClient) {}

  /** `POST /api/v1/runs`: starts a run of an inline plan or a saved workflow. */
  submit(params: SubmitRunParams): Promise<Submitted> {
    const body: Record<string, unknown> = {};
    if (params.plan !== undefined) body.plan = toPlan(params.plan);
    if (params.workflow !== undefined) body.workflow = params.workflow;
    if (params.version !== undefined) body.version = params.version;
    if (params.inputs !== undefined) body.inputs = params.inputs;
    if (params.idempotencyKey !== undefined) body.idempotency_key = params.idempotencyKey;
    if (params.seed !== undefined) body.seed = params.seed;
    return this.client.transport.request<Submitted>("POST", "/api/v1/runs", { body });
  }

  /** `GET /api/v1/runs/{id}`: the run's whole execution context, optionally after a long poll. */
  get(runId: string, options: GetRunOptions = {}): Promise<RunView> {
    const waitMs = options.waitMs;
    return this.client.transport.request<RunView>("GET", `/api/v1/runs/${seg(runId)}`, {
      query: waitMs ? { wait_ms: Math.round(waitMs) } : undefined,
      extraTimeoutMs: waitMs ?? 0,
      idempotent: true,
      signal: options.signal,
    });
  }

  /** `GET /api/v1/runs`: one page of runs, newest first. */
  listPage(params: Omit<ListRunsParams, "maxItems"> = {}): Promise<RunList> {
    return this.client.transport.request<RunList>("GET", "/api/v1/runs", {
      query: {
        status: params.status,
        created_after: toMs(params.createdAfter),
        created_before: toMs(params.createdBefore),
        limit: params.limit,
        cursor: params.cursor,
      },
      idempotent: true,
    });
  }

  /**
   * Every run matching the filters, newest first, fetched page by page as you iterate:
   * `for await (const run of client.runs.list({ status: "failed" }))`.
   */
  list(params: ListRunsParams = {}): Paginator<RunSummary> {
    const { maxItems, cursor, ...filters } = params;
    return new Paginator<RunSummary>(
      async (c) => {
        const page = await this.listPage({ ...filters, cursor: c });
        return { items: page.runs, nextCursor: page.next_cursor ?? undefined };
      },
      { cursor, maxItems },
    );
  }

  /** `POST /api/v1/runs/{id}/cancel`: cancels an unfinished run (409 when it has finished). */
  cancel(runId: string): Promise<CancelResult> {
    return this.client.transport.request<CancelResult>("POST", `/api/v1/runs/${seg(runId)}/cancel`);
  }

  /** `POST /api/v1/runs/{id}/replay`: the server replays a finished run and reports parity. */
  replay(runId: string): Promise<ReplayReport> {
    return this.client.transport.request<ReplayReport>("POST", `/api/v1/runs/${seg(runId)}/replay`);
  }

  /** Waits for the run to finish (long polling); see `AosClient.waitForRun`. */
  wait(runId: string, options?: WaitForRunOptions): Promise<RunView> {
    return this.client.waitForRun(runId, options);
  }

  /** Submits a run and waits for it to finish. */
  async submitAndWait(params: SubmitRunParams, options?: WaitForRunOptions): Promise<RunView> {
    const submitted = await this.submit(params);
    return this.client.waitForRun(submitted.run_id, options);
  }

  /**
   * Verifies a finished run on the client: recomputes every attempt's hashes from its record,
   * rebuilds the trace in step order, chains the root and compares with `trace_root`.
   */
  async verify(runId: string): Promise<VerifyReport> {
    return verifyRun(await this.get(runId));
  }
}

/** Saved, versioned plans. */
export class Workflows {
  constructor(private readonly client: AosClient) {}

  /** `POST /api/v1/workflows`: saves the plan as the next version of the named workflow. */
  create(name: string, plan: PlanLike): Promise<Workflow> {
    return this.client.transport.request<Workflow>("POST", "/api/v1/workflows", { body: { name, plan: toPlan(plan) } });
  }

  /** `GET /api/v1/workflows`: every version of every workflow, by name then version. */
  async list(): Promise<Workflow[]> {
    const res = await this.client.transport.request<WorkflowList>("GET", "/api/v1/workflows", { idempotent: true });
    return res.workflows;
  }

  /** `GET /api/v1/workflows/{name}`: the latest version, or the one given. */
  get(name: string, options: { version?: number } = {}): Promise<Workflow> {
    return this.client.transport.request<Workflow>("GET", `/api/v1/workflows/${seg(name)}`, {
      query: { version: options.version },
      idempotent: true,
    });
  }
}

/** The skills of the deployment. */
export class Skills {
  constructor(private readonly client: AosClient) {}

  /** `GET /api/v1/skills`: every skill, sorted by id. */
  async list(): Promise<SkillSpec[]> {
    const res = await this.client.transport.request<SkillList>("GET", "/api/v1/skills", { idempotent: true });
    return res.skills;
  }

  /** `GET /api/v1/skills/{id}`: one skill's self-description. */
  get(skillId: string): Promise<SkillSpec> {
    return this.client.transport.request<SkillSpec>("GET", `/api/v1/skills/${seg(skillId)}`, { idempotent: true });
  }
}

/** Tenant secrets (write-only values). */
export class Secrets {
  constructor(private readonly client: AosClient) {}

  /** `PUT /api/v1/secrets/{name}`: creates or replaces a secret. */
  async put(name: string, value: string): Promise<void> {
    await this.client.transport.request<void>("PUT", `/api/v1/secrets/${seg(name)}`, {
      body: { value },
      idempotent: true,
      noContent: true,
    });
  }

  /** `GET /api/v1/secrets`: the names of the tenant's secrets, sorted. */
  async list(): Promise<string[]> {
    const res = await this.client.transport.request<SecretNames>("GET", "/api/v1/secrets", { idempotent: true });
    return res.names;
  }
}

/** A signature of what progress callers care about: run status and each step's status and attempt. */
function progressSignature(run: RunView): string {
  const steps: Record<string, unknown> = {};
  for (const [id, s] of Object.entries(run.steps ?? {})) {
    steps[id] = [s.status, s.attempt, s.due_at_ms ?? null];
  }
  return canonicalize({ status: run.status, steps });
}

/**
 * A client of the AOS API.
 *
 * ```ts
 * const aos = new AosClient({ baseUrl: "http://127.0.0.1:8080", apiKey: "aos_..." });
 * const { run_id } = await aos.runs.submit({ plan, inputs: { n: 21 } });
 * const run = await aos.waitForRun(run_id, { onProgress: (r) => console.log(r.status) });
 * ```
 */
export class AosClient {
  readonly baseUrl: string;
  /** @internal */
  readonly transport: Transport;
  readonly runs: Runs;
  readonly workflows: Workflows;
  readonly skills: Skills;
  readonly secrets: Secrets;

  constructor(options: AosClientOptions = {}) {
    if (options.apiKey !== undefined && options.bearerToken !== undefined) {
      throw new TypeError("give either apiKey or bearerToken, not both");
    }
    this.baseUrl = (options.baseUrl ?? env("AOS_URL") ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    const token: TokenSource | undefined = options.bearerToken ?? options.apiKey ?? env("AOS_API_KEY");
    this.transport = new Transport({
      baseUrl: this.baseUrl,
      token,
      fetch: options.fetch,
      timeoutMs: options.timeoutMs ?? 30_000,
      maxRetries: options.maxRetries ?? 3,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
      headers: options.headers,
      onRetry: options.onRetry,
    });
    this.runs = new Runs(this);
    this.workflows = new Workflows(this);
    this.skills = new Skills(this);
    this.secrets = new Secrets(this);
  }

  /** `POST /api/v1/simulate`: validates a plan and estimates its cost, latency and risk. */
  simulate(plan: PlanLike): Promise<Simulation> {
    return this.transport.request<Simulation>("POST", "/api/v1/simulate", { body: { plan: toPlan(plan) } });
  }

  /** `GET /healthz`: liveness of the server (no key needed). */
  health(): Promise<Health> {
    return this.transport.request<Health>("GET", "/healthz", { idempotent: true });
  }

  /** `GET /api/v1/openapi.json`: the OpenAPI document the server implements (no key needed). */
  openapi(): Promise<Record<string, unknown>> {
    return this.transport.request<Record<string, unknown>>("GET", "/api/v1/openapi.json", { idempotent: true });
  }

  /**
   * Waits until the run has finished (`succeeded`, `failed` or `cancelled`) and returns it, using
   * long polling (`GET /api/v1/runs/{id}?wait_ms=`). Throws `WaitTimeoutError` after `timeoutMs`.
   * A failed run is returned, not thrown: its failure is data (`run.error`).
   */
  async waitForRun(runId: string, options: WaitForRunOptions = {}): Promise<RunView> {
    const timeoutMs = options.timeoutMs ?? 300_000;
    const pollWaitMs = Math.max(1, Math.min(options.pollWaitMs ?? (options.onProgress ? 1000 : 30_000), 30_000));
    const deadline = Date.now() + timeoutMs;
    let lastSig: string | undefined;
    let run: RunView | undefined;
    for (let first = true; ; first = false) {
      const remaining = deadline - Date.now();
      if (!first && remaining <= 0) throw new WaitTimeoutError(runId, timeoutMs, run);
      // The first read answers at once so that progress starts with the current state.
      const waitMs = first ? 0 : Math.max(1, Math.min(pollWaitMs, remaining));
      run = await this.runs.get(runId, { waitMs, signal: options.signal });
      if (options.onProgress) {
        const sig = progressSignature(run);
        if (sig !== lastSig) {
          lastSig = sig;
          await options.onProgress(run);
        }
      }
      if (isFinalStatus(run.status)) return run;
    }
  }
}
