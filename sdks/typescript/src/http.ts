/**
 * The HTTP transport: native `fetch`, bearer authentication, JSON bodies, typed errors, and bounded
 * retries of 429 and 503 answers (and 409 `CONCURRENT_UPDATE`) that honour `Retry-After`, for
 * requests that are safe to repeat.
 */

import { APIConnectionError, APITimeoutError, AosError, errorFromResponse } from "./errors.js";

/** A `fetch` implementation (the global one by default). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** A bearer credential: a fixed string, or a function called before every request. */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

/** Information passed to `onRetry` before the SDK waits and sends a request again. */
export interface RetryInfo {
  method: string;
  url: string;
  /** The retry about to happen, from 1. */
  retry: number;
  /** How long the SDK waits first, in ms. */
  delayMs: number;
  /** The error answer that triggered the retry. */
  error: AosError;
}

export interface TransportOptions {
  baseUrl: string;
  token?: TokenSource;
  fetch?: FetchLike;
  timeoutMs: number;
  maxRetries: number;
  maxRetryDelayMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  headers?: Record<string, string>;
  onRetry?: (info: RetryInfo) => void;
}

export type QueryValue = string | number | boolean | undefined | null;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Extra time the server may legitimately take (long polling), added to the timeout. */
  extraTimeoutMs?: number;
  /**
   * Safe to send again after a 429/503 answer: reads, `PUT`, replay, simulation, and submissions
   * that carry an idempotency key.
   */
  retryable?: boolean;
  /** Send the credential (every route but `/healthz` and `/api/v1/openapi.json`). Default true. */
  authenticated?: boolean;
  /**
   * `"json"` (default): the answer is parsed as JSON. `"text"`: a successful answer is returned as
   * its text (e.g. the Prometheus metrics); error answers are still read as the JSON envelope.
   */
  responseType?: "json" | "text";
  signal?: AbortSignal;
}

/** Statuses the SDK retries by itself (for retryable requests): rate limiting, temporary unavailability. */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/** Error codes of other statuses that the API marks as worth retrying: 409 `CONCURRENT_UPDATE`. */
export const RETRY_CODES: ReadonlySet<string> = new Set(["CONCURRENT_UPDATE"]);

/** Does the API say this error answer is worth retrying? */
export function isRetryable(error: AosError): boolean {
  return RETRY_STATUSES.has(error.status) || (error.status === 409 && RETRY_CODES.has(error.code));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Joins a base URL (which may carry a path prefix) and an absolute API path, with a query. */
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

function headersOf(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    out[name.toLowerCase()] = value;
  });
  return out;
}

export class Transport {
  readonly options: TransportOptions;

  constructor(options: TransportOptions) {
    this.options = options;
  }

  /**
   * The wait before retry number `retry + 1` (0-based `retry`), or `undefined` to give up:
   * exponential with equal jitter, at least the answer's `Retry-After`; gives up after
   * `maxRetries` retries or when `Retry-After` asks for more than `maxRetryDelayMs`.
   */
  backoffMs(retry: number, retryAfterMs: number | undefined): number | undefined {
    const { maxRetries, maxRetryDelayMs, backoffBaseMs, backoffMaxMs } = this.options;
    if (retry >= maxRetries) return undefined;
    if (retryAfterMs !== undefined && retryAfterMs > maxRetryDelayMs) return undefined;
    const base = Math.min(backoffMaxMs, backoffBaseMs * 2 ** retry);
    let delay = base / 2 + (Math.random() * base) / 2;
    if (retryAfterMs !== undefined) delay = Math.max(delay, retryAfterMs);
    return Math.round(Math.min(delay, maxRetryDelayMs));
  }

  /**
   * Sends one API request and returns the parsed JSON answer (`undefined` for an empty body), or
   * the answer's text with `responseType: "text"`.
   */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    for (let retry = 0; ; retry++) {
      try {
        return await this.once<T>(method, path, opts);
      } catch (e) {
        if (!(e instanceof AosError) || !opts.retryable || !isRetryable(e) || opts.signal?.aborted) throw e;
        const delayMs = this.backoffMs(retry, e.retryAfterMs);
        if (delayMs === undefined) throw e;
        this.options.onRetry?.({ method, url: e.url ?? path, retry: retry + 1, delayMs, error: e });
        await sleep(delayMs, opts.signal);
      }
    }
  }

  private async once<T>(method: string, path: string, opts: RequestOptions): Promise<T> {
    const accept = opts.responseType === "text" ? "text/plain, application/json;q=0.5" : "application/json";
    const headers: Record<string, string> = { accept, ...this.options.headers };
    if (opts.authenticated !== false) {
      const t = this.options.token;
      const token = typeof t === "function" ? await t() : t;
      if (token) headers.authorization = `Bearer ${token.trim()}`;
    }
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
      let text: string;
      try {
        res = await doFetch(url, { method, headers, body, signal: controller.signal });
        text = await res.text();
      } catch (e) {
        if (opts.signal?.aborted) throw opts.signal.reason ?? e;
        if (timedOut) {
          throw new APITimeoutError({ message: `${method} ${url} timed out after ${timeoutMs} ms`, code: "TIMEOUT", method, url, cause: e });
        }
        const reason = (e as { cause?: { message?: string } })?.cause?.message ?? (e as Error)?.message ?? String(e);
        throw new APIConnectionError({ message: `${method} ${url} failed: ${reason}`, code: "CONNECTION_ERROR", method, url, cause: e });
      }
      let parsed: unknown = undefined;
      if (text.length > 0) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
      }
      if (!res.ok) {
        throw errorFromResponse(res.status, parsed ?? (text.length > 0 ? text : undefined), { method, url, headers: headersOf(res) });
      }
      if (opts.responseType === "text") return text as T;
      if (text.length === 0) return undefined as T;
      if (parsed === undefined) {
        throw new AosError({
          status: res.status,
          code: "INVALID_RESPONSE",
          message: `${method} ${url} answered ${res.status} with a body that is not JSON`,
          method,
          url,
          headers: headersOf(res),
        });
      }
      return parsed as T;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }
}
