// Runs every example of examples/ts (compiled by the build) against a real `aos serve`, with local
// stand-ins for the price API, a flaky endpoint and Slack.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { startAos, type AosServer } from "./helpers/aos.js";
import { startStandIns, type StandIns } from "./helpers/standins.js";
import { EXAMPLES_SRC_DIR, SDK_DIR } from "./helpers/paths.js";
import { runNode } from "./helpers/run.js";

const ESM_DIR = join(SDK_DIR, "build", "examples");
const CJS_DIR = join(SDK_DIR, "build", "examples-cjs");

let aos: AosServer;
let web: StandIns;

before(async () => {
  web = await startStandIns();
  aos = await startAos();
});
after(async () => {
  await Promise.all([aos?.stop(), web?.close()]);
});

const baseEnv = () => ({ AOS_URL: aos.url, AOS_API_KEY: aos.apiKey, SLACK_WEBHOOK_URL: undefined, PRICE_URL: undefined, FLAKY_URL: undefined, FAILING_URL: undefined });

test("every example source has a compiled ESM and CJS build, and a test below", () => {
  const sources = readdirSync(EXAMPLES_SRC_DIR).filter((f) => f.endsWith(".ts")).sort();
  assert.deepEqual(sources, ["btc_price_slack.ts", "failure_report.ts", "http_retry_demo.ts", "json_transform_demo.ts"]);
  for (const s of sources) {
    assert.ok(existsSync(join(ESM_DIR, s.replace(/\.ts$/, ".js"))), `${s} not compiled to ESM`);
    assert.ok(existsSync(join(CJS_DIR, s.replace(/\.ts$/, ".cjs"))), `${s} not compiled to CJS`);
  }
});

test("btc_price_slack posts the price to Slack", async () => {
  const before = web.slack.length;
  const r = await runNode(join(ESM_DIR, "btc_price_slack.js"), {
    ...baseEnv(),
    PRICE_URL: `${web.url}/price`,
    SLACK_WEBHOOK_URL: `${web.url}/slack`,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(web.slack.length, before + 1, "Slack got one message");
  const msg = web.slack.at(-1)!;
  assert.equal(msg.method, "POST");
  assert.match(String(msg.headers["content-type"]), /application\/json/);
  assert.deepEqual(JSON.parse(msg.body), { text: "Bitcoin is at 43210.5 USD" });
  assert.match(r.stdout, /price: 43210\.5 USD/);
  assert.match(r.stdout, /verified: true/);
  // The webhook URL is a secret: it is not in the output.
  assert.equal(r.stdout.includes("/slack"), false);
});

test("btc_price_slack without SLACK_WEBHOOK_URL prints the message instead", async () => {
  const before = web.slack.length;
  const r = await runNode(join(ESM_DIR, "btc_price_slack.js"), { ...baseEnv(), PRICE_URL: `${web.url}/price` });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(web.slack.length, before, "nothing sent to Slack");
  assert.match(r.stdout, /SLACK_WEBHOOK_URL is not set/);
  assert.ok(r.stdout.includes('{"text":"Bitcoin is at 43210.5 USD"}'), r.stdout);
});

test("json_transform_demo (ESM and CJS builds)", async () => {
  for (const file of [join(ESM_DIR, "json_transform_demo.js"), join(CJS_DIR, "json_transform_demo.cjs")]) {
    const r = await runNode(file, baseEnv());
    assert.equal(r.code, 0, file + "\n" + r.stdout + r.stderr);
    assert.match(r.stdout, /simulation: feasible=true/);
    assert.ok(r.stdout.includes('totals: {"count":3,"customers":["ada","cy"],"total":42.75}'), r.stdout);
    assert.match(r.stdout, /replay parity: true \(2 re-executed\)/);
    assert.match(r.stdout, /verified: true/);
  }
});

test("http_retry_demo prints every attempt against a flaky endpoint", async () => {
  const r = await runNode(join(ESM_DIR, "http_retry_demo.js"), { ...baseEnv(), FLAKY_URL: `${web.url}/flaky/demo` });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(web.flakyHits.get("demo"), 3);
  assert.match(r.stdout, /succeeded after 3 attempts/);
  assert.match(r.stdout, /attempt 1: HTTP_503 \(TRANSIENT, retryable=true\)/);
  assert.match(r.stdout, /attempt 2: HTTP_503 \(TRANSIENT, retryable=true\)/);
  assert.match(r.stdout, /attempt 3: ok, HTTP 200/);
  // The delays actually waited are at least what the backoff formula says.
  for (const m of r.stdout.matchAll(/waited (\d+) ms before the next \(backoff formula: (\d+) ms\)/g)) {
    assert.ok(Number(m[1]) >= Number(m[2]) - 5, m[0]);
  }
  assert.equal([...r.stdout.matchAll(/backoff formula/g)].length, 2);
  assert.match(r.stdout, /output body: \{"hits":3,"ok":true\}/);
});

test("http_retry_demo without FLAKY_URL explains itself", async () => {
  const r = await runNode(join(ESM_DIR, "http_retry_demo.js"), baseEnv());
  assert.equal(r.code, 2);
  assert.match(r.stderr, /set FLAKY_URL/);
});

test("failure_report classifies a 404, shows its records and statistics (ESM and CJS builds)", async () => {
  for (const file of [join(ESM_DIR, "failure_report.js"), join(CJS_DIR, "failure_report.cjs")]) {
    const r = await runNode(file, { ...baseEnv(), FAILING_URL: `${web.url}/missing` });
    assert.equal(r.code, 0, file + "\n" + r.stdout + r.stderr);
    assert.match(r.stdout, /^catalog v\d+ \([0-9a-f]{16}\): \d+ entries$/m);
    assert.match(r.stdout, /^a 503 is HTTP_SERVICE_UNAVAILABLE \(TRANSIENT, retryable=true, advice: retry_after, confidence 0\.\d+ by http_status\)$/m);
    assert.match(r.stdout, /^run r_[0-9a-f]{32} failed: HTTP_404$/m);
    assert.match(r.stdout, /^classified as HTTP_NOT_FOUND \(NOT_FOUND, retryable=false, advice: fallback, confidence 0\.\d+ by http_status\)$/m);
    assert.match(r.stdout, /^explanation: .+/m);
    assert.match(r.stdout, /^ {2}- .+/m);
    // The failed attempt and the failed run, newest first.
    const records = [...r.stdout.matchAll(/^failure record: (\w+) (\S+) HTTP_404 -> HTTP_NOT_FOUND \(signature [0-9a-f]{16}\)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(records, ["run call#1", "attempt call#1"]);
    assert.match(r.stdout, /^last hour: \d+ failures, match rate \d\.\d\d, by entry \{.*"HTTP_NOT_FOUND":\d+.*\}$/m);
  }
});

test("failure_report without FAILING_URL explains itself", async () => {
  const r = await runNode(join(ESM_DIR, "failure_report.js"), baseEnv());
  assert.equal(r.code, 2);
  assert.match(r.stderr, /set FAILING_URL/);
});
