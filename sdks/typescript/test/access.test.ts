// Access control that needs a differently configured `aos serve`: per-key rate limits (60 a minute,
// bursts of 2: typed RateLimitError with its headers, reads retried after Retry-After, writes not),
// and people signing in with an OpenID Connect token (a real RS256 JWT, verified by the server
// against a JWKS served here) passed as the client's `token`.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from "node:crypto";
import { AosClient, AuthenticationError, PermissionDeniedError, RateLimitError, type FetchLike, type RetryInfo } from "@aos/sdk";
import { startAos, type AosServer } from "./helpers/aos.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("rate limits: 60 requests a minute per key, bursts of 2", () => {
  let aos: AosServer;
  before(async () => {
    aos = await startAos({ AOS_RATE_LIMIT_PER_MINUTE: "60", AOS_RATE_LIMIT_BURST: "2" });
  });
  after(async () => {
    await aos?.stop();
  });

  /** Requests with the admin key until one is refused; returns the refusal. */
  async function spendBurst(): Promise<RateLimitError> {
    const c = new AosClient({ baseUrl: aos.url, apiKey: aos.apiKey, maxRetries: 0 });
    for (let i = 0; i < 10; i++) {
      try {
        await c.whoami();
      } catch (e) {
        if (e instanceof RateLimitError) return e;
        throw e;
      }
    }
    throw new Error("no request was rate limited");
  }

  /** A fetch that records every answer's status and time. */
  function recorder() {
    const answers: Array<{ status: number; at: number }> = [];
    const fetch: FetchLike = async (url, init) => {
      const res = await globalThis.fetch(url, init);
      answers.push({ status: res.status, at: Date.now() });
      return res;
    };
    return { answers, fetch };
  }

  test("a refused request is a RateLimitError with Retry-After and the X-RateLimit headers", async () => {
    await sleep(2100); // a full bucket
    const c = new AosClient({ baseUrl: aos.url, apiKey: aos.apiKey, maxRetries: 0 });
    await c.whoami();
    await c.whoami();
    await assert.rejects(c.whoami(), (e: unknown) => {
      assert.ok(e instanceof RateLimitError);
      assert.equal(e.status, 429);
      assert.equal(e.code, "RATE_LIMITED");
      assert.ok(e.retryAfterMs !== undefined && e.retryAfterMs >= 1000 && e.retryAfterMs <= 2000, String(e.retryAfterMs));
      assert.equal(e.limit, 60);
      assert.equal(e.remaining, 0);
      assert.ok(e.resetMs !== undefined && e.resetMs >= 1000 && e.resetMs <= 2000);
      return true;
    });
  });

  test("reads are retried after Retry-After", async () => {
    const refusal = await spendBurst();
    assert.ok(refusal.retryAfterMs !== undefined);
    const rec = recorder();
    const retries: RetryInfo[] = [];
    const c = new AosClient({ baseUrl: aos.url, apiKey: aos.apiKey, fetch: rec.fetch, maxRetries: 3, onRetry: (i) => retries.push(i) });
    assert.equal((await c.whoami()).role, "admin");
    const statuses = rec.answers.map((a) => a.status);
    assert.equal(statuses[0], 429);
    assert.equal(statuses.at(-1), 200);
    assert.ok(retries.length >= 1 && retries.every((r) => r.delayMs >= (r.error.retryAfterMs ?? 0) && r.error instanceof RateLimitError));
    for (let i = 1; i < rec.answers.length; i++) {
      assert.ok(rec.answers[i]!.at - rec.answers[i - 1]!.at >= 950, JSON.stringify(rec.answers));
    }
  });

  test("writes are not retried", async () => {
    await spendBurst();
    const rec = recorder();
    const c = new AosClient({ baseUrl: aos.url, apiKey: aos.apiKey, fetch: rec.fetch, maxRetries: 3 });
    await assert.rejects(c.keys.create({ name: "limited", role: "viewer" }), RateLimitError);
    assert.deepEqual(rec.answers.map((a) => a.status), [429], "a key creation is not repeated");
  });

  test("each key has its own budget, and refusals are audited", async () => {
    await sleep(2100);
    const admin = new AosClient({ baseUrl: aos.url, apiKey: aos.apiKey, maxRetries: 3 });
    const me = await admin.whoami();
    const other = await admin.keys.create({ name: "other", role: "viewer" });
    await spendBurst();
    assert.equal((await new AosClient({ baseUrl: aos.url, apiKey: other.key, maxRetries: 0 }).whoami()).role, "viewer");
    await sleep(1100);
    const events = (await admin.audit.listPage({ action: "rate_limited" })).events;
    assert.ok(events.length >= 1);
    assert.equal(events[0]!.actor, `key:${me.id}`);
    assert.equal(events[0]!.detail.limit_per_minute, 60);
  });
});

describe("OpenID Connect tokens", () => {
  let aos: AosServer;
  let jwks: Server;
  let issuer: string;
  let privateKey: KeyObject;
  const kid = "sdk-test-key";
  const audience = "sdk-test-client";

  const b64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");
  /** An RS256 JWT as an identity provider issues it. */
  function token(claims: Record<string, unknown>): string {
    const now = Math.floor(Date.now() / 1000);
    const head = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid }));
    const body = b64url(JSON.stringify({ iss: issuer, aud: audience, iat: now, exp: now + 600, jti: randomUUID(), "custom:tenant": "dev", ...claims }));
    return `${head}.${body}.${b64url(sign("sha256", Buffer.from(`${head}.${body}`), privateKey))}`;
  }

  before(async () => {
    const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
    privateKey = pair.privateKey;
    const jwk = { ...pair.publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" };
    jwks = createServer((req, res) => {
      res.writeHead(req.url === "/.well-known/jwks.json" ? 200 : 404, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
    issuer = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}`;
    aos = await startAos({ AOS_OIDC_ISSUER: issuer, AOS_OIDC_AUDIENCE: audience });
  });
  after(async () => {
    await aos?.stop();
    await new Promise((r) => jwks?.close(r));
  });

  test("a user's token passed as `token` is a principal of kind user, with the role of its group", async () => {
    const c = new AosClient({ baseUrl: aos.url, token: token({ sub: "user-1", email: "dev@example.com", "cognito:groups": ["developer"] }) });
    const me = await c.whoami();
    assert.deepEqual([me.tenant, me.role, me.kind, me.id, me.name], ["dev", "developer", "user", "user-1", "dev@example.com"]);
    assert.ok(me.expires_at_ms !== undefined && me.expires_at_ms !== null && me.expires_at_ms > Date.now());
    await assert.rejects(c.keys.list(), PermissionDeniedError);
  });

  test("a token function is asked before each request; an admin user manages keys and shows in the audit log", async () => {
    let calls = 0;
    const admin = new AosClient({ baseUrl: aos.url, token: () => (calls++, token({ sub: "admin-1", "cognito:groups": ["viewer", "admin"] })) });
    assert.equal((await admin.whoami()).role, "admin", "the strongest of the user's groups");
    const k = await admin.keys.create({ name: "made-by-a-person", role: "machine" });
    assert.equal(k.record.created_by, "user:admin-1");
    const logins = (await admin.audit.listPage({ action: "login" })).events;
    assert.ok(logins.some((e) => e.actor === "user:admin-1"));
    assert.equal(calls, 3, "one token per request");
  });

  test("refused tokens: expired is AuthenticationError (401), no AOS group is PermissionDeniedError (403)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = new AosClient({ baseUrl: aos.url, token: token({ sub: "u", "cognito:groups": ["admin"], exp: now - 3600, iat: now - 7200 }), maxRetries: 0 });
    await assert.rejects(expired.whoami(), (e: unknown) => e instanceof AuthenticationError && e.code === "UNAUTHENTICATED" && /expired/.test(e.message));
    const nobody = new AosClient({ baseUrl: aos.url, token: token({ sub: "u", "cognito:groups": ["sales"] }), maxRetries: 0 });
    await assert.rejects(nobody.whoami(), (e: unknown) => e instanceof PermissionDeniedError && e.code === "FORBIDDEN");
  });
});
