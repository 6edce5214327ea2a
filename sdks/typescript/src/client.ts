/**
 * `AosClient`: every operation of the AOS API, grouped by resource.
 */

import { RunFailedError, WaitTimeoutError } from "./errors.js";
import { Transport, type FetchLike, type RetryInfo, type TokenSource } from "./http.js";
import { AuditPager, FailurePager, RecoveryCandidatePager, RunPager } from "./pagination.js";
import { PlanBuilder } from "./plan.js";
import { ProgressTracker, type ProgressEvent } from "./progress.js";
import { verifyRun, type VerifyReport } from "./verify.js";
import {
  isFinalStatus,
  type ApiKeyRecord,
  type ApprovalMode,
  type AuditAction,
  type AuditList,
  type CancelResult,
  type CatalogEntry,
  type CatalogView,
  type Category,
  type CreatedKey,
  type FailureKind,
  type FailureList,
  type FailureStats,
  type CandidatePage,
  type CandidateReport,
  type CandidateStatus,
  type DriftReport,
  type Health,
  type JsonObject,
  type KeyList,
  type MatchResponse,
  type Plan,
  type Policy,
  type PolicyList,
  type RecoverySettingsView,
  type RecoveryCandidate,
  type RecoveryCandidateList,
  type SuggestResponse,
  type ReplayReport,
  type Role,
  type RunList,
  type RunStatus,
  type RunView,
  type SecretNames,
  type Simulation,
  type SkillList,
  type SkillSpec,
  type Step,
  type Submitted,
  type WhoAmI,
  type Workflow,
  type WorkflowList,
} from "./types.js";

/** The default API address, as the `aos` CLI uses. */
export const DEFAULT_BASE_URL = "http://127.0.0.1:8080";
/** The longest long poll the API accepts (`wait_ms`). */
export const MAX_WAIT_MS = 30_000;

export interface AosClientOptions {
  /** API base URL; default `AOS_URL` from the environment, else `http://127.0.0.1:8080`. A trailing `/api/v1` is dropped. */
  baseUrl?: string;
  /** An AOS API key (`aos_...`), sent as a bearer token; default `AOS_API_KEY` (or `AOS_TOKEN`) from the environment. */
  apiKey?: string;
  /**
   * An OpenID Connect token from the deployment's identity provider (a JWT; the API takes the
   * tenant and role from its claims) in place of `apiKey`, or a function returning one, called
   * before every request (so a refreshed token is picked up). Sent the same way as `apiKey`.
   */
  token?: TokenSource;
  /** The `fetch` to use; the global one by default. */
  fetch?: FetchLike;
  /** Timeout of each request in ms (long polls get their wait added); default 30000. */
  timeoutMs?: number;
  /**
   * Retries of a request answered 429, 503 or 409 `CONCURRENT_UPDATE`, for requests that are safe
   * to repeat (reads, `PUT`, replay, simulation, submissions with an idempotency key); default 2.
   */
  maxRetries?: number;
  /** The longest single wait before a retry; a `Retry-After` asking for more is not waited for (the error is thrown). Default 30000 ms. */
  maxRetryDelayMs?: number;
  /** Exponential backoff (with jitter) when there is no `Retry-After`: base 500 ms, at most 8000 ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
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

/** A plan, or a builder of one. */
export type PlanLike = Plan | PlanBuilder;
const toPlan = (p: PlanLike): Plan => (p instanceof PlanBuilder ? p.build() : p);

/** What a run starts from: an inline plan or a saved workflow (latest version by default). */
export type RunSource = { plan: PlanLike; workflow?: never; version?: never } | { workflow: string; version?: number; plan?: never };

/** `runs.submit` parameters. */
export type SubmitRunParams = RunSource & {
  /** The run's inputs (`{}` when absent). */
  inputs?: JsonObject;
  /** 1–200 characters; the same key returns the same run for 7 days (and makes the submission safe to retry). */
  idempotencyKey?: string;
  /** The run's seed, below 2^53; random when absent. */
  seed?: number;
};

/** `runs.list` and `runs.listPage` filters. */
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
}

export interface GetRunOptions {
  /** Long polling: wait up to this long (1–30000 ms) for the run to finish. */
  waitMs?: number;
  signal?: AbortSignal;
}

export interface WaitForRunOptions {
  /** Give up after this long (default 300000 ms = 5 minutes; `null`: no limit), throwing `WaitTimeoutError`. */
  timeoutMs?: number | null;
  /**
   * Called with a `ProgressEvent` for every change of a step's status or attempt and of the run's
   * status, starting with the state at the first read.
   */
  onProgress?: (event: ProgressEvent) => unknown;
  /**
   * With `onProgress`, how often the run is read (default 250 ms): the API's long poll answers only
   * when the run finishes, so changes in between are seen only by reading again. Without
   * `onProgress`, each request waits as long as the API allows (30 s).
   */
  pollIntervalMs?: number;
  /** Throw `RunFailedError` when the run finishes without succeeding. */
  raiseOnFailure?: boolean;
  signal?: AbortSignal;
}

const toMs = (v: number | Date | undefined) => (v instanceof Date ? v.getTime() : v);

/** Options of `runs.rerun`. */
export interface RerunOptions {
  /** Asking again with the same key returns the same new run (7 days). */
  idempotencyKey?: string;
  /** The new run's seed (below 2^53); random when absent. */
  seed?: number;
}

/** A redrive's change to one step: any step field but `id` (`null` removes it). */
export type StepPatch = { [K in Exclude<keyof Step, "id">]?: Step[K] | null };

/** Options of `runs.redrive`. */
export interface RedriveOptions {
  /** Step changes by step id; only steps the redrive restarts may be patched. */
  patch?: { [stepId: string]: StepPatch };
  /** Asking again with the same key (and the same patch) returns the same new run (7 days). */
  idempotencyKey?: string;
}

/** Runs: submit, read, list, wait, cancel, replay, rerun, redrive, verify. */
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
    return this.client.transport.request<Submitted>("POST", "/api/v1/runs", { body, retryable: params.idempotencyKey !== undefined });
  }

  /** `GET /api/v1/runs/{id}`: the run's whole execution context, optionally after a long poll. */
  get(runId: string, options: GetRunOptions = {}): Promise<RunView> {
    const waitMs = options.waitMs ? Math.round(options.waitMs) : undefined;
    return this.client.transport.request<RunView>("GET", `/api/v1/runs/${seg(runId)}`, {
      query: { wait_ms: waitMs },
      extraTimeoutMs: waitMs ?? 0,
      retryable: true,
      signal: options.signal,
    });
  }

  /** `GET /api/v1/runs`: one page of runs, newest first; pass its `next_cursor` as `cursor` for the next. */
  listPage(params: ListRunsParams = {}): Promise<RunList> {
    return this.client.transport.request<RunList>("GET", "/api/v1/runs", {
      query: {
        status: params.status,
        created_after: toMs(params.createdAfter),
        created_before: toMs(params.createdBefore),
        limit: params.limit,
        cursor: params.cursor,
      },
      retryable: true,
    });
  }

  /**
   * Every run matching the filters, newest first, fetched page by page as you iterate:
   * `for await (const run of client.runs.list({ status: "failed" }))`. `maxItems` stops early.
   */
  list(params: ListRunsParams & { maxItems?: number } = {}): RunPager {
    const { maxItems, cursor, ...filters } = params;
    return new RunPager((c) => this.listPage({ ...filters, cursor: c }), { cursor, maxItems });
  }

  /** `POST /api/v1/runs/{id}/cancel`: cancels an unfinished run (`ConflictError` when it has finished). */
  cancel(runId: string): Promise<CancelResult> {
    return this.client.transport.request<CancelResult>("POST", `/api/v1/runs/${seg(runId)}/cancel`);
  }

  /** `POST /api/v1/runs/{id}/replay`: the server replays a finished run and reports parity. */
  replay(runId: string): Promise<ReplayReport> {
    return this.client.transport.request<ReplayReport>("POST", `/api/v1/runs/${seg(runId)}/replay`, { retryable: true });
  }

  /**
   * `POST /api/v1/runs/{id}/rerun`: a new run of the run's plan (as submitted) and inputs, linked
   * to it by `rerun_of`; every step executes again. A fresh seed unless `seed` is given. With an
   * `idempotencyKey`, asking again returns the same new run.
   */
  rerun(runId: string, options: RerunOptions = {}): Promise<RunView> {
    const body: Record<string, unknown> = {};
    if (options.idempotencyKey !== undefined) body.idempotency_key = options.idempotencyKey;
    if (options.seed !== undefined) body.seed = options.seed;
    return this.client.transport.request<RunView>("POST", `/api/v1/runs/${seg(runId)}/rerun`, {
      body,
      retryable: options.idempotencyKey !== undefined,
    });
  }

  /**
   * `POST /api/v1/runs/{id}/redrive`: a new run of a failed or cancelled run, linked by
   * `redrive_of`, in which the succeeded steps keep their recorded outputs and are not executed
   * again (`seeded_steps`) and every other step restarts, changed by `patch` (step fields by step
   * id; `null` removes a field). `ConflictError` (`RUN_NOT_FINISHED`, `RUN_SUCCEEDED`) when the
   * run cannot be redriven; `ValidationError` (`PATCH_UNKNOWN_STEP`, `PATCH_STEP_SUCCEEDED`, ...)
   * naming the field of a bad patch.
   */
  redrive(runId: string, options: RedriveOptions = {}): Promise<RunView> {
    const body: Record<string, unknown> = {};
    if (options.patch !== undefined) body.patch = options.patch;
    if (options.idempotencyKey !== undefined) body.idempotency_key = options.idempotencyKey;
    return this.client.transport.request<RunView>("POST", `/api/v1/runs/${seg(runId)}/redrive`, {
      body,
      retryable: options.idempotencyKey !== undefined,
    });
  }

  /** Waits for the run to finish (long polling); see `AosClient.waitForRun`. */
  wait(runId: string, options?: WaitForRunOptions): Promise<RunView> {
    return this.client.waitForRun(runId, options);
  }

  /** `submit`, then `wait`. */
  async submitAndWait(params: SubmitRunParams, options?: WaitForRunOptions): Promise<RunView> {
    const submitted = await this.submit(params);
    return this.client.waitForRun(submitted.run_id, options);
  }

  /**
   * Recomputes a finished run's trace root on the client and compares it with the server's: reads
   * the run (after waiting up to `waitMs` for it to finish) and checks it with `verifyRun`.
   */
  async verify(runId: string, options: { waitMs?: number } = {}): Promise<VerifyReport> {
    if (options.waitMs) await this.client.waitForRun(runId, { timeoutMs: options.waitMs });
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
    return (await this.client.transport.request<WorkflowList>("GET", "/api/v1/workflows", { retryable: true })).workflows;
  }

  /** `GET /api/v1/workflows/{name}`: the latest version, or the one given. */
  get(name: string, options: { version?: number } = {}): Promise<Workflow> {
    return this.client.transport.request<Workflow>("GET", `/api/v1/workflows/${seg(name)}`, {
      query: { version: options.version },
      retryable: true,
    });
  }
}

/** The skills of the deployment. */
export class Skills {
  constructor(private readonly client: AosClient) {}

  /** `GET /api/v1/skills`: every skill, sorted by id. */
  async list(): Promise<SkillSpec[]> {
    return (await this.client.transport.request<SkillList>("GET", "/api/v1/skills", { retryable: true })).skills;
  }

  /** `GET /api/v1/skills/{id}`: one skill's self-description. */
  get(skillId: string): Promise<SkillSpec> {
    return this.client.transport.request<SkillSpec>("GET", `/api/v1/skills/${seg(skillId)}`, { retryable: true });
  }
}

/** Tenant secrets (write-only values). */
export class Secrets {
  constructor(private readonly client: AosClient) {}

  /** `PUT /api/v1/secrets/{name}`: creates or replaces a secret. */
  async put(name: string, value: string): Promise<void> {
    await this.client.transport.request<void>("PUT", `/api/v1/secrets/${seg(name)}`, { body: { value }, retryable: true });
  }

  /** `GET /api/v1/secrets`: the names of the tenant's secrets, sorted. */
  async list(): Promise<string[]> {
    return (await this.client.transport.request<SecretNames>("GET", "/api/v1/secrets", { retryable: true })).names;
  }
}

/** `catalog.match` parameters: a failure described by hand. Only `message` is required. */
export interface MatchFailureParams {
  /** The error message (at most 64 KiB). */
  message: string;
  /** The error code, e.g. `HTTP_503` or `STEP_TIMEOUT`. */
  code?: string;
  /** The skill that failed; part of the signature only. */
  skill?: string;
  /** The HTTP status the failure came with, 100–599. */
  httpStatus?: number;
}

/** The failure catalog: its entries, and classifying a failure on request. */
export class Catalog {
  constructor(private readonly client: AosClient) {}

  /**
   * `GET /api/v1/catalog`: the catalog in force: its format `version`, its `digest` (changes
   * whenever any entry does) and every entry (`entries`).
   */
  list(): Promise<CatalogView> {
    return this.client.transport.request<CatalogView>("GET", "/api/v1/catalog", { retryable: true });
  }

  /** `GET /api/v1/catalog/{code}`: one entry, e.g. `HTTP_NOT_FOUND` (`NotFoundError` for an unknown code). */
  get(code: string): Promise<CatalogEntry> {
    return this.client.transport.request<CatalogEntry>("GET", `/api/v1/catalog/${seg(code)}`, { retryable: true });
  }

  /**
   * `POST /api/v1/catalog/match`: classifies a failure with the matcher the runtime applies to
   * every failed attempt: the entry it matches, how sure the match is, and what to do about it.
   * Nothing is recorded, so it is retried like a read.
   */
  match(params: MatchFailureParams): Promise<MatchResponse> {
    const body: Record<string, unknown> = { message: params.message };
    if (params.code !== undefined) body.code = params.code;
    if (params.skill !== undefined) body.skill = params.skill;
    if (params.httpStatus !== undefined) body.http_status = params.httpStatus;
    return this.client.transport.request<MatchResponse>("POST", "/api/v1/catalog/match", { body, retryable: true });
  }
}

/** Filters shared by `failures.list`, `failures.listPage` and `failures.stats`. */
export interface FailureFilters {
  /** Start of the time range (ms since the epoch, or a Date), inclusive. */
  from?: number | Date;
  /** End of the time range (ms since the epoch, or a Date), inclusive; default now. At most 366 days after `from`. */
  to?: number | Date;
  /** An error code (`HTTP_503`) or a catalog entry code (`HTTP_SERVICE_UNAVAILABLE`). */
  code?: string;
  /** The catalog entry's category, else the error's. */
  category?: Category;
  /** The failing skill. */
  skill?: string;
  kind?: FailureKind;
}

/** `failures.list` and `failures.listPage` parameters (`from` defaults to `to` minus 7 days). */
export interface ListFailuresParams extends FailureFilters {
  /** `true`: only failures a catalog entry matched; `false`: only those none did. */
  matched?: boolean;
  /** `true`: only failures whose recovery succeeded; `false`: every other one. */
  recovered?: boolean;
  /** Page size, 1–200 (the server's default is 50). */
  limit?: number;
  /** Start from this cursor instead of the first page. */
  cursor?: string;
}

/** `failures.stats` parameters (`from` defaults to `to` minus 24 hours). */
export interface FailureStatsParams extends FailureFilters {
  /** Width of the time-series buckets in ms; default one hour (or a thousandth of a longer range). At most 1000 buckets. */
  bucketMs?: number;
}

/** `failures.candidates` parameters. */
export interface FailureCandidatesParams {
  /** Page size, 1–200 (the server's default is 50). */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

/** `failures.aggregate` parameters. */
export interface AggregateFailuresParams {
  /** Days of failures to read, back from now: 1–366 (the server's default is 7). */
  days?: number;
  /** Matched failures below this confidence are candidates (default 0.75); unmatched ones always are. */
  lowConfidence?: number;
}

/** The tenant's recorded failures: every failed attempt, step, run and refused submission. */
export class Failures {
  constructor(private readonly client: AosClient) {}

  /**
   * `GET /api/v1/failures`: one page of failures, newest first; pass its `next_cursor` as `cursor`,
   * with the same other parameters, for the next. A page may hold fewer than `limit` records (the
   * filters apply after the read) and still have a `next_cursor`.
   */
  listPage(params: ListFailuresParams = {}): Promise<FailureList> {
    return this.client.transport.request<FailureList>("GET", "/api/v1/failures", {
      query: {
        from: toMs(params.from),
        to: toMs(params.to),
        code: params.code,
        category: params.category,
        skill: params.skill,
        matched: params.matched,
        recovered: params.recovered,
        kind: params.kind,
        limit: params.limit,
        cursor: params.cursor,
      },
      retryable: true,
    });
  }

  /**
   * Every failure matching the filters, newest first, fetched page by page as you iterate:
   * `for await (const f of client.failures.list({ code: "HTTP_503" }))`. `maxItems` stops early.
   * Without `to`, each iteration fixes it at the time it starts, so that every page is read with
   * the same time range.
   */
  list(params: ListFailuresParams & { maxItems?: number } = {}): FailurePager {
    const { maxItems, cursor, ...filters } = params;
    return new FailurePager((c, request) => this.listPage({ ...filters, to: filters.to ?? request.startedAtMs, cursor: c }), { cursor, maxItems });
  }

  /**
   * `GET /api/v1/failures/stats`: totals, match rate, counts by kind, code, catalog code, category
   * and skill, recovery success (overall and per mode) and a time series of `buckets`.
   */
  stats(params: FailureStatsParams = {}): Promise<FailureStats> {
    return this.client.transport.request<FailureStats>("GET", "/api/v1/failures/stats", {
      query: {
        from: toMs(params.from),
        to: toMs(params.to),
        bucket_ms: params.bucketMs,
        code: params.code,
        category: params.category,
        skill: params.skill,
        kind: params.kind,
      },
      retryable: true,
    });
  }

  /**
   * `GET /api/v1/failures/candidates`: one page of the tenant's latest catalog candidates (its
   * unmatched and low-confidence failures grouped by signature), most frequent first; pass
   * `next_cursor` as `cursor` for the next. `generated_at_ms` is `null` before the first aggregation.
   */
  candidates(params: FailureCandidatesParams = {}): Promise<CandidatePage> {
    return this.client.transport.request<CandidatePage>("GET", "/api/v1/failures/candidates", {
      query: { limit: params.limit, cursor: params.cursor },
      retryable: true,
    });
  }

  /**
   * `POST /api/v1/failures/aggregate` (admin and operator keys): runs the failure aggregation now
   * and returns the tenant's whole result. Running it again only replaces stored results, so it is
   * retried like a read.
   */
  aggregate(params: AggregateFailuresParams = {}): Promise<CandidateReport> {
    return this.client.transport.request<CandidateReport>("POST", "/api/v1/failures/aggregate", {
      query: { days: params.days, low_confidence: params.lowConfidence },
      retryable: true,
    });
  }

  /**
   * `GET /api/v1/failures/drift`: failure drift, evaluated now: per (skill, failure code), the share
   * of the skill's attempts that failed that way in the last day against the seven days before (a
   * one-sided two-proportion z-test), the highest `z` first; `drifting` counts the pairs that drift.
   */
  drift(): Promise<DriftReport> {
    return this.client.transport.request<DriftReport>("GET", "/api/v1/failures/drift", { retryable: true });
  }
}

/**
 * `recovery.suggest` parameters: a stored failure (`failureId`, the `id` of a `FailureRecord`) or
 * one described by hand (`message`, with its `code`, `skill`, `httpStatus` and `details`). Exactly
 * one of `failureId` and `message`.
 */
export type SuggestRecoveryParams =
  | { failureId: string; message?: never; code?: never; skill?: never; httpStatus?: never; details?: never }
  | {
      failureId?: never;
      /** The error message. */
      message: string;
      /** The error code, e.g. `HTTP_503`. */
      code?: string;
      /** The skill that failed, e.g. `http_call`. */
      skill?: string;
      /** The HTTP status it came with, 100–599. */
      httpStatus?: number;
      /** The failure's details, as a failed step carries them. */
      details?: JsonObject;
    };

/** `recovery.candidates` and `recovery.candidatesPage` filters. */
export interface ListRecoveryCandidatesParams {
  status?: CandidateStatus;
  /** A catalog code, or `sig:<signature>` for a failure the catalog did not match. */
  code?: string;
  skill?: string;
  /** Page size, 1–200. */
  limit?: number;
  /** Start from this cursor instead of the first page. */
  cursor?: string;
}

/** The longest note a decision on a recovery candidate may carry. */
export const MAX_NOTE_CHARS = 1000;

/** Approves, rejects or retires a candidate. Not retried: once the first decision landed, a repetition answers 409. */
function decide(client: AosClient, id: string, verb: "approve" | "reject" | "retire", note: string | undefined): Promise<RecoveryCandidate> {
  if (note !== undefined && note.length > MAX_NOTE_CHARS) throw new RangeError(`a note has at most ${MAX_NOTE_CHARS} characters`);
  return client.transport.request<RecoveryCandidate>("POST", `/api/v1/recovery/candidates/${seg(id)}/${verb}`, {
    body: note === undefined ? {} : { note },
  });
}

/**
 * Recovery suggestions for failures, and the review of the recovery candidates they propose.
 * Suggestions and candidates need `recovery:read` (every role but `machine`); decisions need
 * `recovery:review` (admin and operator; others get `PermissionDeniedError`).
 */
export class Recovery {
  constructor(private readonly client: AosClient) {}

  /**
   * `POST /api/v1/recovery/suggest`: what to do about a failure, best first (by the lower bound of
   * each suggestion's confidence), with the evidence behind each and the patch to the failing step;
   * `candidates` are the recovery candidates the call created or updated. Not retried (it counts
   * candidate occurrences). Both or neither of `failureId` and `message`, or an `httpStatus` out of
   * 100–599, is a `TypeError` / `RangeError` before anything is sent.
   */
  suggest(params: SuggestRecoveryParams): Promise<SuggestResponse> {
    const p = params as { failureId?: string; message?: string; code?: string; skill?: string; httpStatus?: number; details?: JsonObject };
    if ((p.failureId === undefined) === (p.message === undefined)) throw new TypeError("give exactly one of failureId and message");
    const body: Record<string, unknown> = {};
    if (p.failureId !== undefined) body.failure_id = p.failureId;
    if (p.message !== undefined) body.message = p.message;
    if (p.code !== undefined) body.code = p.code;
    if (p.skill !== undefined) body.skill = p.skill;
    if (p.httpStatus !== undefined) {
      if (!Number.isInteger(p.httpStatus) || p.httpStatus < 100 || p.httpStatus > 599) throw new RangeError("httpStatus must be an integer from 100 to 599");
      body.http_status = p.httpStatus;
    }
    if (p.details !== undefined) body.details = p.details;
    return this.client.transport.request<SuggestResponse>("POST", "/api/v1/recovery/suggest", { body });
  }

  /** `GET /api/v1/recovery/candidates`: one page of candidates; pass its `next_cursor` as `cursor`, with the same filters, for the next. */
  candidatesPage(params: ListRecoveryCandidatesParams = {}): Promise<RecoveryCandidateList> {
    return this.client.transport.request<RecoveryCandidateList>("GET", "/api/v1/recovery/candidates", {
      query: { status: params.status, code: params.code, skill: params.skill, limit: params.limit, cursor: params.cursor },
      retryable: true,
    });
  }

  /**
   * Every candidate matching the filters, fetched page by page as you iterate:
   * `for await (const c of client.recovery.candidates({ status: "pending" }))`. `maxItems` stops early.
   */
  candidates(params: ListRecoveryCandidatesParams & { maxItems?: number } = {}): RecoveryCandidatePager {
    const { maxItems, cursor, ...filters } = params;
    return new RecoveryCandidatePager((c) => this.candidatesPage({ ...filters, cursor: c }), { cursor, maxItems });
  }

  /** `GET /api/v1/recovery/candidates/{id}`: one candidate with its examples and decisions (`NotFoundError` for an unknown id). */
  get(id: string): Promise<RecoveryCandidate> {
    return this.client.transport.request<RecoveryCandidate>("GET", `/api/v1/recovery/candidates/${seg(id)}`, { retryable: true });
  }

  /** `POST .../{id}/approve`: approves a `pending` candidate (`ConflictError` `CANDIDATE_STATE_CONFLICT` otherwise). */
  approve(id: string, options: { note?: string } = {}): Promise<RecoveryCandidate> {
    return decide(this.client, id, "approve", options.note);
  }

  /** `POST .../{id}/reject`: rejects a `pending` candidate (`ConflictError` `CANDIDATE_STATE_CONFLICT` otherwise). */
  reject(id: string, options: { note?: string } = {}): Promise<RecoveryCandidate> {
    return decide(this.client, id, "reject", options.note);
  }

  /** `POST .../{id}/retire`: retires an `approved` candidate (`ConflictError` `CANDIDATE_STATE_CONFLICT` otherwise). */
  retire(id: string, options: { note?: string } = {}): Promise<RecoveryCandidate> {
    return decide(this.client, id, "retire", options.note);
  }

  /**
   * `GET /api/v1/recovery/settings`: the tenant's automatic approval of recovery candidates: `mode`
   * `off` (people decide; the default), `shadow` (candidates past the thresholds become shadow
   * policies: runs record what they would change) or `active` (approved by the server and applied),
   * the thresholds `min_lower` and `min_evidence`, and the drift webhook.
   */
  settings(): Promise<RecoverySettingsView> {
    return this.client.transport.request<RecoverySettingsView>("GET", "/api/v1/recovery/settings", { retryable: true });
  }

  /**
   * `PUT /api/v1/recovery/settings` (`recovery:review`: admin and operator; audited): changes the
   * fields given and returns the settings now in force. The others keep their current values (read
   * first with `settings()`); `null` removes the drift webhook or its secret. `minLower` outside
   * 0.5–0.99 or `minEvidence` outside 1–1000000 is a `RangeError` before anything is sent.
   */
  putSettings(changes: RecoverySettingsChanges): Promise<RecoverySettingsView> {
    checkSettings(changes);
    return putSettings(this.client, changes);
  }
}

/** Reads the settings, applies the changes and writes the whole settings back. */
async function putSettings(client: AosClient, changes: RecoverySettingsChanges): Promise<RecoverySettingsView> {
  const current = await client.recovery.settings();
  const body: Record<string, unknown> = {
    mode: changes.mode ?? current.mode,
    min_lower: changes.minLower ?? current.min_lower,
    min_evidence: changes.minEvidence ?? current.min_evidence,
  };
  const url = changes.driftWebhookUrl === undefined ? current.drift_webhook_url : changes.driftWebhookUrl;
  const secret = changes.driftWebhookSecret === undefined ? current.drift_webhook_secret : changes.driftWebhookSecret;
  if (url != null) body.drift_webhook_url = url;
  if (secret != null) body.drift_webhook_secret = secret;
  // A PUT of the whole settings: repeating it is harmless.
  return client.transport.request<RecoverySettingsView>("PUT", "/api/v1/recovery/settings", { body, retryable: true });
}

/** `recovery.putSettings`: the settings to change; the others keep their values. */
export interface RecoverySettingsChanges {
  mode?: ApprovalMode;
  /** Lower confidence bound for automatic approval, 0.5–0.99. */
  minLower?: number;
  /** Observations for automatic approval, 1–1000000. */
  minEvidence?: number;
  /** Where drift is announced (`null` removes it). */
  driftWebhookUrl?: string | null;
  /** The tenant secret that signs the drift webhook (`null`: `WEBHOOK_SECRET`). */
  driftWebhookSecret?: string | null;
}

/** The thresholds `PUT /api/v1/recovery/settings` accepts. */
export const MIN_APPROVAL_LOWER = 0.5;
export const MAX_APPROVAL_LOWER = 0.99;
export const MAX_APPROVAL_EVIDENCE = 1_000_000;

function checkSettings(c: RecoverySettingsChanges): void {
  if (c.mode !== undefined && !["off", "shadow", "active"].includes(c.mode)) throw new RangeError("mode must be off, shadow or active");
  if (c.minLower !== undefined && !(typeof c.minLower === "number" && c.minLower >= MIN_APPROVAL_LOWER && c.minLower <= MAX_APPROVAL_LOWER)) {
    throw new RangeError(`minLower must be a number from ${MIN_APPROVAL_LOWER} to ${MAX_APPROVAL_LOWER}`);
  }
  if (c.minEvidence !== undefined && !(Number.isInteger(c.minEvidence) && c.minEvidence >= 1 && c.minEvidence <= MAX_APPROVAL_EVIDENCE)) {
    throw new RangeError(`minEvidence must be an integer from 1 to ${MAX_APPROVAL_EVIDENCE}`);
  }
}

/**
 * The tenant's recovery policies: approved candidates the server compiles into the plans of new
 * runs (a run records each change in `applied_policies`; a plan opts out with `policies: "off"`).
 * Reading needs `recovery:read` (every role but `machine`); `disable` needs `recovery:review`
 * (admin and operator; others get `PermissionDeniedError`).
 */
export class Policies {
  constructor(private readonly client: AosClient) {}

  /** `GET /api/v1/policies`: every policy, in id order, each with the outcomes of the steps it changed in the last 7 days. */
  async list(): Promise<Policy[]> {
    return (await this.client.transport.request<PolicyList>("GET", "/api/v1/policies", { retryable: true })).policies;
  }

  /** `GET /api/v1/policies/{id}`: one policy with its history and outcomes (`NotFoundError` for an unknown id). */
  get(id: string): Promise<Policy> {
    return this.client.transport.request<Policy>("GET", `/api/v1/policies/${seg(id)}`, { retryable: true });
  }

  /**
   * `POST /api/v1/policies/{id}/disable`: runs submitted from now on no longer take the policy.
   * `note` (at most 1000 characters, else `RangeError`) is kept in its history and the audit log.
   * `ConflictError` `POLICY_STATE_CONFLICT` when it is already disabled. Not retried.
   */
  disable(id: string, options: { note?: string } = {}): Promise<Policy> {
    const note = options.note;
    if (note !== undefined && note.length > MAX_NOTE_CHARS) throw new RangeError(`a note has at most ${MAX_NOTE_CHARS} characters`);
    return this.client.transport.request<Policy>("POST", `/api/v1/policies/${seg(id)}/disable`, { body: note === undefined ? {} : { note } });
  }
}

/** `keys.create` parameters. */
export interface CreateKeyParams {
  /** What the key is for, 1–64 printable characters, e.g. `ci-deploy`. */
  name: string;
  role: Role;
  /** Days until the key stops working, 1–3650; no expiry when absent. */
  expiresInDays?: number;
}

/** The expiries (days) `POST /api/v1/keys` accepts. */
export const MIN_KEY_DAYS = 1;
export const MAX_KEY_DAYS = 3650;
/** The largest page of `GET /api/v1/audit`. */
export const MAX_AUDIT_LIMIT = 500;

/**
 * The tenant's API keys. Needs the `keys:manage` permission (admins only; other roles get
 * `PermissionDeniedError`).
 */
export class Keys {
  constructor(private readonly client: AosClient) {}

  /**
   * `POST /api/v1/keys`: creates a key for `role` in the caller's tenant. The answer's `key` is the
   * secret, shown this once; `record` describes it. Not retried (a repetition would create a
   * second key). `expiresInDays` outside 1–3650 is a `RangeError` before anything is sent.
   */
  create(params: CreateKeyParams): Promise<CreatedKey> {
    const body: Record<string, unknown> = { name: params.name, role: params.role };
    if (params.expiresInDays !== undefined) {
      const d = params.expiresInDays;
      if (!Number.isInteger(d) || d < MIN_KEY_DAYS || d > MAX_KEY_DAYS) {
        throw new RangeError(`expiresInDays must be an integer from ${MIN_KEY_DAYS} to ${MAX_KEY_DAYS}`);
      }
      body.expires_in_days = d;
    }
    return this.client.transport.request<CreatedKey>("POST", "/api/v1/keys", { body });
  }

  /** `GET /api/v1/keys`: every key of the tenant, newest first, revoked and expired ones included (never their secrets). */
  async list(): Promise<ApiKeyRecord[]> {
    return (await this.client.transport.request<KeyList>("GET", "/api/v1/keys", { retryable: true })).keys;
  }

  /**
   * `DELETE /api/v1/keys/{key_id}`: revokes a key; it stops working at once (`AuthenticationError`)
   * and stays listed with `revoked_at_ms`. Revoking it again changes nothing, so it is retried like a read.
   */
  revoke(keyId: string): Promise<ApiKeyRecord> {
    return this.client.transport.request<ApiKeyRecord>("DELETE", `/api/v1/keys/${seg(keyId)}`, { retryable: true });
  }

  /**
   * `POST /api/v1/keys/{key_id}/rotate`: replaces a key with a new one of the same role, name and
   * expiry, and revokes the old one. `ConflictError` `KEY_INACTIVE` when it is already revoked or expired.
   */
  rotate(keyId: string): Promise<CreatedKey> {
    return this.client.transport.request<CreatedKey>("POST", `/api/v1/keys/${seg(keyId)}/rotate`);
  }
}

/** `audit.list` and `audit.listPage` parameters. */
export interface ListAuditParams {
  /** Start of the time range (ms since the epoch, or a Date), inclusive; default 30 days before `to`. */
  from?: number | Date;
  /** End of the time range (ms since the epoch, or a Date), inclusive; default now. */
  to?: number | Date;
  /** Only events of this kind. */
  action?: AuditAction;
  /** Page size, 1–500 (the server's default is 100). */
  limit?: number;
  /** Start from this cursor instead of the first page. */
  cursor?: string;
}

/**
 * The tenant's audit log: key creations, rotations and revocations, permission denials, logins and
 * rate-limit refusals. Needs the `audit:read` permission (admins only).
 */
export class Audit {
  constructor(private readonly client: AosClient) {}

  /**
   * `GET /api/v1/audit`: one page of events, newest first; pass its `next_cursor` as `cursor`, with
   * the same other parameters, for the next. `ValidationError` `INVALID_QUERY` (field `from`) when
   * `from` is after `to`, `INVALID_CURSOR` for a cursor that is not valid.
   */
  listPage(params: ListAuditParams = {}): Promise<AuditList> {
    if (params.limit !== undefined && !(Number.isInteger(params.limit) && params.limit >= 1 && params.limit <= MAX_AUDIT_LIMIT)) {
      throw new RangeError(`limit must be an integer from 1 to ${MAX_AUDIT_LIMIT}`);
    }
    return this.client.transport.request<AuditList>("GET", "/api/v1/audit", {
      query: { from: toMs(params.from), to: toMs(params.to), action: params.action, limit: params.limit, cursor: params.cursor },
      retryable: true,
    });
  }

  /**
   * Every event matching the filters, newest first, fetched page by page as you iterate:
   * `for await (const e of client.audit.list({ action: "key.created" }))`. `maxItems` stops early.
   * Without `to`, each iteration fixes it at the time it starts, so that its pages agree.
   */
  list(params: ListAuditParams & { maxItems?: number } = {}): AuditPager {
    const { maxItems, cursor, ...filters } = params;
    return new AuditPager((c, request) => this.listPage({ ...filters, to: filters.to ?? request.startedAtMs, cursor: c }), { cursor, maxItems });
  }
}

/**
 * A client of the AOS API.
 *
 * ```ts
 * const aos = new AosClient({ baseUrl: "http://127.0.0.1:8080", apiKey: "aos_..." });
 * const { run_id } = await aos.runs.submit({ plan, inputs: { n: 21 } });
 * const run = await aos.waitForRun(run_id, { onProgress: (e) => console.log(String(e)) });
 * ```
 */
export class AosClient {
  readonly baseUrl: string;
  /** The HTTP transport (for advanced use). */
  readonly transport: Transport;
  readonly runs: Runs;
  readonly workflows: Workflows;
  readonly skills: Skills;
  readonly secrets: Secrets;
  readonly catalog: Catalog;
  readonly failures: Failures;
  readonly recovery: Recovery;
  readonly policies: Policies;
  readonly keys: Keys;
  readonly audit: Audit;

  constructor(options: AosClientOptions = {}) {
    if (options.apiKey !== undefined && options.token !== undefined) {
      throw new TypeError("give either apiKey or token, not both (both are sent as a bearer token)");
    }
    let url = (options.baseUrl ?? env("AOS_URL") ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    if (url.endsWith("/api/v1")) url = url.slice(0, -"/api/v1".length);
    this.baseUrl = url;
    const maxRetries = options.maxRetries ?? 2;
    if (!(maxRetries >= 0)) throw new RangeError("maxRetries must be >= 0");
    this.transport = new Transport({
      baseUrl: this.baseUrl,
      token: options.token ?? options.apiKey ?? env("AOS_API_KEY") ?? env("AOS_TOKEN"),
      fetch: options.fetch,
      timeoutMs: options.timeoutMs ?? 30_000,
      maxRetries,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
      backoffBaseMs: options.backoffBaseMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 8_000,
      headers: options.headers,
      onRetry: options.onRetry,
    });
    this.runs = new Runs(this);
    this.workflows = new Workflows(this);
    this.skills = new Skills(this);
    this.secrets = new Secrets(this);
    this.catalog = new Catalog(this);
    this.failures = new Failures(this);
    this.recovery = new Recovery(this);
    this.policies = new Policies(this);
    this.keys = new Keys(this);
    this.audit = new Audit(this);
  }

  /**
   * `GET /api/v1/whoami`: the caller as the API sees it: tenant, role, kind (`api_key` or `user`),
   * id, name, expiry, and the permissions (OpenAPI scopes) its role holds. Every role may call it.
   */
  whoami(): Promise<WhoAmI> {
    return this.transport.request<WhoAmI>("GET", "/api/v1/whoami", { retryable: true });
  }

  /** `POST /api/v1/simulate`: validates a plan and estimates its cost, latency and risk. */
  simulate(plan: PlanLike): Promise<Simulation> {
    return this.transport.request<Simulation>("POST", "/api/v1/simulate", { body: { plan: toPlan(plan) }, retryable: true });
  }

  /** `GET /healthz`: liveness of the server (no key needed). */
  health(): Promise<Health> {
    return this.transport.request<Health>("GET", "/healthz", { retryable: true, authenticated: false });
  }

  /**
   * `GET /metrics`: the deployment's metrics in the Prometheus text exposition format, as text
   * (`aos serve`'s process counters, or on AWS the totals of every function). Needs a key whose
   * role has `MetricsRead` (admin, operator, machine); `NotFoundError` from an API function that
   * serves no metrics.
   */
  metrics(): Promise<string> {
    return this.transport.request<string>("GET", "/metrics", { retryable: true, responseType: "text" });
  }

  /** `GET /api/v1/openapi.json`: the OpenAPI document the server implements (no key needed). */
  openapi(): Promise<Record<string, unknown>> {
    return this.transport.request<Record<string, unknown>>("GET", "/api/v1/openapi.json", { retryable: true, authenticated: false });
  }

  /**
   * Waits until the run has finished (`succeeded`, `failed` or `cancelled`) and returns it, long
   * polling `GET /api/v1/runs/{id}?wait_ms=`. Throws `WaitTimeoutError` after `timeoutMs`. A run
   * that failed is returned, not thrown (its failure is data in `run.error`), unless
   * `raiseOnFailure` is set.
   */
  async waitForRun(runId: string, options: WaitForRunOptions = {}): Promise<RunView> {
    const timeoutMs = options.timeoutMs === undefined ? 300_000 : options.timeoutMs;
    const deadline = timeoutMs === null ? undefined : Date.now() + timeoutMs;
    const withProgress = options.onProgress !== undefined;
    const pollMs = options.pollIntervalMs ?? 250;
    const tracker = new ProgressTracker();
    for (let first = true; ; first = false) {
      const remaining = deadline === undefined ? undefined : Math.max(0, deadline - Date.now());
      // With a progress callback the first read is immediate, to report the starting state.
      let waitMs = first && withProgress ? 0 : withProgress ? pollMs : MAX_WAIT_MS;
      if (remaining !== undefined) waitMs = Math.min(waitMs, remaining);
      waitMs = Math.max(0, Math.min(MAX_WAIT_MS, Math.floor(waitMs)));
      const run = await this.runs.get(runId, { waitMs, signal: options.signal });
      if (options.onProgress) {
        for (const event of tracker.update(run)) await options.onProgress(event);
      }
      if (isFinalStatus(run.status)) {
        if (options.raiseOnFailure && run.status !== "succeeded") throw new RunFailedError(run);
        return run;
      }
      if (deadline !== undefined && Date.now() >= deadline) {
        throw new WaitTimeoutError(`run ${runId} did not finish within ${timeoutMs} ms (status ${run.status})`, run);
      }
    }
  }

  /** `runs.verify`: recomputes a finished run's trace root on the client. */
  verifyRun(runId: string, options?: { waitMs?: number }): Promise<VerifyReport> {
    return this.runs.verify(runId, options);
  }
}
