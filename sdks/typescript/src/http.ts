/**
 * The HTTP transport: native `fetch`, bearer authentication, JSON bodies, typed errors, and bounded
 * retries of 429 and 503 answers (and 409 `CONCURRENT_UPDATE`) that honour `Retry-After`.
 */

import { AosConnectionError, AosError, errorFromResponse } from "./errors.js";

/** A `fetch` implementation (the global one by default). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** A bearer credential: a fixed string, or a function called before every request. */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

/** Information passed to `onRetry` before the SDK waits and sends a request again. */
export interface RetryInfo {
  /** `METHOD path` of the request. */
  request: string;
  /** The retry about to happen, from 1. */
  retry: number;
  /** How long the SDK waits first. */
  delayMs: number;
  /** The error that triggered the retry. */
  error: AosError;
}

export interface TransportOptions {
  baseUrl: string;
  token?: TokenSource;
  fetch?: FetchLike;
  timeoutMs: number;
  maxRetries: number;
  maxRetryDelayMs: number;
  headers?: Record<string, string>;
  onRetry?: (info: RetryInfo) => void;
}

export type QueryValue = string | number | boolean | undefined | null;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Extra time the server may legitimately take (long polling), added to the timeout. */
  extraTimeoutMs?: number;
  /** Is a network failure safe to retry? (GET and PUT are; POST is not.) */
  idempotent?: boolean;
  signal?: AbortSignal;
  /** Expect no body (204). */
  noContent?: boolean;
}

/** Statuses the SDK retries by itself: rate limiting and temporary unavailability. */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/** Error codes of other statuses that the API marks as worth retrying (409 `CONCURRENT_UPDATE`). */
export const RETRY_CODES: ReadonlySet<string> = new Set(["CONCURRENT_UPDATE"]);

/** Does the SDK retry this error by itself? */
export function isRetryable(error: AosError, idempotent: boolean): boolean {
  if (RETRY_STATUSES.has(error.status) || RETRY_CODES.has(error.code)) return true;
  return error instanceof AosConnectionError && idempotent;
}

/**
 * Parses `Retry-After` (delay-seconds or an HTTP date) into milliseconds; `undefined` when absent
 * or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Joins a base URL (which may carry a path prefix) and an absolute API path. */
export function joinUrl(baseUrl: string, path: string, query?: Record<string, QueryValue>): string {
  let url = baseUrl.replace(/\/+$/, "") + path;
  if (query) {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null) continue;
      parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(String(v)));
    }
    if (parts.length > 0) url += "?" + parts.join("&");
  }
  return url;
}

export class Transport {
  readonly options: TransportOptions;

  constructor(options: TransportOptions) {
    this.options = options;
  }

  private async authHeader(): Promise<string | undefined> {
    const t = this.options.token;
    const value = typeof t === "function" ? await t() : t;
    return value ? `Bearer ${value}` : undefined;
  }

  /** Sends one API request and returns the parsed JSON answer (or `undefined` for 204). */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const label = `${method} ${path}`;
    const { maxRetries, maxRetryDelayMs } = this.options;
    for (let retry = 0; ; retry++) {
      let error: AosError;
      try {
        return await this.once<T>(method, path, label, opts);
      } catch (e) {
        if (!(e instanceof AosError)) throw e;
        error = e;
      }
      if (opts.signal?.aborted || !isRetryable(error, opts.idempotent === true) || retry >= maxRetries) throw error;
      // Honour Retry-After when given (capped); otherwise exponential: 0.5 s, 1 s, 2 s, ...
      const fallback = Math.min(500 * 2 ** retry, maxRetryDelayMs);
      const delayMs = Math.min(error.retryAfterMs ?? fallback, maxRetryDelayMs);
      this.options.onRetry?.({ request: label, retry: retry + 1, delayMs, error });
      await sleep(delayMs, opts.signal);
    }
  }

  private async once<T>(method: string, path: string, label: string, opts: RequestOptions): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json", ...this.options.headers };
    const auth = await this.authHeader();
    if (auth) headers.authorization = auth;
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    const url = joinUrl(this.options.baseUrl, path, opts.query);
    const timeoutMs = this.options.timeoutMs + (opts.extraTimeoutMs ?? 0);
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onAbort = () => controller.abort(opts.signal?.reason);
    if (opts.signal) {
      if (opts.signal.aborted) controller.abort(opts.signal.reason);
      else opts.signal.addEventListener("abort", onAbort, { once: true });
    }
    const doFetch: FetchLike = this.options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    try {
      let res: Response;
      try {
        res = await doFetch(url, { method, headers, body, signal: controller.signal });
      } catch (e) {
        if (opts.signal?.aborted) throw opts.signal.reason ?? e;
        throw new AosConnectionError({
          status: 0,
          code: timedOut ? "TIMEOUT" : "CONNECTION_ERROR",
          message: timedOut ? `${label} timed out after ${timeoutMs} ms` : `${label} failed: ${(e as Error)?.message ?? String(e)}`,
          request: label,
          cause: e,
        });
      }
      const text = await res.text();
      let parsed: unknown = undefined;
      if (text.length > 0) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
      }
      if (!res.ok) {
        throw errorFromResponse(res.status, parsed ?? (text.length > 0 ? text : undefined), label, parseRetryAfter(res.headers.get("retry-after")));
      }
      if (opts.noContent || text.length === 0) return undefined as T;
      if (parsed === undefined) {
        throw new AosError({
          status: res.status,
          code: "INVALID_RESPONSE",
          message: `${label} answered ${res.status} with a body that is not JSON`,
          request: label,
        });
      }
      return parsed as T;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }
}
