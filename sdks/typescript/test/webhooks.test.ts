// verifyWebhook against tests/vectors/webhooks.json: the signatures aos-skills' webhook_send computes,
// which the Standard Webhooks reference library also accepts (shared/aos-skills/tests/webhook_send.rs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { signWebhook, verifyWebhook, WebhookVerificationError } from "@aos/sdk";
import { VECTORS_DIR } from "./helpers/paths.js";

type Vector = { secret: string; id: string; timestamp: number; body: string; signature: string };
const { vectors } = JSON.parse(readFileSync(join(VECTORS_DIR, "webhooks.json"), "utf8")) as { vectors: Vector[] };

const headersOf = (v: Vector, signature = v.signature) => ({
  "webhook-id": v.id,
  "webhook-timestamp": String(v.timestamp),
  "webhook-signature": signature,
});

async function rejects(p: Promise<unknown>, reason: string) {
  await assert.rejects(p, (e: unknown) => e instanceof WebhookVerificationError && e.reason === reason);
}

test("webhooks.json: every vector verifies, signs the same, and fails with any change", async () => {
  assert.ok(vectors.length >= 3);
  for (const v of vectors) {
    const payload = await verifyWebhook(v.secret, v.body, headersOf(v), { nowSeconds: v.timestamp });
    assert.deepEqual(payload, JSON.parse(v.body));
    assert.equal(await signWebhook(v.secret, v.id, v.timestamp, v.body), v.signature);
    // The body as bytes, and Headers objects, work too.
    await verifyWebhook(v.secret, new TextEncoder().encode(v.body), new Headers(headersOf(v)), { nowSeconds: v.timestamp + 10 });
    await rejects(verifyWebhook(v.secret, v.body + " ", headersOf(v), { nowSeconds: v.timestamp }), "no_matching_signature");
    await rejects(verifyWebhook(v.secret, v.body, { ...headersOf(v), "webhook-id": v.id + "x" }, { nowSeconds: v.timestamp }), "no_matching_signature");
    await rejects(verifyWebhook("whsec_" + btoa("another key"), v.body, headersOf(v), { nowSeconds: v.timestamp }), "no_matching_signature");
    // A replay outside the 5-minute window, either way.
    await rejects(verifyWebhook(v.secret, v.body, headersOf(v), { nowSeconds: v.timestamp + 301 }), "too_old");
    await rejects(verifyWebhook(v.secret, v.body, headersOf(v), { nowSeconds: v.timestamp - 301 }), "too_new");
  }
});

test("rotation: one of several signatures is enough; headers are required", async () => {
  const v = vectors[0]!;
  await verifyWebhook(v.secret, v.body, headersOf(v, `v1,AAAA ${v.signature}`), { nowSeconds: v.timestamp });
  await rejects(verifyWebhook(v.secret, v.body, headersOf(v, `v2,${v.signature.slice(3)}`), { nowSeconds: v.timestamp }), "no_matching_signature");
  await rejects(verifyWebhook(v.secret, v.body, { "webhook-id": v.id }), "missing_headers");
  await rejects(verifyWebhook(v.secret, v.body, { ...headersOf(v), "webhook-timestamp": "soon" }), "bad_timestamp");
});
