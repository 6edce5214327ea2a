/**
 * The determinism rules of AOS (docs/determinism.md), reimplemented for clients: canonical JSON
 * (RFC 8785), SHA-256 hashes, trace entry hashes, the chained trace root, the seeded SplitMix64
 * generator and the retry backoff formula. Every function here passes the shared vectors in
 * `tests/vectors/`.
 *
 * Hashing uses WebCrypto (`crypto.subtle`), so the hashing functions are async. On Node 18, where
 * `globalThis.crypto` is not there by default, `node:crypto`'s `webcrypto` is loaded instead.
 */

import type { JsonValue, RetryPolicy, TraceEntry } from "./types.js";

// ---------------------------------------------------------------------------------------------
// Canonical JSON (RFC 8785)
// ---------------------------------------------------------------------------------------------

/**
 * Canonical JSON text of a JSON value, per RFC 8785 as AOS applies it:
 * no whitespace, object members sorted by UTF-16 code units, numbers as ECMAScript's
 * `Number.prototype.toString` (`-0` as `0`), strings escaped only where JSON requires it.
 *
 * Object members whose value is `undefined` are left out (as `JSON.stringify` does). Values JSON
 * cannot hold (`undefined` elsewhere, functions, symbols, bigints, NaN, infinities) throw a
 * `TypeError`.
 */
export function canonicalize(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON has no ${String(value)}`);
      // ECMAScript's Number-to-String is exactly RFC 8785's number form; String(-0) is "0".
      return String(value);
    case "string":
      // JSON.stringify escapes ", \, \b, \f, \n, \r, \t and other controls as \u00xx (lower-case
      // hex), and nothing else: exactly RFC 8785 for well-formed strings.
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) {
        return "[" + value.map((item) => canonicalize(item)).join(",") + "]";
      }
      const obj = value as Record<string, unknown>;
      // The default sort compares strings by UTF-16 code units, as RFC 8785 requires.
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalize(obj[k])).join(",") + "}";
    }
    default:
      throw new TypeError(`canonical JSON cannot hold a value of type ${typeof value}`);
  }
}

/** The UTF-8 bytes of a value's canonical JSON text. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalize(value));
}

// ---------------------------------------------------------------------------------------------
// SHA-256 through WebCrypto
// ---------------------------------------------------------------------------------------------

let subtlePromise: Promise<SubtleCrypto> | undefined;

async function loadSubtle(): Promise<SubtleCrypto> {
  const g = globalThis as { crypto?: Crypto };
  if (g.crypto?.subtle) return g.crypto.subtle;
  // Node 18 without --experimental-global-webcrypto: fall back to node:crypto's WebCrypto. The
  // specifier is a variable so that browser bundlers do not try to resolve it.
  const specifier = "node:crypto";
  try {
    const mod = (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as {
      webcrypto?: Crypto;
    };
    if (mod.webcrypto?.subtle) return mod.webcrypto.subtle;
  } catch {
    // fall through
  }
  throw new Error("no WebCrypto implementation found (crypto.subtle is required for SHA-256)");
}

function subtle(): Promise<SubtleCrypto> {
  if (!subtlePromise) {
    subtlePromise = loadSubtle();
    subtlePromise.catch(() => {
      subtlePromise = undefined;
    });
  }
  return subtlePromise;
}

/** SHA-256 digest of bytes (a string is hashed as its UTF-8 bytes). */
export async function sha256(data: Uint8Array | string): Promise<Uint8Array> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await (await subtle()).digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return new Uint8Array(digest);
}

function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** SHA-256 as 64 lower-case hex digits (a string is hashed as its UTF-8 bytes). */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  return toHex(await sha256(data));
}

/** The AOS hash of a JSON value: SHA-256 hex of its canonical JSON text. */
export function hashValue(value: unknown): Promise<string> {
  return sha256Hex(canonicalize(value));
}

// ---------------------------------------------------------------------------------------------
// Trace hashes
// ---------------------------------------------------------------------------------------------

/** `sha256("")`: the root of a trace with no entries. */
export const EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** The six hashed fields of a trace entry, taken from any object that has them. */
export function traceEntryOf(e: TraceEntry): TraceEntry {
  return {
    step_id: e.step_id,
    attempt: e.attempt,
    skill: e.skill,
    input_hash: e.input_hash,
    output_hash: e.output_hash,
    ok: e.ok,
  };
}

/** `step_hash` of a trace entry: the hash of its six fields (extra fields are ignored). */
export function stepHash(entry: TraceEntry): Promise<string> {
  return hashValue(traceEntryOf(entry));
}

/** One link of the chain: `sha256(hex(previousRoot) ‖ hex(stepHash))`. */
export function chainRoot(previousRoot: string, entryStepHash: string): Promise<string> {
  return sha256Hex(previousRoot + entryStepHash);
}

/** Every root of the chain, starting with `root₀ = sha256("")`; the last one is the trace root. */
export async function rootHashes(entries: Iterable<TraceEntry>): Promise<string[]> {
  const roots = [EMPTY_ROOT];
  for (const e of entries) {
    roots.push(await chainRoot(roots[roots.length - 1]!, await stepHash(e)));
  }
  return roots;
}

/** The trace root of a list of entries, chained in the order given. */
export async function rootHash(entries: Iterable<TraceEntry>): Promise<string> {
  const roots = await rootHashes(entries);
  return roots[roots.length - 1]!;
}

// ---------------------------------------------------------------------------------------------
// Step order
// ---------------------------------------------------------------------------------------------

/**
 * The deterministic step order of a plan: Kahn's algorithm over `depends_on` where, among the
 * ready steps, the one with the lowest position in `steps` goes first. Dependencies that name no
 * step are ignored; a plan with a cycle falls back to plan order (as AOS does).
 */
export function stepOrder(plan: { steps: ReadonlyArray<{ id: string; depends_on?: ReadonlyArray<string> | null }> }): string[] {
  const steps = plan.steps;
  const index = new Map<string, number>();
  steps.forEach((s, i) => index.set(s.id, i));
  const indegree = steps.map(() => 0);
  const children: number[][] = steps.map(() => []);
  steps.forEach((s, i) => {
    for (const dep of s.depends_on ?? []) {
      const d = index.get(dep);
      if (d !== undefined) {
        indegree[i]!++;
        children[d]!.push(i);
      }
    }
  });
  const ready: number[] = [];
  indegree.forEach((n, i) => {
    if (n === 0) ready.push(i);
  });
  const order: number[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const i = ready.shift()!;
    order.push(i);
    for (const c of children[i]!) {
      if (--indegree[c]! === 0) ready.push(c);
    }
  }
  if (order.length !== steps.length) return steps.map((s) => s.id);
  return order.map((i) => steps[i]!.id);
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness
// ---------------------------------------------------------------------------------------------

const MASK64 = (1n << 64n) - 1n;

/** The two random streams of a run: skill randomness and retry jitter. */
export type RngStream = "skill" | "backoff";

/**
 * SplitMix64, as AOS derives it for one (seed, step, attempt, stream): the state is the first
 * 8 bytes (big-endian) of SHA-256 of the canonical JSON of `[seed, step_id, attempt, stream]`.
 * Create one with `await SeededRng.derive(...)` or `SeededRng.fromState(state)`.
 */
export class SeededRng {
  /** The current 64-bit state. */
  state: bigint;

  private constructor(state: bigint) {
    this.state = BigInt.asUintN(64, state);
  }

  /** SplitMix64 started directly from a state. */
  static fromState(state: bigint | number): SeededRng {
    return new SeededRng(BigInt(state));
  }

  /** The key a generator is derived from: canonical `[seed, step_id, attempt, stream]`. */
  static key(seed: number, stepId: string, attempt: number, stream: string): string {
    return canonicalize([seed, stepId, attempt, stream]);
  }

  /** The generator of one (seed, step id, attempt, stream). */
  static async derive(seed: number, stepId: string, attempt: number, stream: RngStream | string): Promise<SeededRng> {
    const digest = await sha256(SeededRng.key(seed, stepId, attempt, stream));
    let state = 0n;
    for (let i = 0; i < 8; i++) state = (state << 8n) | BigInt(digest[i]!);
    return new SeededRng(state);
  }

  /** The next 64-bit value (a bigint below 2^64). */
  nextU64(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }

  /** A double in [0, 1) from the top 53 bits of the next value. */
  nextF64(): number {
    return Number(this.nextU64() >> 11n) * 2 ** -53;
  }
}

// ---------------------------------------------------------------------------------------------
// Backoff
// ---------------------------------------------------------------------------------------------

/** The longest delay AOS ever waits between attempts: 15 minutes. */
export const MAX_DELAY_MS = 900_000;

/** Retry policy fields the backoff uses; absent ones take AOS's defaults (200, 10000, 2.0). */
export type BackoffPolicy = Pick<RetryPolicy, "initial_delay_ms" | "max_delay_ms" | "multiplier">;

/**
 * The delay AOS waits after failed attempt `attempt` (1-based) of a step before the next one:
 * `min(floor(base/2 + u·base/2), 900000)` with
 * `base = min(max_delay_ms, initial_delay_ms × max(multiplier, 1)^(attempt−1))` and `u` the first
 * `nextF64()` of the generator (seed, step id, attempt, "backoff"). When `retryAfterMs` (the
 * error's `details.retry_after_ms`) is a non-negative integer, the delay is at least that.
 */
export async function backoffDelayMs(
  policy: BackoffPolicy,
  seed: number,
  stepId: string,
  attempt: number,
  retryAfterMs?: unknown,
): Promise<number> {
  const initial = policy.initial_delay_ms ?? 200;
  const max = policy.max_delay_ms ?? 10_000;
  const multiplier = policy.multiplier ?? 2.0;
  const base = Math.min(max, initial * Math.max(multiplier, 1) ** (attempt - 1));
  const u = (await SeededRng.derive(seed, stepId, attempt, "backoff")).nextF64();
  let delay = Math.min(Math.floor(base / 2 + (u * base) / 2), MAX_DELAY_MS);
  if (typeof retryAfterMs === "number" && Number.isInteger(retryAfterMs) && retryAfterMs >= 0) {
    delay = Math.min(Math.max(delay, retryAfterMs), MAX_DELAY_MS);
  }
  return delay;
}

/** Re-exported for convenience: a JSON value. */
export type { JsonValue };
