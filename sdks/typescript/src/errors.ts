/**
 * Typed errors. Every API error answer (`{"error": {code, message, details}}`) becomes an
 * `AosError` subclass chosen by HTTP status, carrying the API's code, message, status and details.
 *
 * Failures of a run's steps are not errors: they are data inside the run (`run.error`, each step's
 * `error`, each attempt's `outcome`). Only `waitForRun(..., { raiseOnFailure: true })` turns a
 * failed run into a `RunFailedError`.
 */

import type { JsonValue, RunView, ValidationProblem } from "./types.js";

/** Options of an `AosError`. */
export interface AosErrorInit {
  message: string;
  /** The API's code, or an SDK code (`CONNECTION_ERROR`, `TIMEOUT`, `WAIT_TIMEOUT`, ...). */
  code: string;
  /** HTTP status; 0 when there was no HTTP answer. */
  status?: number;
  details?: JsonValue;
  method?: string;
  url?: string;
  /** The answer's headers (lower-case names). */
  headers?: Record<string, string>;
  cause?: unknown;
}

function isObject(v: unknown): v is Record<string, JsonValue> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Parses `Retry-After` (delay-seconds or an HTTP date) into milliseconds; `undefined` when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/** Base class of every error the SDK throws. */
export class AosError extends Error {
  /** The API's machine-readable code (`NOT_FOUND`, `PLAN_UNKNOWN_SKILL`, ...) or an SDK code. */
  readonly code: string;
  /** HTTP status; 0 when there was no HTTP answer. */
  readonly status: number;
  /** The error's `details` (`{}` when it has none; validation errors list `errors`). */
  readonly details: JsonValue;
  /** The request that failed, when there was one. */
  readonly method: string | undefined;
  readonly url: string | undefined;
  /** The answer's headers (lower-case names), when there was an answer. */
  readonly headers: Record<string, string>;

  constructor(init: AosErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.code = init.code;
    this.status = init.status ?? 0;
    this.details = init.details ?? {};
    this.method = init.method;
    this.url = init.url;
    this.headers = init.headers ?? {};
  }

  /** `details.field` when the API named the offending field. */
  get field(): string | undefined {
    return isObject(this.details) && typeof this.details.field === "string" ? this.details.field : undefined;
  }

  /** `details.step_id` when the API named the offending step. */
  get stepId(): string | undefined {
    return isObject(this.details) && typeof this.details.step_id === "string" ? this.details.step_id : undefined;
  }

  /** The answer's `Retry-After`, in milliseconds, when it had one. */
  get retryAfterMs(): number | undefined {
    return parseRetryAfter(this.headers["retry-after"]);
  }
}

/** The request got no HTTP answer (connection refused or reset, DNS failure, ...). */
export class APIConnectionError extends AosError {}

/** The request timed out before an answer arrived. */
export class APITimeoutError extends APIConnectionError {}

/** 400: malformed JSON (`INVALID_JSON`) or query (`INVALID_QUERY`). */
export class BadRequestError extends AosError {}

/**
 * 401 `UNAUTHENTICATED`: no credential, or one that is not valid: an unknown, revoked (or rotated)
 * or expired API key, or an identity-provider token that failed verification.
 */
export class AuthenticationError extends AosError {}

/**
 * 403 `FORBIDDEN`: the caller's role lacks the operation's permission (its OpenAPI security scope,
 * e.g. `keys:manage`; `client.whoami()` lists the caller's), or a verified user's token maps to no role.
 */
export class PermissionDeniedError extends AosError {}

/** 404 `NOT_FOUND`: no such run, workflow (or version), skill or route. */
export class NotFoundError extends AosError {}

/** 405 `METHOD_NOT_ALLOWED`. */
export class MethodNotAllowedError extends AosError {}

/**
 * 409: the resource's state does not allow the operation (`RUN_ALREADY_FINISHED`,
 * `RUN_NOT_FINISHED`, `KEY_INACTIVE`, `CANDIDATE_STATE_CONFLICT`, `POLICY_STATE_CONFLICT` for
 * disabling a policy that is already disabled, `POLICY_LIMIT` for approving a candidate when the
 * tenant holds 500 policies), or a concurrent change got in the way (`CONCURRENT_UPDATE`, retried
 * by the SDK for requests that are safe to repeat).
 */
export class ConflictError extends AosError {}

/** 413 `BODY_TOO_LARGE`: the body exceeds 1 MiB. */
export class PayloadTooLargeError extends AosError {}

/** 415 `UNSUPPORTED_MEDIA_TYPE`. */
export class UnsupportedMediaTypeError extends AosError {}

/**
 * 422: well-formed JSON that is not acceptable (an invalid plan, unknown fields, bad inputs, ...).
 * `errors` lists every problem; `code`, `field` and `stepId` repeat the first one.
 */
export class ValidationError extends AosError {
  /** Every problem (`details.errors`); errors that list none (e.g. `INVALID_FIELD`) give one. */
  get errors(): ValidationProblem[] {
    const d = this.details;
    if (isObject(d) && Array.isArray(d.errors)) {
      const list = d.errors.filter((p): p is Record<string, JsonValue> => isObject(p) && typeof p.code === "string" && typeof p.message === "string");
      if (list.length > 0) return list as unknown as ValidationProblem[];
    }
    return [{ code: this.code, message: this.message, field: this.field ?? null, step_id: this.stepId ?? null }];
  }
}

/**
 * 429 `RATE_LIMITED`: the caller's request budget is spent (limits are per API key or user).
 * `retryAfterMs` is the answer's `Retry-After`; `limit`, `remaining` and `resetMs` come from its
 * `X-RateLimit-Limit` (requests a minute), `X-RateLimit-Remaining` and `X-RateLimit-Reset` headers.
 * The client retries requests that are safe to repeat after `Retry-After` itself (`maxRetries`);
 * this is what is left after those retries, or from a request that is not safe to repeat.
 */
export class RateLimitError extends AosError {
  private header(name: string): number | undefined {
    const v = this.headers[name];
    return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
  }
  /** Requests a minute the caller may make (`X-RateLimit-Limit`). */
  get limit(): number | undefined {
    return this.header("x-ratelimit-limit");
  }
  /** Requests left in the current burst (`X-RateLimit-Remaining`), 0 when limited. */
  get remaining(): number | undefined {
    return this.header("x-ratelimit-remaining");
  }
  /** Time until the next request is allowed, in ms (`X-RateLimit-Reset`, sent in seconds). */
  get resetMs(): number | undefined {
    const s = this.header("x-ratelimit-reset");
    return s === undefined ? undefined : s * 1000;
  }
}

/** 5xx. */
export class ServerError extends AosError {}

/** 503, e.g. `STORAGE_UNAVAILABLE` (after the SDK's own retries): retry later. */
export class ServiceUnavailableError extends ServerError {}

/** `waitForRun` gave up before the run finished. `run` is the run as last seen. */
export class WaitTimeoutError extends AosError {
  readonly run: RunView | undefined;
  constructor(message: string, run?: RunView) {
    super({ message, code: "WAIT_TIMEOUT" });
    this.run = run;
  }
}

/**
 * A waited-for run finished without succeeding (only with `raiseOnFailure: true`). `code` and
 * `details` are the run's error; `run` is the finished run.
 */
export class RunFailedError extends AosError {
  readonly run: RunView;
  constructor(run: RunView) {
    const err = run.error ?? undefined;
    super({
      message: `run ${run.run_id} ${run.status}` + (err ? `: ${err.code}: ${err.message}` : ""),
      code: err?.code ?? `RUN_${run.status.toUpperCase()}`,
      details: err?.details ?? {},
    });
    this.run = run;
  }
}

const BY_STATUS: Record<number, typeof AosError> = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  405: MethodNotAllowedError,
  409: ConflictError,
  413: PayloadTooLargeError,
  415: UnsupportedMediaTypeError,
  422: ValidationError,
  429: RateLimitError,
  503: ServiceUnavailableError,
};

/** The error class for an HTTP error status. */
export function errorClassFor(status: number): typeof AosError {
  return BY_STATUS[status] ?? (status >= 500 ? ServerError : AosError);
}

/** Builds the typed error for an error answer (`body`: the parsed JSON, or the text when it was not JSON). */
export function errorFromResponse(
  status: number,
  body: unknown,
  request: { method?: string; url?: string; headers?: Record<string, string> } = {},
): AosError {
  const Cls = errorClassFor(status);
  const err = isObject(body) ? body.error : undefined;
  if (isObject(err) && typeof err.code === "string") {
    return new Cls({
      status,
      code: err.code,
      message: typeof err.message === "string" ? err.message : err.code,
      details: err.details ?? {},
      ...request,
    });
  }
  return new Cls({
    status,
    code: `HTTP_${status}`,
    message: `${request.method ?? "request"} ${request.url ?? ""} answered HTTP ${status} without an AOS error body`.replace("  ", " "),
    details: body === undefined ? {} : { body: body as JsonValue },
    ...request,
  });
}
