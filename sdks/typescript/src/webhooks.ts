/**
 * Verification of the webhooks AOS's `webhook_send` skill sends (docs/skills.md), as the Standard
 * Webhooks specification defines it: the signature is `v1,<base64 HMAC-SHA256>` of
 * `<webhook-id>.<webhook-timestamp>.<body>` with the receiver's key (`whsec_<base64>`), and the
 * timestamp must be within the tolerance (5 minutes) of now, so a captured request cannot be
 * replayed later. Deduplicate on `webhook-id`: it is the same for every retry of a step.
 *
 * Web-platform APIs only (WebCrypto, TextEncoder, atob/btoa), like the rest of the SDK.
 */

/** A webhook that must not be trusted: `reason` says why. */
export class WebhookVerificationError extends Error {
  constructor(
    readonly reason: "missing_headers" | "bad_timestamp" | "too_old" | "too_new" | "no_matching_signature" | "bad_secret",
    message: string,
  ) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

/** How far the `webhook-timestamp` may be from now, in seconds (the specification's 5 minutes). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

export interface VerifyWebhookOptions {
  /** Seconds of tolerance either side of now (default 300). */
  toleranceSeconds?: number;
  /** The time to check against, in seconds since the epoch (default: now). */
  nowSeconds?: number;
}

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  for (const [k, v] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? v[0] : v;
  }
  return undefined;
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

async function webCrypto(): Promise<SubtleCrypto> {
  const g = globalThis as { crypto?: Crypto };
  if (g.crypto?.subtle) return g.crypto.subtle;
  // Node 18 without the global: node:crypto's WebCrypto, through a variable specifier so that
  // bundlers for browsers leave it alone.
  const specifier = "node:crypto";
  const mod = (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as { webcrypto?: Crypto };
  if (mod.webcrypto?.subtle) return mod.webcrypto.subtle;
  throw new Error("no WebCrypto implementation found (crypto.subtle is required for HMAC-SHA256)");
}

/** Constant-time comparison of two byte strings. */
function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * Verifies a webhook and returns its parsed JSON payload; throws `WebhookVerificationError`.
 * `body` must be the raw body as received (a string or its bytes), not a re-serialized object.
 */
export async function verifyWebhook(
  secret: string,
  body: string | Uint8Array,
  headers: HeaderSource,
  options: VerifyWebhookOptions = {},
): Promise<unknown> {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError("missing_headers", "webhook-id, webhook-timestamp and webhook-signature are required");
  }
  if (!/^\d{1,15}$/.test(timestamp)) throw new WebhookVerificationError("bad_timestamp", "webhook-timestamp is not a number of seconds");
  const ts = Number(timestamp);
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  if (ts < now - tolerance) throw new WebhookVerificationError("too_old", "the webhook is older than the tolerance: a replay?");
  if (ts > now + tolerance) throw new WebhookVerificationError("too_new", "the webhook's timestamp is in the future");
  let key: Uint8Array<ArrayBuffer>;
  try {
    key = fromBase64(secret.startsWith("whsec_") ? secret.slice(6) : secret);
  } catch {
    throw new WebhookVerificationError("bad_secret", "the secret is not `whsec_` followed by base64");
  }
  if (key.length === 0) throw new WebhookVerificationError("bad_secret", "the secret is empty");
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const prefix = new TextEncoder().encode(`${id}.${timestamp}.`);
  const message = new Uint8Array(prefix.length + bytes.length);
  message.set(prefix);
  message.set(bytes, prefix.length);
  const subtle = await webCrypto();
  const hmacKey = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const expected = new Uint8Array(await subtle.sign("HMAC", hmacKey, message));
  for (const candidate of signatures.split(" ")) {
    const [version, sig] = candidate.split(",", 2);
    if (version !== "v1" || !sig) continue;
    let got: Uint8Array;
    try {
      got = fromBase64(sig);
    } catch {
      continue;
    }
    if (equal(got, expected)) {
      return JSON.parse(typeof body === "string" ? body : new TextDecoder().decode(body));
    }
  }
  throw new WebhookVerificationError("no_matching_signature", "no signature matches the key");
}

/** The signature `webhook_send` would send, for tests of receivers: `v1,<base64>`. */
export async function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): Promise<string> {
  const key = fromBase64(secret.startsWith("whsec_") ? secret.slice(6) : secret);
  const subtle = await webCrypto();
  const hmacKey = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await subtle.sign("HMAC", hmacKey, new TextEncoder().encode(`${id}.${timestampSeconds}.${body}`));
  return `v1,${toBase64(new Uint8Array(mac))}`;
}
