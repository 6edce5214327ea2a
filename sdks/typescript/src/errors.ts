/**
 * Typed errors. Every API error answer (`{"error": {code, message, details}}`) becomes an
 * `AosError` subclass chosen by HTTP status, carrying the API's code, message, status and details.
 */

import type { JsonValue, RunView, ValidationProblem } from "./types.js";

/** Options of an `AosError`. */
export interface AosErrorInit {
  status: number;
  code: string;
  message: string;
  details?: JsonValue;
  /** The request that failed, as `METHOD path`. */
  request?: string;
  /** The raw `Retry-After` of the answer in milliseconds, when it had one. */
  retryAfterMs?: number;
  cause?: unknown;
}

/** An error answered by the AOS API (or raised by the SDK on its behalf). */
export class AosError extends Error {
  /** HTTP status (0 when no answer was received). */
  readonly status: number;
  /** The API's machine-readable code, e.g. `NOT_FOUND`, `PLAN_UNKNOWN_SKILL`. */
  readonly code: string;
  /** The error's `details` (`{}` for most errors; validation errors list `errors`). */
  readonly details: JsonValue;
  /** The request that failed, as `METHOD path`. */
  readonly request: string | undefined;
  /** The answer's `Retry-After`, in milliseconds, when it had one. */
  readonly retryAfterMs: number | undefined;

  constructor(init: AosErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.status = init.status;
    this.code = init.code;
    this.details = init.details ?? {};
    this.request = init.request;
    this.retryAfterMs = init.retryAfterMs;
  }

  /** `details.field` when the API named the offending field. */
  get field(): string | undefined {
    const d = this.details;
    if (d && typeof d === "object" && !Array.isArray(d) && typeof d.field === "string") return d.field;
    return undefined;
  }

  /** `details.step_id` when the API named the offending step. */
  get stepId(): string | undefined {
    const d = this.details;
    if (d && typeof d === "object" && !Array.isArray(d) && typeof d.step_id === "string") return d.step_id;
    return undefined;
  }
}

/** 400 or 422: the request is malformed or the plan is invalid. `errors` lists every problem. */
export class ValidationError extends AosError {
  /** Every problem (`details.errors`); for errors that list none, one built from the error itself. */
  get errors(): ValidationProblem[] {
    const d = this.details;
    if (d && typeof d === "object" && !Array.isArray(d) && Array.isArray(d.errors)) {
      return d.errors as unknown as ValidationProblem[];
    }
    return [{ code: this.code, message: this.message, field: this.field ?? null, step_id: this.stepId ?? null }];
  }
}

/** 401: no API key, or one that is not valid. */
export class AuthenticationError extends AosError {}

/** 403: the key's role lacks the permission the route needs. */
export class PermissionDeniedError extends AosError {}

/** 404: no such run, workflow (version), skill or route. */
export class NotFoundError extends AosError {}

/** 409: e.g. cancelling a finished run, replaying an unfinished one. */
export class ConflictError extends AosError {}

/** 429: too many requests (after the SDK's own retries). */
export class RateLimitError extends AosError {}

/** 5xx: the server failed (e.g. 503 `STORAGE_UNAVAILABLE`, after the SDK's own retries). */
export class ServerError extends AosError {}

/** No answer: the connection failed or the request timed out. `status` is 0. */
export class AosConnectionError extends AosError {}

/** `waitForRun` gave up before the run finished. `run` is the last state read. */
export class WaitTimeoutError extends AosError {
  readonly run: RunView | undefined;
  constructor(runId: string, timeoutMs: number, run: RunView | undefined) {
    super({
      status: 0,
      code: "WAIT_TIMEOUT",
      message: `run ${runId} did not finish within ${timeoutMs} ms (last status: ${run?.status ?? "unknown"})`,
    });
    this.run = run;
  }
}

/** The error class for an HTTP status. */
export function errorClassFor(status: number): typeof AosError {
  if (status === 400 || status === 422) return ValidationError;
  if (status === 401) return AuthenticationError;
  if (status === 403) return PermissionDeniedError;
  if (status === 404) return NotFoundError;
  if (status === 409) return ConflictError;
  if (status === 429) return RateLimitError;
  if (status >= 500) return ServerError;
  return AosError;
}

/** Builds the typed error for an error answer (`body` is the parsed JSON, when it was JSON). */
export function errorFromResponse(
  status: number,
  body: unknown,
  request: string,
  retryAfterMs?: number,
): AosError {
  const Cls = errorClassFor(status);
  const err = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (err && typeof err === "object" && typeof err.code === "string") {
    return new Cls({
      status,
      code: err.code,
      message: typeof err.message === "string" ? err.message : err.code,
      details: (err.details ?? {}) as JsonValue,
      request,
      retryAfterMs,
    });
  }
  return new Cls({
    status,
    code: `HTTP_${status}`,
    message: `${request} answered HTTP ${status} without an AOS error body`,
    details: body === undefined ? {} : ({ body } as JsonValue),
    request,
    retryAfterMs,
  });
}
